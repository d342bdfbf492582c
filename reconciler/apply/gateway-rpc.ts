/**
 * Asking a running OpenClaw gateway whether it applied a new config, cheaply (issue 12). `openclaw gateway call
 * config.get` costs ~1 CPU-second a node (the whole CLI starts); the same question over the gateway's own WebSocket
 * RPC from a few lines of JavaScript costs ~0.05 CPU-s and answers in ~15 ms once connected.
 *
 * What the gateway says (OpenClaw 2026.9.6, docs gateway/protocol/handshake.md and rpc-talk-config-and-agents.md,
 * checked against the real gateway): `config.get` returns the config file's snapshot (`runtimeConfig`, redacted),
 * `configRevisionHash` (the resolved revision of that file) and `appliedConfigHash` (the resolved revision the active
 * runtime accepted). Applied is proven only by BOTH: the snapshot shows the new values (until its watcher notices a
 * change, config.get answers a cached snapshot of the OLD file with equal hashes) AND the two hashes are equal (right
 * after noticing, the snapshot is new but the applied revision is still the old one). `openclaw.json.last-good` is
 * no such signal: the watcher's reload does not write it (checked: only OpenClaw's own config writes promote it).
 *
 * The client connects as a trusted local backend (`client.id: gateway-client`, `mode: backend`, loopback, the shared
 * gateway token or password — the one handshake the gateway accepts without a paired device identity), asks for
 * `operator.read` only, and reads the secret from the node's secret file itself: the secret is never on a command
 * line, never sent by clawops, sent on a connection only once lsof and ps show the other end is the service launchd
 * runs (or a process it started), and scrubbed from anything the client prints; of the gateway's answers only error
 * codes are printed (a message may quote what it was sent). The file is read only as the wrapper accepts it: a plain
 * name in the tenant's secrets dir, a regular file (no symlink, FIFO or device), not empty, at most 64 KiB.
 */
import type { TenantDesired } from '../desired/types.js';
import { expectedValues } from './reload-plan.js';
import { SECRET_MAX_BYTES } from '../units/gateway-run-sh.js';

/** Where the gateway's shared secret is on the node, or why clawops cannot tell (then: restart, not hot). */
export type GatewayAuth = { kind: 'token' | 'password'; file: string } | { kind: 'none' } | { why: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The file holding the gateway's token/password, resolved the way the secret wrapper and OpenClaw do for what clawops
 * renders: a file SecretRef through `secrets.providers.<p>` (singleValue, `${CLAWOPS_VAR_DB}` = this node's var_db),
 * or a `${CLAWOPS_SECRET_*}` string through secrets.list (`env VAR name` → VARDB/secrets/TENANT/name); either way a
 * plain name in VARDB/secrets/TENANT/, anything else is not read (why). Pure.
 */
export function gatewayAuthOf(cfg: unknown, secretsList: string, varDb: string, tenant: string): GatewayAuth {
  const auth = isObject(cfg) && isObject(cfg.gateway) ? cfg.gateway.auth : undefined;
  if (auth === undefined) return { kind: 'none' };
  if (!isObject(auth)) return { why: 'gateway.auth is not an object' };
  const mode = auth.mode ?? (auth.password !== undefined ? 'password' : auth.token !== undefined ? 'token' : 'none');
  if (mode === 'none') return { kind: 'none' };
  if (mode !== 'token' && mode !== 'password') return { why: `gateway.auth.mode ${String(mode)} is not a shared secret` };
  const ref = auth[mode];
  if (typeof ref === 'string') {
    const m = /^\$\{([A-Z0-9_]+)\}$/.exec(ref);
    if (!m) return { why: `gateway.auth.${mode} is not a secret reference` };
    const line = secretsList.split('\n').map((l) => l.split(' ')).find((f) => f[0] === 'env' && f[1] === m[1]);
    if (!line?.[2] || !/^[A-Za-z0-9._-]+$/.test(line[2])) return { why: `${m[1]} is not in secrets.list` };
    return { kind: mode, file: `${varDb}/secrets/${tenant}/${line[2]}` };
  }
  if (isObject(ref) && ref.source === 'file' && typeof ref.provider === 'string') {
    const providers = isObject(cfg) && isObject(cfg.secrets) && isObject(cfg.secrets.providers) ? cfg.secrets.providers : {};
    const prov = providers[ref.provider];
    if (!isObject(prov) || prov.source !== 'file' || typeof prov.path !== 'string' || (prov.mode !== undefined && prov.mode !== 'singleValue')) return { why: `secret provider ${ref.provider} is not a single-value file` };
    const path = prov.path.split('${CLAWOPS_VAR_DB}').join(varDb);
    if (path.includes('${') || !path.startsWith('/')) return { why: `secret provider ${ref.provider} has a path clawops cannot resolve` };
    // only a file of this tenant's own secrets dir (where the wrapper checks them) is read: never ../../etc/shadow,
    // another tenant's token or a home directory's key (the client sends what it reads to the gateway it talks to)
    const dir = `${varDb}/secrets/${tenant}/`;
    const name = path.startsWith(dir) ? path.slice(dir.length) : '';
    if (!/^[A-Za-z0-9._-]+$/.test(name) || name === '.' || name === '..') return { why: `secret provider ${ref.provider} points outside the tenant's secrets dir` };
    return { kind: mode, file: path };
  }
  return { why: `gateway.auth.${mode} has a shape clawops does not resolve` };
}

/** What the hot check needs from the tenant's desired release: its secret's file and the values to see applied. */
export function hotCheckOf(d: Pick<TenantDesired, 'openclaw' | 'files'>, changed: readonly string[], varDb: string, tenant: string): { auth: Exclude<GatewayAuth, { why: string }>; expect: [string, unknown][] } | { why: string } {
  const expect = expectedValues(d.openclaw, changed);
  if (expect.length === 0) return { why: 'only secret values changed: nothing the gateway shows to verify' };
  const list = d.files.find((f) => f.path === 'secrets.list')?.content.toString('utf8') ?? '';
  const auth = gatewayAuthOf(d.openclaw, list, varDb, tenant);
  if ('why' in auth) return { why: auth.why };
  return { auth, expect };
}

/**
 * The verdict on one config.get answer, as JavaScript source (it runs on the node, inside GATEWAY_RPC_JS; tests run it
 * here). '' = applied; else why not (paths only, never values).
 */
export const VERDICT_JS = String.raw`
function stable(v) {
  const o = (x) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, o(x[k])])) : Array.isArray(x) ? x.map(o) : x);
  return JSON.stringify(o(v));
}
function at(obj, segs) {
  let cur = obj;
  for (const k of segs) { if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined; cur = cur[k]; }
  return cur;
}
// a desired value as the gateway shows it: a secret in it (a ${"$"}{VAR} string, a SecretRef) is resolved and redacted
// there, so it matches the redaction (or itself); everything else must be equal (key order aside)
function same(got, want) {
  if (typeof want === 'string' && /^\$\{[A-Z0-9_]+\}$/.test(want)) return got === want || got === '__OPENCLAW_REDACTED__';
  if (want !== null && typeof want === 'object' && !Array.isArray(want)) {
    if ('source' in want && 'provider' in want && got === '__OPENCLAW_REDACTED__') return true;
    if (got === null || typeof got !== 'object' || Array.isArray(got)) return false;
    return [...new Set([...Object.keys(want), ...Object.keys(got)])].every((k) => same(got[k] ?? null, want[k] ?? null));
  }
  if (Array.isArray(want)) return Array.isArray(got) && got.length === want.length && want.every((w, i) => same(got[i] ?? null, w ?? null));
  return stable(got ?? null) === stable(want ?? null);
}
function verdict(p, want) {
  if (p === null || typeof p !== 'object') return 'config.get answered no snapshot';
  // the file as authored and resolved (what configRevisionHash is the revision of), not the runtime view with
  // OpenClaw's defaults filled in: there a removed key shows its default (never "gone") and a default set
  // explicitly shows before the gateway even read the file
  const obj = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
  const cfg = obj(p.sourceConfig) ? p.sourceConfig : obj(p.resolved) ? p.resolved : obj(p.runtimeConfig) ? p.runtimeConfig : p.config;
  if (!Array.isArray(want) || want.length === 0) return 'nothing to compare';
  // [path, value, keys]: keys are the path's segments (a key may hold dots); without them, the path split on dots
  const bad = want.filter(([path, v, segs]) => !same(at(cfg, Array.isArray(segs) ? segs : String(path).split('.')) ?? null, v ?? null)).map((w) => w[0]);
  if (bad.length > 0) return 'not yet seen: ' + bad.join(', ');
  if (typeof p.appliedConfigHash !== 'string' || p.appliedConfigHash === '' || p.appliedConfigHash !== p.configRevisionHash) return 'saved but not yet active (applied revision differs)';
  return '';
}
`;

/**
 * node -e GATEWAY_RPC_JS PORT KIND FILE DEADLINE_MS BEAT GWPID < expectations ([[path, value], …])
 * Connects to ws://127.0.0.1:PORT, asks config.get every 50 ms (the real gateway applies a touched file ~300 ms
 * later, its watcher's debounce) until the verdict is '' or the deadline. Prints ONE line: `applied MS` (exit 0) or
 * `pending WHY` (exit 1 not applied in time, 2 refused / cannot ask). Writes BEAT (the dead-man guard's heartbeat,
 * '' for none) every second while it waits.
 *
 * The secret goes to the gateway only. Before it is sent on a connection, the process at the other end of THAT
 * connection must be the service launchd runs or one it started: GWPID is a file where the HOT script writes
 * launchd's pid of the service as soon as launchd has said it (the client starts meanwhile and waits for it, up to
 * its deadline); lsof names the process holding the connection's other end (both ends are on this node) and ps its
 * ancestors. A process that took the port while the gateway was down (another tenant's gateway, any local user's
 * program) gets the upgrade request and nothing else; without lsof or ps the client says so and asks nothing.
 *
 * Its WebSocket is a minimal RFC 6455 client on node:net (text messages, fragments, ping/pong, close; no extensions;
 * a message over 16 MiB ends the connection): Node's global WebSocket loads undici, ~35 ms of CPU a node on top of
 * Node's own ~20 ms start — more than this whole client.
 */
export const GATEWAY_RPC_JS = String.raw`'use strict';
const fs = require('node:fs');
const [port, kind, file, deadlineMs, beat, gwPidFile, afterArg] = process.argv.slice(1);
const t0 = Date.now();
let secret = '';
let finished = false;
let deadlineTimer;
function done(code, line) {
  if (finished) return;
  finished = true;
  let s = String(line);
  if (secret) s = s.split(secret).join('***');
  process.stdout.write(s.replace(/[\t\r\n]+/g, ' ').slice(0, 300) + '\n', () => process.exit(code));
}
${VERDICT_JS}
main();
// a minimal WebSocket client (RFC 6455) to 127.0.0.1:PORT: the upgrade checked (101 and the key's accept), text
// messages (fragmented or not) to onText, pings answered, close and any protocol error end the connection (onClose)
function openWs(onText, onError, onClose) {
  const net = require('node:net');
  const crypto = require('node:crypto');
  const MAX = 16 << 20;
  const key = crypto.randomBytes(16).toString('base64');
  const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  const sock = net.connect({ host: '127.0.0.1', port: Number(port) });
  let closed = false;
  let up = false;
  let buf = Buffer.alloc(0);
  let parts = [];
  let size = 0;
  let msgOp = 0;
  const close = () => {
    if (closed) return;
    closed = true;
    sock.destroy();
    // ended before the upgrade was done (refused, dropped, not a WebSocket): an error, as a browser's WebSocket says
    if (!up) onError();
    onClose();
  };
  const frame = (op, data) => {
    const n = data.length;
    const mask = crypto.randomBytes(4);
    let head;
    if (n < 126) head = Buffer.from([0x80 | op, 0x80 | n]);
    else if (n < 65536) head = Buffer.from([0x80 | op, 0x80 | 126, n >> 8, n & 255]);
    else { head = Buffer.alloc(10); head[0] = 0x80 | op; head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(n), 2); }
    const body = Buffer.from(data);
    for (let i = 0; i < n; i++) body[i] ^= mask[i & 3];
    sock.write(Buffer.concat([head, mask, body]));
  };
  sock.setNoDelay(true);
  sock.on('connect', () => sock.write('GET / HTTP/1.1\r\nHost: 127.0.0.1:' + port + '\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ' + key + '\r\nSec-WebSocket-Version: 13\r\n\r\n'));
  sock.on('data', (chunk) => {
    if (closed) return;
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    if (!up) {
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return buf.length > 16384 ? close() : undefined;
      const head = buf.subarray(0, i).toString('latin1');
      const got = /\r\nsec-websocket-accept:[ \t]*(\S+)/i.exec(head);
      if (!/^HTTP\/1\.1 101[ \r]/.test(head + '\r') || !got || got[1] !== accept) return close();
      up = true;
      buf = buf.subarray(i + 4);
    }
    while (!closed && buf.length >= 2) {
      const fin = (buf[0] & 0x80) !== 0;
      const op = buf[0] & 15;
      const masked = (buf[1] & 0x80) !== 0;
      let len = buf[1] & 127;
      let off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; const big = buf.readBigUInt64BE(2); if (big > BigInt(MAX)) return close(); len = Number(big); off = 10; }
      if (len > MAX) return close();
      const m = off;
      if (masked) off += 4;
      if (buf.length < off + len) return;
      let data = buf.subarray(off, off + len);
      if (masked) { data = Buffer.from(data); for (let j = 0; j < len; j++) data[j] ^= buf[m + (j & 3)]; }
      buf = buf.subarray(off + len);
      if (op === 8) return close();
      if (op === 9) { frame(10, data); continue; }
      if (op === 10) continue;
      if (op !== 0 && op !== 1 && op !== 2) return close();
      if (op !== 0) { msgOp = op; parts = []; size = 0; }
      size += len;
      if (size > MAX) return close();
      parts.push(Buffer.from(data));
      if (!fin) continue;
      const msg = Buffer.concat(parts);
      parts = [];
      size = 0;
      if (msgOp === 1) onText(msg.toString('utf8'));
    }
  });
  sock.on('error', () => onError());
  sock.on('close', close);
  return { send: (text) => { if (!closed && up) frame(1, Buffer.from(text)); }, close, sock };
}
// AFTER (optional JSON): what HOT did with a shell program each once the gateway applied the config, done here in the
// process already running: {"run": {"dir", "tenant", "fields"}, "ready": {"url", "allow"}, "passed": FILE}. The
// gateway still alive (the same process applied it), its run record written, the health gate's first question, and
// the dead-man guard told the gate passed (only when the caller says this was the node's last reload). Prints
// \`applied MS [ready [passed]]\`, or \`pending WHY\` when the gateway is gone or the record cannot be written
function afterApply(ms) {
  let after = null;
  try { after = afterArg ? JSON.parse(afterArg) : null; } catch { after = null; }
  if (!after || typeof after !== 'object') return done(0, 'applied ' + ms);
  // applied: what follows has its own bounds (the readiness question 3 s), the deadline no longer makes it pending
  clearTimeout(deadlineTimer);
  const gw = gatewayPid();
  // (EPERM: alive, someone else's; launchd starting it again would have ended this one, and a pid is not reused in seconds)
  try { process.kill(Number(gw), 0); } catch (e) { if (e && e.code === 'ESRCH') return done(1, 'pending the gateway restarted while applying (pid ' + gw + ' is gone)'); }
  const r = after.run;
  if (r && typeof r === 'object') {
    if (!writeRunRecord(String(r.dir), String(r.tenant), String(r.fields), gw)) return done(1, 'pending applied, but cannot write the run record');
  }
  const q = after.ready;
  if (!q || typeof q !== 'object') return done(0, 'applied ' + ms);
  readyOnce(String(q.url), q.allow === true, (ok) => {
    if (!ok) return done(0, 'applied ' + ms);
    done(0, 'applied ' + ms + ' ready' + (after.passed && markPassed(String(after.passed)) ? ' passed' : ''));
  });
}
// {"pid":PID,FIELDS,"started_epoch":NOW,"hot":true} into DIR/TENANT.json: a fresh file (never one that is there, never
// through a link) renamed over the old record
function writeRunRecord(dir, tenant, fields, pid) {
  if (!/^[A-Za-z0-9._-]+$/.test(tenant) || tenant === '.' || tenant === '..' || !/^[1-9][0-9]*$/.test(pid)) return false;
  const tmp = dir + '/' + tenant + '.json.hot';
  try {
    fs.mkdirSync(dir, { recursive: true });
    try { fs.unlinkSync(tmp); } catch {}
    fs.writeFileSync(tmp, '{"pid":' + pid + ',' + fields + ',"started_epoch":' + Math.floor(Date.now() / 1000) + ',"hot":true}\n', { flag: 'wx', mode: 0o644 });
    fs.renameSync(tmp, dir + '/' + tenant + '.json');
    return true;
  } catch {
    try { fs.unlinkSync(tmp); } catch {}
    return false;
  }
}
// one readiness question, as the shell's ready_once (services-sh.ts) asks it for the health gate: 200, and not
// "degraded" unless allowed; 3 s at most
function readyOnce(url, allow, cb) {
  let settled = false;
  const fin = (ok) => { if (!settled) { settled = true; clearTimeout(cap); cb(ok); } };
  const cap = setTimeout(() => { try { req.destroy(); } catch {} fin(false); }, 3000);
  let req;
  try {
    req = require('node:http').get(url, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d) => { if (body.length < 65536) body += d; });
      res.on('end', () => fin(res.statusCode === 200 && (allow || !/"status" *: *"degraded"/.test(body))));
      res.on('error', () => fin(false));
    });
    req.on('error', () => fin(false));
  } catch {
    fin(false);
  }
}
// the guard's file gets \`passed EPOCH\` (appended, only while the file is there: never created, never through a link)
function markPassed(g) {
  const c = fs.constants;
  let fd;
  try {
    fd = fs.openSync(g, c.O_WRONLY | c.O_APPEND | (c.O_NOFOLLOW || 0));
    fs.writeSync(fd, 'passed\t' + Math.floor(Date.now() / 1000) + '\n');
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) try { fs.closeSync(fd); } catch {}
  }
}
// launchd's pid of the service, once the HOT script has written it ('' until then)
function gatewayPid() {
  try { const m = /^([1-9][0-9]*)\n/.exec(fs.readFileSync(gwPidFile, 'utf8')); return m ? m[1] : ''; } catch { return ''; }
}
// why the other end of this connection is not the gateway ('' when it is: the service's pid or one of its descendants)
function peerWhy(sock, gw) {
  // every process descends from pid 1: launchd never names it as a job's, and it would vouch for anything
  if (gw === '1') return 'launchd named pid 1 as the service: the secret is not sent';
  const cp = require('node:child_process');
  // lsof and ps get what is left of the deadline (at most 5 s each): a stalled lsof does not hold the client past it
  const run = (cmd, args) => {
    const left = Math.min(5000, t0 + (Number(deadlineMs) || 15000) - Date.now());
    if (left <= 0) return '';
    try { return cp.execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: left }); } catch (e) { return e && typeof e.stdout === 'string' ? e.stdout : ''; }
  };
  const local = String(sock.localPort);
  // the other end of THIS connection: the socket whose address and port are exactly our peer's and ours (as IPv4 or
  // v4-mapped IPv6), which no other socket can have. Not merely the two ports: a socket elsewhere with them (a
  // connection from the client's port to the gateway's port on another address, opened by whoever took 127.0.0.1)
  // is not this connection, whose own end may be held by no process at all (passed on, in flight) while lsof looks
  const forms = (a) => [a, '[::ffff:' + a + ']'];
  const names = new Set();
  for (const r of forms(sock.remoteAddress)) for (const l of forms(sock.localAddress)) names.add('n' + r + ':' + port + '->' + l + ':' + local);
  // the service's process tree first (ps: every process's parent), then lsof over THAT tree only (-a -p): lsof of
  // every process on the node cost ~20 ms of CPU where a few pids cost ~1 ms. A socket gets into a second process only
  // from the one holding it (a fork, fd passing): one the service's tree holds is its own, wherever else it is
  const parent = new Map();
  for (const l of run('ps', ['-A', '-o', 'pid=', '-o', 'ppid=']).split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f.length === 2) parent.set(f[0], f[1]);
  }
  const inTree = (p) => {
    let q = p;
    for (let k = 0; q !== undefined && q !== gw && q !== '0' && q !== '1' && k < 64; k++) q = parent.get(q);
    return q === gw;
  };
  const tree = [...parent.keys()].filter(inTree);
  if (!tree.includes(gw)) tree.push(gw);
  const holders = (args) => {
    const found = new Set();
    let pid = '';
    for (const l of run('lsof', args).split('\n')) {
      if (l[0] === 'p') pid = l.slice(1);
      if (names.has(l) && pid) found.add(pid);
    }
    return found;
  };
  if ([...holders(['-nP', '-a', '-p', tree.slice(0, 200).join(','), '-iTCP:' + local, '-Fpn'])].some(inTree)) return '';
  // not the service's: who is it (for the message; every process, once, only on this path)
  const peers = holders(['-nP', '-iTCP:' + local, '-Fpn']);
  if (peers.size === 0) return 'cannot tell which process holds port ' + port + ' (lsof found no end of the connection): the secret is not sent';
  const other = [...peers].find((x) => !inTree(x));
  // (a tree of more pids than one lsof was given)
  if (other === undefined) return '';
  return 'port ' + port + ' is held by pid ' + other + ', which is not the gateway, pid ' + gw + ', nor a process it started: the secret is not sent';
}
// the secret file as the wrapper accepts it: a regular file (not a symlink, FIFO or device: opened without following
// or blocking), not empty, small; never read whole when it is not
function readSecret() {
  const c = fs.constants;
  if (!file.startsWith('/') || file.split('/').includes('..')) return 'is not an absolute plain path';
  let fd;
  try { fd = fs.openSync(file, c.O_RDONLY | c.O_NONBLOCK | (c.O_NOFOLLOW || 0)); } catch (e) { return e && e.code === 'ELOOP' ? 'is not a regular file (a symlink)' : 'cannot be read (' + (e && e.code) + ')'; }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return 'is not a regular file';
    if (st.size === 0) return 'is empty';
    if (st.size > ${SECRET_MAX_BYTES}) return 'is too large (' + st.size + ' bytes)';
    const b = Buffer.alloc(st.size);
    let n = 0;
    while (n < b.length) { const r = fs.readSync(fd, b, n, b.length - n, null); if (r <= 0) break; n += r; }
    secret = b.subarray(0, n).toString('utf8').replace(/[\r\n]+$/, '');
    return secret === '' ? 'is empty' : '';
  } catch (e) {
    return 'cannot be read (' + (e && e.code) + ')';
  } finally {
    try { fs.closeSync(fd); } catch {}
  }
}
// what a gateway says back, for the one line: its error codes only (a message may quote what it was sent, the
// secret among it, in any spelling: raw, JSON-escaped, cut short)
function codeOf(e) {
  const w = (x) => (typeof x === 'string' && /^[A-Za-z0-9_.-]{1,40}$/.test(x) ? x : '');
  if (!e || typeof e !== 'object') return 'an error';
  return [w(e.code), e.details && typeof e.details === 'object' ? w(e.details.code) : ''].filter(Boolean).join(' ') || 'an error';
}
function main() {
  if (kind === 'token' || kind === 'password') {
    const bad = readSecret();
    if (bad) return done(2, 'pending the gateway ' + kind + ' file ' + bad);
  }
  let want;
  try { want = JSON.parse(fs.readFileSync(0, 'utf8')); } catch { return done(2, 'pending no expectations on stdin'); }
  const beatNow = () => { if (beat) try { fs.writeFileSync(beat, Math.floor(Date.now() / 1000) + '\n'); } catch {} };
  beatNow();
  setInterval(beatNow, 1000);
  let last = 'no answer from the gateway';
  deadlineTimer = setTimeout(() => done(1, 'pending after ' + deadlineMs + ' ms: ' + last), Number(deadlineMs) || 15000);
  let failures = 0;
  const connect = () => {
    let n = 0;
    let hello = false;
    const req = (method, params) => ws.send(JSON.stringify({ type: 'req', id: String(++n), method, params }));
    const ask = () => setTimeout(() => { try { req('config.get', {}); } catch {} }, 50);
    // the other end of this connection: null until named ('' = the gateway, else why not); named once, however many
    // challenges come (each would cost an lsof), and nothing more is done once the client has its answer
    let peer = null;
    let waiting = false;
    const onText = (text) => {
      if (finished || ws.sock.destroyed) return;
      let m;
      try { m = JSON.parse(text); } catch { return; }
      if (m === null || typeof m !== 'object') return;
      if (m.type === 'event' && m.event === 'connect.challenge') {
        // who is at the other end, before anything is sent on this connection (launchd's pid may still be coming)
        if (peer === null) {
          if (waiting) return;
          const gw = gatewayPid();
          if (!gw) { waiting = true; return void setTimeout(() => { waiting = false; onText(text); }, 10); }
          peer = peerWhy(ws.sock, gw);
        }
        if (peer) return done(2, 'pending ' + peer);
        const auth = kind === 'token' ? { token: secret } : kind === 'password' ? { password: secret } : undefined;
        req('connect', { minProtocol: 4, maxProtocol: 4, client: { id: 'gateway-client', version: 'clawops', platform: process.platform, mode: 'backend' }, role: 'operator', scopes: ['operator.read'], caps: [], ...(auth ? { auth } : {}) });
        return;
      }
      // answers count only on a connection whose other end was named the gateway (one that skips the challenge
      // and says "connected" is not asked anything, nor believed)
      if (m.type !== 'res' || peer !== '') return;
      const err = codeOf(m.error);
      if (m.id === '1') {
        if (m.ok) { hello = true; req('config.get', {}); return; }
        // still starting its sidecars: retryable by the protocol; anything else (auth) is final
        if (m.error && m.error.code === 'UNAVAILABLE') { last = 'gateway not accepting yet: ' + err; ws.close(); return; }
        return done(2, 'pending connect refused: ' + err);
      }
      if (!m.ok) { last = 'config.get failed: ' + err; return ask(); }
      const v = verdict(m.payload, want);
      if (v === '') return afterApply(Date.now() - t0);
      last = v;
      ask();
    };
    const onError = () => { last = 'cannot talk to the gateway on 127.0.0.1:' + port; };
    const onClose = () => {
      if (finished) return;
      // a gateway that does not speak this protocol fails fast; one that is busy gets a few more tries
      if (!hello && ++failures >= 5) return done(2, 'pending ' + last);
      setTimeout(connect, 200);
    };
    const ws = openWs(onText, onError, onClose);
  };
  connect();
}
`;
