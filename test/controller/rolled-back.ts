/**
 * What apply reports for a node whose new release did not become ready and was put back (outcome failed at the health
 * step, reason RolledBack, rolledBack[]): the controller's side of the services contract, for tests on nodes that run
 * no gateways. A leaf module (types only), so vi.mock factories of apply-fleet.js can import it.
 */
import type { NodeApplyResult } from '../../reconciler/apply/apply-node.js';

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
