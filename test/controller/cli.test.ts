/**
 * `clawops controller` as a process: start-up errors are one line and exit 2; a running controller logs pino JSON
 * with a reconcile id, answers /healthz and /status, refuses a second controller on its state dir (naming its pid),
 * and exits 0 on SIGTERM, releasing the state dir. suspend/resume through the CLI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openclawCache } from '../helpers/openclaw.js';
import { EXAMPLE, REPO_ROOT, runCli } from '../helpers/repo.js';
import { clawopsYaml, makeLocalNodes, makeOrigin } from './helpers.js';

const TSX = join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs');
const CLI = join(REPO_ROOT, 'reconciler/cli.ts');

function getJson(port: number, path: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (res) => {
      let s = '';
      res.on('data', (c: Buffer) => (s += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(s) as Record<string, unknown> }));
    }).on('error', reject);
  });
}

describe('clawops controller: usage and start-up errors', () => {
  it.each([
    [['controller', 'run', '--repo', '/nonexistent/infra', '--state-dir', '/tmp/x'], 'clawops: --repo /nonexistent/infra: no such directory (and not a git URL)'],
    [['controller', 'run', '--repo', '.', '--state-dir', '/tmp/x', '--interval', 'soon'], 'clawops: --interval "soon": expected a duration like 60s, 5m or 1h'],
    [['controller', 'run', '--repo', '.', '--state-dir', '/tmp/x', '--listen', 'nope'], 'clawops: --listen "nope": expected host:port, e.g. 127.0.0.1:9099'],
    [['controller', 'run', '--repo', '.', '--state-dir', '/tmp/x', '--webhook-secret-file', '/nonexistent'], 'clawops: --webhook-secret-file needs --listen'],
    [['controller', 'run', '--repo', '.', '--state-dir', '/tmp/x', '--listen', '127.0.0.1:0', '--webhook-secret-file', '/nonexistent/secret'], 'clawops: --webhook-secret-file /nonexistent/secret: ENOENT'],
    [['controller', 'run', '--repo', '.', '--state-dir', '/tmp/x', '--identity', '/nonexistent/id'], 'clawops: --identity /nonexistent/id: cannot read (ENOENT)'],
    [['controller', 'suspend', '--state-dir', '/nonexistent/state'], 'clawops: --state-dir /nonexistent/state: no such directory'],
  ])('%j', async (args, line) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${line}\n`);
  });

  it('--mode takes auto|observe only', async () => {
    const r = await runCli(['controller', 'run', '--repo', '.', '--state-dir', '/tmp/x', '--mode', 'yolo']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/argument 'yolo' is invalid. Allowed choices are auto, observe/);
  });

  it('suspend and resume persist in the state dir', async () => {
    const d = mkdtempSync(join(tmpdir(), 'clawops-ctl-cli-'));
    expect((await runCli(['controller', 'suspend', '--state-dir', d, '--node', 'gw-2'])).stdout).toBe('suspended node(s) gw-2; suspended nodes: gw-2\n');
    expect((await runCli(['controller', 'suspend', '--state-dir', d])).stdout).toBe('suspended the controller (the whole controller is suspended); suspended nodes: gw-2\n');
    expect(JSON.parse(readFileSync(join(d, 'suspend.json'), 'utf8'))).toEqual({ all: true, nodes: ['gw-2'] });
    expect((await runCli(['controller', 'resume', '--state-dir', d])).stdout).toBe('resumed the controller; suspended nodes: gw-2\n');
    expect((await runCli(['controller', 'resume', '--state-dir', d, '--node', 'gw-2'])).stdout).toBe('resumed node(s) gw-2\n');
    expect(JSON.parse(readFileSync(join(d, 'suspend.json'), 'utf8'))).toEqual({ all: false, nodes: [] });
  });
});

describe.skipIf(!openclawCache())('clawops controller run as a process', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('serves /healthz and /status, refuses a second controller, exits 0 on SIGTERM and releases the state dir', async () => {
    const nodes = makeLocalNodes(['gw-1', 'gw-2'], []);
    const origin = makeOrigin({
      'clawops.yaml': clawopsYaml(readFileSync(join(EXAMPLE, 'clawops.yaml'), 'utf8')),
      'nodes.yaml': nodes.nodesYaml([{ name: 'gw-1', canary: true, tenants: [] }, { name: 'gw-2', tenants: [] }]),
    });
    const state = mkdtempSync(join(tmpdir(), 'clawops-ctl-proc-'));
    const secret = join(state, '..', `hook-secret-${process.pid}`);
    writeFileSync(secret, 's3cret\n', { mode: 0o600 });
    const child = spawn(process.execPath, ['--import', TSX, CLI, 'controller', 'run', '--repo', origin.bare, '--state-dir', state, '--listen', '127.0.0.1:0', '--webhook-secret-file', secret, '--interval', '1h'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CLAWOPS_LOG_LEVEL: 'info' },
    });
    children.push(child);
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const lines = (): Record<string, unknown>[] => err.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const end = Date.now() + 30_000;
    while (!lines().some((l) => String(l.msg).match(/^reconcile .* done/))) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`controller did not finish a pass: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const listening = lines().find((l) => l.msg === 'listening')!;
    const port = Number(String(listening.listen).split(':')[1]);
    expect(port).toBeGreaterThan(0);
    const pass = lines().filter((l) => l.reconcile !== undefined);
    expect(new Set(pass.map((l) => l.reconcile)).size).toBe(1);
    expect(pass.every((l) => l.name === 'clawops-controller' && typeof l.time === 'number')).toBe(true);

    expect(await getJson(port, '/healthz')).toMatchObject({ status: 200, json: { ok: true } });
    const st = await getJson(port, '/status');
    expect(st.json).toMatchObject({ schemaVersion: 2, passes: 1, controller: { pid: child.pid, mode: 'auto' }, lastPass: { outcome: 'ok' } });

    const second = await runCli(['controller', 'run', '--repo', origin.bare, '--state-dir', state]);
    expect(second.code).toBe(2);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toMatch(new RegExp(`^clawops: state dir ${state} is in use by controller pid ${child.pid} `));

    // an impatient operator (or a supervisor and a person): a second SIGTERM while it stops is not a kill
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    child.kill('SIGTERM');
    child.kill('SIGTERM');
    const code = await exited;
    expect(code).toBe(0);
    expect(lines().some((l) => l.msg === 'controller stopped')).toBe(true);
    expect(existsSync(join(state, 'controller.lock'))).toBe(false);
    expect(JSON.parse(readFileSync(join(state, 'status.json'), 'utf8'))).toMatchObject({ passes: 1 });
  }, 60_000);
});
