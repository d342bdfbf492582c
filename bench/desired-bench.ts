/**
 * The desired-state build (read the repo, parse, validate, merge, render), two shapes:
 *
 * - default: lint + render of a generated infra repo, 1,000 tenants × 20 fragments, in this process (target < 3 s).
 *     npx tsx bench/desired-bench.ts [tenants] [fragments]          (make bench runs it)
 * - --diff-shape: the repo diff-bench deploys (10 tenants × 20 fragments from bench/lib/infra-repo.ts, 20 nodes with
 *   every tenant), built the way the one-shot CLI builds it: in a fresh node process each run, on compiled JS, so module
 *   loading and a cold JIT count (this is the "desired state built" stage of `CLAWOPS_TIMING=1 clawops diff`, without
 *   the git commands and ssh logins that overlap it there). Each run reports its phases' wall and CPU time; medians.
 *     npx tsx bench/desired-bench.ts --diff-shape [--runs 9] [--dist DIR] [--before DIR]
 *   --dist DIR    a compiled tree to time (DIR/reconciler/desired/build-desired.js); default: the working tree,
 *                 compiled to a private dir (as `make build` does, without touching dist/)
 *   --before DIR  also time this compiled tree (an earlier commit's), alternating with --dist, ratios run by run
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDesired, hasErrors, PROFILE_PORT_SPACING } from '../reconciler/desired/build-desired.js';
import { readTree } from '../reconciler/source/read-tree.js';
import { tenantFragments, tenantIdsFor } from './lib/infra-repo.js';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

async function thousandTenants(tenants: number, fragments: number): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'clawops-bench-desired-'));
  try {
    for (const f of ['clawops.yaml', 'openclaw.lock']) cpSync(join(REPO_ROOT, 'tenants-example', f), join(root, f));
    const ids = Array.from({ length: tenants }, (_, i) => `tenant-${String(i).padStart(4, '0')}`);
    // 50 tenants a node, like a real dense Mac: base ports PROFILE_PORT_SPACING apart (lint nodes/port-overlap)
    const nodes = [];
    for (let n = 0; n * 50 < tenants; n++) nodes.push(`  - name: gw-${n}\n    host: gw-${n}.example\n    role: gateway\n    tenants: [${ids.slice(n * 50, n * 50 + 50).join(', ')}]\n`);
    writeFileSync(join(root, 'nodes.yaml'), `nodes:\n${nodes.join('')}`);
    ids.forEach((id, i) => {
      const port = 18789 + (i % 50) * PROFILE_PORT_SPACING;
      const gw = join(root, 'tenants', id, 'gateway.d');
      const dr = join(root, 'tenants', id, 'doctor.d');
      const wh = join(root, 'tenants', id, 'webhook.d');
      for (const d of [gw, dr, wh]) mkdirSync(d, { recursive: true });
      writeFileSync(join(gw, '10-base.yaml'), `gateway:\n  mode: local\n  port: ${port}\n  bind: loopback\n  auth:\n    mode: token\n    token: { secret_ref: token.current }\n`);
      writeFileSync(join(dr, '10-base.yaml'), 'doctor:\n  fail_on: error\n');
      writeFileSync(join(wh, '10-base.yaml'), `endpoints:\n  main:\n    url: https://hooks.${id}.example/openclaw\n`);
      for (let k = 3; k < fragments; k++) {
        writeFileSync(join(gw, `${String(20 + k).padStart(2, '0')}-part-${k}.yaml`), `agents:\n  list${k}:\n    setting: value-${k}\n    weight: ${k}\n`);
      }
    });
    const t0 = performance.now();
    const snap = await readTree(root);
    const t1 = performance.now();
    const state = buildDesired(snap);
    const t2 = performance.now();
    if (hasErrors(state)) throw new Error(`generated repo has findings: ${JSON.stringify(state.findings.slice(0, 3))}`);
    const total = (t2 - t0) / 1000;
    console.log(
      `desired: ${tenants} tenants × ${fragments} fragments (${snap.entries.size} entries): read ${((t1 - t0) / 1000).toFixed(2)} s, ` +
        `lint+merge+render ${((t2 - t1) / 1000).toFixed(2)} s, total ${total.toFixed(2)} s (target < 3 s) ${total < 3 ? 'OK' : 'SLOW'}`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** diff-bench's repo, without a fleet: the same tenants and fragments, 20 nodes on made-up hosts. */
function diffShapeRepo(dir: string): void {
  cpSync(join(REPO_ROOT, 'tenants-example'), dir, { recursive: true });
  for (const p of ['tenants', 'fixtures', 'launchd/probe.plist', 'launchd/notifier.plist']) rmSync(join(dir, p), { recursive: true, force: true });
  const ids = tenantIdsFor(10);
  const files: Record<string, string> = {};
  ids.forEach((id, i) => Object.assign(files, tenantFragments(id, i, 20)));
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
  const nodes = Array.from(
    { length: 20 },
    (_, i) => `  - name: gw-${String(i + 1).padStart(2, '0')}\n    host: 10.0.0.${i + 1}\n    port: 22\n    user: clawops\n    host_key: ${key}\n    role: gateway\n    port_offset: ${1000 + i * 400}\n    tenants: [${ids.join(', ')}]\n`,
  );
  files['nodes.yaml'] = `nodes:\n${nodes.join('')}`;
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
}

/** One cold build in a fresh process: what it prints is {import, read, build} × {wall, cpu} in ms and the tenant count. */
const CHILD = `
const c0 = process.cpuUsage(); const t0 = performance.now();
const [{ readTree }, { buildDesired, hasErrors }] = await Promise.all([
  import(process.argv[2] + '/reconciler/source/read-tree.js'),
  import(process.argv[2] + '/reconciler/desired/build-desired.js'),
]);
const c1 = process.cpuUsage(); const t1 = performance.now();
const snap = await readTree(process.argv[3]);
const c2 = process.cpuUsage(); const t2 = performance.now();
const d = buildDesired(snap);
const t3 = performance.now(); const c3 = process.cpuUsage();
if (hasErrors(d)) { console.error(JSON.stringify(d.findings.slice(0, 3))); process.exit(2); }
console.log(JSON.stringify({ tenants: d.tenants.size, wall: { import: t1 - t0, read: t2 - t1, build: t3 - t2 }, raw: [c0, c1, c2, c3] }));
`;

type Phases = { import: number; read: number; build: number };
function coldRun(dist: string, repo: string, script: string): { wall: Phases; cpu: Phases } {
  const r = spawnSync(process.execPath, [script, dist, repo], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${dist}: exit ${r.status}: ${r.stderr.slice(0, 1000)}`);
  const out = JSON.parse(r.stdout) as { tenants: number; wall: Phases; raw: { user: number; system: number }[] };
  if (out.tenants !== 10) throw new Error(`${dist}: ${out.tenants} tenants built, expected 10`);
  const [c0, c1, c2, c3] = out.raw.map((c) => (c.user + c.system) / 1000) as [number, number, number, number];
  // c0 is the CPU node had used before the first line ran (its own start-up): not ours to count
  return { wall: out.wall, cpu: { import: c1 - c0, read: c2 - c1, build: c3 - c2 } };
}

/** Compile the working tree to `dir` (as `make build` does, without touching the checkout's dist/). */
function privateBuild(dir: string): string {
  const r = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { encoding: 'utf8' });
  if (!existsSync(join(dir, 'dist', 'reconciler', 'desired', 'build-desired.js'))) throw new Error(`private build failed (exit ${r.status}):\n${(r.stdout + r.stderr).slice(0, 2000)}`);
  // package.json makes the .js files ESM (as in dist/); schemas/ is where a build before the generated validators read them
  copyFileSync(join(REPO_ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  symlinkSync(join(REPO_ROOT, 'schemas'), join(dir, 'schemas'));
  return join(dir, 'dist');
}

async function diffShape(): Promise<void> {
  const runs = Number(flag('--runs') ?? 9);
  const work = mkdtempSync(join(tmpdir(), 'clawops-bench-desired-'));
  try {
    const repo = join(work, 'repo');
    diffShapeRepo(repo);
    const dist = flag('--dist') !== undefined ? resolve(flag('--dist')!) : (console.error('[desired-bench] compiling the working tree to a private dir …'), privateBuild(join(work, 'build')));
    const before = flag('--before') !== undefined ? resolve(flag('--before')!) : undefined;
    const script = join(work, 'child.mjs');
    writeFileSync(script, CHILD);
    const load0 = loadavg();
    const a: { wall: Phases; cpu: Phases }[] = [];
    const b: { wall: Phases; cpu: Phases }[] = [];
    coldRun(dist, repo, script); // warm-up: the page cache, not the process
    if (before) coldRun(before, repo, script);
    for (let i = 0; i < runs; i++) {
      a.push(coldRun(dist, repo, script));
      if (before) b.push(coldRun(before, repo, script));
    }
    const load1 = loadavg();
    const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const ms = (x: number): string => `${x.toFixed(0).padStart(5)} ms`;
    const row = (what: string, rs: { wall: Phases; cpu: Phases }[]): string =>
      `${what.padEnd(10)} import ${ms(med(rs.map((r) => r.wall.import)))} (cpu ${ms(med(rs.map((r) => r.cpu.import)))})  read ${ms(med(rs.map((r) => r.wall.read)))}  ` +
      `build ${ms(med(rs.map((r) => r.wall.build)))} (cpu ${ms(med(rs.map((r) => r.cpu.build)))})  import+read+build ${ms(med(rs.map((r) => r.wall.import + r.wall.read + r.wall.build)))}`;
    console.log(`desired state, diff-bench's repo (10 tenants × 20 fragments, 20 nodes), a fresh process a run, median of ${runs}`);
    console.log(`load average ${load0.map((x) => x.toFixed(2)).join(' ')} → ${load1.map((x) => x.toFixed(2)).join(' ')}`);
    console.log(row('this', a));
    if (before) {
      console.log(row('before', b));
      const ratio = (f: (r: { wall: Phases; cpu: Phases }) => number): string => med(a.map((r, i) => f(r) / f(b[i]!))).toFixed(2);
      console.log(`this/before, run by run: build wall ${ratio((r) => r.wall.build)}, build cpu ${ratio((r) => r.cpu.build)}, import+read+build wall ${ratio((r) => r.wall.import + r.wall.read + r.wall.build)}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (args.includes('--diff-shape')) await diffShape();
else await thousandTenants(Number(args[0] ?? 1000), Number(args[1] ?? 20));
