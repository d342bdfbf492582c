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

function isRow(v: unknown): v is DigestRow {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.tenant === 'string' && typeof r.endpoint === 'string' && typeof r.family === 'string' && typeof r.count === 'number';
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
      rows: b.top.filter(isRow).filter((r) => r.tenant === tenant),
      error: null,
    };
  } catch (e) {
    return failed((e as Error).message);
  }
}
