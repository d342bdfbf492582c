/**
 * The on-call status model: one pure function from the controller's stored status (controller/status.ts) to the view
 * every status view renders — `clawops status` text and `--json`, the controller's page (`GET /`) and its metrics
 * (`GET /metrics`). No view re-derives a state: they read `state`, `triage`, `next` and the gate from here, and the
 * states themselves are the controller's (its closed vocabulary, ordered by isWorse).
 *
 * Nodes are ordered worst first; the ones that are not Synced are also grouped in the runbook's triage order
 * (unreachable, directory drift, version skew, probe, token overlap, then rollout: apply, gating, config), the order
 * `clawops diff` uses for its findings. specs/status.md documents the JSON field names.
 */
import { CONTROLLER_STATES, isWorse, MAX_DIGEST_ROWS, MAX_PASS_HISTORY, own, type ApplyResult, type ControllerState, type HealthStatus, type NodeStatusRecord, type PassHistoryEntry, type PassNodeChange, type ProbeSummary, type RollbackResult, type StatusDoc, type TenantTokens, type WebhookDigestSummary, type WebhookFailureRow } from '../controller/status.js';
import { CATEGORIES, CATEGORY_TITLES, type Category } from '../plan/types.js';

/** The version of this JSON shape (`clawops status --json`, `GET /` as JSON); bumped on incompatible changes. */
export const STATUS_VIEW_VERSION = 1;

export type TriageCategory = Category | 'rollout';
export const TRIAGE_ORDER: readonly TriageCategory[] = [...CATEGORIES, 'rollout'];
export const TRIAGE_TITLES: Record<TriageCategory, string> = { ...CATEGORY_TITLES, rollout: 'Rollout (apply, gating, config)' };

/** A finding the source knows beyond the node record (only a one-off observe has the planner's issues). */
export interface NoteView {
  category: Category;
  severity: 'error' | 'warning' | 'info';
  reason: string;
  tenant?: string;
  message: string;
}

export interface RevView {
  ref?: string;
  commit?: string;
  tag?: string;
}

export interface TenantView {
  tenant: string;
  state: ControllerState;
  reason: string;
  message?: string;
  /** the planner's tenant state: InSync, NotDeployed, Changed, Drifted, Unassigned, Blocked */
  sync: string;
  desiredRelease?: string;
  currentRelease?: string;
  /** commit/tag the running release was made from */
  commit?: string;
  tag?: string;
  health: HealthStatus;
  healthMessage?: string;
  service?: string;
  pid?: number;
  since: string;
  /** token rotation state: overlap word, presence, mode and mtime of token.current/token.next, and one line saying it (absent: not observed) */
  token?: TenantTokens & { summary: string };
  /** the readiness answer the controller's health stage last got on the node (absent: not asked yet) and one line saying it */
  probe?: ProbeSummary & { summary: string };
  /** webhook failures a notifier's digest counts for this tenant (rows, and their counts summed; absent: none) */
  webhookFailures?: { rows: number; count: number };
}

/** One row of the webhook failures block: a notifier's digest row, and which notifier node counted it. */
export interface WebhookFailureView extends WebhookFailureRow {
  node: string;
}

/** The notifiers' digests: each notifier node's read, and their rows worst first (bounded). */
export interface WebhookFailuresView {
  notifiers: ({ node: string } & Omit<WebhookDigestSummary, 'rows'> & { rows: number })[];
  rows: WebhookFailureView[];
}

/** a node's stored identity and state, as the controller recorded it, plus what the views derive */
export interface NodeView extends Pick<NodeStatusRecord, 'node' | 'role' | 'canary' | 'follows' | 'state' | 'reason' | 'message'> {
  /** the first triage group that applies (null when Synced) */
  triage: TriageCategory | null;
  /** every triage group that applies, in triage order */
  categories: TriageCategory[];
  /** lastTransition: in this state since */
  since: string;
  /** the planner's node status: InSync, OutOfSync, Drifted, VersionSkew, Unreachable, HostKeyMismatch, ObserveFailed */
  syncStatus: string;
  differences: number;
  health: { status: HealthStatus; message?: string };
  /** what the node is reconciled to, and the openclaw version it must run (when the source knows it) */
  desired: RevView & { openclaw?: string };
  /** what its releases were made from, and the openclaw it runs */
  running: { revisions: { commit?: string; tag?: string }[]; openclaw?: string };
  /** a newer fleet commit held back by the canary gate (Gated nodes) */
  held?: { commit: string; tag?: string };
  suspended: boolean;
  backoff?: { kind: 'observe' | 'apply'; failures: number; until: string };
  lastError?: { time: string; reason: string; message: string };
  /** the end of the last pass that found it Synced, when known */
  lastSyncedAt?: string;
  tenants: TenantView[];
  /** a notifier node's webhook-failure digest as the controller last read it (absent: not a notifier node, or not read yet) */
  webhookDigest?: WebhookDigestSummary;
  /** token files (overlap, modes, missing): null when the source does not record them (the controller store) */
  tokens: NoteView[] | null;
  /** probe and token findings of a one-off observe; empty from the store */
  notes: NoteView[];
  /** what on-call does next, one line */
  next: string;
}

export interface CanaryView {
  node: string;
  running: boolean;
  healthGate: 'passed' | 'failed' | 'not-run';
  greenPasses: number;
  health: HealthStatus;
  note?: string;
}

/** The canary gate of the newest fleet commit (the head of refs.fleet). */
export interface GateView {
  commit: string;
  ref?: string;
  tag?: string;
  /** unseen: no canary has run it yet (no evidence in the store) */
  verdict: 'pending' | 'proven' | 'failed' | 'unseen';
  verdictAt?: string;
  failure?: { time: string; reason: string; message: string; node?: string };
  /** gating.green_passes, when the controller's gate messages name it (the store does not keep the setting) */
  required?: number;
  open: boolean;
  /** it is the commit that fanned out last */
  fannedOut: boolean;
  canaries: CanaryView[];
  /** fixture replay from the canaries, when the controller's replay stage recorded any */
  replay?: {
    status: 'passed' | 'failed' | 'pending';
    /** what is missing (pending) or the failures naming the fixtures (failed) */
    message?: string;
    /** fixtures an enabled endpoint names: each must be matched from a canary */
    required: number;
    canaries: { node: string; ok: boolean; at: string; deliveries: number; mismatched: number }[];
  };
  /** one line: "waiting for canary gw-1 green 1/2 on 3f2a9c1" */
  summary: string;
}

export interface PassView {
  id: string;
  startedAt: string;
  finishedAt?: string;
  /** ok, Running, SourceUnavailable, ValidationFailed, Interrupted, PassFailed… */
  outcome: string;
  message?: string;
  durationMs?: number;
  /** what the pass changed (state transitions, applies, rollbacks, fan-outs, verdicts), one line each; null when unknown */
  changes: string[] | null;
  /** the same per node: state before and after, what apply did (absent when unknown) */
  nodes?: PassNodeChange[];
}

export interface StatusView {
  kind: 'clawops.status';
  version: number;
  generatedAt: string;
  from: { kind: 'controller' | 'state-dir' | 'observe'; where: string };
  controller?: { pid: number; startedAt: string; mode: 'auto' | 'observe'; repo: string; intervalSec: number };
  source: {
    origin: string;
    reason: string;
    lastFetch?: string;
    failures: number;
    lastError?: { time: string; reason: string; message: string };
    canary: RevView & { spec: string; error?: string };
    fleet: RevView & { spec: string; error?: string };
  };
  lastPass?: PassView;
  /** the status is older than the controller's schedule explains (is it running?) */
  stale: boolean;
  summary: { total: number; worst: ControllerState; counts: Record<ControllerState, number> };
  /** every node Synced and healthy, and nothing wrong with the controller: exit 0 */
  ok: boolean;
  /** what is wrong besides the nodes (source, last pass, staleness, no nodes) */
  problems: string[];
  nodes: NodeView[];
  /** nodes that are not Synced, by triage group (in triage order, worst first within a group) */
  triage: { category: TriageCategory; title: string; nodes: string[] }[];
  synced: string[];
  gate?: GateView;
  /** the notifier nodes' webhook-failure digests (empty when no notifier node was read) */
  webhookFailures: WebhookFailuresView;
  /** newest first */
  passes: PassView[];
}

/** What a status source knows beyond the store. */
export interface ViewOptions {
  now: Date;
  from: StatusView['from'];
  /** only these nodes (`--node`) */
  nodes?: readonly string[];
  /** per node, the planner's issues (a one-off observe) */
  notes?: ReadonlyMap<string, NoteView[]>;
  /** the openclaw version openclaw.lock wants (a one-off observe) */
  openclaw?: string;
}

// (a status store written before manifests were checked may hold a node's non-string "commit": never a crash)
export const shortCommit = (c: string | undefined): string => (typeof c === 'string' ? c.slice(0, 7) : '');
const short = shortCommit;
/** `release/2 3f2a9c1` */
export const revLabel = (r: { commit?: string; tag?: string } | undefined): string => (r ? [r.tag, short(r.commit)].filter((x) => x).join(' ') : '');
const rev = revLabel;

const rank = (s: ControllerState): number => CONTROLLER_STATES.indexOf(s);
const triageRank = (c: TriageCategory | null): number => (c === null ? TRIAGE_ORDER.length : TRIAGE_ORDER.indexOf(c));

const UNREACHABLE = new Set(['Unreachable', 'HostKeyMismatch', 'ObserveFailed', 'BackingOff']);
const DRIFT = new Set(['Drifted', 'UnexpectedEntry', 'Quarantined']);
const PROBE = new Set(['RolledBack', 'HealthCheckFailed', 'ServiceNotRunning', 'ServiceNotLoaded', 'NotReloaded', 'LowDisk', 'ProbeFailed', 'ProbeDegraded', 'ProbeUnreachable']);
const TOKEN = new Set(['SecretMissing', 'SecretMode', 'TokenMode', 'TokenNotRotated']);

/** Every triage group a node's record puts it in, in triage order. Synced nodes are in none. */
export function triageOf(n: NodeStatusRecord, notes: readonly NoteView[] = []): TriageCategory[] {
  if (n.state === 'Synced') return [];
  const tenants = Object.values(n.tenants ?? {});
  const reasons = new Set([n.reason, ...tenants.map((t) => t.reason), ...notes.filter((x) => x.severity !== 'info').map((x) => x.reason)]);
  const has = (set: Set<string>): boolean => [...reasons].some((r) => set.has(r));
  const out: TriageCategory[] = [];
  if (n.state === 'Unreachable' || UNREACHABLE.has(n.sync?.status ?? '') || has(UNREACHABLE)) out.push('unreachable');
  if (n.sync?.status === 'Drifted' || tenants.some((t) => t.sync?.state === 'Drifted') || has(DRIFT)) out.push('drift');
  if (n.sync?.status === 'VersionSkew' || reasons.has('VersionSkew')) out.push('version-skew');
  if (n.state === 'Degraded' || n.state === 'RolledBack' || n.health?.status === 'failed' || n.health?.status === 'degraded' || has(PROBE)) out.push('probe');
  if (has(TOKEN)) out.push('token');
  if (out.length === 0) out.push('rollout');
  return out;
}

/** Worst state first; then triage order; then name. */
export function compareNodes(a: Pick<NodeView, 'state' | 'triage' | 'node'>, b: Pick<NodeView, 'state' | 'triage' | 'node'>): number {
  if (isWorse(a.state, b.state)) return -1;
  if (isWorse(b.state, a.state)) return 1;
  return triageRank(a.triage) - triageRank(b.triage) || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0);
}

/**
 * gating.green_passes for `commit`: recorded on its evidence (greenRequired), else — a store written before it was —
 * read off the controller's gate messages (`for 1 of 2 passes`).
 */
function requiredGreen(doc: StatusDoc, commit: string): number | undefined {
  const recorded = doc.commits[commit]?.greenRequired;
  if (typeof recorded === 'number') return recorded;
  let req: number | undefined;
  for (const n of Object.values(doc.nodes)) {
    for (const m of (n.message ?? '').matchAll(/for \d+ of (\d+) passes/g)) req = Math.max(req ?? 0, Number(m[1]));
  }
  return req;
}

export function gateView(doc: StatusDoc): GateView | undefined {
  const head = doc.source?.fleet;
  if (!head?.commit) return undefined;
  const commit = head.commit;
  const ev = doc.commits[commit];
  const required = requiredGreen(doc, commit);
  const canaryNodes = Object.values(doc.nodes).filter((n) => n.canary).map((n) => n.node);
  const names = [...new Set([...Object.keys(ev?.canaries ?? {}), ...canaryNodes])].sort();
  const canaries: CanaryView[] = names.map((node) => {
    const e = ev?.canaries[node];
    return e
      ? { node, running: e.running, healthGate: e.healthGate, greenPasses: e.greenPasses, health: e.health, ...(e.note ? { note: e.note } : {}) }
      : { node, running: false, healthGate: 'not-run', greenPasses: 0, health: 'unknown', note: 'no evidence yet' };
  });
  const label = `${head.tag ? `${head.tag} ` : ''}(${short(commit)})`;
  const fannedOut = doc.fleetCommit?.commit === commit;
  const verdict: GateView['verdict'] = ev ? ev.verdict : 'unseen';
  let summary: string;
  const rd = ev?.replayDetail;
  const replay: GateView['replay'] =
    ev?.replay || rd
      ? {
          status: ev?.replay ?? 'pending',
          ...(rd?.message ? { message: rd.message } : {}),
          required: rd?.required.length ?? 0,
          canaries: Object.entries(rd?.canaries ?? {})
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([node, r]) => ({ node, ok: r.ok, at: r.at, deliveries: r.deliveries.length, mismatched: r.deliveries.filter((d) => d.outcome === 'mismatch' || d.outcome === 'error').length })),
        }
      : undefined;
  if (verdict === 'failed') {
    const f = ev?.failure;
    summary =
      f?.reason === 'ReplayFailed'
        ? `${short(commit)} failed its fixture replay (${f.message}): it never fans out; push a fix and tag it`
        : `${short(commit)} failed${f?.node ? ` on canary ${f.node}` : ''} (${f?.reason ?? 'Failed'}): it never fans out; push a fix and tag it`;
  } else if (verdict === 'proven') {
    summary = `${label} proven on the canaries${fannedOut ? '; fanned out' : ''}`;
  } else if (canaries.length === 0) {
    summary = `no canary nodes: nothing can prove ${short(commit)}`;
  } else {
    const waiting: string[] = [];
    for (const c of canaries) {
      if (!c.running) waiting.push(`waiting for canary ${c.node} to run ${short(commit)}`);
      else if (c.healthGate === 'failed') waiting.push(`canary ${c.node} failed the health gate on ${short(commit)}`);
      else if (required === undefined) waiting.push(`waiting for canary ${c.node} green (${c.greenPasses} so far) on ${short(commit)}`);
      else if (c.greenPasses < required) waiting.push(`waiting for canary ${c.node} green ${c.greenPasses}/${required} on ${short(commit)}`);
    }
    if (replay?.status === 'pending' || (replay === undefined && waiting.length === 0 && controllerSays(doc, commit)?.includes('fixture replay'))) {
      waiting.push(replay?.message ?? `waiting for fixture replay on ${canaries.map((c) => c.node).join(', ')}`);
    }
    summary = waiting.length > 0 ? waiting.join('; ') : (controllerSays(doc, commit) ?? `${label}: evidence complete, the next pass records the verdict`);
  }
  return {
    commit,
    ...(head.ref ? { ref: head.ref } : {}),
    ...(head.tag ? { tag: head.tag } : {}),
    verdict,
    ...(ev?.verdictAt ? { verdictAt: ev.verdictAt } : {}),
    ...(ev?.failure ? { failure: ev.failure } : {}),
    ...(required !== undefined ? { required } : {}),
    open: verdict === 'proven',
    fannedOut,
    canaries,
    ...(replay ? { replay } : {}),
    summary,
  };
}

/** What the controller said about the gate of `commit` on a Gated node ("release/2 gated: <reason>"), if any. */
function controllerSays(doc: StatusDoc, commit: string): string | undefined {
  const m = Object.values(doc.nodes).find((n) => n.state === 'Gated' && (n.message ?? '').includes(short(commit)))?.message;
  return m?.replace(/^.*? gated: /, '');
}

interface NextContext {
  from: StatusView['from']['kind'];
  mode: 'auto' | 'observe';
  gate: GateView | undefined;
  desiredOpenclaw?: string;
}

function sickTenants(n: NodeStatusRecord): string[] {
  return Object.values(n.tenants ?? {}).filter((t) => t.health?.status === 'failed' || t.health?.status === 'degraded').map((t) => t.tenant);
}

const day = (iso: string | undefined): string => (iso ? iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, 'Z') : '?');

/** A tenant's token rotation in one line (times absolute, so the line only changes when the files do). */
export function tokenSummary(t: TenantTokens): string {
  const modes = (['current', 'next'] as const)
    .filter((k) => t[k].present && t[k].mode && t[k].mode !== '600' && t[k].mode !== '400')
    .map((k) => `token.${k} has mode ${t[k].mode}`);
  const base =
    t.overlap === 'overlap'
      ? `rotation in progress: token.next (${day(t.next.mtime)}) staged beside token.current (${day(t.current.mtime)})`
      : t.overlap === 'not-rotated'
        ? 'token.next equals token.current: nothing to rotate'
        : t.overlap === 'next-only'
          ? `token.next (${day(t.next.mtime)}) without token.current`
          : t.overlap === 'single'
            ? `token.current only (${day(t.current.mtime)})`
            : 'no token files';
  return [base, ...modes].join('; ');
}

/** A readiness answer in one line: `probe degraded (HTTP 200): doctor:yellow, disk:warn`, `readyz unreachable: connection refused`. */
export function probeLine(p: ProbeSummary): string {
  const what = p.source === 'probe' ? 'probe' : 'readyz';
  const code = p.code > 0 ? ` (HTTP ${p.code})` : '';
  const why = p.error ?? (p.checks.length > 0 ? p.checks.join(', ') : '');
  return `${what} ${p.status}${code}${why ? `: ${why}` : ''}`;
}

/** The notifier nodes' digests → the webhook failures block: every notifier's read, rows worst first (family, count). */
export function webhookFailuresView(records: readonly NodeStatusRecord[]): WebhookFailuresView {
  const FAMILY = ['5xx', 'timeout', 'network', '4xx', 'other'];
  const notifiers: WebhookFailuresView['notifiers'] = [];
  const rows: WebhookFailureView[] = [];
  for (const n of [...records].sort((a, b) => (a.node < b.node ? -1 : 1))) {
    const d = n.webhookDigest;
    if (!d) continue;
    const { rows: r, ...rest } = d;
    notifiers.push({ node: n.node, ...rest, rows: r.length });
    for (const x of r) rows.push({ node: n.node, ...x });
  }
  const fam = (f: string): number => (FAMILY.indexOf(f) < 0 ? FAMILY.length : FAMILY.indexOf(f));
  rows.sort((a, b) => fam(a.family) - fam(b.family) || b.count - a.count || (a.lastSeen < b.lastSeen ? 1 : a.lastSeen > b.lastSeen ? -1 : 0));
  return { notifiers, rows: rows.slice(0, MAX_DIGEST_ROWS) };
}

/** What on-call does about a node, in one line. */
export function nextStep(n: NodeStatusRecord, ctx: NextContext): string {
  const node = n.node;
  const retry = n.backoff ? `; the controller tries again after ${n.backoff.until.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}` : '';
  const diff = `clawops diff --repo <infra repo> --node ${node}`;
  switch (n.state) {
    case 'Synced':
      return '';
    case 'Failed':
      if (n.reason === 'HostKeyMismatch') return `the host key changed: verify ${node}'s key out of band, then update host_key in nodes.yaml`;
      if (n.reason === 'ValidationFailed' || n.reason === 'BuildFailed') return `fix the repo: the commit ${node} follows does not build (clawops lint); push a fix`;
      if (n.reason === 'SourceFailed') return `fix refs in clawops.yaml or push the ref ${node} follows`;
      return `apply failed (${n.reason}): read the error below and ${diff}${retry || '; the next pass tries again'}`;
    case 'RolledBack': {
      const tenants = Object.values(n.tenants ?? {}).filter((t) => t.state === 'RolledBack').map((t) => t.tenant);
      return `${tenants.length ? tenants.join(', ') : 'the tenant'} is back on its previous release and the new one is quarantined: fix it and push a new commit (or clawops apply --retry-quarantined)`;
    }
    case 'Unreachable':
      return `check ssh to ${node} (host up, sshd, network, key)${retry}`;
    case 'Blocked':
      if (n.reason === 'VersionSkew') return `install openclaw ${ctx.desiredOpenclaw ?? 'as openclaw.lock pins it'} on ${node}; clawops does not touch it until then`;
      if (n.reason === 'UnexpectedEntry') return `fix by hand what clawops does not own on ${node} (${diff}); apply leaves it alone`;
      if (n.reason === 'SecretMissing' || n.reason === 'SecretMode') return `provision the secret files on ${node} (0600 or 0400, never from git)`;
      if (n.reason === 'Quarantined') return `the release was rolled back here before: push a new commit, or clawops apply --retry-quarantined --node ${node}`;
      return `${diff} shows what blocks it`;
    case 'Degraded': {
      const sick = sickTenants(n);
      const probes = Object.values(n.tenants ?? {}).filter((t) => sick.includes(t.tenant) && /^Probe/.test(t.reason) && t.probe);
      if (probes.length > 0 && probes.length === sick.length) {
        return `check readiness on ${node}: ${probes.map((t) => `${t.tenant} ${probeLine(t.probe!)}`).join('; ')} (curl its /readyz on the node)`;
      }
      return sick.length > 0
        ? `check the service on ${node}: ${sick.map((t) => `launchctl print system/ai.openclaw.${t}`).join(', ')}`
        : `check ${node}: ${n.health?.message ?? n.message ?? 'degraded'}`;
    }
    case 'Locked':
      return `someone holds ${node}'s lock; the controller tries again next pass (or ask the holder)`;
    case 'Gated':
      if (ctx.gate && (n.message ?? '').includes(short(ctx.gate.commit))) return `gated: ${ctx.gate.summary}`;
      if (/no release yet/.test(n.message ?? '')) return `tag a release to fan out (${n.message})`;
      return `gated: ${n.message ?? 'waiting for the canaries'}`;
    case 'Progressing':
      if (n.reason === 'WaitingForGuard') return `nothing is applied to ${node} while a dead run's dead-man guard is pending: it puts back that run's unconfirmed swaps within health.confirm_sec; the pass after that applies`;
      return 'applied; the next pass confirms it';
    case 'OutOfSync':
      if (ctx.from === 'observe') return `clawops apply --repo <infra repo> --node ${node}`;
      if (n.reason === 'Interrupted') return 'the pass was interrupted; the next one continues';
      if (Object.values(n.tenants ?? {}).some((t) => t.sync?.state === 'Unassigned')) return `a tenant is no longer assigned to ${node}: the controller never prunes; clawops apply --prune --node ${node}`;
      if (ctx.mode === 'observe') return `observe mode: clawops apply --node ${node}, or run the controller with --mode auto`;
      return 'the next pass applies it';
    case 'Suspended':
      return `clawops controller resume --node ${node} when it may be applied to again`;
    default:
      // a state word of another build (a newer controller's): shown, never green, sorted worst
      return `${node} is in state ${String(n.state)}, which this clawops does not know (written by a newer controller?): upgrade clawops to read it`;
  }
}

function nodeView(n: NodeStatusRecord, notes: NoteView[], ctx: NextContext, lastSyncedAt: string | undefined, failures: ReadonlyMap<string, { rows: number; count: number }>): NodeView {
  const categories = triageOf(n, notes);
  const gate = ctx.gate;
  const target = n.sync?.target;
  const held = n.state === 'Gated' && gate && target?.commit !== gate.commit ? { commit: gate.commit, ...(gate.tag ? { tag: gate.tag } : {}) } : undefined;
  const tenants: TenantView[] = Object.values(n.tenants ?? {})
    .map((t) => ({
      tenant: t.tenant,
      state: t.state,
      reason: t.reason,
      ...(t.message ? { message: t.message } : {}),
      sync: t.sync?.state ?? 'Unknown',
      ...(t.sync?.desiredRelease ? { desiredRelease: t.sync.desiredRelease } : {}),
      ...(t.sync?.currentRelease ? { currentRelease: t.sync.currentRelease } : {}),
      ...(t.sync?.commit ? { commit: t.sync.commit } : {}),
      ...(t.sync?.tag ? { tag: t.sync.tag } : {}),
      health: t.health?.status ?? 'unknown',
      ...(t.health?.message ? { healthMessage: t.health.message } : {}),
      ...(t.health?.service ? { service: t.health.service } : {}),
      ...(t.health?.pid !== undefined ? { pid: t.health.pid } : {}),
      since: t.lastTransition,
      ...(t.tokens ? { token: { ...t.tokens, summary: tokenSummary(t.tokens) } } : {}),
      ...(t.probe ? { probe: { ...t.probe, summary: probeLine(t.probe) } } : {}),
      ...(failures.has(t.tenant) ? { webhookFailures: failures.get(t.tenant)! } : {}),
    }))
    .sort((a, b) => rank(a.state) - rank(b.state) || (a.tenant < b.tenant ? -1 : 1));
  return {
    node: n.node,
    role: n.role,
    canary: n.canary,
    follows: n.follows,
    state: n.state,
    reason: n.reason,
    ...(n.message ? { message: n.message } : {}),
    triage: categories[0] ?? null,
    categories,
    since: n.lastTransition,
    syncStatus: n.sync?.status ?? 'Unknown',
    differences: n.sync?.differences ?? 0,
    health: { status: n.health?.status ?? 'unknown', ...(n.health?.message ? { message: n.health.message } : {}) },
    desired: { ...(target ? { ref: target.ref, commit: target.commit, ...(target.tag ? { tag: target.tag } : {}) } : {}), ...(ctx.desiredOpenclaw ? { openclaw: ctx.desiredOpenclaw } : {}) },
    running: { revisions: n.sync?.running ?? [], ...(n.openclaw ? { openclaw: n.openclaw } : {}) },
    ...(held ? { held } : {}),
    suspended: n.suspended === true,
    ...(n.backoff ? { backoff: { kind: n.backoff.kind, failures: n.backoff.failures, until: n.backoff.until } } : {}),
    ...(n.lastError ? { lastError: { time: n.lastError.time, reason: n.lastError.reason, message: n.lastError.message } } : {}),
    ...(lastSyncedAt ? { lastSyncedAt } : {}),
    tenants,
    ...(n.webhookDigest ? { webhookDigest: n.webhookDigest } : {}),
    tokens: ctx.from === 'observe' ? notes.filter((x) => x.category === 'token') : null,
    notes,
    next: nextStep(n, ctx),
  };
}

/** What a finished pass changed, from the records it wrote (transitions it caused, fan-outs, verdicts). */
export function passChanges(doc: StatusDoc, pass: { id: string; startedAt: string }, before?: Record<string, { state: ControllerState }>): string[] {
  const out: string[] = [];
  const changedIn = (t: string | undefined): boolean => t !== undefined && t >= pass.startedAt;
  for (const n of Object.values(doc.nodes).sort((a, b) => (a.node < b.node ? -1 : 1))) {
    if (n.lastPass !== pass.id) continue;
    const was = before?.[n.node]?.state;
    if (before ? was === n.state : !changedIn(n.lastTransition)) continue;
    out.push(`${n.node}: ${was ? `${was} → ` : ''}${n.state}${n.message ? ` (${n.message})` : n.reason !== n.state ? ` (${n.reason})` : ''}`);
  }
  if (doc.fleetCommit && changedIn(doc.fleetCommit.since)) out.push(`fanned out ${rev(doc.fleetCommit)} to the fleet`);
  for (const c of Object.values(doc.commits)) if (c.verdict !== 'pending' && changedIn(c.verdictAt)) out.push(`${rev(c)} ${c.verdict} on the canaries`);
  return out;
}

export function passView(p: NonNullable<StatusDoc['lastPass']>, changes: string[] | null, nodes?: PassNodeChange[]): PassView {
  return {
    id: p.id,
    startedAt: p.startedAt,
    ...(p.finishedAt ? { finishedAt: p.finishedAt } : {}),
    outcome: p.outcome,
    ...(p.message ? { message: p.message } : {}),
    ...(p.durationMs !== undefined ? { durationMs: p.durationMs } : {}),
    changes,
    ...(nodes ? { nodes } : {}),
  };
}

const APPLY_WORDS: Record<ApplyResult, string> = {
  applied: 'applied',
  repaired: 'repaired (drift put back)',
  failed: 'apply failed',
  rolled_back: 'rolled back',
  locked: 'node locked',
  interrupted: 'apply interrupted',
};
const ROLLBACK_WORDS: Record<RollbackResult, string> = { ready: 'previous release ready again', not_ready: 'previous release NOT ready' };

/** One line per node a pass changed: `gw-1: Synced → RolledBack (why) · rolled back, previous release ready again`. */
export function changeLine(c: PassNodeChange): string {
  const why = c.message ? ` (${c.message})` : c.reason !== c.to ? ` (${c.reason})` : '';
  const did = c.apply ? ` · ${APPLY_WORDS[c.apply]}${c.rollback ? `, ${ROLLBACK_WORDS[c.rollback]}` : ''}` : '';
  return `${c.node}: ${c.from ? `${c.from} → ` : ''}${c.to}${why}${did}`;
}

/** A pass of the store's history as the views show it. */
export function historyView(h: PassHistoryEntry): PassView {
  const changes = [
    ...h.nodes.map(changeLine),
    ...(h.fannedOut ? [`fanned out ${rev(h.fannedOut)} to the fleet`] : []),
    ...h.verdicts.map((v) => `${rev(v)} ${v.verdict} on the canaries`),
  ];
  return passView(h, changes, h.nodes);
}

/** How far ahead of this clock a store's time may be before the views say so (two hosts' clocks, a little skew). */
export const FUTURE_SKEW_MS = 5 * 60_000;

/** When the status was last written: the last pass's end (or start), else the controller's start. */
function statusTime(doc: StatusDoc): string | undefined {
  const p = doc.lastPass;
  return p?.finishedAt ?? p?.startedAt ?? doc.controller?.startedAt;
}

/**
 * How old the status may be before it is stale: three intervals, at least 5 min; a pass in flight gets an hour more.
 * A time that does not parse is stale (nothing says the status is fresh), and an interval that is not a positive
 * number counts as the default 60 s.
 */
export function isStale(doc: StatusDoc, now: Date): boolean {
  const p = doc.lastPass;
  const at = statusTime(doc);
  if (!at) return false;
  const iv = doc.controller?.intervalSec;
  const interval = typeof iv === 'number' && Number.isFinite(iv) && iv > 0 ? iv : 60;
  const limit = Math.max(3 * interval, 300) * 1000 + (p && !p.finishedAt ? 3_600_000 : 0);
  const t = Date.parse(at);
  return !Number.isFinite(t) || now.getTime() - t > limit;
}

/** The status is dated ahead of this clock (beyond FUTURE_SKEW_MS): a clock was wrong; staleness cannot be told. */
export function isFromFuture(doc: StatusDoc, now: Date): boolean {
  const at = statusTime(doc);
  return at !== undefined && Date.parse(at) - now.getTime() > FUTURE_SKEW_MS;
}

/** `42 s`, `5 min`, `3 h`, `2 d`; `?` for a time that does not parse */
export function durationAgo(iso: string, now: Date): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '?';
  const s = Math.max(0, Math.round((now.getTime() - t) / 1000));
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : s < 172_800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86_400)} d`;
}

/** The one status model: the stored status → what every view shows. Pure. */
export function buildStatusView(doc: StatusDoc, opts: ViewOptions): StatusView {
  const gate = gateView(doc);
  const mode = doc.controller?.mode ?? 'auto';
  const ctx: NextContext = { from: opts.from.kind, mode, gate, ...(opts.openclaw ? { desiredOpenclaw: opts.openclaw } : {}) };
  const synced = doc.counters?.lastSynced ?? {};
  const lastSynced = (n: NodeStatusRecord): string | undefined => {
    if (n.state === 'Synced') {
      const p = doc.lastPass;
      return p?.finishedAt && n.lastPass === p.id ? p.finishedAt : (own(synced, n.node) ?? n.lastTransition);
    }
    return own(synced, n.node);
  };
  const records = Object.values(doc.nodes).filter((n) => !opts.nodes || opts.nodes.includes(n.node));
  // digest rows per tenant come from every notifier node of the store (a gateway node's tenants are counted elsewhere)
  const webhookFailures = webhookFailuresView(Object.values(doc.nodes));
  const perTenant = new Map<string, { rows: number; count: number }>();
  for (const n of Object.values(doc.nodes)) {
    for (const r of n.webhookDigest?.rows ?? []) {
      const c = perTenant.get(r.tenant) ?? { rows: 0, count: 0 };
      perTenant.set(r.tenant, { rows: c.rows + 1, count: c.count + r.count });
    }
  }
  const nodes = records.map((n) => nodeView(n, opts.notes?.get(n.node) ?? [], ctx, lastSynced(n), perTenant)).sort(compareNodes);

  const counts = Object.fromEntries(CONTROLLER_STATES.map((s) => [s, 0])) as Record<ControllerState, number>;
  // (a state word of another build is counted under its own name)
  for (const n of nodes) counts[n.state] = (own(counts, n.state) ?? 0) + 1;
  const worst = nodes[0]?.state ?? 'Synced';
  const triage = TRIAGE_ORDER.map((category) => ({ category, title: TRIAGE_TITLES[category], nodes: nodes.filter((n) => n.triage === category).map((n) => n.node) })).filter((g) => g.nodes.length > 0);

  const stale = opts.from.kind !== 'observe' && isStale(doc, opts.now);
  const problems: string[] = [];
  if (nodes.length === 0) problems.push(opts.nodes ? 'none of the named nodes has a status' : 'no node status yet (has the controller finished a pass?)');
  const src = doc.source;
  if (src?.reason === 'SourceUnavailable') problems.push(`source ${src.origin}: fetch failing${src.failures ? ` (${src.failures} in a row)` : ''}${src.lastError ? `: ${src.lastError.message}` : ''}`);
  const lp = doc.lastPass;
  if (lp && lp.outcome !== 'ok' && lp.outcome !== 'Running') problems.push(`last pass ${lp.id}: ${lp.outcome}${lp.message ? `: ${lp.message}` : ''}`);
  const when = `last pass ${lp ? `${lp.id} ${lp.finishedAt ? `finished ${lp.finishedAt}` : `started ${lp.startedAt}`}` : 'none'}`;
  const future = opts.from.kind !== 'observe' && isFromFuture(doc, opts.now);
  if (future) problems.push(`status is dated ahead of this clock (${when}): a clock is wrong, so whether the controller still runs cannot be told`);
  else if (stale) problems.push(`status is ${durationAgo(statusTime(doc) ?? '', opts.now)} old (${when}): is the controller running?`);
  const healthy = nodes.every((n) => n.state === 'Synced' && (n.health.status === 'ok' || n.health.status === 'unknown'));

  const pin = (p: StatusDoc['source']['canary'] | undefined): StatusView['source']['canary'] => ({
    spec: p?.spec ?? '',
    ...(p?.ref ? { ref: p.ref } : {}),
    ...(p?.commit ? { commit: p.commit } : {}),
    ...(p?.tag ? { tag: p.tag } : {}),
    ...(p?.error ? { error: p.error } : {}),
  });
  // the store's history, newest first; a pass in flight (or one not recorded yet) leads
  // (at most what the store keeps: a history grown by hand or by another build is not carried whole into every view)
  const passes = (doc.history ?? []).slice(0, MAX_PASS_HISTORY).map(historyView);
  if (lp && !passes.some((p) => p.id === lp.id)) passes.unshift(passView(lp, lp.finishedAt ? passChanges(doc, lp) : null));
  return {
    kind: 'clawops.status',
    version: STATUS_VIEW_VERSION,
    generatedAt: opts.now.toISOString(),
    from: opts.from,
    ...(doc.controller && opts.from.kind !== 'observe' ? { controller: doc.controller } : {}),
    source: {
      origin: src?.origin ?? '',
      reason: src?.reason ?? 'SourceUnknown',
      ...(src?.lastFetch ? { lastFetch: src.lastFetch } : {}),
      failures: src?.failures ?? 0,
      ...(src?.lastError ? { lastError: src.lastError } : {}),
      canary: pin(src?.canary),
      fleet: pin(src?.fleet),
    },
    ...(lp ? { lastPass: passes.find((p) => p.id === lp.id) ?? passView(lp, null) } : {}),
    stale,
    summary: { total: nodes.length, worst, counts },
    ok: healthy && problems.length === 0,
    problems,
    nodes,
    triage,
    synced: nodes.filter((n) => n.state === 'Synced').map((n) => n.node),
    ...(gate ? { gate } : {}),
    webhookFailures,
    passes,
  };
}

