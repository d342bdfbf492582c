/**
 * Apply a plan across the fleet: notifier nodes before gateways, canary nodes before the rest. A failure in any
 * phase but the last stops the run before the next phase (a broken canary or notifier never reaches the others).
 * Within a phase nodes run in parallel (p-queue); each node has exactly one worker and one connection.
 * The run's nodes share one ValidationMemo: a release is validated by OpenClaw on the first node that deploys it and
 * only checked for each further node's own secret files (issue 12).
 */
import PQueue from 'p-queue';
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
    const queue = new PQueue({ concurrency: Math.max(1, concurrency) });
    await Promise.all(
      phase.nodes.map((n) =>
        queue.add(async () => {
          if (ctx.signal?.aborted) {
            results.set(n.node, skippedResult(n.node, 'interrupted'));
            return;
          }
          const t = transports.get(n.node);
          const r = n.blocked || !t ? blockedResult(n) : await applyNode(t, n, desired, ctx);
          if (r.outcome === 'refused' && n.blocked) ctx.onEvent({ node: n.node, step: r.step ?? 'lock', state: 'fail', message: r.message ?? 'refused' });
          results.set(n.node, r);
        }),
      ),
    );
    const failed = phase.nodes.filter((n) => ['failed', 'refused'].includes(results.get(n.node)!.outcome));
    if (ctx.signal?.aborted) halted = 'interrupted';
    if (failed.length > 0 && i < ordered.length - 1) halted = `${phase.name} ${failed.map((n) => n.node).join(', ')} failed`;
  }
  const list = plan.nodes.map((n) => results.get(n.node)!);
  return { results: list, ...(halted ? { halted } : {}), ok: list.every((r) => (r.outcome === 'applied' || r.outcome === 'unchanged') && r.refusedTenants.length === 0) };
}
