/** Process and timing helpers shared by the fleet benchmarks (scripts, not tests). */
import { spawn, type ChildProcess } from 'node:child_process';

/** Children started by run() and still running: killed by the benchmarks' cleanup. */
export const children = new Set<ChildProcess>();

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
  killed: boolean;
}

/** Spawn in its own process group (so a stop takes its ssh children too); resolve with output and wall time. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd, detached: true });
    children.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let killed = false;
    const timer =
      opts.timeoutMs && opts.timeoutMs > 0
        ? setTimeout(() => {
            killed = true;
            killGroup(child);
          }, opts.timeoutMs)
        : undefined;
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      children.delete(child);
      if (timer) clearTimeout(timer);
      reject(e);
    });
    // Timed at exit: a grandchild that keeps the pipes open (an ssh ControlPersist master) must not count.
    let seconds = 0;
    let done = false;
    const finish = (code: number | null): void => {
      if (done) return;
      done = true;
      children.delete(child);
      if (timer) clearTimeout(timer);
      child.stdout!.destroy();
      child.stderr!.destroy();
      resolvePromise({ code: code ?? 137, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), seconds, killed });
    };
    child.on('exit', (code) => {
      seconds = (performance.now() - t0) / 1000;
      setTimeout(() => finish(code), 1000).unref();
    });
    child.on('close', (code) => finish(code));
  });
}

export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Run tasks with at most `limit` in flight. */
export async function pool<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const fmt = (s: number): string => s.toFixed(2);

export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `--name N` from argv (a number ≥ 0), `def` when absent or `auto`. */
export function argValue(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || process.argv[i + 1] === 'auto') return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a number ≥ 0`);
  return v;
}

/**
 * A bench script's life cycle: run `bench` (its result is the exit code; a throw is exit 2 with one line), and run
 * `cleanup` exactly once at the end or on SIGINT/SIGTERM (then exit 130), killing every child it started first.
 */
export async function runBenchMain(name: string, bench: () => Promise<number>, cleanup: () => Promise<void>, log: (s: string) => void): Promise<void> {
  let cleaning: Promise<void> | undefined;
  const once = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const c of children) killGroup(c);
      await cleanup();
    })());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      log(`${sig}: stopping the fleet …`);
      void once().finally(() => process.exit(130));
    });
  }
  try {
    process.exitCode = await bench();
  } catch (e) {
    process.stderr.write(`${name}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  } finally {
    await once();
  }
}
