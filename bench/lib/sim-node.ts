/**
 * Simulated nodes for the scale benchmark: an in-process Transport that answers the observe command with the bytes a
 * real node prints, for hundreds or thousands of nodes in one process (no ssh, no sockets, no child processes).
 *
 * The bytes are not made up: `captureTemplate` (sim-template.ts) lays a node out on this machine exactly as apply does (every tenant's
 * release with its manifest, the current and .prev links and an older release, every secret the release references
 * at mode 0600, the gateway wrapper's run records, launchd services running) and runs the REAL observe script over the
 * LocalTransport once. Its records are then split into node-level records and per-tenant records; a simulated node
 * answers with the node-level records (its own clock) and the records of exactly the tenants its observe stdin names
 * (the `T` lines), in the script's order, as one JSON document — byte for byte what that node would print in sync.
 * As a real node keeps its last full answer (observe-script.ts cache_write), a simulated node answers in full first
 * and then, while stdin stays the same and for at most OBSERVE_CACHE_MAX_AGE_S, with its kept answer: the live
 * records first (now, answer kept, daemon, version, disk), the rest of the full answer byte for byte, svc last.
 * A few nodes are given drift so that plan has work: a hand-edited file (its content is sent, as the script sends
 * the old content of clawops' own files), a tenant not deployed yet, a stopped service, a token rotation in progress.
 *
 * This module imports nothing but the reconciler, so a benchmark's child process carries what a controller carries.
 * The controller's health command (controller/health-stage.ts) is answered too, as a node in sync answers it (every
 * tenant's composite probe 200 and green; a stopped service's tenant does not answer). Anything else (apply's
 * scripts, file operations) fails like a node that refuses it, so a benchmark in observe mode cannot silently do less
 * than it claims.
 */
import { createHash } from 'node:crypto';
import type { DesiredState, NodeSpec, Settings } from '../../reconciler/desired/types.js';
import { SshError } from '../../reconciler/errors.js';
import { ConnectionPool } from '../../reconciler/controller/connections.js';
import { expectations } from '../../reconciler/observe/observe-node.js';
import { OBSERVE_CACHE_MAX_AGE_S } from '../../reconciler/observe/observe-script.js';
import type { ExecOptions, ExecResult, FileOps, NodePaths, Transport, TransportStats } from '../../reconciler/transport/transport.js';
import { DEFAULT_LAUNCH_DAEMONS } from '../../reconciler/transport/transport.js';

const sha256 = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');

/** Drift a simulated node can carry (on one of its tenants). */
export type SimDrift = 'hand-edited' | 'not-deployed' | 'service-stopped' | 'token-rotation';
export const SIM_DRIFTS: readonly SimDrift[] = ['hand-edited', 'not-deployed', 'service-stopped', 'token-rotation'];

/** Record kinds whose second field is a tenant id (the script's per-tenant records). */
const TENANT_KINDS = new Set(['link', 'relok', 'release', 'insync', 'file', 'unsafe', 'fsize', 'content', 'manifestj', 'unexpected', 'token', 'run', 'quarantined']);

export type ObserveRecord = string[];

/** The order in which the observe script prints record kinds (observe-script.ts, top to bottom). */
const ORDER = new Map(
  ['now', 'daemon', 'version', 'disk', 'lock', 'leftover', 'intent', 'unexpected', 'link', 'relok', 'release', 'manifestj', 'insync', 'file', 'unsafe', 'content', 'fsize', 'svc', 'launchd-list', 'nodeunit', 'run', 'guard', 'quarantined', 'token'].map((k, i) => [k, i]),
);

/** What the real observe script printed for a node in sync, record by record, each with the tenant it belongs to. */
export interface ObserveTemplate {
  /** the script's records in its order; `daemon` and `version` set as on a node running the locked CLI */
  records: ObserveRecord[];
  /** per record, its tenant (undefined: a node-level record) */
  owners: (string | undefined)[];
  /** per tenant, the `hand-edited` drift: openclaw.json as edited on the node (its hash, and its content in base64) */
  edits: Map<string, { path: string; sha256: string; base64: string }>;
  /** the raw stdout of the real script */
  raw: string;
  /**
   * the same node observed in full (stdin 'O full': every file one by one): what a drifted tenant's records are drawn
   * from, since a real node sends a tenant that differs in full and one in sync as a summary (insync)
   */
  full?: ObserveRecord[];
}

export function tenantOf(r: ObserveRecord): string | undefined {
  const [kind, a = ''] = r;
  if (kind === 'svc') return a.startsWith('ai.openclaw.') && !a.startsWith('ai.openclaw.clawops.') ? a.slice('ai.openclaw.'.length) : undefined;
  if (kind !== undefined && TENANT_KINDS.has(kind) && a !== '') return a;
  return undefined;
}

/** Records of one simulated node, from the template: its tenants (stdin's T lines) and its drift, in the script's order. */
export function simRecords(tpl: ObserveTemplate, stdin: string, drift: readonly SimDrift[], now: number): ObserveRecord[] {
  const wanted = new Set<string>();
  let victim: string | undefined; // the drifted tenant: the node's first
  for (const line of stdin.split('\n')) {
    if (!line.startsWith('T\t')) continue;
    victim ??= line.slice(2);
    wanted.add(line.slice(2));
  }
  const edit = victim !== undefined && drift.includes('hand-edited') ? tpl.edits.get(victim) : undefined;
  const out: ObserveRecord[] = [];
  // a compact template: the hand-edited tenant is not in sync, so it comes in full (its file records and whole
  // manifest from the full capture) where its insync record was, its old content right after
  const victimFull = edit && tpl.full && tpl.records.some((r) => r[0] === 'insync' && r[1] === victim) ? tpl.full.filter((r) => r[1] === victim && (r[0] === 'file' || (r[0] === 'manifestj' && r[2] === 'current'))) : undefined;
  let contentDone = edit === undefined || victimFull !== undefined;
  let sawFile = false;
  for (let i = 0; i < tpl.records.length; i++) {
    const r = tpl.records[i]!;
    const owner = tpl.owners[i];
    const kind = r[0];
    // the script prints `content` records after every `file` record
    if (kind === 'file') sawFile = true;
    else if (!contentDone && sawFile) {
      out.push(['content', victim!, edit!.path, edit!.base64]);
      contentDone = true;
    }
    if (kind === 'now') {
      out.push(['now', String(now)]);
      continue;
    }
    if (owner === undefined) {
      out.push(r);
      continue;
    }
    if (!wanted.has(owner)) continue;
    if (owner !== victim || drift.length === 0) {
      out.push(r);
      continue;
    }
    if (drift.includes('not-deployed') && kind !== 'token') continue; // secrets provisioned, nothing deployed
    if (victimFull && kind === 'insync') {
      for (const f of victimFull) out.push(f[0] === 'file' && f[2] === edit!.path ? ['file', owner, edit!.path, edit!.sha256] : f);
      out.push(['content', owner, edit!.path, edit!.base64]);
      continue;
    }
    if (victimFull && kind === 'manifestj' && r[2] === 'current') continue; // sent whole with the file records
    if (edit && kind === 'file' && r[2] === edit.path) out.push(['file', owner, edit.path, edit.sha256]);
    else if (edit && kind === 'relok' && r[2] === 'current') out.push(['relok', owner, 'current', '0']);
    else if (drift.includes('service-stopped') && kind === 'svc') out.push(['svc', r[1]!, '0', '78']);
    else if (drift.includes('token-rotation') && kind === 'token' && r[2] === 'token.next') {
      // staged beside token.current (same mtime: the clock is the only thing that differs between answers)
      const mtime = tpl.records.find((x) => x[0] === 'token' && x[1] === owner && x[2] === 'token.current')?.[4] ?? '0';
      out.push(['token', owner, 'token.next', '600', mtime, sha256(`${owner}/next`).slice(0, 12)]);
    }
    else out.push(r);
  }
  return out;
}

/** The script's JSON document for records (its awk escapes control characters; template fields never hold any). */
export function renderObservation(records: readonly ObserveRecord[]): string {
  return `{"v":1,"records":[${records.map((r) => `[${r.map((f) => JSON.stringify(f)).join(',')}]`).join(',')}]}\n`;
}

/** the records a kept answer sends afresh (observe-script.ts: FRESH first, svc last) */
const LIVE_KINDS = new Set(['now', 'answer', 'daemon', 'version', 'disk', 'launchd-list', 'svc']);

/**
 * A node's records as its kept answer lays them out (observe-script.ts, `KEPT=$(`): the live records first (now,
 * answer kept T0, then daemon, version, disk and launchd-list as oc_facts and disk_rec print them), then every other
 * record of the full answer in its order (the node's cache), then the services.
 */
export function keptRecords(full: readonly ObserveRecord[], now: number, since: number): ObserveRecord[] {
  const head: ObserveRecord[] = [['now', String(now)], ['answer', 'kept', String(since)]];
  for (const k of ['daemon', 'version', 'disk', 'launchd-list']) for (const r of full) if (r[0] === k) head.push(r);
  return [...head, ...full.filter((r) => !LIVE_KINDS.has(r[0]!)), ...full.filter((r) => r[0] === 'svc')];
}

/**
 * A node's observe output, rendered once per (tenants, drift, full or kept) and then only its clock (and, in a kept
 * answer, the time of the full answer it keeps) changed: what a node sends
 * is a fresh string per node (as a transport's toString of what it received), without the simulator's own records
 * and JSON work per node counting as the pass's garbage and CPU time. `keptSince`: the node answers with its kept
 * answer (nothing changed since its full answer of that time): the kept part byte for byte the full answer's records.
 */
const rendered = new WeakMap<ObserveTemplate, Map<string, Map<string, string[]>>>();
const NOW_HOLE = '@@now@@';
const SINCE_HOLE = '@@since@@';
export function observeStdout(tpl: ObserveTemplate, stdin: string, drift: readonly SimDrift[], now: number, keptSince?: number): string {
  let cache = rendered.get(tpl);
  if (!cache) rendered.set(tpl, (cache = new Map()));
  // keyed by the drift, then by stdin as it is (the same tenants give the same stdin): the simulator's own lookup
  // allocates nothing a node, so the pass's garbage is the controller's
  const dk = `${keptSince === undefined ? 'full' : 'kept'}:${drift.join(',')}`;
  let byStdin = cache.get(dk);
  if (!byStdin) cache.set(dk, (byStdin = new Map()));
  let parts = byStdin.get(stdin);
  if (!parts) {
    // (a full answer's `answer` record is the template's, as simStdout's)
    const recs = simRecords(tpl, stdin, drift, 0).map((r) => (r[0] === 'now' ? ['now', NOW_HOLE] : r));
    const text = renderObservation(keptSince === undefined ? recs : keptRecords(recs, 0, 0).map((r) => (r[0] === 'now' ? ['now', NOW_HOLE] : r[0] === 'answer' ? ['answer', 'kept', SINCE_HOLE] : r)));
    parts = text.split(/@@(?:now|since)@@/);
    if (byStdin.size >= 64) byStdin.clear();
    byStdin.set(stdin, parts);
  }
  // one flat string, as a transport hands over what it received
  return Buffer.from(parts.length === 3 ? `${parts[0]}${now}${parts[1]}${keptSince ?? now}${parts[2]}` : `${parts[0]}${now}${parts[1] ?? ''}`).toString('utf8');
}

const refuse = (node: string) => (): Promise<never> => Promise.reject(new SshError(node, 'simulated node: file operations are not simulated'));

/** One simulated node: answers the observe command from the template (its tenants, its drift); refuses the rest. */
export class SimTransport implements Transport {
  readonly stats: TransportStats = { commands: 0, bytesSent: 0, bytesReceived: 0 };
  /** observe commands answered and the bytes they printed; health commands answered */
  observes = 0;
  observeBytes = 0;
  healthChecks = 0;
  /** the node's last full answer (its time and the stdin it answered): kept, and sent again while nothing changes */
  private kept: { since: number; stdin: string } | undefined;
  readonly files: FileOps;
  constructor(readonly node: string, private readonly tpl: ObserveTemplate, readonly drift: readonly SimDrift[] = [], private readonly clock: () => number = () => Math.floor(Date.now() / 1000)) {
    this.files = { mkdirp: refuse(node), writeFile: refuse(node), symlink: refuse(node), rename: refuse(node), readSmall: refuse(node) };
  }

  paths(c: { etc: string; var_db: string; launch_daemons?: string }): NodePaths {
    return { etc: c.etc, varDb: c.var_db, launchDaemons: c.launch_daemons ?? DEFAULT_LAUNCH_DAEMONS };
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.stats.commands++;
    const stdin = opts.stdin === undefined ? '' : opts.stdin.toString();
    this.stats.bytesSent += command.length + stdin.length;
    // a node answers on a later turn of the event loop, as a socket would
    await new Promise<void>((res) => setImmediate(res));
    if (command.includes(' clawops-observe ')) {
      // as a real node: a full answer, then its kept answer while stdin is the same and it is at most
      // OBSERVE_CACHE_MAX_AGE_S old (nothing changes on a simulated node)
      const now = this.clock();
      const kept = this.kept !== undefined && this.kept.stdin === stdin && now >= this.kept.since && now - this.kept.since <= OBSERVE_CACHE_MAX_AGE_S && !command.endsWith(' verify');
      if (!kept) this.kept = { since: now, stdin };
      const stdout = observeStdout(this.tpl, stdin, this.drift, now, kept ? this.kept!.since : undefined);
      this.stats.bytesReceived += stdout.length;
      this.observes++;
      this.observeBytes += stdout.length;
      return { stdout, stderr: '', code: 0, signal: null };
    }
    if (command.startsWith('sh -c ') && command.includes('clawops-health.XXXXXX')) {
      const stdout = healthAnswer(this.tpl, command, this.drift, this.clock());
      this.stats.bytesReceived += stdout.length;
      this.healthChecks++;
      return { stdout, stderr: '', code: 0, signal: null };
    }
    return { stdout: '', stderr: `${this.node}: simulated node answers only the observe and health commands\n`, code: 127, signal: null };
  }

  async close(): Promise<void> {}
}

/** The single-quoted arguments after the script's `$0` (`clawops`) of a `sh -c SCRIPT clawops ARG…` command line. */
function shArgs(command: string): string[] {
  const tail = command.slice(command.lastIndexOf("' clawops ") + "' clawops ".length);
  const out: string[] = [];
  const re = /'((?:[^']|'\\'')*)'/g;
  for (let m = re.exec(tail); m; m = re.exec(tail)) out.push(m[1]!.split("'\\''").join("'"));
  return out;
}

/** Whether a tenant's release (in the template) has launchd units, and a probe unit; worked out once per tenant. */
const units = new WeakMap<ObserveTemplate, Map<string, { units: boolean; probe: boolean }>>();
function unitsOf(tpl: ObserveTemplate, tenant: string): { units: boolean; probe: boolean } {
  let m = units.get(tpl);
  if (!m) units.set(tpl, (m = new Map()));
  let u = m.get(tenant);
  if (!u) {
    // the full capture: a compact one has no file records for tenants in sync
    const files = (tpl.full ?? tpl.records).filter((r) => r[0] === 'file' && r[1] === tenant).map((r) => r[2] ?? '');
    m.set(tenant, (u = { units: files.some((f) => f.startsWith('launchd/')), probe: files.includes(`launchd/ai.openclaw.${tenant}.probe.plist`) }));
  }
  return u;
}

/**
 * What the controller's health command (controller/health-stage.ts HEALTH_SCRIPT) prints on a node in sync: for each
 * tenant asked, the composite probe's answer when the release ships a probe unit (else the gateway's /readyz), 200 and
 * all green; a stopped service's tenant answers nothing (curl: connection refused).
 */
function healthAnswer(tpl: ObserveTemplate, command: string, drift: readonly SimDrift[], now: number): string {
  const [, , , ...tenants] = shArgs(command);
  const lines: string[] = [];
  tenants.forEach((t, i) => {
    const { units, probe } = unitsOf(tpl, t);
    if (!units) return void lines.push(`T\t${t}\tnone\t000\t0\t`);
    if (i === 0 && drift.includes('service-stopped')) return void lines.push(`T\t${t}\t${probe ? 'probe' : 'gateway'}\t000\t7\t`);
    lines.push(healthLine(t, probe, now));
  });
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/**
 * A tenant's answer, made once per tenant and second for every node alike (the simulator's own JSON and base64 work
 * for each of 10 tenants of 2,000 nodes a pass would otherwise count as the pass's CPU time and garbage).
 */
const healthLines = new Map<string, string>();
function healthLine(t: string, probe: boolean, now: number): string {
  const key = `${t}\0${probe ? 'p' : 'g'}\0${now}`;
  const have = healthLines.get(key);
  if (have !== undefined) return have;
  const line = renderHealthLine(t, probe, now);
  if (healthLines.size >= 1024) healthLines.clear();
  healthLines.set(key, line);
  return line;
}

function renderHealthLine(t: string, probe: boolean, now: number): string {
  const at = new Date(now * 1000).toISOString();
  const body = probe
    ? { status: 'ok', tenant: t, generated_at: at, doctor: { state: 'green', checked_at: at, duration_ms: 4200, findings: [], ignored: 1, reasons: [], maintenance_window: null }, gateway: { state: 'ready', checked_at: at, http_status: 200, latency_ms: 3 }, disk: { state: 'ok', checked_at: at, free_pct: 61 }, queue: { state: 'ok', checked_at: at, bytes: 4096 }, digest: { state: 'fresh', age_sec: 12, slo_sec: 600, error: null }, digest_age_sec: 12, failures: [], reasons: [] }
    : { ready: true, failing: [] };
  return `T\t${t}\t${probe ? 'probe' : 'gateway'}\t200\t0\t${Buffer.from(`${JSON.stringify(body)}\n`).toString('base64')}`;
}

/** Which drift node i of n carries (a few nodes only: about one in ten has any). */
export function driftFor(i: number): SimDrift[] {
  const out: SimDrift[] = [];
  if (i % 25 === 7) out.push('hand-edited');
  if (i % 40 === 13) out.push('not-deployed');
  if (i % 30 === 21) out.push('service-stopped');
  if (i % 50 === 3) out.push('token-rotation');
  return out;
}

/**
 * The controller's connection pool over simulated nodes: `get` and `fresh` hand out SimTransports instead of
 * connecting (everything else, observe's retry and classification included, is the real pool's).
 */
export class SimPool extends ConnectionPool {
  private readonly sims = new Map<string, SimTransport>();
  connects = 0;
  constructor(private readonly make: (node: NodeSpec) => SimTransport) {
    super({});
  }
  override get(node: NodeSpec, _settings: Settings): Promise<Transport> {
    let t = this.sims.get(node.name);
    if (!t) {
      t = this.make(node);
      this.sims.set(node.name, t);
      this.connects++;
    }
    return Promise.resolve(t);
  }
  override fresh(node: NodeSpec, _settings: Settings): Promise<Transport> {
    return Promise.resolve(this.make(node));
  }
  override peek(name: string): Transport | undefined {
    return this.sims.get(name);
  }
  override async drop(name: string): Promise<void> {
    this.sims.delete(name);
  }
  /** commands answered by all simulated nodes so far: every one, observe (and the bytes it printed), health */
  totals(): { commands: number; observes: number; observeBytes: number; healthChecks: number } {
    const sum = { commands: 0, observes: 0, observeBytes: 0, healthChecks: 0 };
    for (const t of this.sims.values()) {
      sum.commands += t.stats.commands;
      sum.observes += t.observes;
      sum.observeBytes += t.observeBytes;
      sum.healthChecks += t.healthChecks;
    }
    return sum;
  }
}

/** The simulated bytes of a node with these tenants and drift (what SimTransport answers to observe). */
export function simStdout(tpl: ObserveTemplate, desired: Pick<DesiredState, 'tenants'>, tenants: readonly string[], drift: readonly SimDrift[] = [], now = Math.floor(Date.now() / 1000)): string {
  return renderObservation(simRecords(tpl, expectations(desired, tenants), drift, now));
}

/** A template as JSON (for a child process). */
export function templateToJson(tpl: ObserveTemplate): string {
  return JSON.stringify({ records: tpl.records, edits: [...tpl.edits], raw: tpl.raw, full: tpl.full });
}

/** A template read back; `rebase` maps the commit it was captured for to the commit a repo really has. */
export function templateFromJson(json: string, rebase?: { from: string; to: string }): ObserveTemplate {
  const text = rebase ? json.split(rebase.from).join(rebase.to) : json;
  const j = JSON.parse(text) as { records: ObserveRecord[]; edits: [string, { path: string; sha256: string; base64: string }][]; raw: string; full?: ObserveRecord[] };
  return { records: j.records, owners: j.records.map(tenantOf), edits: new Map(j.edits), raw: j.raw, ...(j.full ? { full: j.full } : {}) };
}
