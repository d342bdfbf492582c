/**
 * What a long-running reader of the status (the controller's own HTTP side) still has to learn by watching it: the
 * pass-duration histogram. Everything else it shows is in the store (controller/status.ts, schema 2): the last
 * passes with what each changed (`history`) and cumulative counters (`counters`), recorded once per pass when the
 * store is written, so they survive a restart. A histogram's buckets are not kept in the store: it is fed here with
 * each pass of the history that finished since the reader started, and so starts empty with the reader, as a
 * Prometheus histogram of a restarted process does. Pure.
 */
import type { StatusDoc } from '../controller/status.js';

export interface PassWatch {
  /** ids of the history entries already seen (the history is bounded, so is this) */
  seen: string[];
}

/**
 * The passes of `doc.history` that finished since the last look, oldest first, with their duration in seconds. The
 * first look is a baseline: what happened before the reader started is not observed.
 */
export function newPasses(w: PassWatch | undefined, doc: StatusDoc): { watch: PassWatch; passes: { id: string; seconds?: number }[] } {
  const history = doc.history ?? [];
  const ids = history.map((h) => h.id);
  if (!w) return { watch: { seen: ids }, passes: [] };
  const seen = new Set(w.seen);
  const passes = history
    .filter((h) => !seen.has(h.id))
    .reverse()
    .map((h) => ({ id: h.id, ...(h.durationMs !== undefined ? { seconds: h.durationMs / 1000 } : {}) }));
  return { watch: { seen: ids }, passes };
}
