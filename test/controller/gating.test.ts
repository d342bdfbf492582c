/** Refs and gating as plain table tests: ref resolution, ref changes, canary evidence, the fleet gate, backoff. */
import { describe, expect, it } from 'vitest';
import {
  backoffDelayMs,
  fleetGate,
  fleetTarget,
  inBackoff,
  jitter,
  nextBackoff,
  recordCanaryPass,
  refChanges,
  resolveRef,
  type CanaryPassFacts,
  type RefInfo,
} from '../../reconciler/controller/gating.js';
import { CONTROLLER_DEFAULTS, controllerSettings, type GatingSettings } from '../../reconciler/controller/settings.js';
import { CONTROLLER_STATES, isWorse, worstState, type CommitEvidence } from '../../reconciler/controller/status.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const REFS: RefInfo[] = [
  { name: 'refs/heads/main', commit: C, date: 300 },
  { name: 'refs/heads/release/hotfix', commit: B, date: 250 },
  { name: 'refs/tags/release/2026-10', commit: A, date: 100 },
  { name: 'refs/tags/release/2026-11', commit: B, date: 200 },
  { name: 'refs/tags/release/old-but-late', commit: A, date: 150 },
  { name: 'refs/tags/v1', commit: A, date: 999 },
  { name: 'refs/tags/main', commit: A, date: 1 },
];

describe('resolveRef', () => {
  it.each([
    ['refs/heads/main', { ref: 'refs/heads/main', commit: C }],
    ['main', { ref: 'refs/heads/main', commit: C }], // a branch wins over a tag of the same name
    ['refs/tags/main', { ref: 'refs/tags/main', commit: A, tag: 'main' }],
    ['release/*', { ref: 'refs/tags/release/2026-11', commit: B, tag: 'release/2026-11' }], // newest by tag date, not by name
    ['refs/tags/release/*', { ref: 'refs/tags/release/2026-11', commit: B, tag: 'release/2026-11' }],
    ['refs/heads/release/*', { ref: 'refs/heads/release/hotfix', commit: B }],
    ['v1', { ref: 'refs/tags/v1', commit: A, tag: 'v1' }],
    ['release/hotfix', { ref: 'refs/heads/release/hotfix', commit: B }],
    ['nope', { error: 'no such ref: nope' }],
    ['canary/*', { error: 'no ref matches refs/tags/canary/*' }],
  ])('%s', (spec, want) => {
    expect(resolveRef(spec, REFS)).toEqual(want);
  });

  it('ties on date go to the greater name', () => {
    const refs: RefInfo[] = [
      { name: 'refs/tags/release/a', commit: A, date: 5 },
      { name: 'refs/tags/release/b', commit: B, date: 5 },
    ];
    expect(resolveRef('release/*', refs)).toMatchObject({ ref: 'refs/tags/release/b' });
  });
});

describe('refChanges', () => {
  const before = new Map([
    ['refs/heads/main', A],
    ['refs/heads/feature', A],
    ['refs/tags/release/1', A],
    ['refs/tags/gone', A],
  ]);
  const after = new Map([
    ['refs/heads/main', B], // fast-forward
    ['refs/heads/feature', C], // rewritten
    ['refs/tags/release/1', B], // moved
    ['refs/tags/release/2', C],
  ]);
  it('names fast-forwards, force-pushes, moved tags, new and deleted refs', () => {
    const ff = (a: string, b: string): boolean => a === A && b === B;
    expect(refChanges(before, after, ff)).toEqual([
      { kind: 'forced', ref: 'refs/heads/feature', from: A, to: C },
      { kind: 'advanced', ref: 'refs/heads/main', from: A, to: B },
      { kind: 'deleted', ref: 'refs/tags/gone', commit: A },
      { kind: 'moved', ref: 'refs/tags/release/1', from: A, to: B },
      { kind: 'created', ref: 'refs/tags/release/2', commit: C },
    ]);
    expect(refChanges(before, before, ff)).toEqual([]);
  });
});

const G: GatingSettings = { green_passes: 2, allow_degraded: false, require_replay: false };
const at = (i: number): { id: string; now: string } => ({ id: `p${i}`, now: `2026-11-28T12:0${i}:00.000Z` });
const runs = (node: string, health: CanaryPassFacts['health'] = 'ok'): CanaryPassFacts => ({ node, observed: true, runsAtObserve: true, health });
const applied = (node: string, extra: Partial<NonNullable<CanaryPassFacts['apply']>> = {}): CanaryPassFacts => ({
  node,
  observed: true,
  runsAtObserve: false,
  health: 'unknown',
  apply: { outcome: 'applied', rolledBack: false, gated: true, ...extra },
});

/** Feed passes in order; the evidence after each. */
function passes(steps: CanaryPassFacts[][], g: GatingSettings = G, start?: CommitEvidence): CommitEvidence[] {
  let ev = start;
  return steps.map((facts, i) => (ev = recordCanaryPass(ev, { commit: A, tag: 'release/1' }, facts, g, at(i))));
}

describe('recordCanaryPass and fleetGate', () => {
  it.each<[string, CanaryPassFacts[][], GatingSettings, { verdict: string; gate: boolean; reason: RegExp }]>([
    ['applied, then green twice: proven on the third pass', [[applied('gw-1')], [runs('gw-1')], [runs('gw-1')]], G, { verdict: 'proven', gate: true, reason: /proven/ }],
    ['applied, then green once', [[applied('gw-1')], [runs('gw-1')]], G, { verdict: 'pending', gate: false, reason: /^canary gw-1 has been green on aaaaaaa for 1 of 2 passes$/ }],
    ['the applying pass does not count', [[applied('gw-1')]], G, { verdict: 'pending', gate: false, reason: /for 0 of 2 passes \(applied aaaaaaa this pass/ }],
    ['a non-green pass resets the count', [[runs('gw-1')], [runs('gw-1', 'failed')], [runs('gw-1')]], G, { verdict: 'pending', gate: false, reason: /for 1 of 2 passes/ }],
    ['degraded does not count by default', [[runs('gw-1', 'degraded')], [runs('gw-1', 'degraded')]], G, { verdict: 'pending', gate: false, reason: /0 of 2 passes \(health degraded \(gating.allow_degraded is false\)\)/ }],
    ['degraded counts with allow_degraded', [[runs('gw-1', 'degraded')], [runs('gw-1', 'degraded')]], { ...G, allow_degraded: true }, { verdict: 'proven', gate: true, reason: /proven/ }],
    ['an unobserved pass breaks the chain', [[runs('gw-1')], [{ node: 'gw-1', observed: false, runsAtObserve: false, health: 'unknown' }], [runs('gw-1')]], G, { verdict: 'pending', gate: false, reason: /1 of 2/ }],
    ['every canary must be green', [[runs('gw-1'), runs('gw-3')], [runs('gw-1'), { node: 'gw-3', observed: true, runsAtObserve: false, health: 'ok' }]], G, { verdict: 'pending', gate: false, reason: /^canary gw-3 does not run aaaaaaa$/ }],
    ['green_passes 1', [[runs('gw-1')]], { ...G, green_passes: 1 }, { verdict: 'proven', gate: true, reason: /proven/ }],
    ['require_replay without evidence', [[runs('gw-1')], [runs('gw-1')]], { ...G, require_replay: true }, { verdict: 'pending', gate: false, reason: /fixture replay for aaaaaaa is not passed yet/ }],
    ['a rollback fails the commit', [[runs('gw-1')], [applied('gw-1', { outcome: 'failed', rolledBack: true, reason: 'RolledBack', message: 'acme: not ready within 60 s' })]], G, { verdict: 'failed', gate: false, reason: /failed on canary gw-1 \(RolledBack\): it never fans out/ }],
    ['an invalid config fails the commit', [[applied('gw-1', { outcome: 'failed', reason: 'InvalidConfig', message: 'openclaw config validate refused' })]], G, { verdict: 'failed', gate: false, reason: /failed on canary gw-1 \(InvalidConfig\)/ }],
    ['a locked node is retried, not failed', [[applied('gw-1', { outcome: 'refused', reason: 'NodeLocked', message: 'locked by alice' })]], G, { verdict: 'pending', gate: false, reason: /does not run aaaaaaa \(apply refused \(NodeLocked\): locked by alice\)/ }],
  ])('%s', (_name, steps, g, want) => {
    const evs = passes(steps, g);
    const last = evs[evs.length - 1]!;
    expect(last.verdict).toBe(want.verdict);
    const canaries = [...new Set(steps.flat().map((f) => f.node))];
    const gate = fleetGate(last, canaries, g);
    expect(gate.open).toBe(want.gate);
    expect(gate.reason).toMatch(want.reason);
  });

  it('failed is sticky: later green passes and a tag change nothing; proven is sticky too', () => {
    const failed = passes([[applied('gw-1', { outcome: 'failed', rolledBack: true, reason: 'RolledBack' })], [runs('gw-1')], [runs('gw-1')], [runs('gw-1')]]);
    expect(failed.map((e) => e.verdict)).toEqual(['failed', 'failed', 'failed', 'failed']);
    expect(failed[3]!.failure).toMatchObject({ reason: 'RolledBack', node: 'gw-1', time: at(0).now });
    const proven = passes([[runs('gw-1')], [runs('gw-1')], [runs('gw-1', 'failed')], [{ node: 'gw-1', observed: false, runsAtObserve: false, health: 'unknown' }]]);
    expect(proven.map((e) => e.verdict)).toEqual(['pending', 'proven', 'proven', 'proven']);
    expect(proven[3]!.verdictAt).toBe(at(1).now);
  });

  it('a rollback condemns even a proven commit', () => {
    const evs = passes([[runs('gw-1')], [runs('gw-1')], [applied('gw-1', { outcome: 'failed', rolledBack: true, reason: 'RolledBack' })]]);
    expect(evs.map((e) => e.verdict)).toEqual(['pending', 'proven', 'failed']);
  });

  it('replay evidence opens the gate when required', () => {
    const [, ev] = passes([[runs('gw-1')], [runs('gw-1')]], { ...G, require_replay: true });
    expect(fleetGate({ ...ev!, replay: 'passed' }, ['gw-1'], { ...G, require_replay: true }).open).toBe(true);
    expect(fleetGate({ ...ev!, replay: 'failed' }, ['gw-1'], { ...G, require_replay: true }).reason).toBe('fixture replay for aaaaaaa is failed');
  });

  it('no evidence, no canaries', () => {
    expect(fleetGate(undefined, ['gw-1'], G, B)).toEqual({ open: false, reason: 'canary gw-1 does not run bbbbbbb' });
    expect(fleetGate(undefined, [], G, B)).toEqual({ open: false, reason: 'no canary nodes in nodes.yaml: nothing can prove bbbbbbb' });
  });
});

describe('fleetTarget', () => {
  const open = { open: true, reason: 'ok' };
  const shut = { open: false, reason: 'canary gw-1 has been green on bbbbbbb for 1 of 2 passes' };
  it.each([
    ['an open gate promotes the head', open, { commit: A, tag: 'release/1' }, { commit: B, tag: 'release/2', promote: true }],
    ['a shut gate holds the nodes at the last promoted commit', shut, { commit: A, tag: 'release/1' }, { commit: A, tag: 'release/1', gated: shut.reason, promote: false }],
    ['a shut gate with nothing promoted before: no target', shut, undefined, { gated: shut.reason, promote: false }],
    ['the last promoted commit is the head itself (moved back after a failure)', shut, { commit: B }, { gated: shut.reason, promote: false }],
  ])('%s', (_n, gate, last, want) => {
    expect(fleetTarget({ commit: B, tag: 'release/2' }, gate, last, () => false)).toEqual(want);
  });
  it('never holds nodes at a failed commit', () => {
    expect(fleetTarget({ commit: B }, shut, { commit: A }, (c) => c === A)).toEqual({ gated: shut.reason, promote: false });
  });
});

describe('backoff and jitter', () => {
  it('doubles from 30 s to a 30 min cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(backoffDelayMs)).toEqual([30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_800_000, 1_800_000, 1_800_000]);
    const now = new Date('2026-11-28T12:00:00Z');
    const b1 = nextBackoff(undefined, 'apply', now);
    expect(b1).toEqual({ failures: 1, kind: 'apply', until: '2026-11-28T12:00:30.000Z' });
    const b2 = nextBackoff(b1, 'apply', new Date('2026-11-28T12:00:30Z'));
    expect(b2.until).toBe('2026-11-28T12:01:30.000Z');
    expect(inBackoff(b2, new Date('2026-11-28T12:01:29Z'))).toBe(true);
    expect(inBackoff(b2, new Date('2026-11-28T12:01:30Z'))).toBe(false);
    expect(inBackoff(undefined, now)).toBe(false);
  });
  it('jitters ±10 %', () => {
    expect([0, 0.5, 0.999999].map((r) => jitter(60_000, r))).toEqual([54_000, 60_000, 66_000]);
  });
});

describe('controller settings from clawops.yaml', () => {
  it.each<[string, string | undefined, unknown]>([
    ['no file', undefined, CONTROLLER_DEFAULTS],
    ['no keys', 'apiVersion: clawops/v1\n', CONTROLLER_DEFAULTS],
    ['refs and gating', 'refs:\n  canary: refs/heads/next\n  fleet: stable\ngating:\n  green_passes: 3\n  allow_degraded: true\n', { refs: { canary: 'refs/heads/next', fleet: 'stable' }, gating: { green_passes: 3, allow_degraded: true, require_replay: false } }],
  ])('%s', (_n, text, want) => {
    expect(controllerSettings(text)).toEqual(want);
  });
  it.each([
    ['gating:\n  green_passes: 0\n', 'clawops.yaml: gating.green_passes: must be a whole number from 1 to 100'],
    ['gating:\n  allow_degraded: yes please\n', 'clawops.yaml: gating.allow_degraded: must be true or false'],
    ['refs:\n  fleet: "--upload-pack=x"\n', 'clawops.yaml: refs.fleet: must be a ref name (refs/heads/main, main, release/*)'],
    ['refs: [main]\n', 'clawops.yaml: refs: must be a mapping'],
    ['refs: {\n', /^clawops\.yaml: not valid YAML/],
  ])('refuses %j', (text, msg) => {
    expect(() => controllerSettings(text)).toThrow(msg);
  });
});

describe('the state vocabulary', () => {
  it('is ordered worst first, and folds many into one', () => {
    expect(CONTROLLER_STATES).toEqual(['Failed', 'RolledBack', 'Unreachable', 'Blocked', 'Degraded', 'Locked', 'Gated', 'Progressing', 'OutOfSync', 'Suspended', 'Synced']);
    expect(isWorse('Failed', 'Synced')).toBe(true);
    expect(isWorse('Gated', 'Locked')).toBe(false);
    expect(isWorse('Synced', 'Synced')).toBe(false);
    expect(worstState(['Synced', 'Gated', 'Suspended', 'Locked'])).toBe('Locked');
    expect(worstState([])).toBe('Synced');
  });
});
