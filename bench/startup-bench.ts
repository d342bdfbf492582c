/**
 * Start-up of the CLI (issue 12): `./bin/clawops --help` and `./bin/clawops lint tenants-example` from the compiled
 * dist/ (what an operator runs), each beside the floor every Node CLI pays, `node -e 0` on the same Node, measured in
 * turn in the same run (A, B, A, B … so that the machine's load hits both alike). Medians of --runs runs after one
 * warm-up each (the page cache filled).
 *
 * Targets: --help ≤ 0.15 s, lint of the example repo ≤ 0.4 s (wall time of the whole process, as the shell sees it).
 * What keeps them is structural and has its own test (test/cli/startup.test.ts: --help and lint import no fleet
 * command's modules); this script only times them.
 *
 * Run: npx tsx bench/startup-bench.ts [--runs 10] [--strict]
 * Exit: 0 (also when a target is missed, unless --strict: then 1), 2 when anything is wrong (a command fails).
 */
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDist } from './lib/dist.js';
import { argValue, median, run, runBenchMain } from './lib/proc.js';

const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');
const CLAWOPS = join(REPO_ROOT, 'bin', 'clawops');
const RUNS = Math.max(1, argValue('runs', 10));
const STRICT = process.argv.includes('--strict');

const log = (s: string): void => void process.stderr.write(`[startup-bench] ${s}\n`);
/** milliseconds matter here */
const fmt = (sec: number): string => sec.toFixed(3);

interface Case {
  what: string;
  cmd: string;
  args: string[];
  /** issue 12's target, seconds */
  target: number;
}

const CASES: Case[] = [
  { what: 'clawops --help', cmd: CLAWOPS, args: ['--help'], target: 0.15 },
  { what: 'clawops lint tenants-example', cmd: CLAWOPS, args: ['lint', join(REPO_ROOT, 'tenants-example')], target: 0.4 },
];

/** one timed run; a failure is an error of the bench, never a slow run */
async function timed(cmd: string, args: string[]): Promise<number> {
  const r = await run(cmd, args, { cwd: REPO_ROOT, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${[cmd, ...args].join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n')[0] ?? ''}`);
  return r.seconds;
}

async function bench(): Promise<number> {
  const load0 = loadavg().map((l) => l.toFixed(2)).join(' ');
  const mode = ensureDist(REPO_ROOT, log);
  const floor = { cmd: process.execPath, args: ['-e', '0'] };
  const out: string[] = ['', `start-up: median of ${RUNS} runs each, in turn with node -e 0 (${process.version}); bin/clawops runs ${mode}; ${cpus().length} CPUs, load average at start ${load0}`];
  let pass = true;
  for (const c of CASES) {
    await timed(c.cmd, c.args);
    await timed(floor.cmd, floor.args);
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      a.push(await timed(c.cmd, c.args));
      b.push(await timed(floor.cmd, floor.args));
    }
    const ma = median(a);
    const mb = median(b);
    const ok = ma <= c.target;
    pass &&= ok;
    out.push(`  ${c.what.padEnd(30)} ${fmt(ma)} s   node -e 0 ${fmt(mb)} s   ×${(ma / mb).toFixed(1)} the floor   target ≤ ${c.target} s  ${ok ? 'PASS' : `MISS by ${fmt(ma - c.target)} s`}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return pass || !STRICT ? 0 : 1;
}

await runBenchMain('startup-bench', bench, async () => undefined, log);
