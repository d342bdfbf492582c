/**
 * reparse.ts: a kept answer whose kept part and stdin are last pass's is parsed from last pass's base and its live
 * records only — and the observation is deep-equal (key order included) to parseObservation's of the whole answer.
 * On the real observe script's answers (a local node: full, kept, launchd changes, a service gone, launchctl failing,
 * a new openclaw, a change on the node and the full answer after it) and on crafted ones.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sameValue } from '../../reconciler/share.js';
import type { DesiredState } from '../../reconciler/desired/types.js';
import { OBSERVE_SCRIPT } from '../../reconciler/observe/observe-script.js';
import { expectations } from '../../reconciler/observe/observe-node.js';
import { parseObservation } from '../../reconciler/observe/parse-observation.js';
import { Reparser, splitAnswer } from '../../reconciler/observe/reparse.js';
import type { NodeObservation } from '../../reconciler/observe/types.js';
import { keptRecords } from '../../bench/lib/sim-node.js';
import { exampleDesired } from '../plan/fixtures.js';
import { makeLocalNode, placeLocalRelease, writeToken, type LocalNode } from './local-node.js';

const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
const META = { commands: 1, durationMs: 3 };

/** wait until every change made so far is older than T0 - 1 s of the next answer (as in observe-cache.test.ts) */
function settle(): void {
  const until = (Math.floor(Date.now() / 1000) + 2) * 1000 + 20;
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.max(0, until - Date.now()));
}

function deepFreeze(o: unknown): void {
  if (o === null || typeof o !== 'object' || Buffer.isBuffer(o) || Object.isFrozen(o)) return;
  Object.freeze(o);
  for (const v of Object.values(o)) deepFreeze(v);
}

/** the reparser's observation, checked against parseObservation's of the same answer (deep, key order included) */
function both(rp: Reparser, stdout: string, input: string | undefined): NodeObservation {
  const want = parseObservation('local-1', stdout, META, input);
  const got = rp.parse('local-1', stdout, META, input);
  expect(got).toStrictEqual(want);
  expect(sameValue(got, want)).toBe(true);
  return got;
}

const kindOf = (stdout: string): string => (JSON.parse(stdout) as { records: string[][] }).records.find((r) => r[0] === 'answer')?.[1] ?? '';

describe('reparse on the real observe script (local node)', () => {
  let node: LocalNode;
  let desired: DesiredState;
  let ld: string;
  const tenants = ['acme', 'globex'];
  const run = (input = expectations(desired, tenants)): { stdout: string; input: string } => {
    const r = spawnSync('sh', ['-c', OBSERVE_SCRIPT, 'clawops-observe', node.etc, node.varDb, ld], {
      input,
      env: { PATH: `${node.bin}:/usr/bin:/bin`, HOME: node.root, TMPDIR: node.root },
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    expect(r.status, r.stderr).toBe(0);
    return { stdout: r.stdout, input };
  };

  beforeAll(() => {
    node = makeLocalNode();
    const example = exampleDesired();
    desired = { ...example, lock: { ...example.lock, daemon: { sha256: sha(readFileSync(node.daemon)) } } };
    ld = join(node.root, 'Library/LaunchDaemons');
    mkdirSync(ld, { recursive: true });
    mkdirSync(join(node.varDb, 'clawops'), { recursive: true });
    for (const t of tenants) {
      placeLocalRelease(node, desired, t);
      writeToken(node, t, 'token.current', `tok_${t}_0123456789abcdef`);
      node.setRunning(t, true);
    }
    run();
    settle();
  });
  afterAll(() => node.remove());

  it('kept answers: parsed in full once, then from the base, equal to the full parse whatever launchd and openclaw say', () => {
    const rp = new Reparser();
    // a full answer: its svc records are not last, no base
    const full = run();
    expect(kindOf(full.stdout)).toBe('full');
    both(rp, full.stdout, full.input);
    expect(rp.counts).toEqual({ full: 1, reused: 0 });
    settle();
    const k1 = run();
    expect(kindOf(k1.stdout)).toBe('kept');
    // laid out as the simulated nodes lay it out (bench/lib/sim-node.ts keptRecords): the live records, the full
    // answer's others in its order, the services
    const recs = (s: string): string[][] => (JSON.parse(s) as { records: string[][] }).records;
    const kr = recs(k1.stdout);
    const fr = recs(full.stdout).map((r) => (r[0] === 'disk' ? kr.find((x) => x[0] === 'disk')! : r));
    expect(kr).toEqual(keptRecords(fr, Number(kr[0]![1]), Number(kr[1]![2])));
    const first = both(rp, k1.stdout, k1.input);
    expect(rp.counts).toEqual({ full: 2, reused: 0 });
    // what a pass may have kept of it is never written to again: frozen, and the next answers still parse
    deepFreeze(first);
    const k2 = run();
    expect(kindOf(k2.stdout)).toBe('kept');
    both(rp, k2.stdout, k2.input);
    expect(rp.counts.reused).toBe(1);
    // a service stopped (gone from launchctl's list), then another started again
    node.setRunning('acme', false);
    const k3 = run();
    const o3 = both(rp, k3.stdout, k3.input);
    expect(o3.tenants.acme!.launchd.loaded).toBe(false);
    expect(o3.tenants.globex!.launchd.state).toBe('running');
    node.setRunning('acme', true);
    node.setRunning('globex', false);
    const o4 = both(rp, run().stdout, k3.input);
    expect(o4.tenants.acme!.launchd.state).toBe('running');
    expect(o4.tenants.globex!.launchd.loaded).toBe(false);
    // the first observation still says what it said
    expect(first.tenants.acme!.launchd.state).toBe('running');
    expect(rp.counts.reused).toBe(3);
    // launchctl fails: a launchd-list record in the head, no svc
    const launchctl = join(node.bin, 'launchctl');
    const real = readFileSync(launchctl, 'utf8');
    writeFileSync(launchctl, '#!/bin/sh\nexit 5\n', { mode: 0o755 });
    try {
      const k5 = run();
      expect(k5.stdout).toContain('["launchd-list","5"]');
      const o5 = both(rp, k5.stdout, k5.input);
      expect(o5.tenants.acme!.launchd.exitCode).toBe(5);
      expect(rp.counts.reused).toBe(4);
    } finally {
      writeFileSync(launchctl, real, { mode: 0o755 });
    }
    // another openclaw (its version asked afresh, outside the roots): the head changes, the kept part does not
    const daemon = readFileSync(node.daemon, 'utf8');
    writeFileSync(node.daemon, daemon.replace('2026.9.6 (eb377ac)', '2026.10.1 (abc1234)'), { mode: 0o755 });
    try {
      const k6 = run();
      expect(kindOf(k6.stdout)).toBe('kept');
      const o6 = both(rp, k6.stdout, k6.input);
      expect(o6.openclaw.version).toBe('2026.10.1');
      expect(rp.counts.reused).toBe(5);
    } finally {
      writeFileSync(node.daemon, daemon, { mode: 0o755 });
    }
    // another stdin: not the base's
    const other = run(expectations(desired, ['acme']));
    both(rp, other.stdout, other.input);
    expect(rp.counts.reused).toBe(5);
  });

  it('a change on the node: a full answer, then a kept one with another kept part (a new base)', () => {
    const rp = new Reparser();
    // (the last test's last answer was for another stdin: a full answer for this one first)
    run();
    settle();
    const k1 = run();
    expect(kindOf(k1.stdout)).toBe('kept');
    both(rp, k1.stdout, k1.input);
    both(rp, run().stdout, k1.input);
    expect(rp.counts.reused).toBe(1);
    writeToken(node, 'globex', 'token.next', 'tok_next_0123456789abcdef');
    // (a full answer in the second of a change is followed by full ones until that change is older: settle first)
    settle();
    const f = run();
    expect(kindOf(f.stdout)).toBe('full');
    both(rp, f.stdout, f.input);
    const k2 = run();
    expect(kindOf(k2.stdout)).toBe('kept');
    const o = both(rp, k2.stdout, k2.input);
    expect(o.tenants.globex!.tokens['token.next'].present).toBe(true);
    both(rp, run().stdout, k2.input);
    expect(rp.counts).toEqual({ full: 3, reused: 2 });
    rmSync(join(node.varDb, 'secrets', 'globex', 'token.next'));
  });
});

describe('reparse on crafted answers', () => {
  const rec = (...f: string[]): string => JSON.stringify(f);
  const doc = (...recs: string[]): string => `{"v":1,"records":[${recs.join(',')}]}\n`;
  const head = (now: number, version = 'OpenClaw 2026.9.6 (eb377ac)', extra: string[] = []): string[] => [rec('now', String(now)), rec('answer', 'kept', '100'), rec('daemon', '/d', 'ab'), rec('version', '0', version, '1'), rec('disk', '100', '200'), ...extra];
  const input = 'T\tacme\nT\tglobex\n';
  const middle = [
    rec('link', 'acme', 'current', '../releases/acme/r1'),
    rec('relok', 'acme', 'current', '1'),
    rec('release', 'acme', 'r1'),
    rec('release', 'acme', 'r0'),
    rec('file', 'acme', 'openclaw.json', 'cd'),
    rec('link', 'globex', 'current', '../releases/globex/r2'),
    rec('unexpected', '', 'a message with ["svc","x"] and \\ and "quotes" ]]'),
    rec('nodeunit', 'ai.openclaw.clawops.notifier', 'ef'),
    rec('token', 'acme', 'token.current', '600', '5', 'abcdef'),
    rec('run', 'acme', '{"pid":4242,"release_id":"r1"}'),
  ];
  const svc = (label: string, pid = '4242', last = '-'): string => rec('svc', label, pid, last);

  it('splits at the live head and the svc tail; a label with brackets and quotes in it', () => {
    const s = doc(...head(1), ...middle, svc('ai.openclaw.acme'), svc('ai.openclaw.x"],["svc"'));
    const sp = splitAnswer(s)!;
    expect(sp).toBeDefined();
    expect(s.slice(sp.mid, sp.midEnd)).toBe(middle.join(','));
    const rp = new Reparser();
    both(rp, s, input);
    both(rp, doc(...head(2), ...middle, svc('ai.openclaw.acme', '0', '78'), svc('ai.openclaw.clawops.notifier')), input);
    both(rp, doc(...head(3, 'OpenClaw 2026.10.1 (abc)'), ...middle), input);
    both(rp, doc(...head(4, 'x', [rec('launchd-list', '3')]), ...middle), input);
    expect(rp.counts).toEqual({ full: 1, reused: 3 });
    // another stdin, another kept part: in full
    both(rp, doc(...head(5), ...middle), 'T\tacme\n');
    both(rp, doc(...head(6), ...middle.slice(1)), 'T\tacme\n');
    expect(rp.counts).toEqual({ full: 3, reused: 3 });
  });

  it('an answer not laid out as a kept one is parsed in full (and makes no base)', () => {
    const rp = new Reparser();
    // a full answer's order: svc before node units, run records and tokens
    const full = doc(rec('now', '1'), rec('answer', 'full', '1'), rec('daemon', '/d', 'ab'), ...middle.slice(0, 6), svc('ai.openclaw.acme'), ...middle.slice(6));
    both(rp, full, input);
    both(rp, full, input);
    // a live record in the middle (a hand-edited cache): never a base
    const odd = doc(...head(1), middle[0]!, rec('version', '0', 'other', '0'), ...middle.slice(1), svc('ai.openclaw.acme'));
    both(rp, odd, input);
    both(rp, odd.replace('"now","1"', '"now","2"'), input);
    // no middle at all
    both(rp, doc(...head(1), svc('ai.openclaw.acme')), input);
    both(rp, doc(...head(1)), input);
    expect(rp.counts.reused).toBe(0);
  });

  it('a broken head or tail throws as parseObservation does, and the base is not used for it', () => {
    const rp = new Reparser();
    both(rp, doc(...head(1), ...middle, svc('ai.openclaw.acme')), input);
    const bad = [
      doc(...head(2), ...middle, '["svc","ai.openclaw.acme",4242,"-"]'),
      doc(...head(2), ...middle, svc('ai.openclaw.acme')).replace(']}\n', ']'),
      doc(...head(2), ...middle, svc('ai.openclaw.acme')).replace('"now","2"', '"now",2'),
      `{"v":2,"records":[${[...head(2), ...middle].join(',')}]}`,
    ];
    for (const s of bad) {
      expect(() => parseObservation('local-1', s, META, input)).toThrow();
      expect(() => rp.parse('local-1', s, META, input)).toThrow();
    }
    // a second `records` key (JSON.parse keeps the last): never read as head + middle + tail
    const twice = (n: number): string => `{"v":1,"records":[${[...head(n), ...middle].join(',')}],"records":[${[...head(n + 1), middle[0]!].join(',')}]}\n`;
    both(rp, twice(5), input);
    both(rp, twice(6), input);
    // a record kind the head does not know before the middle: the middle starts there (in full, then a base)
    both(rp, doc(...head(3), rec('newkind', 'x'), ...middle, svc('ai.openclaw.acme')), input);
    both(rp, doc(...head(4), rec('newkind', 'x'), ...middle, svc('ai.openclaw.acme')), input);
    expect(rp.counts.reused).toBe(1);
  });

  it('the observations it hands out are its own: slimming one in place changes neither the base nor the next', () => {
    const rp = new Reparser();
    const s = (n: number): string => doc(...head(n), ...middle, svc('ai.openclaw.acme'));
    both(rp, s(1), input);
    const o = both(rp, s(2), input);
    const t = o.tenants.acme!;
    t.files = {};
    t.launchd = { loaded: false, fields: {}, environment: {}, exitCode: 9 };
    o.errors.push('x');
    o.leftovers.push({ kind: 'want', name: 'x' });
    o.nodeUnits.x = { sha256: '' };
    both(rp, s(3), input);
    expect(rp.counts.reused).toBe(2);
  });
});
