/**
 * The notifier's HTTP face: `GET /v1/webhook-digest[?tenant=T][&limit=N]` and `GET /healthz`.
 * Requests read the snapshot the service last computed (once a tick), never the live digest, so an answer costs a
 * filter and a JSON.stringify however many keys are live; `age_sec` is how old that snapshot is, which is what
 * the probe holds against its SLO (a wedged tick shows up as a growing age).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { IoError } from '../errors.js';
import type { DigestSnapshot } from './digest.js';
import { httpBase, type ListenAddress } from './listen-address.js';

export const DIGEST_PATH = '/v1/webhook-digest';
export const DEFAULT_TOP_LIMIT = 100;
export const MAX_TOP_LIMIT = 10_000;

/** What GET /v1/webhook-digest answers. */
export interface DigestResponse extends Omit<DigestSnapshot, 'top'> {
  age_sec: number;
  top: DigestSnapshot['top'];
}

export interface HttpHandle {
  host: string;
  port: number;
  /** http://host:port */
  url: string;
  close(): Promise<void>;
}

export interface DigestServerOptions {
  listen: ListenAddress;
  /** the last computed snapshot and when it was computed (ms since epoch) */
  current: () => { snapshot: DigestSnapshot; computedAtMs: number };
  now?: () => number;
}

export function digestResponse(snapshot: DigestSnapshot, computedAtMs: number, nowMs: number, query: { tenant?: string; limit: number }): DigestResponse {
  const rows = query.tenant === undefined ? snapshot.top : snapshot.top.filter((r) => r.tenant === query.tenant);
  return {
    generated_at: snapshot.generated_at,
    age_sec: Math.max(0, Math.round(nowMs - computedAtMs) / 1000),
    window_sec: snapshot.window_sec,
    total: snapshot.total,
    dropped: snapshot.dropped,
    overflow: snapshot.overflow,
    keys: snapshot.keys,
    top: rows.slice(0, query.limit),
  };
}

function send(res: ServerResponse, status: number, body: unknown, head: boolean): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(head ? undefined : text);
}

export async function startDigestServer(opts: DigestServerOptions): Promise<HttpHandle> {
  const now = opts.now ?? Date.now;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) return send(res, 405, { error: 'method not allowed' }, false);
    // (a request target no URL parser takes, `GET http://[`: a client's mistake, never the service's end)
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return send(res, 400, { error: 'bad request target' }, head);
    }
    if (url.pathname === '/healthz') return send(res, 200, { ok: true, status: 'live' }, head);
    if (url.pathname !== DIGEST_PATH) return send(res, 404, { error: 'not found' }, head);
    const tenant = url.searchParams.get('tenant') ?? undefined;
    const limitParam = url.searchParams.get('limit');
    const limit = limitParam === null ? DEFAULT_TOP_LIMIT : Number(limitParam);
    if (!Number.isInteger(limit) || limit < 0 || limit > MAX_TOP_LIMIT) return send(res, 400, { error: `limit must be an integer 0-${MAX_TOP_LIMIT}` }, head);
    const cur = opts.current();
    return send(res, 200, digestResponse(cur.snapshot, cur.computedAtMs, now(), { ...(tenant !== undefined ? { tenant } : {}), limit }), head);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return listenHttp(server, opts.listen);
}

/** Bind an http.Server and give back a handle that closes it and its keep-alive connections. */
export async function listenHttp(server: ReturnType<typeof createServer>, listen: ListenAddress): Promise<HttpHandle> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new IoError(`listen ${listen.host}:${listen.port}: ${e.message}`)));
    server.listen(listen.port, listen.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    host: addr.address,
    port: addr.port,
    url: httpBase(addr.address, addr.port),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
