/**
 * What apply reports for a node whose new release did not become ready and was put back (outcome failed at the health
 * step, reason RolledBack, rolledBack[]): the controller's side of the services contract, for tests on nodes that run
 * no gateways. A leaf module (type imports only), so vi.mock factories of apply-fleet.js can import it.
 */
import type { applyFleet } from '../../reconciler/apply/apply-fleet.js';
import type { NodeApplyResult } from '../../reconciler/apply/apply-node.js';

type ApplyFleet = typeof applyFleet;

export function rolledBackResult(node: string): NodeApplyResult {
  return {
    node,
    outcome: 'failed',
    step: 'health',
    reason: 'RolledBack',
    message: `${node}: acme: release x not ready within 60 s: HTTP 503; rolled back to y, ready again after 1 s; release x quarantined`,
    swapped: [],
    staged: ['acme'],
    reused: [],
    reusedFiles: 0,
    pruned: [],
    removed: [],
    refusedTenants: [],
    recovered: [],
    reloads: [],
    rolledBack: [{ tenant: 'acme', release: 'x', to: 'y', reason: 'acme: release x not ready within 60 s: HTTP 503' }],
    bytesSent: 0,
    commands: 3,
  };
}

/**
 * applyFleet as the apply-fleet.js mocks use it: the real one, except for `bad.commit`, on whose every node it
 * reports a rollback (`bad.tries`, when kept, counts those applies).
 */
export function rollingBackApply(real: ApplyFleet, bad: { commit: string; tries?: number }): ApplyFleet {
  return (async (plan, desired, transports, ctx, concurrency) => {
    if (ctx.commit !== bad.commit) return real(plan, desired, transports, ctx, concurrency);
    if (bad.tries !== undefined) bad.tries++;
    return { results: plan.nodes.map((n) => rolledBackResult(n.node)), ok: false };
  }) as ApplyFleet;
}
