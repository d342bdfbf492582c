/**
 * Synthetic webhook deliveries from a node (issue 10, `clawops replay`; contract in specs/replay.md).
 *
 * For each tenant the node runs, the endpoints of the tenant's *current release on the node* (its webhook.json)
 * that name a recorded fixture get that fixture delivered to them by `curl` on the node, over the node's own ssh
 * connection, so the request leaves through the node's network path. The node signs or authenticates the request
 * with the tenant's secret file itself; the secret never crosses the connection back. Each recorded response status
 * is compared with the one received, and every mismatch is written to the node's notifier socket as a
 * webhook-failure line. The controller calls `replayNode` to gather canary evidence; the CLI prints its report.
 */
import { randomBytes } from 'node:crypto';
import type { DesiredState, NodeSpec, WebhookEndpoint } from '../desired/types.js';
import { oneLine, SshError, UsageError } from '../errors.js';
import { parseFailureLine, type WebhookFailure } from '../notifier/failure-line.js';
import { shQuote, type NodePaths, type Transport } from '../transport/transport.js';
import { FIXTURE_NAME, type Fixture, type FixtureSource } from './fixtures.js';
import { DELIVER_SCRIPT, NOTIFY_SCRIPT, READ_WEBHOOKS_SCRIPT } from './scripts.js';

export type SecretChoice = 'current' | 'next';
export type ReplayOutcome = 'matched' | 'mismatch' | 'error' | 'skipped';
export type ReplayStatus = number | 'timeout' | 'network';
/**
 * Why a result says nothing about the configuration the node runs (absent: it does — a status compared, or a fixture
 * or endpoint that cannot be replayed as configured):
 *  - `no-answer`: the endpoint gave no HTTP answer (timeout, connect, resolve, TLS)
 *  - `node`: the node could not make the delivery (its curl/openssl/mktemp, its secret file, or the command died)
 *  - `behind`: the node does not run what the repo wants replayed (no current release, an endpoint missing there)
 */
export type Inconclusive = 'no-answer' | 'node' | 'behind';

/** One fixture delivered (or not) to one endpoint. A tenant-level problem has `fixture: null`. */
export interface ReplayResult {
  node: string;
  tenant: string;
  /** fixture path under fixtures/webhooks/ */
  fixture: string | null;
  /** endpoint name in the tenant's webhook.json */
  endpoint: string | null;
  /** host[:port] of the endpoint URL (never its path, query or userinfo) */
  host: string | null;
  /** the tenant's current release on the node, whose webhook.json was used */
  release_id: string | null;
  /** the synthetic delivery's id, sent as X-Clawops-Replay */
  delivery_id: string | null;
  auth: 'hmac-sha256' | 'bearer' | null;
  /** the secret's name on the node (never its value) */
  secret: string | null;
  expected: number | null;
  got: ReplayStatus | null;
  outcome: ReplayOutcome;
  /** why: an error, a skip, or what curl said */
  message?: string;
  /** a failure that says nothing about the configuration (the controller retries it; see Inconclusive) */
  inconclusive?: Inconclusive;
  /** when the request was sent, on the node's clock (ISO 8601) */
  time: string;
  duration_ms: number | null;
}

export interface NotifierOutcome {
  /** the socket path on the node */
  socket: string;
  /** failure lines to write */
  attempted: number;
  /** failure lines written */
  sent: number;
  /** why they could not be written */
  error?: string;
}

export interface ReplayReport {
  node: string;
  secret: SecretChoice;
  run: string;
  /** every delivery matched its recorded status (skips aside) and nothing failed */
  ok: boolean;
  results: ReplayResult[];
  notifier: NotifierOutcome;
}

export interface ReplayOptions {
  /** the recorded fixtures, by the name endpoints give (fixturesFromDir(checkout)) */
  fixtures: FixtureSource;
  /** only these tenants (each must be one of the node's); default all the node runs */
  tenants?: readonly string[];
  /** which of the tenant's secrets authenticates the deliveries (default current) */
  secret?: SecretChoice;
  /** write mismatches to the notifier socket (default true) */
  notify?: boolean;
  /** an id for this replay, part of every delivery id (default random) */
  run?: string;
  /** called as each result is known */
  onResult?: (r: ReplayResult) => void;
  now?: () => Date;
}

/** the header a signed delivery carries: `sha256=` and the hex HMAC-SHA256 of the body */
export const SIGNATURE_HEADER = 'X-OpenClaw-Signature-256';
/** every replayed delivery carries its synthetic delivery id here, so a receiver can tell it from a real one */
export const REPLAY_HEADER = 'X-Clawops-Replay';
const SECRET_REF = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/;
const ENDPOINT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * The secret file a delivery is authenticated with. `current`: the endpoint's signing secret, else token.current.
 * `next`: the `.next` twin of a signing secret named `*.current`, else token.next (the rotation pair).
 */
export function secretFor(ep: Pick<WebhookEndpoint, 'signing_secret'>, choice: SecretChoice): { name: string; auth: 'hmac-sha256' | 'bearer' } {
  const ref = ep.signing_secret?.secret_ref;
  if (ref === undefined) return { name: `token.${choice}`, auth: 'bearer' };
  if (choice === 'current') return { name: ref, auth: 'hmac-sha256' };
  return { name: ref.endsWith('.current') ? `${ref.slice(0, -'.current'.length)}.next` : 'token.next', auth: 'hmac-sha256' };
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** A configured production path (under paths.var_db or paths.etc) as seen through this transport. */
export function nodePath(configured: string, settings: DesiredState['settings'], p: NodePaths): string {
  for (const [base, mapped] of [[settings.paths.var_db, p.varDb], [settings.paths.etc, p.etc]] as const) {
    const b = base.replace(/\/+$/, '');
    if (configured === b) return mapped;
    if (configured.startsWith(`${b}/`)) return `${mapped}${configured.slice(b.length)}`;
  }
  return configured;
}

function runScript(t: Transport, script: string, args: string[], opts: { stdin?: string | Buffer; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return t.exec(`sh -c ${shQuote(script)} clawops-replay ${args.map(shQuote).join(' ')}`, opts);
}

interface NodeWebhook {
  tenant: string;
  releaseId: string | null;
  endpoints?: Record<string, unknown>;
  problem?: string;
}

/** Read the webhook.json of each tenant's current release on the node, in one command. */
async function readNodeWebhooks(t: Transport, etc: string, tenants: readonly string[]): Promise<Map<string, NodeWebhook>> {
  const r = await runScript(t, READ_WEBHOOKS_SCRIPT, [etc, ...tenants], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new SshError(t.node, `reading webhook.json failed (exit ${String(r.code)}): ${r.stderr.trim().split('\n')[0] ?? ''}`, { code: r.code, stderr: r.stderr });
  const out = new Map<string, NodeWebhook>();
  for (const line of r.stdout.split('\n')) {
    const [kind, tenant, id, data] = line.split('\t');
    if (tenant === undefined || !tenants.includes(tenant)) continue;
    const releaseId = id && /^[A-Za-z0-9._-]{1,64}$/.test(id) ? id : null;
    if (kind === 'missing') {
      out.set(tenant, { tenant, releaseId, problem: data === undefined || data === '' ? 'no current release' : data });
      continue;
    }
    if (kind !== 'wh') continue;
    let doc: unknown;
    try {
      doc = JSON.parse(Buffer.from(data ?? '', 'base64').toString('utf8'));
    } catch {
      out.set(tenant, { tenant, releaseId, problem: 'webhook.json on the node is not valid JSON' });
      continue;
    }
    const endpoints = isObject(doc) ? doc.endpoints : undefined;
    if (!isObject(endpoints)) out.set(tenant, { tenant, releaseId, problem: 'webhook.json on the node has no endpoints object' });
    else out.set(tenant, { tenant, releaseId, endpoints });
  }
  return out;
}

/** A result that is an error until a delivery says otherwise: nothing sent, nothing known but the tenant and release. */
function errorResult(node: string, tenant: string, releaseId: string | null, now: () => Date): ReplayResult {
  return {
    node,
    tenant,
    fixture: null,
    endpoint: null,
    host: null,
    release_id: releaseId,
    delivery_id: null,
    auth: null,
    secret: null,
    expected: null,
    got: null,
    outcome: 'error',
    time: now().toISOString(),
    duration_ms: null,
  };
}

interface Planned {
  tenant: string;
  endpoint: string;
  releaseId: string | null;
  ep: Record<string, unknown>;
  fixtureName: string;
}

/** Deliver every fixture the node's endpoints name; see the module comment. Throws only when the node cannot be used. */
export async function replayNode(transport: Transport, desired: Pick<DesiredState, 'settings' | 'tenants'>, node: NodeSpec, opts: ReplayOptions): Promise<ReplayReport> {
  const choice = opts.secret ?? 'current';
  const run = opts.run ?? randomBytes(4).toString('hex');
  const now = opts.now ?? (() => new Date());
  const tenants = opts.tenants ? [...new Set(opts.tenants)] : [...node.tenants];
  const foreign = tenants.filter((x) => !node.tenants.includes(x));
  if (foreign.length > 0) {
    throw new UsageError(`--tenant ${foreign.join(', ')}: not a tenant of node ${node.name} (it runs: ${node.tenants.join(', ') || 'none'})`);
  }
  const p = transport.paths(desired.settings.paths);
  const socket = nodePath(desired.settings.notifier.socket, desired.settings, p);
  const results: ReplayResult[] = [];
  const emit = (r: ReplayResult): void => {
    results.push(r);
    opts.onResult?.(r);
  };
  const blank = (tenant: string, releaseId: string | null): ReplayResult => errorResult(node.name, tenant, releaseId, now);

  const webhooks = tenants.length > 0 ? await readNodeWebhooks(transport, p.etc, tenants) : new Map<string, NodeWebhook>();
  // per tenant, by endpoint name: a delivery to make, or a result known without one
  const work: (Planned | ReplayResult)[] = [];
  for (const tenant of tenants.sort()) {
    const wh = webhooks.get(tenant);
    if (!wh || wh.problem !== undefined || !wh.endpoints) {
      work.push({ ...blank(tenant, wh?.releaseId ?? null), message: `${wh?.problem ?? 'nothing read from the node'}: apply the tenant first`, inconclusive: 'behind' });
      continue;
    }
    const items: [string, Planned | ReplayResult][] = [];
    const onNode = new Set<string>();
    for (const [name, ep] of Object.entries(wh.endpoints)) {
      if (!isObject(ep) || typeof ep.fixture !== 'string') continue;
      onNode.add(`${name}\0${ep.fixture}`);
      items.push([name, { tenant, endpoint: name, releaseId: wh.releaseId, ep, fixtureName: ep.fixture }]);
    }
    // what the repo wants replayed on this node but the node's release does not have: the node is behind
    const want = desired.tenants.get(tenant)?.webhook.endpoints ?? {};
    for (const [name, ep] of Object.entries(want)) {
      if (ep.fixture === undefined || !ep.enabled || (ep.canary && !node.canary) || onNode.has(`${name}\0${ep.fixture}`)) continue;
      items.push([name, { ...blank(tenant, wh.releaseId), fixture: ep.fixture, endpoint: name, message: `the node's release ${wh.releaseId ?? '(unknown)'} has no endpoint ${name} with this fixture: apply the repo first`, inconclusive: 'behind' }]);
    }
    items.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    work.push(...items.map(([, it]) => it));
  }

  const failures: WebhookFailure[] = [];
  for (const it of work) {
    if ('outcome' in it) {
      emit(it);
      continue;
    }
    const { result: r, endpointUrl } = await deliver(transport, node, it, opts.fixtures, choice, run, p, now);
    emit(r);
    if (r.outcome === 'mismatch' && endpointUrl && r.got !== null && r.delivery_id !== null) {
      failures.push({ tenant: r.tenant, endpoint: endpointUrl, status: r.got, time: r.time, delivery_id: r.delivery_id });
    }
  }

  const notifier: NotifierOutcome = { socket, attempted: 0, sent: 0 };
  // the notifier's own parser decides what a valid line is
  const lines = failures.map((f) => JSON.stringify(f)).filter((l) => parseFailureLine(l).ok).map((l) => `${l}\n`);
  notifier.attempted = lines.length;
  if (lines.length > 0 && opts.notify !== false) {
    const r = await runScript(transport, NOTIFY_SCRIPT, [socket], { stdin: lines.join(''), timeoutMs: 20_000 }).catch((e: unknown) => ({ code: -1, stdout: '', stderr: (e as Error).message }));
    const first = r.stdout.split('\n')[0] ?? '';
    const [kind, msg] = first.split('\t');
    if (kind === 'sent') notifier.sent = lines.length;
    else if (kind === 'nosocket') notifier.error = `no notifier socket at ${socket} on ${node.name}`;
    else notifier.error = `could not write to ${socket} on ${node.name}: ${msg ?? (r.stderr.trim().split('\n')[0] || `exit ${String(r.code)}`)}`;
  } else if (lines.length > 0) notifier.error = 'not written (--no-notify)';
  return { node: node.name, secret: choice, run, ok: results.every((r) => r.outcome === 'matched' || r.outcome === 'skipped'), results, notifier };
}

async function deliver(
  t: Transport,
  node: NodeSpec,
  pl: Planned,
  fixtures: FixtureSource,
  choice: SecretChoice,
  run: string,
  p: NodePaths,
  now: () => Date,
): Promise<{ result: ReplayResult; endpointUrl?: string }> {
  const base: ReplayResult = { ...errorResult(node.name, pl.tenant, pl.releaseId, now), fixture: pl.fixtureName, endpoint: pl.endpoint };
  const fail = (message: string, outcome: ReplayOutcome = 'error', inconclusive?: Inconclusive): { result: ReplayResult } => ({ result: { ...base, outcome, message, ...(inconclusive ? { inconclusive } : {}) } });
  if (!ENDPOINT_NAME.test(pl.endpoint)) return fail('endpoint name in the node\'s webhook.json is not valid');
  if (!FIXTURE_NAME.test(pl.fixtureName)) return fail('fixture name in the node\'s webhook.json is not a relative *.json path');
  let url: URL;
  try {
    url = new URL(String(pl.ep.url));
  } catch {
    return fail('endpoint url is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail('endpoint url is not http(s)');
  base.host = url.host;
  const entry = fixtures(pl.fixtureName);
  if (entry.ok) base.expected = entry.fixture.expectedStatus;
  if (pl.ep.enabled === false) return fail('endpoint disabled', 'skipped');
  if (pl.ep.canary === true && !node.canary) return fail('canary-only endpoint and this node is not a canary', 'skipped');
  if (!entry.ok) return fail(entry.error);
  const fx: Fixture = entry.fixture;
  const signing = pl.ep.signing_secret;
  const ref = isObject(signing) && typeof signing.secret_ref === 'string' ? signing.secret_ref : undefined;
  if (signing !== undefined && (ref === undefined || !SECRET_REF.test(ref))) return fail('signing_secret in the node\'s webhook.json is not a valid secret reference');
  const secret = secretFor(ref !== undefined ? { signing_secret: { secret_ref: ref } } : {}, choice);
  base.auth = secret.auth;
  base.secret = secret.name;
  if (secret.auth === 'bearer' && url.protocol === 'http:' && !isLoopback(url.hostname)) {
    return fail(`refusing to send ${secret.name} as a bearer token over plain http to ${url.host}`);
  }
  const deliveryId = `replay-${run}-${fx.deliveryId}`.slice(0, 200);
  base.delivery_id = deliveryId;
  const headers = fx.headers.map(([k, v]) => `${k}: ${v}`);
  if (!fx.headers.some(([k]) => k === 'content-type')) headers.push('Content-Type:');
  headers.push(`${REPLAY_HEADER}: ${deliveryId}`);
  const timeoutMs = typeof pl.ep.timeout_ms === 'number' && pl.ep.timeout_ms > 0 ? Math.min(pl.ep.timeout_ms, 300_000) : 10_000;
  const secretFile = `${p.varDb}/secrets/${pl.tenant}/${secret.name}`;
  const args = [url.href, fx.method, secret.auth === 'hmac-sha256' ? 'hmac' : 'bearer', secretFile, secret.name, (timeoutMs / 1000).toFixed(3), ...headers];
  // (a node that does not answer in time, e.g. an openssl that hangs, fails this delivery alone: the others go on)
  const r = await runScript(t, DELIVER_SCRIPT, args, { stdin: fx.body, timeoutMs: timeoutMs + 15_000 }).catch((e: unknown) => ({ code: -1, stdout: `error\t${oneLine(e).replace(/[\t\n]/g, ' ')}\n`, stderr: '' }));
  const line = r.stdout.split('\n').find((l) => l.startsWith('result\t') || l.startsWith('error\t'));
  if (!line) return fail(`the replay script printed nothing (exit ${String(r.code)}): ${r.stderr.trim().split('\n')[0] ?? ''}`.trim(), 'error', 'node');
  const f = line.split('\t');
  if (f[0] === 'error') return fail(f[1] ?? 'failed on the node', 'error', 'node');
  const [, code, rc, total, started, curlErr] = f;
  const exit = Number(rc);
  const http = Number(code);
  const got: ReplayStatus = exit === 28 ? 'timeout' : exit === 0 || http >= 100 ? http : 'network';
  const time = started !== undefined && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(started) ? started : base.time;
  const seconds = Number(total);
  const res: ReplayResult = {
    ...base,
    got,
    outcome: got === fx.expectedStatus ? 'matched' : 'mismatch',
    time,
    duration_ms: Number.isFinite(seconds) ? Math.round(seconds * 1000) : null,
  };
  if (exit !== 0) res.message = scrub(curlErr || `curl exit ${exit}`, url);
  if (got === 'timeout' || got === 'network') res.inconclusive = 'no-answer';
  // the notifier line names the endpoint without its query or userinfo (either may carry a token)
  return { result: res, endpointUrl: `${url.origin}${url.pathname}` };
}

/** curl's words without the endpoint's full URL (a query or userinfo may carry a token). */
function scrub(s: string, url: URL): string {
  return s.split(url.href).join(`${url.origin}${url.pathname}`).trim().slice(0, 300);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
