/**
 * The controller's status model: what the status store holds, what `GET /status` returns, and what a later
 * `report/` renders (text, JSON, page, metrics) — one model, many views. Types and pure helpers only.
 *
 * Two axes per node and tenant, as Argo CD keeps them: `sync` (what runs vs what is desired) and `health` (is it
 * working). The one-word `state` is derived from both (and from what the controller did), from a closed vocabulary
 * ordered worst first so many nodes fold into one worst-case value.
 */

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

/** Bump when the shape changes incompatibly; readStore refuses newer versions and migrates older ones it knows. */
export const STATUS_SCHEMA_VERSION = 1;

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

export interface TenantStatus {
  tenant: string;
  state: ControllerState;
  reason: string;
  message?: string;
  sync: TenantSync;
  health: TenantHealth;
  lastTransition: string;
  lastError?: ErrorRecord;
}

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
  };
}
