/** The status model: pure tables from stored statuses to what every view shows (order, triage, gate, next steps). */
import { describe, expect, it } from 'vitest';
import { CONTROLLER_STATES, isWorse, MAX_PASS_HISTORY, recordPass, recordTokens, tokenState, type ControllerState, type NodeStatusRecord, type StatusDoc } from '../../reconciler/controller/status.js';
import { newPasses } from '../../reconciler/report/status-history.js';
import { buildStatusView, compareNodes, gateView, isStale, nextStep, passChanges, tokenSummary, triageOf, type ViewOptions } from '../../reconciler/report/status-model.js';
import { at, C1, C2, fleetStatus, GATE_MSG, NOW, rec, T0, tenant } from '../status/fixtures.js';

const opts = (over: Partial<ViewOptions> = {}): ViewOptions => ({ now: new Date(NOW), from: { kind: 'state-dir', where: '/var/db/clawops-controller' }, ...over });
const view = (doc: StatusDoc = fleetStatus(), over: Partial<ViewOptions> = {}) => buildStatusView(doc, opts(over));

describe('buildStatusView', () => {
  it('orders nodes worst first by the controller vocabulary, then triage order, then name', () => {
    const v = view();
    expect(v.nodes.map((n) => `${n.node}:${n.state}`)).toEqual(['gw-3:RolledBack', 'gw-4:Unreachable', 'gw-5:Blocked', 'gw-7:Degraded', 'gw-2:Gated', 'gw-6:Progressing', 'gw-1:Synced', 'gw-8:Synced']);
    for (let i = 1; i < v.nodes.length; i++) expect(isWorse(v.nodes[i]!.state, v.nodes[i - 1]!.state)).toBe(false);
  });

  it('groups the nodes that are not Synced in triage order: unreachable, drift, version skew, probe, token, rollout', () => {
    expect(view().triage.map((g) => [g.category, g.nodes])).toEqual([
      ['unreachable', ['gw-4']],
      ['drift', ['gw-6']],
      ['version-skew', ['gw-5']],
      ['probe', ['gw-3', 'gw-7']],
      ['rollout', ['gw-2']],
    ]);
  });

  it('counts every state (zeros included, in vocabulary order) and says what runs against what is wanted', () => {
    const v = view();
    expect(Object.keys(v.summary.counts)).toEqual([...CONTROLLER_STATES]);
    expect(v.summary).toMatchObject({ total: 8, worst: 'RolledBack', counts: { Synced: 2, Gated: 1, RolledBack: 1, Unreachable: 1, Failed: 0 } });
    expect(v.synced).toEqual(['gw-1', 'gw-8']);
    expect(v.ok).toBe(false);
    const gw2 = v.nodes.find((n) => n.node === 'gw-2')!;
    expect(gw2).toMatchObject({
      since: at(20),
      desired: { ref: 'refs/tags/release/1', commit: C1, tag: 'release/1' },
      running: { revisions: [{ commit: C1, tag: 'release/1' }], openclaw: '2026.9.6' },
      held: { commit: C2, tag: 'release/2' },
      tokens: null,
      next: `gated: waiting for canary gw-1 green 1/2 on ${C2.slice(0, 7)}`,
    });
  });

  it('is ok (exit 0) only when every node is Synced and healthy and the controller is fine', () => {
    const doc = fleetStatus();
    doc.nodes = { 'gw-1': rec('gw-1'), 'gw-8': rec('gw-8') };
    expect(view(doc)).toMatchObject({ ok: true, problems: [], stale: false });
    expect(view(doc, { now: new Date(at(60)) })).toMatchObject({ ok: false, stale: true, problems: [expect.stringMatching(/^status is 30 min old .*is the controller running\?$/)] });
    doc.source.reason = 'SourceUnavailable';
    doc.source.failures = 2;
    doc.source.lastError = { time: NOW, reason: 'SourceUnavailable', message: 'git fetch: could not resolve host' };
    expect(view(doc).problems).toEqual(['source git@git.example.internal:infra.git: fetch failing (2 in a row): git fetch: could not resolve host']);
    const noNodes = fleetStatus();
    noNodes.nodes = {};
    expect(view(noNodes)).toMatchObject({ ok: false, problems: ['no node status yet (has the controller finished a pass?)'] });
    const badPass = fleetStatus();
    badPass.nodes = { 'gw-1': rec('gw-1') };
    badPass.lastPass = { ...badPass.lastPass!, outcome: 'ValidationFailed', message: 'clawops.yaml@3f2a9c1: refs.fleet: not a ref' };
    expect(view(badPass)).toMatchObject({ ok: false, problems: ['last pass r20261128t123000-aaaaaa: ValidationFailed: clawops.yaml@3f2a9c1: refs.fleet: not a ref'] });
    const sick = fleetStatus();
    sick.nodes = { 'gw-1': rec('gw-1', { health: { status: 'degraded' } }) };
    expect(view(sick).ok).toBe(false);
  });

  it('--node keeps only the named nodes (counts included); the gate stays', () => {
    const v = view(fleetStatus(), { nodes: ['gw-2', 'gw-8'] });
    expect(v.nodes.map((n) => n.node)).toEqual(['gw-2', 'gw-8']);
    expect(v.summary.total).toBe(2);
    expect(v.gate?.commit).toBe(C2);
  });

  it('lists the passes of the store history newest first; a pass not recorded yet (in flight) leads', () => {
    // not recorded (a doc that never went through the store): the last pass, read off the records it wrote
    const v = view();
    expect(v.passes).toEqual([{ id: 'r20261128t123000-aaaaaa', startedAt: at(29.9), finishedAt: NOW, outcome: 'ok', durationMs: 4200, changes: [`gw-6: Progressing (applied ${C1.slice(0, 7)}: globex → r1-2222222222222; confirming on the next pass)`] }]);
    const d = fleetStatus();
    recordPass(d);
    d.lastPass = { id: 'p-running', startedAt: at(31), outcome: 'Running' };
    d.counters.lastSynced['gw-3'] = at(1);
    const h = view(d, { now: new Date(at(31.5)) });
    expect(h.passes.map((p) => [p.id, p.outcome])).toEqual([['p-running', 'Running'], ['r20261128t123000-aaaaaa', 'ok']]);
    expect(h.passes[0]!.changes).toBeNull();
    expect(h.passes[1]!.nodes?.map((n) => [n.node, n.apply])).toEqual([['gw-3', 'failed'], ['gw-6', 'repaired']]);
    expect(h.lastPass?.id).toBe('p-running');
    // last successful sync per node: the store's counters
    expect(h.nodes.find((n) => n.node === 'gw-3')?.lastSyncedAt).toBe(at(1));
    expect(h.nodes.find((n) => n.node === 'gw-8')?.lastSyncedAt).toBe(NOW);
  });

  it('a store with missing parts (hand-edited, an older build) still renders', () => {
    const doc = { schemaVersion: 1, controller: { pid: 1, startedAt: T0, mode: 'auto', repo: 'r', intervalSec: 60 }, passes: 0, state: 'Synced', nodes: { 'gw-1': { node: 'gw-1', role: 'gateway', canary: false, state: 'Gated', reason: 'Gated', lastTransition: T0 } }, commits: {} } as unknown as StatusDoc;
    const v = view(doc, { now: new Date(at(1)) });
    expect(v.nodes[0]).toMatchObject({ node: 'gw-1', state: 'Gated', tenants: [], running: { revisions: [] }, syncStatus: 'Unknown' });
    expect(v.source).toMatchObject({ origin: '', reason: 'SourceUnknown' });
  });
});

describe('triageOf', () => {
  it.each<[string, Partial<NodeStatusRecord>, string[]]>([
    ['Synced', {}, []],
    ['unreachable', { state: 'Unreachable', reason: 'Unreachable', sync: { status: 'Unreachable', running: [], differences: 0 } }, ['unreachable']],
    ['backing off', { state: 'Unreachable', reason: 'BackingOff' }, ['unreachable']],
    ['host key', { state: 'Failed', reason: 'HostKeyMismatch', sync: { status: 'HostKeyMismatch', running: [], differences: 0 } }, ['unreachable']],
    ['hand edit (observe mode)', { state: 'OutOfSync', reason: 'Drifted', sync: { status: 'Drifted', running: [], differences: 1 } }, ['drift']],
    ['not our own entry', { state: 'Blocked', reason: 'UnexpectedEntry' }, ['drift']],
    ['quarantined', { state: 'Blocked', reason: 'Quarantined' }, ['drift']],
    ['version skew', { state: 'Blocked', reason: 'VersionSkew', sync: { status: 'VersionSkew', running: [], differences: 1 } }, ['version-skew']],
    ['service down', { state: 'Degraded', reason: 'ServiceNotRunning', health: { status: 'failed' } }, ['probe']],
    ['rolled back', { state: 'RolledBack', reason: 'RolledBack' }, ['probe']],
    ['a missing secret', { state: 'Blocked', reason: 'SecretMissing' }, ['token']],
    ['drift and skew', { state: 'Blocked', reason: 'VersionSkew', sync: { status: 'Drifted', running: [], differences: 2 } }, ['drift', 'version-skew']],
    ['gated', { state: 'Gated', reason: 'Gated' }, ['rollout']],
    ['apply failed', { state: 'Failed', reason: 'ApplyFailed' }, ['rollout']],
    ['does not build', { state: 'Failed', reason: 'ValidationFailed' }, ['rollout']],
    ['locked', { state: 'Locked', reason: 'NodeLocked' }, ['rollout']],
    ['suspended', { state: 'Suspended', reason: 'Suspended' }, ['rollout']],
    ['a tenant drifted', { state: 'OutOfSync', reason: 'OutOfSync', tenants: { acme: tenant('acme', { state: 'OutOfSync', reason: 'Drifted', sync: { state: 'Drifted' } }) } }, ['drift']],
  ])('%s', (_n, over, want) => {
    expect(triageOf(rec('gw-1', over))).toEqual(want);
  });

  it('a token warning from a one-off observe puts the node under token overlap too', () => {
    expect(triageOf(rec('gw-1', { state: 'OutOfSync', reason: 'OutOfSync' }), [{ category: 'token', severity: 'warning', reason: 'TokenNotRotated', message: 'x' }])).toEqual(['token']);
    // an overlap being rotated (info) is not a problem
    expect(triageOf(rec('gw-1', { state: 'OutOfSync', reason: 'OutOfSync' }), [{ category: 'token', severity: 'info', reason: 'TokenOverlap', message: 'x' }])).toEqual(['rollout']);
  });
});

describe('compareNodes follows isWorse for every pair of states', () => {
  it('and breaks ties by triage order, then name', () => {
    for (const a of CONTROLLER_STATES) {
      for (const b of CONTROLLER_STATES) {
        const c = compareNodes({ state: a, triage: null, node: 'x' }, { state: b, triage: null, node: 'x' });
        expect(Math.sign(c)).toBe(isWorse(a, b) ? -1 : isWorse(b, a) ? 1 : 0);
      }
    }
    expect(compareNodes({ state: 'Blocked', triage: 'drift', node: 'z' }, { state: 'Blocked', triage: 'token', node: 'a' })).toBeLessThan(0);
    expect(compareNodes({ state: 'Gated', triage: 'rollout', node: 'a' }, { state: 'Gated', triage: 'rollout', node: 'b' })).toBeLessThan(0);
  });
});

describe('gateView: the canary gate of the newest fleet commit', () => {
  const s7 = C2.slice(0, 7);
  const withEvidence = (mut: (d: StatusDoc) => void): StatusDoc => {
    const d = fleetStatus();
    mut(d);
    return d;
  };
  it.each<[string, StatusDoc, object]>([
    ['pending: green 1 of 2', fleetStatus(), { verdict: 'pending', open: false, required: 2, summary: `waiting for canary gw-1 green 1/2 on ${s7}` }],
    [
      'pending: the canary does not run it',
      withEvidence((d) => (d.commits[C2]!.canaries['gw-1'] = { running: false, healthGate: 'not-run', greenPasses: 0, health: 'ok', note: `does not run ${s7}` })),
      { verdict: 'pending', summary: `waiting for canary gw-1 to run ${s7}` },
    ],
    ['unseen: no evidence yet', withEvidence((d) => delete d.commits[C2]), { verdict: 'unseen', summary: `waiting for canary gw-1 to run ${s7}`, canaries: [{ node: 'gw-1', running: false, note: 'no evidence yet' }] }],
    [
      'failed on a canary',
      withEvidence((d) => Object.assign(d.commits[C2]!, { verdict: 'failed', verdictAt: at(29), failure: { time: at(29), reason: 'RolledBack', message: 'gw-1: acme: not ready', node: 'gw-1' } })),
      { verdict: 'failed', open: false, summary: `${s7} failed on canary gw-1 (RolledBack): it never fans out; push a fix and tag it` },
    ],
    ['proven and fanned out', withEvidence((d) => { Object.assign(d.commits[C2]!, { verdict: 'proven', verdictAt: at(29) }); d.fleetCommit = { commit: C2, tag: 'release/2', since: at(29) }; }), { verdict: 'proven', open: true, fannedOut: true, summary: `release/2 (${s7}) proven on the canaries; fanned out` }],
    [
      'required unknown (no Gated node names it)',
      withEvidence((d) => (d.nodes['gw-2'] = rec('gw-2'))),
      { summary: `waiting for canary gw-1 green (1 so far) on ${s7}` },
    ],
    ['no canaries', withEvidence((d) => { d.commits[C2]!.canaries = {}; d.nodes['gw-1']!.canary = false; }), { summary: `no canary nodes: nothing can prove ${s7}` }],
  ])('%s', (_n, doc, want) => {
    expect(gateView(doc)).toMatchObject(want);
  });

  it('none without a fleet commit', () => {
    const d = fleetStatus();
    d.source.fleet = { spec: 'release/*', error: 'no ref matches refs/tags/release/*' };
    expect(gateView(d)).toBeUndefined();
  });
});

describe('nextStep', () => {
  const gate = gateView(fleetStatus());
  const ctx = { from: 'state-dir' as const, mode: 'auto' as const, gate };
  it.each<[ControllerState, Partial<NodeStatusRecord>, RegExp]>([
    ['Synced', {}, /^$/],
    ['Failed', { reason: 'HostKeyMismatch' }, /host key changed: verify gw-1's key out of band, then update host_key in nodes\.yaml/],
    ['Failed', { reason: 'ValidationFailed' }, /fix the repo: .*does not build \(clawops lint\)/],
    ['Failed', { reason: 'ApplyFailed', backoff: { kind: 'apply', failures: 2, until: at(31) } }, /apply failed \(ApplyFailed\): .*clawops diff --repo <infra repo> --node gw-1; the controller tries again after 2026-11-28 12:31:00Z/],
    ['RolledBack', { tenants: { acme: tenant('acme', { state: 'RolledBack' }) } }, /^acme is back on its previous release and the new one is quarantined: fix it and push a new commit/],
    ['Unreachable', { backoff: { kind: 'observe', failures: 1, until: at(31) } }, /^check ssh to gw-1 .*tries again after 2026-11-28 12:31:00Z$/],
    ['Blocked', { reason: 'VersionSkew' }, /^install openclaw as openclaw\.lock pins it on gw-1/],
    ['Blocked', { reason: 'UnexpectedEntry' }, /^fix by hand what clawops does not own on gw-1/],
    ['Blocked', { reason: 'SecretMissing' }, /^provision the secret files on gw-1/],
    ['Blocked', { reason: 'Quarantined' }, /--retry-quarantined --node gw-1/],
    ['Degraded', { tenants: { acme: tenant('acme', { health: { status: 'failed' } }) } }, /^check the service on gw-1: launchctl print system\/ai\.openclaw\.acme$/],
    ['Locked', {}, /lock; the controller tries again next pass/],
    ['Gated', { message: GATE_MSG }, new RegExp(`^gated: waiting for canary gw-1 green 1/2 on ${C2.slice(0, 7)}$`)],
    ['Gated', { message: 'no release yet: no ref matches refs/tags/release/*' }, /^tag a release to fan out \(no release yet: no ref matches refs\/tags\/release\/\*\)$/],
    ['Progressing', {}, /^applied; the next pass confirms it$/],
    ['Progressing', { reason: 'WaitingForGuard' }, /^nothing is applied to gw-1 while a dead run's dead-man guard is pending: it puts back .* within health\.confirm_sec; the pass after that applies$/],
    ['OutOfSync', { reason: 'Interrupted' }, /interrupted; the next one continues/],
    ['OutOfSync', { tenants: { old: tenant('old', { sync: { state: 'Unassigned' } }) } }, /never prunes; clawops apply --prune --node gw-1/],
    ['Suspended', {}, /^clawops controller resume --node gw-1/],
  ])('%s %j', (state, over, want) => {
    expect(nextStep(rec('gw-1', { state, reason: state, ...over }), ctx)).toMatch(want);
  });

  it('observe mode and a one-off observe say how to apply', () => {
    expect(nextStep(rec('gw-1', { state: 'OutOfSync', reason: 'Drifted' }), { ...ctx, mode: 'observe' })).toMatch(/^observe mode: clawops apply --node gw-1/);
    expect(nextStep(rec('gw-1', { state: 'OutOfSync', reason: 'Drifted' }), { ...ctx, from: 'observe' })).toBe('clawops apply --repo <infra repo> --node gw-1');
  });
});

describe('isStale', () => {
  it.each([
    ['just finished', NOW, false],
    ['within three intervals (min 5 min)', at(34.9), false],
    ['older', at(35.1), true],
  ])('%s', (_n, now, stale) => {
    expect(isStale(fleetStatus(), new Date(now))).toBe(stale);
  });
  it('a pass in flight gets an hour more', () => {
    const d = fleetStatus();
    d.lastPass = { id: 'x', startedAt: NOW, outcome: 'Running' };
    expect(isStale(d, new Date(at(90)))).toBe(false);
    expect(isStale(d, new Date(at(96)))).toBe(true);
  });
});

describe('passChanges and recordPass', () => {
  it('a pass is read off the records it wrote: transitions, fan-outs, verdicts', () => {
    const d = fleetStatus();
    d.fleetCommit = { commit: C2, tag: 'release/2', since: NOW };
    d.commits[C2]!.verdict = 'proven';
    d.commits[C2]!.verdictAt = NOW;
    const before = Object.fromEntries(Object.values(d.nodes).map((n) => [n.node, { state: n.node === 'gw-6' ? ('Synced' as const) : n.state }]));
    expect(passChanges(d, d.lastPass!, before)).toEqual([
      `gw-6: Synced → Progressing (applied ${C1.slice(0, 7)}: globex → r1-2222222222222; confirming on the next pass)`,
      `fanned out release/2 ${C2.slice(0, 7)} to the fleet`,
      `release/2 ${C2.slice(0, 7)} proven on the canaries`,
    ]);
  });

  it('recordPass: the history and counters are recorded once per pass, off the records it wrote', () => {
    const d = fleetStatus();
    d.counters.seen = {};
    expect(recordPass(d)).toBe(true);
    expect(recordPass(d)).toBe(false); // the same pass again (the loop writes the store at start too)
    expect(d.history.map((h) => h.id)).toEqual(['r20261128t123000-aaaaaa']);
    expect(d.counters.passes).toEqual({ ok: 1 });
    // the store had seen no node yet: gw-3's apply backoff (1) is new, so it counts as a failed apply
    // gw-6's plan found its tree drifted and the pass applied it: repaired
    expect(d.counters.applies).toEqual({ 'gw-3': { failed: 1 }, 'gw-6': { repaired: 1 } });

    // the next pass: gw-1 rolls back, gw-3's apply backoff grew, gw-6 drifted and is applied again (repaired),
    // the fetch failed, and gw-2 fans out
    const p2 = { id: 'p2', startedAt: at(31), finishedAt: at(31.2), outcome: 'ok', durationMs: 12_000 };
    d.lastPass = p2;
    d.passes++;
    for (const n of Object.values(d.nodes)) n.lastPass = 'p2';
    d.nodes['gw-1'] = { ...d.nodes['gw-1']!, state: 'RolledBack', reason: 'RolledBack', message: 'gw-1: acme: not ready; rolled back to r1, ready again after 1 s', lastTransition: at(31.1), lastError: { time: at(31.1), reason: 'RolledBack', message: 'gw-1: acme: not ready; rolled back to r1, ready again after 1 s' } };
    d.nodes['gw-3']!.backoff = { failures: 2, kind: 'apply', until: at(33) };
    d.nodes['gw-3']!.lastError = { time: at(31.1), reason: 'ApplyFailed', message: 'boom' };
    d.nodes['gw-2'] = { ...rec('gw-2'), lastPass: 'p2', lastTransition: at(31.1) };
    d.source = { ...d.source, reason: 'SourceUnavailable', failures: 1, lastError: { time: at(31), reason: 'SourceUnavailable', message: 'fetch failed' } };
    d.fleetCommit = { commit: C2, tag: 'release/2', since: at(31.1) };
    expect(recordPass(d)).toBe(true);
    const h = d.history[0]!;
    expect(h.nodes).toEqual([
      { node: 'gw-1', from: 'Synced', to: 'RolledBack', reason: 'RolledBack', message: 'gw-1: acme: not ready; rolled back to r1, ready again after 1 s', apply: 'rolled_back', rollback: 'ready' },
      { node: 'gw-2', from: 'Gated', to: 'Synced', reason: 'Synced', message: 'runs release/1' },
      { node: 'gw-3', to: 'RolledBack', reason: 'RolledBack', message: expect.stringMatching(/^gw-3: acme/), apply: 'failed' },
      { node: 'gw-6', to: 'Progressing', reason: 'Applied', message: expect.stringMatching(/^applied/), apply: 'repaired' },
    ]);
    expect(h.fannedOut).toEqual({ commit: C2, tag: 'release/2' });
    expect(d.counters).toMatchObject({
      passes: { ok: 2 },
      applies: { 'gw-1': { rolled_back: 1 }, 'gw-3': { failed: 2 }, 'gw-6': { repaired: 2 } },
      rollbacks: { 'gw-1': { ready: 1 } },
      fetchErrors: 1,
    });
    expect(d.counters.lastSynced).toMatchObject({ 'gw-2': at(31.2), 'gw-8': at(31.2) });
    expect(d.counters.lastSynced['gw-1']).toBe(NOW);

    // the view says it in lines: state moves, what apply did, the fan-out
    const v = view(d, { now: new Date(at(31.5)) });
    expect(v.passes[0]!.changes).toEqual([
      'gw-1: Synced → RolledBack (gw-1: acme: not ready; rolled back to r1, ready again after 1 s) · rolled back, previous release ready again',
      'gw-2: Gated → Synced (runs release/1)',
      expect.stringMatching(/^gw-3: RolledBack \(gw-3: acme: .*\) · apply failed$/),
      expect.stringMatching(/^gw-6: Progressing \(applied .*\) · repaired \(drift put back\)$/),
      `fanned out release/2 ${C2.slice(0, 7)} to the fleet`,
    ]);

    // bounded: the newest MAX_PASS_HISTORY passes; the counters go on
    for (let i = 3; i < 30; i++) {
      d.lastPass = { id: `p${i}`, startedAt: at(30 + i), finishedAt: at(30.1 + i), outcome: i % 2 ? 'ok' : 'SourceUnavailable', durationMs: 100 };
      recordPass(d);
    }
    expect(d.history).toHaveLength(MAX_PASS_HISTORY);
    expect(d.history[0]!.id).toBe('p29');
    expect(d.counters.passes).toEqual({ ok: 2 + 14, SourceUnavailable: 13 });
    // a pass in flight is not recorded
    d.lastPass = { id: 'p30', startedAt: at(61), outcome: 'Running' };
    expect(recordPass(d)).toBe(false);
  });

  it('newPasses: the histogram reader sees each recorded pass once; its first look is a baseline', () => {
    const d = fleetStatus();
    recordPass(d);
    const first = newPasses(undefined, d);
    expect(first.passes).toEqual([]);
    d.lastPass = { id: 'p2', startedAt: at(31), finishedAt: at(31.2), outcome: 'ok', durationMs: 1500 };
    recordPass(d);
    d.lastPass = { id: 'p3', startedAt: at(32), finishedAt: at(32.2), outcome: 'ok', durationMs: 2500 };
    recordPass(d);
    const second = newPasses(first.watch, d);
    expect(second.passes).toEqual([{ id: 'p2', seconds: 1.5 }, { id: 'p3', seconds: 2.5 }]);
    expect(newPasses(second.watch, d).passes).toEqual([]);
  });
});

describe('token overlap', () => {
  const meta = (present: boolean, fingerprint?: string, mode = '600') => (present ? { present, mode, mtime: Date.parse(T0) / 1000, ...(fingerprint ? { fingerprint } : {}) } : { present: false });
  it('tokenState keeps presence, mode and mtime, never the fingerprint; says whether a rotation is in progress', () => {
    expect(tokenState({ 'token.current': meta(true, 'aaaaaaaaaaaa'), 'token.next': meta(false) })).toEqual({ overlap: 'single', current: { present: true, mode: '600', mtime: T0 }, next: { present: false } });
    const o = tokenState({ 'token.current': meta(true, 'aaaaaaaaaaaa'), 'token.next': meta(true, 'bbbbbbbbbbbb', '644') });
    expect(o.overlap).toBe('overlap');
    expect(JSON.stringify(o)).not.toMatch(/aaaa|bbbb|fingerprint/);
    expect(tokenSummary(o)).toBe('rotation in progress: token.next (2026-11-28 12:00Z) staged beside token.current (2026-11-28 12:00Z); token.next has mode 644');
    expect(tokenState({ 'token.current': meta(true, 'aaaaaaaaaaaa'), 'token.next': meta(true, 'aaaaaaaaaaaa') }).overlap).toBe('not-rotated');
    expect(tokenState({ 'token.current': meta(false), 'token.next': meta(true, 'b') }).overlap).toBe('next-only');
    expect(tokenState({ 'token.current': meta(false), 'token.next': meta(false) }).overlap).toBe('none');
  });

  it('recordTokens puts each observed tenant token state on its record; the model shows it per tenant', () => {
    const r = rec('gw-1', { tenants: { acme: tenant('acme'), globex: tenant('globex') } });
    const tokens = { 'token.current': meta(true, 'aaaaaaaaaaaa'), 'token.next': meta(true, 'bbbbbbbbbbbb') };
    const observation = { tenants: { acme: { tokens } } } as unknown as Extract<Parameters<typeof recordTokens>[1], { ok: true }>['observation'];
    recordTokens(r, { node: 'gw-1', ok: true, observation });
    expect(r.tenants['acme']!.tokens?.overlap).toBe('overlap');
    expect(r.tenants['globex']!.tokens).toBeUndefined();
    recordTokens(r, { node: 'gw-1', ok: false, reason: 'Unreachable', message: 'down' });
    expect(r.tenants['acme']!.tokens?.overlap).toBe('overlap');
    const d = fleetStatus();
    d.nodes['gw-1'] = r;
    const n = view(d).nodes.find((x) => x.node === 'gw-1')!;
    expect(n.tenants.find((t) => t.tenant === 'acme')?.token).toMatchObject({ overlap: 'overlap', summary: expect.stringMatching(/^rotation in progress/) });
  });
});

describe('gateView: fixture replay evidence', () => {
  const s7 = C2.slice(0, 7);
  const delivery = (outcome: 'matched' | 'mismatch', got: number) => ({ tenant: 'acme', fixture: 'acme-push.json', endpoint: 'github', expected: 200, got, outcome });
  it('pending replay is what the gate waits for once the canaries are green', () => {
    const d = fleetStatus();
    d.commits[C2]!.canaries['gw-1']!.greenPasses = 2;
    d.commits[C2]!.replay = 'pending';
    d.commits[C2]!.replayDetail = { fixtures: ['acme-push.json'], required: ['acme-push.json'], canaries: {}, message: 'waiting for fixture replay on gw-1' };
    expect(gateView(d)).toMatchObject({ verdict: 'pending', summary: 'waiting for fixture replay on gw-1', replay: { status: 'pending', required: 1, canaries: [] } });
  });
  it('the bar is the one recorded on the commit: green enough and only the replay missing, the gate waits for the replay alone', () => {
    const d = fleetStatus();
    // no Gated node says "for n of m passes" any more (they say the replay is missing): the evidence carries the bar
    for (const n of Object.values(d.nodes)) if (n.state === 'Gated') n.message = `release/2 gated: waiting for fixture replay on gw-1`;
    Object.assign(d.commits[C2]!, { greenRequired: 2, replay: 'pending', replayDetail: { fixtures: ['acme-push.json'], required: ['acme-push.json'], canaries: {}, message: 'waiting for fixture replay on gw-1 (try 1 of 3; replay will be retried next pass)' } });
    d.commits[C2]!.canaries['gw-1']!.greenPasses = 2;
    expect(gateView(d)).toMatchObject({ required: 2, summary: 'waiting for fixture replay on gw-1 (try 1 of 3; replay will be retried next pass)' });
    d.commits[C2]!.greenRequired = 3;
    expect(gateView(d)).toMatchObject({ required: 3, summary: `waiting for canary gw-1 green 2/3 on ${s7}; waiting for fixture replay on gw-1 (try 1 of 3; replay will be retried next pass)` });
  });
  it('a failed replay names the fixture; a passed one lists what each canary replayed', () => {
    const d = fleetStatus();
    Object.assign(d.commits[C2]!, {
      verdict: 'failed',
      replay: 'failed',
      failure: { time: NOW, reason: 'ReplayFailed', message: 'replay of acme-push.json on gw-1 answered 500, recorded 200', node: 'gw-1' },
      replayDetail: { fixtures: ['acme-push.json'], required: ['acme-push.json'], canaries: { 'gw-1': { run: 'r', pass: 'p', at: NOW, tenants: ['acme'], ok: false, deliveries: [delivery('mismatch', 500)] } } },
    });
    expect(gateView(d)).toMatchObject({
      summary: `${s7} failed its fixture replay (replay of acme-push.json on gw-1 answered 500, recorded 200): it never fans out; push a fix and tag it`,
      replay: { status: 'failed', canaries: [{ node: 'gw-1', ok: false, deliveries: 1, mismatched: 1 }] },
    });
    const p = fleetStatus();
    Object.assign(p.commits[C2]!, { verdict: 'proven', replay: 'passed', replayDetail: { fixtures: ['a'], required: ['a'], canaries: { 'gw-1': { run: 'r', pass: 'p', at: NOW, tenants: ['acme'], ok: true, deliveries: [delivery('matched', 200)] } } } });
    expect(gateView(p)?.replay).toEqual({ status: 'passed', required: 1, canaries: [{ node: 'gw-1', ok: true, at: NOW, deliveries: 1, mismatched: 0 }] });
  });
});
