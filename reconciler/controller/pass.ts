/**
 * One reconcile pass: a straight line of named stages (the loop in loop.ts schedules passes and writes status):
 *   fetch source → pin one commit per ref → build desired per commit (cached) → canaries: observe, plan, apply →
 *   record canary evidence → replay the commit's recorded fixtures from the canaries (once per commit and canary) →
 *   gate the fleet commit → the other nodes: observe, plan, apply → derive status.
 * It reuses observe/, plan/ and apply/ as they are; it decides only what to apply where, and when.
 * A steady pass does not wait for each stage to ask its nodes: the first wave of the last pass's observe commands
 * starts before the fetch, and each node's last health command beside its observe command (connections.ts startEarly,
 * health-stage.ts startEarlyHealth); a stage takes such an answer only when it would have asked exactly that.
 */
import type { Logger } from 'pino';
import { applyFleet } from '../apply/apply-fleet.js';
import { ValidationMemo } from '../apply/validation-memo.js';
import type { VerdictStore } from '../apply/verdict-cache.js';
import type { NodeApplyResult, RunContext } from '../apply/apply-node.js';
import type { DesiredState, NodeSpec } from '../desired/types.js';
import { ClawopsError, oneLine, ValidationError } from '../errors.js';
import type { NodeObservation, ObserveResult, TenantObservation } from '../observe/types.js';
import { isManifest } from '../release-manifest.js';
import { combinePlans, guardTenants, planner, someOf } from '../plan/plan.js';
import type { NodePlan, Plan } from '../plan/types.js';
import type { FixtureSet } from '../replay/fixtures.js';
import { loadDesired } from '../source/load.js';
import { EARLY_MAX_AGE_MS, type ConnectionPool } from './connections.js';
import { deriveNode, fleetState, runsCommit, type NodeFacts } from './derive.js';
import { eachLimit } from './each-limit.js';
import { fleetGate, fleetTarget, inBackoff, needsReplay, nextBackoff, recordCanaryPass, resolveRef, type CanaryPassFacts, type FleetTarget, type GateDecision, type Pinned, type RefInfo } from './gating.js';
import type { GitMirror } from './git-mirror.js';
import { healthStage, startEarlyHealth } from './health-stage.js';
import { deadOwnLock, releaseDeadLock } from './node-lock.js';
import { readFixtureSet, replayStage } from './replay-stage.js';
import { share } from '../share.js';
import { controllerSettings, gatingFor, type ControllerSettings } from './settings.js';
import type { CommitEvidence, ErrorRecord, NodeStatusRecord, RefPin, StatusDoc } from './status.js';
import { recordTokens } from './status.js';
import { isSuspended, type Suspension } from './store.js';

export interface PassDeps {
  mirror: GitMirror;
  pool: ConnectionPool;
  cache: DesiredCache;
  mode: 'auto' | 'observe';
  now: () => Date;
  log: Logger;
  actor: string;
  lockTtlSec: number;
  signal: AbortSignal;
  suspension: () => Suspension;
  /** --concurrency over clawops.yaml's */
  concurrency?: number;
  /** only these nodes (--node); the others are neither observed nor touched */
  only?: readonly string[];
  /** write the status store now (the loop's writeStatus): evidence an apply invalidates is put on disk first */
  persist?: () => Promise<void>;
  /** valid verdicts kept across passes and restarts (STATE_DIR/verdicts): the fan-out does not validate again what
   * the canary's apply found valid */
  verdicts?: VerdictStore;
}

/** A commit built: its desired state and its recorded fixtures (read from the checkout before it goes away). */
export interface Built {
  desired: DesiredState;
  fixtures: FixtureSet;
}

/** Desired state per commit, built once (from the mirror, by the usual load path) and kept for the last few. */
export class DesiredCache {
  private readonly m = new Map<string, Promise<Built | { error: ClawopsError | Error }>>();
  constructor(private readonly repoDir: () => string, private readonly keep = 8) {}

  get(commit: string): Promise<Built | { error: ClawopsError | Error }> {
    const have = this.m.get(commit);
    if (have) {
      this.m.delete(commit);
      this.m.set(commit, have);
      return have;
    }
    const p = loadDesired(this.repoDir(), commit).then(
      ({ source, desired }) => {
        try {
          return { desired, fixtures: readFixtureSet(source.dir) };
        } finally {
          source.cleanup();
        }
      },
      (e: unknown) => {
        // an invalid commit stays invalid (cached); anything else (git, disk) is tried again next pass
        if (!(e instanceof ValidationError)) this.m.delete(commit);
        return { error: e instanceof Error ? e : new Error(String(e)) };
      },
    );
    this.m.set(commit, p);
    while (this.m.size > this.keep) this.m.delete(this.m.keys().next().value!);
    return p;
  }

  has(commit: string): boolean {
    return this.m.has(commit);
  }
}

/** Thrown when a pass cannot go on; the loop records it and the fleet is left as it is. */
export class PassError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

const short = (c: string | undefined): string => (c ?? '').slice(0, 7);

// ---------------------------------------------------------------- stages

/** Stage 1: fetch. A failure keeps the refs already in the mirror (the fleet stays where it is) and is recorded. */
async function fetchSource(d: PassDeps, doc: StatusDoc): Promise<RefInfo[]> {
  const now = d.now().toISOString();
  try {
    d.log.info({ stage: 'fetch', repo: d.mirror.origin }, `fetching ${d.mirror.origin}`);
    const r = await d.mirror.fetch();
    for (const c of r.changes) {
      if (c.kind === 'created' || c.kind === 'deleted') d.log.info({ stage: 'fetch', ref: c.ref, commit: c.commit, change: c.kind }, `${c.ref} ${c.kind} (${short(c.commit)})`);
      else if (c.kind === 'forced') d.log.warn({ stage: 'fetch', ref: c.ref, from: c.from, to: c.to, change: c.kind }, `${c.ref} was force-pushed: ${short(c.from)} → ${short(c.to)} (not a fast-forward); following it`);
      else if (c.kind === 'moved') d.log.warn({ stage: 'fetch', ref: c.ref, from: c.from, to: c.to, change: c.kind }, `tag ${c.ref} moved: ${short(c.from)} → ${short(c.to)}; following it`);
      else d.log.info({ stage: 'fetch', ref: c.ref, from: c.from, to: c.to, change: c.kind }, `${c.ref} ${short(c.from)} → ${short(c.to)}`);
    }
    doc.source = { ...doc.source, origin: d.mirror.origin, lastFetch: now, reason: 'SourceAvailable', failures: 0 };
    return r.refs;
  } catch (e) {
    const err: ErrorRecord = { time: now, reason: 'SourceUnavailable', message: oneLine(e) };
    doc.source = { ...doc.source, origin: d.mirror.origin, reason: 'SourceUnavailable', lastError: err, failures: doc.source.failures + 1 };
    d.log.error({ stage: 'fetch', reason: 'SourceUnavailable' }, err.message);
    const refs = await d.mirror.refs().catch(() => [] as RefInfo[]);
    if (refs.length === 0) throw new PassError('SourceUnavailable', err.message);
    d.log.warn({ stage: 'fetch' }, 'using the refs fetched before; the fleet is reconciled to what it already follows');
    return refs;
  }
}

/** Stage 2: settings from the default branch's clawops.yaml, and one commit per ref. */
async function pinCommits(d: PassDeps, refs: RefInfo[], doc: StatusDoc): Promise<{ settings: ControllerSettings; canary: Pinned; fleet: Pinned }> {
  const head = await d.mirror.head();
  let settings: ControllerSettings;
  try {
    settings = controllerSettings(head ? await d.mirror.show(head, 'clawops.yaml') : undefined, `clawops.yaml@${short(head)}`);
  } catch (e) {
    throw new PassError('ValidationFailed', oneLine(e));
  }
  const canary = resolveRef(settings.refs.canary, refs);
  const fleet = resolveRef(settings.refs.fleet, refs);
  const pin = (spec: string, p: Pinned): RefPin => ('error' in p ? { spec, error: p.error } : { spec, ...p });
  doc.source.canary = pin(settings.refs.canary, canary);
  doc.source.fleet = pin(settings.refs.fleet, fleet);
  d.log.info({ stage: 'pin', canary: doc.source.canary, fleet: doc.source.fleet }, `canary ${'error' in canary ? canary.error : `${canary.ref} ${short(canary.commit)}`}, fleet ${'error' in fleet ? fleet.error : `${fleet.ref} ${short(fleet.commit)}`}`);
  return { settings, canary, fleet };
}

interface GroupResult {
  facts: Map<string, NodeFacts>;
  observed: Map<string, ObserveResult>;
  plans: Map<string, NodePlan>;
  applied: Map<string, NodeApplyResult>;
}

/** What observing a group against one commit gave: read-only, so it may run while another group is applied. */
interface Observed {
  commit: string;
  observed: Map<string, ObserveResult>;
  plan: Plan;
}

/**
 * After planning: keep of a tenant's observation only what the status, health and token stages read — the launchd/
 * file entries and openclaw.json's hash and old content (health asks units' tenants, on the port of the release they
 * run), the manifests' identity without their file lists, links, services, run records, token facts.
 */
function slimForStatus(t: TenantObservation): void {
  // a loop over own keys, not Object.entries + filter + fromEntries: three arrays a tenant a node a pass were the
  // controller's largest garbage at 500+ nodes
  const kept: typeof t.files = {};
  for (const path in t.files) if (Object.hasOwn(t.files, path) && (path.startsWith('launchd/') || path === 'openclaw.json')) kept[path] = t.files[path]!;
  t.files = kept;
  t.contents = Object.hasOwn(t.contents, 'openclaw.json') ? { 'openclaw.json': t.contents['openclaw.json']! } : {};
  t.sizes = {};
  if (t.manifest && isManifest(t.manifest)) t.manifest = { ...t.manifest, files: {} };
  if (t.prevManifest && isManifest(t.prevManifest)) t.prevManifest = { ...t.prevManifest, files: {} };
}

/** Observe (pooled connections; nodes backing off after failed connections are skipped) and plan. */
async function observeGroup(d: PassDeps, doc: StatusDoc, nodes: NodeSpec[], desired: DesiredState, commit: string, follows: string): Promise<Observed> {
  const now = d.now();
  const observed = new Map<string, ObserveResult>();
  const toObserve = nodes.filter((n) => !(doc.nodes[n.name]?.backoff?.kind === 'observe' && inBackoff(doc.nodes[n.name]?.backoff, now)));
  const t0 = performance.now();
  // each node planned as soon as it is observed, then what only the planner reads dropped (file hashes but the
  // launchd/ ones, old contents, the manifests' file lists): a group holds one node's files at a time, not all
  const planOne = planner(desired, { revision: commit });
  const planned = new Map<string, NodePlan>();
  const earlyHealth = (d.pool.groupObserveMs.get(follows) ?? 0) <= EARLY_MAX_AGE_MS;
  // the last node's, shared with (share.ts)
  let lastPlan: NodePlan | undefined;
  let lastObservation: NodeObservation | undefined;
  await eachLimit(toObserve, d.concurrency ?? desired.settings.concurrency, async (n) => {
    if (earlyHealth) startEarlyHealth(d.pool, n.name, d.now);
    const r = await d.pool.observe(n, desired);
    // what did not change since the last pass is last pass's, and what another node has too is kept once
    // (share.ts): what observe and plan made dies young
    const last = d.pool.kept.get(n.name);
    const plan = share(last?.plan, planOne(n, r), lastPlan);
    planned.set(n.name, plan);
    lastPlan = plan;
    if (r.ok) {
      for (const t of Object.values(r.observation.tenants)) slimForStatus(t);
      const observation = share(last?.observation, r.observation, lastObservation);
      lastObservation = observation;
      d.pool.kept.set(n.name, { observation, plan });
      observed.set(n.name, { ...r, observation });
    } else {
      d.pool.kept.set(n.name, { ...(last?.observation ? { observation: last.observation } : {}), plan });
      observed.set(n.name, r);
    }
  });
  d.pool.groupObserveMs.set(follows, performance.now() - t0);
  const p = combinePlans(nodes.filter((n) => planned.has(n.name)).map((n) => planned.get(n.name)!), commit);
  const slowest = Math.max(0, ...[...observed.values()].map((o) => (o.ok ? o.observation.durationMs : 0)));
  d.log.debug({ stage: 'observe', group: follows, nodes: toObserve.length, ms: Math.round(performance.now() - t0), slowestNodeMs: slowest }, `observed and planned ${toObserve.length} ${follows} node(s) against ${short(commit)}`);
  return { commit, observed, plan: p };
}

/**
 * Stages 4–6 for one group of nodes following one commit: observe and plan (or take what was observed ahead for the
 * same commit), apply what differs (auto mode; not suspended, not backing off, allowed), record backoff.
 */
async function reconcileGroup(
  d: PassDeps,
  doc: StatusDoc,
  group: { follows: 'canary' | 'fleet'; nodes: NodeSpec[]; desired: DesiredState; target: { ref: string; commit: string; tag?: string }; gated?: string; applyAllowed: boolean },
  passId: string,
  ahead?: Promise<Observed>,
): Promise<GroupResult> {
  const res: GroupResult = { facts: new Map(), observed: new Map(), plans: new Map(), applied: new Map() };
  if (group.nodes.length === 0) return res;
  const now = d.now();
  const concurrency = d.concurrency ?? group.desired.settings.concurrency;
  const prev = (n: string): NodeStatusRecord | undefined => doc.nodes[n];
  const pre = ahead ? await ahead : undefined;
  const o = pre && pre.commit === group.target.commit ? pre : await observeGroup(d, doc, group.nodes, group.desired, group.target.commit, group.follows);
  const p = o.plan;
  for (const [k, v] of o.observed) res.observed.set(k, v);
  for (const np of p.nodes) res.plans.set(np.node, np);

  // a dead-man guard whose run is gone (no lock of its run, or one a dead life of this controller left) will put back
  // that run's unconfirmed swaps within health.confirm_sec: nothing is applied to the node (nor counted for it) until then
  const waiting = new Map<string, { reason: string; message: string }>();
  for (const [name, ob] of o.observed) {
    if (!ob.ok) continue;
    const obs = ob.observation;
    let lockRun: string | undefined;
    try {
      lockRun = obs.lock !== undefined ? String((JSON.parse(obs.lock) as { run?: unknown }).run) : undefined;
    } catch {
      lockRun = undefined;
    }
    const dead = deadOwnLock(obs.lock, d.actor, { pid: process.pid, run: passId });
    // (a guard whose process the node says is gone, after a reboot, puts nothing back: litter apply's recover removes)
    const orphans = obs.guards.filter((g) => g.alive !== false && g.run !== passId && (lockRun !== g.run || dead?.run === g.run));
    if (orphans.length === 0) continue;
    const message = `waiting for the dead-man guard of ${someOf(orphans.map((g) => `run ${g.run} (${guardTenants(g)})`), 3)} to put back what its run swapped and never confirmed; applying after it`;
    waiting.set(name, { reason: 'WaitingForGuard', message });
    if (d.mode === 'auto') d.log.warn({ stage: 'apply', node: name, reason: 'WaitingForGuard', runs: orphans.map((g) => g.run) }, `${name}: ${message}`);
  }

  const susp = d.suspension();
  const applyable = p.nodes.filter((np) => {
    if (!group.applyAllowed || d.mode !== 'auto' || isSuspended(susp, np.node) || np.blocked || np.actions.length === 0 || waiting.has(np.node)) return false;
    const b = prev(np.node)?.backoff;
    return !(b?.kind === 'apply' && inBackoff(b, now));
  });
  if (applyable.length > 0 && !d.signal.aborted) {
    // a node lock a dead life of this controller left (kill -9 mid-apply) would hold the node for the lock's whole
    // ttl: released here, so apply takes the lock and records what the dead run left behind
    for (const np of applyable) {
      const ob = o.observed.get(np.node);
      const raw = ob?.ok ? ob.observation.lock : undefined;
      const dead = deadOwnLock(raw, d.actor, { pid: process.pid, run: passId });
      const t = d.pool.peek(np.node);
      if (!dead || !t || raw === undefined) continue;
      const ok = await releaseDeadLock(t, group.desired.settings, raw, { run: passId, owner: dead.owner, pid: process.pid }).catch(() => false);
      if (ok) d.log.warn({ stage: 'apply', node: np.node, step: 'lock', deadRun: dead.run, deadPid: dead.pid }, `${np.node}: released the node lock of run ${dead.run}: its controller (pid ${dead.pid}) is gone`);
    }
    const transports = new Map(applyable.flatMap((np) => {
      const t = d.pool.peek(np.node);
      return t ? [[np.node, t] as const] : [];
    }));
    const spec = new Map(group.nodes.map((n) => [n.name, n]));
    const ctx: RunContext = {
      run: passId,
      actor: d.actor,
      pid: process.pid,
      lockTtlSec: d.lockTtlSec,
      commit: group.target.commit,
      ...(group.target.tag ? { tag: group.target.tag } : {}),
      now: d.now,
      signal: d.signal,
      onEvent: (e) => {
        const fields = { stage: 'apply', node: e.node, step: e.step, state: e.state };
        if (e.state === 'fail') d.log.error(fields, e.message ?? 'failed');
        else if (e.state === 'warn') d.log.warn(fields, e.message ?? 'warning');
        else d.log.info(fields, e.message ?? e.state);
      },
      reconnect: (node) => d.pool.fresh(spec.get(node)!, group.desired.settings),
      ...(d.verdicts ? { validations: new ValidationMemo({ store: d.verdicts, run: passId }) } : {}),
    };
    // an apply to a canary ends its run of green passes: on disk BEFORE the apply, so a controller killed during it
    // does not come back counting green passes from before an apply it never recorded
    const ev = group.follows === 'canary' ? doc.commits[group.target.commit] : undefined;
    const reset = ev?.verdict === 'pending' ? applyable.filter((np) => (ev.canaries[np.node]?.greenPasses ?? 0) > 0) : [];
    if (ev && reset.length > 0) {
      for (const np of reset) ev.canaries[np.node] = { ...ev.canaries[np.node]!, greenPasses: 0, note: `applied to again in pass ${passId}; green passes count from the next one` };
      await d.persist?.();
    }
    d.log.info({ stage: 'apply', nodes: applyable.map((n) => n.node), commit: group.target?.commit }, `applying ${short(group.target?.commit)} to ${applyable.map((n) => n.node).join(', ')}`);
    const r = await applyFleet({ ...p, nodes: applyable, inSync: false }, group.desired, transports, ctx, concurrency);
    for (const x of r.results) res.applied.set(x.node, x);
  }

  for (const n of group.nodes) {
    const pr = prev(n.name);
    const ob = res.observed.get(n.name);
    const a = res.applied.get(n.name);
    let backoff = pr?.backoff;
    if (ob && !ob.ok) backoff = nextBackoff(pr?.backoff?.kind === 'observe' ? pr.backoff : undefined, 'observe', now);
    else if (a && (a.outcome === 'failed' || (a.outcome === 'refused' && a.reason !== 'NodeLocked'))) {
      backoff = nextBackoff(pr?.backoff?.kind === 'apply' ? pr.backoff : undefined, 'apply', now);
      // the connection may be what failed; a new one next time costs one login
      if (/connection|timed out|not connected/i.test(a.message ?? '')) await d.pool.drop(n.name);
    } else if (ob?.ok && (a ? a.outcome === 'applied' || a.outcome === 'unchanged' : !(backoff?.kind === 'apply' && inBackoff(backoff, now)))) backoff = undefined;
    else if (ob?.ok && backoff?.kind === 'observe') backoff = undefined;
    if (backoff && pr?.backoff?.until !== backoff.until) d.log.warn({ stage: 'backoff', node: n.name, failures: backoff.failures, until: backoff.until }, `${n.name}: backing off until ${backoff.until} after ${backoff.failures} failure(s)`);
    res.facts.set(n.name, {
      node: n.name,
      role: n.role,
      canary: n.canary,
      follows: group.follows,
      target: group.target,
      ...(ob ? { observed: ob } : {}),
      ...(res.plans.get(n.name) ? { plan: res.plans.get(n.name)! } : {}),
      desired: group.desired,
      ...(a ? { apply: a } : {}),
      ...(group.gated ? { gated: group.gated } : {}),
      ...(waiting.has(n.name) ? { waiting: waiting.get(n.name)! } : {}),
      suspended: isSuspended(susp, n.name),
      ...(backoff ? { backoff } : {}),
      mode: d.mode,
    });
  }
  return res;
}

/** Facts for nodes whose commit cannot be used at all (no ref, desired state does not build). */
/** The entries of `nodes` in `desired`'s inventory (by name), and the nodes it does not name. Pure. */
function specsIn(desired: DesiredState, nodes: readonly NodeSpec[]): { specs: NodeSpec[]; missing: NodeSpec[] } {
  const byName = new Map(desired.nodes.map((n) => [n.name, n]));
  const specs: NodeSpec[] = [];
  const missing: NodeSpec[] = [];
  for (const n of nodes) {
    const there = byName.get(n.name);
    if (there) specs.push({ ...there, canary: n.canary });
    else missing.push(n);
  }
  return { specs, missing };
}

function unusable(nodes: NodeSpec[], follows: 'canary' | 'fleet', err: { reason: string; message: string } | undefined, d: PassDeps, gated?: string): Map<string, NodeFacts> {
  const susp = d.suspension();
  return new Map(nodes.map((n) => [n.name, { node: n.name, role: n.role, canary: n.canary, follows, ...(err ? { targetError: err } : {}), ...(gated ? { gated } : {}), suspended: isSuspended(susp, n.name), mode: d.mode }]));
}

async function desiredFor(d: PassDeps, commit: string): Promise<Built | { error: { reason: string; message: string } }> {
  const had = d.cache.has(commit);
  const r = await d.cache.get(commit);
  if ('error' in r) {
    const reason = r.error instanceof ClawopsError ? r.error.reason : 'BuildFailed';
    if (!had) d.log.error({ stage: 'build', commit, reason }, oneLine(r.error));
    return { error: { reason, message: `commit ${short(commit)}: ${oneLine(r.error)}` } };
  }
  if (!had) d.log.info({ stage: 'build', commit, tenants: r.desired.tenants.size }, `built desired state of ${short(commit)}`);
  return r;
}

interface FleetDecision {
  gate: GateDecision;
  target: FleetTarget;
  /** the commit the nodes are observed and planned against: the target, else the head (reported only) */
  goal: string;
  ref: { ref: string; commit: string; tag?: string };
  built: Built | { error: { reason: string; message: string } };
}

/** The fleet's gate and target from the evidence in the store (pure but for building the target's desired state). */
async function decideFleet(d: PassDeps, doc: StatusDoc, fleet: { ref: string; commit: string; tag?: string }, fleetBuilt: Built | { error: { reason: string; message: string } }, settings: ControllerSettings, canaries: string[]): Promise<FleetDecision> {
  // a commit that does not build cannot be proven anyway; count it as one with fixtures
  let gate = fleetGate(doc.commits[fleet.commit], canaries, gatingFor(settings.gating, 'error' in fleetBuilt || fleetBuilt.fixtures.size > 0), fleet.commit);
  // proven is recorded only while the canaries run the commit (settleProven); evidence that merely looks complete
  // against TODAY's canaries (a canary removed from nodes.yaml since) proves nothing
  if (gate.open && doc.commits[fleet.commit]?.verdict !== 'proven') {
    gate = { open: false, reason: `commit ${short(fleet.commit)} was never proven while the canaries ran it (the canary set changed since its evidence was recorded); it fans out once proven` };
  }
  const target = fleetTarget(fleet, gate, doc.fleetCommit, (c) => doc.commits[c]?.verdict === 'failed');
  // nodes are reconciled to the target (the head, or the commit that fanned out before); with neither, observed
  // against the head and reported only
  const goal = target.commit ?? fleet.commit;
  const built = goal === fleet.commit ? fleetBuilt : await desiredFor(d, goal);
  const tag = goal === fleet.commit ? fleet.tag : target.tag;
  return { gate, target, goal, ref: { ref: goal === fleet.commit ? fleet.ref : 'fleet (last promoted)', commit: goal, ...(tag ? { tag } : {}) }, built };
}

// ---------------------------------------------------------------- the pass

export async function reconcilePass(d: PassDeps, doc: StatusDoc, passId: string): Promise<void> {
  // the first wave of what the last pass observed starts now, while the source is fetched and pinned; the groups take
  // those observations only for the same node, tenants and desired state (a steady pass), else observe afresh
  if (!d.signal.aborted) {
    const now = d.now();
    d.pool.startEarly(d.concurrency, (name) => (d.only !== undefined && d.only.length > 0 && !d.only.includes(name)) || (doc.nodes[name]?.backoff?.kind === 'observe' && inBackoff(doc.nodes[name]?.backoff, now)));
  }
  try {
    await passStages(d, doc, passId);
  } finally {
    d.pool.endPass();
  }
}

async function passStages(d: PassDeps, doc: StatusDoc, passId: string): Promise<void> {
  const refs = await fetchSource(d, doc);
  const { settings, canary, fleet } = await pinCommits(d, refs, doc);
  const nowIso = (): string => d.now().toISOString();

  // the inventory: the canary commit's (where inventory changes land first), else the fleet commit's, else that of
  // the last commit that fanned out or a canary ran (so a broken head still shows, and fails, on its nodes)
  const canaryBuilt = 'error' in canary ? undefined : await desiredFor(d, canary.commit);
  const fleetBuilt = 'error' in fleet ? undefined : await desiredFor(d, fleet.commit);
  const usable = (b: Awaited<ReturnType<typeof desiredFor>> | undefined): b is Built => b !== undefined && 'desired' in b;
  let inventory = [canaryBuilt, fleetBuilt].find(usable)?.desired.nodes;
  const fallbacks = [doc.fleetCommit?.commit, ...Object.values(doc.nodes).map((n) => n.sync.target?.commit)].filter((c): c is string => c !== undefined);
  for (const c of [...new Set(fallbacks)]) {
    if (inventory) break;
    const b = await desiredFor(d, c);
    if (usable(b)) inventory = b.desired.nodes;
  }
  if (!inventory) {
    const why = [canary, fleet].map((p) => ('error' in p ? p.error : undefined)).find((x) => x) ?? (canaryBuilt && 'error' in canaryBuilt ? canaryBuilt.error.message : fleetBuilt && 'error' in fleetBuilt ? fleetBuilt.error.message : 'no usable commit');
    throw new PassError('error' in canary && 'error' in fleet ? 'SourceFailed' : 'ValidationFailed', why);
  }
  const selected = d.only && d.only.length > 0 ? inventory.filter((n) => d.only!.includes(n.name)) : inventory;
  const canaryNodes = selected.filter((n) => n.canary);
  const fleetNodes = selected.filter((n) => !n.canary);
  const allCanaries = inventory.filter((n) => n.canary).map((n) => n.name);
  await d.pool.retain(new Set(selected.map((n) => n.name)));
  const facts = new Map<string, NodeFacts>();

  // the other nodes are observed while the canaries are worked on, against the commit the gate picks from the
  // evidence so far (read-only; observed again in the rare pass where the canaries move the gate)
  let ahead: Promise<Observed | undefined> | undefined;
  if (!('error' in fleet) && fleetBuilt && fleetNodes.length > 0) {
    ahead = decideFleet(d, doc, fleet, fleetBuilt, settings, allCanaries).then((dec) => ('error' in dec.built ? undefined : observeGroup(d, doc, specsIn(dec.built.desired, fleetNodes).specs, dec.built.desired, dec.goal, 'fleet')));
    ahead.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
  }

  // canaries: follow refs.canary
  let canaryFacts: CanaryPassFacts[] = [];
  if ('error' in canary || !canaryBuilt || 'error' in canaryBuilt) {
    const err = 'error' in canary ? { reason: 'SourceFailed', message: `refs.canary: ${canary.error}` } : canaryBuilt && 'error' in canaryBuilt ? canaryBuilt.error : { reason: 'SourceFailed', message: 'no canary commit' };
    for (const [k, v] of unusable(canaryNodes, 'canary', err, d)) facts.set(k, v);
    if (!('error' in canary) && canaryBuilt && 'error' in canaryBuilt && canaryBuilt.error.reason === 'ValidationFailed') {
      // an invalid commit can never be proven: mark it failed, so a release tag on it never fans out
      const prev = doc.commits[canary.commit];
      if (prev?.verdict !== 'failed') {
        doc.commits[canary.commit] = { ...(prev ?? { commit: canary.commit, firstSeen: nowIso(), canaries: {} }), ...(canary.tag ? { tag: canary.tag } : {}), verdict: 'failed', verdictAt: nowIso(), failure: { time: nowIso(), reason: canaryBuilt.error.reason, message: canaryBuilt.error.message } };
      }
    }
  } else {
    // a commit that failed on the canaries is not applied to them again (each try would be another rollback and
    // outage): they stay on what they run until main moves
    const failedHere = doc.commits[canary.commit]?.verdict === 'failed' ? doc.commits[canary.commit] : undefined;
    const held = failedHere ? `commit ${short(canary.commit)} failed on the canaries (${failedHere.failure?.reason ?? 'Failed'}): not applied again; push a fix to ${canary.ref.replace(/^refs\/heads\//, '')}` : undefined;
    const g = await reconcileGroup(d, doc, { follows: 'canary', nodes: canaryNodes, desired: canaryBuilt.desired, target: { ref: canary.ref, commit: canary.commit, ...(canary.tag ? { tag: canary.tag } : {}) }, ...(held ? { gated: held } : {}), applyAllowed: !held }, passId);
    // held only where it matters: a canary that already runs the failed commit is not waiting for anything
    if (held) for (const f of g.facts.values()) if (runsCommit(f.plan, f.observed)) delete f.gated;
    await healthStage(d, g.facts, canaryNodes, canaryBuilt.desired);
    for (const [k, v] of g.facts) facts.set(k, v);
    canaryFacts = canaryNodes.map((n) => {
      const f = g.facts.get(n.name)!;
      const a = g.applied.get(n.name);
      return {
        node: n.name,
        observed: f.observed?.ok === true,
        runsAtObserve: runsCommit(f.plan, f.observed),
        health: f.observed?.ok ? deriveNode(f, nowIso()).health.status : 'unknown',
        ...(f.waiting ? { hold: f.waiting.message } : f.plan && f.observed?.ok && !f.plan.tenants.some((t) => t.state !== 'Unassigned') ? { hold: 'no tenant is assigned to it in this commit, so it proves nothing' } : {}),
        ...(a ? { apply: { outcome: a.outcome, rolledBack: a.rolledBack.length > 0, gated: a.reloads.length > 0, ...(a.reason ? { reason: a.reason } : {}), ...(a.message ? { message: a.message } : {}) } } : {}),
      };
    });
    // evidence is about every canary of the inventory; canaries outside --node count as not observed
    for (const name of allCanaries) if (!canaryFacts.some((c) => c.node === name)) canaryFacts.push({ node: name, observed: false, runsAtObserve: false, health: 'unknown' });
    const before = doc.commits[canary.commit];
    const gating = gatingFor(settings.gating, canaryBuilt.fixtures.size > 0);
    let ev = recordCanaryPass(before, canary, canaryFacts, gating, { id: passId, now: nowIso() });
    // replay: from each canary that runs the commit now (observed this pass, its apply and health gate not failed),
    // once per commit and canary; auto mode only (observe mode sends nothing), never to a suspended node
    if (gating.require_replay && ev.verdict === 'pending') {
      const susp = d.suspension();
      const due = canaryNodes.filter((n) => {
        const f = canaryFacts.find((x) => x.node === n.name);
        const okApply = !f?.apply || f.apply.outcome === 'applied' || f.apply.outcome === 'unchanged';
        return f?.observed === true && okApply && d.mode === 'auto' && !isSuspended(susp, n.name) && !d.signal.aborted && needsReplay(ev, n.name, n.tenants, gating);
      });
      ev = await replayStage(d, ev, due, canaryBuilt, gating, allCanaries, passId);
    }
    doc.commits[canary.commit] = ev;
    if (ev.verdict !== before?.verdict && ev.verdict !== 'pending') {
      if (ev.verdict === 'failed') d.log.error({ stage: 'gate', commit: canary.commit, reason: ev.failure?.reason }, `commit ${short(canary.commit)} failed on the canaries: ${ev.failure?.message ?? ''}; it will never fan out`);
      else d.log.info({ stage: 'gate', commit: canary.commit }, `commit ${short(canary.commit)} proven on the canaries`);
    }
  }

  // everyone else: follow refs.fleet, gated on the canaries' evidence
  if (d.signal.aborted) {
    d.log.warn({ stage: 'gate' }, 'interrupted: the other nodes are not touched this pass');
  } else if ('error' in fleet || !fleetBuilt) {
    const why = 'error' in fleet ? fleet.error : 'unresolved';
    // no release tag yet is a normal first state (nothing may fan out); a named ref that is missing is a mistake
    const noRelease = settings.refs.fleet.includes('*');
    for (const [k, v] of unusable(fleetNodes, 'fleet', noRelease ? undefined : { reason: 'SourceFailed', message: `refs.fleet: ${why}` }, d, noRelease ? `no release yet: ${why}` : undefined)) facts.set(k, v);
  } else {
    const decision = await decideFleet(d, doc, fleet, fleetBuilt, settings, allCanaries);
    if (ahead && (await ahead.then((o) => o?.commit)) !== decision.goal) d.log.debug({ stage: 'observe', group: 'fleet' }, 'the gate moved during the pass: observing the fleet again');
    const target = decision.target;
    if (target.promote && doc.fleetCommit?.commit !== fleet.commit) {
      doc.fleetCommit = { commit: fleet.commit, ...(fleet.tag ? { tag: fleet.tag } : {}), since: nowIso() };
      d.log.info({ stage: 'gate', commit: fleet.commit, tag: fleet.tag }, `fanning out ${fleet.tag ?? short(fleet.commit)} to the fleet: ${decision.gate.reason}`);
    } else if (target.gated) d.log.info({ stage: 'gate', commit: fleet.commit, reason: 'Gated' }, `${fleet.tag ?? short(fleet.commit)} held back: ${target.gated}`);
    const gatedMsg = target.gated ? `${fleet.tag ?? short(fleet.commit)} gated: ${target.gated}` : undefined;
    if ('error' in decision.built) {
      // the head does not build: a failure for nodes that should run it; nodes held back are only Gated
      for (const [k, v] of unusable(fleetNodes, 'fleet', target.commit !== undefined ? decision.built.error : undefined, d, gatedMsg)) facts.set(k, v);
    } else {
      // a fleet node is worked on as the commit it gets describes it (host, tenants, port offset…), never as an
      // unproven canary commit does; one that commit does not name yet waits for a release that names it
      const { specs, missing } = specsIn(decision.built.desired, fleetNodes);
      if (missing.length > 0) for (const [k, v] of unusable(missing, 'fleet', undefined, d, `not in nodes.yaml of ${decision.ref.tag ?? short(decision.ref.commit)}: waits for a release that names it`)) facts.set(k, v);
      const g = await reconcileGroup(
        d,
        doc,
        { follows: 'fleet', nodes: specs, desired: decision.built.desired, target: decision.ref, ...(gatedMsg ? { gated: gatedMsg } : {}), applyAllowed: target.commit !== undefined },
        passId,
        ahead?.then((o) => o ?? { commit: '', observed: new Map(), plan: { nodes: [], inSync: true, worst: 'InSync' } }),
      );
      await healthStage(d, g.facts, specs, decision.built.desired);
      for (const [k, v] of g.facts) facts.set(k, v);
    }
  }

  // status: derive every node's record from this pass's facts (and its previous record)
  const now = nowIso();
  const next: Record<string, NodeStatusRecord> = {};
  let lastRec: NodeStatusRecord | undefined;
  for (const n of selected) {
    const f = facts.get(n.name);
    const prev = doc.nodes[n.name];
    if (!f) {
      if (prev) next[n.name] = prev;
      continue;
    }
    const rec = recordTokens(deriveNode(f, now, prev), f.observed);
    rec.lastPass = passId;
    if (!prev || prev.state !== rec.state) {
      const fields = { stage: 'status', node: n.name, state: rec.state, reason: rec.reason, was: prev?.state };
      if (['Failed', 'RolledBack', 'Unreachable'].includes(rec.state)) d.log.error(fields, `${n.name}: ${rec.state}: ${rec.message ?? rec.reason}`);
      else d.log.info(fields, `${n.name}: ${rec.state}${rec.message ? `: ${rec.message}` : ''}`);
    }
    // what did not change since the last pass is last pass's record's, and what the last node's record has too is
    // kept once (share.ts): what derive made dies young
    // the health stage's answers go on the record as they are: made when the node was asked, kept since
    const kept = share(prev, rec, lastRec, f.health ? new Set<object>(Object.values(f.health.probes)) : undefined);
    next[n.name] = kept;
    lastRec = kept;
  }
  // nodes outside --node keep their records; nodes gone from the inventory are dropped
  for (const n of inventory) if (!next[n.name] && doc.nodes[n.name]) next[n.name] = doc.nodes[n.name]!;
  doc.nodes = next;
  doc.state = fleetState(Object.values(next));
}
