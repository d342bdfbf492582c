/**
 * Apply a plan across the fleet: notifier nodes before gateways, canary nodes before the rest. A failure in any
 * phase but the last stops the run before the next phase (a broken canary or notifier never reaches the others).
 * Within a phase nodes run in parallel, at most `concurrency` worked on at once (NodeSlots); each node has exactly one
 * worker and one connection. The run's nodes share one ValidationMemo: a release is validated by OpenClaw on the first
 * node that deploys it and only checked for each further node's own secret files (issue 12); a node waiting for that
 * verdict gives its place to the next node meanwhile.
 */
import type { DesiredState } from '../desired/types.js';
import type { NodePlan, Plan } from '../plan/types.js';
import type { Transport } from '../transport/transport.js';
import { applyNode, blockedResult, skippedResult, type NodeApplyResult, type RunContext } from './apply-node.js';
import { ValidationMemo } from './validation-memo.js';

export interface Phase {
  name: string;
  nodes: NodePlan[];
}

/** Pure: the order nodes are worked on. Empty phases are dropped. */
export function phases(nodes: readonly NodePlan[]): Phase[] {
  const isNotifier = (n: NodePlan): boolean => n.role === 'notifier';
  const all: Phase[] = [
    { name: 'canary notifiers', nodes: nodes.filter((n) => isNotifier(n) && n.canary) },
    { name: 'notifiers', nodes: nodes.filter((n) => isNotifier(n) && !n.canary) },
    { name: 'canary gateways', nodes: nodes.filter((n) => !isNotifier(n) && n.canary) },
    { name: 'gateways', nodes: nodes.filter((n) => !isNotifier(n) && !n.canary) },
  ];
  return all.filter((p) => p.nodes.length > 0);
}

/**
 * At most `limit` nodes worked on at once. A node that has done its part and only waits for the verdict another node
 * is working on (ValidationMemo.decide) gives its place up meanwhile and, when the verdict is in, gets one back before
 * any node not started yet: the next nodes lock, stage and check while OpenClaw validates (an apply of 20 nodes at 10
 * at once no longer spends the validation with 9 nodes idle and 10 not started), and never more than `limit` nodes go
 * past the verdict to their swaps at once.
 */
export class NodeSlots {
  private free: number;
  /** FIFO, nodes coming back from a wait before nodes not started */
  private readonly queue: { back: boolean; go: () => void }[] = [];
  constructor(limit: number) {
    this.free = Math.max(1, Math.floor(limit));
  }
  /** a place for a node (back: it had one and gave it up to wait) */
  acquire(back = false): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((go) => {
      const at = back ? this.queue.findIndex((w) => !w.back) : -1;
      if (at < 0) this.queue.push({ back, go });
      else this.queue.splice(at, 0, { back, go });
    });
  }
  release(): void {
    const next = this.queue.shift();
    if (next) next.go();
    else this.free++;
  }
  /** wait for `p` without holding a place; the place is taken again before this resolves */
  async whileWaiting<T>(p: Promise<T>): Promise<T> {
    this.release();
    try {
      return await p;
    } finally {
      await this.acquire(true);
    }
  }
}

export interface FleetApplyResult {
  results: NodeApplyResult[];
  /** why later phases were not run */
  halted?: string;
  ok: boolean;
}

export async function applyFleet(plan: Plan, desired: DesiredState, transports: ReadonlyMap<string, Transport>, runCtx: RunContext, concurrency: number): Promise<FleetApplyResult> {
  // each distinct release is validated by `openclaw config validate` once per run, on the first node that needs it
  const ctx: RunContext = { ...runCtx, validations: runCtx.validations ?? new ValidationMemo() };
  const results = new Map<string, NodeApplyResult>();
  const ordered = phases(plan.nodes);
  let halted: string | undefined;
  for (const [i, phase] of ordered.entries()) {
    if (!halted && ctx.signal?.aborted) halted = 'interrupted';
    if (halted) {
      for (const n of phase.nodes) {
        results.set(n.node, skippedResult(n.node, halted));
        ctx.onEvent({ node: n.node, step: 'node', state: 'warn', message: `skipped: ${halted}` });
      }
      continue;
    }
    const slots = new NodeSlots(concurrency);
    const nodeCtx: RunContext = { ...ctx, whileWaiting: (p) => slots.whileWaiting(p) };
    await Promise.all(
      phase.nodes.map(async (n) => {
        await slots.acquire();
        try {
          if (ctx.signal?.aborted) {
            results.set(n.node, skippedResult(n.node, 'interrupted'));
            return;
          }
          const t = transports.get(n.node);
          const r = n.blocked || !t ? blockedResult(n) : await applyNode(t, n, desired, nodeCtx);
          if (r.outcome === 'refused' && n.blocked) ctx.onEvent({ node: n.node, step: r.step ?? 'lock', state: 'fail', message: r.message ?? 'refused' });
          results.set(n.node, r);
        } finally {
          slots.release();
        }
      }),
    );
    const failed = phase.nodes.filter((n) => ['failed', 'refused'].includes(results.get(n.node)!.outcome));
    if (ctx.signal?.aborted) halted = 'interrupted';
    if (failed.length > 0 && i < ordered.length - 1) halted = `${phase.name} ${failed.map((n) => n.node).join(', ')} failed`;
  }
  const list = plan.nodes.map((n) => results.get(n.node)!);
  return { results: list, ...(halted ? { halted } : {}), ok: list.every((r) => (r.outcome === 'applied' || r.outcome === 'unchanged') && r.refusedTenants.length === 0) };
}
