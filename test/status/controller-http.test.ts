/**
 * `clawops controller run --listen` wires its listener to the controller's passes (controllerHttp → onPass): the
 * listener looks at the status once after every finished pass instead of sampling it every second, and lets go of
 * the controller when it closes.
 */
import { describe, expect, it } from 'vitest';
import { controllerHttp } from '../../reconciler/commands/controller.js';
import type { PassSummary } from '../../reconciler/controller/loop.js';
import { startServer } from '../../reconciler/controller/server.js';
import type { StatusDoc } from '../../reconciler/controller/status.js';
import { get, pageFleetStatus, silentLog } from './fixtures.js';
import { parsePrometheusText, sampleValue } from './prom-text.js';

/** Enough of a Controller for the listener: its status, and the pass listeners it was given. */
function fakeController(doc: StatusDoc) {
  const listeners: ((s: PassSummary) => void)[] = [];
  let reads = 0;
  return {
    listeners,
    reads: () => reads,
    c: {
      status: () => {
        reads++;
        return doc;
      },
      alive: () => true,
      trigger: () => undefined,
      onPass: (fn: (s: PassSummary) => void) => {
        listeners.push(fn);
        return () => listeners.splice(listeners.indexOf(fn), 1);
      },
    },
  };
}

describe('the controller listener hears of every pass', () => {
  it('subscribes to onPass, reads the status once per pass (no sampling), and unsubscribes on close', async () => {
    const doc = pageFleetStatus();
    const f = fakeController(doc);
    const http = await startServer({ host: '127.0.0.1', port: 0 }, controllerHttp(f.c, silentLog()));
    try {
      expect(f.listeners).toHaveLength(1);
      const afterStart = f.reads();
      await new Promise((r) => setTimeout(r, 2300));
      expect(f.reads()).toBe(afterStart); // a sampling listener would have read it twice by now

      // a pass finishes: the store recorded it (its history grew), the controller tells its listeners
      const before = parsePrometheusText((await get(http.address.port, '/metrics')).body);
      doc.history.unshift({ id: 'p-new', startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), outcome: 'ok', durationMs: 700, nodes: [], verdicts: [] });
      const reads = f.reads();
      for (const fn of f.listeners) fn({ id: 'p-new', outcome: 'ok', trigger: 'interval', durationMs: 700 });
      expect(f.reads()).toBe(reads + 1);
      const after = parsePrometheusText((await get(http.address.port, '/metrics')).body);
      expect(sampleValue(after, 'clawops_pass_duration_seconds_count')).toBe(sampleValue(before, 'clawops_pass_duration_seconds_count')! + 1);
      expect(sampleValue(after, 'clawops_pass_duration_seconds_bucket', { le: '1' })).toBe(sampleValue(before, 'clawops_pass_duration_seconds_bucket', { le: '1' })! + 1);
    } finally {
      await http.close();
    }
    expect(f.listeners).toHaveLength(0);
  });

  it('without onPass (a listener of its own), it samples the status every second', async () => {
    const f = fakeController(pageFleetStatus());
    const { onPass: _none, ...noPass } = controllerHttp(f.c, silentLog());
    const http = await startServer({ host: '127.0.0.1', port: 0 }, noPass);
    try {
      const afterStart = f.reads();
      await new Promise((r) => setTimeout(r, 2300));
      expect(f.reads()).toBeGreaterThanOrEqual(afterStart + 2);
    } finally {
      await http.close();
    }
  });
});
