/**
 * Adversarial run 8: the controller host's side. Its state dir planted with odd status.json files (a FIFO, a symlink
 * to a file outside the dir, truncated JSON), read by `clawops status --state-dir` and by a starting controller; and
 * the git webhook endpoint (reconciler/controller/server.ts) given bad signatures, huge and slow bodies. One promise
 * per test:
 *  P1 nothing outside the state dir is followed;  P2 a refusal is one line, non-zero, no hang;
 *  P4 the webhook secret never appears in a response or a log line.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signBody, startServer, type ServerHandle } from '../../reconciler/controller/server.js';
import { emptyStatus } from '../../reconciler/controller/status.js';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { runCli } from '../helpers/repo.js';
import { memLogger } from './helpers.js';

const CLAWOPS = resolve(__dirname, '../../bin/clawops');
const statusDoc = (passes: number): string =>
  `${JSON.stringify({ ...emptyStatus({ pid: 1, startedAt: '2026-11-01T00:00:00.000Z', mode: 'auto', repo: '/nowhere', intervalSec: 60 }), passes }, null, 2)}\n`;

/** bin/clawops as a real process, killed after `ms` (a hang shows as `timedOut`) */
function runBin(args: string[], ms: number): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((done) => {
    const child = spawn(CLAWOPS, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, ms);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, timedOut });
    });
  });
}

describe('the controller host\'s state dir, planted (adversarial run 8)', () => {
  const dirs: string[] = [];
  const tmp = (p: string): string => {
    const d = mkdtempSync(join(tmpdir(), p));
    dirs.push(d);
    return d;
  };
  let lc: LocalController | undefined;
  afterEach(async () => {
    await lc?.close();
    lc = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  // fixed (was: readStateFile (reconciler/notifier/persist.ts) does readFile() on whatever status.json is: a FIFO blocks `clawops status` (and a starting controller) forever)
  it('P2 `clawops status --state-dir` with status.json a FIFO: one line, non-zero, no hang', async () => {
    const d = tmp('co-c8-fifo-');
    expect(spawnSync('mkfifo', [join(d, 'status.json')]).status).toBe(0);
    const r = await runBin(['status', '--state-dir', d], 10_000);
    expect(r.timedOut, 'clawops status hung on a FIFO status.json').toBe(false);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('status.json');
  }, 30_000);

  it('P2 `clawops status --state-dir` with a truncated status.json: one line naming the file, exit 2', async () => {
    const d = tmp('co-c8-trunc-');
    const text = statusDoc(7);
    writeFileSync(join(d, 'status.json'), text.slice(0, Math.floor(text.length / 2)));
    const r = await runCli(['status', '--state-dir', d]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(join(d, 'status.json'));
  });

  it('P2 a starting controller refuses a truncated status.json with one line naming it, and leaves it as it was', async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }], prefix: 'co-c8-ctl-' });
    const file = join(lc.stateDir, 'status.json');
    const text = statusDoc(7).slice(0, 40);
    writeFileSync(file, text);
    const err = await lc.start().then(() => undefined, (e: unknown) => e as Error);
    expect(err, 'the controller started on a truncated status.json').toBeInstanceOf(Error);
    expect(err!.message.split('\n')).toHaveLength(1);
    expect(err!.message).toContain(file);
    expect(readFileSync(file, 'utf8')).toBe(text);
  }, 60_000);

  // fixed (was: readStatus/readStateFile (reconciler/controller/store.ts, notifier/persist.ts) read status.json through a symlink: the controller resumes from a file outside its state dir)
  it('P1 a starting controller does not resume from a status.json that is a symlink to a file outside its state dir', async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }], prefix: 'co-c8-ctl-' });
    const outside = join(tmp('co-c8-outside-'), 'another-controllers-status.json');
    const foreign = statusDoc(4242);
    writeFileSync(outside, foreign);
    symlinkSync(outside, join(lc.stateDir, 'status.json'));
    const started = await lc.start().then((r) => r, (e: unknown) => e as Error);
    const passes = started instanceof Error ? 'refused' : started.c.status().passes;
    expect(passes, 'the controller took its status from a file outside its state dir').not.toBe(4242);
    expect(readFileSync(outside, 'utf8')).toBe(foreign);
  }, 60_000);
});

describe('the git webhook endpoint, attacked (adversarial run 8)', () => {
  const SECRET = 'whsec-c8-Qx7pL2mN9vR4tY6u';
  let server: ServerHandle;
  const log = memLogger();
  const triggers: string[] = [];
  const doc = emptyStatus({ pid: process.pid, startedAt: new Date().toISOString(), mode: 'auto', repo: '/nowhere', intervalSec: 60 });

  beforeAll(async () => {
    server = await startServer({ host: '127.0.0.1', port: 0 }, { status: () => doc, alive: () => true, trigger: (r) => triggers.push(r), secret: Buffer.from(SECRET), log: log.logger });
  });
  afterAll(async () => {
    await server?.close();
  });
  afterEach(() => {
    triggers.length = 0;
  });

  const post = (headers: Record<string, string>, body: Buffer | ((w: (b: Buffer) => void, end: () => void) => void)): Promise<{ status: number; text: string }> =>
    new Promise((done, fail) => {
      const req = request({ host: '127.0.0.1', port: server.address.port, path: '/hooks/git', method: 'POST', headers }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => done({ status: res.statusCode ?? 0, text }));
        res.on('error', () => done({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', (e) => fail(e));
      if (Buffer.isBuffer(body)) req.end(body);
      else body((b) => req.write(b), () => req.end());
    });

  it('P4 a push with a bad signature, and one with none, is refused 401 with no pass; the secret is in no response or log line', async () => {
    const body = Buffer.from('{"ref":"refs/heads/main"}');
    const bad = await post({ 'content-type': 'application/json', 'x-hub-signature-256': signBody('not-the-secret', body) }, body);
    const none = await post({ 'content-type': 'application/json' }, body);
    const escaped = await post({ 'content-type': 'application/json', 'x-hub-signature-256': `sha256=\u001b[2J${'0'.repeat(60)}` }, body).catch(() => ({ status: 400, text: '' }));
    expect([bad.status, none.status, escaped.status]).toEqual([401, 401, expect.any(Number)]);
    expect(escaped.status).toBeGreaterThanOrEqual(400);
    expect(triggers).toEqual([]);
    for (const t of [bad.text, none.text, escaped.text, log.text()]) expect(t).not.toContain(SECRET);
    // a correctly signed one still works
    const ok = await post({ 'content-type': 'application/json', 'x-hub-signature-256': signBody(SECRET, body) }, body);
    expect(ok.status).toBe(202);
    expect(triggers).toEqual(['webhook']);
  });

  it('P2 a huge chunked body (no content-length) is refused 413 without a pass, at once', async () => {
    const t0 = Date.now();
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    const r = await post({ 'content-type': 'application/json', 'x-hub-signature-256': signBody(SECRET, 'x'), 'transfer-encoding': 'chunked' }, (w, end) => {
      for (let i = 0; i < 8; i++) w(chunk);
      end();
    }).catch(() => ({ status: 413, text: '(connection closed after the refusal)' }));
    expect(r.status).toBe(413);
    expect(triggers).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('P2 a slow body does not hold the endpoint: other requests are served meanwhile, and no pass is run for it', async () => {
    let endSlow: () => void = () => undefined;
    const slow = post({ 'content-type': 'application/json', 'x-hub-signature-256': signBody(SECRET, '{"a":1}'), 'content-length': '7' }, (w, end) => {
      w(Buffer.from('{"a"'));
      endSlow = () => {
        w(Buffer.from(':1}'));
        end();
      };
    }).catch(() => ({ status: 0, text: '' }));
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const res = await fetch(`http://127.0.0.1:${server.address.port}/healthz`);
    expect(res.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(triggers).toEqual([]);
    endSlow();
    await slow;
  });
});
