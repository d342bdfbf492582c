/**
 * A one-off observe (`clawops status --repo`, the front half of `clawops diff`) → a status as the controller would
 * store it, so the same status model and views render it. Each node's record is derived by the controller's own
 * derivation (controller/derive.ts, in observe mode: differences are reported, nothing applied), never by rules of
 * our own. Pure.
 */
import { deriveNode, fleetState } from '../controller/derive.js';
import { emptyCounters, recordTokens, STATUS_SCHEMA_VERSION, type NodeStatusRecord, type StatusDoc } from '../controller/status.js';
import type { DesiredState, NodeSpec } from '../desired/types.js';
import type { ObserveResult } from '../observe/types.js';
import type { Plan } from '../plan/types.js';
import type { NoteView } from './status-model.js';

const SERVICE_REASONS = new Set(['ServiceNotLoaded', 'ServiceNotRunning']);

export interface ObservedFleet {
  source: { origin: string; ref?: string; commit?: string; tag?: string };
  desired: DesiredState;
  nodes: readonly NodeSpec[];
  results: readonly ObserveResult[];
  plan: Plan;
}

export function statusFromPlan(f: ObservedFleet, now: Date): { doc: StatusDoc; notes: Map<string, NoteView[]> } {
  const at = now.toISOString();
  const target = f.source.commit ? { ref: f.source.ref ?? 'HEAD', commit: f.source.commit, ...(f.source.tag ? { tag: f.source.tag } : {}) } : undefined;
  const nodes: Record<string, NodeStatusRecord> = {};
  const notes = new Map<string, NoteView[]>();
  for (const spec of f.nodes) {
    const observed = f.results.find((r) => r.node === spec.name);
    const plan = f.plan.nodes.find((p) => p.node === spec.name);
    nodes[spec.name] = recordTokens(deriveNode(
      {
        node: spec.name,
        role: spec.role,
        canary: spec.canary,
        follows: spec.canary ? 'canary' : 'fleet',
        ...(target ? { target } : {}),
        ...(observed ? { observed } : {}),
        ...(plan ? { plan } : {}),
        desired: f.desired,
        suspended: false,
        mode: 'observe',
      },
      at,
    ), observed);
    // the service's own state is in the derived health (which knows whether the release declares units at all)
    notes.set(
      spec.name,
      (plan?.issues ?? []).filter((i) => !SERVICE_REASONS.has(i.reason)).map((i) => ({ category: i.category, severity: i.severity, reason: i.reason, ...(i.tenant ? { tenant: i.tenant } : {}), message: i.message })),
    );
  }
  const doc: StatusDoc = {
    schemaVersion: STATUS_SCHEMA_VERSION,
    controller: { pid: 0, startedAt: at, mode: 'observe', repo: f.source.origin, intervalSec: 0 },
    source: { origin: f.source.origin, lastFetch: at, reason: 'SourceAvailable', failures: 0, canary: { spec: '' }, fleet: { spec: '' } },
    passes: 0,
    state: fleetState(Object.values(nodes)),
    nodes,
    commits: {},
    history: [],
    counters: emptyCounters(at),
  };
  return { doc, notes };
}
