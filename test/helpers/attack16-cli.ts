/**
 * Adversarial run 16 (the CLI surface): repos whose nodes sit on a loopback port this test holds (no sshd fleet), a
 * committed copy of tenants-example, and bin/clawops as a real child process (exit codes, EPIPE, cwd), always reaped.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { holdPort } from './ports.js';
import { exampleRepo, REPO_ROOT, type Edit } from './repo.js';

/**
 * A loopback port held by this test: `hang` accepts and says nothing (an ssh login then waits for the banner),
 * `reset` drops every connection at once (a node that is down, without a race for a freed port).
 */
export async function heldPort(kind: 'hang' | 'reset'): Promise<{ port: number; close: () => Promise<void> }> {
  const open = new Set<Socket>();
  const { server, port } = await holdPort((s) => {
    s.on('error', () => undefined);
    if (kind === 'reset') s.destroy();
    else {
      open.add(s);
      s.on('close', () => open.delete(s));
    }
  });
  return { port, close: () => closeServer(server, open) };
}

function closeServer(server: Server, open: Set<Socket>): Promise<void> {
  for (const s of open) s.destroy();
  return new Promise((r) => server.close(() => r()));
}

/** tenants-example with every node on 127.0.0.1:`port` and a 1 s ssh connect timeout. */
export function loopbackRepo(port: number, edits: Record<string, Edit> = {}): string {
  const dir = exampleRepo(edits);
  const nodes = join(dir, 'nodes.yaml');
  writeFileSync(nodes, readFileSync(nodes, 'utf8').replace(/host: \S+\.mac\.example\.internal/g, `host: 127.0.0.1\n    port: ${port}`));
  const settings = join(dir, 'clawops.yaml');
  writeFileSync(settings, readFileSync(settings, 'utf8').replace(/connect_timeout_ms: \d+/, 'connect_timeout_ms: 1000'));
  return dir;
}

export function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, '-c', 'user.email=t@example.invalid', '-c', 'user.name=t', '-c', 'commit.gpgsign=false', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** `dir` made a git repo on main with everything committed; returns the commit. */
export function commitAll(dir: string, message = 'c'): string {
  try {
    git(dir, 'rev-parse', '--git-dir');
  } catch {
    git(dir, 'init', '-q', '-b', 'main');
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '--allow-empty', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

export interface BinRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** the child was still running at the deadline and was killed */
  killed: boolean;
}

/**
 * bin/clawops as a process. `closeStdout`: our end of its stdout pipe is closed at once (before it writes: a reader
 * like `head` that went away). The child is SIGKILLed at `deadlineMs` if it is still running.
 */
export function runBin(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; closeStdout?: boolean; deadlineMs?: number } = {}): Promise<BinRun> {
  const child = spawn(join(REPO_ROOT, 'bin/clawops'), args, { cwd: opts.cwd ?? REPO_ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let killed = false;
  if (opts.closeStdout) child.stdout!.destroy();
  else child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, opts.deadlineMs ?? 8_000);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killed });
    }),
  );
}

/** stderr's non-empty lines */
export function errLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l !== '');
}
