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
});
