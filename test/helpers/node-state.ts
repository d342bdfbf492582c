/**
 * Looking at (and racing) a fleet node's state from the test host: a snapshot of a directory tree that changes when
 * anything under it is created, removed, retargeted, rewritten or touched, and an apply whose plan was made before
 * the node changed under it (to exercise the node-side checks the planner would otherwise catch first).
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { applyFleet, type FleetApplyResult } from '../../reconciler/apply/apply-fleet.js';
import type { ApplyEvent, RunContext } from '../../reconciler/apply/apply-node.js';
import { observeAndPlan } from '../../reconciler/commands/diff.js';
import type { Transport } from '../../reconciler/transport/transport.js';

/**
 * Every entry under `root` (not following links) as one line: path, kind, mode, size, mtime, and the link target or
 * the content's sha256. Two equal snapshots: nothing under `root` was touched.
 */
export function treeSnapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = rel === '' ? root : join(root, rel);
    const st = lstatSync(abs);
    const mode = (st.mode & 0o7777).toString(8);
    const base = `${JSON.stringify(rel)} ${mode} ${st.mtimeMs}`;
    if (st.isSymbolicLink()) out.push(`${base} link ${JSON.stringify(readlinkSync(abs))}`);
    else if (st.isDirectory()) {
      out.push(`${base} dir`);
      for (const n of readdirSync(abs).sort()) walk(rel === '' ? n : join(rel, n));
    } else out.push(`${base} file ${st.size} ${createHash('sha256').update(readFileSync(abs)).digest('hex')}`);
  };
  walk('');
  return out;
}

export interface RaceResult extends FleetApplyResult {
  events: ApplyEvent[];
  run: string;
}

/**
 * Plan against the nodes as they are, then run `between` (which changes a node behind the planner's back), then
 * apply that plan. `ctx` overrides parts of the run context (the run id, lockTtlSec, onEvent is chained).
 */
export async function applyAfter(
  opts: { repo: string; identity: string; nodes?: string[]; wrap?: (transports: ReadonlyMap<string, Transport>) => void },
  between: () => Promise<void>,
  ctx: Partial<RunContext> = {},
): Promise<RaceResult> {
  const r = await observeAndPlan({ repo: opts.repo, identity: opts.identity, ...(opts.nodes ? { node: opts.nodes } : {}) }, {}, true);
  const events: ApplyEvent[] = [];
  const run = ctx.run ?? `race${Date.now().toString(16)}`;
  try {
    // (wrap: the run's own connections, e.g. to act on the node between two of its steps)
    opts.wrap?.(r.fleet.transports);
    await between();
    const res = await applyFleet(r.plan, r.desired, r.fleet.transports, {
      actor: 'test@race',
      pid: process.pid,
      lockTtlSec: 900,
      now: () => new Date(),
      ...(r.source.commit ? { commit: r.source.commit } : {}),
      ...ctx,
      run,
      onEvent: (e) => {
        events.push(e);
        ctx.onEvent?.(e);
      },
    }, 4);
    return { ...res, events, run };
  } finally {
    await Promise.all([...r.fleet.transports.values()].map((t) => t.close().catch(() => undefined)));
    r.source.cleanup();
  }
}
