/**
 * Apply one node's plan, stopping at the first failure (DESIGN §3, issue 4):
 * lock → version gate → stage (SFTP, verified, renamed into place) → validate (real openclaw) → swap → record → prune.
 * Never two operations on one node: the caller holds one transport per node and the node lock keeps other runs out.
 */
import type { DesiredState } from '../desired/types.js';
import { ClawopsError, oneLine } from '../errors.js';
import { escapeInline, safeJson } from '../safe-text.js';
import { parseValidateOutput } from '../openclaw-cli.js';
import type { Action, NodePlan } from '../plan/types.js';
import { buildManifest, manifestBytes, MANIFEST_PATH, releaseDigestOf } from '../release-manifest.js';
import type { NodePaths, Transport } from '../transport/transport.js';
import { keptNote, versionMismatches, type VersionFacts } from './records.js';
import { lockStillOurs, planSwap, runScript, stageRelease, swapLinks, takeNodeLock, unlockAfterFailure, writeIntent, type LinkFact, type SwapPlan } from './remote.js';
import { decideReload } from './reload-plan.js';
import { hotCheckOf } from './gateway-rpc.js';
import { confirmGuard, gate, healthSettings, hotReload, installNodeUnit, markPassed, pruneTenants, quarantine, reloadUnits, RELOAD_WAIT_SEC, startGuard, undoTenant, type UnitReload } from './services.js';
import { gatewayPort, notifierUnitFor, notifierVars } from '../desired/build-desired.js';
import { readinessUrl, releaseReadiness } from '../units/readiness.js';
import { releaseHealth } from './release-health.js';
import { FINISH_SCRIPT, PROMOTE_SCRIPT } from './remote-scripts.js';
import { ValidationMemo, validatedBy, verdictKey, type Claim, type Decision, type Pending, type ReleaseVerdict } from './validation-memo.js';

/** extra time the PROMOTE command gets per release it validates */
export const VALIDATE_ALLOWANCE_MS = 20_000;

export const APPLY_STEPS = ['lock', 'gate', 'stage', 'validate', 'swap', 'reload', 'health', 'record', 'prune'] as const;
export type ApplyStep = (typeof APPLY_STEPS)[number];

export interface ApplyEvent {
  node: string;
  step: ApplyStep | 'node';
  state: 'start' | 'done' | 'warn' | 'fail';
  message?: string;
}

export interface RunContext {
  run: string;
  actor: string;
  pid: number;
  lockTtlSec: number;
  commit?: string;
  tag?: string;
  now: () => Date;
  onEvent: (e: ApplyEvent) => void;
  /** Ctrl-C: each node stops before its next step (never inside the swaps), cleans up and releases its lock */
  signal?: AbortSignal;
  /** a NEW connection to a node, to confirm its dead-man guard (without it the run's own connection confirms) */
  reconnect?: (node: string) => Promise<Transport>;
  /**
   * the run's verdicts of `openclaw config validate` by OpenClaw build + tenant + release id (issue 12): a release
   * another node of this run validated is only checked for this node's own secret files. Without it every node
   * validates every release it deploys. applyFleet makes one per run when the caller gives none.
   */
  validations?: ValidationMemo;
  /**
   * waits for another node's verdict: applyFleet gives this node's place to the next node meanwhile (NodeSlots) and
   * takes one back before it resolves; without it the node keeps its place
   */
  whileWaiting?: <T>(p: Promise<T>) => Promise<T>;
}

export type NodeOutcome = 'applied' | 'unchanged' | 'refused' | 'failed' | 'skipped';

export interface NodeApplyResult {
  node: string;
  outcome: NodeOutcome;
  /** the step that failed or refused */
  step?: ApplyStep;
  reason?: string;
  message?: string;
  swapped: { tenant: string; from?: string; to: string }[];
  staged: string[];
  reused: string[];
  /** files of staged releases copied on the node from its current release instead of sent */
  reusedFiles: number;
  /** tenants whose release this node ran `openclaw config validate` on (the first node of the run to deploy it) */
  validated?: string[];
  /** tenants whose release another node of this run validated: this node ran only its own secret check (--check) */
  checked?: string[];
  pruned: string[];
  removed: string[];
  /** tenants not touched because their tree on the node is not clawops' own (UnexpectedEntry) */
  refusedTenants: { tenant: string; message: string }[];
  /** swaps of dead runs this run found in their intent files and recorded */
  recovered: string[];
  /** launchd units reloaded after the swaps: how, and the pids before and after */
  reloads: ({ tenant: string } & UnitReload)[];
  /** tenants put back automatically because their new release did not become ready (that release is quarantined) */
  rolledBack: { tenant: string; release: string; to?: string; reason: string }[];
  bytesSent: number;
  commands: number;
}

type StepReason = 'NodeLocked' | 'VersionSkew' | 'StageFailed' | 'InvalidConfig' | 'SwapFailed' | 'RecordFailed' | 'Interrupted' | 'UnexpectedEntry' | 'RolledBack' | 'HealthCheckFailed';

class StepError extends ClawopsError {
  constructor(readonly step: ApplyStep, reason: StepReason, message: string, readonly refused = false) {
    super(reason, message);
  }
}

/** One reload-log line (JSON). */
export function journalLine(ctx: RunContext, node: string, action: 'apply' | 'rollback', tenant: string, to: string, from?: string): string {
  // (safeJson: no raw DEL/C1 either, whatever the actor or tag hold: the form settle_intent accepts)
  return safeJson({
    time: ctx.now().toISOString(),
    action,
    node,
    tenant,
    release_id: to,
    ...(from ? { prev_release_id: from } : {}),
    ...(ctx.commit ? { commit: ctx.commit } : {}),
    ...(ctx.tag ? { tag: ctx.tag } : {}),
    actor: ctx.actor,
    run: ctx.run,
  });
}

/** One reload-log line for a unit (re)started after a swap: how, and the pids before and after. */
export function reloadLine(ctx: RunContext, node: string, tenant: string, releaseId: string, u: UnitReload): string {
  return safeJson({
    time: ctx.now().toISOString(),
    action: 'reload',
    node,
    tenant,
    release_id: releaseId,
    ...(ctx.commit ? { commit: ctx.commit } : {}),
    ...(ctx.tag ? { tag: ctx.tag } : {}),
    label: u.label,
    method: u.method,
    old_pid: u.oldPid,
    new_pid: u.newPid,
    actor: ctx.actor,
    run: ctx.run,
  });
}

/** The lock file is JSON written by printf on the node: keep the owner to characters that need no escaping. */
export function lockOwner(actor: string): string {
  return actor.replace(/[^A-Za-z0-9@._+-]/g, '_').slice(0, 128) || 'unknown';
}

/** The part of a lock request that comes from the run. */
export function lockRequest(ctx: RunContext): { run: string; owner: string; pid: number; ttlSec: number } {
  return { run: ctx.run, owner: lockOwner(ctx.actor), pid: ctx.pid, ttlSec: ctx.lockTtlSec };
}

function checkAbort(ctx: RunContext, node: string, step: ApplyStep): void {
  if (ctx.signal?.aborted) throw new StepError(step, 'Interrupted', `${node}: interrupted before ${step}; nothing of this step was done`);
}

export function blockedResult(np: NodePlan): NodeApplyResult {
  const why = np.issues.filter((i) => i.category === 'unreachable' || i.category === 'version-skew').map((i) => i.message);
  return {
    ...emptyResult(np.node),
    outcome: 'refused',
    step: np.status === 'VersionSkew' ? 'gate' : 'lock',
    reason: np.status,
    message: why.join('; ') || np.status,
  };
}

/** A node this run did not touch, and why. */
export function skippedResult(node: string, why: string): NodeApplyResult {
  return { ...emptyResult(node), outcome: 'skipped', message: `${node}: not touched: ${why}` };
}

function emptyResult(node: string): NodeApplyResult {
  return { node, outcome: 'unchanged', swapped: [], staged: [], reused: [], reusedFiles: 0, validated: [], checked: [], pruned: [], removed: [], refusedTenants: [], recovered: [], reloads: [], rolledBack: [], bytesSent: 0, commands: 0 };
}

/**
 * What one full validation (a `valid` record of PROMOTE, wrapper or plain openclaw) says about the release, for every
 * node of the run. Not for exit 78 (the node's own secret check refused: openclaw never ran). `undefined` when
 * openclaw printed no JSON verdict (it crashed, was killed, is broken on that node): the failure is that node's, and
 * the next node that needs the release validates it again. Pure. (A change to what it calls valid bumps
 * JUDGE_VERSION, validation-memo.ts: verdicts kept by the verdict store are keyed by it.)
 */
export function judge(node: string, desired: DesiredState, tenant: string, releaseId: string, output: string, exitCode: number): ReleaseVerdict | undefined {
  if (!hasJsonVerdict(output)) return undefined;
  const res = parseValidateOutput(output, exitCode);
  // the wrapper sets every secret variable the config names: one still missing is an error, never a warning. The
  // rendered config names only CLAWOPS_VAR_DB and the CLAWOPS_SECRET_* of secrets.list, so this depends on the
  // release's bytes, not on the node (whose secret files the wrapper checks on every node, `--check`)
  const unset = res.warnings.find((w) => /Missing env var/i.test(w.message));
  const wrapped = (desired.tenants.get(tenant)?.files ?? []).some((f) => f.path === 'bin/gateway-run');
  if (res.valid && unset && wrapped) return { valid: false, node, why: `release ${releaseId} would start with ${unset.path || 'a value'} unset (${unset.message})` };
  if (!res.valid) {
    const first = res.issues[0];
    const why = first ? `${first.path || '(root)'}: ${first.message}` : (res.error ?? 'invalid');
    return { valid: false, node, why: `openclaw config validate refused release ${releaseId}: ${why}` };
  }
  return { valid: true, node };
}

function hasJsonVerdict(output: string): boolean {
  try {
    const doc = JSON.parse(output) as unknown;
    return doc !== null && typeof doc === 'object' && 'valid' in doc;
  } catch {
    return false;
  }
}

/** FINISH: record this run's swaps from its intent file, prune, unlock. */
function finish(t: Transport, p: NodePaths, ctx: RunContext, desired: DesiredState, stdin: string): Promise<string[][]> {
  return runScript(t, FINISH_SCRIPT, [p.etc, p.varDb, ctx.run, String(desired.settings.releases.keep)], `${stdin}\n`);
}

export async function applyNode(t: Transport, np: NodePlan, desired: DesiredState, ctx: RunContext): Promise<NodeApplyResult> {
  const result = emptyResult(np.node);
  // tenants the planner left alone (not clawops-owned, secrets missing, quarantined) are this node's refusals too
  for (const tp of np.tenants.filter((x) => x.state === 'Blocked')) {
    const why = np.issues.filter((i) => i.tenant === tp.tenant && i.severity === 'error').map((i) => i.message);
    result.refusedTenants.push({ tenant: tp.tenant, message: `${np.node}/${tp.tenant}: refused: ${why.join('; ') || 'blocked'}` });
  }
  const planned = np.actions.filter((a): a is Extract<Action, { kind: 'deploy' }> => a.kind === 'deploy');
  const prunes = np.actions.filter((a): a is Extract<Action, { kind: 'prune' }> => a.kind === 'prune').map((a) => a.tenant);
  const reloadsOnly = np.actions.filter((a): a is Extract<Action, { kind: 'reload' }> => a.kind === 'reload');
  const nodeUnits = np.actions.filter((a): a is Extract<Action, { kind: 'node-unit' }> => a.kind === 'node-unit');
  const recoverOnly = planned.length === 0 && prunes.length === 0 && reloadsOnly.length === 0 && nodeUnits.length === 0;
  if (recoverOnly && !np.actions.some((a) => a.kind === 'recover')) return result;
  let deploys = planned;

  const p = t.paths(desired.settings.paths);
  const before = { bytes: t.stats.bytesSent, commands: t.stats.commands };
  const emit = (step: ApplyEvent['step'], state: ApplyEvent['state'], message?: string): void => ctx.onEvent({ node: np.node, step, state, ...(message !== undefined ? { message } : {}) });
  const stagingDirs: string[] = [];
  let step: ApplyStep = 'lock';
  let guard = false;
  /** validations this node claimed for the run: given back (for another node to do) if it ends without a verdict */
  let claims: Claim[] = [];
  /** what each tenant's service runs before its swap: its config and the inputs it read at start (PROMOTE) */
  const running = new Map<string, { config?: unknown; inputs: string[] }>();
  /** reloads still to come on this node (its last one may mark the guard passed), and whether one did */
  let reloadsLeft = 0;
  let passedMarked = false;
  /** extra reload-log records (reloads, automatic rollbacks) written by FINISH after this run's swap records */
  const journal: string[] = [];
  const h0 = healthSettings(desired.settings);
  const portOffset = desired.nodes.find((n) => n.name === np.node)?.port_offset ?? 0;
  const readyUrl = (tenant: string): string => {
    const d = desired.tenants.get(tenant);
    // the release's own probe unit answers on base + 115 (rendered without the node's offset), its gateway on base + offset
    return d ? readinessUrl(releaseReadiness(tenant, d.files, gatewayPort(d)), portOffset).url : 'http://127.0.0.1:0/readyz';
  };
  /** reload the tenant's units from release `id` and wait for it to be ready; the reason when it is not */
  const reloadAndGate = async (tenant: string, id: string): Promise<string | undefined> => {
    emit('reload', 'start', `${tenant}: launchd units of ${id}`);
    // the node's last reload: a hot one that is ready at once also tells the dead-man guard the gate passed
    const last = --reloadsLeft === 0;
    // every changed key hot-applies and nothing read at start changed: the gateway's own reload, verified
    const d = desired.tenants.get(tenant);
    const cur = running.get(tenant);
    if (d && cur) {
      const want = ['launchd/ai.openclaw.' + tenant + '.plist', 'secrets.list', 'bin/gateway-run'].map((f) => d.files.find((x) => x.path === f)?.sha256 ?? '-');
      const decision = decideReload(cur.config, d.openclaw, want.join(' ') === cur.inputs.join(' '));
      const check = decision.method === 'hot' ? hotCheckOf(d, decision.changed, p.varDb, tenant) : undefined;
      if (check && 'why' in check) emit('reload', 'warn', `${tenant}: not hot (${check.why}); restarting instead`);
      else if (check) {
        const hot = await hotReload(t, p, tenant, { port: gatewayPort(d) + portOffset, ...check, readiness: { url: readyUrl(tenant), allowDegraded: h0.allow_degraded } }, { releaseId: id, ...(ctx.commit ? { commit: ctx.commit } : {}), ...(ctx.tag ? { tag: ctx.tag } : {}), ...(guard ? { guardRun: ctx.run, markPassed: last } : {}) });
        if (hot.ok) {
          const u: UnitReload = { label: `ai.openclaw.${tenant}`, method: 'hot', oldPid: hot.pid ?? 0, newPid: hot.pid ?? 0 };
          journal.push(reloadLine(ctx, np.node, tenant, id, u));
          result.reloads.push({ tenant, ...u });
          emit('reload', 'done', `${u.label} hot (${decision.changed.join(', ')}) pid ${u.newPid}, applied after ${hot.ms ?? 0} ms, verified over its RPC`);
          // the gate's first question was asked in the same command: ready then is the gate passed at once
          if (hot.ready) {
            if (hot.passed) passedMarked = true;
            emit('health', 'done', `${tenant}: ready after 0 s`);
            return undefined;
          }
          return gateOnly(tenant, id);
        }
        emit('reload', 'warn', `${tenant}: hot reload not verified (${hot.why ?? '?'}); restarting instead`);
      }
    }
    const rl = await reloadUnits(t, p, tenant, id, guard ? ctx.run : undefined);
    for (const u of rl.reloads) journal.push(reloadLine(ctx, np.node, tenant, id, u));
    result.reloads.push(...rl.reloads.map((u) => ({ tenant, ...u })));
    if (!rl.ok) return `${tenant}: the service did not run release ${id}: ${rl.error ?? '?'}`;
    emit('reload', 'done', rl.reloads.map((u) => `${u.label} ${u.method} pid ${u.oldPid || '-'} → ${u.newPid}`).join(', '));
    return gateOnly(tenant, id);
  };
  const gateOnly = async (tenant: string, id: string): Promise<string | undefined> => {
    const g = await gate(t, readyUrl(tenant), `ai.openclaw.${tenant}`, h0, guard ? { paths: p, run: ctx.run } : undefined);
    if (!g.ready) return `${tenant}: release ${id} not ready ${(g.seconds ?? h0.deadline_sec) < h0.deadline_sec ? `(its service stopped after ${g.seconds ?? 0} s)` : `within ${h0.deadline_sec} s`}: ${g.reason ?? '?'}`;
    emit('health', 'done', `${tenant}: ready after ${g.seconds ?? 0} s`);
    return undefined;
  };
  /** automatic rollback: back to what the tenant ran, reload, gate again; the bad release is quarantined */
  const rollBackTenant = async (sw: SwapPlan, why: string, prevBefore: string | undefined): Promise<StepError> => {
    emit('health', 'fail', why);
    const undoRecord = safeJson({ ...(JSON.parse(journalLine(ctx, np.node, 'rollback', sw.tenant, sw.from ?? '', sw.to)) as object), reason: 'HealthCheckFailed', automatic: true, quarantined: sw.to });
    // journalled in the intent as it happens: the swap marked done, the undo's record, its mark once relinked; so both
    // are recorded however this run ends, and no swap back is claimed when the link was not put back
    const undo = await undoTenant(t, p, sw.tenant, sw.from, prevBefore, { run: ctx.run, record: undoRecord, from: sw.to });
    const noted = undo.noted ?? 0;
    // what the intent could not take is recorded with this run's other records (the swap's own record no longer
    // matches its link once put back); an intent another run already recorded ('gone') had the swap in it
    if (undo.relinked && noted === 0) journal.push(journalLine(ctx, np.node, 'apply', sw.tenant, sw.to, sw.from));
    for (const u of undo.reloads) journal.push(reloadLine(ctx, np.node, sw.tenant, sw.from ?? '', u));
    let back = sw.from ? `rolled back to ${sw.from}` : 'a first deploy: its units were removed';
    // a first deploy whose units could not be removed keeps its link (the tenant whole, deployed and stopped)
    if (!undo.ok && !sw.from && !undo.relinked) back = `a first deploy, not undone: ${undo.error ?? '?'}; its link stays on ${sw.to} (its service booted out or not, as said)`;
    else if (!undo.ok) back += ` (but: ${undo.error ?? '?'})`;
    else if (sw.from) {
      // the old release answers where ITS config says (a port change may be what failed)
      const url = (await releaseHealth(t, p.etc, sw.tenant, sw.from, portOffset))?.url ?? readyUrl(sw.tenant);
      const g = await gate(t, url, `ai.openclaw.${sw.tenant}`, h0);
      back += g.ready ? `, ready again after ${g.seconds ?? 0} s` : `, and that is not ready either: ${g.reason ?? '?'}`;
    }
    if (undo.relinked && noted !== 2) journal.push(undoRecord);
    await quarantine(t, p, sw.tenant, sw.to, JSON.stringify({ time: ctx.now().toISOString(), run: ctx.run, reason: why }));
    result.rolledBack.push({ tenant: sw.tenant, release: sw.to, ...(sw.from ? { to: sw.from } : {}), reason: why });
    emit('health', 'warn', `${sw.tenant}: ${back}; release ${sw.to} quarantined`);
    return new StepError('health', 'RolledBack', `${np.node}: ${why}; ${back}; release ${sw.to} quarantined (a new commit, or --retry-quarantined, tries again)`);
  };
  const want = planned.flatMap((a) => a.files.map((f) => `F\t${a.tenant}\t${a.releaseId}\t${f.path}\t${f.sha256}`)).join('\n') + '\n';

  try {
    // 1. lock (+ the facts for the gate and what is already staged, in the same command)
    emit('lock', 'start');
    let recs: string[][];
    try {
      recs = await takeNodeLock(t, p, { ...lockRequest(ctx), daemonSha: desired.lock.daemon.sha256, want, portOffset, onTakeover: (m) => emit('lock', 'warn', m) });
    } catch (e) {
      if (e instanceof ClawopsError && e.reason === 'NodeLocked') throw new StepError('lock', 'NodeLocked', e.message, true);
      throw e;
    }
    emit('lock', 'done');
    // what dead runs left behind: their swaps recorded first (a log that cannot be written stops everything)
    const recordFailed = recs.find((r) => r[0] === 'record-failed');
    if (recordFailed) throw new StepError('lock', 'RecordFailed', `${np.node}: cannot write the reload log (${recordFailed[1] ?? '?'}): a swap of an earlier run is not recorded yet; nothing was changed`);
    for (const r of recs.filter((x) => x[0] === 'recorded')) {
      result.recovered.push(`${r[1]}/${r[2]}`);
      emit('lock', 'warn', `recorded a swap run ${r[3] ?? '?'} made but never logged: ${r[1]} → ${r[2]}`);
    }
    const cleaned = recs.filter((r) => r[0] === 'cleaned').map((r) => r[1]!);
    if (cleaned.length > 0) emit('lock', 'warn', `removed what dead runs left: ${cleaned.join(', ')}`);
    if (recoverOnly) {
      step = 'record';
      await finish(t, p, ctx, desired, '');
      emit('record', 'done');
      result.outcome = result.recovered.length > 0 || cleaned.length > 0 ? 'applied' : 'unchanged';
      return result;
    }

    // 2. version gate: touch nothing on a node whose openclaw differs from the lock
    step = 'gate';
    const v = recs.find((r) => r[0] === 'version');
    const d = recs.find((r) => r[0] === 'daemon');
    const facts: VersionFacts = { exitCode: Number(v?.[1] ?? 127), line: (v?.[2] ?? '').slice(0, 512), ...(d ? { daemonPath: d[1]!, daemonSha: d[2]! } : {}) };
    const skew = versionMismatches(desired.lock, facts);
    if (skew.length === 0 && recs.some((r) => r[0] === 'gate-mismatch')) skew.push('daemon hash does not match openclaw.lock');
    if (skew.length > 0) throw new StepError('gate', 'VersionSkew', `${np.node}: ${skew.join('; ')}`, true);
    emit('gate', 'done');
    // a tenant whose tree on the node is not clawops' own is refused (and left alone); the others go on
    for (const r of recs.filter((x) => x[0] === 'refused')) {
      if (result.refusedTenants.some((x) => x.tenant === r[1])) continue;
      const message = `${np.node}/${r[1]}: refused: ${r[2] ?? 'not clawops-owned'}; fix it by hand, then apply again`;
      result.refusedTenants.push({ tenant: r[1]!, message });
      emit('gate', 'fail', message);
    }
    deploys = deploys.filter((a) => !result.refusedTenants.some((x) => x.tenant === a.tenant));
    if (deploys.length === 0 && prunes.length === 0 && reloadsOnly.length === 0 && nodeUnits.length === 0) throw new StepError('gate', 'UnexpectedEntry', result.refusedTenants.map((x) => x.message).join('; '), true);
    const disk = recs.find((r) => r[0] === 'disk');
    const diskNote = disk ? ` (${Math.round(Number(disk[1]) / 1024)} MiB free under ${p.etc})` : '';
    for (const r of recs.filter((x) => x[0] === 'reuse-failed')) emit('stage', 'warn', `could not copy ${r[1]}/${r[2]} on the node (${r[3] ?? '?'}); sending it`);

    // 2b. node units first (the notifier: gateways report webhook failures to it)
    for (const a of nodeUnits) {
      step = 'reload';
      const spec = desired.nodes.find((n) => n.name === np.node);
      const nu = spec ? notifierUnitFor(desired, spec) : undefined;
      if (!nu || nu.label !== a.label) continue;
      emit('reload', 'start', `${nu.label}`);
      const rl = await installNodeUnit(t, p, nu.label, nu.content);
      for (const u of rl.reloads) {
        journal.push(reloadLine(ctx, np.node, '(node)', nu.sha256.slice(0, 16), u));
        result.reloads.push({ tenant: '(node)', ...u });
      }
      if (!rl.ok) throw new StepError('reload', 'HealthCheckFailed', `${np.node}: the notifier did not start: ${rl.error ?? '?'}`);
      emit('reload', 'done', rl.reloads.map((u) => `${u.label} ${u.method} pid ${u.oldPid || '-'} → ${u.newPid}`).join(', '));
      step = 'health';
      const listen = notifierVars(desired.settings, spec?.port_offset ?? 0).listen;
      const g = await gate(t, `http://${listen}/healthz`, nu.label, h0);
      if (!g.ready) throw new StepError('health', 'HealthCheckFailed', `${np.node}: the notifier is not healthy: ${g.reason ?? '?'}`);
      emit('health', 'done', `${nu.label}: healthy after ${g.seconds ?? 0} s`);
    }

    // 3. stage what the node does not already have complete (content-addressed: same id, same bytes)
    step = 'stage';
    checkAbort(ctx, np.node, step);
    const status = new Map(recs.filter((r) => r[0] === 'have' || r[0] === 'need' || r[0] === 'corrupt').map((r) => [r[1]!, r[0]!]));
    for (const g of recs.filter((r) => r[0] === 'gc')) emit('stage', 'warn', `removed stale staging dir ${g[1]}`);
    const toStage = deploys.filter((a) => status.get(a.tenant) !== 'have');
    result.reused = deploys.filter((a) => status.get(a.tenant) === 'have').map((a) => a.tenant);
    if (toStage.length > 0) emit('stage', 'start', toStage.map((a) => a.tenant).join(', '));
    const onNode = new Set(recs.filter((r) => r[0] === 'reuse').map((r) => `${r[1]}\0${r[2]}`));
    for (const a of toStage) {
      const dir = `${p.etc}/releases/${a.tenant}/${a.releaseId}.tmp-${ctx.run}`;
      stagingDirs.push(dir);
      const manifest = buildManifest(desired.tenants.get(a.tenant) ?? { id: a.tenant, releaseId: a.releaseId, files: a.files }, {
        ...(ctx.commit ? { commit: ctx.commit } : {}),
        ...(ctx.tag ? { tag: ctx.tag } : {}),
        createdAt: ctx.now().toISOString(),
        actor: ctx.actor,
      });
      // files the node already copied from its current release (byte-identical) are not sent again
      const files = [...a.files.filter((f) => !onNode.has(`${a.tenant}\0${f.path}`)).map((f) => ({ path: f.path, content: f.content })), { path: MANIFEST_PATH, content: manifestBytes(manifest) }];
      result.reusedFiles += a.files.length - (files.length - 1);
      try {
        // one tar, extracted by the node inside the staging dir it stands in (never written by path: a link planted at
        // the dir's name, which node.lock tells, would take the files elsewhere)
        await stageRelease(t, p, ctx.run, a.tenant, a.releaseId, files, [...onNode].some((k) => k.startsWith(`${a.tenant}\0`)));
      } catch (e) {
        throw new StepError('stage', 'StageFailed', `${np.node}: staging ${a.tenant} release ${a.releaseId} failed: ${oneLine(e).replace(`${np.node}: `, '')}${diskNote}; nothing was swapped`);
      }
      result.staged.push(a.tenant);
    }

    if (toStage.length > 0) emit('stage', 'done', `sent ${toStage.reduce((n, a) => n + a.files.length + 1, 0) - result.reusedFiles} files (${t.stats.bytesSent - before.bytes} bytes), ${result.reusedFiles} unchanged files copied on the node; ${result.reused.length} release(s) already there`);

    // 3b + 4. verify staged bytes, rename into place, validate every release about to go live (one command); a
    // release another node of this run (or an earlier run, kept in the verdict store) already found valid (same bytes,
    // same OpenClaw build) gets this node's own checks only (its secret files), one that another node of this run
    // found invalid is refused here too
    step = 'validate';
    checkAbort(ctx, np.node, step);
    emit('validate', 'start', `verify ${deploys.map((a) => a.tenant).join(', ')}; \`openclaw config validate\` each release not yet found valid with this build (by another node of this run, or an earlier run), else this node's secret check`);
    // the build that judges: the entry point's and dist/build-info.json's hashes (a rebuild behind the same launcher
    // has a new build id) and the version line
    const build = `${facts.daemonSha ?? '-'} ${d?.[3] || '-'} ${facts.line}`;
    // (keyed by the release's whole digest, not its 16-hex id: a kept verdict outlives the run)
    const digests = new Map<string, string>();
    const digestOf = (tenant: string, id: string): string => {
      const td = desired.tenants.get(tenant);
      if (!td || td.releaseId !== id) return id;
      let x = digests.get(tenant);
      if (x === undefined) digests.set(tenant, (x = releaseDigestOf(td.files)));
      return x;
    };
    const keyOf = (a: { tenant: string; releaseId: string }): string => verdictKey(build, a.tenant, digestOf(a.tenant, a.releaseId));
    // without waiting: a release another node is validating right now ('pending') gets this node's own part (verify,
    // place, its secret check) meanwhile; its verdict is awaited after, before anything is swapped
    const memo = ctx.validations ?? new ValidationMemo();
    const decisions = memo.decideNow(np.node, deploys.map(keyOf));
    claims = [...decisions.values()].flatMap((x) => (x.kind === 'validate' ? [x.claim] : []));
    const decision = (a: { tenant: string; releaseId: string }): Decision | Pending => decisions.get(keyOf(a))!;
    const refuse = (a: { tenant: string }, v: Extract<ReleaseVerdict, { valid: false }>): StepError =>
      new StepError('validate', 'InvalidConfig', `${np.node}/${a.tenant}: ${v.why} (validated once this run, on ${v.node}); refusing the swap`);
    for (const a of deploys) {
      const x = decision(a);
      if (x.kind === 'refuse') throw refuse(a, x.verdict);
    }
    const full = deploys.filter((a) => decision(a).kind === 'validate');
    const checkOnly = deploys.filter((a) => decision(a).kind === 'check' || decision(a).kind === 'pending');
    const promoteIn = [
      ...toStage.map((a) => `S\t${a.tenant}\t${a.releaseId}`),
      ...full.map((a) => `V\t${a.tenant}\t${a.releaseId}`),
      ...checkOnly.map((a) => `C\t${a.tenant}\t${a.releaseId}`),
    ].join('\n');
    // validation is ~1 CPU-second per release on the node: allow for it on top of the usual command timeout
    const promote = (input: string, validating: number): Promise<string[][]> => runScript(t, PROMOTE_SCRIPT, [p.etc, ctx.run, p.varDb], `${input}\n`, desired.settings.ssh.command_timeout_ms + validating * VALIDATE_ALLOWANCE_MS);
    /** PROMOTE found the node lock taken over (expired?): nothing was swapped */
    const lockLost = (at: ApplyStep, recs: string[][]): void => {
      if (recs.some((r) => r[0] === 'lock-lost')) throw new StepError(at, 'NodeLocked', `${np.node}: the node lock is no longer this run's (expired and taken over?); nothing was swapped`);
    };
    let pr = await promote(promoteIn, full.length);
    lockLost('stage', pr);
    const refusedNow = pr.filter((r) => r[0] === 'refused');
    if (refusedNow.length > 0) throw new StepError('stage', 'UnexpectedEntry', `${np.node}: ${refusedNow.map((r) => escapeInline(`${r[1]}: ${r[2]}`)).join('; ')}; nothing was swapped`);
    const repairFailed = pr.filter((r) => r[0] === 'repair-failed');
    if (repairFailed.length > 0) throw new StepError('stage', 'StageFailed', `${np.node}: could not put release files in place: ${repairFailed.map((r) => escapeInline(`${r[1]}: ${r[2]}`)).join('; ')}${diskNote}; nothing was swapped`);
    const bad = pr.filter((r) => r[0] === 'bad');
    // (names as the node's find printed them: anything planted in a staging dir, so escaped for the terminal)
    if (bad.length > 0) throw new StepError('stage', 'StageFailed', `${np.node}: staged files do not match what was sent: ${bad.map((r) => escapeInline(`${r[1]}/${(r[2] ?? '').replace(/^\.\//, '')}`)).join(', ')}`);
    stagingDirs.length = 0; // promoted (or repaired) and gone
    /** every verdict of PROMOTE's records first (other nodes wait for them), then this node's failures */
    const verdicts = (recs: string[][]): StepError[] => {
      const failures: StepError[] = [];
      for (const r of recs.filter((x) => x[0] === 'valid' || x[0] === 'checked')) {
        const [kind, tenant = '', id = '', rc = ''] = r;
        (kind === 'valid' ? result.validated : result.checked)?.push(tenant);
        const out = Buffer.from(r[4] ?? '', 'base64').toString('utf8');
        const claim = claims.find((c) => c.key === verdictKey(build, tenant, digestOf(tenant, id)));
        // exit 78: this node's own secret files (the wrapper's one line); openclaw did not run, so no verdict
        if (rc === '78') {
          claim?.giveBack();
          failures.push(new StepError('validate', 'InvalidConfig', `${np.node}/${tenant}: refused before the swap: ${escapeInline(out.trim().split('\n')[0] ?? 'secret check failed')}`));
          continue;
        }
        if (kind === 'checked') {
          if (rc !== '0') failures.push(new StepError('validate', 'InvalidConfig', `${np.node}/${tenant}: the secret check of release ${id} failed (exit ${escapeInline(rc)}): ${escapeInline(out.trim().split('\n')[0] ?? '')}; refusing the swap`));
          continue;
        }
        const verdict = judge(np.node, desired, tenant, id, out, Number(rc));
        if (!verdict) {
          claim?.giveBack();
          const res = parseValidateOutput(out, Number(rc));
          failures.push(new StepError('validate', 'InvalidConfig', `${np.node}/${tenant}: openclaw config validate refused release ${id}: ${res.error ?? 'invalid'}`));
          continue;
        }
        claim?.settle(verdict);
        if (!verdict.valid) failures.push(new StepError('validate', 'InvalidConfig', `${np.node}/${tenant}: ${verdict.why}; refusing the swap`));
      }
      return failures;
    };
    const failures = verdicts(pr);
    if (failures[0]) throw failures[0];
    // this node's claims are all settled now: wait for the verdicts other nodes were working on meanwhile. One whose
    // validation ended without a verdict (given back) is validated here, on the release this node just placed
    const by = new Map(checkOnly.flatMap((a) => { const x = decision(a); return x.kind === 'check' ? [[a.tenant, validatedBy(x.verdict)] as const] : []; }));
    const waiting = checkOnly.filter((a) => decision(a).kind === 'pending');
    if (waiting.length > 0) {
      const deciding = memo.decide(np.node, waiting.map(keyOf), ctx.signal);
      const later = await (ctx.whileWaiting ? ctx.whileWaiting(deciding) : deciding);
      checkAbort(ctx, np.node, step);
      claims = [...later.values()].flatMap((x) => (x.kind === 'validate' ? [x.claim] : []));
      for (const a of waiting) {
        const x = later.get(keyOf(a))!;
        if (x.kind === 'refuse') throw refuse(a, x.verdict);
        if (x.kind === 'check') by.set(a.tenant, validatedBy(x.verdict));
      }
      const again = waiting.filter((a) => later.get(keyOf(a))!.kind === 'validate');
      if (again.length > 0) {
        const pr2 = await promote(again.map((a) => `V\t${a.tenant}\t${a.releaseId}`).join('\n'), again.length);
        lockLost('validate', pr2);
        result.checked = result.checked?.filter((x) => !again.some((a) => a.tenant === x));
        const f2 = verdicts(pr2);
        if (f2[0]) throw f2[0];
        pr = [...pr, ...pr2];
      }
    }
    const validatedHere = result.validated?.length ?? 0;
    // the tenants each validator found valid: `acme, globex validated on gw-1 this run, initech on gw-2 in run R`
    const groups = new Map<string, string[]>();
    for (const [tenant, label] of by) groups.set(label, [...(groups.get(label) ?? []), tenant]);
    const elsewhere = [...groups].map(([label, ts], i) => `${ts.join(', ')} ${i === 0 ? 'validated ' : ''}on ${label}`).join(', ');
    emit('validate', 'done', `${deploys.length} release(s) valid${by.size > 0 ? ` (${validatedHere} validated here; ${elsewhere}, secrets checked here)` : ''}`);

    // 5. swap: .prev first, then current, each a rename(2) of a fresh temporary symlink over the old one
    step = 'swap';
    checkAbort(ctx, np.node, step);
    const links = new Map<string, { current?: LinkFact; prev?: LinkFact }>();
    for (const r of pr.filter((x) => x[0] === 'link')) {
      const l = links.get(r[1]!) ?? {};
      if (r[3]) l[r[2] as 'current' | 'prev'] = { id: r[3], complete: r[4] === '1' };
      links.set(r[1]!, l);
    }
    for (const r of pr.filter((x) => x[0] === 'curcfg' || x[0] === 'curunit')) {
      const e = running.get(r[1]!) ?? { inputs: [] };
      if (r[0] === 'curunit') e.inputs = r.slice(2);
      else {
        try {
          e.config = JSON.parse(Buffer.from(r[2] ?? '', 'base64').toString('utf8')) as unknown;
        } catch {
          /* unreadable: restart */
        }
      }
      running.set(r[1]!, e);
    }
    const swaps = deploys.flatMap((a) => {
      const sw = planSwap(a.tenant, a.releaseId, links.get(a.tenant) ?? {});
      return sw ? [sw] : [];
    });
    const h = h0;
    const withUnits = (tenant: string): boolean => (desired.tenants.get(tenant)?.files ?? []).some((f) => f.path.startsWith('launchd/'));
    const guarded = swaps.filter((sw) => withUnits(sw.tenant));
    if (swaps.length > 0) {
      // the dead-man guard first: from here on the node reverts by itself unless this run confirms in time
      if (guarded.length > 0) {
        const secs = (h.deadline_sec + RELOAD_WAIT_SEC + 30) * guarded.length + h.confirm_sec;
        const pid = await startGuard(t, p, ctx.run, secs, h.confirm_sec, guarded.map((sw) => ({ tenant: sw.tenant, to: sw.to, ...(sw.from ? { from: sw.from } : {}), ...(links.get(sw.tenant)?.prev ? { prevBefore: links.get(sw.tenant)!.prev!.id } : {}) })));
        guard = true;
        emit('swap', 'start', `dead-man guard pid ${pid} reverts ${guarded.map((g) => g.tenant).join(', ')} unless confirmed within ${h.confirm_sec} s of the health gate`);
      }
      // intent next: a kill between here and the record leaves evidence the next run completes
      const intent = swaps.map((sw) => journalLine(ctx, np.node, 'apply', sw.tenant, sw.to, sw.from)).join('\n') + '\n';
      try {
        await writeIntent(t, p, ctx.run, intent);
      } catch (e) {
        throw new StepError('swap', 'RecordFailed', `${np.node}: cannot write the swap intent before swapping (${oneLine(e).replace(`${np.node}: `, '')})${diskNote}; nothing was swapped`);
      }
      await t.files.mkdirp(`${p.etc}/tenants`);
    }
    // one tenant at a time: swap, reload, health gate; a tenant that does not become ready is put back at once
    let failure: StepError | undefined;
    reloadsLeft = swaps.filter((sw) => withUnits(sw.tenant)).length + reloadsOnly.length;
    for (const sw of swaps) {
      step = 'swap';
      const base = `${p.etc}/tenants`;
      // right before the rename that swaps current, the lock is read again (one SFTP read a swap): a run that stalled
      // past its lock's TTL and was taken over meanwhile swaps nothing more behind the run that now holds the node
      const lockStill = async (): Promise<void> => {
        if (await lockStillOurs(t, p, ctx.run)) return;
        const done = result.swapped.map((x) => `${x.tenant} → ${x.to}`);
        throw new StepError('swap', 'NodeLocked', `${np.node}: the node lock is no longer this run's (expired and taken over?); ${done.length ? `swapped before that: ${done.join(', ')}; ${sw.tenant} and the rest were not` : 'nothing was swapped'}`);
      };
      // current certainly not moved: .prev goes back (swapLinks), not when the lock is another run's now
      await swapLinks(t, base, sw, links.get(sw.tenant)?.prev?.id, ctx.run, lockStill, (e) => !(e instanceof StepError && e.reason === 'NodeLocked'));
      result.swapped.push({ tenant: sw.tenant, ...(sw.from ? { from: sw.from } : {}), to: sw.to });
      emit('swap', 'done', `${sw.tenant}: ${sw.from ?? '(none)'} → ${sw.to}`);
      if (sw.note) emit('swap', 'warn', `${sw.tenant}: ${sw.note}`);
      if (!withUnits(sw.tenant)) continue;
      const why = await reloadAndGate(sw.tenant, sw.to);
      if (why === undefined) continue;
      failure = await rollBackTenant(sw, why, links.get(sw.tenant)?.prev?.id);
      break;
    }
    // services that run an older release than their link (NotReloaded): reload and gate, nothing to swap
    const reloadedOk: { tenant: string; id: string }[] = [];
    for (const a of failure ? [] : reloadsOnly) {
      const why = await reloadAndGate(a.tenant, a.releaseId);
      if (why !== undefined) {
        failure = new StepError('health', 'HealthCheckFailed', `${np.node}: ${why} (its link was already current: nothing to roll back to)`);
        break;
      }
      reloadedOk.push({ tenant: a.tenant, id: a.releaseId });
    }
    // releases now live and past their gate are no longer quarantined (one that --retry-quarantined made live);
    // never a tenant put back (its failed release stays quarantined, also when the undo could not finish)
    const live = [...result.swapped.map((x) => ({ tenant: x.tenant, id: x.to })), ...reloadedOk].filter((x) => !result.rolledBack.some((r) => r.tenant === x.tenant));
    // the guard's confirmation (a new connection) and this node's prunes, record and unlock (the run's own connection)
    // at once: neither needs the other. The guard only ever reverts a tenant whose link still points at this run's
    // release, lock or no lock, and a confirmation that fails leaves it to do so whatever FINISH did meanwhile
    const confirmStep = step;
    const confirming = guard
      ? (async () => {
          // the gate passed (or the failed tenant is back): the guard waits confirm_sec more, and stands down only when
          // a NEW connection confirms (proof this controller can still reach the node)
          // (the mark and the new connection's handshake at once: the confirmation is sent only after both)
          // (already marked by the last hot reload when it was ready at once)
          const [, t2] = await Promise.all([passedMarked ? undefined : markPassed(t, p, ctx.run).catch(() => undefined), ctx.reconnect?.(np.node)]);
          let confirmed: boolean;
          if (t2) {
            try {
              confirmed = await confirmGuard(t2, t2.paths(desired.settings.paths), ctx.run);
            } finally {
              await t2.close();
            }
          } else confirmed = await confirmGuard(t, p, ctx.run);
          emit('health', confirmed ? 'done' : 'warn', confirmed ? 'dead-man guard confirmed over a new connection' : 'the dead-man guard was already gone when confirming');
        })()
      : Promise.resolve();

    // tenants --prune could not remove (nothing of them changed), and what FINISH could not remove of the others
    const pruneRefused: string[] = [];
    const recording = async (): Promise<string[][]> => {
      // tenants removed with --prune: each checked whole on the node first, journalled, then its services stopped and
      // units removed (launchd must not run a deleted release) and its links removed; FINISH removes its tree
      let unlinked: string[] = [];
      if (prunes.length > 0) {
        step = 'prune';
        const pr = await pruneTenants(t, p, ctx.run, prunes.map((x) => ({ tenant: x, record: journalLine(ctx, np.node, 'apply', x, '') })));
        unlinked = pr.unlinked;
        for (const r of pr.refused) {
          emit('prune', 'warn', `${r.tenant}: ${r.why}`);
          pruneRefused.push(`--prune left ${r.tenant} as it was: ${r.why}`);
        }
      }
      // 6 + 7. reload log, prune, unlock (one command)
      step = 'record';
      const finishIn = [...deploys.map((a) => `P\t${a.tenant}`), ...unlinked.map((x) => `X\t${x}`), ...live.map((x) => `Q\t${x.tenant}\t${x.id}`), ...journal.map((j) => `J\t${j}`)].join('\n');
      return finish(t, p, ctx, desired, finishIn);
    };
    // both over before this node's result: a confirmation still in flight is never cut off by the run's end
    const [finished, confirmed] = await Promise.allSettled([recording(), confirming]);
    if (confirmed.status === 'rejected') {
      step = confirmStep;
      throw confirmed.reason;
    }
    if (finished.status === 'rejected') throw finished.reason;
    const fin = finished.value;
    if (fin.some((r) => r[0] === 'lock-lost')) emit('record', 'warn', 'the node lock was no longer ours at the end of the run');
    const notRecorded = fin.find((r) => r[0] === 'record-failed');
    if (notRecorded) {
      const live = result.swapped.map((sw) => {
        const back = result.rolledBack.find((x) => x.tenant === sw.tenant);
        return back ? `${sw.tenant} to ${sw.to}, then back to ${back.to ?? '(none)'}` : `${sw.tenant} now runs ${sw.to}`;
      }).join(', ');
      throw new StepError('record', 'RecordFailed', `${np.node}: swapped (${live}) but could not write the reload log: ${notRecorded[1] ?? '?'}; ${keptNote(fin)}`);
    }
    result.pruned = fin.filter((r) => r[0] === 'pruned').map((r) => `${r[1]}/${r[2]}`);
    result.removed = fin.filter((r) => r[0] === 'removed').map((r) => r[1]!);
    emit('record', 'done');
    if (result.pruned.length > 0 || result.removed.length > 0) emit('prune', 'done', [...result.pruned, ...result.removed.map((x) => `tenant ${x}`)].join(', '));
    for (const r of fin.filter((x) => x[0] === 'remove-failed')) pruneRefused.push(`--prune removed ${r[1] ?? '?'}'s units and links but not its whole tree: ${r[2] ?? '?'}`);
    const pruneNote = pruneRefused.length > 0 ? `${pruneRefused.map((m) => escapeInline(m)).join('; ')}; fix it by hand, then apply --prune again` : '';
    // (a failure of its own says what --prune could not do too: one line for the node)
    if (failure) throw pruneNote ? new StepError(failure.step, failure.reason as StepReason, `${failure.message}; ${pruneNote}`) : failure;
    if (pruneNote) throw new StepError('prune', 'UnexpectedEntry', `${np.node}: ${pruneNote}`);
    result.outcome = result.swapped.length > 0 || result.removed.length > 0 || result.staged.length > 0 ? 'applied' : 'unchanged';
    if (result.refusedTenants.length > 0) {
      result.step = 'gate';
      result.reason = 'TenantsRefused';
      result.message = result.refusedTenants.map((x) => x.message).join('; ');
    }
  } catch (e) {
    result.outcome = e instanceof StepError && e.refused ? 'refused' : e instanceof StepError && e.reason === 'Interrupted' ? 'skipped' : 'failed';
    result.step = e instanceof StepError ? e.step : step;
    result.reason = e instanceof ClawopsError ? e.reason : 'Error';
    const msg = oneLine(e);
    result.message = msg.startsWith(`${np.node}`) ? msg : `${np.node}: ${msg}`;
    emit(result.step, 'fail', result.message);
    // validations this node claimed and could not finish: the next node that needs the release does them
    for (const c of claims) c.giveBack();
    // Always (UNLOCK checks the lock is ours): record the swaps that did happen, remove this run's staging dirs,
    // release the lock. Best effort: the connection may be what failed; the next apply removes stale staging dirs.
    await unlockAfterFailure(t, p, ctx.run);
  } finally {
    result.bytesSent = t.stats.bytesSent - before.bytes;
    result.commands = t.stats.commands - before.commands;
  }
  return result;
}
