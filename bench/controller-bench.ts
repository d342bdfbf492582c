/**
 * The controller's steady pass (no change) over real sshd fleet nodes on connections kept open between passes, timed
 * beside parallel `rsync -c -n -r` of the same release trees over fresh ssh in the same run (issue 10's proof, issue
 * 12's "steady pass at 20 real nodes ≤ 0.25 s"); with --growth, the same steady pass and a fresh `clawops diff` at
 * 5, 10, 20, 40 nodes (issue 12: "linear or better" = time(40)/time(5) ≤ 8) with the bytes each sends.
 *
 * Run (root; rsync and openssh-server from apt; the OpenClaw cache from scripts/install-openclaw-cache.sh):
 *   npx tsx bench/controller-bench.ts [--nodes 20] [--passes 20] [--rounds 5] [--mode auto|observe] [--strict]
 *   npx tsx bench/controller-bench.ts --growth [--sizes 5,10,20,40] [--passes 12] [--diff-runs 3] [--rounds 3] [--strict]
 *   (--no-profile: skip timing one node's observe script alone, traced and under strace)
 *
 * Setup: one test fleet (test/fleet: one sshd a node, the real OpenClaw CLI) of the largest size, the generated infra
 * repo (bench/lib/infra-repo.ts: 10 tenants × 20 fragments, lint clean, every tenant on every node; the first node a
 * canary; no launchd units, see bench/lib/controller-fleet.ts) and every release placed on every node, so the fleet is
 * in sync. Per size N: that repo for the first N nodes pushed to a bare origin (tag release/1), and a Controller in this
 * process (reconciler/controller/loop.ts, as `clawops controller run` makes it) on that origin with a fresh state dir.
 * Warm-up passes connect and let the canary's green passes open the fleet gate until every node is Synced; then the
 * timed passes: each a whole runPass() (fetch, pin, desired (cached), observe + plan both groups, gate, status write).
 * A pass that is not `ok` or leaves a node not Synced is an error (exit 2), as is rsync itemizing a change or
 * `clawops diff` not reporting every node in sync.
 *
 * Figures: median and p90 pass wall time, process CPU time a pass, RSS after the passes and the process's peak RSS,
 * bytes the transports sent a pass, and where a pass's time goes (fetch, pin, observe per group, the health stage, the
 * nodes' own observe script), the remote commands a node a pass, and CPU a pass on the controller and on the nodes
 * (every process under the nodes' sshds, read from /proc between passes): on this one machine the nodes and the
 * controller share the CPUs, so (controller + nodes CPU) / CPUs is the pass's floor here. A steady pass starts the
 * last pass's first wave of observes before its fetch (connections.ts startEarly), so a node's observe call is timed
 * from when its group asks for it. Exit: 0 (also when a target is missed, unless --strict: then 1), 2 when anything
 * is wrong.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../reconciler/cli.js';
import type { CliIo } from '../reconciler/commands/io.js';
import { defaultOpenclawVersion, ensureOpenclawCache, fleetAvailable, startFleet, type Fleet, type FleetNodeHandle } from '../test/fleet/fleet.js';
import { placeAll } from '../test/helpers/fleet-repo.js';
import { EXAMPLE_SECRETS, seedSecrets } from '../test/helpers/secrets.js';
import { benchController, controllerOrigin, fleetCpuMs, percentile, warmUp, type ControllerOrigin, type PassTimes } from './lib/controller-fleet.js';
import { stageReleases, tenantIdsFor } from './lib/infra-repo.js';
import { profileObserve, type ObserveProfile } from './lib/observe-profile.js';
import { argValue, fmt, median, pool, run, runBenchMain, shq } from './lib/proc.js';
import { sshCommand } from './lib/ssh.js';

// ---------------------------------------------------------------------------------------------
// Arguments

const GROWTH = process.argv.includes('--growth');
const NODES = argValue('nodes', 20);
const SIZES = GROWTH ? sizesArg() : [NODES];
const PASSES = argValue('passes', GROWTH ? 12 : 20);
const ROUNDS = Math.max(1, argValue('rounds', GROWTH ? 3 : 5));
const DIFF_RUNS = GROWTH ? argValue('diff-runs', 3) : 0;
const TENANTS = argValue('tenants', 10);
const FRAGMENTS = argValue('fragments', 20);
const RSYNC_PARALLEL = argValue('rsync-parallel', 10);
const MODE = modeArg();
const STRICT = process.argv.includes('--strict');
/** profile one node's observe script after the passes (alone, traced, exec count); --no-profile skips it */
const PROFILE = !process.argv.includes('--no-profile');
const TARGET_S = 0.25;
const TARGET_AT = 20;

function sizesArg(): number[] {
  const i = process.argv.indexOf('--sizes');
  const raw = i >= 0 ? process.argv[i + 1] ?? '' : '5,10,20,40';
  const s = raw.split(',').map(Number);
  if (s.length === 0 || s.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--sizes needs node counts like 5,10,20,40 (got ${JSON.stringify(raw)})`);
  return [...new Set(s)].sort((a, b) => a - b);
}

function modeArg(): 'auto' | 'observe' {
  const i = process.argv.indexOf('--mode');
  const m = i >= 0 ? process.argv[i + 1] : 'auto';
  if (m !== 'auto' && m !== 'observe') throw new Error(`--mode must be auto or observe (got ${JSON.stringify(m)})`);
  return m;
}

const log = (s: string): void => void process.stderr.write(`[controller-bench] ${s}\n`);
const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const ms = (x: number): string => x.toFixed(0);
const mb = (b: number): string => (b / 1024 / 1024).toFixed(0);

// ---------------------------------------------------------------------------------------------
// Peers

/** One rsync a node, RSYNC_PARALLEL at a time, as diff-bench runs it. Wall seconds; any itemized change is an error. */
async function rsyncPass(fleet: Fleet, nodes: FleetNodeHandle[], tree: string): Promise<number> {
  const t0 = performance.now();
  const results = await pool(
    RSYNC_PARALLEL,
    nodes.map((node) => () =>
      run('rsync', ['-c', '-n', '-r', '-i', '--delete', '-e', sshCommand(fleet, node), `${tree}/`, `${node.user}@${node.host}:/etc/openclaw/releases/`]).then((r) => ({ node, r })),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  for (const { node, r } of results) {
    if (r.code !== 0) throw new Error(`rsync to ${node.name} exited ${r.code}: ${r.stderr.trim().split('\n')[0] ?? ''}`);
    const changes = r.stdout.split('\n').filter((l) => l.trim());
    if (changes.length) throw new Error(`rsync reports changes on in-sync ${node.name}: ${changes.slice(0, 3).join('; ')}`);
  }
  return seconds;
}

/** A fresh `clawops diff` (main() in this process: new connections, the desired state built again). Wall seconds. */
async function diffRun(repo: string, fleet: Fleet, n: number): Promise<number> {
  let out = '';
  const io: CliIo = { stdout: (s) => (out += s), stderr: (s) => (out += s) };
  const t0 = performance.now();
  const code = await main(['diff', '--repo', repo, '--identity', fleet.clientKeyPath], io);
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0 || !out.includes(`In sync: ${n} node(s)`)) throw new Error(`clawops diff over ${n} nodes exited ${code}, expected ${n} nodes in sync:\n${out.slice(0, 1500)}`);
  return seconds;
}

// ---------------------------------------------------------------------------------------------
// One size

interface SizeResult {
  n: number;
  warmup: PassTimes[];
  passes: PassTimes[];
  rsync: number[];
  diff: number[];
  rssAfter: number;
}

/**
 * Every size at once: one controller a size (its own origin and state dir), warmed up, then ROUNDS rounds that visit
 * the sizes in turn (ascending, then descending, …) so a load that drifts during the run (other work on the machine)
 * weighs on every size alike. A round at a size: a block of steady passes, one rsync over its nodes, one fresh diff.
 */
async function measureAll(fleet: Fleet, sizes: number[], full: ControllerOrigin, tree: string, work: string): Promise<SizeResult[]> {
  const sets = [];
  for (const n of sizes) {
    const nodes = fleet.nodes.slice(0, n);
    const names = nodes.map((x) => x.name);
    const origin = n === fleet.nodes.length ? full : controllerOrigin(nodes, tenantIdsFor(TENANTS), FRAGMENTS);
    cleanupDirs.push(origin.work, origin.bare);
    const stateDir = mkdtempSync(join(work, `state-${n}-`));
    const roots = (): number[] => nodes.map((x) => x.sshdPid()).filter((p): p is number => p !== undefined);
    const b = await benchController({ origin: origin.bare, stateDir, identityFile: fleet.clientKeyPath, mode: MODE, nodes: names, nodeCpuMs: () => fleetCpuMs(roots()) });
    open.add(b);
    const t0 = performance.now();
    const warmup = await warmUp(b, names);
    log(`${n} nodes: Synced after ${warmup.length} warm-up pass(es) (${fmt((performance.now() - t0) / 1000)} s; first ${ms(warmup[0]!.wallMs)} ms)`);
    sets.push({ n, nodes, origin, b, res: { n, warmup, passes: [], rsync: [], diff: [], rssAfter: 0 } as SizeResult });
  }
  const perRound = Math.ceil(PASSES / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    for (const x of round % 2 === 0 ? sets : [...sets].reverse()) {
      const { n, b, res } = x;
      const got: number[] = [];
      for (let i = 0; i < perRound && res.passes.length < PASSES; i++) {
        const p = await b.pass();
        if (p.outcome !== 'ok') throw new Error(`steady pass at ${n} nodes ended ${p.outcome}: ${b.c.status().lastPass?.message ?? ''}`);
        const bad = Object.entries(b.states()).filter(([, st]) => st !== 'Synced');
        if (bad.length) throw new Error(`steady pass at ${n} nodes left ${bad.map(([k, st]) => `${k} ${st}`).slice(0, 5).join(', ')}`);
        res.passes.push(p);
        got.push(p.wallMs);
      }
      const r = await rsyncPass(fleet, x.nodes, tree);
      res.rsync.push(r);
      let d: number | undefined;
      if (round < DIFF_RUNS) {
        d = await diffRun(x.origin.work, fleet, n);
        res.diff.push(d);
      }
      res.rssAfter = process.memoryUsage().rss;
      log(`${n} nodes, round ${round + 1}/${ROUNDS}: steady passes ${got.map(ms).join(' ')} ms; rsync ${fmt(r)} s${d !== undefined ? `; clawops diff ${fmt(d)} s` : ''}; load ${loadavg()}`);
    }
  }
  // diff runs beyond the rounds (--diff-runs > --rounds)
  for (const x of sets) while (x.res.diff.length < DIFF_RUNS) x.res.diff.push(await diffRun(x.origin.work, fleet, x.n));
  for (const x of sets) {
    open.delete(x.b);
    await x.b.close();
  }
  return sets.map((x) => x.res);
}

// ---------------------------------------------------------------------------------------------
// Report

function table(rows: string[][]): string[] {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
}

const med = (xs: number[]): number => (xs.length ? median(xs) : NaN);

function breakdown(r: SizeResult): string[] {
  const p = r.passes;
  const groups = new Map<string, number[]>();
  for (const x of p) for (const g of x.groups) groups.set(`${g.group} (${g.nodes} node${g.nodes === 1 ? '' : 's'})`, [...(groups.get(`${g.group} (${g.nodes} node${g.nodes === 1 ? '' : 's'})`) ?? []), g.ms]);
  const statusWrite = p.map((x) => x.wallMs - x.passMs);
  const rows: string[][] = [['stage (median over passes)', 'ms']];
  rows.push(['whole pass (runPass wall)', ms(med(p.map((x) => x.wallMs)))]);
  rows.push(['  git fetch of the origin', ms(med(p.map((x) => x.fetchMs)))]);
  rows.push(['  pin: refs, HEAD, clawops.yaml', ms(med(p.map((x) => x.pinMs)))]);
  rows.push(['  desired state (cached by commit)', ms(med(p.map((x) => x.desiredMs)))]);
  for (const [g, xs] of groups) rows.push([`  observe + plan, ${g}`, ms(med(xs))]);
  rows.push(['    a node: observe call, from when its group asks (median / max)', `${ms(med(p.flatMap((x) => x.nodeObserveMs)))} / ${ms(Math.max(...p.flatMap((x) => x.nodeObserveMs)))}`]);
  rows.push(['    a node: its observe script on the node (median / max)', `${ms(med(p.flatMap((x) => x.nodeScriptMs)))} / ${ms(Math.max(...p.flatMap((x) => x.nodeScriptMs)))}`]);
  // the health stage runs after each group's observe+plan (per group: its own log line; none when no node is asked)
  const health = p.map((x) => x.health.reduce((a, h) => a + h.ms, 0));
  const asked = p.map((x) => x.health.reduce((a, h) => a + h.nodes, 0));
  rows.push([`  health stage (${ms(med(asked))} node(s) asked a pass)`, ms(med(health))]);
  rows.push(['  status write (runPass wall − its durationMs)', ms(med(statusWrite))]);
  rows.push(['remote commands a node a pass (round trips)', (med(p.map((x) => x.commands)) / r.n).toFixed(2)]);
  rows.push(['bytes a pass: sent / received', `${Math.round(med(p.map((x) => x.bytesSent)))} / ${Math.round(med(p.map((x) => x.bytesReceived)))}`]);
  rows.push(['CPU a pass: controller process (user+system)', ms(med(p.map((x) => x.cpuMs)))]);
  rows.push(['CPU a pass: its child processes (git)', ms(med(p.map((x) => x.childCpuMs)))]);
  const nodeCpu = p.map((x) => x.nodeCpuMs).filter((x) => Number.isFinite(x));
  if (nodeCpu.length) {
    rows.push(['CPU a pass: all nodes (every process under their sshds)', ms(med(nodeCpu))]);
    rows.push(['    a node (all nodes / nodes)', ms(med(nodeCpu) / r.n)]);
    rows.push([`    wall floor on ${cpus().length} CPUs: (controller + git + nodes) / CPUs`, ms((med(p.map((x) => x.cpuMs)) + med(p.map((x) => x.childCpuMs)) + med(nodeCpu)) / cpus().length)]);
  }
  return table(rows);
}

// ---------------------------------------------------------------------------------------------
// Main

async function bench(): Promise<number> {
  const avail = fleetAvailable();
  if (!avail.ok) throw new Error(`test fleet unavailable: ${avail.reason}`);
  for (const tool of ['rsync', 'ssh']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) throw new Error(`${tool} not found (apt-get install -y ${tool === 'ssh' ? 'openssh-client' : tool})`);
  }
  const tStart = performance.now();
  const started = new Date().toISOString();
  const load0 = loadavg();
  await ensureOpenclawCache(defaultOpenclawVersion());
  const maxN = Math.max(...SIZES);
  const names = Array.from({ length: maxN }, (_, i) => `gw-${String(i + 1).padStart(2, '0')}`);
  const tenantIds = tenantIdsFor(TENANTS);
  log(`starting ${maxN} fleet nodes with the real OpenClaw CLI (${cpus().length} CPUs, load average ${load0}) …`);
  fleet = await startFleet({ names, openclaw: true });
  const work = mkdtempSync(join(tmpdir(), 'clawops-ctl-bench-'));
  cleanupDirs.push(work);
  const full = controllerOrigin(fleet.nodes, tenantIds, FRAGMENTS);
  cleanupDirs.push(full.work, full.bare);
  placeAll(fleet, full.desired);
  // the secrets the releases reference, provisioned as an operator does (else every node is Blocked)
  await pool(10, fleet.nodes.map((n) => () => seedSecrets(n, tenantIds, [...EXAMPLE_SECRETS, 'webhook.crm'])));
  const tree = stageReleases(full.desired, tenantIds, join(work, 'stage'));
  const filesPerNode = Number(spawnSync('sh', ['-c', `find ${shq(tree)} -type f | wc -l`], { encoding: 'utf8' }).stdout.trim());
  log(`fleet in sync: ${maxN} nodes × ${TENANTS} tenants × ${FRAGMENTS} fragments, ${filesPerNode} files a node; setup ${fmt((performance.now() - tStart) / 1000)} s`);

  const results = await measureAll(fleet, SIZES, full, tree, work);
  let prof: ObserveProfile | undefined;
  if (PROFILE) {
    log('profiling one node\'s observe script (alone, traced, strace) …');
    prof = await profileObserve(full.desired, full.desired.nodes[0]!, fleet.clientKeyPath);
  }
  const load1 = loadavg();
  const peakRss = process.resourceUsage().maxRSS * 1024;

  // ---- report
  const out: string[] = [''];
  out.push(`controller steady pass (no change, ${MODE} mode, connections open) vs parallel rsync -c -n -r over fresh ssh (${RSYNC_PARALLEL} at a time)`);
  out.push(`repo: ${TENANTS} tenants × ${FRAGMENTS} fragments on every node (${filesPerNode} files a node), node 1 a canary; ${PASSES} timed passes a size after warm-up, rsync ${ROUNDS} run(s) interleaved${DIFF_RUNS ? `, fresh clawops diff (in-process main()) ${DIFF_RUNS} run(s)` : ''}`);
  out.push(`machine: ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), load average ${load0} at start, ${load1} at end; ${started}`);
  out.push(`command: npx tsx bench/controller-bench.ts ${process.argv.slice(2).join(' ')}`.trimEnd());
  out.push('');
  const rows: string[][] = [['nodes', 'pass median s', 'p90 s', 'CPU ms/pass', 'rsync s', 'rsync/pass', ...(DIFF_RUNS ? ['diff s'] : []), 'bytes sent/pass', 'bytes/node', 'RSS MB after']];
  for (const r of results) {
    const pm = med(r.passes.map((x) => x.wallMs)) / 1000;
    const rs = med(r.rsync);
    const sent = med(r.passes.map((x) => x.bytesSent));
    rows.push([
      String(r.n),
      pm.toFixed(3),
      (percentile(r.passes.map((x) => x.wallMs), 90) / 1000).toFixed(3),
      ms(med(r.passes.map((x) => x.cpuMs))),
      fmt(rs),
      `${(rs / pm).toFixed(1)}×`,
      ...(DIFF_RUNS ? [fmt(med(r.diff))] : []),
      String(Math.round(sent)),
      String(Math.round(sent / r.n)),
      mb(r.rssAfter),
    ]);
  }
  out.push(...table(rows));
  out.push(`process peak RSS (whole run, fleet set-up and diff runs included): ${mb(peakRss)} MB`);

  let pass = true;
  const at = results.find((r) => r.n === TARGET_AT) ?? (results.length === 1 ? results[0] : undefined);
  if (at) {
    out.push('');
    out.push(`where a steady pass at ${at.n} nodes goes:`);
    out.push(...breakdown(at).map((l) => `  ${l}`));
    out.push('');
    const pm = med(at.passes.map((x) => x.wallMs)) / 1000;
    const ok = at.n !== TARGET_AT || pm <= TARGET_S;
    out.push(`target: steady pass ≤ ${TARGET_S} s at ${TARGET_AT} nodes   median ${pm.toFixed(3)} s at ${at.n} nodes  ${at.n !== TARGET_AT ? 'NOT MEASURED at 20 (--nodes 20)' : ok ? 'PASS' : `MISS (${(pm / TARGET_S).toFixed(1)}× the target)`}`);
    pass &&= ok;
  }
  if (results.length > 1) {
    const lo = results[0]!;
    const hi = results[results.length - 1]!;
    const k = hi.n / lo.n;
    const limit = k; // linear: time grows at most as the node count does (5 → 40: ≤ 8)
    const slope = (xs: (r: SizeResult) => number): string => results.slice(1).map((r, i) => `${((xs(r) - xs(results[i]!)) / (r.n - results[i]!.n) * 1000).toFixed(1)}`).join(' / ');
    const steady = (r: SizeResult): number => med(r.passes.map((x) => x.wallMs)) / 1000;
    const diffT = (r: SizeResult): number => med(r.diff);
    const rs = (r: SizeResult): number => med(r.rsync);
    const gs = steady(hi) / steady(lo);
    out.push('');
    out.push(`growth ${lo.n} → ${hi.n} nodes (${k}× the nodes; linear or better = ratio ≤ ${limit.toFixed(1)}):`);
    out.push(`  steady pass  ${gs.toFixed(2)}×  per-node slope between sizes ${slope(steady)} ms/node  ${gs <= limit ? 'PASS' : 'MISS'}`);
    pass &&= gs <= limit;
    if (DIFF_RUNS) {
      const gd = diffT(hi) / diffT(lo);
      out.push(`  clawops diff ${gd.toFixed(2)}×  per-node slope between sizes ${slope(diffT)} ms/node  ${gd <= limit ? 'PASS' : 'MISS'}`);
      pass &&= gd <= limit;
    }
    out.push(`  rsync (peer) ${(rs(hi) / rs(lo)).toFixed(2)}×  per-node slope between sizes ${slope(rs)} ms/node`);
    const bpn = results.map((r) => med(r.passes.map((x) => x.bytesSent)) / r.n);
    out.push(`  bytes sent a steady pass per node: ${bpn.map((b) => Math.round(b)).join(' / ')} (no change: constant per node, i.e. proportional to the nodes observed, none for content)`);
  }
  if (prof) {
    out.push('');
    out.push(`the observe script on one node (${prof.node}), alone, over one open connection (no other node busy):`);
    out.push(`  one observe: ${ms(prof.aloneMs)} ms answering unchanged from the kept answer, ${ms(prof.fullAloneMs)} ms reading everything (full, as after a change) (medians of 5); command line ${prof.scriptBytes} B (the whole script, sent every pass) + stdin ${prof.stdinBytes} B (every expected file hash)`);
    out.push(`  programs started: ${prof.execs ?? '? (no strace on the node)'} kept, ${prof.fullExecs ?? '?'} full${prof.topExecs.length ? ` (kept: ${prof.topExecs.map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}`);
    out.push(`  CPU of one observe on the node (user+system, children included): ${ms(prof.cpuMs)} ms kept, ${ms(prof.fullCpuMs)} ms full; this machine's ${cpus().length} CPUs run every node, so a steady pass over N nodes costs at least N × ${ms(prof.cpuMs)} / ${cpus().length} ms of wall time here (20 nodes: ${ms((20 * prof.cpuMs) / cpus().length)} ms) before any other work`);
    out.push(`  launchctl print system alone: ${ms(prof.launchctlMs)} ms, ${ms(prof.launchctlCpuMs)} ms CPU (the fleet's sh front end answers print from the stand-in's kept answers, as fast as a native one)`);
    out.push(`  a full observe traced (bash xtrace, ${ms(prof.tracedMs)} ms in all), time charged to each command up to the next trace line (ms, count):`);
    out.push(`    ${prof.byCommand.map(([k, t, n]) => `${k} ${ms(t)} (${n})`).join(', ')}`);
    out.push(`  a kept observe traced (${ms(prof.keptTracedMs)} ms in all), the same way:`);
    out.push(`    ${prof.keptByCommand.map(([k, t, n]) => `${k} ${ms(t)} (${n})`).join(', ')}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  log(`total ${fmt((performance.now() - tStart) / 1000)} s`);
  return pass || !STRICT ? 0 : 1;
}

let fleet: Fleet | undefined;
const open = new Set<{ close(): Promise<void> }>();
const cleanupDirs: string[] = [];
await runBenchMain(
  'controller-bench',
  bench,
  async () => {
    for (const b of open) await b.close().catch(() => undefined);
    await fleet?.stop().catch(() => undefined);
    for (const d of cleanupDirs) if (existsSync(d)) rmSync(d, { recursive: true, force: true });
  },
  log,
);
