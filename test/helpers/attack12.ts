/**
 * Shared by the adversarial run 12 files (test/notifier/notifier-attacks-12.test.ts, test/probe/probe-attacks-12.test.ts,
 * test/controller/server-attacks-12.test.ts, test/controller/services-attacks-14.test.ts): the controller's server with
 * a webhook secret, raw bytes to an HTTP port (for request shapes no client library sends),
 * a long-running `bin/clawops` child that is always killed, and small waits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startServer, type ServerHandle } from '../../reconciler/controller/server.js';
import { pageFleetStatus, silentLog } from '../status/fixtures.js';
import { freePort } from './ports.js';
import { REPO_ROOT } from './repo.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RawAnswer {
  /** everything the server sent (latin1) */
  text: string;
  /** the status code of the first response, 0 when none came */
  status: number;
  /** the server closed the connection (else we gave up after `timeoutMs`) */
  closed: boolean;
  /** the connection failed (refused, reset) */
  error: string | null;
  ms: number;
}

/**
 * Write `payload` to host:port as it is, then collect what comes back until the server closes or `timeoutMs` passed
 * (`endAfterWrite` half-closes our side after writing).
 */
export function rawHttp(port: number, payload: string | Buffer, timeoutMs = 3000, opts: { endAfterWrite?: boolean; host?: string } = {}): Promise<RawAnswer> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const c = connect(port, opts.host ?? '127.0.0.1');
    const parts: Buffer[] = [];
    let error: string | null = null;
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      c.destroy();
      const text = Buffer.concat(parts).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ text, status: m ? Number(m[1]) : 0, closed, error, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    c.on('connect', () => {
      if (opts.endAfterWrite) c.end(payload);
      else c.write(payload);
    });
    c.on('data', (d: Buffer) => parts.push(d));
    c.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    c.on('close', () => finish(true));
  });
}

/** GET with a hard deadline: the status and body, or null when nothing answered in time. */
export async function getWithin(url: string, ms: number, init: RequestInit = {}): Promise<{ status: number; body: string } | null> {
  try {
    const r = await fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
    return { status: r.status, body: await r.text() };
  } catch {
    return null;
  }
}

export interface Child {
  child: ChildProcess;
  stderr(): string;
  stdout(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  /** SIGKILL the child (and its process group), idempotent */
  kill(): void;
}

/** `bin/clawops <args>` in its own process group, for tests that must be able to kill whatever it became. */
export function spawnClawops(args: string[], env: NodeJS.ProcessEnv = process.env): Child {
  const child = spawn(join(REPO_ROOT, 'bin/clawops'), args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  let gone = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      gone = true;
      resolve({ code, signal });
    }),
  );
  return {
    child,
    stderr: () => err,
    stdout: () => out,
    exited,
    alive: () => !gone && child.exitCode === null && child.signalCode === null,
    kill: () => {
      if (gone || child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        try {
          child.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }
    },
  };
}

/** Wait until the child logged a line whose msg ends with `listening` (pino JSON on stderr). */
export async function untilListening(c: Child, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (/"msg":"[^"]*listening"/.test(c.stderr())) return;
    if (!c.alive()) throw new Error(`exited before listening: ${c.stderr().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`not listening after ${ms} ms: ${c.stderr().slice(-2000)}`);
    await sleep(25);
  }
}

/**
 * The controller's HTTP server on a free loopback port for a describe block, with the git webhook's secret `secret`:
 * its port, and the pass triggers it asked for (emptied after each test).
 */
export function useHookServer(secret: string): { port: () => number; triggers: string[] } {
  let server: ServerHandle | undefined;
  const triggers: string[] = [];
  beforeAll(async () => {
    const doc = pageFleetStatus();
    server = await startServer({ host: '127.0.0.1', port: await freePort() }, { status: () => doc, alive: () => true, trigger: (r) => triggers.push(r), secret: Buffer.from(secret), log: silentLog() });
  });
  afterAll(async () => {
    await server?.close();
  });
  afterEach(() => {
    triggers.length = 0;
  });
  return { port: () => server!.address.port, triggers };
}
