/**
 * One NDJSON line from a gateway: a failed webhook delivery (schemas/webhook-failure.schema.json).
 * Parsing never throws: a bad line is a value the caller counts and drops. Error texts never quote the line,
 * because a malformed line may carry anything (a token pasted into an endpoint, say) and errors end up in logs.
 */
import { validateValue } from '../desired/schema.js';

export type FailureStatus = number | 'timeout' | 'network';

export interface WebhookFailure {
  tenant: string;
  endpoint: string;
  status: FailureStatus;
  /** the gateway's own timestamp, ISO 8601 */
  time: string;
  delivery_id: string;
}

export type ParsedLine = { ok: true; failure: WebhookFailure; origin: string; timeMs: number } | { ok: false; error: string };

export function parseFailureLine(line: string): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const errors = validateValue('webhook-failure', value);
  // (where and what kind of wrong, never a name or value the line brought: `unknown key "authorization: Bearer …"`
  // would put a client's text, a token among it, into the log)
  if (errors.length > 0) return { ok: false, error: errors.slice(0, 3).map((e) => e.replace(/ "[^"]*"/g, '').replace(/"[^"]*"/g, '…').slice(0, 120)).join('; ') };
  const failure = value as WebhookFailure;
  const origin = endpointOrigin(failure.endpoint);
  if (origin === undefined) return { ok: false, error: '/endpoint: not a valid URL' };
  return { ok: true, failure, origin, timeMs: Date.parse(failure.time) };
}

const originCache = new Map<string, string | undefined>();
const ORIGIN_CACHE_MAX = 4096;

/**
 * scheme://host[:port] of an endpoint, as WHATWG URL serialises an origin: lower-cased host, default port omitted
 * (so `https://h` and `https://h:443` are one key), and path, query and userinfo dropped, which also keeps
 * credentials embedded in webhook URLs out of the digest and the broadcasts.
 */
export function endpointOrigin(endpoint: string): string | undefined {
  if (originCache.has(endpoint)) return originCache.get(endpoint);
  let origin: string | undefined;
  try {
    const u = new URL(endpoint);
    origin = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' ? u.origin : undefined;
  } catch {
    origin = undefined;
  }
  // a flood of distinct endpoints must not grow memory: a full cache is simply reset
  if (originCache.size >= ORIGIN_CACHE_MAX) originCache.clear();
  originCache.set(endpoint, origin);
  return origin;
}
