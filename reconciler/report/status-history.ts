/**
 * What a long-running reader of the status (the controller's own HTTP side) learns by watching it change: the store
 * keeps only the last pass, a count of passes and the current records, so the pass history the page shows and the
 * counters /metrics exports are accumulated here, one finished pass at a time. Pure: (history, status) → (history,
 * events). Counters start when the reader starts, as Prometheus counters do.
 *
 * Every event is read off the records a pass wrote, never off log text:
 *   pass        a new finished lastPass (its outcome and duration); passes the reader did not see finish (two
 *               passes between two samples) are counted with result "unobserved", so the sum matches the store's
 *   apply       per node and pass: `applied` (its record or a tenant says Applied), `rolled_back` (a new lastError
 *               RolledBack/HealthCheckFailed), `locked` (a new NodeLocked), `interrupted`, `failed` (the apply backoff
 *               grew without any of those)
 *   rollback    per rolled-back node: `ready` when apply's message says the old release is ready again, else
 *               `not_ready`
 *   fetch-error a new source lastError (SourceUnavailable); several between two samples by the failure count
 */
import type { ControllerState, StatusDoc } from '../controller/status.js';
import { passChanges, passView, type PassView } from './status-model.js';

/** passes the page lists */
export const MAX_PASSES = 20;

export type ApplyResult = 'applied' | 'failed' | 'rolled_back' | 'locked' | 'interrupted';
export const APPLY_RESULTS: readonly ApplyResult[] = ['applied', 'failed', 'rolled_back', 'locked', 'interrupted'];
export type RollbackResult = 'ready' | 'not_ready';
export const ROLLBACK_RESULTS: readonly RollbackResult[] = ['ready', 'not_ready'];

export type StatusEvent =
  | { kind: 'pass'; result: string; seconds?: number }
  | { kind: 'apply'; node: string; result: ApplyResult }
  | { kind: 'rollback'; node: string; result: RollbackResult }
  | { kind: 'fetch-error'; count: number };

export interface StatusHistory {
  /** the last finished pass seen */
  pass?: string;
  /** the store's pass count then */
  passCount: number;
  /** newest first */
  passes: PassView[];
  /** per node as of the last finished pass seen */
  nodes: Record<string, { state: ControllerState; applyFailures: number }>;
  /** per node, the end of the last pass that found it Synced */
  lastSynced: Record<string, string>;
  /** the source's lastError time and failure count last seen */
  fetchError?: string;
  fetchFailures: number;
}

/** A pass outcome is a CamelCase reason from a fixed set; anything else is "other" (labels stay bounded). */
export function passResult(outcome: string): string {
  return /^[A-Za-z][A-Za-z0-9]{0,39}$/.test(outcome) ? outcome : 'other';
}

function nodeSnapshot(doc: StatusDoc): StatusHistory['nodes'] {
  return Object.fromEntries(Object.values(doc.nodes).map((n) => [n.node, { state: n.state, applyFailures: n.backoff?.kind === 'apply' ? n.backoff.failures : 0 }]));
}

function applyEvents(doc: StatusDoc, pass: { id: string; startedAt: string }, before: StatusHistory['nodes']): StatusEvent[] {
  const out: StatusEvent[] = [];
  for (const n of Object.values(doc.nodes).sort((a, b) => (a.node < b.node ? -1 : 1))) {
    if (n.lastPass !== pass.id) continue;
    const fresh = n.lastError && n.lastError.time >= pass.startedAt ? n.lastError : undefined;
    const failures = n.backoff?.kind === 'apply' ? n.backoff.failures : 0;
    const grew = failures > 0 && failures !== (before[n.node]?.applyFailures ?? 0);
    let result: ApplyResult | undefined;
    if (fresh && (fresh.reason === 'RolledBack' || fresh.reason === 'HealthCheckFailed')) result = 'rolled_back';
    else if (fresh?.reason === 'NodeLocked') result = 'locked';
    else if (fresh?.reason === 'Interrupted') result = 'interrupted';
    else if (grew) result = 'failed';
    else if (n.reason === 'Applied' || Object.values(n.tenants ?? {}).some((t) => t.reason === 'Applied')) result = 'applied';
    if (!result) continue;
    out.push({ kind: 'apply', node: n.node, result });
    if (result === 'rolled_back') out.push({ kind: 'rollback', node: n.node, result: /ready again after/.test(fresh?.message ?? '') ? 'ready' : 'not_ready' });
  }
  return out;
}

export function trackStatus(h: StatusHistory | undefined, doc: StatusDoc): { history: StatusHistory; events: StatusEvent[] } {
  const events: StatusEvent[] = [];
  const lp = doc.lastPass;
  const finished = lp?.finishedAt ? lp : undefined;
  const src = doc.source;
  const fetchError = src?.lastError?.reason === 'SourceUnavailable' ? src.lastError.time : undefined;

  if (!h) {
    // the first look: a baseline; what happened before is not counted
    const lastSynced: Record<string, string> = {};
    if (finished) for (const n of Object.values(doc.nodes)) if (n.state === 'Synced' && n.lastPass === finished.id) lastSynced[n.node] = finished.finishedAt!;
    return {
      history: {
        ...(finished ? { pass: finished.id } : {}),
        passCount: doc.passes,
        passes: finished ? [passView(finished, passChanges(doc, finished))] : [],
        nodes: nodeSnapshot(doc),
        lastSynced,
        ...(fetchError ? { fetchError } : {}),
        fetchFailures: src?.failures ?? 0,
      },
      events,
    };
  }

  const next: StatusHistory = { ...h, passes: h.passes, lastSynced: { ...h.lastSynced } };
  if (fetchError && fetchError !== h.fetchError) {
    const f = src.failures;
    events.push({ kind: 'fetch-error', count: f > h.fetchFailures ? f - h.fetchFailures : Math.max(1, f) });
  }
  if (fetchError) next.fetchError = fetchError;
  next.fetchFailures = src?.failures ?? 0;

  if (finished && finished.id !== h.pass) {
    const missed = Math.max(0, doc.passes - h.passCount - 1);
    for (let i = 0; i < missed; i++) events.push({ kind: 'pass', result: 'unobserved' });
    events.push({ kind: 'pass', result: passResult(finished.outcome), ...(finished.durationMs !== undefined ? { seconds: finished.durationMs / 1000 } : {}) });
    events.push(...applyEvents(doc, finished, h.nodes));
    next.passes = [passView(finished, passChanges(doc, finished, h.nodes)), ...h.passes].slice(0, MAX_PASSES);
    next.pass = finished.id;
    next.passCount = doc.passes;
    next.nodes = nodeSnapshot(doc);
    for (const n of Object.values(doc.nodes)) if (n.state === 'Synced' && n.lastPass === finished.id) next.lastSynced[n.node] = finished.finishedAt!;
    // nodes gone from the inventory are forgotten
    for (const k of Object.keys(next.lastSynced)) if (!Object.hasOwn(doc.nodes, k)) delete next.lastSynced[k];
  }
  return { history: next, events };
}
