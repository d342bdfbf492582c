/**
 * Fold the checkers' last results into one readiness answer. Pure: the same cells and instant give the same JSON.
 *
 *   doctor   pending → degraded ("first run not finished")   green → ok   yellow → degraded
 *            red → fail, or degraded while a maintenance window is open
 *   gateway  ready → ok; pending, not_ready, unreachable → fail (a load balancer must not route to a gateway
 *            nobody has seen ready; maintenance windows do not soften this)
 *   disk     ok → ok; warn, error, pending → degraded; critical → fail
 *   queue    same as disk
 *   digest   fresh without rows for this tenant → ok; fresh with rows → degraded; stale, unreachable,
 *            pending → degraded. Never fail: the digest is a read-only view.
 *   notes    (e.g. a policy reload that failed) → degraded
 * status = the worst of these; every non-ok component adds at least one reason.
 */
import type { DigestRow } from '../notifier/digest.js';
import type { DigestFetch } from './check-digest.js';
import type { GatewayResult } from './check-gateway.js';
import type { DiskResult, QueueResult } from './check-resources.js';
import type { JudgedFinding } from './judge-doctor.js';
import { worst, type DigestState, type DoctorState, type ProbeStatus } from './state.js';

export interface DoctorCell {
  state: DoctorState;
  checked_at: string | null;
  duration_ms: number | null;
  /** non-ignored findings of the last run, worst first */
  findings: JudgedFinding[];
  ignored: number;
  /** why the state is not green (judgement, or the run's failure: timeout, exit code, bad output) */
  reasons: string[];
}

export const DOCTOR_PENDING: DoctorCell = { state: 'pending', checked_at: null, duration_ms: null, findings: [], ignored: 0, reasons: [] };

export interface ComposeInput {
  tenant: string;
  nowMs: number;
  doctor: DoctorCell;
  maintenanceWindow: string | null;
  gateway: GatewayResult;
  disk: DiskResult;
  queue: QueueResult;
  digest: DigestFetch;
  digestSloSec: number;
  notes?: string[];
}

export interface Readiness {
  status: ProbeStatus;
  tenant: string;
  generated_at: string;
  doctor: DoctorCell & { maintenance_window: string | null };
  gateway: GatewayResult;
  disk: DiskResult;
  queue: QueueResult;
  digest: { state: DigestState; age_sec: number | null; slo_sec: number; error: string | null };
  /** age of the digest data the probe holds, null before the first successful fetch */
  digest_age_sec: number | null;
  /** this tenant's digest rows, worst first */
  failures: DigestRow[];
  reasons: string[];
}

interface Part {
  status: ProbeStatus;
  reasons: string[];
}

function doctorPart(d: DoctorCell, window: string | null): Part {
  switch (d.state) {
    case 'pending':
      return { status: 'degraded', reasons: ['doctor: pending (first run not finished)'] };
    case 'green':
      return { status: 'ok', reasons: [] };
    case 'yellow':
      return { status: 'degraded', reasons: d.reasons };
    case 'red':
      return window === null
        ? { status: 'fail', reasons: d.reasons }
        : { status: 'degraded', reasons: [...d.reasons, `doctor: red tolerated during maintenance window "${window}"`] };
  }
}

function gatewayPart(g: GatewayResult): Part {
  if (g.state === 'ready') return { status: 'ok', reasons: [] };
  if (g.state === 'pending') return { status: 'fail', reasons: ['gateway: not checked yet'] };
  return { status: 'fail', reasons: [`gateway: ${g.reason ?? g.state}`] };
}

function resourcePart(name: 'disk' | 'queue', r: DiskResult | QueueResult): Part {
  switch (r.state) {
    case 'ok':
      return { status: 'ok', reasons: [] };
    case 'pending':
      return { status: 'degraded', reasons: [`${name}: not checked yet`] };
    case 'critical':
      return { status: 'fail', reasons: [`${name}: ${r.reason ?? 'critical'}`] };
    case 'warn':
    case 'error':
      return { status: 'degraded', reasons: [`${name}: ${r.reason ?? r.state}`] };
  }
}

export function digestAge(d: DigestFetch, nowMs: number): number | null {
  if (d.fetched_at_ms === null || d.age_sec_at_fetch === null) return null;
  return Math.round((d.age_sec_at_fetch + Math.max(0, nowMs - d.fetched_at_ms) / 1000) * 1000) / 1000;
}

export function digestState(d: DigestFetch, nowMs: number, sloSec: number): DigestState {
  if (d.fetch === 'pending') return 'pending';
  if (d.fetch === 'unreachable') return 'unreachable';
  const age = digestAge(d, nowMs);
  return age !== null && age > sloSec ? 'stale' : 'fresh';
}

function digestPart(d: DigestFetch, state: DigestState, age: number | null, sloSec: number): Part {
  const ageText = age === null ? 'no data yet' : `data ${age}s old`;
  switch (state) {
    case 'pending':
      return { status: 'degraded', reasons: ['digest: not fetched yet'] };
    case 'unreachable':
      return { status: 'degraded', reasons: [`digest: unreachable (${d.error ?? 'error'}; ${ageText})`] };
    case 'stale':
      return { status: 'degraded', reasons: [`digest: stale (${ageText}, SLO ${sloSec}s)`] };
    case 'fresh': {
      if (d.rows.length === 0) return { status: 'ok', reasons: [] };
      const total = d.rows.reduce((s, r) => s + r.count, 0);
      const shown = d.rows.slice(0, 3).map((r) => `${r.endpoint} ${r.family} ×${r.count}`);
      const more = d.rows.length > 3 ? `, and ${d.rows.length - 3} more` : '';
      const window = d.window_sec !== null ? ` in the last ${d.window_sec}s` : '';
      return { status: 'degraded', reasons: [`webhooks: ${total} failed deliveries${window}: ${shown.join(', ')}${more}`] };
    }
  }
}

export function compose(input: ComposeInput): Readiness {
  const age = digestAge(input.digest, input.nowMs);
  const dState = digestState(input.digest, input.nowMs, input.digestSloSec);
  const parts: Part[] = [
    doctorPart(input.doctor, input.maintenanceWindow),
    gatewayPart(input.gateway),
    resourcePart('disk', input.disk),
    resourcePart('queue', input.queue),
    digestPart(input.digest, dState, age, input.digestSloSec),
    { status: (input.notes ?? []).length > 0 ? 'degraded' : 'ok', reasons: input.notes ?? [] },
  ];
  return {
    status: worst(parts.map((p) => p.status)),
    tenant: input.tenant,
    generated_at: new Date(input.nowMs).toISOString(),
    doctor: { ...input.doctor, maintenance_window: input.maintenanceWindow },
    gateway: input.gateway,
    disk: input.disk,
    queue: input.queue,
    digest: { state: dState, age_sec: age, slo_sec: input.digestSloSec, error: input.digest.error },
    digest_age_sec: age,
    failures: input.digest.rows,
    reasons: parts.flatMap((p) => p.reasons),
  };
}
