/**
 * Refs and gating, pure: which commit each ref pins, what a pass proved about a commit on the canaries, and whether
 * a fleet commit may fan out to the other nodes. No I/O; the pass (pass.ts) feeds it facts and stores the result.
 *
 * The bar for a fleet commit C (issue 10): every canary runs C (its releases for C are current), C's health gate did
 * not fail on it (an automatic rollback marks C failed for good), and it was green on `green_passes` consecutive
 * passes — observed running C with health `ok` (or `degraded` when allow_degraded) and nothing applied to it in that
 * pass; when replay is required (gating.require_replay, or unset and C records fixtures) also every recorded fixture
 * an endpoint names replayed from a canary with its recorded status. Once met, C is `proven` and stays so. A replay
 * that got another status condemns C like a rollback does; one that could not complete (no answer, the node or the
 * connection failed) is tried again next pass, and condemns C only after REPLAY_TRIES such tries in a row.
 */
import type { GatingSettings } from './settings.js';
import type { Backoff, CanaryEvidence, CommitEvidence, ErrorRecord, HealthStatus, ReplayDelivery, ReplayDetail, ReplayEvidence, ReplayTry } from './status.js';

// ---------------------------------------------------------------- refs

export interface RefInfo {
  /** full ref name: refs/heads/main, refs/tags/release/2026-09-01 */
  name: string;
  /** the commit it points at (tags peeled) */
  commit: string;
  /** unix seconds: the tagger date of an annotated tag, else the commit date */
  date: number;
}

export type Pinned = { ref: string; commit: string; tag?: string } | { error: string };

const shortRef = (name: string): string => name.replace(/^refs\/(heads|tags)\//, '');

/** `*` matches within one path segment… and across them, as a git refspec glob does not care. Anchored. */
function globRe(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/**
 * The commit a ref spec pins:
 *  - a glob (`release/*`, `refs/tags/release/*`): the newest matching tag by tag date (ties: the greater name)
 *  - `refs/heads/x`, `refs/tags/x`: exactly that ref
 *  - a bare name: the branch, else the tag
 */
export function resolveRef(spec: string, refs: readonly RefInfo[]): Pinned {
  if (spec.includes('*')) {
    const full = spec.startsWith('refs/') ? spec : `refs/tags/${spec}`;
    const re = globRe(full);
    const hits = refs.filter((r) => re.test(r.name)).sort((a, b) => b.date - a.date || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
    const best = hits[0];
    if (!best) return { error: `no ref matches ${full}` };
    return { ref: best.name, commit: best.commit, ...(best.name.startsWith('refs/tags/') ? { tag: shortRef(best.name) } : {}) };
  }
  const candidates = spec.startsWith('refs/') ? [spec] : [`refs/heads/${spec}`, `refs/tags/${spec}`];
  for (const c of candidates) {
    const r = refs.find((x) => x.name === c);
    if (r) return { ref: r.name, commit: r.commit, ...(r.name.startsWith('refs/tags/') ? { tag: shortRef(r.name) } : {}) };
  }
  return { error: `no such ref: ${spec}` };
}

export type RefChange =
  | { kind: 'created'; ref: string; commit: string }
  | { kind: 'deleted'; ref: string; commit: string }
  | { kind: 'advanced'; ref: string; from: string; to: string }
  /** a branch rewritten (force-push) */
  | { kind: 'forced'; ref: string; from: string; to: string }
  /** a tag moved to another commit */
  | { kind: 'moved'; ref: string; from: string; to: string };

/** Pure: what a fetch changed. `isAncestor(a, b)`: a is an ancestor of b (a fast-forward from a to b). */
export function refChanges(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>, isAncestor: (a: string, b: string) => boolean): RefChange[] {
  const out: RefChange[] = [];
  for (const [ref, to] of after) {
    const from = before.get(ref);
    if (from === undefined) out.push({ kind: 'created', ref, commit: to });
    else if (from !== to) {
      if (ref.startsWith('refs/tags/')) out.push({ kind: 'moved', ref, from, to });
      else out.push(isAncestor(from, to) ? { kind: 'advanced', ref, from, to } : { kind: 'forced', ref, from, to });
    }
  }
  for (const [ref, commit] of before) if (!after.has(ref)) out.push({ kind: 'deleted', ref, commit });
  return out.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
}

// ---------------------------------------------------------------- canary evidence

/** What one pass saw of one canary, for the canary commit. */
export interface CanaryPassFacts {
  node: string;
  /** observed this pass (false: unreachable, in backoff, not observed) */
  observed: boolean;
  /** every release for the commit was current when observed (before anything was applied this pass) */
  runsAtObserve: boolean;
  health: HealthStatus;
  /** why what it runs does not count this pass (a dead run's unconfirmed swap its dead-man guard is about to undo) */
  hold?: string;
  /** what apply did to this node this pass, if it ran */
  apply?: {
    outcome: 'applied' | 'unchanged' | 'failed' | 'refused' | 'skipped';
    rolledBack: boolean;
    /** units were reloaded and health-gated (the gate passed unless rolledBack) */
    gated: boolean;
    reason?: string;
    message?: string;
  };
}

/** apply reasons that condemn the commit itself (not the node, the network or a lock) */
const TERMINAL_REASONS = new Set(['RolledBack', 'HealthCheckFailed', 'InvalidConfig']);

export function green(h: HealthStatus, g: Pick<GatingSettings, 'allow_degraded'>): boolean {
  return h === 'ok' || (h === 'degraded' && g.allow_degraded);
}

const short = (c: string): string => c.slice(0, 7);

/**
 * Pure: the evidence for `commit` after one pass. A failed verdict is sticky; a rollback condemns even a proven
 * commit (it never fans out again); otherwise `proven` is sticky once reached.
 */
export function recordCanaryPass(
  prev: CommitEvidence | undefined,
  commit: { commit: string; tag?: string },
  facts: readonly CanaryPassFacts[],
  gating: GatingSettings,
  pass: { id: string; now: string },
): CommitEvidence {
  const ev: CommitEvidence = prev
    ? structuredClone(prev)
    : { commit: commit.commit, ...(commit.tag ? { tag: commit.tag } : {}), firstSeen: pass.now, verdict: 'pending', canaries: {} };
  if (commit.tag && !ev.tag) ev.tag = commit.tag;
  if (ev.verdict === 'failed') return ev;
  ev.greenRequired = gating.green_passes;
  for (const f of facts) {
    const before = ev.canaries[f.node];
    const c: CanaryEvidence = { running: false, healthGate: before?.healthGate ?? 'not-run', greenPasses: 0, health: f.health, lastPass: pass.id };
    const a = f.apply;
    if (a && (a.rolledBack || TERMINAL_REASONS.has(a.reason ?? ''))) {
      c.healthGate = a.rolledBack || a.reason !== 'InvalidConfig' ? 'failed' : c.healthGate;
      c.note = a.message ?? a.reason ?? 'rolled back';
      ev.canaries[f.node] = c;
      const failure: ErrorRecord & { node: string } = { time: pass.now, reason: a.rolledBack ? 'RolledBack' : a.reason!, message: `${f.node}: ${a.message ?? a.reason ?? 'rolled back'}`, node: f.node };
      return { ...ev, verdict: 'failed', verdictAt: pass.now, failure };
    }
    if (a && a.outcome === 'applied') {
      c.running = true;
      if (a.gated) c.healthGate = 'passed';
      c.note = `applied ${short(commit.commit)} this pass; green passes count from the next one`;
    } else if (a && (a.outcome === 'failed' || a.outcome === 'refused' || a.outcome === 'skipped')) {
      c.running = f.runsAtObserve;
      c.note = `apply ${a.outcome}${a.reason ? ` (${a.reason})` : ''}: ${a.message ?? ''}`.trim();
    } else if (!f.observed) {
      c.running = before?.running ?? false;
      c.note = 'not observed this pass';
    } else if (f.hold) {
      c.note = f.hold;
    } else if (!f.runsAtObserve) {
      c.note = `does not run ${short(commit.commit)}`;
    } else {
      c.running = true;
      if (green(f.health, gating)) c.greenPasses = (before?.greenPasses ?? 0) + 1;
      else c.note = `health ${f.health}${f.health === 'degraded' ? ' (gating.allow_degraded is false)' : ''}`;
    }
    ev.canaries[f.node] = c;
  }
  settleProven(ev, facts.map((f) => f.node), gating, pass.now);
  return ev;
}

/** A pending commit whose gate is open becomes proven (sticky). */
function settleProven(ev: CommitEvidence, canaries: readonly string[], gating: GatingSettings, now: string): void {
  if (ev.verdict === 'pending' && fleetGate(ev, canaries, gating).open) {
    ev.verdict = 'proven';
    ev.verdictAt = now;
  }
}

// ---------------------------------------------------------------- fixture replay evidence

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

/**
 * Pure: should `node` replay the commit's fixtures this pass? Once per commit and canary: when replay is required,
 * the commit is still pending, the canary runs it (its health gate did not fail), and it has not replayed it yet for
 * the tenants it has now. The pass adds what only it knows (observed this pass, auto mode, not suspended).
 */
export function needsReplay(ev: CommitEvidence | undefined, node: string, tenants: readonly string[], gating: GatingSettings): boolean {
  if (!gating.require_replay || !ev || ev.verdict !== 'pending') return false;
  const c = ev.canaries[node];
  if (!c?.running || c.healthGate === 'failed') return false;
  const done = ev.replayDetail?.canaries[node];
  return !done || !sameSet(done.tenants, tenants);
}

/** a delivery that says nothing about the commit: the node is behind it (tried again next pass, not a failure) */
export function replayRetryable(d: ReplayDelivery): boolean {
  return d.outcome === 'error' && (d.fixture === null || /apply the (repo|tenant) first$/.test(d.message ?? ''));
}

/**
 * How many replay attempts in a row on one canary may end without a conclusive answer (the endpoint did not answer,
 * the node could not make a delivery, the connection failed) before the commit is failed for it: a commit nobody can
 * prove does not wait in pending for ever, and a receiver blip, a dropped ssh connection or a node-side hiccup does
 * not condemn a commit at once. One attempt a pass at most (needsReplay).
 */
export const REPLAY_TRIES = 3;

export function replayTries(d: ReplayDetail | undefined): Record<string, ReplayTry> {
  return d?.tries ?? {};
}

/**
 * Pure: count one inconclusive attempt of `node` (a copy of `detail` is returned). `final`: this was the
 * REPLAY_TRIES-th in a row, so the commit is judged on it (judgeReplay fails it).
 */
export function countReplayTry(detail: ReplayDetail, node: string, last: ErrorRecord): { detail: ReplayDetail; tries: number; final: boolean } {
  const d: ReplayDetail = structuredClone(detail);
  const prev = d.tries?.[node];
  const t: ReplayTry = { tries: (prev?.tries ?? 0) + 1, first: prev?.first ?? last.time, last };
  d.tries = { ...d.tries, [node]: t };
  return { detail: d, tries: t.tries, final: t.tries >= REPLAY_TRIES };
}

/** Pure: a conclusive replay of `node` ends its run of inconclusive tries. */
export function clearReplayTries(detail: ReplayDetail, node: string): ReplayDetail {
  const d: ReplayDetail = structuredClone(detail);
  if (d.tries) {
    delete d.tries[node];
    if (Object.keys(d.tries).length === 0) delete d.tries;
  }
  return d;
}

/** Pure: one line per delivery that disproves the commit: "replay of X on gw-1 answered 500, recorded 200". */
export function replayFailures(node: string, deliveries: readonly ReplayDelivery[]): string[] {
  const out: string[] = [];
  for (const d of deliveries) {
    if (d.outcome !== 'mismatch' && (d.outcome !== 'error' || replayRetryable(d))) continue;
    const what = `replay of ${d.fixture ?? '?'} on ${node}`;
    const rec = d.expected !== null ? `, recorded ${d.expected}` : '';
    if (d.outcome === 'error') out.push(`${what} failed: ${d.message ?? 'error'}`);
    else if (d.got === 'timeout') out.push(`${what} timed out${rec}`);
    else if (d.got === 'network') out.push(`${what} got no answer${d.message ? ` (${d.message})` : ''}${rec}`);
    else out.push(`${what} answered ${String(d.got)}${rec}`);
  }
  return out;
}

/**
 * Pure: the replay verdict of a commit from what its canaries replayed. failed: some delivery got another status
 * than recorded (or its fixture is unusable), naming each; pending: a canary has not replayed yet, or a required
 * fixture was matched from no canary; passed: neither.
 */
export function judgeReplay(detail: ReplayDetail, canaries: readonly string[]): { replay: ReplayEvidence; message?: string; failure?: { node: string; message: string } } {
  const names = [...canaries].sort();
  const tries = replayTries(detail);
  const failures = names.flatMap((n) => {
    const r = detail.canaries[n];
    if (r) return replayFailures(n, r.deliveries).map((m) => ({ node: n, message: m }));
    const t = tries[n];
    // no conclusive answer REPLAY_TRIES times in a row: the commit cannot be proven, judged as failed
    return t && t.tries >= REPLAY_TRIES ? [{ node: n, message: `${t.last.message} (no conclusive replay on ${n} in ${t.tries} tries)` }] : [];
  });
  if (failures.length > 0) {
    const message = failures.map((f) => f.message).join('; ');
    return { replay: 'failed', message, failure: { node: failures[0]!.node, message } };
  }
  const waiting = names.filter((n) => !detail.canaries[n]);
  if (waiting.length > 0) {
    const retried = waiting.filter((n) => tries[n]).map((n) => `try ${tries[n]!.tries} of ${REPLAY_TRIES} on ${n} did not complete: ${tries[n]!.last.message}`);
    const last = retried.length > 0 ? ` (${retried.join('; ')}; replay will be retried next pass)` : detail.lastError && waiting.includes(detail.lastError.node) ? ` (last try: ${detail.lastError.message})` : '';
    return { replay: 'pending', message: `waiting for fixture replay on ${waiting.join(', ')}${last}` };
  }
  const matched = new Set(names.flatMap((n) => detail.canaries[n]!.deliveries.filter((d) => d.outcome === 'matched').map((d) => d.fixture)));
  const uncovered = detail.required.filter((f) => !matched.has(f)).sort();
  if (uncovered.length > 0) {
    return { replay: 'pending', message: `fixture replay: ${uncovered.join(', ')} ${uncovered.length === 1 ? 'was' : 'were'} replayed from no canary (no canary runs a tenant whose enabled endpoint names ${uncovered.length === 1 ? 'it' : 'them'}; gating.require_replay: false turns replay off)` };
  }
  return { replay: 'passed' };
}

/**
 * Pure: the evidence after this pass's replays (`detail` holds every canary's record so far). A failed replay marks
 * the commit failed for good (it never fans out; the next commit is judged afresh); a passed one may prove it.
 */
export function recordReplay(prev: CommitEvidence, detail: ReplayDetail, canaries: readonly string[], gating: GatingSettings, now: string): CommitEvidence {
  const ev = structuredClone(prev);
  if (ev.verdict === 'failed') return ev;
  const j = judgeReplay(detail, canaries);
  ev.replayDetail = { ...structuredClone(detail), ...(j.message !== undefined ? { message: j.message } : {}) };
  if (j.message === undefined) delete ev.replayDetail.message;
  ev.replay = j.replay;
  if (j.failure) {
    ev.verdict = 'failed';
    ev.verdictAt = now;
    ev.failure = { time: now, reason: 'ReplayFailed', message: j.failure.message, node: j.failure.node };
    return ev;
  }
  settleProven(ev, canaries, gating, now);
  return ev;
}

export interface GateDecision {
  open: boolean;
  /** the missing evidence, or why the commit is refused */
  reason: string;
}

/** Pure: may `evidence.commit` go to the non-canary nodes, given the canaries there are? */
export function fleetGate(evidence: CommitEvidence | undefined, canaries: readonly string[], gating: GatingSettings, commit?: string): GateDecision {
  const c = evidence?.commit ?? commit ?? '?';
  if (evidence?.verdict === 'failed') {
    const f = evidence.failure;
    if (f?.reason === 'ReplayFailed') return { open: false, reason: `${f.message}: commit ${short(c)} never fans out; push a new commit` };
    return { open: false, reason: `commit ${short(c)} ${f?.node ? `failed on canary ${f.node}` : 'failed'} (${f?.reason ?? 'Failed'}): it never fans out; push a new commit` };
  }
  if (evidence?.verdict === 'proven') return { open: true, reason: `commit ${short(c)} proven on the canaries` };
  if (canaries.length === 0) return { open: false, reason: `no canary nodes in nodes.yaml: nothing can prove ${short(c)}` };
  const missing: string[] = [];
  for (const n of [...canaries].sort()) {
    const e = evidence?.canaries[n];
    if (!e || !e.running) missing.push(`canary ${n} does not run ${short(c)}${e?.note && !e.note.startsWith('does not run') ? ` (${e.note})` : ''}`);
    else if (e.healthGate === 'failed') missing.push(`canary ${n} failed the health gate on ${short(c)}`);
    else if (e.greenPasses < gating.green_passes) missing.push(`canary ${n} has been green on ${short(c)} for ${e.greenPasses} of ${gating.green_passes} passes${e.note ? ` (${e.note})` : ''}`);
  }
  if (gating.require_replay && evidence?.replay !== 'passed') missing.push(evidence?.replayDetail?.message ?? `waiting for fixture replay on ${[...canaries].sort().join(', ')}`);
  return missing.length === 0 ? { open: true, reason: `commit ${short(c)} proven on the canaries` } : { open: false, reason: missing.join('; ') };
}

export interface FleetTarget {
  /** the commit non-canary nodes are reconciled to this pass (undefined: none allowed yet: observe and report only) */
  commit?: string;
  tag?: string;
  /** set when the head of refs.fleet is held back */
  gated?: string;
  /** the head may fan out: record it as the fleet commit */
  promote: boolean;
}

/**
 * Pure: the fleet head fans out when its gate is open; otherwise the nodes stay at the last commit that did (their
 * drift is still repaired to it), and are reported Gated with the missing evidence.
 */
export function fleetTarget(head: { commit: string; tag?: string }, gate: GateDecision, last: { commit: string; tag?: string } | undefined, failed: (commit: string) => boolean): FleetTarget {
  if (gate.open) return { commit: head.commit, ...(head.tag ? { tag: head.tag } : {}), promote: true };
  const back = last && last.commit !== head.commit && !failed(last.commit) ? last : undefined;
  return { ...(back ? { commit: back.commit, ...(back.tag ? { tag: back.tag } : {}) } : {}), gated: gate.reason, promote: false };
}

// ---------------------------------------------------------------- backoff and jitter

export const BACKOFF_MIN_MS = 30_000;
export const BACKOFF_MAX_MS = 30 * 60_000;

/** 30 s, 60 s, 120 s … capped at 30 min. */
export function backoffDelayMs(failures: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, failures - 1));
}

export function nextBackoff(prev: Backoff | undefined, kind: Backoff['kind'], now: Date): Backoff {
  const failures = (prev?.failures ?? 0) + 1;
  return { failures, kind, until: new Date(now.getTime() + backoffDelayMs(failures)).toISOString() };
}

export function inBackoff(b: Backoff | undefined, now: Date): boolean {
  if (b === undefined) return false;
  const left = Date.parse(b.until) - now.getTime();
  // a backoff never lasts longer than BACKOFF_MAX_MS from now: after the clock jumped back, one set "in the future"
  // would otherwise hold the node for as long as the jump
  return left > 0 && left <= BACKOFF_MAX_MS;
}

/** interval ±10 %; `rand` in [0, 1) */
export function jitter(ms: number, rand: number): number {
  return Math.round(ms * (0.9 + 0.2 * rand));
}
