/**
 * Pure: one node's status record from what a pass knows about it — the observation (sync and health facts), the
 * plan against the commit it follows, what apply did, and what held it back (gating, suspension, backoff). The
 * one-word state is the worst of every state that applies (status.ts orders them).
 */
import type { NodeApplyResult } from '../apply/apply-node.js';
import type { DesiredState, TenantDesired } from '../desired/types.js';
import type { ObserveResult, TenantObservation } from '../observe/types.js';
import type { NodePlan } from '../plan/types.js';
import { isManifest } from '../release-manifest.js';
import type { DigestRead, HealthFacts } from './health-facts.js';
import { isWorse, worstState, type Backoff, type ControllerState, type ErrorRecord, type HealthStatus, type NodeStatusRecord, type ProbeSummary, type TenantHealth, type TenantStatus, type WebhookDigestSummary } from './status.js';

export interface NodeFacts {
  node: string;
  role: string;
  canary: boolean;
  follows: 'canary' | 'fleet';
  target?: { ref: string; commit: string; tag?: string };
  /** the commit the node should follow cannot be used (its desired state does not build, no ref resolved…) */
  targetError?: { reason: string; message: string };
  observed?: ObserveResult;
  plan?: NodePlan;
  desired?: DesiredState;
  apply?: NodeApplyResult;
  gated?: string;
  /** not applied this pass for a reason that resolves by itself (a dead run's dead-man guard still pending) */
  waiting?: { reason: string; message: string };
  suspended: boolean;
  /** a step not attempted because the node is backing off after failures */
  backoff?: Backoff;
  /** the last error recorded for the node (kept across passes) */
  lastError?: ErrorRecord;
  mode: 'auto' | 'observe';
  /** what the health stage got on the node this pass: readiness answers per tenant, the notifier's digest */
  health?: HealthFacts;
}

const HEALTH_ORDER: readonly HealthStatus[] = ['failed', 'degraded', 'unknown', 'ok'];
export function worstHealth(hs: Iterable<HealthStatus>): HealthStatus {
  let w: HealthStatus = 'ok';
  for (const h of hs) if (HEALTH_ORDER.indexOf(h) < HEALTH_ORDER.indexOf(w)) w = h;
  return w;
}

export function hasUnits(d: TenantDesired | undefined): boolean {
  return (d?.files ?? []).some((f) => f.path.startsWith('launchd/'));
}

/**
 * Health from what observe sees: a tenant whose release declares launchd units is ok when its service runs the
 * current release, degraded when it runs an older one (not reloaded), failed when it is not running. A tenant without
 * units has nothing clawops supervises: ok once deployed.
 */
export function tenantHealth(d: TenantDesired | undefined, t: TenantObservation | undefined): TenantHealth {
  if (!t?.current) return { status: 'unknown', message: 'not deployed' };
  if (!hasUnits(d)) return { status: 'ok', message: 'no launchd units in the release' };
  const l = t.launchd;
  const base = { ...(l.state ? { service: l.state } : {}), ...(l.pid !== undefined ? { pid: l.pid } : {}) };
  if (!l.loaded) return { status: 'failed', service: 'not loaded', message: `ai.openclaw.${t.tenant} is not loaded` };
  if (l.state !== 'running') return { ...base, status: 'failed', message: `ai.openclaw.${t.tenant} is ${l.state ?? 'not running'} (last exit ${l.lastExitCode ?? '?'})` };
  if (t.run && t.current.releaseId && t.run.pid === l.pid && t.run.releaseId !== t.current.releaseId) {
    return { ...base, status: 'degraded', message: `runs release ${t.run.releaseId}, not ${t.current.releaseId}` };
  }
  return { ...base, status: 'ok' };
}

/**
 * A readiness answer as health: ok → ok, degraded → degraded, fail → failed, unknown (the health stage could not ask)
 * → unknown. `unreachable` (no HTTP answer: connection refused, timeout) → failed: the route the load balancer and
 * apply's health gate ask does not answer, so the tenant is not serving, whatever launchd says (specs/controller.md
 * "Health").
 */
export function probeHealth(p: ProbeSummary): TenantHealth {
  const what = p.source === 'probe' ? 'probe' : 'readyz';
  const detail = p.error ?? (p.checks.length > 0 ? p.checks.join(', ') : undefined);
  // the same line as the status views' probeLine: `probe degraded (HTTP 200): doctor:yellow`
  const msg = `${what} ${p.status}${p.code > 0 ? ` (HTTP ${p.code})` : ''}${detail ? `: ${detail}` : ''}`;
  switch (p.status) {
    case 'ok':
      return { status: 'ok' };
    case 'degraded':
      return { status: 'degraded', message: msg };
    case 'fail':
    case 'unreachable':
      return { status: 'failed', message: msg };
    case 'unknown':
      return { status: 'unknown', message: msg };
  }
}

/** Health = the worst of launchd's (tenantHealth) and the readiness answer's; the messages of the bad ones, joined. */
export function combineHealth(launchd: TenantHealth, probe: ProbeSummary | undefined): TenantHealth {
  if (!probe) return launchd;
  const p = probeHealth(probe);
  const status = worstHealth([launchd.status, p.status]);
  const msgs = [launchd.status !== 'ok' ? launchd.message : undefined, p.status !== 'ok' ? p.message : undefined].filter((m): m is string => m !== undefined);
  const { message: _m, status: _s, ...rest } = launchd;
  return { ...rest, status, ...(msgs.length > 0 ? { message: msgs.join('; ') } : {}) };
}

/** The digest the store keeps: this pass's read, or on a failed read the last good rows with the error beside them. */
export function digestRecord(read: DigestRead | undefined, prev: WebhookDigestSummary | undefined): WebhookDigestSummary | undefined {
  if (!read) return prev;
  if (read.ok) {
    const { ok: _ok, ...rest } = read;
    return rest;
  }
  return { ...(prev ?? { total: 0, dropped: 0, overflow: 0, keys: 0, rows: [] }), error: read.error, errorAt: read.at };
}

interface Candidate {
  state: ControllerState;
  reason: string;
  message?: string;
}

function worst(cands: Candidate[]): Candidate {
  return cands.reduce((w, c) => (isWorse(c.state, w.state) ? c : w), { state: 'Synced', reason: 'Synced' } as Candidate);
}

function holder(plan: NodePlan | undefined): string | undefined {
  return plan?.issues.find((i) => i.reason === 'Locked')?.message;
}

export function deriveNode(f: NodeFacts, now: string, prev?: NodeStatusRecord): NodeStatusRecord {
  const obs = f.observed?.ok ? f.observed.observation : undefined;
  const cands: Candidate[] = [];
  const a = f.apply;
  const errors: ErrorRecord[] = [];

  if (f.observed && !f.observed.ok) {
    const r = f.observed;
    cands.push({ state: r.reason === 'HostKeyMismatch' ? 'Failed' : 'Unreachable', reason: r.reason, message: r.message });
    errors.push({ time: now, reason: r.reason, message: r.message });
  } else if (!f.observed && f.backoff?.kind === 'observe') {
    cands.push({ state: 'Unreachable', reason: 'BackingOff', message: `${prev?.lastError?.message ?? 'unreachable'}; next attempt after ${f.backoff.until}` });
  }
  if (f.targetError) {
    cands.push({ state: 'Failed', reason: f.targetError.reason, message: f.targetError.message });
    errors.push({ time: now, ...f.targetError });
  }
  if (a) {
    if (a.rolledBack.length > 0) cands.push({ state: 'RolledBack', reason: 'RolledBack', message: a.message ?? a.rolledBack.map((r) => `${r.tenant}: ${r.reason}`).join('; ') });
    else if (a.outcome === 'failed') cands.push({ state: 'Failed', reason: a.reason ?? 'ApplyFailed', message: a.message ?? 'apply failed' });
    else if (a.outcome === 'refused') {
      const st: ControllerState = a.reason === 'NodeLocked' ? 'Locked' : a.reason === 'VersionSkew' || a.reason === 'UnexpectedEntry' ? 'Blocked' : 'Failed';
      cands.push({ state: st, reason: a.reason ?? 'Refused', message: a.message ?? 'refused' });
    } else if (a.outcome === 'skipped') cands.push({ state: 'OutOfSync', reason: 'Interrupted', message: a.message ?? 'not applied: interrupted' });
    else if (a.outcome === 'applied') cands.push({ state: 'Progressing', reason: 'Applied', message: `applied ${f.target?.commit.slice(0, 7) ?? ''}${a.swapped.length ? `: ${a.swapped.map((s) => `${s.tenant} → ${s.to}`).join(', ')}` : ''}; confirming on the next pass` });
    if (a.refusedTenants.length > 0) cands.push({ state: 'Blocked', reason: 'UnexpectedEntry', message: a.refusedTenants.map((x) => x.message).join('; ') });
    if (a.outcome !== 'applied' && a.outcome !== 'unchanged' && a.reason !== 'NodeLocked') errors.push({ time: now, reason: a.reason ?? a.outcome, message: a.message ?? a.outcome });
    else if (a.reason === 'NodeLocked') errors.push({ time: now, reason: 'NodeLocked', message: a.message ?? 'locked' });
  } else if (f.backoff?.kind === 'apply' && f.plan && f.plan.actions.length > 0) {
    const last = prev?.lastError;
    cands.push({ state: last?.reason === 'RolledBack' ? 'RolledBack' : 'Failed', reason: last?.reason ?? 'ApplyFailed', message: `${last?.message ?? 'apply failed'}; next attempt after ${f.backoff.until}` });
  }
  const p = f.plan;
  if (p && obs) {
    if (p.status === 'VersionSkew') cands.push({ state: 'Blocked', reason: 'VersionSkew', message: p.issues.filter((i) => i.category === 'version-skew').map((i) => i.message).join('; ') });
    const blockedTenants = p.tenants.filter((t) => t.state === 'Blocked').map((t) => t.tenant);
    if (blockedTenants.length > 0) {
      const why = p.issues.filter((i) => i.tenant !== undefined && blockedTenants.includes(i.tenant) && i.severity === 'error').map((i) => `${i.tenant}: ${i.message}`);
      cands.push({ state: 'Blocked', reason: p.issues.find((i) => i.tenant !== undefined && blockedTenants.includes(i.tenant) && i.severity === 'error')?.reason ?? 'Blocked', message: why.join('; ') });
    }
    // what differs and was not applied this pass (observe mode, backoff, locked, or nothing clawops may do: a tenant
    // no longer assigned is kept, never pruned by the controller)
    const differs = p.actions.length > 0 || p.issues.some((i) => i.difference && i.category === 'drift');
    if (differs && !a && !f.suspended) {
      const lock = holder(p);
      if (lock && p.actions.length > 0 && f.mode === 'auto' && !f.backoff) cands.push({ state: 'Locked', reason: 'NodeLocked', message: lock });
      const what = p.issues.filter((i) => i.difference && i.category === 'drift').map((i) => `${i.tenant ? `${i.tenant}: ` : ''}${i.message}`);
      cands.push({ state: 'OutOfSync', reason: p.status === 'Drifted' ? 'Drifted' : 'OutOfSync', message: `${what.slice(0, 3).join('; ')}${what.length > 3 ? `; and ${what.length - 3} more` : ''}${f.mode === 'observe' ? ' (observe mode: not applied)' : ''}` });
    }
  }

  // health: tenants from the observation, the node from its warnings
  const tenants: Record<string, TenantStatus> = {};
  const healths: HealthStatus[] = [];
  const healthReasons = new Map<string, string>();
  for (const tp of p?.tenants ?? []) {
    const d = f.desired?.tenants.get(tp.tenant);
    const t = obs && Object.hasOwn(obs.tenants, tp.tenant) ? obs.tenants[tp.tenant] : undefined;
    const probe = tp.state !== 'Unassigned' && f.health && Object.hasOwn(f.health.probes, tp.tenant) ? f.health.probes[tp.tenant] : undefined;
    const lh = tenantHealth(d, t);
    const h = tp.state === 'Unassigned' ? { status: 'unknown' as const, message: 'no longer assigned' } : combineHealth(lh, probe);
    const hReason = healthReason(lh, probe);
    healthReasons.set(tp.tenant, hReason);
    if (tp.state !== 'Unassigned' && (a?.outcome !== 'applied' || !a.swapped.some((s) => s.tenant === tp.tenant))) healths.push(h.status === 'unknown' && !t?.current ? 'ok' : h.status);
    const m = t?.manifest && isManifest(t.manifest) ? t.manifest : undefined;
    const tc: Candidate[] = [];
    const rb = a?.rolledBack.find((r) => r.tenant === tp.tenant);
    const refused = a?.refusedTenants.find((r) => r.tenant === tp.tenant);
    if (rb) tc.push({ state: 'RolledBack', reason: 'RolledBack', message: rb.reason });
    else if (a?.outcome === 'failed' && tp.state !== 'InSync') tc.push({ state: 'Failed', reason: a.reason ?? 'ApplyFailed', message: a.message ?? '' });
    if (refused) tc.push({ state: 'Blocked', reason: 'UnexpectedEntry', message: refused.message });
    if (tp.state === 'Blocked') {
      const i = p!.issues.find((x) => x.tenant === tp.tenant && x.severity === 'error');
      tc.push({ state: 'Blocked', reason: i?.reason ?? 'Blocked', message: i?.message ?? 'blocked' });
    }
    if (h.status === 'failed' || h.status === 'degraded') tc.push({ state: 'Degraded', reason: hReason, message: h.message ?? h.status });
    if (tp.state !== 'InSync' && tp.state !== 'Blocked') {
      if (a?.swapped.some((s) => s.tenant === tp.tenant) && !rb) tc.push({ state: 'Progressing', reason: 'Applied', message: `now ${a.swapped.find((s) => s.tenant === tp.tenant)!.to}` });
      else tc.push({ state: f.suspended ? 'Suspended' : 'OutOfSync', reason: tp.state, message: tp.desiredRelease ? `release ${tp.currentRelease ?? '(none)'} → ${tp.desiredRelease}` : tp.state });
    }
    if (f.gated) tc.push({ state: 'Gated', reason: 'Gated', message: f.gated });
    if (f.suspended && tc.length === 0) tc.push({ state: 'Suspended', reason: 'Suspended' });
    const tw = worst(tc);
    const prevT = prev?.tenants[tp.tenant];
    const tErr = tw.state === 'Failed' || tw.state === 'RolledBack' ? { time: now, reason: tw.reason, message: tw.message ?? '' } : prevT?.lastError;
    tenants[tp.tenant] = {
      tenant: tp.tenant,
      state: tw.state,
      reason: tw.reason,
      ...(tw.message ? { message: tw.message } : {}),
      sync: {
        state: tp.state,
        ...(tp.desiredRelease ? { desiredRelease: tp.desiredRelease } : {}),
        ...(tp.currentRelease ? { currentRelease: tp.currentRelease } : {}),
        ...(m?.commit ? { commit: m.commit } : {}),
        ...(m?.tag ? { tag: m.tag } : {}),
      },
      health: h,
      lastTransition: prevT && prevT.state === tw.state ? prevT.lastTransition : now,
      ...(tErr ? { lastError: tErr } : {}),
      // this pass's answer; without one (applied this pass, not reachable) the last one, so views still show it
      ...(probe ? { probe } : prevT?.probe && !(a?.swapped.some((s) => s.tenant === tp.tenant) ?? false) ? { probe: prevT.probe } : {}),
    };
  }
  const nodeWarn = p?.issues.filter((i) => i.category === 'probe' && i.severity !== 'info' && !i.tenant) ?? [];
  if (nodeWarn.length > 0) healths.push('degraded');
  const health = obs ? worstHealth(healths) : 'unknown';
  const sick = Object.values(tenants).filter((t) => t.health.status === 'failed' || t.health.status === 'degraded');
  if (sick.length > 0 || nodeWarn.length > 0) {
    cands.push({ state: 'Degraded', reason: sick.length > 0 ? (healthReasons.get(sick[0]!.tenant) ?? 'ServiceNotRunning') : nodeWarn[0]!.reason, message: [...sick.map((t) => `${t.tenant}: ${t.health.message ?? t.health.status}`), ...nodeWarn.map((i) => i.message)].join('; ') });
  }
  if (f.gated) cands.push({ state: 'Gated', reason: 'Gated', message: f.gated });
  if (f.waiting && !a) cands.push({ state: 'Progressing', reason: f.waiting.reason, message: f.waiting.message });

  let w = worst(cands);
  if (f.suspended) {
    // suspended: what the controller would do is not done; only what is wrong with the node itself shows
    const own = cands.filter((c) => ['Failed', 'Unreachable', 'Blocked', 'Degraded', 'RolledBack'].includes(c.state));
    w = own.length > 0 ? worst(own) : { state: 'Suspended', reason: 'Suspended', message: 'suspended (clawops controller resume)' };
  }
  if (w.state === 'Synced') w = { state: 'Synced', reason: 'Synced', ...(f.target ? { message: `runs ${f.target.tag ?? f.target.commit.slice(0, 7)}` } : {}) };

  const running = new Map<string, { commit?: string; tag?: string }>();
  for (const t of Object.values(tenants)) {
    if (t.sync.commit || t.sync.tag) running.set(`${t.sync.commit ?? ''}\0${t.sync.tag ?? ''}`, { ...(t.sync.commit ? { commit: t.sync.commit } : {}), ...(t.sync.tag ? { tag: t.sync.tag } : {}) });
  }
  // a readiness answer the stage could not get says why the node's health is unknown (and why it earns no green pass)
  const unasked = Object.values(tenants).filter((t) => t.health.status === 'unknown' && f.health?.probes[t.tenant]?.status === 'unknown');
  const healthMsgs = [...sick.map((t) => `${t.tenant}: ${t.health.message ?? t.health.status}`), ...nodeWarn.map((i) => i.message), ...unasked.map((t) => `${t.tenant}: ${t.health.message ?? 'unknown'}`)];
  const lastError = errors[errors.length - 1] ?? prev?.lastError;
  const digest = digestRecord(f.health?.digest, prev?.webhookDigest);
  return {
    node: f.node,
    role: f.role,
    canary: f.canary,
    follows: f.follows,
    state: w.state,
    reason: w.reason,
    ...(w.message ? { message: w.message } : {}),
    sync: {
      status: f.observed ? (f.observed.ok ? (p?.status ?? 'Unknown') : f.observed.reason) : (prev?.sync.status ?? 'Unknown'),
      ...(f.target ? { target: f.target } : {}),
      running: [...running.values()],
      differences: p?.issues.filter((i) => i.difference).length ?? 0,
    },
    health: { status: health, ...(healthMsgs.length > 0 ? { message: healthMsgs.join('; ') } : {}) },
    ...(obs?.openclaw.version ? { openclaw: obs.openclaw.version } : prev?.openclaw ? { openclaw: prev.openclaw } : {}),
    suspended: f.suspended,
    ...(f.backoff ? { backoff: f.backoff } : {}),
    lastTransition: prev && prev.state === w.state ? prev.lastTransition : now,
    ...(lastError ? { lastError } : {}),
    tenants: Object.keys(tenants).length > 0 ? tenants : !obs && prev ? prev.tenants : tenants,
    ...(digest ? { webhookDigest: digest } : {}),
  };
}

/**
 * The Degraded reason of a tenant: launchd's (ServiceNotRunning, NotReloaded) when the service itself is as bad or
 * worse (it is what to look at first), else the readiness answer's (ProbeFailed, ProbeUnreachable, ProbeDegraded).
 */
export function healthReason(launchd: TenantHealth, probe: ProbeSummary | undefined): string {
  const p = probe ? probeHealth(probe) : undefined;
  const rank = (s: HealthStatus): number => HEALTH_ORDER.indexOf(s);
  if (p && (p.status === 'failed' || p.status === 'degraded') && rank(p.status) < rank(launchd.status)) {
    return probe!.status === 'unreachable' ? 'ProbeUnreachable' : probe!.status === 'degraded' ? 'ProbeDegraded' : 'ProbeFailed';
  }
  return launchd.status === 'failed' ? 'ServiceNotRunning' : 'NotReloaded';
}

/** The runs-it fact for gating: the node was observed with every tenant of the commit's release current. */
export function runsCommit(plan: NodePlan | undefined, observed: ObserveResult | undefined): boolean {
  if (!plan || !observed?.ok || plan.status === 'VersionSkew') return false;
  return plan.tenants.every((t) => t.state === 'InSync' || t.state === 'Unassigned');
}

/** worst node state, for the store's summary */
export function fleetState(nodes: Iterable<{ state: ControllerState }>): ControllerState {
  return worstState([...nodes].map((n) => n.state));
}
