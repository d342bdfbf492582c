/**
 * each-limit.ts: the observe and health stages' worker pool does what Promise.all over a PQueue of the same
 * concurrency did: at most `limit` at a time, started in order, every item run, the first failure rejects at once
 * while the others still run.
 */
import PQueue from 'p-queue';
import { describe, expect, it } from 'vitest';
import { eachLimit } from '../../reconciler/controller/each-limit.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** what a run looks like: start/end events in order, and the most running at once */
async function trace(run: (items: number[], fn: (i: number) => Promise<void>) => Promise<void>, items: number[], fail?: number): Promise<{ events: string[]; most: number; error?: unknown; after: string[] }> {
  const events: string[] = [];
  let running = 0;
  let most = 0;
  let error: unknown;
  const fn = async (i: number): Promise<void> => {
    events.push(`start ${i}`);
    most = Math.max(most, ++running);
    for (let k = 0; k < (i % 3) + 1; k++) await tick();
    running--;
    events.push(`end ${i}`);
    if (i === fail) throw new Error(`item ${i}`);
  };
  await run(items, fn).catch((e: unknown) => void (error = e));
  const at = events.length;
  for (let k = 0; k < 20; k++) await tick();
  return { events: events.slice(0, at), most, ...(error !== undefined ? { error } : {}), after: events.slice(at) };
}

const viaQueue = (limit: number) => (items: number[], fn: (i: number) => Promise<void>): Promise<void> => {
  const q = new PQueue({ concurrency: limit });
  return Promise.all(items.map((i) => q.add(() => fn(i)))).then(() => undefined);
};
const viaEach = (limit: number) => (items: number[], fn: (i: number) => Promise<void>): Promise<void> => eachLimit(items, limit, fn);

describe('eachLimit', () => {
  it.each([1, 3, 10])('runs as Promise.all over a PQueue of concurrency %i does', async (limit) => {
    const items = Array.from({ length: 25 }, (_, i) => i);
    const a = await trace(viaQueue(limit), items);
    const b = await trace(viaEach(limit), items);
    expect(b.most).toBe(Math.min(limit, items.length));
    expect(b.events.filter((e) => e.startsWith('start'))).toEqual(items.map((i) => `start ${i}`));
    expect(b.events).toEqual(a.events);
  });

  it('a failure rejects at once and the other items still run, as with PQueue', async () => {
    const items = Array.from({ length: 12 }, (_, i) => i);
    const a = await trace(viaQueue(3), items, 4);
    const b = await trace(viaEach(3), items, 4);
    expect((b.error as Error).message).toBe('item 4');
    expect(b.events).toEqual(a.events);
    expect(b.after).toEqual(a.after);
    expect([...b.events, ...b.after].filter((e) => e.startsWith('end'))).toHaveLength(12);
  });

  it('an item that throws before its first await rejects too; nothing to do resolves; a bad limit is refused', async () => {
    await expect(eachLimit([1, 2], 2, (i) => (i === 2 ? (() => { throw new Error('sync'); })() : Promise.resolve()))).rejects.toThrow('sync');
    await expect(eachLimit([], 4, () => Promise.reject(new Error('never')))).resolves.toBeUndefined();
    expect(() => eachLimit([1], 0, () => Promise.resolve())).toThrow(TypeError);
  });
});
