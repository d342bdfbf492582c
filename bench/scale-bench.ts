/**
 * Scale in one process (issue 12): controller passes over 500 and 2,000 simulated nodes × 10 tenants — CPU time,
 * wall time and peak RSS of a pass. Targets: peak RSS < 150 MB at 500 nodes, < 400 MB at 2,000.
 *
 * Run: npx tsx bench/scale-bench.ts [--sizes 500,2000] [--tenants 10] [--fragments 20] [--passes 6] [--strict]
 *   diagnostics: [--tsx] [--gc-report] [--alloc-profile DIR] [--heap-snapshot DIR] [--heap-spaces] [--child-output] [--node-flags='--max-old-space-size=256 …']
 *
 * What runs is what a controller pass runs (reconciler/controller/pass.ts reconcilePass, observe mode), unchanged:
 * fetch the repo into the controller's git mirror, pin main and release/1, build the desired state (once per commit,
 * DesiredCache), observe every node (ConnectionPool.observe → observeNode → Reparser.parse, reparse.ts; PQueue at
 * clawops.yaml's concurrency), plan, derive every node's status record; then what the loop does after a pass
 * (write status.json) and the status view the controller's GET / and `clawops status` build (buildStatusView).
 * Only the transport is simulated (bench/lib/sim-node.ts): each node answers the observe command in-process with the
 * bytes the REAL observe script printed for a node laid out in sync with the same tenants (captured once, here, over
 * the local transport), with its own clock — a full answer first, then kept answers as a real node sends them while
 * nothing changes on it (observe-script.ts: the live records first, the kept part byte for byte, svc last); about one
 * node in ten carries drift (a hand-edited file, a tenant not
 * deployed, a stopped service, a token rotation), so plan has work. No ssh, no sockets.
 *
 * Each size runs in its own child process so its peak RSS (process.resourceUsage().maxRSS) is its own, with the node
 * flags bin/clawops gives `clawops controller` (CONTROLLER_NODE_FLAGS: the controller's V8 heap settings). The child
 * runs `--passes` passes: the first builds the desired state and clones the mirror (cold), the others are steady
 * passes (desired cached, fetch finds nothing new). Six by default: each pass's observations outlive the pass's
 * scavenges and become old-space garbage that V8 collects only every few passes, so RSS climbs for 3–5 passes before
 * it levels (2,000 nodes: 439/681/805/1095/794/733 MB after passes 1–6); fewer passes understate the peak. CPU time is this process's user+system (process.cpuUsage); git's
 * child processes (fetch) are not in it. The RSS the child had after loading its modules (tsx included) is shown
 * beside the peak, and the bytes the simulated nodes sent, so what the pass itself costs can be read off.
 *
 * Exit: 0 (also when a target is missed, unless --strict: then 1), 2 when anything is wrong (a node not observed,
 * more than one command a node, a status that does not match the simulated drift).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkedDesired, tenantIdsFor } from './lib/infra-repo.js';
import { fmt, median, runBenchMain } from './lib/proc.js';
import type { ChildResult } from './lib/scale-child.js';
import { templateToJson } from './lib/sim-node.js';
import { simRepo } from './lib/sim-repo.js';
import { captureTemplate } from './lib/sim-template.js';

const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');
const CHILD_TS = join(REPO_ROOT, 'bench', 'lib', 'scale-child.ts');
const argStr = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
};
const argNum = (name: string, def: number): number => {
  const v = Number(argStr(name, String(def)));
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} needs a whole number ≥ 0`);
  return v;
};
const SIZES = argStr('sizes', '500,2000').split(',').map((s) => Number(s));
const TENANTS = argNum('tenants', 10);
const FRAGMENTS = argNum('fragments', 20);
const PASSES = Math.max(1, argNum('passes', 6));
const STRICT = process.argv.includes('--strict');
/** run the child under tsx instead of compiled (adds tsx's own ~27 MB to every RSS figure) */
const TSX = process.argv.includes('--tsx');
/** diagnostics: a full GC after each pass (node --expose-gc) and the heap left, on stderr; peaks are then lower */
const GC_REPORT = process.argv.includes('--gc-report');
/** diagnostics: each child writes a sampled allocation profile (garbage included) to DIR/alloc-<nodes>.heapprofile */
const ALLOC_DIR = process.argv.includes('--alloc-profile') ? argStr('alloc-profile', '') : '';
/** diagnostics: each child writes a V8 heap snapshot after its last pass (what is kept) to DIR/heap-<nodes>.heapsnapshot */
const SNAPSHOT_DIR = process.argv.includes('--heap-snapshot') ? argStr('heap-snapshot', '') : '';
/** diagnostics: each child prints its V8 heap spaces (committed/used) after each pass and at the RSS peak, on stderr */
const HEAP_SPACES = process.argv.includes('--heap-spaces');
/** diagnostics: the children's output (stderr, and stdout but the RESULT line: e.g. --node-flags=--trace-gc) shown as it comes */
const CHILD_OUTPUT = process.argv.includes('--child-output');
/** extra node flags for the children (e.g. --node-flags=--max-old-space-size=256), to try V8 settings */
const NODE_FLAGS = (process.argv.find((a) => a.startsWith('--node-flags='))?.slice('--node-flags='.length) ?? '').split(' ').filter(Boolean);
/**
 * The node flags `clawops controller` runs with (bin/clawops CONTROLLER_NODE_FLAGS: its V8 heap settings): each child
 * runs with them, as the controller process it stands for does.
 */
const CONTROLLER_FLAGS = (/^CONTROLLER_NODE_FLAGS="([^"]*)"$/m.exec(readFileSync(join(REPO_ROOT, 'bin', 'clawops'), 'utf8'))?.[1] ?? '').split(' ').filter(Boolean);
/** peak RSS targets (MB) by size; sizes not named have none */
const RSS_TARGET_MB: Record<number, number> = { 500: 150, 2000: 400 };
/** the commit the template is captured for; rewritten to each child repo's real commit */
const TEMPLATE_COMMIT = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';

const log = (s: string): void => void process.stderr.write(`[scale-bench] ${s}\n`);

// ---------------------------------------------------------------------------------------------------------------
// Parent: capture the template, run each size in a child, report

/**
 * The child compiled with the project's tsc (tsconfig.json's options) into node_modules/.cache, so it runs under plain
 * node as the controller does from dist/ (tsx alone adds ~27 MB of RSS); --tsx runs the .ts under tsx instead.
 * Errors others' files may have while being edited do not stop the emit; a missing output does.
 */
function compileChild(dir: string): string {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ extends: join(REPO_ROOT, 'tsconfig.json'), compilerOptions: { outDir: join(dir, 'out'), rootDir: REPO_ROOT, noEmit: false, incremental: false, sourceMap: false }, include: [], files: [CHILD_TS] }),
  );
  spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { stdio: 'ignore' });
  // reconciler/desired/schema.ts finds schemas/ beside reconciler/, as in the repo and in dist/
  symlinkSync(join(REPO_ROOT, 'schemas'), join(dir, 'out', 'schemas'));
  const js = join(dir, 'out', 'bench', 'lib', 'scale-child.js');
  if (!existsSync(js)) throw new Error(`tsc did not emit ${js} (try --tsx)`);
  return js;
}

function runChild(entry: string[], nodes: number, repo: { dir: string; commit: string }, template: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const args = [
      ...entry.slice(0, -1),
      ...CONTROLLER_FLAGS,
      ...(GC_REPORT ? ['--expose-gc'] : []),
      ...NODE_FLAGS,
      entry[entry.length - 1]!,
      ...['--work', WORK, '--nodes', String(nodes), '--repo', repo.dir, '--commit', repo.commit, '--template', template, '--template-commit', TEMPLATE_COMMIT, '--passes', String(PASSES)],
      ...(GC_REPORT ? ['--gc-report'] : []),
      ...(ALLOC_DIR ? ['--alloc-profile', join(ALLOC_DIR, `alloc-${nodes}.heapprofile`)] : []),
      ...(HEAP_SPACES ? ['--heap-spaces'] : []),
      ...(SNAPSHOT_DIR ? ['--heap-snapshot', join(SNAPSHOT_DIR, `heap-${nodes}.heapsnapshot`)] : []),
    ];
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (CHILD_OUTPUT) process.stderr.write(b.toString().split('\n').filter((l) => !l.startsWith('RESULT ')).join('\n'));
    });
    c.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      if (GC_REPORT || HEAP_SPACES || CHILD_OUTPUT) process.stderr.write(b);
    });
    c.on('error', reject);
    c.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code !== 0 || !line) reject(new Error(`${nodes} nodes: child exited ${String(code)}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
      else resolve(JSON.parse(line.slice('RESULT '.length)) as ChildResult);
    });
  });
}

async function parent(): Promise<number> {
  const tStart = performance.now();
  const load0 = loadavg().map((l) => l.toFixed(2)).join(' ');
  const work = mkdtempSync(join(tmpdir(), 'clawops-scale-tpl-'));
  cleanup.push(work);
  WORK = work;
  // the template: the real observe script on a node in sync with the same tenants (the releases depend on the
  // tenants only, not on the inventory, so a 2-node repo's desired state lays out the same node)
  const ids = tenantIdsFor(TENANTS);
  const small = simRepo(2, ids, FRAGMENTS);
  cleanup.push(small.dir);
  const desired = checkedDesired(small.dir, TENANTS, FRAGMENTS);
  const tpl = await captureTemplate(desired, ids, { commit: TEMPLATE_COMMIT });
  const tplFile = join(work, 'template.json');
  writeFileSync(tplFile, templateToJson(tpl));
  log(`template: the real observe script on a node with ${TENANTS} tenants × ${FRAGMENTS} fragments printed ${tpl.raw.length} bytes, ${tpl.records.length} records`);

  // compiled inside the repo so the child's imports resolve against node_modules as dist/'s do
  let entry = [...process.execArgv, CHILD_TS];
  if (!TSX) {
    mkdirSync(join(REPO_ROOT, 'node_modules', '.cache'), { recursive: true });
    const build = mkdtempSync(join(REPO_ROOT, 'node_modules', '.cache', 'clawops-scale-bench-'));
    cleanup.push(build);
    entry = [compileChild(build)];
  }
  log(`child: ${TSX ? 'tsx' : 'compiled with tsc, plain node'}`);
  const results: ChildResult[] = [];
  for (const n of SIZES) {
    const repo = simRepo(n, ids, FRAGMENTS);
    cleanup.push(repo.dir);
    log(`${n} nodes × ${TENANTS} tenants: ${PASSES} pass(es) in a child process …`);
    const r = await runChild(entry, n, repo, tplFile);
    log(`${n} nodes: passes ${r.passes.map((p) => `${fmt(p.wallS)} s wall / ${fmt(p.cpuS)} s CPU`).join(', ')}; peak RSS ${r.peakRssMb.toFixed(0)} MB; states ${JSON.stringify(r.states)}`);
    results.push(r);
  }
  const load1 = loadavg().map((l) => l.toFixed(2)).join(' ');

  const rows: string[][] = [['nodes', 'tenants', 'pass', 'wall s', 'CPU s', 'peak RSS MB', 'target', 'verdict']];
  let pass = true;
  for (const r of results) {
    const target = RSS_TARGET_MB[r.nodes];
    const ok = target === undefined || r.peakRssMb < target;
    pass &&= ok;
    const steady = r.passes.slice(1);
    const rss = `${r.peakRssMb.toFixed(0)}`;
    const tgt = target !== undefined ? `< ${target} MB` : '-';
    const verdict = target !== undefined ? (ok ? 'PASS' : 'MISS') : '-';
    rows.push([String(r.nodes), String(TENANTS), 'first (clone, build desired)', fmt(r.passes[0]!.wallS), fmt(r.passes[0]!.cpuS), rss, tgt, verdict]);
    if (steady.length > 0) rows.push([String(r.nodes), String(TENANTS), `steady (median of ${steady.length})`, fmt(median(steady.map((p) => p.wallS))), fmt(median(steady.map((p) => p.cpuS))), rss, tgt, verdict]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i < 3 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  const out: string[] = [''];
  out.push(`scale in one process: controller passes (observe mode) over simulated nodes × ${TENANTS} tenants × ${FRAGMENTS} fragments`);
  out.push(`date: ${new Date().toISOString()}   command: ${['npx tsx bench/scale-bench.ts', ...process.argv.slice(2)].join(' ')}`);
  out.push(`child node flags: ${[...CONTROLLER_FLAGS, ...NODE_FLAGS].join(' ') || '(none)'}${CONTROLLER_FLAGS.length > 0 ? ` (the controller's, bin/clawops: ${CONTROLLER_FLAGS.join(' ')})` : ''}`);
  out.push(`machine: ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), load average ${load0} at start, ${load1} at end; node ${process.version}`);
  out.push(line(rows[0]!));
  for (const r of rows.slice(1)) out.push(line(r));
  out.push('');
  for (const r of results) {
    out.push(
      `${r.nodes} nodes (${r.runtime}): RSS after loading modules ${r.baselineRssMb.toFixed(0)} MB, after each pass ${r.passes.map((p) => p.rssMb.toFixed(0)).join('/')} MB; heap used at the end ${r.heapUsedMb.toFixed(0)} MB; ` +
        `${(r.bytesPerNode / 1024).toFixed(0)} KiB observed a node a pass; status view ${fmt(r.viewS)} s (${(r.statusBytes / 1024).toFixed(0)} KiB JSON); ` +
        `at the RSS peak: V8 heap ${r.atPeak.heapUsed ?? '?'} MB used of ${r.atPeak.heapTotal ?? '?'} MB, off-heap ${r.atPeak.external ?? '?'} MB; observe commands per pass ${r.commands.join('/')}, health commands ${r.healthChecks.join('/')}; states ${Object.entries(r.states).map(([k, v]) => `${k} ${v}`).join(', ')}; ${r.logLines} log lines`,
    );
  }
  out.push(`targets (issue 12): peak RSS < 150 MB at 500 nodes, < 400 MB at 2,000  ${pass ? 'PASS' : 'MISS'}`);
  process.stdout.write(`${out.join('\n')}\n`);
  log(`total ${fmt((performance.now() - tStart) / 1000)} s`);
  return pass || !STRICT ? 0 : 1;
}

const cleanup: string[] = [];
/** the parent's scratch dir, where children make theirs */
let WORK = tmpdir();
await runBenchMain(
  'scale-bench',
  parent,
  async () => {
    for (const d of cleanup) rmSync(d, { recursive: true, force: true });
  },
  log,
);
