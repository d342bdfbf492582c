/**
 * The webhook-failure digest: deduplication and rolling windows. Pure: no I/O, no clock — every call takes `nowMs`.
 *
 * - Key: tenant + endpoint origin (scheme://host[:port]) + status family. One canary endpoint failing 500 times is
 *   one row with count 500, whatever the paths, delivery ids and exact codes.
 * - Families: 4xx, 5xx, timeout, network, and `other` for 1xx-3xx (a gateway that reports a redirect or an
 *   unexpected 2xx as a failed delivery is still telling us delivery failed; we keep it, ranked least bad).
 * - Window: events count by ARRIVAL time (the notifier's clock), not the gateway's `time`, so a skewed or replaying
 *   gateway cannot pin rows forever or make them vanish early. The window is `window_sec` long and advances in
 *   steps of window_sec/slots (default 10 slots: 30 s steps for 5 min), so an event counts for between
 *   window_sec·(1-1/slots) and window_sec. `first_seen`/`last_seen` are the gateway's own times of the events counted.
 * - Memory: at most `maxKeys` live keys. When full, an event for a NEW key is not stored and counts in `overflow`
 *   (it still counts in `total`); existing keys keep counting, so a flood of junk endpoints cannot push a real,
 *   persistent failure out of the digest. Keys whose slots have all expired are freed.
 * - Worst first: family rank (5xx > timeout > network > 4xx > other), then count, then most recent, then
 *   tenant/endpoint for a stable order.
 */
import type { FailureStatus } from './failure-line.js';

export type Family = '5xx' | 'timeout' | 'network' | '4xx' | 'other';

/**
 * Higher is worse. 5xx: the receiver says it is broken and retries pile onto it; timeout: the receiver hangs and
 * each delivery holds a gateway worker for its whole timeout; network: nothing answers (fails fast, cheap for us);
 * 4xx: the receiver is up but rejects us (auth/config, retries will not help); other: 1xx-3xx oddities.
 */
export const FAMILY_RANK: Readonly<Record<Family, number>> = { '5xx': 4, timeout: 3, network: 2, '4xx': 1, other: 0 };

export function statusFamily(status: FailureStatus): Family {
  if (status === 'timeout' || status === 'network') return status;
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  return 'other';
}

export interface DigestRow {
  tenant: string;
  /** origin only: scheme://host[:port] */
  endpoint: string;
  family: Family;
  count: number;
  /** count per exact status in the window, e.g. {"502": 3, "503": 497} or {"timeout": 12} */
  statuses: Record<string, number>;
  first_seen: string;
  last_seen: string;
}

export interface DigestSnapshot {
  generated_at: string;
  window_sec: number;
  /** valid failures received in the window, including overflowed ones */
  total: number;
  /** malformed lines (bad JSON, schema violations, overlong lines) received in the window */
  dropped: number;
  /** valid failures not stored because max_keys distinct keys were live */
  overflow: number;
  /** live distinct keys */
  keys: number;
  /** every live row, worst first */
  top: DigestRow[];
}

/** Worst first; a total order so snapshots are deterministic. */
export function compareRows(a: DigestRow, b: DigestRow): number {
  return (
    FAMILY_RANK[b.family] - FAMILY_RANK[a.family] ||
    b.count - a.count ||
    (a.last_seen < b.last_seen ? 1 : a.last_seen > b.last_seen ? -1 : 0) ||
    (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0) ||
    (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0)
  );
}

export interface DigestOptions {
  windowSec: number;
  maxKeys: number;
  /** how many steps the window advances in (default 10) */
  slots?: number;
}

export interface FailureEvent {
  tenant: string;
  /** already reduced to an origin (see endpointOrigin) */
  origin: string;
  status: FailureStatus;
  /** the gateway's timestamp of the failure, ms since epoch */
  timeMs: number;
}

interface Slot {
  idx: number;
  count: number;
  first: number;
  last: number;
  statuses: Map<string, number>;
}

interface Entry {
  tenant: string;
  endpoint: string;
  family: Family;
  /** ascending idx, only live ones after a sweep */
  slots: Slot[];
}

/** The on-disk form (see persist.ts); slot positions are absolute times so a changed window re-buckets cleanly. */
export interface PersistedDigest {
  format: 'clawops-webhook-digest/v1';
  window_sec: number;
  slot_ms: number;
  entries: {
    tenant: string;
    endpoint: string;
    family: Family;
    slots: { at: number; count: number; first: number; last: number; statuses: Record<string, number> }[];
  }[];
  dropped: { at: number; n: number }[];
  overflow: { at: number; n: number }[];
}

/** into: the counts of `from` added (its first/last and statuses too) */
function mergeSlot(into: Slot, from: Slot): void {
  into.count += from.count;
  into.first = Math.min(into.first, from.first);
  into.last = Math.max(into.last, from.last);
  for (const [k, v] of from.statuses) into.statuses.set(k, (into.statuses.get(k) ?? 0) + v);
}

class SlotCounter {
  slots: { idx: number; n: number }[] = [];
  add(idx: number, n: number): void {
    // a clock stepped back: the slots ahead of now become now's (else they would outlive the window by the step)
    let ahead = 0;
    while (this.slots.length > 0 && this.slots[this.slots.length - 1]!.idx > idx) ahead += this.slots.pop()!.n;
    const last = this.slots[this.slots.length - 1];
    if (last && last.idx === idx) last.n += n + ahead;
    else this.slots.push({ idx, n: n + ahead });
  }
  prune(minIdx: number): void {
    while (this.slots.length > 0 && this.slots[0]!.idx < minIdx) this.slots.shift();
  }
  sum(): number {
    let s = 0;
    for (const x of this.slots) s += x.n;
    return s;
  }
}

export class FailureDigest {
  readonly windowSec: number;
  readonly maxKeys: number;
  readonly slotCount: number;
  readonly slotMs: number;
  private readonly entries = new Map<string, Entry>();
  private readonly droppedCounter = new SlotCounter();
  private readonly overflowCounter = new SlotCounter();
  private sweptIdx = Number.NEGATIVE_INFINITY;
  private changes = 0;

  constructor(opts: DigestOptions) {
    if (!(opts.windowSec > 0)) throw new RangeError('windowSec must be > 0');
    if (!(Number.isInteger(opts.maxKeys) && opts.maxKeys > 0)) throw new RangeError('maxKeys must be a positive integer');
    this.windowSec = opts.windowSec;
    this.maxKeys = opts.maxKeys;
    this.slotCount = opts.slots ?? 10;
    this.slotMs = (opts.windowSec * 1000) / this.slotCount;
  }

  /** Bumped on every recorded event; lets callers skip recomputing an unchanged snapshot. */
  get version(): number {
    return this.changes;
  }

  slotIndex(nowMs: number): number {
    return Math.floor(nowMs / this.slotMs);
  }

  /** Live keys right now (after expiring old slots). */
  size(nowMs: number): number {
    this.advance(nowMs);
    return this.entries.size;
  }

  add(ev: FailureEvent, nowMs: number): 'counted' | 'overflow' {
    this.advance(nowMs);
    const idx = this.slotIndex(nowMs);
    const family = statusFamily(ev.status);
    const key = `${ev.tenant}\u0000${ev.origin}\u0000${family}`;
    this.changes++;
    let entry = this.entries.get(key);
    if (!entry) {
      if (this.entries.size >= this.maxKeys) {
        this.overflowCounter.add(idx, 1);
        return 'overflow';
      }
      entry = { tenant: ev.tenant, endpoint: ev.origin, family, slots: [] };
      this.entries.set(key, entry);
    }
    const t = Number.isFinite(ev.timeMs) ? ev.timeMs : nowMs;
    // a clock stepped back: the entry's slots ahead of now become now's slot (else they, and this event, would stay in
    // the digest until the clock caught up)
    while (entry.slots.length > 1 && entry.slots[entry.slots.length - 1]!.idx > idx && entry.slots[entry.slots.length - 2]!.idx >= idx) {
      mergeSlot(entry.slots[entry.slots.length - 2]!, entry.slots.pop()!);
    }
    let slot = entry.slots[entry.slots.length - 1];
    if (slot && slot.idx > idx) slot.idx = idx;
    if (!slot || slot.idx < idx) {
      slot = { idx, count: 0, first: t, last: t, statuses: new Map() };
      entry.slots.push(slot);
    }
    slot.count++;
    if (t < slot.first) slot.first = t;
    if (t > slot.last) slot.last = t;
    const s = String(ev.status);
    slot.statuses.set(s, (slot.statuses.get(s) ?? 0) + 1);
    return 'counted';
  }

  addDropped(nowMs: number, n = 1): void {
    this.advance(nowMs);
    this.changes++;
    this.droppedCounter.add(this.slotIndex(nowMs), n);
  }

  snapshot(nowMs: number): DigestSnapshot {
    this.advance(nowMs);
    const top: DigestRow[] = [];
    let total = 0;
    for (const e of this.entries.values()) {
      let count = 0;
      let first = Number.POSITIVE_INFINITY;
      let last = Number.NEGATIVE_INFINITY;
      const statuses = new Map<string, number>();
      for (const s of e.slots) {
        count += s.count;
        if (s.first < first) first = s.first;
        if (s.last > last) last = s.last;
        for (const [k, v] of s.statuses) statuses.set(k, (statuses.get(k) ?? 0) + v);
      }
      if (count === 0) continue;
      total += count;
      top.push({
        tenant: e.tenant,
        endpoint: e.endpoint,
        family: e.family,
        count,
        statuses: Object.fromEntries([...statuses.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
        first_seen: new Date(first).toISOString(),
        last_seen: new Date(last).toISOString(),
      });
    }
    top.sort(compareRows);
    const overflow = this.overflowCounter.sum();
    return {
      generated_at: new Date(nowMs).toISOString(),
      window_sec: this.windowSec,
      total: total + overflow,
      dropped: this.droppedCounter.sum(),
      overflow,
      keys: top.length,
      top,
    };
  }

  toJSON(): PersistedDigest {
    const at = (idx: number): number => idx * this.slotMs;
    return {
      format: 'clawops-webhook-digest/v1',
      window_sec: this.windowSec,
      slot_ms: this.slotMs,
      entries: [...this.entries.values()].map((e) => ({
        tenant: e.tenant,
        endpoint: e.endpoint,
        family: e.family,
        slots: e.slots.map((s) => ({ at: at(s.idx), count: s.count, first: s.first, last: s.last, statuses: Object.fromEntries(s.statuses) })),
      })),
      dropped: this.droppedCounter.slots.map((s) => ({ at: at(s.idx), n: s.n })),
      overflow: this.overflowCounter.slots.map((s) => ({ at: at(s.idx), n: s.n })),
    };
  }

  /**
   * Rebuild from toJSON() output, possibly written with another window size: slots are re-bucketed by their
   * absolute time, expired ones dropped. Throws TypeError on anything that is not a persisted digest.
   */
  static restore(data: unknown, opts: DigestOptions, nowMs: number): FailureDigest {
    if (!isPersistedDigest(data)) throw new TypeError('not a clawops webhook digest (format clawops-webhook-digest/v1)');
    const d = new FailureDigest(opts);
    for (const pe of data.entries) {
      if (d.entries.size >= d.maxKeys) break;
      const entry: Entry = { tenant: pe.tenant, endpoint: pe.endpoint, family: pe.family, slots: [] };
      for (const ps of [...pe.slots].sort((a, b) => a.at - b.at)) {
        // (a slot saved under a clock that ran ahead is now's: it expires one window from now, like any other)
        const idx = d.slotIndex(Math.min(ps.at, nowMs));
        let slot = entry.slots[entry.slots.length - 1];
        if (!slot || slot.idx < idx) {
          slot = { idx, count: 0, first: ps.first, last: ps.last, statuses: new Map() };
          entry.slots.push(slot);
        }
        slot.count += ps.count;
        slot.first = Math.min(slot.first, ps.first);
        slot.last = Math.max(slot.last, ps.last);
        for (const [k, v] of Object.entries(ps.statuses)) slot.statuses.set(k, (slot.statuses.get(k) ?? 0) + v);
      }
      if (entry.slots.length > 0) d.entries.set(`${entry.tenant}\u0000${entry.endpoint}\u0000${entry.family}`, entry);
    }
    for (const x of [...data.dropped].sort((a, b) => a.at - b.at)) d.droppedCounter.add(d.slotIndex(Math.min(x.at, nowMs)), x.n);
    for (const x of [...data.overflow].sort((a, b) => a.at - b.at)) d.overflowCounter.add(d.slotIndex(Math.min(x.at, nowMs)), x.n);
    d.advance(nowMs);
    return d;
  }

  /** Expire slots that left the window; at most one sweep per slot step, so the hot path stays O(1). */
  private advance(nowMs: number): void {
    const cur = this.slotIndex(nowMs);
    if (cur === this.sweptIdx) return;
    this.sweptIdx = cur;
    const minIdx = cur - this.slotCount + 1;
    for (const [key, e] of this.entries) {
      let drop = 0;
      while (drop < e.slots.length && e.slots[drop]!.idx < minIdx) drop++;
      if (drop > 0) e.slots.splice(0, drop);
      if (e.slots.length === 0) this.entries.delete(key);
    }
    this.droppedCounter.prune(minIdx);
    this.overflowCounter.prune(minIdx);
  }
}

const FAMILY_SET = new Set<string>(Object.keys(FAMILY_RANK));
/** a count: a whole number ≥ 0 a counter can reach */
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
/** a time in ms a Date can hold (±8.64e15: `new Date(1e300).toISOString()` throws, and the service would never start) */
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= 8.64e15;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCounts = (v: unknown): v is { at: number; n: number }[] => Array.isArray(v) && v.every((x) => isObj(x) && isTime(x.at) && isCount(x.n));

function isPersistedDigest(v: unknown): v is PersistedDigest {
  if (!isObj(v) || v.format !== 'clawops-webhook-digest/v1' || !Array.isArray(v.entries)) return false;
  if (!isCounts(v.dropped) || !isCounts(v.overflow)) return false;
  return v.entries.every(
    (e) =>
      isObj(e) &&
      typeof e.tenant === 'string' &&
      typeof e.endpoint === 'string' &&
      typeof e.family === 'string' &&
      FAMILY_SET.has(e.family) &&
      Array.isArray(e.slots) &&
      e.slots.every((s) => isObj(s) && isTime(s.at) && isCount(s.count) && isTime(s.first) && isTime(s.last) && isObj(s.statuses) && Object.values(s.statuses).every(isCount)),
  );
}
