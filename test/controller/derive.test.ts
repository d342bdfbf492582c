/** The one-word state of a node (and its tenants) from a pass's facts, as a table. */
import { describe, expect, it } from 'vitest';
import type { NodeApplyResult } from '../../reconciler/apply/apply-node.js';
import { deriveNode, runsCommit, tenantHealth, type NodeFacts } from '../../reconciler/controller/derive.js';
import type { DesiredState } from '../../reconciler/desired/types.js';
import type { ObserveResult } from '../../reconciler/observe/types.js';
import { plan } from '../../reconciler/plan/plan.js';
import { deployedTenant, exampleDesired, nodeObservation, ok, tenantOf } from '../plan/fixtures.js';

const NOW = '2026-11-28T12:00:00.000Z';
const d = exampleDesired();
const gw1 = d.nodes.find((n) => n.name === 'gw-1')!;
const target = { ref: 'refs/heads/main', commit: 'c'.repeat(40) };

function facts(observed: ObserveResult | undefined, extra: Partial<NodeFacts> = {}, desired: DesiredState = d): NodeFacts {
  const p = observed ? plan(desired, [observed], [gw1], { revision: target.commit }).nodes[0] : undefined;
  return { node: 'gw-1', role: 'gateway', canary: true, follows: 'canary', target, ...(observed ? { observed } : {}), ...(p ? { plan: p } : {}), desired, suspended: false, mode: 'auto', ...extra };
}
const inSync = (): ObserveResult => ok(nodeObservation(d, 'gw-1', gw1.tenants));
const drifted = (): ObserveResult => {
  const o = nodeObservation(d, 'gw-1', gw1.tenants);
  const t = o.tenants.acme!;
  t.files = { ...t.files, 'gateway.d/10-base.yaml': 'f'.repeat(64) };
  return ok(o);
};
const applyResult = (over: Partial<NodeApplyResult>): NodeApplyResult => ({
  node: 'gw-1', outcome: 'applied', swapped: [], staged: [], reused: [], reusedFiles: 0, pruned: [], removed: [], refusedTenants: [], recovered: [], reloads: [], rolledBack: [], bytesSent: 0, commands: 0, ...over,
});

describe('deriveNode', () => {
  it.each<[string, () => NodeFacts, { state: string; reason: string; message?: RegExp }]>([
    ['in sync', () => facts(inSync()), { state: 'Synced', reason: 'Synced' }],
    ['unreachable', () => facts({ node: 'gw-1', ok: false, reason: 'Unreachable', message: 'gw-1: connect refused' }), { state: 'Unreachable', reason: 'Unreachable', message: /connect refused/ }],
    ['host key mismatch is a failure, not a blip', () => facts({ node: 'gw-1', ok: false, reason: 'HostKeyMismatch', message: 'gw-1: host key mismatch' }), { state: 'Failed', reason: 'HostKeyMismatch' }],
    ['backing off after failed connections', () => facts(undefined, { backoff: { failures: 2, kind: 'observe', until: '2026-11-28T12:01:00.000Z' } }), { state: 'Unreachable', reason: 'BackingOff', message: /next attempt after 2026-11-28T12:01:00/ }],
    ['drift in observe mode', () => facts(drifted(), { mode: 'observe' }), { state: 'OutOfSync', reason: 'Drifted', message: /acme: gateway\.d\/10-base\.yaml hand-edited on the node.*\(observe mode: not applied\)/ }],
    ['gated wins over out of sync', () => facts(drifted(), { mode: 'observe', gated: 'release/2 gated: canary gw-1 has been green on ccccccc for 1 of 2 passes' }), { state: 'Gated', reason: 'Gated', message: /1 of 2 passes/ }],
    ['applied this pass', () => facts(drifted(), { apply: applyResult({ swapped: [{ tenant: 'acme', from: 'a', to: 'b' }] }) }), { state: 'Progressing', reason: 'Applied', message: /acme → b; confirming on the next pass/ }],
    ['locked by a person', () => facts(drifted(), { apply: applyResult({ outcome: 'refused', step: 'lock', reason: 'NodeLocked', message: 'gw-1: locked by alice@laptop (pid 4242 on laptop, run by-hand, for 3 s, expires in 897 s)' }) }), { state: 'Locked', reason: 'NodeLocked', message: /alice@laptop/ }],
    ['rolled back', () => facts(drifted(), { apply: applyResult({ outcome: 'failed', step: 'health', reason: 'RolledBack', message: 'gw-1: acme: not ready', rolledBack: [{ tenant: 'acme', release: 'b', to: 'a', reason: 'acme: not ready' }] }) }), { state: 'RolledBack', reason: 'RolledBack' }],
    ['apply failed', () => facts(drifted(), { apply: applyResult({ outcome: 'failed', step: 'validate', reason: 'InvalidConfig', message: 'gw-1/acme: openclaw config validate refused' }) }), { state: 'Failed', reason: 'InvalidConfig' }],
    ['version skew', () => facts(ok(nodeObservation(d, 'gw-1', gw1.tenants, { openclaw: { found: true, exitCode: 0, raw: 'OpenClaw 2026.8.1 (0badc0d)', version: '2026.8.1', commit: '0badc0d', cached: true } }))), { state: 'Blocked', reason: 'VersionSkew', message: /2026\.8\.1/ }],
    ['suspended with differences', () => facts(drifted(), { suspended: true }), { state: 'Suspended', reason: 'Suspended' }],
    ['suspended but unreachable', () => facts({ node: 'gw-1', ok: false, reason: 'Unreachable', message: 'down' }, { suspended: true }), { state: 'Unreachable', reason: 'Unreachable' }],
    ['waiting for a dead run\'s dead-man guard', () => facts(drifted(), { waiting: { reason: 'WaitingForGuard', message: 'waiting for the dead-man guard of run r1 (acme) to put back what its run swapped and never confirmed; applying after it' } }), { state: 'Progressing', reason: 'WaitingForGuard', message: /dead-man guard of run r1/ }],
    ['the desired state does not build', () => facts(undefined, { targetError: { reason: 'ValidationFailed', message: 'commit ccccccc: 2 error(s)' } }), { state: 'Failed', reason: 'ValidationFailed' }],
  ])('%s', (_n, f, want) => {
    const r = deriveNode(f(), NOW);
    expect({ state: r.state, reason: r.reason }).toEqual({ state: want.state, reason: want.reason });
    if (want.message) expect(r.message).toMatch(want.message);
  });

  it('a service that is not running makes the node Degraded (health and sync kept apart)', () => {
    const withUnits: DesiredState = { ...d, tenants: new Map([...d.tenants].map(([k, t]) => [k, { ...t, files: [...t.files, { path: 'launchd/ai.openclaw.x.plist', content: Buffer.from(''), sha256: '0'.repeat(64) }] }])) };
    const o = nodeObservation(withUnits, 'gw-1', gw1.tenants);
    o.tenants.acme = deployedTenant(tenantOf(withUnits, 'acme'), { launchd: { loaded: true, state: 'exited', lastExitCode: '1', fields: {}, environment: {}, exitCode: 0 } });
    const r = deriveNode(facts(ok(o), {}, withUnits), NOW);
    expect(r).toMatchObject({ state: 'Degraded', reason: 'ServiceNotRunning', health: { status: 'failed' }, sync: { status: 'InSync' } });
    expect(r.tenants.acme).toMatchObject({ state: 'Degraded', health: { status: 'failed', message: 'ai.openclaw.acme is exited (last exit 1)' }, sync: { state: 'InSync', commit: 'c0ffee' } });
    expect(r.tenants.globex).toMatchObject({ state: 'Synced', health: { status: 'ok' } });
    expect(tenantHealth(tenantOf(d, 'acme'), undefined)).toEqual({ status: 'unknown', message: 'not deployed' });
  });

  it('health is the worst of launchd and the readiness answer the health stage got on the node', () => {
    const withUnits: DesiredState = { ...d, tenants: new Map([...d.tenants].map(([k, t]) => [k, { ...t, files: [...t.files, { path: 'launchd/ai.openclaw.x.plist', content: Buffer.from(''), sha256: '0'.repeat(64) }] }])) };
    const o = nodeObservation(withUnits, 'gw-1', gw1.tenants);
    const running = { loaded: true, state: 'running', pid: 42, fields: {}, environment: {}, exitCode: 0 };
    for (const t of gw1.tenants) o.tenants[t] = deployedTenant(tenantOf(withUnits, t), { launchd: running });
    const at = NOW;
    const probe = (status: 'ok' | 'degraded' | 'fail' | 'unreachable' | 'unknown') => ({ source: 'probe' as const, status, code: status === 'ok' || status === 'degraded' ? 200 : status === 'fail' ? 503 : 0, checks: status === 'degraded' ? ['doctor:yellow'] : [], ...(status === 'unreachable' ? { error: 'connection refused' } : status === 'unknown' ? { error: 'health command exited 3' } : {}), at });
    const with_ = (acme: Parameters<typeof probe>[0]) => deriveNode(facts(ok(o), { health: { probes: { acme: probe(acme), globex: probe('ok') } } }, withUnits), NOW);

    expect(with_('ok')).toMatchObject({ state: 'Synced', health: { status: 'ok' }, tenants: { acme: { health: { status: 'ok', service: 'running', pid: 42 }, probe: { status: 'ok' } } } });
    const deg = with_('degraded');
    expect(deg).toMatchObject({ state: 'Degraded', reason: 'ProbeDegraded', health: { status: 'degraded', message: 'acme: probe degraded (HTTP 200): doctor:yellow' } });
    expect(deg.tenants.acme).toMatchObject({ state: 'Degraded', reason: 'ProbeDegraded', health: { status: 'degraded', service: 'running' }, probe: { status: 'degraded', checks: ['doctor:yellow'] } });
    expect(with_('fail')).toMatchObject({ state: 'Degraded', reason: 'ProbeFailed', health: { status: 'failed' } });
    // no answer on a running service: failed (the route the load balancer asks does not answer)
    expect(with_('unreachable')).toMatchObject({ state: 'Degraded', reason: 'ProbeUnreachable', health: { status: 'failed', message: 'acme: probe unreachable: connection refused' } });
    // the stage could not ask: unknown (no green pass), and the node is not Degraded for it
    expect(with_('unknown')).toMatchObject({ state: 'Synced', health: { status: 'unknown', message: 'acme: probe unknown: health command exited 3' }, tenants: { acme: { health: { status: 'unknown' } } } });
    // not asked this pass (applied, unreachable…): launchd's word stands, the last answer is still shown
    const later = deriveNode(facts(ok(o), {}, withUnits), NOW, deg);
    expect(later).toMatchObject({ state: 'Synced', health: { status: 'ok' }, tenants: { acme: { probe: { status: 'degraded' } } } });
  });

  it('a notifier node keeps its digest; a failed read keeps the last rows beside the error', () => {
    const row = { tenant: 'acme', endpoint: 'https://h.example.com', family: '5xx', count: 3, statuses: { '503': 3 }, firstSeen: NOW, lastSeen: NOW };
    const first = deriveNode(facts(inSync(), { health: { probes: {}, digest: { ok: true, at: NOW, windowSec: 300, total: 3, dropped: 0, overflow: 0, keys: 1, rows: [row] } } }), NOW);
    expect(first.webhookDigest).toEqual({ at: NOW, windowSec: 300, total: 3, dropped: 0, overflow: 0, keys: 1, rows: [row] });
    const failed = deriveNode(facts(inSync(), { health: { probes: {}, digest: { ok: false, at: '2026-11-28T12:01:00.000Z', error: 'the notifier did not answer: connection refused' } } }), NOW, first);
    expect(failed.webhookDigest).toMatchObject({ at: NOW, error: 'the notifier did not answer: connection refused', errorAt: '2026-11-28T12:01:00.000Z', rows: [row] });
    expect(deriveNode(facts(inSync()), NOW).webhookDigest).toBeUndefined();
  });

  it('keeps the transition time while the state holds, and the last error after recovery', () => {
    const failed = deriveNode(facts(drifted(), { apply: applyResult({ outcome: 'failed', reason: 'StageFailed', message: 'gw-1: disk full' }) }), NOW);
    expect(failed).toMatchObject({ state: 'Failed', lastTransition: NOW, lastError: { reason: 'StageFailed', message: 'gw-1: disk full', time: NOW } });
    const later = '2026-11-28T12:05:00.000Z';
    const again = deriveNode(facts(drifted(), { apply: applyResult({ outcome: 'failed', reason: 'StageFailed', message: 'gw-1: disk full' }) }), later, failed);
    expect(again.lastTransition).toBe(NOW);
    const fixed = deriveNode(facts(inSync()), later, again);
    expect(fixed).toMatchObject({ state: 'Synced', lastTransition: later, lastError: { reason: 'StageFailed', time: later } });
  });

  it('runsCommit: every tenant of the commit current on an observed node', () => {
    const p = (o: ObserveResult) => plan(d, [o], [gw1]).nodes[0];
    expect(runsCommit(p(inSync()), inSync())).toBe(true);
    expect(runsCommit(p(drifted()), drifted())).toBe(false);
    expect(runsCommit(undefined, inSync())).toBe(false);
  });
});
