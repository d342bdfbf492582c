/**
 * `clawops apply` of ONE changed fragment to a real test fleet, beside Ansible copying the same change (issue 4:
 * "applying one changed fragment to 20 nodes × 10 tenants sends bytes proportional to the change (print bytes sent)
 * and its time beside Ansible copying the same change").
 *
 * Run (root; ansible and openssh-server from apt; the OpenClaw cache from scripts/install-openclaw-cache.sh):
 *   npx tsx bench/apply-bench.ts [--runs 1] [--nodes 20] [--tenants 10] [--fragments 20] [--tenant-index 3]
 *     [--initial-concurrency 10] [--concurrency 10] [--place] [--alone 3] [--strict] [--acct FILE] [--perf FILE]
 *     [--ansible-budget auto|S|0] [--ansible-forks 10] [--no-ansible]
 *
 * Time: ~5 minutes on a 2-CPU machine, most of it the initial full apply (each distinct release is validated once
 * per run since issue 12: 10 `openclaw config validate` runs, ~1.2 CPU-s each, plus 200 gateway starts) and Ansible
 * (~1.5 min). --place skips the initial apply (releases written onto the nodes as diff-bench does, every gateway unit
 * bootstrapped): ~2.5 minutes.
 *
 * Setup as bench/diff-bench.ts: 20 sshd nodes (test/fleet) with the real OpenClaw CLI and a generated infra repo
 * (10 tenants × 20 fragments, lint clean) assigning every tenant to every node, each tenant's secrets seeded on
 * every node. Every tenant has its launchd gateway unit: the real secret wrapper (bin/gateway-run) exec'ing the
 * fleet's fake gateway (test/fleet/fake-gateway.mjs, ready in 0.2 s, ~40 MB; the real one needs ~1 GB and 30-50 s:
 * 200 of them do not fit a test machine). The nodes start empty and are brought
 * in sync by a real `clawops apply --yes` (its time and bytes are printed for scale; --place: written directly, as
 * diff-bench does, and the units bootstrapped), checked with `clawops diff`.
 *
 * Then, --runs times: change one fragment of one tenant (the last gateway.d layer's agents.defaults.timeoutSeconds,
 * so the rendered openclaw.json changes too), commit, and time `./bin/clawops apply --yes --json [--concurrency N]`
 * (a fresh process, as an operator runs it: start-up, observe, plan, then per node lock → gate → stage → validate
 * (the first node: the real `openclaw config validate` through the wrapper; the others verify, place and run the
 * wrapper's --check meanwhile, then wait for that verdict) → dead-man guard → swap → reload (the gateway hot-reloads or
 * restarts) → health gate → guard confirmed over a new connection, beside record → prune → unlock). Every run is checked: exit 0, every node staged and
 * swapped exactly that tenant, and `clawops diff` exits 0 afterwards. The report splits the time per step (medians
 * over nodes, from the progress events) and says how many `openclaw config validate` runs the apply made.
 *
 * Bytes, two ways: clawops' own count (per node `bytesSent` in --json: stdin of its remote commands + SFTP file data)
 * and bytes on the wire as each node's sshd counts them (the kernel's tcp_info of every connection to a node's sshd as it
 * closes, from `ss -E`: key exchange, auth, command lines, everything, encrypted). Ansible gets the same wire count.
 *
 * Ansible, as an Ansible user would push the same change: the `copy` module of the changed tenant's release tree
 * (src dir → /etc/openclaw/ansible-mirror/<tenant>/ on each node), forks 10, pipelining on, ControlPersist, the
 * host's /usr/bin/python3 (visible inside the nodes). ONLY the changed tenant's tree (~24 files) is copied, not all
 * ten tenants' (~240 files a node): Ansible's copy costs a module run per file (tens of seconds a node for the whole
 * tree), which would not fit the time this script gets. The mirror is first filled with the unchanged tree (a host-side
 * copy, the state an earlier Ansible run leaves), then the play is timed with the changed tree as src. It runs under
 * a wall-clock budget: if stopped, its time is reported as a lower bound ("> N s").
 *
 * Then, --alone times (default 3, 0 = none): the same change applied to ONE node (`--node gw-01`) while the others stay
 * idle: the path each Mac of a real fleet goes through with its own CPUs (observe, lock, stage, the one validation, swap,
 * hot reload, record), where the 20 test nodes above share this machine's CPUs. Each is checked like a round (exit 0,
 * that node staged and swapped exactly that tenant, `clawops diff --node gw-01` in sync).
 *
 * Target (issue 12): the median apply of the change to all nodes ≤ 3 s; printed PASS or MISS with the CPU floor that
 * explains a miss. Exit: 0 when everything ran and checked out (also when the target is missed, unless --strict: then
 * 1), 2 when anything is wrong.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DesiredState } from '../reconciler/desired/types.js';
import type { NodeApplyResult } from '../reconciler/apply/apply-node.js';
import { MANIFEST_PATH } from '../reconciler/release-manifest.js';
import { chownToNodeUser, defaultOpenclawVersion, ensureOpenclawCache, fleetAvailable, startFleet, type Fleet, type FleetNodeHandle } from '../test/fleet/fleet.js';
import { commitEdits, placeAll, portOffsetOf } from '../test/helpers/fleet-repo.js';
import { seedSecrets } from '../test/helpers/secrets.js';
import { closeMasters, runPlaybook, writeAnsibleSetup, writeCopyPlaybook, type AnsibleResult } from './lib/ansible.js';
import { checkedDesired, generateRepo, stageReleases, tenantIdsFor } from './lib/infra-repo.js';
import { childCpuMs, fleetCpuMs } from './lib/controller-fleet.js';
import { ensureDist } from './lib/dist.js';
import { argValue, fmt, median, pool, run, runBenchMain, type RunResult } from './lib/proc.js';
import { sshCommand, WireBytes, type WireCount } from './lib/ssh.js';

const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');
const CLAWOPS = join(REPO_ROOT, 'bin', 'clawops');

const RUNS = Math.max(1, argValue('runs', 1));
const NODES = argValue('nodes', 20);
const TENANTS = argValue('tenants', 10);
const FRAGMENTS = argValue('fragments', 20);
const TENANT_INDEX = argValue('tenant-index', 3);
/** -1 = auto (120 s: ~1.3× what the play took here, 89 s); 0 = no limit. */
const ANSIBLE_BUDGET_S = argValue('ansible-budget', -1);
const ANSIBLE_AUTO_BUDGET_S = 120;
const ANSIBLE_FORKS = argValue('ansible-forks', 10);
/**
 * Nodes the initial full apply works on at once (clawops' default, 10). Each node validates its ten releases at most
 * one per CPU (~1.2 CPU-s each); the 20 test nodes share this machine's CPUs, so the initial apply takes minutes here
 * where each Mac would spend ~12 s on its own.
 */
const INITIAL_CONCURRENCY = argValue('initial-concurrency', 10);
/** Nodes the timed apply of the change works on at once (`clawops apply --concurrency`; clawops' default is 10). */
const APPLY_CONCURRENCY = Math.max(1, argValue('concurrency', 10));
/** Bring the fleet in sync the way diff-bench does (releases written onto the nodes), not with a real full apply. */
const PLACE = process.argv.includes('--place');
/** Applies of the change to one node alone, the others idle (0: none). */
const ALONE = Math.max(0, argValue('alone', 3));
/** exit 1 when the target is missed (default: report only; exit 2 on errors) */
const STRICT = process.argv.includes('--strict');
/** issue 12: one changed fragment applied to 20 nodes in at most this many seconds (median) */
const TARGET_S = 3;
const PERF = process.argv.includes('--perf') ? resolve(process.argv[process.argv.indexOf('--perf') + 1] ?? 'apply.perf') : undefined;
const ACCT = process.argv.includes('--acct') ? resolve(process.argv[process.argv.indexOf('--acct') + 1] ?? 'apply.acct') : undefined;
const WITH_ANSIBLE = !process.argv.includes('--no-ansible');

const log = (s: string): void => void process.stderr.write(`[apply-bench] ${s}\n`);
const kb = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : n >= 1e4 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`);
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

// ---------------------------------------------------------------------------------------------
// clawops, as an operator runs it

interface ApplyJson {
  ok: boolean;
  run?: string;
  halted?: string;
  results: NodeApplyResult[];
}

interface ProgressEvent {
  t: number;
  node: string;
  step: string;
  state: string;
  msg: string;
}

interface ClawopsRun {
  r: RunResult;
  t0: number;
  /** CPU ms the run cost: every process of the fleet's nodes (sessions, launchd jobs and gateways included), and clawops' own process */
  cpu: { nodesMs: number; clawopsMs: number };
  json?: ApplyJson;
  events: ProgressEvent[];
  wire: WireCount;
}

const BENCH_CACHE = mkdtempSync(join(tmpdir(), 'clawops-apply-bench-cache-'));

async function clawops(args: string[], bytes: WireBytes, fleetRoots: () => number[] = () => []): Promise<ClawopsRun> {
  const mark = bytes.mark();
  const n0 = fleetCpuMs(fleetRoots());
  const c0 = childCpuMs();
  const t0 = Date.now();
  // CLAWOPS_TIMING: where the time before the first lock went (start-up, desired state, logins, observe, plan)
  // (its own verdict store: a release an earlier bench run found valid is never taken as validated here)
  const r = await run(CLAWOPS, args, { env: { ...process.env, CLAWOPS_PROGRESS: 'json', CLAWOPS_TIMING: '1', XDG_CACHE_HOME: BENCH_CACHE } });
  const cpu = { nodesMs: fleetCpuMs(fleetRoots()) - n0, clawopsMs: childCpuMs() - c0 };
  const wire = await bytes.since(mark);
  const events: ProgressEvent[] = [];
  for (const line of r.stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const e = JSON.parse(line) as { time?: string; node?: string; step?: string; state?: string; msg?: string };
      if (e.node && e.step && e.time) events.push({ t: Date.parse(e.time), node: e.node, step: e.step, state: e.state ?? '', msg: e.msg ?? '' });
    } catch {
      // not an event
    }
  }
  let json: ApplyJson | undefined;
  if (r.stdout.trim().startsWith('{')) json = JSON.parse(r.stdout) as ApplyJson;
  return { r, t0, cpu, events, wire, ...(json ? { json } : {}) };
}

function applyArgs(repo: string, fleet: Fleet, extra: string[] = []): string[] {
  return ['apply', '--repo', repo, '--identity', fleet.clientKeyPath, '--yes', '--json', ...extra];
}

/** Empty nodes → every tenant everywhere, checked. */
async function initialApply(repo: string, fl: Fleet, bytes: WireBytes): Promise<ClawopsRun> {
  const f = await clawops(applyArgs(repo, fl, ['--concurrency', String(INITIAL_CONCURRENCY)]), bytes);
  if (f.r.code !== 0 || !f.json?.ok) {
    // the nodes that did not apply, each with its message, before the raw output (20 nodes' JSON hides them)
    const notApplied = (f.json?.results ?? []).filter((x) => x.outcome !== 'applied').map((x) => `${x.node} ${x.outcome} ${x.message ?? ''}`);
    throw new Error(`initial apply exited ${f.r.code}: ${notApplied.join('; ') || 'no node failed'}\n${f.r.stderr.slice(0, 2000)}\n${f.r.stdout.slice(0, 1000)}`);
  }
  const bad = f.json.results.filter((x) => x.swapped.length !== TENANTS);
  if (f.json.results.length !== NODES || bad.length) {
    throw new Error(`initial apply did not swap ${TENANTS} tenants on ${NODES} nodes: ${bad.map((x) => `${x.node} ${x.outcome} ${x.message ?? ''}`).join('; ')}`);
  }
  return f;
}

/**
 * --place: start every placed tenant's gateway unit as apply would (its plist from the release into
 * /Library/LaunchDaemons, `launchctl bootstrap`), the fleet's fake gateway behind the real wrapper (fleetRepo's unit
 * template), and wait until every gateway has written its run record (what observe compares with launchd's pid).
 */
async function startPlacedServices(fl: Fleet, tenants: readonly string[]): Promise<void> {
  // the node's port block (BEGIN writes it on a real apply) first: the nodes share this machine's network
  const script = (n: FleetNodeHandle): string =>
    `mkdir -p /var/db/openclaw/clawops && echo ${portOffsetOf(n)} > /var/db/openclaw/clawops/port-offset && ` +
    `for t in ${tenants.join(' ')}; do l=ai.openclaw.$t; mkdir -p /var/db/openclaw/logs/$t && cp /etc/openclaw/tenants/$t/launchd/$l.plist /Library/LaunchDaemons/$l.plist && launchctl bootstrap system /Library/LaunchDaemons/$l.plist || exit 1; done`;
  const rs = await pool(5, fl.nodes.map((n) => () => n.exec(script(n))));
  const bad = rs.findIndex((r) => r.code !== 0);
  if (bad >= 0) throw new Error(`bootstrapping the gateway units on ${fl.nodes[bad]!.name} failed: ${rs[bad]!.stderr.trim()}`);
  const until = Date.now() + 180_000;
  for (const n of fl.nodes) {
    for (;;) {
      const r = await n.exec(`n=0; for t in ${tenants.join(' ')}; do [ -s /var/db/openclaw/clawops/run/$t.json ] && n=$((n+1)); done; echo $n`);
      if (Number(r.stdout.trim()) === tenants.length) break;
      if (Date.now() > until) throw new Error(`${n.name}: only ${r.stdout.trim()} of ${tenants.length} gateways started within 180 s`);
      await new Promise((ok) => setTimeout(ok, 500));
    }
  }
}

async function checkInSync(repo: string, fleet: Fleet, bytes: WireBytes, what: string, only?: string): Promise<ClawopsRun> {
  const d = await clawops(['diff', '--repo', repo, '--identity', fleet.clientKeyPath, ...(only ? ['--node', only] : [])], bytes);
  const n = only ? 1 : NODES;
  if (d.r.code !== 0 || !d.r.stdout.includes(`In sync: ${n} node(s)`)) {
    throw new Error(`clawops diff ${what} exited ${d.r.code} (expected 0, ${n} node(s) in sync):\n${(d.r.stdout + d.r.stderr).slice(0, 3000)}`);
  }
  return d;
}

/**
 * Where the time of one apply went, from its progress events (pino, ms resolution):
 * before the first node's lock (start-up, repo, connect, observe, plan), the node phase, and per node the medians of
 * lock+gate (BEGIN command), stage (SFTP), validate (verify hashes + `openclaw config validate`), swap, record+prune.
 */
function attribution(c: ClawopsRun): { beforeNodes: number; nodePhase: number; afterNodes: number; perNode: { median: number; max: number }; steps: [string, number][]; timeline: string; reloads: string; validation: string } {
  const ev = c.events;
  const first = Math.min(...ev.filter((e) => e.step === 'lock' && e.state === 'start').map((e) => e.t));
  const last = Math.max(...ev.map((e) => e.t));
  // per node, the first and the last time of each step:state
  const per = new Map<string, { first: Record<string, number>; last: Record<string, number> }>();
  for (const e of ev) {
    const m = per.get(e.node) ?? { first: {}, last: {} };
    const key = `${e.step}:${e.state}`;
    m.first[key] ??= e.t;
    m.last[key] = Math.max(m.last[key] ?? 0, e.t);
    per.set(e.node, m);
  }
  const names = [
    'lock + gate (BEGIN, one remote command)',
    'stage (SFTP writes)',
    'validate (wait for the run\'s verdict + PROMOTE: verify, openclaw config validate or --check)',
    'dead-man guard start',
    'swap (intent + links)',
    'reload (launchd / hot reload)',
    'health gate',
    'guard confirm (new connection) ∥ record + prune + unlock (FINISH, the run\'s own connection)',
    'after both',
  ] as const;
  const spans = new Map<string, number[]>(names.map((n) => [n, []]));
  const whole: number[] = [];
  for (const { first: f, last: l } of per.values()) {
    const marks = [f['lock:start'], f['gate:done'], f['validate:start'], f['validate:done'], f['swap:start'] ?? f['validate:done'], f['swap:done'], l['reload:done'], f['health:done'], l['health:done'], f['record:done']];
    if (marks.some((x) => x === undefined)) continue;
    names.forEach((n, i) => spans.get(n)!.push(marks[i + 1]! - marks[i]!));
    whole.push(f['record:done']! - f['lock:start']!);
  }
  const end = c.t0 + c.r.seconds * 1000;
  // when each node ran (from the first lock): the canary phase, the waves, and which node the run waited for
  const spansOf = [...per].flatMap(([node, { first: f }]) => (f['lock:start'] !== undefined && f['record:done'] !== undefined ? [{ node, a: f['lock:start'] - first, b: f['record:done'] - first }] : [])).sort((x, y) => x.a - y.a);
  const timeline = spansOf.map((x) => `${x.node} ${fmt(x.a / 1000)}-${fmt(x.b / 1000)}`).join(', ');
  // how each tenant's service took the change: the hot path (verified over the gateway RPC) or a restart, and why not hot
  const done = ev.filter((e) => e.step === 'reload' && e.state === 'done');
  const notHot = ev.filter((e) => e.step === 'reload' && e.state === 'warn').map((e) => e.msg.replace(/^[^:]*: /, ''));
  const why = [...new Set(notHot)].slice(0, 2).join(' | ');
  const reloads = `${done.filter((e) => / hot \(/.test(e.msg)).length} hot, ${done.filter((e) => !/ hot \(/.test(e.msg)).length} restart/bootstrap${notHot.length ? `; not hot: ${why}` : ''}`;
  // the run's one validation (the node whose PROMOTE ran openclaw) is what every other node waits for before its swap
  const by = c.json?.results.filter((x) => x.validated?.length).map((x) => x.node) ?? [];
  const vf = by.map((n) => ({ n, f: per.get(n)?.first ?? {} }));
  const firstSwap = Math.min(...ev.filter((e) => e.step === 'swap').map((e) => e.t));
  const validation = vf.length
    ? `${vf.map(({ n, f }) => `on ${n} ${fmt(((f['validate:start'] ?? first) - first) / 1000)}-${fmt(((f['validate:done'] ?? first) - first) / 1000)} s`).join(', ')} after the first lock; the first swap at ${fmt((firstSwap - first) / 1000)} s, the last node's lock at ${fmt(Math.max(...spansOf.map((x) => x.a)) / 1000)} s`
    : 'none this run';
  return {
    timeline,
    reloads,
    validation,
    beforeNodes: (first - c.t0) / 1000,
    nodePhase: (last - first) / 1000,
    afterNodes: (end - last) / 1000,
    perNode: { median: whole.length ? median(whole) / 1000 : NaN, max: whole.length ? Math.max(...whole) / 1000 : NaN },
    steps: [...spans].map(([k, v]) => [k, v.length ? median(v) / 1000 : NaN]),
  };
}

// ---------------------------------------------------------------------------------------------
// The change

/** The last gateway.d fragment of `tenant` that sets agents.defaults.timeoutSeconds (later layers win). */
function changeTarget(repo: string, tenant: string): string {
  const dir = join(repo, 'tenants', tenant, 'gateway.d');
  const candidates = readdirSync(dir)
    .filter((f) => /timeoutSeconds: \d+/.test(readFileSync(join(dir, f), 'utf8')))
    .sort();
  const last = candidates.at(-1);
  if (!last) throw new Error(`${tenant}: no gateway.d fragment sets timeoutSeconds (use --fragments ≥ 13)`);
  return `tenants/${tenant}/gateway.d/${last}`;
}

function bumpTimeout(repo: string, path: string, round: number): string {
  const text = readFileSync(join(repo, path), 'utf8');
  const next = text.replace(/timeoutSeconds: (\d+)/, (_, n: string) => `timeoutSeconds: ${Number(n) + 60}`);
  commitEdits(repo, { [path]: next }, `bench: ${path} timeoutSeconds (round ${round})`);
  return next;
}

interface ChangeFacts {
  tenant: string;
  fromId: string;
  toId: string;
  /** release files (not the manifest) whose bytes differ, with their new sizes */
  changed: { path: string; bytes: number }[];
  treeFiles: number;
  treeBytes: number;
}

function changeFacts(before: DesiredState, after: DesiredState, tenant: string): ChangeFacts {
  const b = before.tenants.get(tenant)!;
  const a = after.tenants.get(tenant)!;
  const old = new Map(b.files.map((f) => [f.path, f.sha256]));
  const changed = a.files.filter((f) => old.get(f.path) !== f.sha256).map((f) => ({ path: f.path, bytes: f.content.length }));
  if (b.files.length !== a.files.length) throw new Error(`${tenant}: the change added or removed files`);
  return { tenant, fromId: b.releaseId, toId: a.releaseId, changed, treeFiles: a.files.length + 1, treeBytes: sum(a.files.map((f) => f.content.length)) };
}

// ---------------------------------------------------------------------------------------------
// Ansible

/** Every file under `dir`, relative, with its bytes. */
function listTree(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Main

async function bench(): Promise<number> {
  const avail = fleetAvailable();
  if (!avail.ok) throw new Error(`test fleet unavailable: ${avail.reason}`);
  for (const tool of ['ssh', ...(WITH_ANSIBLE ? ['ansible-playbook'] : [])]) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) {
      throw new Error(`${tool} not found (apt-get install -y ${tool === 'ssh' ? 'openssh-client' : 'ansible'})`);
    }
  }
  const tStart = performance.now();
  const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

  // bin/clawops runs the compiled dist/ while it is newer than every source file (as `make bench` leaves it)
  const mode = ensureDist(REPO_ROOT, log);

  await ensureOpenclawCache(defaultOpenclawVersion());
  const names = Array.from({ length: NODES }, (_, i) => `gw-${String(i + 1).padStart(2, '0')}`);
  const tenantIds = tenantIdsFor(TENANTS);
  const tenant = tenantIds[Math.min(TENANT_INDEX, TENANTS - 1)]!;
  log(`starting ${NODES} fleet nodes with the real OpenClaw CLI (${cpus().length} CPUs, load average ${load0}) …`);
  const fl = await startFleet({ names, openclaw: true });
  fleet = fl;
  const bytes = new WireBytes(fl);
  wire = bytes;
  await bytes.ready();
  const work = mkdtempSync(join(tmpdir(), 'clawops-apply-bench-'));
  cleanupDirs.push(work);

  const repo = generateRepo(fl, tenantIds, FRAGMENTS);
  cleanupDirs.push(repo);
  let desired = checkedDesired(repo, TENANTS, FRAGMENTS);
  // secrets are provisioned out of band, never from git: without them every tenant is Blocked (SecretMissing)
  const secretNames = [...new Set([...desired.tenants.values()].flatMap((t) => t.secretRefs))].sort();
  await pool(10, fl.nodes.map((n) => () => seedSecrets(n, tenantIds, secretNames)));
  log(`repo: ${TENANTS} tenants × ${FRAGMENTS} fragments; secrets ${secretNames.join(', ')} on every node; setup ${fmt((performance.now() - tStart) / 1000)} s; clawops runs ${mode}`);

  // ---- the wire cost of a bare ssh login (kex + auth + `true`), for scale
  const floorMark = bytes.mark();
  const floorT0 = performance.now();
  const floorRs = await pool(10, fl.nodes.map((n) => () => run('sh', ['-c', `${sshCommand(fl, n)} ${n.user}@${n.host} true`])));
  const floorS = (performance.now() - floorT0) / 1000;
  if (floorRs.some((r) => r.code !== 0)) throw new Error(`ssh true failed: ${floorRs.find((r) => r.code !== 0)?.stderr.trim()}`);
  const floor = await bytes.since(floorMark);

  // ---- initial full apply: empty nodes → every tenant everywhere
  let full: ClawopsRun | undefined;
  if (PLACE) {
    placeAll(fl, desired);
    await startPlacedServices(fl, tenantIds);
    log(`fleet in sync by placeAll (--place: no initial apply) and ${NODES * TENANTS} gateway units bootstrapped`);
  } else {
    log(`initial full apply (${NODES} nodes × ${TENANTS} tenants, real openclaw config validate of each, --concurrency ${INITIAL_CONCURRENCY}) …`);
    full = await initialApply(repo, fl, bytes);
  }
  const fullPayload = full ? sum(full.json!.results.map((x) => x.bytesSent)) : 0;
  if (full) log(`initial apply: ${fmt(full.r.seconds)} s, payload ${kb(fullPayload)}, wire ${kb(full.wire.sent)} (${full.wire.connections} connections)`);
  const syncDiff = await checkInSync(repo, fl, bytes, 'after the initial apply');
  log(`clawops diff: in sync (${fmt(syncDiff.r.seconds)} s, wire ${kb(syncDiff.wire.sent)})`);

  // ---- one changed fragment, --runs times
  const target = changeTarget(repo, tenant);
  interface Round {
    c: ClawopsRun;
    facts: ChangeFacts;
    fragmentBytes: number;
    manifestBytes: number;
    payload: number[];
    reused: number[];
    diff: ClawopsRun;
  }
  const rounds: Round[] = [];
  let beforeLast = desired;
  for (let round = 1; round <= RUNS; round++) {
    const before = desired;
    const text = bumpTimeout(repo, target, round);
    desired = checkedDesired(repo, TENANTS, FRAGMENTS);
    const facts = changeFacts(before, desired, tenant);
    // --acct FILE: BSD process accounting (acct package: accton, then `sa -f FILE` / `lastcomm -f FILE`) of the last
    // round's apply alone, to count the programs it starts
    if (ACCT && round === RUNS) spawnSync('sh', ['-c', ': > "$1" && accton "$1"', 'acct', ACCT], { stdio: 'inherit' });
    // --perf FILE: system-wide CPU samples of the last round's apply (`perf report -i FILE --sort comm`): where the
    // machine's CPU went, nodes and clawops alike
    const perf = PERF && round === RUNS ? spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '999', '-a', '-g', '-o', PERF], { stdio: 'ignore' }) : undefined;
    if (perf) await new Promise((r) => setTimeout(r, 500));
    const c = await clawops(applyArgs(repo, fl, ['--concurrency', String(APPLY_CONCURRENCY)]), bytes, () => fl.nodes.flatMap((n) => n.sshdPid() ?? []));
    if (ACCT && round === RUNS) spawnSync('accton', ['off'], { stdio: 'inherit' });
    if (perf) {
      perf.kill('SIGINT');
      await new Promise((r) => perf.once('exit', r));
    }
    if (c.r.code !== 0 || !c.json?.ok) throw new Error(`apply (round ${round}) exited ${c.r.code}:\n${(c.r.stdout + c.r.stderr).slice(0, 3000)}`);
    const res = c.json.results;
    const wrong = res.filter((x) => x.outcome !== 'applied' || x.staged.join() !== tenant || x.swapped.length !== 1 || x.swapped[0]!.to !== facts.toId);
    if (res.length !== NODES || wrong.length) throw new Error(`round ${round}: expected every node to stage and swap only ${tenant} → ${facts.toId}: ${wrong.map((x) => `${x.node} ${x.outcome} staged=${x.staged.join(',')} ${x.message ?? ''}`).join('; ')}`);
    const manifestBytes = statSync(join(fl.nodes[0]!.etcOpenclaw, 'releases', tenant, facts.toId, MANIFEST_PATH)).size;
    const diff = await checkInSync(repo, fl, bytes, `after round ${round}`);
    rounds.push({ c, facts, fragmentBytes: Buffer.byteLength(text), manifestBytes, payload: res.map((x) => x.bytesSent), reused: res.map((x) => x.reusedFiles), diff });
    log(
      `round ${round}: clawops apply ${fmt(c.r.seconds)} s, payload ${kb(sum(res.map((x) => x.bytesSent)))} (${kb(median(res.map((x) => x.bytesSent)))} a node), wire ${kb(c.wire.sent)}; ` +
        `${facts.changed.length} changed file(s) sent + manifest, ${median(res.map((x) => x.reusedFiles))} copied on the node; CPU: nodes ${fmt(c.cpu.nodesMs / 1000)} s, clawops ${fmt(c.cpu.clawopsMs / 1000)} s; diff in sync (${fmt(diff.r.seconds)} s)`,
    );
    beforeLast = before;
  }
  const last = rounds.at(-1)!;
  const clawopsS = median(rounds.map((r) => r.c.r.seconds));
  const clawopsWire = median(rounds.map((r) => r.c.wire.sent));
  const clawopsPayload = median(rounds.map((r) => sum(r.payload)));

  // ---- one `openclaw config validate` alone on an otherwise idle node (what the validate step runs per tenant)
  const validateS: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const v = await fl.nodes[0]!.exec(`OPENCLAW_CONFIG_PATH=/etc/openclaw/tenants/${tenant}/openclaw.json openclaw --profile ${tenant} config validate --json`);
    validateS.push((performance.now() - t0) / 1000);
    if (v.code !== 0 || !v.stdout.includes('"valid":true')) throw new Error(`openclaw config validate on ${fl.nodes[0]!.name}: exit ${v.code}: ${v.stdout}${v.stderr}`);
  }

  // ---- Ansible: copy the changed tenant's tree, mirror pre-filled with the tree before the last change
  let ansible: (AnsibleResult & { wire: number; connections: number; written: number; total: number; budget: number; verified: boolean }) | undefined;
  if (WITH_ANSIBLE) {
    const oldTree = join(stageReleases(beforeLast, [tenant], join(work, 'old')), tenant, beforeLast.tenants.get(tenant)!.releaseId);
    const newTree = join(stageReleases(desired, [tenant], join(work, 'new')), tenant, desired.tenants.get(tenant)!.releaseId);
    // the manifest apply wrote (commit, actor, time) is what the node has; Ansible's src carries the same file
    cpSync(join(fl.nodes[0]!.etcOpenclaw, 'releases', tenant, desired.tenants.get(tenant)!.releaseId, MANIFEST_PATH), join(newTree, MANIFEST_PATH));
    const src = join(work, 'ansible-src', tenant);
    cpSync(oldTree, src, { recursive: true });
    const dest = `/etc/openclaw/ansible-mirror/${tenant}`;
    for (const n of fl.nodes) {
      const d = join(n.etcOpenclaw, 'ansible-mirror', tenant);
      cpSync(oldTree, d, { recursive: true, preserveTimestamps: true });
      chownToNodeUser(join(n.etcOpenclaw, 'ansible-mirror'));
    }
    // the operator's working tree now holds the change
    rmSync(src, { recursive: true, force: true });
    cpSync(newTree, src, { recursive: true });
    const want = listTree(src);
    const old = listTree(oldTree);
    const differing = [...want].filter(([p, b]) => !old.get(p)?.equals(b)).map(([p]) => p);
    const mtimes = new Map(fl.nodes.map((n) => [n.name, new Map([...want.keys()].map((p) => [p, statSync(join(n.etcOpenclaw, 'ansible-mirror', tenant, p)).mtimeMs]))]));

    const budget = ANSIBLE_BUDGET_S >= 0 ? ANSIBLE_BUDGET_S : ANSIBLE_AUTO_BUDGET_S;
    log(`ansible-playbook copy of ${tenant}'s tree (${want.size} files, ${differing.length} changed: ${differing.join(', ')}) to ${NODES} nodes, forks ${ANSIBLE_FORKS}, budget ${budget > 0 ? `${budget} s` : 'none'} …`);
    const setup = writeAnsibleSetup(fl, join(work, 'ansible'), ANSIBLE_FORKS);
    const playbook = writeCopyPlaybook(setup.dir, 'push.yml', `${tenant} config is what the repo says`, `${src}/`, `${dest}/`);
    const mark = bytes.mark();
    const a = await runPlaybook(setup, playbook, { forks: ANSIBLE_FORKS, budgetS: budget });
    await closeMasters(setup);
    const wire = await bytes.since(mark, 10_000);
    // what it wrote: files whose mtime moved; and, if it finished, every node's mirror equals the new tree
    let written = 0;
    let verified = a.finished;
    for (const n of fl.nodes) {
      const got = listTree(join(n.etcOpenclaw, 'ansible-mirror', tenant));
      for (const [p, b] of want) {
        if (statSync(join(n.etcOpenclaw, 'ansible-mirror', tenant, p)).mtimeMs !== mtimes.get(n.name)!.get(p)) written++;
        if (a.finished && !got.get(p)?.equals(b)) verified = false;
      }
    }
    if (a.finished) {
      const bad = [...a.recap].filter(([, v]) => v.changed !== 1 || v.failed || v.unreachable);
      if (a.code !== 0 || a.recap.size !== NODES || bad.length || !verified) {
        throw new Error(`ansible did not report ${NODES} changed hosts with the new tree in place (exit ${a.code}, verified ${verified}):\n${a.tail}`);
      }
      log(`ansible: ${fmt(a.seconds)} s, ${NODES} hosts changed=1, ${written} files written, wire ${kb(wire.sent)} (${wire.connections} connections)`);
    } else {
      log(`ansible: stopped at the ${budget} s budget; ${a.hostsDone} of ${NODES} hosts had finished, ${written} files written so far, wire ${kb(wire.sent)}`);
    }
    ansible = { ...a, wire: wire.sent, connections: wire.connections, written, total: want.size, budget, verified };
  }

  // ---- the same change applied to ONE node while the others stay idle: the path each Mac of a real fleet goes through
  // with its own CPUs (the rounds above share this machine's CPUs among all the test nodes)
  const aloneNode = fl.nodes[0]!;
  const alone: { c: ClawopsRun; at: ReturnType<typeof attribution> }[] = [];
  for (let i = 1; i <= ALONE; i++) {
    const before = desired;
    bumpTimeout(repo, target, RUNS + i);
    desired = checkedDesired(repo, TENANTS, FRAGMENTS);
    const facts = changeFacts(before, desired, tenant);
    const c = await clawops(applyArgs(repo, fl, ['--concurrency', String(APPLY_CONCURRENCY), '--node', aloneNode.name]), bytes, () => [aloneNode.sshdPid()].flatMap((p) => p ?? []));
    if (c.r.code !== 0 || !c.json?.ok) throw new Error(`apply --node ${aloneNode.name} (alone ${i}) exited ${c.r.code}:\n${(c.r.stdout + c.r.stderr).slice(0, 3000)}`);
    const res = c.json.results;
    const x = res[0];
    if (res.length !== 1 || x?.node !== aloneNode.name || x.outcome !== 'applied' || x.staged.join() !== tenant || x.swapped.length !== 1 || x.swapped[0]!.to !== facts.toId) {
      throw new Error(`alone ${i}: expected ${aloneNode.name} alone to stage and swap only ${tenant} → ${facts.toId}: ${res.map((r) => `${r.node} ${r.outcome} staged=${r.staged.join(',')} ${r.message ?? ''}`).join('; ')}`);
    }
    await checkInSync(repo, fl, bytes, `after alone ${i}`, aloneNode.name);
    alone.push({ c, at: attribution(c) });
    log(`one node alone ${i}: clawops apply --node ${aloneNode.name} ${fmt(c.r.seconds)} s; CPU: the node ${fmt(c.cpu.nodesMs / 1000)} s, clawops ${fmt(c.cpu.clawopsMs / 1000)} s`);
  }

  // ---- report
  const f = last.facts;
  const changedBytes = sum(f.changed.map((x) => x.bytes));
  const rendered = f.changed.filter((x) => x.path !== target.replace(`tenants/${tenant}/`, ''));
  const at = attribution(last.c);
  const out: string[] = [''];
  out.push(`apply of one changed fragment: ${NODES} nodes × ${TENANTS} tenants × ${FRAGMENTS} fragments; clawops median of ${RUNS} run(s) (${mode}); ${cpus().length} CPUs, load average at start ${load0}`);
  out.push(`change: ${target} (agents.defaults.timeoutSeconds +60), ${last.fragmentBytes} B; release ${f.fromId} → ${f.toId}`);
  out.push(
    `  files that differ in ${tenant}'s release (${f.treeFiles} files, ${kb(f.treeBytes)} + manifest): ${f.changed.map((x) => `${x.path} ${x.bytes} B`).join(', ')}` +
      ` (rendered: ${rendered.map((x) => x.path).join(', ') || 'none'}), + .clawops/manifest.json ${last.manifestBytes} B`,
  );
  if (full) out.push(`  the whole fleet's tree: ${NODES} × ${TENANTS} releases; the initial full apply sent it in ${fmt(full.r.seconds)} s (payload ${kb(fullPayload)}, wire ${kb(full.wire.sent)})`);
  out.push('');
  const rows: string[][] = [['tool', 'seconds', 'time ratio', 'wire bytes (all nodes)', 'wire bytes / node', 'payload / node']];
  rows.push([`clawops apply --yes (./bin/clawops, concurrency ${APPLY_CONCURRENCY})`, fmt(clawopsS), '1.00', kb(clawopsWire), kb(Math.round(clawopsWire / NODES)), kb(Math.round(clawopsPayload / NODES))]);
  if (ansible) {
    const lb = ansible.finished ? '' : '> ';
    rows.push([
      `ansible copy of ${tenant}'s tree only (${ansible.total} files; forks ${ANSIBLE_FORKS})`,
      `${lb}${fmt(ansible.seconds)}`,
      `${lb}${(ansible.seconds / clawopsS).toFixed(1)}`,
      `${lb}${kb(ansible.wire)}`,
      `${lb}${kb(Math.round(ansible.wire / NODES))}`,
      'n/a',
    ]);
  } else rows.push(['ansible copy', 'not run', '', '', '', '']);
  rows.push(['for scale (not a contender):', '', '', '', '', '']);
  if (full) rows.push([`  clawops apply, initial full (${TENANTS} tenants a node, --concurrency ${INITIAL_CONCURRENCY})`, fmt(full.r.seconds), (full.r.seconds / clawopsS).toFixed(2), kb(full.wire.sent), kb(Math.round(full.wire.sent / NODES)), kb(Math.round(fullPayload / NODES))]);
  rows.push(['  clawops diff, in sync (observe only)', fmt(last.diff.r.seconds), (last.diff.r.seconds / clawopsS).toFixed(2), kb(last.diff.wire.sent), kb(Math.round(last.diff.wire.sent / NODES)), '']);
  rows.push(['  ssh … true to every node (10 parallel)', fmt(floorS), (floorS / clawopsS).toFixed(2), kb(floor.sent), kb(Math.round(floor.sent / NODES)), '']);
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) out.push(r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
  out.push('');
  const pn = median(last.payload);
  out.push(`clawops payload (its own count: stdin of its remote commands + SFTP file data): ${kb(clawopsPayload)} in all, ${kb(pn)} a node${full ? ` (initial full apply: ${kb(Math.round(fullPayload / NODES))} a node)` : ''}`);
  out.push(
    `  a node: ${f.changed.length + 1} files sent (${kb(changedBytes + last.manifestBytes)}: ${f.changed.length} changed + manifest), ${median(last.reused)} files copied on the node from the current release; ` +
      `the other ${kb(pn - changedBytes - last.manifestBytes)} is command input (${tenant}'s file list with hashes, sent once, to BEGIN, which keeps it for PROMOTE, and the reload-log line)`,
  );
  out.push(`  wire bytes a node = ${kb(Math.round(clawopsWire / NODES))}: ssh login ~${kb(Math.round(floor.sent / NODES))}, observe (as diff) ~${kb(Math.round((last.diff.wire.sent - floor.sent) / NODES))} more, the apply steps' scripts + payload the rest`);
  out.push(`  all runs (s): ${rounds.map((r) => fmt(r.c.r.seconds)).join(' / ')}; payload a node: ${rounds.map((r) => kb(median(r.payload))).join(' / ')}`);
  out.push(`where clawops' ${fmt(last.c.r.seconds)} s went (last run, from its progress events):`);
  out.push(`  ${fmt(at.beforeNodes)} s before the first node lock (node start-up, repo, ssh connect, observe, plan); ${fmt(at.nodePhase)} s node steps; ${fmt(at.afterNodes)} s after (close, exit)`);
  for (const l of last.c.r.stderr.split('\n').filter((x) => x.startsWith('timing:'))) out.push(`    ${l.replace(/^timing: /, '')}`);
  out.push(`  a node from its lock to its unlock: median ${fmt(at.perNode.median)} s, slowest ${fmt(at.perNode.max)} s (--concurrency ${APPLY_CONCURRENCY}; a node waiting for the run's verdict gives its place to the next)`);
  out.push(`  the run's validation (every other node waits for its verdict before its swap): ${at.validation}`);
  out.push(`  per node (median): ${at.steps.map(([k, v]) => `${k} ${fmt(v)} s`).join(', ')}`);
  out.push(`  reloads: ${at.reloads}`);
  const nodesCpu = median(rounds.map((r) => r.c.cpu.nodesMs)) / 1000;
  const clientCpu = median(rounds.map((r) => r.c.cpu.clawopsMs)) / 1000;
  out.push(
    `  CPU an apply (median of the runs): the nodes ${fmt(nodesCpu)} s (${Math.round((nodesCpu * 1000) / NODES)} ms a node: its ssh logins, remote commands, the one validation, gateway reloads), clawops ${fmt(clientCpu)} s; ` +
      `on ${cpus().length} CPUs the apply cannot take less than (nodes + clawops) / CPUs = ${fmt((nodesCpu + clientCpu) / cpus().length)} s here`,
  );
  const cpuFloorS = (nodesCpu + clientCpu) / cpus().length;
  out.push(`  nodes, lock to unlock (s from the first lock): ${at.timeline}`);
  const aloneS = alone.length ? median(alone.map((a) => a.c.r.seconds)) : undefined;
  const v = last.c.json!.results;
  if (v.some((x) => x.validated !== undefined)) out.push(`  openclaw config validate runs this apply: ${sum(v.map((x) => x.validated?.length ?? 0))} (on ${v.filter((x) => x.validated?.length).map((x) => x.node).join(', ') || 'no node'}); ${sum(v.map((x) => x.checked?.length ?? 0))} node(s) ran only their secret check`);
  else out.push(`  openclaw config validate runs this apply: not reported (a clawops before issue 12: one on every node that deploys the release)`);
  out.push(
    `  one openclaw config validate alone on an idle node: ${fmt(median(validateS))} s; the test fleet's ${NODES} nodes share this machine's ${cpus().length} CPUs, ` +
      `so ${NODES} validations (one a node) cost ~${fmt((median(validateS) * NODES) / cpus().length)} s of wall time here, where each Mac would spend ~${fmt(median(validateS))} s on its own`,
  );
  if (aloneS !== undefined) {
    const la = alone.at(-1)!;
    out.push(
      `one node alone (--node ${aloneNode.name}, the other ${NODES - 1} idle: the path each Mac of a real fleet goes through with its own CPUs): median ${fmt(aloneS)} s (${alone.map((a) => fmt(a.c.r.seconds)).join(' / ')}); ` +
        `CPU: the node ${fmt(median(alone.map((a) => a.c.cpu.nodesMs)) / 1000)} s (with the one validation), clawops ${fmt(median(alone.map((a) => a.c.cpu.clawopsMs)) / 1000)} s`,
    );
    out.push(`  last run: ${fmt(la.at.beforeNodes)} s before the lock (start-up, repo, ssh connect, observe, plan), lock to unlock ${fmt(la.at.perNode.median)} s: ${la.at.steps.map(([k, v]) => `${k.replace(/ \(.*$/, '')} ${fmt(v)} s`).join(', ')}`);
  }
  if (ansible) {
    out.push(
      `ansible: copy module, src = ${tenant}'s release tree (${ansible.total} files), dest ${`/etc/openclaw/ansible-mirror/${tenant}/`}, pre-filled with the unchanged tree; ` +
        `${ansible.written} file writes across the fleet (${ansible.finished ? `${NODES} hosts changed=1, content verified` : `stopped at the ${ansible.budget} s budget, ${ansible.hostsDone}/${NODES} hosts done, ${ansible.maxConnected} connected`}).`,
    );
    out.push(`  ONLY the changed tenant's tree is copied (${ansible.total} of ${f.treeFiles * TENANTS} files a node): a play over all ${TENANTS} tenants' trees checks ${TENANTS}× as many files, one module run each.`);
    out.push(`  wire bytes counted as for clawops (kernel tcp_info at close) over ${ansible.connections} connection(s) (ControlPersist: one a host).`);
    if (!ansible.finished) out.push('  its time and bytes are lower bounds: --ansible-budget 0 waits for it.');
  }
  // the target is issue 12's, for 20 nodes: other sizes are reported, never judged
  const judged = NODES === 20;
  const pass = clawopsS <= TARGET_S;
  const why = `the ${NODES} test nodes share this machine's ${cpus().length} CPUs: no schedule finishes before ${fmt(cpuFloorS)} s here${aloneS !== undefined ? `; one node alone takes ${fmt(aloneS)} s` : ''}`;
  out.push(`target: one changed fragment applied to 20 nodes in ≤ ${TARGET_S} s  median ${fmt(clawopsS)} s  ${!judged ? `not judged (${NODES} nodes)` : pass ? 'PASS' : `MISS by ${fmt(clawopsS - TARGET_S)} s (${why})`}`);
  process.stdout.write(`${out.join('\n')}\n`);
  log(`total ${fmt((performance.now() - tStart) / 1000)} s`);
  return !judged || pass || !STRICT ? 0 : 1;
}

let fleet: Fleet | undefined;
let wire: WireBytes | undefined;
const cleanupDirs: string[] = [];
await runBenchMain(
  'apply-bench',
  bench,
  async () => {
    wire?.stop();
    await fleet?.stop().catch(() => undefined);
    for (const d of cleanupDirs) if (existsSync(d)) rmSync(d, { recursive: true, force: true });
  },
  log,
);
