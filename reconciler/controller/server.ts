/**
 * The controller's HTTP side on --listen:
 *   POST /hooks/git  a push: `X-Hub-Signature-256: sha256=<hex>` must be the HMAC-SHA256 of the raw body with the
 *                    secret file's content (constant-time compare); 202 and a pass at once, else 401 and no pass.
 *                    Bodies over 1 MiB are refused (413) unread. A GitHub `ping` is answered 200 without a pass.
 *   GET /status      the status store as JSON
 *   GET /healthz     200 while the loop is alive, 503 when it is not
 *   GET /            the on-call status page (report/status-page.ts); with `Accept: application/json`, the status
 *                    model it draws (report/status-model.ts, as `clawops status --json`), which the page polls
 *   GET /metrics     Prometheus text (report/status-metrics.ts, its own prom-client registry)
 * The page and the metrics are views of the one status model; the last passes and the counters are the store's own
 * (recorded once per pass, kept across restarts). Only the pass-duration histogram is fed by watching the store's
 * history (report/status-history.ts): after every pass when the caller passes `onPass` (the controller does), else by
 * looking at status() every second, and at every scrape.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { oneLine } from '../errors.js';
import { safeJson } from '../safe-text.js';
import type { ListenAddress } from '../notifier/listen-address.js';
import { StatusMetrics } from '../report/status-metrics.js';
import { DEFAULT_REFRESH_MS, PAGE_HEADERS, renderStatusPage } from '../report/status-page.js';
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
  /** called after every finished pass, once the store is written (Controller.onPass); without it the listener samples status() every second */
  onPass?(fn: () => void): () => void;
  /** the clock the page and metrics read (tests); default the system's */
  now?(): Date;
}

/** The page's poll interval: `?refresh=<seconds>` (1 to 300), else DEFAULT_REFRESH_MS. */
export function refreshMs(url: string): number {
  const v = Number(new URL(url, 'http://localhost').searchParams.get('refresh') ?? NaN);
  return Number.isFinite(v) && v >= 1 && v <= 300 ? Math.round(v * 1000) : DEFAULT_REFRESH_MS;
}

/** A client asking for JSON (the page's own poll, curl -H accept:…) rather than the page. */
export function wantsJson(accept: string | undefined): boolean {
  return accept !== undefined && /\bapplication\/json\b/i.test(accept) && !/\btext\/html\b/i.test(accept);
}

export interface ServerHandle {
  server: Server;
  address: ListenAddress;
  close(): Promise<void>;
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = `${safeJson(body)}\n`;
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

const clockOf = (c: ControllerHttp): (() => Date) => () => c.now?.() ?? new Date();

function sendText(res: ServerResponse, code: number, headers: Record<string, string>, text: string): void {
  res.writeHead(code, { ...headers, 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/**
 * large webhook bodies read at once before their signature is checked (each up to MAX_HOOK_BODY): beyond, 503. A body
 * that says it is small (Content-Length ≤ SMALL_HOOK_BODY, a push's usual size) takes no slot: idle half-sent large
 * requests cannot shut out a signed push, and small ones hold at most SMALL_HOOK_BODY × the connections
 */
const MAX_HOOK_READS = 8;
const SMALL_HOOK_BODY = 64 * 1024;
/** connections the server holds at once (the page's polls, Prometheus, webhooks, on-call's curl) */
const MAX_CONNECTIONS = 256;

export function handler(c: ControllerHttp, metrics: StatusMetrics = new StatusMetrics(clockOf(c))): (req: IncomingMessage, res: ServerResponse) => void {
  // unsigned bodies being read now: each is buffered whole before its signature can be checked, so their number is
  // what bounds the memory strangers can make the controller hold
  let reading = 0;
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/' || path === '/metrics') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        return send(res, 405, { error: 'GET only' });
      }
      if (path === '/') {
        try {
          const view = metrics.view(c.status());
          if (wantsJson(req.headers.accept)) return sendText(res, 200, { 'content-type': 'application/json', 'cache-control': 'no-store', vary: 'Accept' }, `${safeJson(view)}\n`);
          return sendText(res, 200, { ...PAGE_HEADERS, vary: 'Accept' }, renderStatusPage(view, { refreshMs: refreshMs(req.url ?? '/') }));
        } catch (e) {
          c.log.error({ http: 'page' }, `status page failed: ${oneLine(e)}`);
          return send(res, 500, { error: 'status page failed' });
        }
      }
      Promise.resolve()
        .then(() => metrics.render(c.status()))
        .then(
          (text) => sendText(res, 200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }, text),
          (e: unknown) => {
            c.log.error({ http: 'metrics' }, `metrics failed: ${oneLine(e)}`);
            send(res, 500, { error: 'metrics failed' });
          },
        );
      return;
    }
    if ((path === '/healthz' || path === '/status') && req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, { error: 'GET only' });
    }
    // (HEAD: the same answer, its body left out by node:http)
    if (path === '/healthz') {
      const ok = c.alive();
      const s = c.status();
      return send(res, ok ? 200 : 503, { ok, ...(s.lastPass ? { lastPass: { id: s.lastPass.id, outcome: s.lastPass.outcome, finishedAt: s.lastPass.finishedAt } } : {}) });
    }
    if (path === '/status') return send(res, 200, c.status());
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
      const declared = Number(req.headers['content-length'] ?? NaN);
      const small = Number.isFinite(declared) && declared <= SMALL_HOOK_BODY;
      if (!small && reading >= MAX_HOOK_READS) {
        c.log.warn({ http: 'hook', remote: req.socket.remoteAddress }, `webhook refused: ${MAX_HOOK_READS} bodies being read already`);
        res.setHeader('connection', 'close');
        res.setHeader('retry-after', '5');
        send(res, 503, { error: 'busy: try again' });
        req.destroy();
        return;
      }
      if (!small) reading++;
      let counted = !small;
      const done = (): void => {
        if (counted) reading--;
        counted = false;
      };
      req.once('close', done);
      readBody(req, MAX_HOOK_BODY).finally(done).then(
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
  const metrics = new StatusMetrics(clockOf(c));
  const look = (): void => {
    try {
      metrics.observe(c.status());
    } catch (e) {
      c.log.warn({ http: 'metrics' }, `reading the status for /metrics failed: ${oneLine(e)}`);
    }
  };
  look();
  const unsubscribe = c.onPass?.(look);
  const timer = unsubscribe ? undefined : setInterval(look, 1000);
  timer?.unref();
  const server = createServer(handler(c, metrics));
  server.maxConnections = MAX_CONNECTIONS;
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
        if (timer) clearInterval(timer);
        unsubscribe?.();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
