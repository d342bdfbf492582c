/** The notifier with real sockets and HTTP: ingest over a UNIX socket, the digest over HTTP, persistence. */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startNotifier, type NotifierHandle, type NotifierOptions } from '../../reconciler/notifier/service.js';
import { failureLine, getJson, memLogger, sendLines, sendRaw, tmp, waitFor } from './helpers.js';

const T0 = Date.parse('2026-11-25T12:00:00.000Z');

const open: NotifierHandle[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function start(over: Partial<NotifierOptions> & { dir?: string } = {}): Promise<{ n: NotifierHandle; dir: string; log: ReturnType<typeof memLogger> }> {
  const dir = over.dir ?? tmp('ntf');
  const log = memLogger();
  const n = await startNotifier({
    socketPath: join(dir, 'n.sock'),
    listen: { host: '127.0.0.1', port: 0 },
    windowSec: 300,
    maxKeys: 1000,
    logger: log.logger,
    tickMs: 20,
    persistDebounceMs: 20,
    ...over,
  });
  open.push(n);
  return { n, dir, log };
}

type Digest = {
  generated_at: string;
  age_sec: number;
  window_sec: number;
  total: number;
  dropped: number;
  overflow: number;
  keys: number;
  top: { tenant: string; endpoint: string; family: string; count: number; statuses: Record<string, number>; first_seen: string; last_seen: string }[];
};

async function digest(n: NotifierHandle, query = ''): Promise<Digest> {
  const r = await getJson(`${n.http.url}/v1/webhook-digest${query}`);
  expect(r.status).toBe(200);
  return r.body as unknown as Digest;
}

/** Wait until the HTTP digest satisfies `ok`. */
function digestWhen(n: NotifierHandle, ok: (d: Digest) => boolean, what: string): Promise<Digest> {
  return waitFor(async () => {
    const d = await digest(n);
    return ok(d) ? d : undefined;
  }, what);
}

describe('notifier: ingest and digest over real sockets', () => {
  it('creates the socket with mode 0660', async () => {
    const { n } = await start();
    expect(statSync(n.socketPath).isSocket()).toBe(true);
    expect(statSync(n.socketPath).mode & 0o777).toBe(0o660);
  });

  it('the seed: 500 failures of one canary webhook are exactly one digest row with count 500', async () => {
    const { n } = await start();
    const lines: string[] = [];
    for (let i = 0; i < 500; i++) {
      lines.push(
        failureLine({
          tenant: 'acme',
          endpoint: `https://canary.example.com/hooks/agent?attempt=${i}`,
          status: i % 5 === 0 ? 502 : 503,
          time: new Date(T0 + i * 1000).toISOString(),
          delivery_id: `dlv-${i}`,
        }),
      );
    }
    // from several connections at once, as several gateway workers would
    await Promise.all([0, 1, 2, 3, 4].map((k) => sendLines(n.socketPath, lines.slice(k * 100, k * 100 + 100))));
    const d = await digestWhen(n, (x) => x.total === 500, 'total 500');
    expect(Object.keys(d).sort()).toEqual(['age_sec', 'dropped', 'generated_at', 'keys', 'overflow', 'top', 'total', 'window_sec']);
    expect(d).toMatchObject({ window_sec: 300, total: 500, dropped: 0, overflow: 0, keys: 1 });
    expect(typeof d.age_sec).toBe('number');
    expect(d.age_sec).toBeGreaterThanOrEqual(0);
    expect(d.age_sec).toBeLessThan(5);
    expect(Number.isNaN(Date.parse(d.generated_at))).toBe(false);
    expect(d.top).toEqual([
      {
        tenant: 'acme',
        endpoint: 'https://canary.example.com',
        family: '5xx',
        count: 500,
        statuses: { '502': 100, '503': 400 },
        first_seen: new Date(T0).toISOString(),
        last_seen: new Date(T0 + 499_000).toISOString(),
      },
    ]);
  });

  it('dedups by tenant, origin and family; the digest is worst first and filters by tenant', async () => {
    const { n } = await start();
    await sendLines(n.socketPath, [
      failureLine({ endpoint: 'https://a.example/x', status: 404 }),
      failureLine({ endpoint: 'https://a.example/y', status: 401 }),
      failureLine({ endpoint: 'https://a.example:443/z', status: 500 }),
      failureLine({ endpoint: 'https://b.example/x', status: 'timeout' }),
      failureLine({ endpoint: 'https://b.example/x', status: 'timeout' }),
      failureLine({ endpoint: 'http://b.example/x', status: 'network' }),
      failureLine({ tenant: 'globex', endpoint: 'https://a.example/x', status: 503 }),
    ]);
    const d = await digestWhen(n, (x) => x.total === 7, 'total 7');
    expect(d.top.map((r) => [r.tenant, r.endpoint, r.family, r.count])).toEqual([
      ['acme', 'https://a.example', '5xx', 1],
      ['globex', 'https://a.example', '5xx', 1],
      ['acme', 'https://b.example', 'timeout', 2],
      ['acme', 'http://b.example', 'network', 1],
      ['acme', 'https://a.example', '4xx', 2],
    ]);
    expect(d.top.at(-1)!.statuses).toEqual({ '401': 1, '404': 1 });
    const g = await digest(n, '?tenant=globex');
    expect(g.top.map((r) => r.tenant)).toEqual(['globex']);
    expect(g.total).toBe(7); // counters are global; rows are filtered
    expect((await digest(n, '?limit=2')).top).toHaveLength(2);
  });

  it('HTTP: /healthz, 404, 405, and a bad limit is a 400', async () => {
    const { n } = await start();
    expect(await getJson(`${n.http.url}/healthz`)).toEqual({ status: 200, body: { ok: true, status: 'live' } });
    expect((await getJson(`${n.http.url}/nope`)).status).toBe(404);
    expect((await fetch(`${n.http.url}/v1/webhook-digest`, { method: 'POST', body: '{}' })).status).toBe(405);
    expect((await getJson(`${n.http.url}/v1/webhook-digest?limit=-1`)).status).toBe(400);
    expect((await getJson(`${n.http.url}/v1/webhook-digest?limit=abc`)).status).toBe(400);
  });

  it('a flood of malformed lines is counted and dropped; the notifier stays alive and keeps counting good lines', async () => {
    const { n, log } = await start({ maxLineBytes: 4096 });
    const junk = ['{', 'null', '[]', '{"tenant":"acme"}', failureLine({ status: 999 }), 'x'.repeat(100), '\u0000\u0001\u0002', '{"a":'.repeat(50)];
    const flood: string[] = [];
    for (let i = 0; i < 20_000; i++) flood.push(junk[i % junk.length]!);
    const good = Array.from({ length: 50 }, () => failureLine());
    const oversize = `${'y'.repeat(10_000)}\n`;
    await Promise.all([
      sendLines(n.socketPath, flood),
      sendLines(n.socketPath, flood),
      sendLines(n.socketPath, good),
      sendRaw(n.socketPath, Buffer.concat([Buffer.from(oversize), Buffer.from(`${failureLine()}\n`), Buffer.from('not json at the end, no newline')])),
    ]);
    const d = await digestWhen(n, (x) => x.dropped === 40_002 && x.total === 51, 'all lines accounted for');
    expect(d.top).toHaveLength(1);
    expect(d.top[0]!.count).toBe(51);
    expect((await getJson(`${n.http.url}/healthz`)).status).toBe(200);
    // still ingesting afterwards
    await sendLines(n.socketPath, [failureLine()]);
    await digestWhen(n, (x) => x.total === 52, 'one more');
    // the burst is logged, rate-limited, never line by line and never with the content
    const warns = log.lines.filter((l) => l.msg === 'dropped malformed webhook-failure lines');
    expect(warns.length).toBeGreaterThanOrEqual(1);
    expect(warns.length).toBeLessThan(5);
    expect(log.text()).not.toContain('yyyyyyyyyy');
  });

  it('a slow or broken client does not block others', async () => {
    const { n } = await start();
    const clients: Socket[] = [];
    const connectRaw = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const c = connect(n.socketPath, () => resolve(c));
        c.on('error', reject);
        clients.push(c);
      });
    // connects and never writes
    await connectRaw();
    // writes half a line and stalls
    const half = await connectRaw();
    const line = failureLine({ endpoint: 'https://slow.example/x', status: 500 });
    half.write(line.slice(0, 40));
    // many idle connections too
    for (let i = 0; i < 50; i++) await connectRaw();
    // a good client gets through at once
    await sendLines(n.socketPath, Array.from({ length: 20 }, () => failureLine({ endpoint: 'https://fast.example/x' })));
    const d = await digestWhen(n, (x) => x.total === 20, 'the fast client counted');
    expect(d.top.map((r) => r.endpoint)).toEqual(['https://fast.example']);
    // the stalled client finishes its line later, and it counts once
    half.end(`${line.slice(40)}\n`);
    const d2 = await digestWhen(n, (x) => x.total === 21, 'the slow line counted');
    expect(d2.top.map((r) => [r.endpoint, r.count])).toEqual([['https://fast.example', 20], ['https://slow.example', 1]]);
    // a client that dies mid-line hurts nobody; its fragment is one malformed line
    const broken = await connectRaw();
    broken.write('{"tenant":"ac');
    broken.destroy();
    await sendLines(n.socketPath, [failureLine({ endpoint: 'https://fast.example/x' })]);
    const d3 = await digestWhen(n, (x) => x.total === 22, 'after a broken client');
    expect(d3.dropped).toBe(1);
    for (const c of clients) c.destroy();
  });

  it('closes connections that stay silent past the idle timeout, so stalled clients cannot hold every slot', async () => {
    const { n } = await start({ idleTimeoutMs: 150 });
    const silent = connect(n.socketPath);
    const closed = new Promise<void>((resolve) => silent.on('close', () => resolve()));
    silent.on('error', () => undefined);
    await closed; // closed by the notifier, not by us
    // a client that keeps talking stays connected across several idle periods
    const busy = connect(n.socketPath);
    let busyClosed = false;
    busy.on('close', () => (busyClosed = true));
    for (let i = 0; i < 5; i++) {
      busy.write(`${failureLine({ endpoint: 'https://busy.example/x' })}\n`);
      await new Promise((ok) => setTimeout(ok, 60));
    }
    expect(busyClosed).toBe(false);
    const d = await digestWhen(n, (x) => x.total === 5, 'the busy client counted');
    expect(d.top.map((r) => [r.endpoint, r.count])).toEqual([['https://busy.example', 5]]);
    busy.destroy();
  });

  it('the key cap bounds memory; overflow is counted and reported', async () => {
    const { n } = await start({ maxKeys: 5 });
    await sendLines(
      n.socketPath,
      Array.from({ length: 50 }, (_, i) => failureLine({ endpoint: `https://junk-${i}.example/x` })),
    );
    const d = await digestWhen(n, (x) => x.total === 50, 'total 50');
    expect(d).toMatchObject({ keys: 5, overflow: 45 });
    expect(d.top).toHaveLength(5);
    // an existing key keeps counting while the cap is full
    await sendLines(n.socketPath, [failureLine({ endpoint: 'https://junk-0.example/y' })]);
    const d2 = await digestWhen(n, (x) => x.total === 51, 'total 51');
    expect(d2.overflow).toBe(45);
    expect(d2.top[0]).toMatchObject({ endpoint: 'https://junk-0.example', count: 2 });
  });

  it('windows: with an injected clock, failures leave the digest after window_sec and age_sec tracks the tick', async () => {
    let now = T0;
    const { n } = await start({ now: () => now, tickMs: 3_600_000, windowSec: 60 });
    await sendLines(n.socketPath, [failureLine(), failureLine()]);
    await waitFor(async () => {
      await n.refresh();
      return n.snapshot().total === 2;
    }, 'two failures');
    now = T0 + 30_000;
    await sendLines(n.socketPath, [failureLine({ status: 'timeout' })]);
    await waitFor(async () => {
      await n.refresh();
      return n.snapshot().total === 3;
    }, 'three failures');
    now = T0 + 45_000; // no tick since T0+30 s
    expect((await digest(n)).age_sec).toBe(15);
    now = T0 + 60_000;
    await n.refresh();
    const d = await digest(n);
    expect(d.age_sec).toBe(0);
    expect(d.generated_at).toBe(new Date(T0 + 60_000).toISOString());
    expect(d.top.map((r) => [r.family, r.count])).toEqual([['timeout', 1]]);
    now = T0 + 90_000;
    await n.refresh();
    expect(await digest(n)).toMatchObject({ total: 0, keys: 0, top: [] });
  });

  it('restart: the digest is persisted and comes back intact', async () => {
    const dir = tmp('ntf');
    const stateFile = join(dir, 'state', 'digest.json');
    mkdirSync(join(dir, 'state'));
    const first = await start({ dir, stateFile });
    await sendLines(first.n.socketPath, [
      ...Array.from({ length: 500 }, () => failureLine()),
      failureLine({ tenant: 'globex', status: 'network' }),
      'garbage',
    ]);
    const before = await digestWhen(first.n, (x) => x.total === 501, 'total 501');
    await first.n.close();
    expect(existsSync(first.n.socketPath)).toBe(false);
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);

    const second = await start({ dir, stateFile });
    const after = await digest(second.n);
    expect(after.top).toEqual(before.top);
    expect(after).toMatchObject({ total: 501, dropped: 1, keys: 2 });
    expect(second.log.lines.some((l) => l.msg === 'digest restored')).toBe(true);
    // and it keeps counting on top of what it restored
    await sendLines(second.n.socketPath, [failureLine()]);
    const more = await digestWhen(second.n, (x) => x.total === 502, 'total 502');
    expect(more.top[0]!.count).toBe(501);
  });

  it('persists while running (debounced), so a crash loses at most the last moments', async () => {
    const dir = tmp('ntf');
    const stateFile = join(dir, 'digest.json');
    const { n } = await start({ dir, stateFile });
    await sendLines(n.socketPath, Array.from({ length: 10 }, () => failureLine()));
    await waitFor(() => {
      if (!existsSync(stateFile)) return false;
      const st = JSON.parse(readFileSync(stateFile, 'utf8')) as { digest: { entries: { slots: { count: number }[] }[] } };
      return st.digest.entries[0]?.slots.reduce((s, x) => s + x.count, 0) === 10;
    }, 'the state file to hold 10 failures');
  });

  it('a corrupt state file is moved aside and the notifier starts empty', async () => {
    const dir = tmp('ntf');
    const stateFile = join(dir, 'digest.json');
    writeFileSync(stateFile, '{"format":"clawops-notifier-state/v1","digest":{"nope":1}}');
    const { n, log } = await start({ dir, stateFile });
    expect((await digest(n)).total).toBe(0);
    expect(existsSync(`${stateFile}.corrupt`)).toBe(true);
    expect(log.lines.some((l) => l.msg === 'saved digest unreadable; starting empty')).toBe(true);
  });

  it('replaces a stale socket file, but refuses a live one and a non-socket path', async () => {
    const dir = tmp('ntf');
    const socketPath = join(dir, 'n.sock');
    // what a crash leaves behind: a socket file nobody listens on
    const r = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.exit(0))`]);
    expect(r.status).toBe(0);
    expect(statSync(socketPath).isSocket()).toBe(true);
    const { n } = await start({ dir, socketPath });
    await sendLines(socketPath, [failureLine()]);
    await digestWhen(n, (x) => x.total === 1, 'a line through the replaced socket');
    // a live listener on the path: refused
    await expect(start({ dir: tmp('ntf'), socketPath })).rejects.toThrow(/another notifier is listening/);
    // a regular file at the path: refused, never deleted
    const filePath = join(dir, 'file.sock');
    writeFileSync(filePath, 'keep me');
    await expect(start({ dir, socketPath: filePath })).rejects.toThrow(/not a socket/);
    expect(readFileSync(filePath, 'utf8')).toBe('keep me');
  });
});
