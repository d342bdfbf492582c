/**
 * The controller's HTTP side on --listen:
 *   POST /hooks/git  a push: `X-Hub-Signature-256: sha256=<hex>` must be the HMAC-SHA256 of the raw body with the
 *                    secret file's content (constant-time compare); 202 and a pass at once, else 401 and no pass.
 *                    Bodies over 1 MiB are refused (413) unread. A GitHub `ping` is answered 200 without a pass.
 *   GET /status      the status store as JSON
 *   GET /healthz     200 while the loop is alive, 503 when it is not
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ListenAddress } from '../notifier/listen-address.js';
import type { StatusDoc } from './status.js';

export const MAX_HOOK_BODY = 1024 * 1024;

/** Pure: does `header` (`sha256=<64 hex>`) sign `body` with `secret`? Constant time over the digest. */
export function verifySignature(secret: Buffer, body: Buffer, header: string | undefined): boolean {
  if (secret.length === 0 || header === undefined) return false;
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!m) return false;
  const want = createHmac('sha256', secret).update(body).digest();
  const got = Buffer.from(m[1]!, 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

export function signBody(secret: Buffer | string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface ControllerHttp {
  status(): StatusDoc;
  alive(): boolean;
  trigger(reason: string): void;
  /** undefined: the hook is not configured (404) */
  secret?: Buffer;
  log: Logger;
}

export interface ServerHandle {
  server: Server;
  address: ListenAddress;
  close(): Promise<void>;
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > max) return resolve('too-large');
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        resolve('too-large');
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

export function handler(c: ControllerHttp): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      const ok = c.alive();
      const s = c.status();
      return send(res, ok ? 200 : 503, { ok, ...(s.lastPass ? { lastPass: { id: s.lastPass.id, outcome: s.lastPass.outcome, finishedAt: s.lastPass.finishedAt } } : {}) });
    }
    if (path === '/status' && req.method === 'GET') return send(res, 200, c.status());
    if (path === '/hooks/git') {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        return send(res, 405, { error: 'POST only' });
      }
      if (!c.secret) {
        req.resume();
        return send(res, 404, { error: 'the git webhook is not configured (--webhook-secret-file)' });
      }
      const secret = c.secret;
      readBody(req, MAX_HOOK_BODY).then(
        (body) => {
          if (body === 'too-large') {
            c.log.warn({ http: 'hook', remote: req.socket.remoteAddress }, `webhook refused: body over ${MAX_HOOK_BODY} bytes`);
            res.setHeader('connection', 'close');
            send(res, 413, { error: `body over ${MAX_HOOK_BODY} bytes` });
            req.destroy();
            return;
          }
          const sig = req.headers['x-hub-signature-256'];
          if (!verifySignature(secret, body, Array.isArray(sig) ? sig[0] : sig)) {
            c.log.warn({ http: 'hook', remote: req.socket.remoteAddress, signed: sig !== undefined }, 'webhook refused: bad or missing X-Hub-Signature-256');
            return send(res, 401, { error: 'bad or missing signature' });
          }
          const event = req.headers['x-github-event'];
          if (event === 'ping') return send(res, 200, { ok: true, event: 'ping' });
          c.log.info({ http: 'hook', event: event ?? 'push' }, 'webhook: pass requested');
          c.trigger('webhook');
          return send(res, 202, { accepted: true });
        },
        () => send(res, 400, { error: 'could not read the body' }),
      );
      return;
    }
    return send(res, 404, { error: 'not found' });
  };
}

export async function startServer(listen: ListenAddress, c: ControllerHttp): Promise<ServerHandle> {
  const server = createServer(handler(c));
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    server,
    address: { host: a.address, port: a.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
