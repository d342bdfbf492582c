#!/usr/bin/env node
// A stand-in for `openclaw --profile <t> gateway run` on fleet nodes that do not run the real gateway (it takes
// 30-50 s and ~1 GB to start): same command line, same config (OPENCLAW_CONFIG_PATH), same port and readiness
// routes, ready in a fraction of a second. The secret wrapper execs it through CLAWOPS_OPENCLAW, set by the test
// repo's launchd template. Real gateways prove the real path in a few tests; this proves everything around it.
//   GET /healthz → {"ok":true,"status":"live"}     GET /readyz → 503 while "starting", then {"ready":true,…}
//   POST /hooks/wake with `Authorization: Bearer $CLAWOPS_SECRET_HOOKS_TOKEN` → 200, anything else → 401
// A port that is taken makes it exit 1, as the real gateway does. SIGTERM stops it.
// On demand (tests of the controller's health stage): while `$OPENCLAW_STATE_DIR/fake-readyz.json` exists, /readyz
// answers what it says instead — `{"code":200,"body":{"status":"degraded",…}}` (a composite-probe-shaped answer) —
// read on every request, so a test changes the answer by writing or removing the file on the node.
// Config hot reload and its RPC, as the real gateway does them (OpenClaw 2026.9.6): it watches the config file it
// resolved (the inode: clawops touches every release's openclaw.json), re-reads the path when it changes and applies
// the new config in place (same pid) — except a change of gateway.port/bind, which the real one restarts for and
// this one leaves pending — and answers the WebSocket RPC on the same port: the `connect.challenge` event, `connect`
// as a trusted local backend (client.id gateway-client, mode backend) with the shared gateway token/password (else
// AUTH_TOKEN_MISMATCH / NOT_PAIRED), then `config.get` → {sourceConfig/resolved: the file as its watcher last
// read it, runtimeConfig: that with OpenClaw's defaults filled in (both with secrets redacted, as the real one shows
// them), configRevisionHash of that file, appliedConfigHash of what it runs}; /readyz then names the release whose config it
// applied. While `$OPENCLAW_STATE_DIR/fake-no-rpc` exists it drops every WebSocket upgrade, as a gateway that does not
// speak this protocol would (a test of clawops' fallback to a restart); while `$OPENCLAW_STATE_DIR/fake-no-watch`
// exists its watcher ignores changes (a gateway that missed the touch: the old snapshot, its hashes equal).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

const args = process.argv.slice(2);
const profile = args[args.indexOf('--profile') + 1] ?? 'default';
if (!(args.includes('gateway') && args.includes('run'))) {
  process.stderr.write(`fake-gateway: only "gateway run" is emulated (got: ${args.join(' ')})\n`);
  process.exit(64);
}
const cfgPath = process.env.OPENCLAW_CONFIG_PATH ?? '';
let cfg;
try {
  cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
} catch (e) {
  process.stderr.write(`fake-gateway: cannot read config ${cfgPath}: ${e.message}\n`);
  process.exit(1);
}
const portArg = args.indexOf('--port');
const port = portArg >= 0 ? Number(args[portArg + 1]) : (cfg?.gateway?.port ?? 18789);
const readyAfter = Number(process.env.CLAWOPS_FAKE_READY_MS ?? 300);
const started = Date.now();
const hooksPath = cfg?.hooks?.path ?? '/hooks';
const forcedFile = process.env.OPENCLAW_STATE_DIR ? `${process.env.OPENCLAW_STATE_DIR}/fake-readyz.json` : '';
function readForced() {
  if (!forcedFile) return undefined;
  try {
    const j = JSON.parse(fs.readFileSync(forcedFile, 'utf8'));
    return { code: Number.isInteger(j.code) ? j.code : 200, body: j.body ?? {} };
  } catch {
    return undefined;
  }
}
/** the release whose openclaw.json is at the config path now (its manifest), for /readyz after a hot apply */
function releaseOf() {
  try {
    return JSON.parse(fs.readFileSync(`${fs.realpathSync(cfgPath).replace(/\/openclaw\.json$/, '')}/.clawops/manifest.json`, 'utf8')).release_id;
  } catch {
    return undefined;
  }
}
let release = process.env.CLAWOPS_RELEASE_ID ?? null;
const server = http.createServer((req, res) => {
  const json = (code, body) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.url === '/healthz') return json(200, { ok: true, status: 'live' });
  if (req.url === '/readyz') {
    const forced = readForced();
    if (forced) return json(forced.code, forced.body);
    const up = Date.now() - started;
    return up >= readyAfter ? json(200, { ready: true, failing: [], uptimeMs: up, profile, release }) : json(503, { ready: false, failing: ['startup-sidecars'], uptimeMs: up });
  }
  if (req.method === 'POST' && req.url === `${hooksPath}/wake`) {
    const want = process.env.CLAWOPS_SECRET_HOOKS_TOKEN;
    const ok = want !== undefined && want !== '' && req.headers.authorization === `Bearer ${want}`;
    res.writeHead(ok ? 200 : 401, { 'content-type': 'text/plain' });
    return res.end(ok ? '{"ok":true}' : 'Unauthorized');
  }
  return json(404, { error: 'not found' });
});
server.on('error', (e) => {
  process.stderr.write(`fake-gateway: ${profile}: cannot listen on 127.0.0.1:${port}: ${e.code ?? e.message}\n`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`fake-gateway: ${profile} listening on 127.0.0.1:${port} (release ${process.env.CLAWOPS_RELEASE_ID ?? '?'})\n`));

// --- config watching and hot apply ---
const stable = (v) => JSON.stringify(v, (_k, x) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x));
const revision = (c) => `fake-sha256:${crypto.createHash('sha256').update(stable(c)).digest('hex')}`;
let applied = cfg;
let seen = cfg;
let watcher;
let polled;
function watchConfig() {
  watcher?.close();
  watcher = undefined;
  if (polled) fs.unwatchFile(polled);
  polled = undefined;
  let real;
  try {
    real = fs.realpathSync(cfgPath);
  } catch {
    return;
  }
  try {
    watcher = fs.watch(real, { persistent: false }, () => setTimeout(noticeChange, 50));
  } catch {
    // inotify instances are 128 per user on Linux (a fleet runs hundreds of these): poll the file's stat instead
    polled = real;
    fs.watchFile(real, { persistent: false, interval: 100 }, (cur, prev) => {
      if (cur.mtimeMs !== prev.mtimeMs || cur.ino !== prev.ino) setTimeout(noticeChange, 50);
    });
  }
}
const noWatch = process.env.OPENCLAW_STATE_DIR ? `${process.env.OPENCLAW_STATE_DIR}/fake-no-watch` : '';
function noticeChange() {
  // on demand: a watcher that missed the change (config.get keeps answering the old snapshot, hashes equal)
  if (noWatch && fs.existsSync(noWatch)) return;
  let next;
  try {
    next = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  } catch {
    return; // an invalid edit is not applied (the real gateway keeps its last-good runtime)
  }
  watchConfig();
  seen = next;
  const cold = stable(next?.gateway?.port) !== stable(applied?.gateway?.port) || stable(next?.gateway?.bind) !== stable(applied?.gateway?.bind);
  if (!cold) setTimeout(() => ((applied = next), (release = releaseOf() ?? release)), 100);
}
watchConfig();
// config.get's views as the real gateway shows them: sensitive values redacted everywhere; the runtime view with
// OpenClaw's defaults filled in (a removed key shows its default there, only the source view shows it gone)
const SENSITIVE = /token|password|secret|api_?key/i;
function redacted(v, key = '') {
  if (typeof v === 'string') return SENSITIVE.test(key) ? '__OPENCLAW_REDACTED__' : v;
  if (Array.isArray(v)) return v.map((x) => redacted(x, key));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redacted(x, k)]));
  return v;
}
function withDefaults(c) {
  const r = structuredClone(c ?? {});
  r.agents = { ...(r.agents ?? {}) };
  r.agents.defaults = { maxConcurrent: 8, ...(r.agents.defaults ?? {}) };
  r.messages = { ackReactionScope: 'group-mentions', ...(r.messages ?? {}) };
  return r;
}
function sharedSecret(c) {
  const auth = c?.gateway?.auth;
  const mode = auth?.mode ?? (auth?.password !== undefined ? 'password' : auth?.token !== undefined ? 'token' : 'none');
  const ref = mode === 'token' || mode === 'password' ? auth[mode] : undefined;
  const envsub = (x) => String(x).replace(/\$\{([A-Z0-9_]+)\}/g, (_m, v) => process.env[v] ?? '');
  if (typeof ref === 'string') return envsub(ref);
  if (ref && ref.source === 'file') {
    const prov = c?.secrets?.providers?.[ref.provider];
    try {
      return fs.readFileSync(envsub(prov?.path ?? ''), 'utf8').replace(/[\r\n]+$/, '');
    } catch {
      return undefined;
    }
  }
  return mode === 'none' ? '' : undefined;
}

// --- a minimal RFC 6455 server: text frames, close, ping; enough for the gateway RPC's request/response ---
function wsSend(sock, text) {
  const data = Buffer.from(text);
  const head = data.length < 126 ? Buffer.from([0x81, data.length]) : data.length < 65536 ? Buffer.from([0x81, 126, data.length >> 8, data.length & 255]) : Buffer.concat([Buffer.from([0x81, 127, 0, 0, 0, 0]), (() => { const b = Buffer.alloc(4); b.writeUInt32BE(data.length); return b; })()]);
  sock.write(Buffer.concat([head, data]));
}
server.on('upgrade', (req, sock) => {
  const key = req.headers['sec-websocket-key'];
  if (!key || (process.env.OPENCLAW_STATE_DIR && fs.existsSync(`${process.env.OPENCLAW_STATE_DIR}/fake-no-rpc`))) return sock.destroy();
  const accept = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  let buf = Buffer.alloc(0);
  let authed = false;
  const reply = (id, ok, payload, error) => wsSend(sock, JSON.stringify({ type: 'res', id, ok, ...(ok ? { payload } : { error }) }));
  const onText = (text) => {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (m?.type !== 'req') return;
    if (!authed) {
      if (m.method !== 'connect') return reply(m.id, false, undefined, { code: 'INVALID_REQUEST', message: 'connect first' });
      const p = m.params ?? {};
      if (!(p.client?.id === 'gateway-client' && p.client?.mode === 'backend') && !p.device) return reply(m.id, false, undefined, { code: 'NOT_PAIRED', message: 'device identity required' });
      const want = sharedSecret(applied);
      const got = p.auth?.token ?? p.auth?.password ?? '';
      if (want === undefined || got !== want) return reply(m.id, false, undefined, { code: 'INVALID_REQUEST', message: 'unauthorized: gateway token mismatch (provide gateway auth token)', details: { code: 'AUTH_TOKEN_MISMATCH' } });
      authed = true;
      return reply(m.id, true, { type: 'hello-ok', protocol: 4, server: { version: 'fake' }, features: { methods: ['config.get'], events: [] }, snapshot: { appliedConfigHash: revision(applied) }, auth: { role: 'operator', scopes: ['operator.read'] }, policy: {} });
    }
    if (m.method === 'config.get') {
      const source = redacted(seen);
      const runtime = redacted(withDefaults(seen));
      return reply(m.id, true, { path: cfgPath, exists: true, valid: true, sourceConfig: source, resolved: source, runtimeConfig: runtime, config: runtime, hash: revision(seen), configRevisionHash: revision(seen), appliedConfigHash: revision(applied) });
    }
    return reply(m.id, false, undefined, { code: 'INVALID_REQUEST', message: `unknown method ${m.method}` });
  };
  sock.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      const op = buf[0] & 15;
      let len = buf[1] & 127;
      let off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      const masked = (buf[1] & 128) !== 0;
      const mask = masked ? buf.subarray(off, off + 4) : undefined;
      if (masked) off += 4;
      if (buf.length < off + len) return;
      const data = Buffer.from(buf.subarray(off, off + len));
      if (mask) for (let i = 0; i < data.length; i++) data[i] ^= mask[i & 3];
      buf = buf.subarray(off + len);
      if (op === 1) onText(data.toString('utf8'));
      else if (op === 8) return sock.end(Buffer.from([0x88, 0]));
      else if (op === 9) sock.write(Buffer.concat([Buffer.from([0x8a, data.length]), data]));
    }
  });
  sock.on('error', () => undefined);
  wsSend(sock, JSON.stringify({ type: 'event', event: 'connect.challenge', payload: { nonce: crypto.randomUUID(), ts: Date.now() } }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
