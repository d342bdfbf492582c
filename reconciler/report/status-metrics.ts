/**
 * The status model → Prometheus text (`GET /metrics` on the controller's listener), through prom-client with a
 * Registry of its own (never the global one). Gauges are set from the status model at each scrape. Counters are the
 * store's cumulative counts (controller/status.ts `counters`, recorded once per pass and kept across restarts, so a
 * restarted controller goes on from where it was, never back to 0); the pass-duration histogram is fed with each
 * pass of the store's history that finished since the listener started (status-history.ts), so it starts empty with
 * the process.
 *
 * Names follow the Prometheus naming guide: `clawops_` prefix, base units (seconds), `_total` for counters. Labels
 * carry bounded values only: node names (the inventory), the closed state vocabulary, fixed result words and the
 * fleet candidate's commit id. Never an error message, a tenant's text or a secret.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { APPLY_RESULTS, CONTROLLER_STATES, own, ROLLBACK_RESULTS, type StatusDoc } from '../controller/status.js';
import { newPasses, type PassWatch } from './status-history.js';
import { buildStatusView, type StatusView } from './status-model.js';

export const PASS_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800];

export class StatusMetrics {
  readonly registry = new Registry();
  private watch: PassWatch | undefined;

  private readonly passDuration = new Histogram({ name: 'clawops_pass_duration_seconds', help: 'Duration of finished reconcile passes.', buckets: PASS_BUCKETS, registers: [this.registry] });
  private readonly passes = new Counter({ name: 'clawops_passes_total', help: 'Finished reconcile passes by result (ok or the failure reason), counted in the status store since counters.since.', labelNames: ['result'], registers: [this.registry] });
  private readonly fetchErrors = new Counter({ name: 'clawops_source_fetch_errors_total', help: 'Failed fetches of the infra repo.', registers: [this.registry] });
  private readonly applies = new Counter({ name: 'clawops_applies_total', help: 'Applies the controller ran on a node, by result.', labelNames: ['node', 'result'], registers: [this.registry] });
  private readonly rollbacks = new Counter({ name: 'clawops_rollbacks_total', help: 'Automatic rollbacks on a node, by whether the previous release was ready again.', labelNames: ['node', 'result'], registers: [this.registry] });
  private readonly nodes = new Gauge({ name: 'clawops_nodes', help: 'Nodes by controller state (every state, zeros included).', labelNames: ['state'], registers: [this.registry] });
  private readonly nodeState = new Gauge({ name: 'clawops_node_state', help: '1 for the state each node is in.', labelNames: ['node', 'state'], registers: [this.registry] });
  private readonly tenantsDrifted = new Gauge({ name: 'clawops_tenants_drifted', help: 'Tenants whose tree on their node was edited by hand (planner state Drifted).', registers: [this.registry] });
  private readonly lastSync = new Gauge({ name: 'clawops_node_last_sync_timestamp_seconds', help: 'End of the last pass that found the node Synced (unix time).', labelNames: ['node'], registers: [this.registry] });
  private readonly lastPass = new Gauge({ name: 'clawops_last_pass_timestamp_seconds', help: 'End of the last finished pass (unix time).', registers: [this.registry] });
  private readonly sourceUp = new Gauge({ name: 'clawops_source_up', help: '1 while the last fetch of the infra repo worked.', registers: [this.registry] });
  private readonly green = new Gauge({ name: 'clawops_canary_green_passes', help: 'Consecutive green passes of each canary on the newest fleet commit.', labelNames: ['node'], registers: [this.registry] });
  private readonly canaryRunning = new Gauge({ name: 'clawops_canary_running', help: '1 when the canary runs the newest fleet commit.', labelNames: ['node'], registers: [this.registry] });
  private readonly healthGateFailed = new Gauge({ name: 'clawops_canary_health_gate_failed', help: "1 when the newest fleet commit failed apply's health gate on the canary.", labelNames: ['node'], registers: [this.registry] });
  private readonly replayOk = new Gauge({ name: 'clawops_canary_replay_ok', help: "1 when the canary's fixture replay of the newest fleet commit got every recorded status.", labelNames: ['node'], registers: [this.registry] });
  private readonly greenRequired = new Gauge({ name: 'clawops_canary_green_passes_required', help: 'gating.green_passes as the gate messages name it (0: not known yet).', registers: [this.registry] });
  private readonly gateOpen = new Gauge({ name: 'clawops_canary_gate_open', help: '1 when the newest fleet commit is proven on the canaries.', registers: [this.registry] });
  private readonly tokenOverlap = new Gauge({ name: 'clawops_tenants_token_overlap', help: "Tenants of the node whose token.next is staged beside a different token.current (a rotation in progress).", labelNames: ['node'], registers: [this.registry] });
  private readonly webhookFailures = new Gauge({ name: 'clawops_webhook_failures', help: "Webhook delivery failures in the notifier's digest window, per notifier node and tenant (the store's top rows summed; tenants the store does not know count as other).", labelNames: ['node', 'tenant'], registers: [this.registry] });
  private readonly probe = new Gauge({ name: 'clawops_tenant_probe', help: "1 for the status word of each tenant's last readiness answer (ok, degraded, fail, unreachable, unknown).", labelNames: ['node', 'tenant', 'status'], registers: [this.registry] });
  private readonly candidate = new Gauge({ name: 'clawops_fleet_candidate_info', help: 'The newest fleet commit (head of refs.fleet) and its verdict.', labelNames: ['commit', 'verdict'], registers: [this.registry] });

  constructor(private readonly now: () => Date = () => new Date()) {}

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Feed one look at the stored status (after every pass, and at every scrape): the histogram gets the new passes. */
  observe(doc: StatusDoc): void {
    const r = newPasses(this.watch, doc);
    this.watch = r.watch;
    for (const p of r.passes) if (p.seconds !== undefined) this.passDuration.observe(p.seconds);
  }

  /** The status model as the page and `clawops status` see it. */
  view(doc: StatusDoc, where = 'this controller'): StatusView {
    this.observe(doc);
    return buildStatusView(doc, { now: this.now(), from: { kind: 'controller', where } });
  }

  /** Prometheus text for one scrape. */
  async render(doc: StatusDoc): Promise<string> {
    const v = this.view(doc);
    this.setCounters(doc);
    this.setGauges(v);
    return this.registry.metrics();
  }

  /** The store's cumulative counts; every node of the store and every result word has a series (zeros included). */
  private setCounters(doc: StatusDoc): void {
    const k = doc.counters;
    for (const c of [this.passes, this.applies, this.rollbacks, this.fetchErrors]) c.reset();
    this.passes.inc({ result: 'ok' }, 0);
    // (a value that is not a count, in a store another build or a hand wrote, is left out: prom-client would throw,
    // and every scrape answer 500)
    for (const [result, n] of Object.entries(k?.passes ?? {})) this.passes.inc({ result }, count(n) ?? 0);
    this.fetchErrors.inc(count(k?.fetchErrors) ?? 0);
    const nodes = new Set([...Object.keys(doc.nodes), ...Object.keys(k?.applies ?? {}), ...Object.keys(k?.rollbacks ?? {})]);
    for (const node of nodes) {
      const a = k ? own(k.applies, node) : undefined;
      const r = k ? own(k.rollbacks, node) : undefined;
      for (const result of APPLY_RESULTS) this.applies.inc({ node, result }, count(a?.[result]) ?? 0);
      for (const result of ROLLBACK_RESULTS) this.rollbacks.inc({ node, result }, count(r?.[result]) ?? 0);
    }
  }

  private setGauges(v: StatusView): void {
    for (const s of CONTROLLER_STATES) this.nodes.set({ state: s }, v.summary.counts[s] ?? 0);
    this.nodeState.reset();
    for (const n of v.nodes) this.nodeState.set({ node: n.node, state: n.state }, 1);
    this.tenantsDrifted.set(v.nodes.reduce((k, n) => k + n.tenants.filter((t) => t.sync === 'Drifted').length, 0));
    this.tokenOverlap.reset();
    for (const n of v.nodes) this.tokenOverlap.set({ node: n.node }, n.tenants.filter((t) => t.token?.overlap === 'overlap').length);
    // webhook failures: node names from the inventory, tenants the store knows (anything else folds into "other")
    this.webhookFailures.reset();
    const known = new Set(v.nodes.flatMap((n) => n.tenants.map((t) => t.tenant)));
    for (const n of v.webhookFailures.notifiers) {
      const sum = new Map<string, number>();
      for (const r of v.webhookFailures.rows.filter((x) => x.node === n.node)) {
        const tenant = known.has(r.tenant) ? r.tenant : 'other';
        sum.set(tenant, (sum.get(tenant) ?? 0) + (count(r.count) ?? 0));
      }
      for (const t of known) if (!sum.has(t)) sum.set(t, 0);
      for (const [tenant, c] of sum) this.webhookFailures.set({ node: n.node, tenant }, c);
    }
    this.probe.reset();
    for (const n of v.nodes) for (const t of n.tenants) if (t.probe) this.probe.set({ node: n.node, tenant: t.tenant, status: t.probe.status }, 1);
    this.lastSync.reset();
    for (const n of v.nodes) {
      const t = seconds(n.lastSyncedAt);
      if (t !== undefined) this.lastSync.set({ node: n.node }, t);
    }
    const last = seconds(v.lastPass?.finishedAt);
    if (last !== undefined) this.lastPass.set(last);
    this.sourceUp.set(v.source.reason === 'SourceUnavailable' ? 0 : 1);
    // only the current fleet candidate: a commit that stops being the candidate leaves no series behind
    for (const g of [this.green, this.canaryRunning, this.healthGateFailed, this.replayOk, this.candidate]) g.reset();
    const gate = v.gate;
    this.gateOpen.set(gate?.open ? 1 : 0);
    if (!gate) return;
    this.candidate.set({ commit: gate.commit.slice(0, 40), verdict: gate.verdict }, 1);
    const required = count(gate.required);
    if (required !== undefined) this.greenRequired.set(required);
    for (const c of gate.canaries) {
      this.green.set({ node: c.node }, count(c.greenPasses) ?? 0);
      this.canaryRunning.set({ node: c.node }, c.running ? 1 : 0);
      this.healthGateFailed.set({ node: c.node }, c.healthGate === 'failed' ? 1 : 0);
    }
    for (const r of gate.replay?.canaries ?? []) this.replayOk.set({ node: r.node }, r.ok ? 1 : 0);
  }
}

/** A count as the store should hold it (a finite number, not negative), else undefined. */
function count(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : undefined;
}

/** An ISO time in Unix seconds, else undefined (never NaN in the text). */
function seconds(iso: string | undefined): number | undefined {
  const t = iso === undefined ? NaN : Date.parse(iso);
  return Number.isFinite(t) ? t / 1000 : undefined;
}
