/**
 * share.ts: what a pass keeps of a node (its slimmed observation, plan, status record) is last pass's where nothing
 * changed, another node's where that is equal, and a copy made here otherwise; never what observe, plan or derive
 * made (that must die young), and always deep-equal to it, keys in the same order (the store's bytes do not change).
 */
import { describe, expect, it } from 'vitest';
import { sameValue, share } from '../../reconciler/share.js';

const rec = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  node: 'gw-1',
  state: 'Synced',
  lastPass: 'p1',
  sync: { status: 'InSync', running: [{ commit: 'c'.repeat(40) }], differences: 0 },
  tenants: {
    acme: { tenant: 'acme', health: { status: 'ok' }, probe: { status: 'ok', checks: [], at: 't1' }, tokens: { current: { present: true, mode: '600' } } },
    globex: { tenant: 'globex', health: { status: 'ok' }, contents: { 'openclaw.json': Buffer.from('{"a":1}') } },
  },
  ...over,
});

/** every object and array reachable from v */
function objects(v: unknown, out = new Set<object>()): Set<object> {
  if (v === null || typeof v !== 'object' || out.has(v)) return out;
  out.add(v);
  if (!Buffer.isBuffer(v)) for (const c of Object.values(v)) objects(c, out);
  return out;
}

describe('share', () => {
  it('gives last pass’s value itself when nothing changed', () => {
    const prev = rec();
    const next = rec();
    expect(share(prev, next)).toBe(prev);
  });

  it('keeps what did not change, copies what did, and never keeps anything of next', () => {
    const prev = rec();
    const next = rec({ lastPass: 'p2' });
    (next.tenants as Record<string, Record<string, unknown>>).acme!.probe = { status: 'ok', checks: [], at: 't2' };
    const got = share(prev, next) as ReturnType<typeof rec>;
    expect(got).toEqual(next);
    expect(JSON.stringify(got)).toBe(JSON.stringify(next));
    expect(got).not.toBe(prev);
    expect(got.sync).toBe(prev.sync);
    const [gt, pt] = [got.tenants as Record<string, Record<string, unknown>>, prev.tenants as Record<string, Record<string, unknown>>];
    expect(gt.globex).toBe(pt.globex);
    expect(gt.acme!.health).toBe(pt.acme!.health);
    expect(gt.acme!.tokens).toBe(pt.acme!.tokens);
    expect(gt.acme!.probe).not.toBe(pt.acme!.probe);
    expect((gt.acme!.probe as { checks: unknown }).checks).toBe((pt.acme!.probe as { checks: unknown }).checks);
    // nothing of next is kept: it dies young
    const mine = objects(next);
    for (const o of objects(got)) if (!Buffer.isBuffer(o)) expect(mine.has(o)).toBe(false);
  });

  it('shares with another node’s value what last pass did not have', () => {
    const other = rec({ node: 'gw-2' });
    const next = rec({ node: 'gw-3' });
    const got = share(undefined, next, other) as ReturnType<typeof rec>;
    expect(got).toEqual(next);
    expect(got.node).toBe('gw-3');
    expect(got.tenants).toBe(other.tenants);
    expect(got.sync).toBe(other.sync);
  });

  it('keeps the objects it is told are made to be kept as they are', () => {
    const prev = rec();
    const next = rec({ lastPass: 'p2' });
    const probe = { status: 'ok', checks: [], at: 't2' };
    (next.tenants as Record<string, Record<string, unknown>>).acme!.probe = probe;
    const got = share(prev, next, undefined, new Set([probe])) as ReturnType<typeof rec>;
    expect(got).toEqual(next);
    const gt = got.tenants as Record<string, Record<string, unknown>>;
    expect(gt.acme!.probe).toBe(probe);
    expect(gt.acme).not.toBe((next.tenants as Record<string, unknown>).acme);
    expect(gt.globex).toBe((prev.tenants as Record<string, unknown>).globex);
    // equal to last pass's: last pass's, all the same
    expect(share(prev, rec(), undefined, new Set([probe]))).toBe(prev);
  });

  it('takes no value that differs in key order, Buffer bytes, array length or kind', () => {
    const a = { x: 1, y: 2 };
    const b = { y: 2, x: 1 };
    expect(sameValue(a, b)).toBe(false);
    expect(Object.keys(share(a, b))).toEqual(['y', 'x']);
    expect(sameValue(Buffer.from('a'), Buffer.from('b'))).toBe(false);
    expect(sameValue(Buffer.from('a'), Buffer.from('a'))).toBe(true);
    expect(sameValue([1, 2], [1, 2, 3])).toBe(false);
    expect(sameValue({ 0: 1 }, [1])).toBe(false);
    expect(sameValue({ a: undefined }, {})).toBe(false);
    expect(sameValue(new Map(), new Map())).toBe(false);
    const m = new Map([[1, 2]]);
    expect(share({ m: new Map() }, { m }).m).toBe(m);
    const proto = JSON.parse('{"__proto__": {"x": 1}, "y": 2}') as Record<string, unknown>;
    const got = share(undefined, proto);
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(Object.keys(got)).toEqual(['__proto__', 'y']);
    expect(JSON.stringify(got)).toBe(JSON.stringify(proto));
  });

  it('gives what comparing whole values first gave, part for part (random values: last pass\'s, another node\'s, own)', () => {
    // the reference: prev when deep-equal, else also when deep-equal, else a copy of next made part by part
    const isPlain = (v: object): boolean => [Object.prototype, null].includes(Object.getPrototypeOf(v) as object | null);
    const asObj = (v: unknown): Record<string, unknown> | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) && isPlain(v) ? (v as Record<string, unknown>) : undefined);
    const kid = (o: Record<string, unknown> | undefined, k: string): unknown => (o !== undefined && Object.hasOwn(o, k) ? o[k] : undefined);
    const ref = (prev: unknown, also: unknown, next: unknown, own: ReadonlySet<object>): unknown => {
      if (prev !== undefined && sameValue(prev, next)) return prev;
      if (also !== undefined && sameValue(also, next)) return also;
      if (typeof next !== 'object' || next === null || Buffer.isBuffer(next) || own.has(next)) return next;
      if (Array.isArray(next)) return next.map((x, i) => ref(Array.isArray(prev) && i < prev.length ? (prev as unknown[])[i] : undefined, Array.isArray(also) && i < also.length ? (also as unknown[])[i] : undefined, x, own));
      if (!isPlain(next)) return next;
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(next)) {
        const v = ref(kid(asObj(prev), k), kid(asObj(also), k), (next as Record<string, unknown>)[k], own);
        if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
        else out[k] = v;
      }
      return out;
    };
    // a small deterministic generator of values alike enough to share parts
    let seed = 7;
    const rnd = (n: number): number => Math.floor(((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * n);
    const obj = (depth: number): Record<string, unknown> => {
      const o: Record<string, unknown> = {};
      for (const k of ['k', 'j', 'i', 'h'].slice(0, rnd(5))) if (rnd(4) > 0) o[k] = gen(depth + 1);
      return rnd(5) === 0 ? { ...o, z: gen(depth + 1) } : o;
    };
    const gen = (depth: number): unknown => {
      const r = rnd(depth > 3 ? 6 : 10);
      if (r === 0) return rnd(3);
      if (r === 1) return ['a', 'b', ''][rnd(3)];
      if (r === 2) return [true, null, undefined][rnd(3)];
      if (r === 3) return Buffer.from(['x', 'y'][rnd(2)]!);
      if (r === 4) return rnd(4) === 0 ? new Map() : Number.NaN;
      if (r === 5) return rnd(2) === 0 ? [] : {};
      if (r < 8) return Array.from({ length: rnd(4) }, () => gen(depth + 1));
      return obj(depth);
    };
    /** next made from base with a few parts replaced or reordered (so prev, also and next are alike) */
    const vary = (v: unknown): unknown => {
      if (rnd(6) === 0) return gen(2);
      if (Array.isArray(v)) return v.map(vary);
      if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v) && isPlain(v)) {
        const e = Object.entries(v).map(([k, x]): [string, unknown] => [k, vary(x)]);
        return Object.fromEntries(rnd(8) === 0 ? e.reverse() : e);
      }
      return v;
    };
    /** every object reachable from v, named by where it is (the first place found) */
    const tag = (v: unknown, name: string, m: Map<object, string>, path = ''): Map<object, string> => {
      if (v === null || typeof v !== 'object' || m.has(v)) return m;
      m.set(v, `${name}${path}`);
      if (!Buffer.isBuffer(v) && (Array.isArray(v) || isPlain(v))) for (const [k, x] of Object.entries(v)) tag(x, name, m, `${path}/${k}`);
      return m;
    };
    /** which parts of a result are prev's, also's, own or next's (by where they are there), and where in the result */
    const origin = (got: unknown, roots: Map<object, string>, path = ''): string[] => {
      if (got === null || typeof got !== 'object') return [];
      if (roots.has(got)) return [`${path}=${roots.get(got)!}`];
      if (Buffer.isBuffer(got) || !(Array.isArray(got) || isPlain(got))) return [`${path} new`];
      return Object.entries(got).flatMap(([k, v]) => origin(v, roots, `${path}/${k}`));
    };
    for (let run = 0; run < 5000; run++) {
      const base = rnd(4) === 0 ? gen(0) : obj(0);
      const prev = rnd(6) === 0 ? undefined : vary(base);
      const also = rnd(3) === 0 ? undefined : vary(base);
      const next = vary(base);
      const own = new Set<object>();
      if (next !== null && typeof next === 'object' && rnd(4) === 0) for (const v of Object.values(next)) if (v !== null && typeof v === 'object') own.add(v as object);
      if (next !== null && typeof next === 'object' && rnd(20) === 0) own.add(next);
      const want = ref(prev, also, next, own);
      const got = share(prev, next, also, own);
      expect(JSON.stringify(got)).toBe(JSON.stringify(want));
      expect(Object.keys(got ?? {})).toEqual(Object.keys(want ?? {}));
      const roots = tag(next, 'next', tag(also, 'also', tag(prev, 'prev', new Map())));
      expect(origin(got, roots)).toEqual(origin(want, roots));
    }
  });
});
