/**
 * The loop and its HTTP side over a real server: the git webhook's signature check (401 and no pass; 202 and a
 * pass), body cap, ping, /status and /healthz; triggers during a pass coalescing into one next pass; the interval
 * with jitter on an injected clock; stop().
 */
import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Controller, PassSummary } from '../../reconciler/controller/loop.js';
import { signBody, startServer, verifySignature, type ServerHandle } from '../../reconciler/controller/server.js';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { openclawCache } from '../helpers/openclaw.js';
import { memLogger, type FakeClock } from './helpers.js';

const SECRET = 'it-is-a-secret-0f3a';

function http(port: number, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', (e) => (/EPIPE|ECONNRESET/.test(String(e)) ? resolve({ status: -1, body: String(e) }) : reject(e)));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('verifySignature', () => {
  const body = Buffer.from('{"ref":"refs/heads/main"}');
  const good = signBody(SECRET, body);
  it.each([
    ['the right signature', good, true],
    ['upper-case hex', `sha256=${good.slice(7).toUpperCase()}`, true],
    ['missing', undefined, false],
    ['empty', '', false],
    ['sha1', good.replace('sha256=', 'sha1='), false],
    ['another secret', signBody('other', body), false],
    ['truncated', good.slice(0, -2), false],
    ['one digit off', `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`, false],
  ])('%s', (_n, header, ok) => {
    expect(verifySignature(Buffer.from(SECRET), body, header)).toBe(ok);
  });
  it('an empty secret verifies nothing', () => {
    expect(verifySignature(Buffer.alloc(0), body, signBody('', body))).toBe(false);
  });
});

describe.skipIf(!openclawCache())('the loop behind a real HTTP server', () => {
  let c: Controller;
  let clock: FakeClock;
  let server: ServerHandle;
  let passes: PassSummary[];
  let loop: Promise<void>;
  let lc: LocalController;

  beforeEach(async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: [] }, { name: 'gw-2', tenants: [] }], secretsFor: [], prefix: 'clawops-ctl-hook-' });
    const log = memLogger();
    ({ c, clock } = await lc.start({}, log));
    server = await startServer({ host: '127.0.0.1', port: 0 }, { status: () => c.status(), alive: () => c.alive(), trigger: (r) => c.trigger(r), secret: Buffer.from(SECRET), log: log.logger });
    passes = [];
    c.onPass((s) => passes.push(s));
  });
  afterEach(async () => {
    c.stop();
    await loop;
    await server.close();
    await lc.close();
  });

  it('401 and no pass for a bad or missing signature; 202 and one pass for a good one; ping 200 without a pass; 413 over the cap', async () => {
    loop = c.run();
    await until(() => passes.length === 1 && clock.sleeps.length === 1);
    expect(passes[0]!.trigger).toBe('start');
    const port = server.address.port;
    const body = JSON.stringify({ ref: 'refs/heads/main', after: 'f'.repeat(40) });

    const bad = [
      await http(port, 'POST', '/hooks/git', body),
      await http(port, 'POST', '/hooks/git', body, { 'x-hub-signature-256': signBody('wrong', body) }),
      await http(port, 'POST', '/hooks/git', body, { 'x-hub-signature-256': signBody(SECRET, `${body} `) }),
      await http(port, 'POST', '/hooks/git', body, { 'x-hub-signature-256': 'sha256=zz' }),
    ];
    expect(bad.map((r) => r.status)).toEqual([401, 401, 401, 401]);
    expect(JSON.parse(bad[0]!.body)).toEqual({ error: 'bad or missing signature' });
    const big = Buffer.alloc(1024 * 1024 + 1, 'x');
    const tooBig = await http(port, 'POST', '/hooks/git', big, { 'x-hub-signature-256': signBody(SECRET, big) });
    expect([413, -1]).toContain(tooBig.status);
    expect((await http(port, 'GET', '/hooks/git')).status).toBe(405);
    const ping = await http(port, 'POST', '/hooks/git', body, { 'x-hub-signature-256': signBody(SECRET, body), 'x-github-event': 'ping' });
    expect(ping.status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(passes).toHaveLength(1);

    const ok = await http(port, 'POST', '/hooks/git', body, { 'x-hub-signature-256': signBody(SECRET, body), 'x-github-event': 'push' });
    expect(ok.status).toBe(202);
    await until(() => passes.length === 2);
    expect(passes[1]!.trigger).toBe('webhook');

    const status = await http(port, 'GET', '/status');
    expect(status.status).toBe(200);
    const doc = JSON.parse(status.body) as { schemaVersion: number; passes: number; lastPass: { id: string; outcome: string }; nodes: Record<string, unknown> };
    expect(doc).toMatchObject({ schemaVersion: 2, passes: 2, lastPass: { id: passes[1]!.id, outcome: 'ok' } });
    expect(Object.keys(doc.nodes).sort()).toEqual(['gw-1', 'gw-2']);
    expect(JSON.parse((await http(port, 'GET', '/healthz')).body)).toMatchObject({ ok: true, lastPass: { id: passes[1]!.id } });
    expect((await http(port, 'GET', '/nope')).status).toBe(404);
  }, 60_000);

  it('triggers during a pass coalesce into exactly one next pass; then the interval (±10 % jitter) runs the next; stop ends the loop', async () => {
    loop = c.run(); // the first pass is in flight now
    c.trigger('webhook');
    c.trigger('webhook');
    c.trigger('manual');
    await until(() => passes.length === 2 && clock.sleeps.length === 1);
    expect(passes.map((p) => p.trigger)).toEqual(['start', 'webhook']);
    await new Promise((r) => setTimeout(r, 300));
    expect(passes).toHaveLength(2);
    // the injected random is 0.5: exactly the interval
    expect(clock.sleeps).toEqual([60_000]);
    clock.advance(59_999);
    await new Promise((r) => setTimeout(r, 100));
    expect(passes).toHaveLength(2);
    clock.advance(1);
    await until(() => passes.length === 3);
    expect(passes[2]!.trigger).toBe('interval');
    await until(() => clock.sleeps.length === 2);
    expect(c.alive()).toBe(true);
    c.stop();
    await loop;
    expect(c.alive()).toBe(false);
    expect(passes).toHaveLength(3);
    expect((await http(server.address.port, 'GET', '/healthz')).status).toBe(503);
  }, 60_000);
});
