/**
 * Structural sharing between passes. A steady pass finds every node as the last one did: its slimmed observation, its
 * plan and its status record are, but for a few fields (the node's clock, how long observe took, the health stage's
 * answer time, the pass id), deep-equal to last pass's. Made afresh, all of that lived for the whole pass, survived
 * the young generation's scavenges and became old-space garbage at the end of the pass (scale bench, 500 nodes: ~60
 * KiB a node a pass, collected only every few passes, so the heap grew to several times what was live).
 *
 * `share(prev, next)` keeps what the pass holds on to made of last pass's objects where they are equal, and of copies
 * made here where they are not; `next` (what observe, plan or derive just made) is never kept, so it dies young. That
 * matters twice: a kept object is not garbage next pass, and V8 decides per allocation site whether its objects are
 * allocated straight in the old generation (allocation-site pretenuring, decided once from how many of them survive a
 * scavenge, then for good): the sites of the parser, planner and derive make objects that all die young, so they stay
 * in the young generation; the copies made here are the long-lived ones.
 *
 * Only for data nothing mutates once the pass has made it (plain objects, arrays, strings, numbers, Buffers): slimmed
 * observations, plans and status records are read, never written, by every stage after (derive.ts, health-stage.ts,
 * gating.ts, status.ts, apply, the store and the views).
 */

const isPlain = (v: object): boolean => {
  const p = Object.getPrototypeOf(v) as unknown;
  return p === Object.prototype || p === null;
};

/** an empty object of `v`'s kind: plain, or without a prototype (parse-observation.ts dict) */
const emptyLike = (v: object): Record<string, unknown> => (Object.getPrototypeOf(v) === null ? (Object.create(null) as Record<string, unknown>) : {});

/**
 * A value deep-equal to `next`: `prev` itself when all of it is deep-equal (plain objects with the same keys in the
 * same order, arrays with the same elements, Buffers with the same bytes, equal primitives), else `also` when that is,
 * else a copy of `next` whose parts are, each, prev's or also's equal part where there is one. `prev` is what the same
 * node had last pass; `also` what another node has (the nodes of a fleet mostly run the same releases: their
 * manifests, links, files and most of their records are equal, and kept once). Objects of other kinds (Map, class
 * instances) are taken from `next` as they are, and so are the objects `own` names (made to be kept: copying them would
 * only add garbage).
 */
export function share<T>(prev: T | undefined, next: T, also?: T, own?: ReadonlySet<object>): T {
  const p = asObject(prev);
  const n = asObject(next);
  if (p === undefined || n === undefined || own?.has(n)) return shareValue(prev, also, next, own) as T;
  // The top level is walked key by key, not compared whole first: what a pass keeps differs from last pass's at the
  // top (the node's clock and how long observe took come after its tenants; the pass id on a status record), so a
  // compare of the whole walked it all, tenants included, once more before each part was shared. Last pass's value
  // itself when every part came back as its own, under the same keys in the same order (that is: deep-equal).
  const kp = TOP_KEYS;
  let m = 0;
  for (const k in p) if (Object.hasOwn(p, k)) kp[m++] = k;
  const a = asObject(also);
  let out: Record<string, unknown> | undefined;
  let i = 0;
  for (const k in n) {
    if (!Object.hasOwn(n, k)) continue;
    const v = shareValue(child(p, k), child(a, k), n[k], own);
    if (out === undefined && (i >= m || kp[i] !== k || v !== p[k])) {
      out = emptyLike(n);
      for (let j = 0; j < i; j++) put(out, kp[j]!, p[kp[j]!]);
    }
    if (out !== undefined) put(out, k, v);
    i++;
  }
  if (out === undefined) {
    if (i === m && Object.getPrototypeOf(p) === Object.getPrototypeOf(n)) return prev as T;
    out = emptyLike(n);
    for (let j = 0; j < i; j++) put(out, kp[j]!, p[kp[j]!]);
  }
  // another node's value when it is deep-equal and last pass's is not (as shareValue)
  return (also !== undefined && sameValue(also, next) ? also : out) as T;
}

/** share's list of prev's top-level keys (reused: share does not call itself) */
const TOP_KEYS: string[] = [];

const put = (out: Record<string, unknown>, k: string, v: unknown): void => {
  // an own `__proto__` key stays a key (assigning it would set the prototype)
  if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  else out[k] = v;
};

/**
 * One key list a nesting depth, reused by every sameValue call at that depth: a comparison allocates nothing (a new
 * list an object compared was the pass's largest allocation at 500 nodes: ~78 KB a node a pass).
 */
const KEY_LISTS: string[][] = [];
let depth = 0;

/** deep equality as share() means it (no allocation: key lists are reused) */
export function sameValue(a: unknown, b: unknown): boolean {
  depth++;
  try {
    return same(a, b);
  } finally {
    depth--;
  }
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  // (and of one kind: a map without a prototype, keyed by names a node chose, stays one)
  if (!isPlain(a) || !isPlain(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  // the same own keys in the same order (a record shared is serialised exactly as the new one would have been)
  const ky = (KEY_LISTS[depth] ??= []);
  let m = 0;
  for (const k in y) if (Object.hasOwn(y, k)) ky[m++] = k;
  let n = 0;
  for (const k in x) {
    if (!Object.hasOwn(x, k)) continue;
    // (ky is this depth's: the calls below use deeper lists; read before them)
    if (n >= m || ky[n] !== k || !sameValue(x[k], y[k])) return false;
    n++;
  }
  return n === m;
}

const asObject = (v: unknown): Record<string, unknown> | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) && isPlain(v) ? (v as Record<string, unknown>) : undefined);
const child = (o: Record<string, unknown> | undefined, k: string): unknown => (o !== undefined && Object.hasOwn(o, k) ? o[k] : undefined);

function shareValue(prev: unknown, also: unknown, next: unknown, own: ReadonlySet<object> | undefined): unknown {
  if (prev !== undefined && sameValue(prev, next)) return prev;
  if (also !== undefined && sameValue(also, next)) return also;
  if (typeof next !== 'object' || next === null || Buffer.isBuffer(next)) return next;
  // made to be kept already (the health stage's answers, kept since the node's health command): no copy
  if (own?.has(next)) return next;
  if (Array.isArray(next)) {
    const p = Array.isArray(prev) ? (prev as unknown[]) : undefined;
    const a = Array.isArray(also) ? (also as unknown[]) : undefined;
    const out: unknown[] = [];
    for (let i = 0; i < next.length; i++) out.push(shareValue(p !== undefined && i < p.length ? p[i] : undefined, a !== undefined && i < a.length ? a[i] : undefined, next[i], own));
    return out;
  }
  if (!isPlain(next)) return next;
  const p = asObject(prev);
  const a = asObject(also);
  const n = next as Record<string, unknown>;
  const out = emptyLike(n);
  for (const k in n) {
    if (!Object.hasOwn(n, k)) continue;
    put(out, k, shareValue(child(p, k), child(a, k), n[k], own));
  }
  return out;
}
