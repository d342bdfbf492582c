/**
 * The notifier's digest, read-only: `GET <digest-url>?tenant=T`. The probe keeps the rows of its own tenant and the
 * age the notifier reported; whether that is stale is decided at compose time (age at fetch + time since fetch,
 * against policy.digest.slo_sec), so a probe whose fetches keep failing sees the data age too.
 */
import type { DigestRow } from '../notifier/digest.js';
import { getJson } from './http-get.js';

export interface DigestFetch {
  /** pending: never tried; ok: last fetch worked; unreachable: last fetch failed (rows/age are from the last success) */
  fetch: 'pending' | 'ok' | 'unreachable';
  fetched_at_ms: number | null;
  /** age_sec as the notifier reported it at fetched_at_ms */
  age_sec_at_fetch: number | null;
  window_sec: number | null;
  rows: DigestRow[];
  error: string | null;
}

export const DIGEST_PENDING: DigestFetch = { fetch: 'pending', fetched_at_ms: null, age_sec_at_fetch: null, window_sec: null, rows: [], error: null };

export function digestQueryUrl(digestUrl: string, tenant: string, limit = 50): string {
  const u = new URL(digestUrl);
  u.searchParams.set('tenant', tenant);
  u.searchParams.set('limit', String(limit));
  return u.toString();
}

/**
 * A digest row as the notifier writes it, rebuilt from its known fields (nothing else rides along into /readyz), its
 * strings cut: undefined when it is not one
 */
function rowOf(v: unknown): DigestRow | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r.tenant !== 'string' || typeof r.endpoint !== 'string' || typeof r.family !== 'string' || typeof r.count !== 'number' || !Number.isFinite(r.count)) return undefined;
  const cut = (x: unknown, n: number): string => (typeof x === 'string' ? x.slice(0, n) : '');
  const statuses: Record<string, number> = {};
  if (typeof r.statuses === 'object' && r.statuses !== null && !Array.isArray(r.statuses)) {
    for (const [k, n] of Object.entries(r.statuses as Record<string, unknown>).slice(0, 20)) if (typeof n === 'number' && Number.isFinite(n) && k !== '__proto__') statuses[k.slice(0, 16)] = n;
  }
  return { tenant: cut(r.tenant, 64), endpoint: cut(r.endpoint, 256), family: cut(r.family, 32) as DigestRow['family'], count: r.count, statuses, first_seen: cut(r.first_seen, 40), last_seen: cut(r.last_seen, 40) };
}

export async function checkDigest(digestUrl: string, tenant: string, timeoutMs: number, previous: DigestFetch, now: () => number = Date.now): Promise<DigestFetch> {
  const failed = (error: string): DigestFetch => ({ ...previous, fetch: 'unreachable', error });
  let url: string;
  try {
    url = digestQueryUrl(digestUrl, tenant);
  } catch {
    return failed('bad digest URL');
  }
  try {
    const res = await getJson(url, timeoutMs);
    if (res.status !== 200) return failed(`HTTP ${res.status}`);
    const b = res.json as Record<string, unknown> | undefined;
    if (!b || typeof b.age_sec !== 'number' || !Array.isArray(b.top)) return failed('answer is not a webhook digest');
    return {
      fetch: 'ok',
      fetched_at_ms: now(),
      age_sec_at_fetch: b.age_sec,
      window_sec: typeof b.window_sec === 'number' ? b.window_sec : null,
      rows: (b.top as unknown[]).slice(0, 1000).map(rowOf).filter((r): r is DigestRow => r !== undefined && r.tenant === tenant),
      error: null,
    };
  } catch (e) {
    return failed((e as Error).message);
  }
}
