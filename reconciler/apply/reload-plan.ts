/**
 * Hot reload or restart? Pure. OpenClaw's config watcher hot-applies most keys and restarts for the rest
 * (docs gateway/configuration/hot-reload.md: "a path that matches no rule defaults to a Gateway restart"); clawops
 * takes the hot path only when EVERY changed key is on the documented hot list below, nothing the process reads at
 * start changed (its unit, secrets.list, the wrapper), and then verifies the running gateway applied it.
 */

/** Documented hot-applicable prefixes (longest match wins in OpenClaw; a prefix here is hot with all below it). */
export const HOT_PREFIXES: readonly string[] = [
  'agents', 'models', 'auth.order', 'auth.profiles', 'broadcast', 'hooks', 'cron', 'session', 'messages', 'tools', 'skills',
  'audio', 'talk', 'tts', 'plugins', 'ui', 'logging', 'identity', 'bindings', 'surfaces', 'approvals', 'diagnostics',
  'update', 'telemetry', 'gateway.publicOrigin', 'gateway.http', 'gateway.tools', 'gateway.nodes', 'gateway.cliAgents',
  'gateway.terminal', 'gateway.auth.token', 'gateway.auth.password', 'gateway.auth.rateLimit', 'gateway.roles',
  'gateway.trustedProxies', 'gateway.allowRealIpFallback',
];

/** Paths whose own value clawops never compares (secrets: file SecretRefs, `${CLAWOPS_SECRET_*}`, redacted). */
function secretish(v: unknown): boolean {
  if (typeof v === 'string') return /^\$\{[A-Z0-9_]+\}$/.test(v) || v === '__OPENCLAW_REDACTED__';
  return v !== null && typeof v === 'object' && !Array.isArray(v) && 'source' in v && 'provider' in v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * A key as one segment of a dotted path: `.` and `\` in the key escaped with `\` (OpenClaw keys often hold dots:
 * model ids like `anthropic/claude-opus-4.5`), so that a path names one place and pathSegments() gets the keys back.
 */
function segment(k: string): string {
  return k.replace(/\\/g, '\\\\').replace(/\./g, '\\.');
}

/** The keys of a dotted path from changedPaths() (escaped dots are part of a key). */
export function pathSegments(path: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === '\\' && i + 1 < path.length) cur += path[++i]!;
    else if (c === '.') (out.push(cur), (cur = ''));
    else cur += c;
  }
  out.push(cur);
  return out;
}

/** Dotted paths where two configs differ (objects are walked, anything else compared whole; keys escaped by segment()). */
export function changedPaths(a: unknown, b: unknown, prefix = ''): string[] {
  if (isObject(a) && isObject(b) && !secretish(a) && !secretish(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => changedPaths(a[k], b[k], prefix ? `${prefix}.${segment(k)}` : segment(k)));
  }
  return stable(a) === stable(b) ? [] : [prefix || '(root)'];
}

/** JSON with object keys sorted: the node's file is canonical JSON, the desired object is in render order. */
function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (isObject(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x));
}

export function isHotPath(path: string): boolean {
  return HOT_PREFIXES.some((p) => path === p || path.startsWith(`${p}.`));
}

export interface ReloadDecision {
  method: 'hot' | 'restart';
  changed: string[];
  /** why not hot */
  why?: string;
}

export function decideReload(oldCfg: unknown, newCfg: unknown, inputsUnchanged: boolean): ReloadDecision {
  if (oldCfg === undefined) return { method: 'restart', changed: [], why: 'the running config is unknown' };
  const changed = changedPaths(oldCfg, newCfg);
  if (!inputsUnchanged) return { method: 'restart', changed, why: 'the unit, its secrets or the wrapper changed' };
  if (changed.length === 0) return { method: 'restart', changed, why: 'only the release changed (files outside openclaw.json)' };
  const cold = changed.find((p) => !isHotPath(p));
  return cold ? { method: 'restart', changed, why: `${cold} needs a restart` } : { method: 'hot', changed };
}

function at(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const k of pathSegments(path)) {
    if (!isObject(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

/**
 * The changed paths' desired values the gateway must show once it applied the release (config.get's snapshot), for
 * the hot check on the node (gateway-rpc.ts). Secret values are left out: the gateway redacts them and clawops never
 * sends them; a removed key is expected as null. Pure.
 */
export function expectedValues(desired: unknown, changed: readonly string[]): [string, unknown][] {
  return changed.flatMap((p): [string, unknown][] => {
    const want = at(desired, p);
    return secretish(want) ? [] : [[p, want ?? null]];
  });
}
