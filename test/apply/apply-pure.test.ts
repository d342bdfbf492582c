/** Pure parts of apply: phase order, lock records, the version gate. */
import { describe, expect, it } from 'vitest';
import { NodeSlots, phases } from '../../reconciler/apply/apply-fleet.js';
import { lockOwner } from '../../reconciler/apply/apply-node.js';
import { describeHolder, isStale, parseHolder, parseRecords, versionMismatches } from '../../reconciler/apply/records.js';
import type { NodePlan } from '../../reconciler/plan/types.js';
import type { Lock } from '../../reconciler/desired/types.js';

const np = (node: string, role: 'gateway' | 'notifier', canary = false): NodePlan => ({ node, role, canary, status: 'OutOfSync', blocked: false, tenants: [], actions: [], issues: [], diffs: [] });
const lock: Lock = {
  openclaw: { version: '2026.9.6', commit: 'eb377ac' },
  daemon: { sha256: '4dd36d2ed0cb154456c4a09a951a2e8f2508a5dd6ff2fe0688d4e1c8f773fcb5' },
} as Lock;

describe('phases', () => {
  it('puts notifiers before gateways and canaries before the rest, keeping inventory order inside a phase', () => {
    const p = phases([np('gw-2', 'gateway'), np('gw-1', 'gateway', true), np('n-2', 'notifier'), np('gw-3', 'gateway'), np('n-1', 'notifier', true)]);
    expect(p.map((x) => [x.name, x.nodes.map((n) => n.node)])).toEqual([
      ['canary notifiers', ['n-1']],
      ['notifiers', ['n-2']],
      ['canary gateways', ['gw-1']],
      ['gateways', ['gw-2', 'gw-3']],
    ]);
  });
  it('drops empty phases', () => {
    expect(phases([np('gw-1', 'gateway')]).map((x) => x.name)).toEqual(['gateways']);
  });
});

describe('NodeSlots: at most N nodes worked on; a node waiting for a verdict gives its place up meanwhile', () => {
  const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
  /** a node's life: take a place, work, maybe wait (without a place), work again, leave; its log lines in order */
  const run = (slots: NodeSlots, log: string[], name: string, wait?: Promise<void>) =>
    (async () => {
      await slots.acquire();
      try {
        log.push(`${name} start`);
        await tick();
        if (wait) {
          await slots.whileWaiting(wait);
          log.push(`${name} back`);
        }
        await tick();
        log.push(`${name} end`);
      } finally {
        slots.release();
      }
    })();

  it('without waits: the first N start, each next one when one ends', async () => {
    const slots = new NodeSlots(2);
    const log: string[] = [];
    await Promise.all(['a', 'b', 'c', 'd'].map((x) => run(slots, log, x)));
    expect(log.slice(0, 2).sort()).toEqual(['a start', 'b start']);
    expect(log.indexOf('c start')).toBeGreaterThan(Math.min(log.indexOf('a end'), log.indexOf('b end')));
    expect(log.indexOf('d start')).toBeGreaterThan(Math.max(log.indexOf('a end'), log.indexOf('b end')));
  });

  it('a node waiting for a verdict lets the next nodes run meanwhile (limit 1)', async () => {
    const slots = new NodeSlots(1);
    const log: string[] = [];
    let verdict!: () => void;
    const pending = new Promise<void>((r) => (verdict = r));
    const a = run(slots, log, 'a', pending.then(() => void log.push('a wait-over')));
    await Promise.all(['b', 'c'].map((x) => run(slots, log, x)));
    verdict();
    await a;
    expect(log).toEqual(['a start', 'b start', 'b end', 'c start', 'c end', 'a wait-over', 'a back', 'a end']);
  });

  it('a node whose verdict came is back only when a place is free: never more than N past their waits', async () => {
    const slots = new NodeSlots(1);
    const log: string[] = [];
    let verdict!: () => void;
    const pending = new Promise<void>((r) => (verdict = r));
    let bDone!: () => void;
    const bHold = new Promise<void>((r) => (bDone = r));
    const a = run(slots, log, 'a', pending.then(() => void log.push('a wait-over')));
    const b = (async () => {
      await slots.acquire();
      log.push('b start');
      await bHold;
      log.push('b end');
      slots.release();
    })();
    await tick(20);
    verdict();
    await tick(20);
    expect(log).toEqual(['a start', 'b start', 'a wait-over']);
    bDone();
    await Promise.all([a, b]);
    expect(log).toEqual(['a start', 'b start', 'a wait-over', 'b end', 'a back', 'a end']);
  });

  it('nodes coming back from a wait go before nodes not started yet', async () => {
    const slots = new NodeSlots(1);
    const order: string[] = [];
    await slots.acquire();
    const fresh = slots.acquire().then(() => order.push('fresh'));
    const back = slots.acquire(true).then(() => order.push('back'));
    slots.release();
    await back;
    slots.release();
    await fresh;
    expect(order).toEqual(['back', 'fresh']);
  });
});

describe('lock records', () => {
  const raw = '{"run":"r1","owner":"alice@laptop","pid":42,"ttl_sec":900,"acquired_epoch":1000,"host":"laptop"}\n';
  const b64 = Buffer.from(raw).toString('base64');
  it('parses the holder and keeps its exact bytes for compare-and-swap', () => {
    const h = parseHolder(b64);
    expect(h).toMatchObject({ run: 'r1', owner: 'alice@laptop', pid: 42, host: 'laptop', raw });
  });
  it('is stale only after its ttl on the node clock', () => {
    const h = parseHolder(b64);
    expect(isStale(h, 1899)).toBe(false);
    expect(isStale(h, 1900)).toBe(true);
    expect(describeHolder(h, 1100)).toBe('alice@laptop (pid 42 on laptop, run r1, for 100 s, expires in 800 s)');
  });
  it('never takes over an unreadable lock file by itself, and says how to clear it', () => {
    const h = parseHolder(Buffer.from('garbage').toString('base64'));
    expect(isStale(h, 10 ** 10)).toBe(false);
    expect(describeHolder(h, 0)).toMatch(/^an unreadable lock file \(if no apply is running, remove \/var\/db\/openclaw\/clawops\/node\.lock on the node\)$/);
  });
  it('keeps lock owners to characters printf can put in JSON unescaped', () => {
    expect(lockOwner('CORP\\alice "ops"@mac-1')).toBe('CORP_alice__ops_@mac-1');
    expect(lockOwner('alice@laptop.local')).toBe('alice@laptop.local');
    expect(lockOwner('')).toBe('unknown');
  });
  it('splits tab records', () => {
    expect(parseRecords('now\t5\nlock\tacquired\n\n')).toEqual([['now', '5'], ['lock', 'acquired']]);
  });
});

describe('version gate', () => {
  const ok = { exitCode: 0, line: 'OpenClaw 2026.9.6 (eb377ac)', daemonPath: '/x/openclaw.mjs', daemonSha: lock.daemon.sha256 };
  it('passes when version, commit and daemon hash match', () => {
    expect(versionMismatches(lock, ok)).toEqual([]);
  });
  it('names expected and found for a version, a commit and a daemon hash that differ', () => {
    expect(versionMismatches(lock, { ...ok, line: 'OpenClaw 2026.8.1 (0badc0d)' })[0]).toBe('openclaw 2026.8.1 (0badc0d) does not match openclaw.lock: expected 2026.9.6 (eb377ac)');
    expect(versionMismatches(lock, { ...ok, line: 'OpenClaw 2026.9.6 (eb377ff)' })).toHaveLength(1);
    expect(versionMismatches(lock, { ...ok, daemonSha: 'ab'.repeat(32) })[0]).toMatch(/daemon \/x\/openclaw\.mjs sha256 abababababab… does not match openclaw\.lock: expected 4dd36d2ed0cb…/);
  });
  it('reports a node without openclaw', () => {
    expect(versionMismatches(lock, { exitCode: 127, line: '' })).toEqual(['openclaw not found on the node; expected 2026.9.6 (eb377ac)']);
  });
  it('reports output it cannot parse', () => {
    expect(versionMismatches(lock, { ...ok, line: 'Segmentation fault' })[0]).toContain('unparseable "Segmentation fault"');
  });
});
