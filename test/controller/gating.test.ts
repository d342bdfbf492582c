/** Refs and gating as plain table tests: ref resolution, ref changes, canary evidence, the fleet gate, backoff. */
import { describe, expect, it } from 'vitest';
import {
  backoffDelayMs,
  clearReplayTries,
  countReplayTry,
  fleetGate,
  fleetTarget,
  inBackoff,
  jitter,
  judgeReplay,
  needsReplay,
  nextBackoff,
  recordCanaryPass,
  recordReplay,
  refChanges,
  replayFailures,
  replayTries,
  REPLAY_TRIES,
  resolveRef,
  type CanaryPassFacts,
  type RefInfo,
} from '../../reconciler/controller/gating.js';
import { CONTROLLER_DEFAULTS, controllerSettings, type GatingSettings } from '../../reconciler/controller/settings.js';
import { CONTROLLER_STATES, isWorse, worstState, type CanaryReplay, type CommitEvidence, type ReplayDelivery, type ReplayDetail } from '../../reconciler/controller/status.js';

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
    ['require_replay without evidence', [[runs('gw-1')], [runs('gw-1')]], { ...G, require_replay: true }, { verdict: 'pending', gate: false, reason: /^waiting for fixture replay on gw-1$/ }],
    ['a rollback fails the commit', [[runs('gw-1')], [applied('gw-1', { outcome: 'failed', rolledBack: true, reason: 'RolledBack', message: 'acme: not ready within 60 s' })]], G, { verdict: 'failed', gate: false, reason: /failed on canary gw-1 \(RolledBack\): it never fans out/ }],
    ['an invalid config fails the commit', [[applied('gw-1', { outcome: 'failed', reason: 'InvalidConfig', message: 'openclaw config validate refused' })]], G, { verdict: 'failed', gate: false, reason: /failed on canary gw-1 \(InvalidConfig\)/ }],
    ['a dead run\'s pending guard: what runs does not count', [[runs('gw-1')], [{ ...runs('gw-1'), hold: 'waiting for the dead-man guard of run r1 (acme)' }]], G, { verdict: 'pending', gate: false, reason: /^canary gw-1 does not run aaaaaaa \(waiting for the dead-man guard of run r1 \(acme\)\)$/ }],
    ['a locked node is retried, not failed', [[applied('gw-1', { outcome: 'refused', reason: 'NodeLocked', message: 'locked by alice' })]], G, { verdict: 'pending', gate: false, reason: /does not run aaaaaaa \(apply refused \(NodeLocked\): locked by alice\)/ }],
  ])('%s', (_name, steps, g, want) => {
    const evs = passes(steps, g);
    const last = evs[evs.length - 1]!;
    expect(last.verdict).toBe(want.verdict);
    const canaries = [...new Set(steps.flat().map((f) => f.node))];
    const gate = fleetGate(last, canaries, g);
    expect(gate.open).toBe(want.gate);
    expect(gate.reason).toMatch(want.reason);
    // the bar the commit is judged against is on its evidence (status views read it from there)
    expect(last.greenRequired).toBe(g.green_passes);
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
    expect(fleetGate({ ...ev!, replay: 'pending' }, ['gw-1'], { ...G, require_replay: true }).reason).toBe('waiting for fixture replay on gw-1');
    expect(fleetGate({ ...ev!, replay: 'pending' }, ['gw-1'], G).open).toBe(true);
  });

  it('no evidence, no canaries', () => {
    expect(fleetGate(undefined, ['gw-1'], G, B)).toEqual({ open: false, reason: 'canary gw-1 does not run bbbbbbb' });
    expect(fleetGate(undefined, [], G, B)).toEqual({ open: false, reason: 'no canary nodes in nodes.yaml: nothing can prove bbbbbbb' });
  });
});

describe('fixture replay evidence', () => {
  const R: GatingSettings = { ...G, require_replay: true };
  const ACME = 'acme-crm-agent-completed.json';
  const GLOBEX = 'globex-tickets-agent-failed.json';
  const dl = (fixture: string | null, expected: number | null, got: ReplayDelivery['got'], extra: Partial<ReplayDelivery> = {}): ReplayDelivery => ({
    tenant: fixture?.split('-')[0] ?? 'acme',
    fixture,
    endpoint: 'crm',
    expected,
    got,
    outcome: got === expected ? 'matched' : 'mismatch',
    ...extra,
  });
  const rec = (deliveries: ReplayDelivery[], tenants = ['acme', 'globex']): CanaryReplay => ({ run: 'r1', pass: 'p1', at: at(1).now, tenants, ok: deliveries.every((x) => x.outcome === 'matched'), deliveries });
  const detail = (canaries: Record<string, CanaryReplay>, required = [ACME, GLOBEX]): ReplayDetail => ({ fixtures: [ACME, GLOBEX], required, canaries });
  /** the canary ran the commit (health gate passed) and was green twice: only replay is missing */
  const green2 = (): CommitEvidence => passes([[applied('gw-1')], [runs('gw-1')], [runs('gw-1')]], R).at(-1)!;

  it('names every delivery that disproves the commit, and leaves out what only says the node is behind', () => {
    expect(replayFailures('gw-1', [
      dl(ACME, 200, 500),
      dl(GLOBEX, 503, 503),
      dl('a.json', 200, 'timeout'),
      dl('b.json', 200, 'network', { message: 'Failed to connect to hooks.example port 443' }),
      dl('c.json', 200, null, { outcome: 'error', message: 'fixtures/webhooks/c.json is a symlink' }),
      dl(null, null, null, { outcome: 'error', message: 'no current release: apply the tenant first' }),
      dl('d.json', null, null, { outcome: 'error', message: "the node's release x has no endpoint crm with this fixture: apply the repo first" }),
      dl('e.json', 200, null, { outcome: 'skipped', message: 'endpoint disabled' }),
    ])).toEqual([
      `replay of ${ACME} on gw-1 answered 500, recorded 200`,
      'replay of a.json on gw-1 timed out, recorded 200',
      'replay of b.json on gw-1 got no answer (Failed to connect to hooks.example port 443), recorded 200',
      'replay of c.json on gw-1 failed: fixtures/webhooks/c.json is a symlink',
    ]);
  });

  it.each<[string, ReplayDetail, string[], { replay: string; message?: RegExp | string }]>([
    ['not replayed yet', detail({}), ['gw-1'], { replay: 'pending', message: /^waiting for fixture replay on gw-1$/ }],
    ['one canary of two', detail({ 'gw-1': rec([dl(ACME, 200, 200), dl(GLOBEX, 503, 503)]) }), ['gw-1', 'gw-3'], { replay: 'pending', message: /^waiting for fixture replay on gw-3$/ }],
    ['last try failed to run', { ...detail({}), lastError: { time: at(1).now, reason: 'ReplayFailedToRun', message: 'gw-1: connection lost', node: 'gw-1' } }, ['gw-1'], { replay: 'pending', message: /^waiting for fixture replay on gw-1 \(last try: gw-1: connection lost\)$/ }],
    ['all matched', detail({ 'gw-1': rec([dl(ACME, 200, 200), dl(GLOBEX, 503, 503)]) }), ['gw-1'], { replay: 'passed' }],
    ['matched across two canaries', detail({ 'gw-1': rec([dl(ACME, 200, 200)], ['acme']), 'gw-3': rec([dl(GLOBEX, 503, 503)], ['globex']) }), ['gw-1', 'gw-3'], { replay: 'passed' }],
    ['a required fixture no canary replays', detail({ 'gw-1': rec([dl(ACME, 200, 200)], ['acme']) }), ['gw-1'], { replay: 'pending', message: `fixture replay: ${GLOBEX} was replayed from no canary (no canary runs a tenant whose enabled endpoint names it; gating.require_replay: false turns replay off)` }],
    ['a mismatch fails it', detail({ 'gw-1': rec([dl(ACME, 200, 500), dl(GLOBEX, 503, 503)]) }), ['gw-1', 'gw-3'], { replay: 'failed', message: new RegExp(`^replay of ${ACME} on gw-1 answered 500, recorded 200$`) }],
  ])('%s', (_n, det, canaries, want) => {
    const j = judgeReplay(det, canaries);
    expect(j.replay).toBe(want.replay);
    if (typeof want.message === 'string') expect(j.message).toBe(want.message);
    else if (want.message) expect(j.message).toMatch(want.message);
    else expect(j.message).toBeUndefined();
  });

  it('once per commit and canary: after the canary runs it with its health gate not failed; again only when its tenants change', () => {
    const ev = green2();
    expect(needsReplay(ev, 'gw-1', ['acme', 'globex'], R)).toBe(true);
    expect(needsReplay(ev, 'gw-1', ['acme', 'globex'], G)).toBe(false);
    expect(needsReplay(ev, 'gw-3', ['acme'], R)).toBe(false);
    const done = recordReplay(ev, detail({ 'gw-1': rec([dl(ACME, 200, 200)], ['globex', 'acme']) }, [ACME]), ['gw-1'], R, at(4).now);
    expect(needsReplay({ ...done, verdict: 'pending' }, 'gw-1', ['acme', 'globex'], R)).toBe(false);
    expect(needsReplay({ ...done, verdict: 'pending' }, 'gw-1', ['acme', 'globex', 'initech'], R)).toBe(true);
    const rolledBack = passes([[applied('gw-1', { outcome: 'failed', rolledBack: true, reason: 'RolledBack' })]], R)[0]!;
    expect(needsReplay(rolledBack, 'gw-1', ['acme'], R)).toBe(false);
    const notYet = passes([[{ node: 'gw-1', observed: true, runsAtObserve: false, health: 'ok' }]], R)[0]!;
    expect(needsReplay(notYet, 'gw-1', ['acme'], R)).toBe(false);
  });

  it('a passed replay proves a commit that has its green passes; until then the gate names what is missing', () => {
    const ev = green2();
    expect(ev.verdict).toBe('pending');
    expect(fleetGate(ev, ['gw-1'], R)).toEqual({ open: false, reason: 'waiting for fixture replay on gw-1' });
    const ok = recordReplay(ev, detail({ 'gw-1': rec([dl(ACME, 200, 200), dl(GLOBEX, 503, 503)]) }), ['gw-1'], R, at(4).now);
    expect(ok).toMatchObject({ verdict: 'proven', verdictAt: at(4).now, replay: 'passed' });
    expect(ok.replayDetail?.message).toBeUndefined();
    expect(fleetGate(ok, ['gw-1'], R).open).toBe(true);
    // replayed on the applying pass: still waits for the green passes
    const early = recordReplay(passes([[applied('gw-1')]], R)[0]!, detail({ 'gw-1': rec([dl(ACME, 200, 200), dl(GLOBEX, 503, 503)]) }), ['gw-1'], R, at(1).now);
    expect(early).toMatchObject({ verdict: 'pending', replay: 'passed' });
    expect(fleetGate(early, ['gw-1'], R).reason).toMatch(/^canary gw-1 has been green on aaaaaaa for 0 of 2 passes/);
  });

  it('a failed replay fails the commit for good, naming the fixture; later passes change nothing', () => {
    const bad = recordReplay(green2(), detail({ 'gw-1': rec([dl(ACME, 200, 500), dl(GLOBEX, 503, 503)]) }), ['gw-1'], R, at(4).now);
    expect(bad).toMatchObject({ verdict: 'failed', replay: 'failed', failure: { reason: 'ReplayFailed', node: 'gw-1', message: `replay of ${ACME} on gw-1 answered 500, recorded 200` } });
    expect(fleetGate(bad, ['gw-1'], R)).toEqual({ open: false, reason: `replay of ${ACME} on gw-1 answered 500, recorded 200: commit aaaaaaa never fans out; push a new commit` });
    expect(recordCanaryPass(bad, { commit: A }, [runs('gw-1')], R, at(5)).verdict).toBe('failed');
    expect(needsReplay(bad, 'gw-1', ['acme', 'globex'], R)).toBe(false);
  });
});

describe('fixture replay that does not complete (transient) is retried, and final after REPLAY_TRIES in a row', () => {
  const R: GatingSettings = { ...G, require_replay: true };
  const ACME = 'acme-crm-agent-completed.json';
  const noAnswer = `replay of ${ACME} on gw-1 got no answer (Empty reply from server), recorded 200`;
  const base: ReplayDetail = { fixtures: [ACME], required: [ACME], canaries: {} };
  const green2 = (): CommitEvidence =>
    [[{ node: 'gw-1', observed: true, runsAtObserve: false, health: 'ok', apply: { outcome: 'applied', rolledBack: false, gated: true } }], [{ node: 'gw-1', observed: true, runsAtObserve: true, health: 'ok' }], [{ node: 'gw-1', observed: true, runsAtObserve: true, health: 'ok' }]].reduce<CommitEvidence | undefined>(
      (ev, f, i) => recordCanaryPass(ev, { commit: A }, f as CanaryPassFacts[], R, { id: `p${i}`, now: `2026-11-28T12:0${i}:00Z` }),
      undefined,
    )!;

  it('each try is counted per canary; the gate says the replay will be retried; the last allowed try fails the commit naming the fixture', () => {
    expect(REPLAY_TRIES).toBe(3);
    let d: ReplayDetail = base;
    let ev = green2();
    for (let i = 1; i <= REPLAY_TRIES; i++) {
      const c = countReplayTry(d, 'gw-1', { time: `2026-11-28T13:0${i}:00Z`, reason: 'ReplayInconclusive', message: noAnswer });
      expect(c).toMatchObject({ tries: i, final: i === REPLAY_TRIES });
      d = c.detail;
      ev = recordReplay(ev, d, ['gw-1'], R, `2026-11-28T13:0${i}:00Z`);
      if (i < REPLAY_TRIES) {
        expect(ev).toMatchObject({ verdict: 'pending', replay: 'pending' });
        expect(fleetGate(ev, ['gw-1'], R)).toEqual({ open: false, reason: `waiting for fixture replay on gw-1 (try ${i} of 3 on gw-1 did not complete: ${noAnswer}; replay will be retried next pass)` });
        // the canary is due again next pass
        expect(needsReplay(ev, 'gw-1', ['acme'], R)).toBe(true);
      }
    }
    const why = `${noAnswer} (no conclusive replay on gw-1 in 3 tries)`;
    expect(ev).toMatchObject({ verdict: 'failed', replay: 'failed', failure: { reason: 'ReplayFailed', node: 'gw-1', message: why } });
    expect(replayTries(ev.replayDetail)['gw-1']).toMatchObject({ tries: 3, first: '2026-11-28T13:01:00Z', last: { reason: 'ReplayInconclusive' } });
    expect(fleetGate(ev, ['gw-1'], R).reason).toBe(`${why}: commit aaaaaaa never fans out; push a new commit`);
    expect(needsReplay(ev, 'gw-1', ['acme'], R)).toBe(false);
  });

  it('a conclusive replay clears the count: a later transient run starts again at 1; other canaries keep their own', () => {
    let d: ReplayDetail = base;
    d = countReplayTry(d, 'gw-1', { time: 't1', reason: 'ReplayFailedToRun', message: 'replay on gw-1 could not run: connection lost' }).detail;
    d = countReplayTry(d, 'gw-3', { time: 't1', reason: 'ReplayFailedToRun', message: 'replay on gw-3 could not run: connection lost' }).detail;
    d = countReplayTry(d, 'gw-1', { time: 't2', reason: 'ReplayInconclusive', message: noAnswer }).detail;
    expect(replayTries(d)).toMatchObject({ 'gw-1': { tries: 2, first: 't1' }, 'gw-3': { tries: 1 } });
    const j = judgeReplay(d, ['gw-1', 'gw-3']);
    expect(j).toEqual({
      replay: 'pending',
      message: `waiting for fixture replay on gw-1, gw-3 (try 2 of 3 on gw-1 did not complete: ${noAnswer}; try 1 of 3 on gw-3 did not complete: replay on gw-3 could not run: connection lost; replay will be retried next pass)`,
    });
    d = clearReplayTries(d, 'gw-1');
    expect(replayTries(d)).toEqual({ 'gw-3': { tries: 1, first: 't1', last: { time: 't1', reason: 'ReplayFailedToRun', message: 'replay on gw-3 could not run: connection lost' } } });
    expect(countReplayTry(d, 'gw-1', { time: 't3', reason: 'ReplayInconclusive', message: noAnswer }).tries).toBe(1);
    expect(replayTries(clearReplayTries(d, 'gw-3'))).toEqual({});
    // a record that matched wins over an old count (the count is only read for canaries without a record)
    const rec: CanaryReplay = { run: 'r', pass: 'p', at: 't', tenants: ['acme'], ok: true, deliveries: [{ tenant: 'acme', fixture: ACME, endpoint: 'crm', expected: 200, got: 200, outcome: 'matched' }] };
    expect(judgeReplay({ ...d, canaries: { 'gw-3': rec, 'gw-1': rec } }, ['gw-1', 'gw-3'])).toEqual({ replay: 'passed' });
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
    // the clock jumped back a day: a backoff set before it does not hold the node for the day
    expect(inBackoff(b2, new Date('2026-11-27T12:01:00Z'))).toBe(false);
    expect(inBackoff({ failures: 9, kind: 'apply', until: '2026-11-28T12:30:00.000Z' }, now)).toBe(true);
  });
  it('jitters ±10 %', () => {
    expect([0, 0.5, 0.999999].map((r) => jitter(60_000, r))).toEqual([54_000, 60_000, 66_000]);
  });
});

describe('controller settings from clawops.yaml', () => {
  it.each<[string, string | undefined, unknown]>([
    ['no file', undefined, CONTROLLER_DEFAULTS],
    ['no keys', 'apiVersion: clawops/v1\n', CONTROLLER_DEFAULTS],
    ['refs and gating', 'refs:\n  canary: refs/heads/next\n  fleet: stable\ngating:\n  green_passes: 3\n  allow_degraded: true\n', { refs: { canary: 'refs/heads/next', fleet: 'stable' }, gating: { green_passes: 3, allow_degraded: true } }],
    ['replay turned off', 'gating:\n  require_replay: false\n', { refs: CONTROLLER_DEFAULTS.refs, gating: { green_passes: 2, allow_degraded: false, require_replay: false } }],
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
