/**
 * `clawops status` against a state dir written by the store module and against a controller's listener: exit codes,
 * text, JSON, --node, and every bad source as one line with exit 2 (state dir missing or unreadable, a store of
 * another schema, a controller that is not there or is not a controller).
 */
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type ServerHandle } from '../../reconciler/controller/server.js';
import { STATUS_SCHEMA_VERSION, type StatusDoc } from '../../reconciler/controller/status.js';
import { readStatus, writeStatus } from '../../reconciler/controller/store.js';
import { statusUrl } from '../../reconciler/commands/status.js';
import type { StatusView } from '../../reconciler/report/status-model.js';
import { runCli } from '../helpers/repo.js';
import { C2, closedPort, freshFleetStatus, rec, schema1, silentLog, stateDir, stored } from './fixtures.js';

function allSynced(): StatusDoc {
  const d = freshFleetStatus();
  d.nodes = { 'gw-1': { ...rec('gw-1'), lastTransition: d.lastPass!.finishedAt!, lastPass: d.lastPass!.id }, 'gw-2': { ...rec('gw-2'), lastPass: d.lastPass!.id } };
  return d;
}

describe('clawops status --state-dir', () => {
  it('all Synced and healthy: exit 0, one summary line and the Synced nodes folded into one line', async () => {
    const r = await runCli(['status', '--state-dir', await stateDir(allSynced())]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('\n2 node(s): 2 Synced\n\nSynced: gw-1, gw-2\n\nAll nodes Synced and healthy\n');
  });

  it('a fleet with Gated, RolledBack and Unreachable nodes: exit 1, a block per node in triage order, the next steps', async () => {
    const dir = await stateDir(freshFleetStatus());
    const r = await runCli(['status', '--state-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n')[0]).toBe(`clawops status  state-dir ${dir} · auto · repo git@git.example.internal:infra.git`);
    expect(r.stdout).toContain('\n8 node(s): 1 RolledBack, 1 Unreachable, 1 Blocked, 1 Degraded, 1 Gated, 1 Progressing, 2 Synced\n');
    expect(r.stdout).toMatch(/\nUnreachable\n {2}gw-4 \[gateway\] Unreachable: Unreachable since .*\n {4}why {5}gw-4: connect ECONNREFUSED 10\.0\.0\.4:22\n/);
    expect(r.stdout).toMatch(/\nProbe\n {2}gw-3 \[gateway\] RolledBack: RolledBack since /);
    expect(r.stdout).toContain(`    next    gated: waiting for canary gw-1 green 1/2 on ${C2.slice(0, 7)}\n`);
    expect(r.stdout).toContain('\nSynced: gw-1, gw-8\n');
    expect(r.stdout.indexOf('\nUnreachable\n')).toBeLessThan(r.stdout.indexOf('\nDirectory drift\n'));
    expect(r.stdout.indexOf('\nVersion skew\n')).toBeLessThan(r.stdout.indexOf('\nProbe\n'));
  });

  it('--node shows only those nodes; --json is the model with its documented names', async () => {
    const dir = await stateDir(freshFleetStatus());
    const one = await runCli(['status', '--state-dir', dir, '--node', 'gw-2']);
    expect(one.code).toBe(1);
    expect(one.stdout).toContain('\n1 node(s): 1 Gated\n');
    expect(one.stdout).not.toMatch(/gw-[345678]/);
    const green = await runCli(['status', '--state-dir', dir, '--node', 'gw-1', '--node', 'gw-8']);
    expect(green.code).toBe(0);
    const j = await runCli(['status', '--state-dir', dir, '--json']);
    expect(j.code).toBe(1);
    const v = JSON.parse(j.stdout) as StatusView;
    expect(v).toMatchObject({ kind: 'clawops.status', version: 1, ok: false, from: { kind: 'state-dir', where: dir }, summary: { total: 8, worst: 'RolledBack' } });
    expect(v.nodes.map((n) => n.node)).toEqual(['gw-3', 'gw-4', 'gw-5', 'gw-7', 'gw-2', 'gw-6', 'gw-1', 'gw-8']);
    expect(v.nodes.find((n) => n.node === 'gw-2')?.next).toBe(`gated: waiting for canary gw-1 green 1/2 on ${C2.slice(0, 7)}`);
  });

  it('a store written long ago (controller not running) is not green: exit 1 and says so', async () => {
    const d = allSynced();
    d.lastPass!.finishedAt = new Date(Date.now() - 3_600_000).toISOString();
    const r = await runCli(['status', '--state-dir', await stateDir(d)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\n! status is 60 min old \(last pass .*\): is the controller running\?\n/);
  });

  it('a store from an older build (collections missing) is read', async () => {
    const d = allSynced() as Partial<StatusDoc>;
    delete d.commits;
    delete d.nodes;
    const r = await runCli(['status', '--state-dir', await stateDir(JSON.stringify(d))]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('\n! no node status yet (has the controller finished a pass?)\n');
  });

  it('a schema-1 store (an older clawops) is read: its last pass starts the history, counting starts from it', async () => {
    const d = freshFleetStatus();
    const dir = await stateDir(schema1(d));
    const r = await runCli(['status', '--state-dir', dir, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const v = JSON.parse(r.stdout) as StatusView;
    expect(v.summary.total).toBe(8);
    expect(v.passes.map((p) => p.id)).toEqual([d.lastPass!.id]);
    expect(v.passes[0]!.changes).toEqual([expect.stringMatching(/^gw-6: Progressing/)]);
    // read as schema 2 in memory; the file is left as it was until a controller writes it
    const back = await readStatus(dir);
    expect(back).toMatchObject({ schemaVersion: 1, history: [{ id: d.lastPass!.id, baseline: true }], counters: { passes: {}, fetchErrors: 0 } });
    expect(JSON.parse(readFileSync(join(dir, 'status.json'), 'utf8'))).not.toHaveProperty('history');
    // the next write records the following pass and counts it (the baseline pass is not counted)
    back!.lastPass = { id: 'p-next', startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), outcome: 'ok', durationMs: 10 };
    await writeStatus(dir, { ...back!, schemaVersion: STATUS_SCHEMA_VERSION });
    const again = await readStatus(dir);
    expect(again?.schemaVersion).toBe(2);
    expect(again?.history.map((h) => h.id)).toEqual(['p-next', d.lastPass!.id]);
    expect(again?.counters.passes).toEqual({ ok: 1 });
  });

  it('the store keeps the last passes: the text and JSON list them newest first, each with what it changed', async () => {
    const d = stored(freshFleetStatus());
    const t = new Date().toISOString();
    d.lastPass = { id: 'p-next', startedAt: t, finishedAt: t, outcome: 'ok', durationMs: 2100 };
    d.nodes['gw-2'] = { ...rec('gw-2'), state: 'Progressing', reason: 'Applied', message: 'applied release/2', lastPass: 'p-next', lastTransition: t };
    const dir = await stateDir(d);
    const v = JSON.parse((await runCli(['status', '--state-dir', dir, '--json'])).stdout) as StatusView;
    expect(v.passes.map((p) => p.id)).toEqual(['p-next', 'r20261128t123000-aaaaaa']);
    expect(v.passes[0]!.changes).toEqual(['gw-2: Gated → Progressing (applied release/2) · applied']);
    expect(v.passes[0]!.nodes).toEqual([{ node: 'gw-2', from: 'Gated', to: 'Progressing', reason: 'Applied', message: 'applied release/2', apply: 'applied' }]);
  });

  it.each<[string, () => Promise<string>, RegExp]>([
    ['missing', async () => join(tmpdir(), 'clawops-no-such-state-dir'), /^clawops: --state-dir \S+clawops-no-such-state-dir: no such directory\n$/],
    ['a file, not a dir', async () => { const f = join(mkdtempSync(join(tmpdir(), 'clawops-status-')), 'f'); writeFileSync(f, ''); return f; }, /^clawops: --state-dir \S+\/f: not a directory\n$/],
    ['without status.json', async () => stateDir(undefined), /^clawops: --state-dir \S+: no \S+status\.json \(has a controller run with this state dir\?\)\n$/],
    ['status.json unreadable (a directory)', async () => { const d = await stateDir(undefined); mkdirSync(join(d, 'status.json')); return d; }, /^clawops: --state-dir \S+: cannot read \S+status\.json: not a regular file; never read\n$/],
    ['status.json not JSON', async () => stateDir('{"schemaVersion": 1, '), /^clawops: --state-dir \S+: cannot read \S+status\.json: not valid JSON\n$/],
    ['a newer schema', async () => stateDir(JSON.stringify({ ...allSynced(), schemaVersion: 99 })), /^clawops: \S+status\.json: written by a newer clawops \(status schema 99, this one reads up to 2\); upgrade clawops or use another --state-dir\n$/],
    ['an older schema it cannot read', async () => stateDir(JSON.stringify({ ...allSynced(), schemaVersion: 0 })), /^clawops: \S+status\.json: status schema 0 is too old to read; move it away/],
    ['not a status file', async () => stateDir('{"nodes": []}'), /^clawops: \S+status\.json: not a clawops controller status file \(no schemaVersion\)/],
  ])('state dir %s: one line naming it, exit 2', async (_n, make, want) => {
    const r = await runCli(['status', '--state-dir', await make()]);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(want);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.code).toBe(2);
  });

  it.each([
    [[], /^clawops: where is the status\? give --controller URL, --state-dir DIR or --repo R\n$/],
    [['--state-dir', '/x', '--controller', 'http://127.0.0.1:1'], /^clawops: give one of --controller, --state-dir and --repo\n$/],
    [['--state-dir', '/x', '--ref', 'v1'], /^clawops: --ref goes with --repo\n$/],
    [['--controller', 'ftp://host'], /^clawops: --controller ftp:\/\/host: want an http:\/\/ or https:\/\/ URL\n$/],
    [['--controller', 'http://127.0.0.1:1', '--timeout', '0'], /^clawops: --timeout 0: want seconds, 1 to 600\n$/],
  ])('usage %j: exit 2', async (args, want) => {
    const r = await runCli(['status', ...args]);
    expect(r.stderr).toMatch(want);
    expect(r.code).toBe(2);
  });

  it('--node that has no status: exit 2 listing the known ones', async () => {
    const r = await runCli(['status', '--state-dir', await stateDir(allSynced()), '--node', 'gw-9']);
    expect(r.stderr).toBe('clawops: --node gw-9: no status for it (known: gw-1, gw-2)\n');
    expect(r.code).toBe(2);
  });
});

describe('clawops status --controller', () => {
  let ctl: ServerHandle;
  let plain: Server;
  let doc: StatusDoc;
  beforeAll(async () => {
    doc = freshFleetStatus();
    ctl = await startServer({ host: '127.0.0.1', port: 0 }, { status: () => doc, alive: () => true, trigger: () => undefined, log: silentLog() });
    plain = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>not a controller</html>');
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    await ctl.close();
    await new Promise<void>((r) => plain.close(() => r()));
  });

  it('reads GET /status: the same model and text as from the state dir', async () => {
    const url = `http://127.0.0.1:${ctl.address.port}`;
    const r = await runCli(['status', '--controller', url]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const fromDir = await runCli(['status', '--state-dir', await stateDir(doc)]);
    const body = (s: string): string => s.split('\n').slice(1).join('\n').replace(/\d+ (s|min) ago/g, 'T ago');
    expect(body(r.stdout)).toBe(body(fromDir.stdout));
    expect(r.stdout.split('\n')[0]).toBe(`clawops status  controller ${url} · auto · repo git@git.example.internal:infra.git`);
    // host:port alone, or the /status URL itself, work too
    expect((await runCli(['status', '--controller', `127.0.0.1:${ctl.address.port}`, '--node', 'gw-1'])).code).toBe(0);
    expect((await runCli(['status', '--controller', `${url}/status`, '--node', 'gw-1'])).code).toBe(0);
  });

  it('a controller that is not there: exit 2 naming the URL', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = await runCli(['status', '--controller', url]);
    expect(r.stderr).toBe(`clawops: --controller ${url}: unreachable (ECONNREFUSED)\n`);
    expect(r.code).toBe(2);
  });

  it('something that is not a controller: exit 2 naming the URL', async () => {
    const notFound = await runCli(['status', '--controller', `http://127.0.0.1:${ctl.address.port}/prefix`]);
    expect(notFound.stderr).toBe(`clawops: --controller http://127.0.0.1:${ctl.address.port}/prefix: http://127.0.0.1:${ctl.address.port}/prefix/status answered HTTP 404 (is it a clawops controller's --listen?)\n`);
    expect(notFound.code).toBe(2);
    const html = await runCli(['status', '--controller', `http://127.0.0.1:${(plain.address() as AddressInfo).port}`]);
    expect(html.stderr).toMatch(/: http:\/\/127\.0\.0\.1:\d+\/status did not answer JSON \(is it a clawops controller's --listen\?\)\n$/);
    expect(html.code).toBe(2);
  });

  it('a controller of a newer schema: refused with a clear message', async () => {
    const saved = doc;
    doc = { ...doc, schemaVersion: 7 };
    try {
      const r = await runCli(['status', '--controller', `http://127.0.0.1:${ctl.address.port}`]);
      expect(r.stderr).toMatch(/^clawops: http:\/\/127\.0\.0\.1:\d+\/status: written by a newer clawops \(status schema 7, this one reads up to 2\)/);
      expect(r.code).toBe(2);
    } finally {
      doc = saved;
    }
  });

  it('statusUrl', () => {
    expect(statusUrl('http://h:8440').href).toBe('http://h:8440/status');
    expect(statusUrl('http://h:8440/').href).toBe('http://h:8440/status');
    expect(statusUrl('h:8440').href).toBe('http://h:8440/status');
    expect(statusUrl('https://ops.example/clawops/?x=1#y').href).toBe('https://ops.example/clawops/status');
  });
});
