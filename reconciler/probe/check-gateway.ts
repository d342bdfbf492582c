/**
 * The gateway's own readiness: `GET <gateway>/readyz` answers 503 while starting, then 200
 * {"ready":true,"failing":[],…}. Anything else — another status, ready:false, no answer in time — is not ready.
 */
import type { GatewayState } from './state.js';
import { getJson } from './http-get.js';
import { clip } from '../safe-text.js';

export interface GatewayResult {
  state: GatewayState;
  checked_at: string | null;
  http_status: number | null;
  /** what the gateway lists as failing, when it says */
  failing: string[];
  reason: string | null;
}

export const GATEWAY_PENDING: GatewayResult = { state: 'pending', checked_at: null, http_status: null, failing: [], reason: null };

/** Pure: classify one answer. */
export function classifyGateway(status: number, body: unknown, checkedAt: string): GatewayResult {
  const b = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  // (at most 20 entries of at most 120 characters: what a gateway says goes into /readyz and the log)
  const failing = Array.isArray(b.failing) ? b.failing.slice(0, 20).map((x) => clip(typeof x === 'string' ? x : String(JSON.stringify(x)), 120)) : [];
  if (status === 200 && b.ready === true) return { state: 'ready', checked_at: checkedAt, http_status: status, failing, reason: null };
  const why = status === 503 ? 'not ready (HTTP 503, starting or unhealthy)' : status === 200 ? 'answered 200 without "ready": true' : `answered HTTP ${status}`;
  return { state: 'not_ready', checked_at: checkedAt, http_status: status, failing, reason: `${why}${failing.length ? `; failing: ${failing.join(', ')}` : ''}` };
}

export async function checkGateway(baseUrl: string, timeoutMs: number, now: () => number = Date.now): Promise<GatewayResult> {
  const url = `${baseUrl.replace(/\/+$/, '')}/readyz`;
  try {
    const res = await getJson(url, timeoutMs);
    return classifyGateway(res.status, res.json, new Date(now()).toISOString());
  } catch (e) {
    return { state: 'unreachable', checked_at: new Date(now()).toISOString(), http_status: null, failing: [], reason: `unreachable: ${(e as Error).message}` };
  }
}
