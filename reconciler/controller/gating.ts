/**
 * Refs and gating, pure: which commit each ref pins, what a pass proved about a commit on the canaries, and whether
 * a fleet commit may fan out to the other nodes. No I/O; the pass (pass.ts) feeds it facts and stores the result.
 *
 * The bar for a fleet commit C (issue 10): every canary runs C (its releases for C are current), C's health gate did
 * not fail on it (an automatic rollback marks C failed for good), and it was green on `green_passes` consecutive
 * passes — observed running C with health `ok` (or `degraded` when allow_degraded) and nothing applied to it in that
 * pass; with require_replay also a passed fixture replay. Once met, C is `proven` and stays so.
 */
import type { GatingSettings } from './settings.js';
import type { Backoff, CanaryEvidence, CommitEvidence, ErrorRecord, HealthStatus, ReplayEvidence } from './status.js';

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
    } else if (!f.runsAtObserve) {
      c.note = `does not run ${short(commit.commit)}`;
    } else {
      c.running = true;
      if (green(f.health, gating)) c.greenPasses = (before?.greenPasses ?? 0) + 1;
      else c.note = `health ${f.health}${f.health === 'degraded' ? ' (gating.allow_degraded is false)' : ''}`;
    }
    ev.canaries[f.node] = c;
  }
  if (ev.verdict !== 'proven' && fleetGate(ev, facts.map((f) => f.node), gating).open) {
    ev.verdict = 'proven';
    ev.verdictAt = pass.now;
  }
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
  if (gating.require_replay && evidence?.replay !== 'passed') missing.push(`fixture replay for ${short(c)} is ${replayWord(evidence?.replay)}`);
  return missing.length === 0 ? { open: true, reason: `commit ${short(c)} proven on the canaries` } : { open: false, reason: missing.join('; ') };
}

function replayWord(r: ReplayEvidence | undefined): string {
  return r === 'failed' ? 'failed' : 'not passed yet (clawops replay)';
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
  return b !== undefined && Date.parse(b.until) > now.getTime();
}

/** interval ±10 %; `rand` in [0, 1) */
export function jitter(ms: number, rand: number): number {
  return Math.round(ms * (0.9 + 0.2 * rand));
}
