/**
 * One size of bench/scale-bench.ts, in a process of its own (so its peak RSS is its own): controller passes in
 * observe mode over simulated nodes. It imports only the reconciler and the simulated transport (sim-node.ts), so
 * the process carries what a controller process carries; scale-bench compiles it with the project's tsc and runs it
 * under plain node, as bin/clawops runs dist/ (or under tsx with --tsx).
 *
 *   node scale-child.js --repo DIR --commit SHA --template FILE --nodes N [--passes 6] [--gc-report] [--alloc-profile F]
 *     [--heap-snapshot F]   (diagnostics: what is kept after the last pass, a V8 heap snapshot)
 *     [--heap-spaces]       (diagnostics: each V8 heap space, committed/used MB, after each pass and at the RSS peak, on stderr)
 * Prints one line `RESULT {json}` (ChildResult) on stdout; exit 2 with a one-line reason when anything is off.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { pino } from 'pino';
import { GitMirror } from '../../reconciler/controller/git-mirror.js';
import { newPassId } from '../../reconciler/controller/loop.js';
import { DesiredCache, reconcilePass, type PassDeps } from '../../reconciler/controller/pass.js';
import { emptyStatus, type StatusDoc } from '../../reconciler/controller/status.js';
import { readSuspension, writeStatus } from '../../reconciler/controller/store.js';
import { createLogger } from '../../reconciler/notifier/logger.js';
import { buildStatusView } from '../../reconciler/report/status-model.js';
import { driftFor, SimPool, SimTransport, templateFromJson, type SimDrift } from './sim-node.js';

export interface PassFigures {
  wallS: number;
  cpuS: number;
  /** RSS right after the pass (not a peak) */
  rssMb: number;
}

export interface ChildResult {
  nodes: number;
  passes: PassFigures[];
  /** buildStatusView over the stored doc + its JSON (what GET /status.json serves) */
  viewS: number;
  statusBytes: number;
  /** RSS after loading the modules, before anything ran */
  baselineRssMb: number;
  peakRssMb: number;
  heapUsedMb: number;
  bytesPerNode: number;
  /** observe commands per pass */
  commands: number[];
  /** health commands per pass (controller/health-stage.ts), and commands neither observe nor health (must be 0) */
  healthChecks: number[];
  other: number;
  states: Record<string, number>;
  drifted: number;
  logLines: number;
  runtime: string;
  /** process.memoryUsage() (MB) sampled every 25 ms: the sample with the highest RSS */
  atPeak: Record<string, number>;
}

/** The node names sim-repo.ts gives (gw-00001 …), numbered from 0 for driftFor. */
const indexOf = (name: string): number => Number(name.replace(/^gw-0*/, '')) - 1;

const MB = (bytes: number): number => bytes / 1024 / 1024;
const cpuSeconds = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1e6;

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

async function main(): Promise<ChildResult> {
  const baselineRss = process.memoryUsage().rss;
  const nodes = Number(arg('nodes'));
  const passesWanted = process.argv.includes('--passes') ? Number(arg('passes')) : 6;
  const gcReport = process.argv.includes('--gc-report');
  const repo = arg('repo');
  const commit = arg('commit');
  const tpl = templateFromJson(readFileSync(arg('template'), 'utf8'), { from: arg('template-commit'), to: commit });
  // the parent's scratch dir when given (it removes it even if this process dies, e.g. out of memory)
  const work = mkdtempSync(join(process.argv.includes('--work') ? arg('work') : tmpdir(), 'clawops-scale-'));
  // where the memory is when RSS peaks (V8 heap used / committed, off-heap), sampled between the pass's awaits
  let atPeak: Record<string, number> = {};
  const heapSpaces = process.argv.includes('--heap-spaces');
  const spaces = (): string => getHeapSpaceStatistics().map((s) => `${s.space_name.replace(/_space$/, '')} ${MB(s.physical_space_size).toFixed(1)}/${MB(s.space_used_size).toFixed(1)}`).join(', ');
  let spacesAtPeak = '';
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    if (m.rss / 1048576 > (atPeak.rss ?? 0)) {
      atPeak = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v / 1048576)]));
      if (heapSpaces) spacesAtPeak = spaces();
    }
  }, 25);
  try {
    const pool = new SimPool((n) => new SimTransport(n.name, tpl, driftFor(indexOf(n.name)) as SimDrift[]));
    const stateDir = join(work, 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    const mirror = new GitMirror(repo, join(stateDir, 'repo.git'));
    const cache = new DesiredCache(() => mirror.dir);
    const logFile = join(work, 'controller.log');
    const logger = createLogger('clawops-controller', pino.destination({ dest: logFile, sync: true }));
    const doc: StatusDoc = emptyStatus({ pid: process.pid, startedAt: new Date().toISOString(), mode: 'observe', repo: mirror.origin, intervalSec: 60 });

    // diagnostics: where the pass allocates (every allocation sampled, garbage included), written as a .heapprofile
    const allocFile = process.argv.includes('--alloc-profile') ? arg('alloc-profile') : undefined;
    const session = allocFile ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post('HeapProfiler.startSampling', { samplingInterval: 32_768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
    }
    const passes: PassFigures[] = [];
    const commands: number[] = [];
    const healthChecks: number[] = [];
    for (let i = 0; i < passesWanted; i++) {
      const started = new Date();
      const id = newPassId(started);
      const deps: PassDeps = {
        mirror,
        pool,
        cache,
        mode: 'observe',
        now: () => new Date(),
        log: logger.child({ reconcile: id }),
        actor: 'controller:scale-bench',
        lockTtlSec: 900,
        signal: new AbortController().signal,
        suspension: () => readSuspension(stateDir),
      };
      const before = pool.totals();
      const c0 = process.cpuUsage();
      const w0 = performance.now();
      // what Controller.runPass does around a pass: the pass, then the deferred status write
      doc.lastPass = { id, startedAt: started.toISOString(), outcome: 'Running' };
      await reconcilePass(deps, doc, id);
      doc.passes++;
      doc.lastPass = { id, startedAt: started.toISOString(), finishedAt: new Date().toISOString(), outcome: 'ok', durationMs: Math.round(performance.now() - w0) };
      await writeStatus(stateDir, doc);
      passes.push({ wallS: (performance.now() - w0) / 1000, cpuS: cpuSeconds(process.cpuUsage(c0)), rssMb: MB(process.memoryUsage().rss) });
      // one observe a node; the fleet is observed twice in the pass where the canaries' evidence moves the gate
      const after = pool.totals();
      const cmds = after.observes - before.observes;
      if (cmds < nodes || cmds > 2 * nodes) throw new Error(`pass ${i + 1}: ${cmds} observe commands for ${nodes} nodes`);
      commands.push(cmds);
      healthChecks.push(after.healthChecks - before.healthChecks);
      if (heapSpaces) process.stderr.write(`[scale-bench] ${nodes} nodes, after pass ${i + 1}: RSS ${MB(process.memoryUsage().rss).toFixed(0)} MB; V8 spaces committed/used MB: ${spaces()}\n`);
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gcReport && gc) {
        gc();
        process.stderr.write(`[scale-bench] ${nodes} nodes, after pass ${i + 1} and a full GC: heap used ${MB(process.memoryUsage().heapUsed).toFixed(1)} MB, RSS ${MB(process.memoryUsage().rss).toFixed(0)} MB, peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB\n`);
      }
    }
    if (heapSpaces) process.stderr.write(`[scale-bench] ${nodes} nodes, at the RSS peak (${atPeak.rss ?? '?'} MB): V8 spaces committed/used MB: ${spacesAtPeak}\n`);
    if (process.argv.includes('--heap-snapshot')) writeHeapSnapshot(arg('heap-snapshot'));
    if (session && allocFile) {
      const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: unknown };
      writeFileSync(allocFile, JSON.stringify(profile));
      session.disconnect();
    }
    const v0 = performance.now();
    const view = buildStatusView(doc, { now: new Date(), from: { kind: 'controller', where: 'scale-bench' } });
    const statusBytes = JSON.stringify(view).length;
    const viewS = (performance.now() - v0) / 1000;

    // the figures must describe passes that did the work: every node observed, states as the simulated drift says
    const states: Record<string, number> = {};
    for (const n of Object.values(doc.nodes)) states[n.state] = (states[n.state] ?? 0) + 1;
    const driftedNodes = Object.values(doc.nodes).filter((n) => driftFor(indexOf(n.node)).some((d) => d === 'hand-edited' || d === 'not-deployed'));
    const drifted = driftedNodes.length;
    if (Object.keys(doc.nodes).length !== nodes) throw new Error(`${Object.keys(doc.nodes).length} node records for ${nodes} nodes`);
    const missed = driftedNodes.filter((n) => n.state === 'Synced').map((n) => n.node);
    if (missed.length > 0) throw new Error(`simulated drift not seen on ${missed.slice(0, 5).join(', ')} (states ${JSON.stringify(states)})`);
    const failed = Object.values(doc.nodes).filter((n) => n.state === 'Unreachable' || n.state === 'Failed').map((n) => `${n.node}: ${n.state} ${n.message ?? ''}`);
    if (failed.length > 0) throw new Error(`nodes not observed: ${failed.slice(0, 3).join('; ')}`);
    const totals = pool.totals();
    if (totals.commands !== totals.observes + totals.healthChecks) throw new Error(`${totals.commands - totals.observes - totals.healthChecks} command(s) neither observe nor health were sent to simulated nodes`);
    return {
      nodes,
      passes,
      viewS,
      statusBytes,
      baselineRssMb: MB(baselineRss),
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      heapUsedMb: MB(process.memoryUsage().heapUsed),
      bytesPerNode: totals.observeBytes / totals.observes,
      commands,
      healthChecks,
      other: totals.commands - totals.observes - totals.healthChecks,
      states,
      drifted,
      logLines: readFileSync(logFile, 'utf8').split('\n').filter(Boolean).length,
      runtime: process.execArgv.some((a) => a.includes('tsx')) ? 'tsx' : 'node (compiled)',
      atPeak,
    };
  } finally {
    clearInterval(sampler);
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  process.stdout.write(`RESULT ${JSON.stringify(await main())}\n`);
} catch (e) {
  process.stderr.write(`scale-child: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
}
