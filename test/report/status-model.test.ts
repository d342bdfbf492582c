/** The status model: pure tables from stored statuses to what every view shows (order, triage, gate, next steps). */
import { describe, expect, it } from 'vitest';
import { CONTROLLER_STATES, isWorse, type ControllerState, type NodeStatusRecord, type StatusDoc } from '../../reconciler/controller/status.js';
import { trackStatus } from '../../reconciler/report/status-history.js';
import { buildStatusView, compareNodes, gateView, isStale, nextStep, passChanges, triageOf, type ViewOptions } from '../../reconciler/report/status-model.js';
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

  it('lists the last pass from the store (with what it changed), or the passes a reader kept', () => {
    const v = view();
    expect(v.passes).toEqual([{ id: 'r20261128t123000-aaaaaa', startedAt: at(29.9), finishedAt: NOW, outcome: 'ok', durationMs: 4200, changes: [`gw-6: Progressing (applied ${C1.slice(0, 7)}: globex → r1-2222222222222; confirming on the next pass)`] }]);
    const history = { passes: [{ id: 'b', startedAt: T0, outcome: 'ok', changes: [] }, { id: 'a', startedAt: T0, outcome: 'ok', changes: null }], lastSynced: { 'gw-3': at(1) } };
    const h = view(fleetStatus(), { history });
    expect(h.passes.map((p) => p.id)).toEqual(['b', 'a']);
    expect(h.nodes.find((n) => n.node === 'gw-3')?.lastSyncedAt).toBe(at(1));
    expect(h.nodes.find((n) => n.node === 'gw-1')?.lastSyncedAt).toBe(NOW);
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

describe('passChanges and trackStatus', () => {
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

  it('counts passes, applies, rollbacks and fetch errors from successive statuses; the first look is a baseline', () => {
    const d0 = fleetStatus();
    const first = trackStatus(undefined, d0);
    expect(first.events).toEqual([]);
    expect(first.history.passes.map((p) => p.id)).toEqual(['r20261128t123000-aaaaaa']);

    // the next pass: gw-1 rolls back, gw-6 applied again, a fetch failed, gw-3's apply backoff grew
    const d1 = fleetStatus();
    d1.passes = 33; // one pass finished unseen in between
    d1.lastPass = { id: 'p2', startedAt: at(31), finishedAt: at(31.2), outcome: 'ok', durationMs: 12_000 };
    for (const n of Object.values(d1.nodes)) n.lastPass = 'p2';
    d1.nodes['gw-1'] = { ...d1.nodes['gw-1']!, state: 'RolledBack', reason: 'RolledBack', message: 'gw-1: acme: not ready; rolled back to r1, ready again after 1 s', lastTransition: at(31.1), lastError: { time: at(31.1), reason: 'RolledBack', message: 'gw-1: acme: not ready; rolled back to r1, ready again after 1 s' } };
    d1.nodes['gw-3']!.backoff = { failures: 2, kind: 'apply', until: at(33) };
    d1.nodes['gw-3']!.lastError = { time: at(31.1), reason: 'ApplyFailed', message: 'boom' };
    d1.source = { ...d1.source, reason: 'SourceUnavailable', failures: 1, lastError: { time: at(31), reason: 'SourceUnavailable', message: 'fetch failed' } };
    const second = trackStatus(first.history, d1);
    expect(second.events).toEqual([
      { kind: 'fetch-error', count: 1 },
      { kind: 'pass', result: 'unobserved' },
      { kind: 'pass', result: 'ok', seconds: 12 },
      { kind: 'apply', node: 'gw-1', result: 'rolled_back' },
      { kind: 'rollback', node: 'gw-1', result: 'ready' },
      { kind: 'apply', node: 'gw-3', result: 'failed' },
      { kind: 'apply', node: 'gw-6', result: 'applied' },
    ]);
    expect(second.history.passes.map((p) => p.id)).toEqual(['p2', 'r20261128t123000-aaaaaa']);
    expect(second.history.passes[0]!.changes).toEqual(['gw-1: Synced → RolledBack (gw-1: acme: not ready; rolled back to r1, ready again after 1 s)']);
    expect(second.history.lastSynced).toMatchObject({ 'gw-8': at(31.2) });
    expect(second.history.lastSynced['gw-1']).toBe(NOW);

    // the same status again: nothing new
    expect(trackStatus(second.history, d1).events).toEqual([]);
    // a pass in flight is not a pass yet
    const running = structuredClone(d1);
    running.lastPass = { id: 'p3', startedAt: at(32), outcome: 'Running' };
    expect(trackStatus(second.history, running).events).toEqual([]);
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
