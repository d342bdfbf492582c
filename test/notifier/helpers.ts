/** Shared helpers for the notifier and probe tests: temp dirs, an in-memory pino logger, socket writers, waits. */
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import { runCli } from '../helpers/repo.js';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createLogger } from '../../reconciler/notifier/logger.js';
import { REPO_ROOT } from '../helpers/repo.js';

export function tmp(prefix: string): string {
  // short paths: a UNIX socket path must stay under ~104 bytes (macOS) / 108 (Linux)
  return mkdtempSync(join(tmpdir(), `co-${prefix}-`));
}

/** A pino logger (debug level) that keeps every line in memory, plus the raw text for secret checks. */
export function memLogger(): { logger: Logger; lines: Record<string, unknown>[]; text: () => string } {
  const raw: string[] = [];
  const logger = createLogger('test', { write: (s: string) => void raw.push(s) }, 'debug');
  return {
    logger,
    get lines() {
      return raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    text: () => raw.join(''),
  };
}

export interface FailureFields {
  tenant?: string;
  endpoint?: string;
  status?: number | 'timeout' | 'network';
  time?: string;
  delivery_id?: string;
}

let seq = 0;
export function failureLine(f: FailureFields = {}): string {
  seq++;
  return JSON.stringify({
    tenant: f.tenant ?? 'acme',
    endpoint: f.endpoint ?? 'https://canary.example.com/hooks/agent',
    status: f.status ?? 503,
    time: f.time ?? '2026-11-25T12:00:00.000Z',
    delivery_id: f.delivery_id ?? `d-${seq}`,
  });
}

/** Connect, write everything, half-close, wait until the server has closed its side. */
export function sendRaw(socketPath: string, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = connect(socketPath);
    c.on('error', reject);
    c.on('connect', () => {
      c.end(data);
    });
    c.on('close', () => resolve());
    c.resume();
  });
}

export function sendLines(socketPath: string, lines: string[]): Promise<void> {
  return sendRaw(socketPath, lines.map((l) => `${l}\n`).join(''));
}

export async function waitFor<T>(probe: () => T | Promise<T>, what: string, timeoutMs = 5000, everyMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (last) return last as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A tiny HTTP server whose handler the test can swap; records every request. */
export interface FakeHttp {
  url: string;
  requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];
  handler: (req: IncomingMessage, body: string, res: ServerResponse) => void;
  close(): Promise<void>;
}

export async function fakeHttp(handler: FakeHttp['handler']): Promise<FakeHttp> {
  const fake: FakeHttp = {
    url: '',
    requests: [],
    handler,
    close: () => Promise.resolve(),
  };
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('utf8');
      fake.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      fake.handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return fake;
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** `./bin/clawops …` as a real process; stderr is pino JSON plus at most one error line. */
export interface CliProc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** the `listen` URL from the "… listening" log line */
  listening: () => Promise<string>;
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = process.env): CliProc {
  const child = spawn(join(REPO_ROOT, 'bin/clawops'), args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    listening: () =>
      waitFor(
        () => {
          for (const l of err.split('\n')) {
            if (!l.startsWith('{')) continue;
            const o = JSON.parse(l) as { msg?: string; listen?: string };
            if (o.msg?.endsWith('listening') && typeof o.listen === 'string') return o.listen;
          }
          if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before listening: ${err}`);
          return undefined;
        },
        'the listening log line',
        15_000,
        25,
      ),
  };
}

/** Run the CLI to completion. */
export async function runCliProc(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnCli(args, env);
  const { code } = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/**
 * Each case must fail with exit 2 and exactly one line on stderr matching its pattern, nothing on stdout, and never
 * print `secret`. The cases at indexes `spawned` run as real processes (process exit codes), the rest through main().
 */
export async function expectUsageErrors(cases: [string[], RegExp][], spawned: number[], secret?: string): Promise<void> {
  const runs = await Promise.all(cases.map(([args], i) => (spawned.includes(i) ? runCliProc(args) : runCli(args))));
  runs.forEach((r, i) => {
    const [args, want] = cases[i]!;
    expect(r.code, args.join(' ')).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines, args.join(' ')).toHaveLength(1);
    expect(lines[0]).toMatch(want);
    if (secret !== undefined) expect(r.stderr).not.toContain(secret);
    expect(r.stdout).toBe('');
  });
}
