/**
 * `fn` for each item, at most `limit` at a time, started in order: what `Promise.all(items.map((x) => queue.add(() =>
 * fn(x))))` over a PQueue of that concurrency does (the first `limit` start at once, each next one when one ends; a
 * failure rejects at once and the others still run), without PQueue's bookkeeping made up front for every item (an
 * options object, id, symbol, promise and closures a task, all kept until the task runs: for a group of 2,000 nodes,
 * kept through the whole stage and left as old-space garbage every pass).
 */
export function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  if (!(typeof limit === 'number' && limit >= 1)) throw new TypeError(`Expected \`concurrency\` to be a number from 1 and up, got \`${String(limit)}\``);
  return new Promise<void>((resolve, reject) => {
    let next = 0;
    let running = 0;
    let failed = false;
    const start = (): void => {
      while (running < limit && next < items.length) {
        const item = items[next++]!;
        running++;
        let p: Promise<unknown>;
        try {
          p = fn(item);
        } catch (e) {
          p = Promise.reject(e);
        }
        p.then(done, (e: unknown) => {
          if (!failed) {
            failed = true;
            reject(e);
          }
          done();
        });
      }
    };
    const done = (): void => {
      running--;
      if (next >= items.length && running === 0) {
        if (!failed) resolve();
        return;
      }
      start();
    };
    if (items.length === 0) resolve();
    else start();
  });
}
