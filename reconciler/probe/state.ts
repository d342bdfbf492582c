/**
 * The probe's closed vocabularies. The composite has three states; each checker has its own small set, and
 * compose.ts maps every one of them onto the composite. `isWorse`/`worst` fold many into one, Argo-style.
 */

export type ProbeStatus = 'ok' | 'degraded' | 'fail';
export const STATUS_ORDER: Readonly<Record<ProbeStatus, number>> = { ok: 0, degraded: 1, fail: 2 };

/** HTTP answer for each composite state: load balancers keep routing to degraded gateways. */
export const HTTP_STATUS: Readonly<Record<ProbeStatus, 200 | 503>> = { ok: 200, degraded: 200, fail: 503 };

export function isWorse(a: ProbeStatus, b: ProbeStatus): boolean {
  return STATUS_ORDER[a] > STATUS_ORDER[b];
}

export function worst(states: Iterable<ProbeStatus>): ProbeStatus {
  let w: ProbeStatus = 'ok';
  for (const s of states) if (isWorse(s, w)) w = s;
  return w;
}

/** pending until the first run finishes; then the policy's verdict, or red for a run that did not produce one */
export type DoctorState = 'pending' | 'green' | 'yellow' | 'red';
export type GatewayState = 'pending' | 'ready' | 'not_ready' | 'unreachable';
/** `error`: the measurement itself failed (statfs/stat error other than a missing file) */
export type ResourceState = 'pending' | 'ok' | 'warn' | 'critical' | 'error';
export type DigestState = 'pending' | 'fresh' | 'stale' | 'unreachable';
