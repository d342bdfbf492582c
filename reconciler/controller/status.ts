/**
 * The controller's status model: what the status store holds, what `GET /status` returns, and what a later
 * `report/` renders (text, JSON, page, metrics) — one model, many views. Types and pure helpers only.
 *
 * Two axes per node and tenant, as Argo CD keeps them: `sync` (what runs vs what is desired) and `health` (is it
 * working). The one-word `state` is derived from both (and from what the controller did), from a closed vocabulary
 * ordered worst first so many nodes fold into one worst-case value.
 */
import type { ObserveResult, TokenMeta as ObservedToken } from '../observe/types.js';

/** Worst first. `isWorse(a, b)`: a sorts before b. */
export const CONTROLLER_STATES = ['Failed', 'RolledBack', 'Unreachable', 'Blocked', 'Degraded', 'Locked', 'Gated', 'Progressing', 'OutOfSync', 'Suspended', 'Synced'] as const;
export type ControllerState = (typeof CONTROLLER_STATES)[number];

export function isWorse(a: ControllerState, b: ControllerState): boolean {
  return CONTROLLER_STATES.indexOf(a) < CONTROLLER_STATES.indexOf(b);
}

/** The worst of some states; `Synced` for none. */
export function worstState(states: Iterable<ControllerState>): ControllerState {
  let w: ControllerState = 'Synced';
  for (const s of states) if (isWorse(s, w)) w = s;
  return w;
}

/**
 * Bump when the shape changes; parseStatus (store.ts) refuses newer versions and migrates older ones it knows.
 *   1  the first store
 *   2  `history` (the last passes, what each changed per node), `counters` (cumulative pass/apply/rollback/fetch-error
 *      counts, kept across restarts) and per tenant `tokens` (presence of token.current/token.next, never a value);
 *      later, without a bump (optional fields an older file simply lacks): per tenant `probe` (the readiness answer
 *      of the health stage) and per notifier node `webhookDigest`
 */
export const STATUS_SCHEMA_VERSION = 2;

export type HealthStatus = 'ok' | 'degraded' | 'failed' | 'unknown';

export interface ErrorRecord {
  time: string;
  /** CamelCase machine reason (SourceUnavailable, ApplyFailed, RolledBack, NodeLocked, Unreachable …) */
  reason: string;
  message: string;
}

export interface TenantSync {
  /** the planner's tenant state: InSync | NotDeployed | Changed | Drifted | Unassigned | Blocked */
  state: string;
  desiredRelease?: string;
  currentRelease?: string;
  /** commit/tag recorded in the manifest of the release that runs */
  commit?: string;
  tag?: string;
}

export interface TenantHealth {
  status: HealthStatus;
  /** launchd state of ai.openclaw.<tenant>, when the release declares units */
  service?: string;
  pid?: number;
  message?: string;
}

/** One token file as observe saw it: presence, mode and age only (never the token or its fingerprint). */
export interface TokenPresence {
  present: boolean;
  /** octal permission bits, e.g. "600" */
  mode?: string;
  /** the file's mtime (ISO) */
  mtime?: string;
}

/**
 * The token rotation state of a tenant (secrets/<tenant>/token.current and token.next):
 *   single       only token.current: nothing being rotated
 *   overlap      token.next staged beside a different token.current: a rotation in progress (both are accepted)
 *   not-rotated  token.next equals token.current: nothing to rotate (a rotation that was not done)
 *   next-only    token.next without token.current
 *   none         neither file
 */
export type TokenOverlap = 'single' | 'overlap' | 'not-rotated' | 'next-only' | 'none';

export interface TenantTokens {
  overlap: TokenOverlap;
  current: TokenPresence;
  next: TokenPresence;
}

export interface TenantStatus {
  tenant: string;
  state: ControllerState;
  reason: string;
  message?: string;
  sync: TenantSync;
  health: TenantHealth;
  lastTransition: string;
  lastError?: ErrorRecord;
  /** token files as the last observation saw them (schema 2; absent: not observed yet) */
  tokens?: TenantTokens;
  /** the readiness answer the health stage got on the node (absent: not asked, e.g. applied this pass, or an older store) */
  probe?: ProbeSummary;
}

/**
 * What a tenant's readiness route said when the controller's health stage asked it on the node (curl on the node):
 * the composite probe (`clawops probe serve`, port + 115) when the release ships a probe unit, else the gateway's own
 * /readyz. Bounded: a status word, the HTTP code, the names of the parts that were not ok (never a reason text, a
 * body or a secret).
 *   ok | degraded | fail   the probe's own word (a gateway /readyz: 200 ready → ok, anything else → fail)
 *   unreachable            no HTTP answer (connection refused, timeout): `error` says which
 *   unknown                the health stage could not ask (the node command failed): `error` says why
 */
export type ProbeWord = 'ok' | 'degraded' | 'fail' | 'unreachable' | 'unknown';
export interface ProbeSummary {
  /** who answered: the composite probe, or the gateway's /readyz (no probe unit in the release) */
  source: 'probe' | 'gateway';
  status: ProbeWord;
  /** the HTTP status (0: no answer) */
  code: number;
  /** parts that were not ok, `part:state` (`doctor:yellow`, `gateway:unreachable`, `digest:rows`…; at most 8) */
  checks: string[];
  /** why there was no usable answer (one short line, no body) */
  error?: string;
  at: string;
}

/** One row of a notifier's webhook-failure digest (reconciler/notifier/digest.ts DigestRow), as the store keeps it. */
export interface WebhookFailureRow {
  tenant: string;
  /** origin only: scheme://host[:port] */
  endpoint: string;
  /** 5xx | timeout | network | 4xx | other */
  family: string;
  count: number;
  /** count per exact status (at most 8 entries) */
  statuses: Record<string, number>;
  firstSeen: string;
  lastSeen: string;
}

/** The digest of a notifier node as the health stage last read it (`GET /v1/webhook-digest` on the node). */
export interface WebhookDigestSummary {
  /** when it was read (the last good read when `error` is set) */
  at?: string;
  /** why the last read failed (the rows are then the last good read's) */
  error?: string;
  errorAt?: string;
  windowSec?: number;
  total: number;
  dropped: number;
  overflow: number;
  keys: number;
  /** worst first, at most MAX_DIGEST_ROWS */
  rows: WebhookFailureRow[];
}

/** digest rows the store keeps per notifier node */
export const MAX_DIGEST_ROWS = 20;

export interface NodeSync {
  /** the planner's node status: InSync | OutOfSync | Drifted | VersionSkew | Unreachable | HostKeyMismatch | ObserveFailed */
  status: string;
  /** the ref and commit this node follows now (what it is reconciled to) */
  target?: { ref: string; commit: string; tag?: string };
  /** commits recorded in the manifests of the releases that run (usually one) */
  running: { commit?: string; tag?: string }[];
  /** how many differences the last observation showed (issues that count as differences) */
  differences: number;
}

export interface NodeHealth {
  status: HealthStatus;
  message?: string;
}

export interface Backoff {
  failures: number;
  /** ISO time before which the failed step is not tried again */
  until: string;
  /** what failed: connecting/observing, or applying */
  kind: 'observe' | 'apply';
}

export interface NodeStatusRecord {
  node: string;
  role: string;
  canary: boolean;
  /** which ref the node follows */
  follows: 'canary' | 'fleet';
  state: ControllerState;
  reason: string;
  message?: string;
  sync: NodeSync;
  health: NodeHealth;
  openclaw?: string;
  suspended: boolean;
  backoff?: Backoff;
  lastTransition: string;
  lastError?: ErrorRecord;
  /** the reconcile id of the pass that last wrote this record */
  lastPass?: string;
  tenants: Record<string, TenantStatus>;
  /** a notifier node: its webhook-failure digest (absent: not a notifier node, not read yet, or an older store) */
  webhookDigest?: WebhookDigestSummary;
}

/** What a canary proved about one commit. */
export interface CanaryEvidence {
  /** all its releases for the commit are current */
  running: boolean;
  /** apply's health gate on this node for this commit: passed, failed (rolled back), or not run here (already running) */
  healthGate: 'passed' | 'failed' | 'not-run';
  /** consecutive passes it was observed running the commit and green */
  greenPasses: number;
  health: HealthStatus;
  lastPass?: string;
  /** why the last pass did not count, when it did not */
  note?: string;
}

export type ReplayEvidence = 'passed' | 'failed' | 'pending';

/** One delivery of a canary's fixture replay (replay/ReplayResult without what only a report needs). */
export interface ReplayDelivery {
  tenant: string;
  /** the fixture under fixtures/webhooks/ (null: a tenant-level problem) */
  fixture: string | null;
  endpoint: string | null;
  /** the recorded status */
  expected: number | null;
  /** what came back: a status, `timeout` or `network` */
  got: number | 'timeout' | 'network' | null;
  outcome: 'matched' | 'mismatch' | 'error' | 'skipped';
  message?: string;
}

/** A canary's replay of one commit's fixtures: done once per commit and canary (again only if its tenants change). */
export interface CanaryReplay {
  /** the replay run id (in every delivery id: replay-<run>-<delivery_id>) */
  run: string;
  /** the reconcile pass that ran it */
  pass: string;
  at: string;
  /** the tenants it replayed for (the canary's tenants then) */
  tenants: string[];
  /** every delivery got its recorded status (skips aside) */
  ok: boolean;
  deliveries: ReplayDelivery[];
  /** failure lines written to the node's notifier, or why not */
  notifier?: string;
}

/** Fixture replay evidence for one commit (the controller's replay stage writes it). */
export interface ReplayDetail {
  /** every recorded fixture in the commit's fixtures/webhooks/ */
  fixtures: string[];
  /** fixtures some enabled endpoint of an assigned tenant names: each must be matched from a canary */
  required: string[];
  /** per canary */
  canaries: Record<string, CanaryReplay>;
  /** the missing evidence (pending) or the failures naming the fixtures (failed); absent when passed */
  message?: string;
  /** why the last attempt on a canary could not run (it is tried again next pass) */
  lastError?: ErrorRecord & { node: string };
  /** per canary: attempts in a row that did not complete (no answer, no connection); REPLAY_TRIES of them fail it */
  tries?: Record<string, ReplayTry>;
}

/** A canary's attempts at a commit's replay that did not complete (counted in a row; cleared by a conclusive one). */
export interface ReplayTry {
  tries: number;
  /** when the first of them was */
  first: string;
  /** the last one: reason ReplayFailedToRun (the connection) or ReplayInconclusive (deliveries), and what failed */
  last: ErrorRecord;
}

export interface CommitEvidence {
  commit: string;
  tag?: string;
  firstSeen: string;
  /** proven: every canary met the bar (sticky); failed: rolled back or invalid on a canary (sticky, never fans out) */
  verdict: 'pending' | 'proven' | 'failed';
  verdictAt?: string;
  failure?: ErrorRecord & { node?: string };
  canaries: Record<string, CanaryEvidence>;
  /** gating.green_passes this commit is judged against (the settings of the pass that last recorded it) */
  greenRequired?: number;
  /**
   * fixture replay from the canaries: required when gating.require_replay says so, or (unset) when the commit records
   * fixtures; written by the controller's replay stage once per commit and canary
   */
  replay?: ReplayEvidence;
  /** what the replays gave, per canary and delivery, and what is still missing */
  replayDetail?: ReplayDetail;
}

export interface RefPin {
  /** the configured spec (refs/heads/main, release/*) */
  spec: string;
  /** the full ref it resolved to */
  ref?: string;
  commit?: string;
  tag?: string;
  error?: string;
}

export interface SourceStatus {
  origin: string;
  lastFetch?: string;
  /** SourceAvailable | SourceUnavailable */
  reason: string;
  lastError?: ErrorRecord;
  failures: number;
  canary: RefPin;
  fleet: RefPin;
}

export interface PassRecord {
  id: string;
  startedAt: string;
  finishedAt?: string;
  /** ok | SourceUnavailable | Interrupted | PassFailed */
  outcome: string;
  message?: string;
  durationMs?: number;
}

/** What apply did on a node in a pass, as its record says (see applyResult). */
export const APPLY_RESULTS = ['applied', 'repaired', 'failed', 'rolled_back', 'locked', 'interrupted'] as const;
export type ApplyResult = (typeof APPLY_RESULTS)[number];
/** An automatic rollback: apply says the previous release is ready again, or not. */
export const ROLLBACK_RESULTS = ['ready', 'not_ready'] as const;
export type RollbackResult = (typeof ROLLBACK_RESULTS)[number];

/** A node a pass changed: its state moved, or apply did something on it. */
export interface PassNodeChange {
  node: string;
  /** its state before the pass (absent: no record before, or not known) */
  from?: ControllerState;
  to: ControllerState;
  reason: string;
  message?: string;
  apply?: ApplyResult;
  rollback?: RollbackResult;
}

/** A finished pass as the history keeps it. */
export interface PassHistoryEntry extends PassRecord {
  finishedAt: string;
  /** the nodes it changed, by name */
  nodes: PassNodeChange[];
  /** the fleet commit it fanned out */
  fannedOut?: { commit: string; tag?: string };
  /** canary verdicts it reached */
  verdicts: { commit: string; tag?: string; verdict: 'proven' | 'failed' }[];
  /** what it changed is not known (a pass recorded when an older store was migrated) */
  baseline?: boolean;
}

/** passes the history keeps */
export const MAX_PASS_HISTORY = 20;

/**
 * Cumulative counts over every pass this store recorded (from `since`), so /metrics counters survive a restart of
 * the controller; and what the next pass is compared with.
 */
export interface StatusCounters {
  /** when the store started counting (its first pass, or the migration from schema 1) */
  since: string;
  /** finished passes by result (ok, or the outcome reason) */
  passes: Record<string, number>;
  /** per node and result */
  applies: Record<string, Partial<Record<ApplyResult, number>>>;
  rollbacks: Record<string, Partial<Record<RollbackResult, number>>>;
  /** passes whose fetch of the infra repo failed */
  fetchErrors: number;
  /** per node, the end of the last pass that found it Synced */
  lastSynced: Record<string, string>;
  /** per node as of the last recorded pass */
  seen: Record<string, { state: ControllerState; applyFailures: number; drifted: boolean }>;
}

export interface StatusDoc {
  schemaVersion: number;
  controller: { pid: number; startedAt: string; mode: 'auto' | 'observe'; repo: string; intervalSec: number };
  source: SourceStatus;
  lastPass?: PassRecord;
  passes: number;
  /** the worst node state */
  state: ControllerState;
  nodes: Record<string, NodeStatusRecord>;
  /** per commit the canary evidence, newest first by firstSeen (bounded) */
  commits: Record<string, CommitEvidence>;
  /** the last fleet commit that was allowed to fan out (non-canary nodes are kept at it while a newer one is gated) */
  fleetCommit?: { commit: string; tag?: string; since: string };
  /** the last finished passes, newest first (at most MAX_PASS_HISTORY); recorded by recordPass when the store is written */
  history: PassHistoryEntry[];
  counters: StatusCounters;
}

export function emptyStatus(init: StatusDoc['controller']): StatusDoc {
  return {
    schemaVersion: STATUS_SCHEMA_VERSION,
    controller: init,
    source: { origin: init.repo, reason: 'SourceUnknown', failures: 0, canary: { spec: '' }, fleet: { spec: '' } },
    passes: 0,
    state: 'Synced',
    nodes: {},
    commits: {},
    history: [],
    counters: emptyCounters(init.startedAt),
  };
}

export function emptyCounters(since: string): StatusCounters {
  return { since, passes: {}, applies: {}, rollbacks: {}, fetchErrors: 0, lastSynced: {}, seen: {} };
}

/** A pass outcome is a CamelCase reason from a fixed set; anything else counts as "other" (metric labels stay bounded). */
export function passResult(outcome: string): string {
  return /^[A-Za-z][A-Za-z0-9]{0,39}$/.test(outcome) ? outcome : 'other';
}

const drifted = (n: NodeStatusRecord): boolean => n.sync?.status === 'Drifted' || Object.values(n.tenants ?? {}).some((t) => t.sync?.state === 'Drifted');
const applyFailures = (n: NodeStatusRecord): number => (n.backoff?.kind === 'apply' ? n.backoff.failures : 0);

/**
 * What apply did on a node in pass `pass`, read off the record the pass wrote (never off log text): `rolled_back` (a
 * new lastError RolledBack/HealthCheckFailed), `locked` (NodeLocked), `interrupted`, `failed` (its apply backoff grew),
 * `repaired` (applied to a node whose tree was drifted: edited by hand), `applied` (the node or a tenant says Applied).
 */
export function applyResult(n: NodeStatusRecord, pass: { id: string; startedAt: string }, before: StatusCounters['seen'][string] | undefined): { apply?: ApplyResult; rollback?: RollbackResult } {
  if (n.lastPass !== pass.id) return {};
  const fresh = n.lastError && n.lastError.time >= pass.startedAt ? n.lastError : undefined;
  const failures = applyFailures(n);
  if (fresh && (fresh.reason === 'RolledBack' || fresh.reason === 'HealthCheckFailed')) return { apply: 'rolled_back', rollback: /ready again after/.test(fresh.message) ? 'ready' : 'not_ready' };
  if (fresh?.reason === 'NodeLocked') return { apply: 'locked' };
  if (fresh?.reason === 'Interrupted') return { apply: 'interrupted' };
  if (failures > 0 && failures !== (before?.applyFailures ?? 0)) return { apply: 'failed' };
  // drifted: the plan this pass applied found it drifted, or the pass before recorded it so
  if (n.reason === 'Applied' || Object.values(n.tenants ?? {}).some((t) => t.reason === 'Applied')) return { apply: before?.drifted || drifted(n) ? 'repaired' : 'applied' };
  return {};
}

/**
 * Record the finished `lastPass` in the history and the counters, once (a pass already recorded is left alone); the
 * store calls it before every write. Pure apart from updating `doc`. `count: false` records without counting (the
 * pass an older store names when it is migrated: what it did is not known).
 */
export function recordPass(doc: StatusDoc, opts: { count?: boolean } = {}): boolean {
  const p = doc.lastPass;
  if (!p?.finishedAt) return false;
  doc.history ??= [];
  doc.counters ??= emptyCounters(p.startedAt);
  if (doc.history.some((h) => h.id === p.id)) return false;
  const count = opts.count !== false;
  const k = doc.counters;
  const changedIn = (t: string | undefined): boolean => t !== undefined && t >= p.startedAt;
  const nodes: PassNodeChange[] = [];
  for (const n of Object.values(doc.nodes).sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))) {
    if (n.lastPass !== p.id) continue;
    const before = own(k.seen, n.node);
    const moved = before ? before.state !== n.state : changedIn(n.lastTransition);
    const did = count ? applyResult(n, p, before) : {};
    if (!moved && !did.apply) continue;
    nodes.push({ node: n.node, ...(before && before.state !== n.state ? { from: before.state } : {}), to: n.state, reason: n.reason, ...(n.message ? { message: n.message } : {}), ...did });
  }
  const fannedOut = doc.fleetCommit && changedIn(doc.fleetCommit.since) ? { commit: doc.fleetCommit.commit, ...(doc.fleetCommit.tag ? { tag: doc.fleetCommit.tag } : {}) } : undefined;
  const verdicts = Object.values(doc.commits ?? {})
    .filter((c) => c.verdict !== 'pending' && changedIn(c.verdictAt))
    .map((c) => ({ commit: c.commit, ...(c.tag ? { tag: c.tag } : {}), verdict: c.verdict as 'proven' | 'failed' }));
  const entry: PassHistoryEntry = { ...p, finishedAt: p.finishedAt, nodes, ...(fannedOut ? { fannedOut } : {}), verdicts, ...(count ? {} : { baseline: true }) };
  doc.history = [entry, ...doc.history].slice(0, MAX_PASS_HISTORY);

  if (count) {
    const r = passResult(p.outcome);
    k.passes[r] = (k.passes[r] ?? 0) + 1;
    for (const c of nodes) {
      if (c.apply) bump(k.applies, c.node, c.apply);
      if (c.rollback) bump(k.rollbacks, c.node, c.rollback);
    }
    if (doc.source?.reason === 'SourceUnavailable' && doc.source.lastError?.reason === 'SourceUnavailable' && changedIn(doc.source.lastError.time)) k.fetchErrors++;
  }
  for (const n of Object.values(doc.nodes)) if (n.state === 'Synced' && n.lastPass === p.id) k.lastSynced[n.node] = p.finishedAt;
  // nodes gone from the inventory are forgotten (their counts stay: counters never go down)
  for (const name of Object.keys(k.lastSynced)) if (!Object.hasOwn(doc.nodes, name)) delete k.lastSynced[name];
  k.seen = Object.fromEntries(Object.values(doc.nodes).map((n) => [n.node, { state: n.state, applyFailures: applyFailures(n), drifted: drifted(n) }]));
  return true;
}

/**
 * o[key] when key is o's own (a node named `constructor`, valid in nodes.yaml, is not Object's constructor); the
 * store's maps are plain objects, as JSON.parse makes them
 */
export function own<T>(o: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

/** counts[node][what] += 1, on the node's own entry */
function bump<K extends string>(counts: Record<string, Partial<Record<K, number>>>, node: string, what: K): void {
  const c: Partial<Record<K, number>> = own(counts, node) ?? (counts[node] = {});
  c[what] = (own(c as Record<string, number>, what) ?? 0) + 1;
}

/** Token files as observe saw them → what the store keeps: presence, mode, mtime, and whether next differs (never a fingerprint). */
export function tokenState(t: { 'token.current': ObservedToken; 'token.next': ObservedToken }): TenantTokens {
  const cur = t['token.current'];
  const next = t['token.next'];
  const overlap: TokenOverlap = next.present ? (cur.present ? (cur.fingerprint !== undefined && cur.fingerprint === next.fingerprint ? 'not-rotated' : 'overlap') : 'next-only') : cur.present ? 'single' : 'none';
  const presence = (m: ObservedToken): TokenPresence => ({ present: m.present, ...(m.present && m.mode ? { mode: m.mode } : {}), ...(m.present && m.mtime !== undefined && Number.isFinite(m.mtime) ? { mtime: new Date(m.mtime * 1000).toISOString() } : {}) });
  return { overlap, current: presence(cur), next: presence(next) };
}

/** Put each observed tenant's token state on a freshly derived record (the controller and a one-off observe alike). */
export function recordTokens(rec: NodeStatusRecord, observed: ObserveResult | undefined): NodeStatusRecord {
  if (!observed?.ok) return rec;
  for (const t of Object.values(rec.tenants)) {
    const o = observed.observation.tenants[t.tenant];
    if (o?.tokens) t.tokens = tokenState(o.tokens);
  }
  return rec;
}
