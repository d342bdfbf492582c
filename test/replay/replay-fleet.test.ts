/**
 * `clawops replay` against a real sshd fleet node: the repo is applied with `clawops apply` (so the node has its
 * rendered webhook.json), the tenants' endpoints are a real HTTP receiver on loopback, and failures go to a real
 * notifier (the notifier service `clawops notifier serve` runs) listening on the node's socket path.
 */
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startNotifier, type NotifierHandle } from '../../reconciler/notifier/service.js';
import type { ReplayReport } from '../../reconciler/replay/replay.js';
import { chownToNodeUser, fleetAvailable, startFleet, type Fleet, type FleetNodeHandle } from '../fleet/fleet.js';
import { desiredOf, fleetRepo, placeAll } from '../helpers/fleet-repo.js';
import { openclawCache } from '../helpers/openclaw.js';
import { runCli } from '../helpers/repo.js';
import { seedSecrets } from '../helpers/secrets.js';
import { memLogger } from '../notifier/helpers.js';
import { startReceiver, type Receiver } from './receiver.js';
import { ACME_FIXTURE, ACME_PATH, allSecretValues, GLOBEX_FIXTURE, GLOBEX_PATH, receiverEdits, REPLAY_SECRETS, routeAsRecorded } from './setup.js';

const ready = fleetAvailable().ok && openclawCache() !== undefined;
const ASSIGNMENT = { 'gw-1': { role: 'gateway' as const, canary: true, tenants: ['acme', 'globex'] } };

interface DigestRow {
  tenant: string;
  endpoint: string;
  family: string;
  count: number;
  statuses: Record<string, number>;
}

describe.skipIf(!ready)('clawops replay from a real fleet node', () => {
  let fleet: Fleet;
  let gw1: FleetNodeHandle;
  let rcv: Receiver;
  let repo: string;
  let notifier: NotifierHandle | undefined;
  /** how the node got its releases: 'apply' (clawops apply) or 'laid out' (test/helpers/release.ts) */
  let deployedBy = 'apply';
  const key = (): string => fleet.clientKeyPath;
  const replay = (...extra: string[]) => runCli(['replay', '--repo', repo, '--node', 'gw-1', '--identity', key(), ...extra]);
  const socketPath = (): string => join(gw1.varDbOpenclaw, 'clawops', 'notifier.sock');
  const startNodeNotifier = async (): Promise<NotifierHandle> => {
    const n = await startNotifier({ socketPath: socketPath(), listen: { host: '127.0.0.1', port: 0 }, windowSec: 300, maxKeys: 1000, logger: memLogger().logger, tickMs: 50 });
    // the notifier runs as root here; on a Mac it runs as the gateways' user: give the node's login user its socket
    chownToNodeUser(socketPath());
    return n;
  };
  const digest = async (): Promise<{ total: number; top: DigestRow[] }> => {
    await notifier!.refresh();
    const res = await fetch(`${notifier!.http.url}/v1/webhook-digest`);
    return (await res.json()) as { total: number; top: DigestRow[] };
  };
  const noSecrets = (text: string): void => {
    for (const v of allSecretValues('gw-1')) expect(text).not.toContain(v);
  };

  beforeAll(async () => {
    fleet = await startFleet({ names: ['gw-1'], openclaw: true });
    gw1 = fleet.node('gw-1');
    rcv = await startReceiver({ findPeer: true });
    repo = fleetRepo(fleet, receiverEdits(rcv), ASSIGNMENT);
    await seedSecrets(gw1, ['acme', 'globex'], REPLAY_SECRETS);
    const applied = await runCli(['apply', '--repo', repo, '--identity', key(), '--yes']);
    if (applied.code !== 0) {
      // apply is shared code others may be changing; replay only needs the releases on the node
      deployedBy = 'laid out';
      console.warn(`[replay] clawops apply failed (exit ${applied.code}); laying the releases out with test/helpers/release.ts: ${(applied.stderr || applied.stdout).split('\n').filter(Boolean).slice(-3).join(' | ')}`);
      placeAll(fleet, desiredOf(repo));
    }
    notifier = await startNodeNotifier();
  }, 180_000);
  afterAll(async () => {
    await notifier?.close();
    await rcv?.close();
    await fleet?.stop();
  });
  beforeEach(() => {
    rcv.received.length = 0;
    rcv.routes.clear();
  });

  it('node has the rendered webhook.json of each tenant', async () => {
    const r = await gw1.exec('cat /etc/openclaw/tenants/acme/webhook.json');
    expect(r.code, deployedBy).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty('endpoints.crm.url', rcv.url(ACME_PATH));
  });

  it('all fixtures match: exit 0, one line each, sent by curl inside the node with the node-side secret, no secret printed', async () => {
    routeAsRecorded(rcv, 'gw-1');
    const r = await replay();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^Replay from gw-1 \(secret: current, run [0-9a-f]{8}\)$/);
    expect(lines[1]).toMatch(new RegExp(`^  acme +${ACME_FIXTURE.replace(/\./g, '\\.')} +127\\.0\\.0\\.1:${rcv.port} +expected 200 +got 200 +ok +\\d+ ms +\\d{4}-\\d\\d-\\d\\dT[\\d:]+Z$`));
    expect(lines[2]).toMatch(new RegExp(`^  globex +${GLOBEX_FIXTURE.replace(/\./g, '\\.')} +127\\.0\\.0\\.1:${rcv.port} +expected 503 +got 503 +ok `));
    expect(lines[3]).toBe('2 fixture(s): 2 matched, 0 failed, 0 error(s), 0 skipped.');
    noSecrets(r.stdout + r.stderr);

    expect(rcv.received).toHaveLength(2);
    // the sender of every request was curl, in the node's own mount namespace (the sshd node, not this process)
    const nodeNs = readlinkSync(`/proc/${gw1.sshdPid()!}/ns/mnt`);
    expect(nodeNs).not.toBe(readlinkSync('/proc/self/ns/mnt'));
    for (const req of rcv.received) {
      expect(req.peer, req.path).toMatchObject({ comm: 'curl', mntNs: nodeNs });
      expect(req.headers['user-agent']).toMatch(/^curl\//);
      expect(req.headers['x-clawops-replay']).toMatch(/^replay-[0-9a-f]{8}-dlv_/);
    }
    expect(rcv.received.find((x) => x.path === ACME_PATH)!.auth).toEqual({ ok: true, scheme: 'hmac', secret: 'current' });
    expect(rcv.received.find((x) => x.path === GLOBEX_PATH)!.auth).toEqual({ ok: true, scheme: 'bearer', secret: 'current' });
    expect(r.stdout).not.toContain('Notifier:');
  });

  it('the receiver answering 500 for one: exit 1 naming it, and each canary run lands in one summarized digest row', async () => {
    routeAsRecorded(rcv, 'gw-1', 'current', { acme: 500 });
    const before = (await digest()).total;
    const r = await replay();
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`acme +${ACME_FIXTURE.replace(/\./g, '\\.')} +127\\.0\\.0\\.1:${rcv.port} +expected 200 +got 500 +FAILED`));
    expect(r.stdout).toMatch(/globex .* got 503 +ok/);
    expect(r.stdout).toContain('2 fixture(s): 1 matched, 1 failed, 0 error(s), 0 skipped.');
    expect(r.stdout).toContain('Notifier: 1 failure line(s) written to /var/db/openclaw/clawops/notifier.sock.');
    noSecrets(r.stdout + r.stderr);
    await expect.poll(async () => (await digest()).total, { timeout: 5000 }).toBe(before + 1);

    const j = await replay('--json');
    expect(j.code).toBe(1);
    noSecrets(j.stdout + j.stderr);
    const rep = JSON.parse(j.stdout) as ReplayReport;
    expect(rep).toMatchObject({ node: 'gw-1', secret: 'current', ok: false, notifier: { socket: '/var/db/openclaw/clawops/notifier.sock', attempted: 1, sent: 1 } });
    expect(rep.results.map((x) => [x.tenant, x.fixture, x.host, x.expected, x.got, x.outcome])).toEqual([
      ['acme', ACME_FIXTURE, `127.0.0.1:${rcv.port}`, 200, 500, 'mismatch'],
      ['globex', GLOBEX_FIXTURE, `127.0.0.1:${rcv.port}`, 503, 503, 'matched'],
    ]);
    await expect.poll(async () => (await digest()).total, { timeout: 5000 }).toBe(before + 2);
    const rows = (await digest()).top.filter((x) => x.tenant === 'acme');
    expect(rows).toEqual([expect.objectContaining({ tenant: 'acme', endpoint: `http://127.0.0.1:${rcv.port}`, family: '5xx', count: 2, statuses: { '500': 2 } })]);
  });

  it('--secret next authenticates with token.next; a receiver that only knows the current secrets answers 401', async () => {
    routeAsRecorded(rcv, 'gw-1', 'next');
    const ok = await replay('--secret', 'next', '--no-notify');
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(rcv.received.map((x) => x.auth.ok && x.auth.secret)).toEqual(['next', 'next']);
    routeAsRecorded(rcv, 'gw-1', 'current');
    const bad = await replay('--secret', 'next', '--tenant', 'globex', '--json', '--no-notify');
    expect(bad.code).toBe(1);
    const rep = JSON.parse(bad.stdout) as ReplayReport;
    expect(rep.results.map((x) => [x.tenant, x.secret, x.got])).toEqual([['globex', 'token.next', 401]]);
    expect(rep.notifier).toMatchObject({ attempted: 1, sent: 0, error: 'not written (--no-notify)' });
    noSecrets(ok.stdout + ok.stderr + bad.stdout + bad.stderr);
  });

  it('a notifier that is not there is reported, not a crash', async () => {
    await notifier!.close();
    try {
      routeAsRecorded(rcv, 'gw-1', 'current', { globex: 200 });
      const r = await replay();
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('Notifier: 1 failure line(s) not written: no notifier socket at /var/db/openclaw/clawops/notifier.sock on gw-1.');
      expect(r.stderr).toBe('clawops: warning: no notifier socket at /var/db/openclaw/clawops/notifier.sock on gw-1\n');
    } finally {
      notifier = await startNodeNotifier();
    }
  });

  it('unknown node or tenant, an unreadable repo, an unreachable node: exit 2 with one line', async () => {
    const oneLine = (r: { code: number; stdout: string; stderr: string }, re: RegExp): void => {
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(re);
    };
    oneLine(await runCli(['replay', '--repo', repo, '--node', 'gw-9', '--identity', key()]), /^clawops: --node gw-9: not in nodes\.yaml \(known: gw-1\)$/);
    oneLine(await replay('--tenant', 'initech'), /^clawops: --tenant initech: not a tenant of node gw-1 \(it runs: acme, globex\)$/);
    oneLine(await runCli(['replay', '--repo', join(repo, 'nope'), '--node', 'gw-1']), /^clawops: .*nope.*/);
    oneLine(await replay('--secret', 'later'), /^clawops: option '--secret <which>' argument 'later' is invalid/);
    await gw1.stop();
    try {
      oneLine(await replay(), /^clawops: gw-1: /);
    } finally {
      await gw1.start();
    }
    expect(rcv.received).toEqual([]);
  });
});
