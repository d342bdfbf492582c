/**
 * The state dir: one controller per dir (lock file with the pid, stale locks of dead pids taken over), the status
 * store's atomic writes (and a writer killed with SIGKILL mid-stream leaves a readable file), the schema version
 * refusal, suspension.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireStateLock, LOCK_FILE, lockHolder, StateDirLockedError } from '../../reconciler/controller/state-lock.js';
import { emptyStatus, type CommitEvidence, type StatusDoc } from '../../reconciler/controller/status.js';
import { boundCommits, changeSuspension, isSuspended, readStatus, readSuspension, STATUS_FILE, statusText, StoreVersionError, writeStatus, writeSuspension } from '../../reconciler/controller/store.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { newController } from './helpers.js';

const dir = (): string => mkdtempSync(join(tmpdir(), 'clawops-ctl-store-'));
const deadPid = (): number => {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
};

describe('the state-dir lock', () => {
  it('holds the pid; a second controller is refused naming it; release lets the next one in', () => {
    const d = dir();
    const a = acquireStateLock(d);
    expect(JSON.parse(readFileSync(join(d, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    let err: unknown;
    try {
      acquireStateLock(d, { pid: process.pid + 100_000 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDirLockedError);
    expect((err as Error).message).toMatch(new RegExp(`^state dir ${d} is in use by controller pid ${process.pid} \\(since .*; lock ${d}/controller\\.lock\\)$`));
    expect(lockHolder(d)?.pid).toBe(process.pid);
    a.release();
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
    const b = acquireStateLock(d, { pid: 4242, alive: () => true });
    expect(JSON.parse(readFileSync(join(d, LOCK_FILE), 'utf8')).pid).toBe(4242);
    b.release();
    // no temp files left behind
    expect(readdirSync(d)).toEqual([]);
  });

  it.each([
    ['a dead pid', () => JSON.stringify({ pid: deadPid(), host: hostname(), started: 'x' })],
    ['our own pid (a previous life of it, e.g. pid 1 in a container)', () => JSON.stringify({ pid: process.pid, host: hostname(), started: 'x' })],
    ['garbage', () => 'not json at all'],
  ])('a stale lock of %s is taken over', (_n, content) => {
    const d = dir();
    writeFileSync(join(d, LOCK_FILE), content());
    const l = acquireStateLock(d);
    expect(JSON.parse(readFileSync(join(d, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    l.release();
    expect(readdirSync(d)).toEqual([]);
  });

  it('a release does not remove a lock someone else holds now', () => {
    const d = dir();
    const a = acquireStateLock(d);
    writeFileSync(join(d, LOCK_FILE), JSON.stringify({ pid: 1, host: hostname(), started: 'y' }));
    a.release();
    expect(existsSync(join(d, LOCK_FILE))).toBe(true);
  });

  it('Controller.start refuses a held state dir', async () => {
    const d = dir();
    const held = acquireStateLock(d, { pid: 1, alive: () => true });
    const { c } = newController({ repo: REPO_ROOT, stateDir: d });
    await expect(c.start()).rejects.toThrow(/state dir .* is in use by controller pid 1 /);
    held.release();
  });
});

const doc = (): StatusDoc => emptyStatus({ pid: 1, startedAt: '2026-11-28T12:00:00.000Z', mode: 'auto', repo: 'git@example:infra.git', intervalSec: 60 });

describe('the status store', () => {
  it('writes atomically (no temp file left, readable JSON, 0644) and reads back what it wrote', async () => {
    const d = dir();
    const s = doc();
    s.nodes['gw-1'] = { node: 'gw-1', role: 'gateway', canary: true, follows: 'canary', state: 'Synced', reason: 'Synced', sync: { status: 'InSync', running: [], differences: 0 }, health: { status: 'ok' }, suspended: false, lastTransition: 'x', tenants: {} };
    await writeStatus(d, s);
    await writeStatus(d, { ...s, passes: 7 });
    expect(readdirSync(d)).toEqual([STATUS_FILE]);
    expect(statSync(join(d, STATUS_FILE)).mode & 0o777).toBe(0o644);
    const back = await readStatus(d);
    expect(back).toMatchObject({ schemaVersion: 2, passes: 7, nodes: { 'gw-1': { state: 'Synced' } } });
    expect(await readStatus(dir())).toBeUndefined();
  });

  it('writes the text JSON.stringify(doc, null, 2) gives, byte for byte, though it makes it one record at a time', async () => {
    const rec = (node: string, extra: Record<string, unknown> = {}): StatusDoc['nodes'][string] =>
      ({ node, role: 'gateway', canary: false, follows: 'fleet', state: 'Degraded', reason: 'ProbeFailed', message: 'a "quoted"\nline\u2028 ünïcode', sync: { status: 'InSync', running: [{ commit: 'c'.repeat(40) }], differences: 0 }, health: { status: 'failed', message: undefined }, suspended: false, lastTransition: 't', tenants: { acme: { tenant: 'acme', state: 'Synced', reason: 'Synced', sync: { state: 'InSync' }, health: { status: 'ok' }, lastTransition: 't', probe: { source: 'probe', status: 'ok', code: 200, checks: [], at: 't' } } }, ...extra }) as StatusDoc['nodes'][string];
    const docs: StatusDoc[] = [doc()];
    const full = doc();
    // names JSON puts first (integer-like), one that must stay an own key, quoting, values JSON leaves out
    for (const n of ['gw-2', '10', 'gw-"1"\\', '__proto__', 'gw-ü', '2']) Object.defineProperty(full.nodes, n, { value: rec(n), enumerable: true, writable: true, configurable: true });
    (full.nodes as Record<string, unknown>)['gone'] = undefined;
    (full.nodes as Record<string, unknown>)['fn'] = () => 1;
    (full as unknown as Record<string, unknown>).lastPass = undefined;
    full.commits['c'.repeat(40)] = { commit: 'c'.repeat(40), verdict: 'pending', firstSeen: 't', canaries: {} };
    docs.push(full);
    const onlyGone = doc();
    (onlyGone.nodes as Record<string, unknown>)['gone'] = undefined;
    docs.push(onlyGone);
    for (const s of docs) expect([...statusText(s)].join('')).toBe(`${JSON.stringify(s, null, 2)}\n`);
    // and on disk, past the writer's 64 KiB batches
    const d = dir();
    const many = doc();
    for (let i = 0; i < 300; i++) many.nodes[`gw-${i}`] = rec(`gw-${i}`);
    await writeStatus(d, many);
    expect(readFileSync(join(d, STATUS_FILE), 'utf8')).toBe(`${JSON.stringify(many, null, 2)}\n`);
  });

  it.each([
    [{ schemaVersion: 3, nodes: {} }, /status\.json: written by a newer clawops \(status schema 3, this one reads up to 2\); upgrade clawops or use another --state-dir$/],
    [{ nodes: {} }, /status\.json: not a clawops controller status file \(no schemaVersion\)/],
    [[1, 2], /not a clawops controller status file/],
    [{ schemaVersion: 0 }, /status schema 0 is too old to read/],
    [{ schemaVersion: 2, nodes: {}, commits: null }, /status\.json: "commits" is not an object \(hand-edited\?\); fix it or move the file away/],
    [{ schemaVersion: 2, nodes: [], commits: {} }, /status\.json: "nodes" is not an object/],
  ])('refuses %j with a clear message', async (content, msg) => {
    const d = dir();
    writeFileSync(join(d, STATUS_FILE), JSON.stringify(content));
    await expect(readStatus(d)).rejects.toThrow(StoreVersionError);
    await expect(readStatus(d)).rejects.toThrow(msg);
  });

  it('Controller.start refuses a newer store (and releases the state dir again)', async () => {
    const d = dir();
    writeFileSync(join(d, STATUS_FILE), JSON.stringify({ schemaVersion: 9 }));
    const { c } = newController({ repo: REPO_ROOT, stateDir: d });
    await expect(c.start()).rejects.toThrow(/status schema 9/);
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
  });

  it('a writer killed with SIGKILL mid-stream leaves the old or the new file, never half of one', async () => {
    const d = dir();
    // (each node with its state: a store's records are checked when it is read, round 15)
    const big = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`gw-${i}`, { state: 'Synced', note: 'x'.repeat(200) }]));
    const script = `
      import { writeStatus } from ${JSON.stringify(join(REPO_ROOT, 'reconciler/controller/store.ts'))};
      const big = ${JSON.stringify(big)};
      let i = 0;
      process.stdout.write('go\\n');
      for (;;) await writeStatus(${JSON.stringify(d)}, { schemaVersion: 1, passes: i++, nodes: big, commits: {}, source: {}, controller: {} });
    `;
    const child = spawn(process.execPath, ['--import', join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs'), '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 400));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const back = await readStatus(d);
    expect(back!.passes).toBeGreaterThan(0);
    expect(Object.keys(back!.nodes)).toHaveLength(400);
  }, 30_000);

  it('keeps every failed commit and the newest others', () => {
    const ev = (c: string, verdict: CommitEvidence['verdict'], firstSeen: string): CommitEvidence => ({ commit: c, verdict, firstSeen, canaries: {} });
    const commits = Object.fromEntries([ev('a', 'failed', '2026-01-01'), ev('b', 'proven', '2026-01-02'), ev('c', 'pending', '2026-01-03'), ev('d', 'proven', '2026-01-04')].map((e) => [e.commit, e]));
    expect(Object.keys(boundCommits(commits, 2)).sort()).toEqual(['a', 'c', 'd']);
  });
});

describe('suspension', () => {
  it.each([
    [{ all: false, nodes: [] }, 'suspend', [], { all: true, nodes: [] }],
    [{ all: true, nodes: ['gw-2'] }, 'resume', [], { all: false, nodes: ['gw-2'] }],
    [{ all: false, nodes: ['gw-2'] }, 'suspend', ['gw-1', 'gw-2'], { all: false, nodes: ['gw-1', 'gw-2'] }],
    [{ all: false, nodes: ['gw-1', 'gw-2'] }, 'resume', ['gw-1'], { all: false, nodes: ['gw-2'] }],
  ] as const)('%j %s %j → %j', (from, action, nodes, want) => {
    expect(changeSuspension({ all: from.all, nodes: [...from.nodes] }, action, nodes)).toEqual(want);
  });

  it('persists in the state dir', async () => {
    const d = dir();
    expect(readSuspension(d)).toEqual({ all: false, nodes: [] });
    await writeSuspension(d, { all: false, nodes: ['gw-2'] });
    const s = readSuspension(d);
    expect([isSuspended(s, 'gw-1'), isSuspended(s, 'gw-2')]).toEqual([false, true]);
    writeFileSync(join(d, 'suspend.json'), '{oops');
    expect(() => readSuspension(d)).toThrow(/suspend\.json: not valid JSON/);
  });
});
