/**
 * A tenant's webhook endpoint for replay tests: a real HTTP server on loopback that checks the delivery's
 * authentication (HMAC signature or bearer token) against the secrets it is told to accept, answers with a status
 * per path, and records each request, including which process sent it (the peer of the TCP connection, found in
 * /proc while the connection is open) so a test can prove the request left from inside a fleet node.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  /** which accepted secret authenticated it, or why none did */
  auth: { ok: true; scheme: 'hmac' | 'bearer'; secret: string } | { ok: false; why: string };
  status: number;
  /** the sending process, when /proc tells (Linux): pid, comm, mount namespace */
  peer?: { pid: number; comm: string; mntNs: string };
}

export interface Route {
  /** the status to answer when authenticated */
  status: number;
  /** 'hmac': X-OpenClaw-Signature-256 with one of `secrets`; 'bearer': Authorization: Bearer one of `secrets` */
  auth: 'hmac' | 'bearer';
  /** accepted secret values, by a label the test chooses */
  secrets: Record<string, string>;
  /** answer this late (ms) */
  delayMs?: number;
  /** close the connection without an HTTP answer (curl: "Empty reply from server"), as a receiver mid-restart does */
  drop?: boolean;
  /** called with each request on this route once it is recorded (before it is answered or dropped) */
  onRequest?: (r: Received) => void;
}

export interface Receiver {
  port: number;
  url(path: string): string;
  routes: Map<string, Route>;
  received: Received[];
  close(): Promise<void>;
}

function checkAuth(req: IncomingMessage, body: Buffer, route: Route): Received['auth'] {
  if (route.auth === 'hmac') {
    const sig = req.headers['x-openclaw-signature-256'];
    if (typeof sig !== 'string' || !sig.startsWith('sha256=')) return { ok: false, why: 'no signature' };
    const got = Buffer.from(sig.slice(7), 'hex');
    for (const [label, secret] of Object.entries(route.secrets)) {
      const want = createHmac('sha256', secret).update(body).digest();
      if (got.length === want.length && timingSafeEqual(got, want)) return { ok: true, scheme: 'hmac', secret: label };
    }
    return { ok: false, why: 'bad signature' };
  }
  const h = req.headers.authorization;
  if (typeof h !== 'string' || !h.startsWith('Bearer ')) return { ok: false, why: 'no bearer token' };
  const label = Object.entries(route.secrets).find(([, v]) => v === h.slice(7))?.[0];
  return label !== undefined ? { ok: true, scheme: 'bearer', secret: label } : { ok: false, why: 'bad token' };
}

/** The process holding the client end of a loopback TCP connection from `clientPort` to `serverPort`. */
export function tcpPeer(clientPort: number, serverPort: number): Received['peer'] {
  if (process.platform !== 'linux') return undefined;
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
  let inode: string | undefined;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (f[1]!.endsWith(`:${hex(clientPort)}`) && f[2]!.endsWith(`:${hex(serverPort)}`)) inode = f[9];
    }
    if (inode) break;
  }
  if (!inode || inode === '0') return undefined;
  const want = `socket:[${inode}]`;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== want) continue;
        return { pid: Number(pid), comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), mntNs: readlinkSync(`/proc/${pid}/ns/mnt`) };
      } catch {
        /* gone */
      }
    }
  }
  return undefined;
}

export async function startReceiver(opts: { findPeer?: boolean } = {}): Promise<Receiver> {
  const routes = new Map<string, Route>();
  const received: Received[] = [];
  let port = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = req.url ?? '/';
      const route = routes.get(path.split('?')[0]!);
      const auth = route ? checkAuth(req, body, route) : ({ ok: false, why: 'no route' } as const);
      const status = !route ? 404 : auth.ok ? route.status : 401;
      const peer = opts.findPeer && req.socket.remotePort !== undefined ? tcpPeer(req.socket.remotePort, port) : undefined;
      const got: Received = { method: req.method ?? '', path, headers: req.headers, body, auth, status, ...(peer ? { peer } : {}) };
      received.push(got);
      route?.onRequest?.(got);
      const answer = (): void => {
        // echo the request's secrets back, as a careless receiver might: replay must not print what it gets back
        res.writeHead(status, { 'content-type': 'text/plain', 'x-echo-auth': String(req.headers.authorization ?? '') });
        res.end(`echo ${String(req.headers.authorization ?? '')}\n`);
      };
      if (route?.drop) req.socket.destroy();
      else if (route?.delayMs) setTimeout(answer, route.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    routes,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
