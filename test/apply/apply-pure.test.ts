/** Pure parts of apply: phase order, lock records, the version gate. */
import { describe, expect, it } from 'vitest';
import { phases } from '../../reconciler/apply/apply-fleet.js';
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
