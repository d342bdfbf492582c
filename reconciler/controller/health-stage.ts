/**
 * The controller's health stage (issues 10, 11): what the canary gate and the status page call health is not only
 * launchd's word (derive.ts tenantHealth) but what each tenant's readiness route answers ON THE NODE — the composite
 * probe (`clawops probe serve`, gateway port + 115) when the release ships a probe unit, else the gateway's own
 * /readyz on the node's port block — and, on a notifier node, the notifier's webhook-failure digest.
 *
 * One remote command per node over the controller's open connection (the one observe used), asking every deployed
 * tenant with units at once (curl side by side, 2 s to connect, 3 s in all) and the digest in the same command; only
 * for reachable nodes not applied to in this pass (apply health-gated those itself). Each tenant's URL is worked out
 * here (readiness.ts readinessUrl, the formula apply's health gate uses) from what observe saw of its current release.
 * A steady pass asks what the last one asked: that command is started beside the node's observe command (a second
 * channel of the same connection), and its answer is taken only when this pass's own targets turn out the same. The answers are parsed here into
 * bounded summaries (status word, HTTP code, the names of the parts that were not ok; digest rows capped): never a
 * body, a reason text or a secret. derive.ts folds them into the node's health (worst of launchd and probe), which is
 * what gating.ts `green()` reads. specs/controller.md "Health".
 */
import type { Logger } from 'pino';
import { notifierUnitFor, notifierVars } from '../desired/build-desired.js';
import type { DesiredState, NodeSpec, TenantDesired } from '../desired/types.js';
import { oneLine } from '../errors.js';
import { DIGEST_PATH } from '../notifier/server.js';
import type { TenantObservation } from '../observe/types.js';
import { NOTIFIER_LABEL } from '../units/render-units.js';
import { shQuote, type Transport } from '../transport/transport.js';
import { EARLY_MAX_AGE_MS, type ConnectionPool } from './connections.js';
import type { NodeFacts } from './derive.js';
import { eachLimit } from './each-limit.js';
import { gatewayPortIn, readinessUrl, type ReleaseReadiness } from '../units/readiness.js';
import type { DigestRead, HealthFacts, HealthTargets } from './health-facts.js';
import { MAX_DIGEST_ROWS, type ProbeSummary, type ProbeWord, type WebhookDigestSummary, type WebhookFailureRow } from './status.js';

export type { DigestRead, HealthFacts, HealthTargets } from './health-facts.js';

/** curl: 2 s to connect, 3 s for the whole answer; every tenant of a node is asked side by side */
export const PROBE_CONNECT_SEC = 2;
export const PROBE_MAX_SEC = 3;
/** bytes of a readiness answer / of the digest kept for parsing */
const BODY_MAX = 16_384;
const DIGEST_BODY_MAX = 262_144;
const MAX_CHECKS = 8;
const MAX_STATUSES = 8;

/**
 * HEALTH: sh -c HEALTH clawops ETC PORT_OFFSET DIGEST_URL TENANT… < `U <tenant> <probe|gateway> <url>` lines — every
 * URL on stdin (healthTargets: readinessUrl of the tenant's current release) asked with curl, all side by side; the
 * digest URL (when not empty) likewise; a tenant named but given no URL is `none` (not asked). The node, its etc dir
 * and port offset stay on the command line, where a node's process list shows what is asked. One record per answer:
 *   T <tenant> <probe|gateway|none> <http code> <curl exit> <base64 of the body's first 16 KiB>
 *   D <http code> <curl exit> <base64 of the body>
 */
export const HEALTH_SCRIPT = String.raw`
DIGEST=$3; shift 3
TMP=$(mktemp -d "${"$"}{TMPDIR:-/tmp}/clawops-health.XXXXXX") || exit 3
trap 'rm -rf "$TMP"' EXIT
command -v curl >/dev/null 2>&1 || { echo "curl not found" >&2; exit 4; }
# ask URL OUT MAX KIND [TENANT SOURCE]: one record in OUT.rec (a few forks: curl, head | base64 | tr)
ask() {
  code=$(curl -s --connect-timeout ${PROBE_CONNECT_SEC} -m ${PROBE_MAX_SEC} -o "$2.body" -w '%{http_code}' "$1" 2>/dev/null)
  rc=$?
  if [ "$4" = T ]; then printf 'T\t%s\t%s\t' "$5" "$6"; else printf 'D\t'; fi > "$2.rec"
  printf '%s\t%s\t' "${"$"}{code:-000}" "$rc" >> "$2.rec"
  head -c "$3" "$2.body" 2>/dev/null | base64 | tr -d '\n\r ' >> "$2.rec"
  echo >> "$2.rec"
}
i=0
while read -r k T SRC URL; do
  [ "$k" = U ] && [ -n "$T" ] && [ -n "$URL" ] || continue
  case $SRC in probe|gateway) ;; *) continue ;; esac
  i=$((i + 1))
  : > "$TMP/asked.$T"
  ask "$URL" "$TMP/$i" ${BODY_MAX} T "$T" "$SRC" &
done
for T in "$@"; do
  [ -e "$TMP/asked.$T" ] || printf 'T\t%s\tnone\t000\t0\t\n' "$T" > "$TMP/none.$T.rec"
done
[ -n "$DIGEST" ] && ask "$DIGEST" "$TMP/digest" ${DIGEST_BODY_MAX} D &
wait
cat "$TMP"/*.rec 2>/dev/null
exit 0
`;

const WORDS = new Set(['ok', 'degraded', 'fail']);
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
/** a state word or check id as the store may keep it: short, from a safe alphabet */
const word = (v: unknown, max = 24): string | undefined => (typeof v === 'string' && /^[A-Za-z0-9._:/-]+$/.test(v) ? v.slice(0, max) : undefined);

/** why curl got no answer, in a few words (curl's exit code; never its stderr) */
export function curlError(rc: number): string {
  switch (rc) {
    case 7:
      return 'connection refused';
    case 28:
      return 'timed out';
    case 6:
      return 'could not resolve host';
    case 52:
      return 'empty reply';
    case 56:
      return 'connection reset';
    default:
      return `no answer (curl exit ${rc})`;
  }
}

/**
 * Pure: one readiness answer → its summary. A body with the probe's `status` word (ok|degraded|fail) is judged by it
 * (a word that says better than the HTTP code, e.g. ok with 503, takes the code's fail); a gateway /readyz body by
 * `ready` and the code; anything else by the code (2xx ok, else fail; a probe that answers 200 without its word is
 * degraded). No HTTP answer → `unreachable`.
 */
export function probeSummary(source: 'probe' | 'gateway', code: number, curlExit: number, body: string, at: string): ProbeSummary {
  if (!Number.isInteger(code) || code <= 0) return { source, status: 'unreachable', code: 0, checks: [], error: curlError(curlExit), at };
  let j: unknown;
  try {
    j = JSON.parse(body);
  } catch {
    j = undefined;
  }
  const checks: string[] = [];
  const add = (c: string | undefined): void => {
    if (c && checks.length < MAX_CHECKS && !checks.includes(c)) checks.push(c);
  };
  let status: ProbeWord;
  if (isObj(j) && typeof j.status === 'string' && WORDS.has(j.status)) {
    status = j.status as ProbeWord;
    if (code !== 200 && status !== 'fail') status = 'fail';
    const part = (name: string, good: string): void => {
      const p = j[name];
      const st = isObj(p) ? word(p.state) : undefined;
      if (st !== undefined && st !== good) add(`${name}:${st}`);
    };
    part('doctor', 'green');
    part('gateway', 'ready');
    part('disk', 'ok');
    part('queue', 'ok');
    part('digest', 'fresh');
    if (Array.isArray(j.failures) && j.failures.length > 0) add('digest:rows');
    const doc = j.doctor;
    if (isObj(doc) && Array.isArray(doc.findings)) for (const f of doc.findings) if (isObj(f)) add(word(f.checkId, 64) !== undefined ? `doctor/${word(f.checkId, 64)}` : undefined);
    if (status !== 'ok' && checks.length === 0) add('probe:notes');
  } else if (isObj(j) && typeof j.ready === 'boolean') {
    status = j.ready && code >= 200 && code < 300 ? 'ok' : 'fail';
    if (Array.isArray(j.failing)) for (const f of j.failing) add(word(f, 64) !== undefined ? `gateway/${word(f, 64)}` : undefined);
  } else if (code >= 200 && code < 300) {
    status = source === 'probe' ? 'degraded' : 'ok';
    if (source === 'probe') add('probe:unparseable');
  } else status = 'fail';
  if (status === 'fail' && code !== 200 && checks.length === 0) add(`http:${code}`);
  return { source, status, code, checks, at };
}

// (an ISO-8601 instant in its plain form only: Date.parse alone also takes "2026-11-28 (any text)", a comment to V8)
const iso = (v: unknown): string => (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(v) && !Number.isNaN(Date.parse(v)) ? v : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);
const text = (v: unknown, max: number): string => (typeof v === 'string' ? v.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, max) : '');

/** origin only (scheme://host[:port]): whatever the notifier sent, no path, query or userinfo is kept */
function origin(v: unknown): string {
  if (typeof v !== 'string') return '';
  try {
    const u = new URL(v);
    return `${u.protocol}//${u.host}`.slice(0, 200);
  } catch {
    return '';
  }
}

/** Pure: the notifier's `GET /v1/webhook-digest` body → what the store keeps (top MAX_DIGEST_ROWS rows, bounded fields). */
export function digestSummary(body: string, at: string, limit = MAX_DIGEST_ROWS): DigestRead {
  let j: unknown;
  try {
    j = JSON.parse(body);
  } catch {
    return { ok: false, at, error: 'the digest is not JSON' };
  }
  if (!isObj(j) || !Array.isArray(j.top)) return { ok: false, at, error: 'the digest has no top rows' };
  const rows: WebhookFailureRow[] = [];
  for (const r of j.top) {
    if (rows.length >= limit) break;
    if (!isObj(r)) continue;
    const statuses: Record<string, number> = {};
    if (isObj(r.statuses)) for (const [k, v] of Object.entries(r.statuses).slice(0, MAX_STATUSES)) if (/^(\d{3}|timeout|network)$/.test(k)) statuses[k] = num(v);
    rows.push({
      tenant: text(r.tenant, 64),
      endpoint: origin(r.endpoint),
      family: word(r.family, 12) ?? 'other',
      count: num(r.count),
      statuses,
      firstSeen: iso(r.first_seen),
      lastSeen: iso(r.last_seen),
    });
  }
  return { ok: true, at, ...(typeof j.window_sec === 'number' ? { windowSec: num(j.window_sec) } : {}), total: num(j.total), dropped: num(j.dropped), overflow: num(j.overflow), keys: num(j.keys), rows };
}

/** Pure: the HEALTH command's output → per tenant its summary, and the digest read. */
export function parseHealthOutput(stdout: string, at: string): HealthFacts {
  const out: HealthFacts = { probes: {} };
  for (const line of stdout.split('\n')) {
    const f = line.split('\t');
    const b = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');
    if (f[0] === 'T' && f.length >= 6 && f[1]) {
      if (f[2] === 'none') (out.noUnits ??= []).push(f[1]);
      if (f[2] !== 'probe' && f[2] !== 'gateway') continue;
      out.probes[f[1]] = probeSummary(f[2], Number(f[3]), Number(f[4]), b(f[5]), at);
    } else if (f[0] === 'D' && f.length >= 4) {
      const code = Number(f[1]);
      if (!(code > 0)) out.digest = { ok: false, at, error: `the notifier did not answer: ${curlError(Number(f[2]))}` };
      else if (code !== 200) out.digest = { ok: false, at, error: `the notifier answered HTTP ${code}` };
      else out.digest = digestSummary(b(f[3]), at);
    }
  }
  return out;
}

/** `http://127.0.0.1:<notifier listen port + port_offset>/v1/webhook-digest?limit=N` (the notifier listens on loopback by default) */
export function digestUrl(desired: Pick<DesiredState, 'settings'>, node: Pick<NodeSpec, 'port_offset'>): string | undefined {
  const listen = notifierVars(desired.settings, node.port_offset ?? 0).listen;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(listen.trim());
  if (!m) return undefined;
  const host = m[1] ?? m[2] ?? '127.0.0.1';
  const h = host === '0.0.0.0' || host === '::' || host === '*' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${m[3]}${DIGEST_PATH}?limit=${MAX_DIGEST_ROWS}`;
}

/** what a node's health command asks: tenants (each with its readiness URL) and the digest URL */

/**
 * Pure: what observe saw of a tenant's current release that says where it answers readiness — its probe unit, and
 * gateway.port of its openclaw.json: the old content observe sent when the file differs from the desired one (observe
 * sends the content of every desired path that differs), else the desired tenant's port when the file is the desired
 * one (same hash, or the same content-addressed release when observe listed no files), else none there (the default).
 */
export function currentReadiness(tenant: string, o: TenantObservation, want: TenantDesired | undefined): ReleaseReadiness {
  const probe = Object.hasOwn(o.files, `launchd/ai.openclaw.${tenant}.probe.plist`);
  const old = Object.hasOwn(o.contents, 'openclaw.json') ? o.contents['openclaw.json'] : undefined;
  const have = Object.hasOwn(o.files, 'openclaw.json') ? o.files['openclaw.json'] : undefined;
  let gatewayPort: number | undefined;
  if (old !== undefined) gatewayPort = gatewayPortIn(old.toString('utf8'));
  else if (want && have !== undefined && have === want.files.find((f) => f.path === 'openclaw.json')?.sha256) gatewayPort = want.port;
  else if (want && have === undefined && Object.keys(o.files).length === 0 && o.current?.releaseId === want.releaseId) gatewayPort = want.port;
  return gatewayPort !== undefined ? { probe, gatewayPort } : { probe };
}

/** What to ask on a node: its deployed, assigned tenants whose current release has launchd units; the digest on a notifier node. */
export function healthTargets(f: NodeFacts, spec: NodeSpec, desired: DesiredState): HealthTargets | undefined {
  const obs = f.observed?.ok ? f.observed.observation : undefined;
  if (!obs) return undefined;
  // applied this pass: apply's health gate judged the swapped releases; the next pass asks
  if (f.apply && f.apply.outcome !== 'unchanged') return undefined;
  const tenants = (f.plan?.tenants ?? [])
    .filter((t) => t.state !== 'Unassigned')
    .map((t) => t.tenant)
    .filter((t) => {
      const o = Object.hasOwn(obs.tenants, t) ? obs.tenants[t] : undefined;
      return o?.current !== undefined && Object.keys(o.files).some((p) => p.startsWith('launchd/'));
    })
    .sort();
  const notifier = spec.role === 'notifier' || Object.hasOwn(obs.nodeUnits, NOTIFIER_LABEL);
  const digest = notifier ? digestUrl(desired, spec) : undefined;
  if (tenants.length === 0 && digest === undefined) return undefined;
  return { tenants, ...(digest !== undefined ? { digest } : {}) };
}

/** Where each of `tenants` answers readiness on the node, from what observe saw of its current release. */
export function readinessUrls(f: NodeFacts, spec: NodeSpec, desired: DesiredState, tenants: readonly string[]): NonNullable<HealthTargets['urls']> {
  const obs = f.observed?.ok ? f.observed.observation : undefined;
  const urls: NonNullable<HealthTargets['urls']> = {};
  for (const t of tenants) {
    const o = obs && Object.hasOwn(obs.tenants, t) ? obs.tenants[t] : undefined;
    if (o) urls[t] = readinessUrl(currentReadiness(t, o, desired.tenants.get(t)), spec.port_offset ?? 0);
  }
  return urls;
}

/** Run the HEALTH command on one node. Never throws: a command that fails makes every answer `unknown`. */
export async function askNode(t: Transport, etc: string, portOffset: number, targets: HealthTargets, now: () => Date): Promise<HealthFacts> {
  return (await ask(t, etc, portOffset, targets, now)).facts;
}

/** askNode, and whether the command itself failed (an early answer that failed is asked again) */
async function ask(t: Transport, etc: string, portOffset: number, targets: HealthTargets, now: () => Date): Promise<{ facts: HealthFacts; failed: boolean }> {
  const args = [etc, String(portOffset), targets.digest ?? '', ...targets.tenants];
  const stdin = targets.tenants.flatMap((tn) => (targets.urls?.[tn] ? [`U\t${tn}\t${targets.urls[tn].source}\t${targets.urls[tn].url}\n`] : [])).join('');
  let stdout = '';
  let error: string | undefined;
  try {
    const r = await t.exec(`sh -c ${shQuote(HEALTH_SCRIPT)} clawops ${args.map(shQuote).join(' ')}`, { stdin, timeoutMs: (PROBE_MAX_SEC + 10) * 1000 });
    if (r.code !== 0) error = `health command exited ${String(r.code ?? r.signal)}${r.stderr.trim() ? `: ${oneLine(r.stderr.trim().split('\n')[0]!).slice(0, 120)}` : ''}`;
    stdout = r.stdout;
  } catch (e) {
    error = `health command failed: ${oneLine(e).slice(0, 160)}`;
  }
  const at = now().toISOString();
  const facts = error === undefined ? parseHealthOutput(stdout, at) : { probes: {} };
  // every tenant asked has an answer; one the command did not give is unknown (not green, not Degraded)
  for (const tenant of targets.tenants) {
    if (facts.noUnits?.includes(tenant)) continue;
    if (!Object.hasOwn(facts.probes, tenant)) facts.probes[tenant] = { source: 'gateway', status: 'unknown', code: 0, checks: [], error: error ?? 'no answer recorded', at };
  }
  if (targets.digest !== undefined && facts.digest === undefined) facts.digest = { ok: false, at, error: error ?? 'the digest was not read' };
  return { facts, failed: error !== undefined };
}

/** the arguments of a node's health command, as one string: two commands with the same key ask the same */
function targetsKey(etc: string, portOffset: number, targets: HealthTargets): string {
  return JSON.stringify([etc, portOffset, targets.digest ?? '', targets.tenants, targets.tenants.map((tn) => targets.urls?.[tn] ?? null)]);
}

/**
 * Start, beside the node's observe command, the health command the last pass asked of it (same arguments); the
 * health stage takes the answer only if this pass's targets give the same command, over the same connection (the
 * node's entry did not move to another host, port or key), and no apply ran on the node (not even one that swapped
 * nothing but reloaded a service), else asks again. Nothing is started for a node with no open connection or nothing asked.
 */
export function startEarlyHealth(pool: ConnectionPool, node: string, now: () => Date): void {
  const last = pool.healthAsked.get(node);
  const t = last ? pool.peek(node) : undefined;
  if (!last || !t) return;
  const result = ask(t, last.etc, last.portOffset, last.targets, now);
  const e: { key: string; t: Transport; result: typeof result; done?: number } = { key: last.key, t, result };
  void result.then(
    () => void (e.done = performance.now()),
    () => undefined,
  );
  pool.healthEarly.set(node, e);
}

export interface HealthStageDeps {
  pool: ConnectionPool;
  log: Logger;
  now: () => Date;
  signal: AbortSignal;
  concurrency?: number;
}

/**
 * Ask every reachable node of a group (not applied to this pass) for its tenants' readiness and, on a notifier node,
 * the digest; the answers go on each node's facts (`health`), which deriveNode folds into the node's health.
 */
export async function healthStage(d: HealthStageDeps, facts: Map<string, NodeFacts>, nodes: readonly NodeSpec[], desired: DesiredState): Promise<void> {
  if (d.signal.aborted) return;
  const t0 = performance.now();
  let asked = 0;
  let earlyTaken = 0;
  await eachLimit(nodes, d.concurrency ?? desired.settings.concurrency, async (spec) => {
    const f = facts.get(spec.name);
    const asks = f ? healthTargets(f, spec, desired) : undefined;
    const targets = f && asks ? { ...asks, urls: readinessUrls(f, spec, desired, asks.tenants) } : undefined;
    // nothing to ask this pass: the next pass starts nothing early for it either
    if (!targets) d.pool.healthAsked.delete(spec.name);
    if (!f || !targets || d.signal.aborted) return;
    const t = d.pool.peek(spec.name);
    if (!t) return;
    asked++;
    const etc = t.paths(desired.settings.paths).etc;
    const portOffset = spec.port_offset ?? 0;
    const key = targetsKey(etc, portOffset, targets);
    const early = d.pool.healthEarly.get(spec.name);
    d.pool.healthEarly.delete(spec.name);
    // the early answer is this node's only if it asked the same, over the connection this pass observed (an
    // inventory entry that changed host, port or key since is another machine), of a node nothing was applied
    // to (an apply that swapped nothing may still have reloaded a service, NotReloaded, or installed a node
    // unit: the early answer is from before that), and was not over long before now (EARLY_MAX_AGE_MS: other
    // canaries' applies and health gates, or the canary stage before the fleet's, can take minutes)
    const running = early !== undefined && early.done === undefined;
    const fresh = early !== undefined && (running || performance.now() - early.done! <= EARLY_MAX_AGE_MS);
    let r = early && fresh && early.key === key && early.t === t && !f.apply ? await early.result : undefined;
    if (r) earlyTaken++;
    // a failed early command is asked again, unless it failed while the stage waited for it (as current as a
    // fresh ask: a node whose command hangs is not waited for twice)
    if (!r || (r.failed && !running)) r = await ask(t, etc, portOffset, targets, d.now);
    // the same ask as last pass: its entry stays (a new one each pass would be old-space garbage the next)
    if (d.pool.healthAsked.get(spec.name)?.key !== key) d.pool.healthAsked.set(spec.name, { key, etc, portOffset, targets });
    const h = r.facts;
    f.health = h;
    const bad = Object.entries(h.probes).filter(([, p]) => p.status !== 'ok');
    if (bad.length > 0) d.log.warn({ stage: 'health', node: spec.name, probes: Object.fromEntries(bad.map(([k, p]) => [k, p.status])) }, `${spec.name}: ${bad.map(([k, p]) => `${k} ${p.source} ${p.status}${p.error ? ` (${p.error})` : p.checks.length ? ` (${p.checks.join(', ')})` : ''}`).join('; ')}`);
    if (h.digest && !h.digest.ok) {
      // a notifier clawops installs (or the repo declares) should answer; one run by other means may not be there
      const ours = Object.hasOwn(f.observed?.ok ? f.observed.observation.nodeUnits : {}, NOTIFIER_LABEL) || notifierUnitFor(desired, spec) !== undefined;
      d.log[ours ? 'warn' : 'debug']({ stage: 'health', node: spec.name }, `${spec.name}: webhook digest not read: ${h.digest.error}`);
    }
  });
  if (asked > 0) d.log.debug({ stage: 'health', nodes: asked, early: earlyTaken, ms: Math.round(performance.now() - t0) }, `asked readiness on ${asked} node(s) (${earlyTaken} answered beside observe)`);
}
