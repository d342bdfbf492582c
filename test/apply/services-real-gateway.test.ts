/**
 * The real path, with the real `openclaw gateway run` (slow: 10-50 s to ready, ~1 GB), on one fleet node with one
 * tenant, at most one gateway at a time: apply reloads it through the secret wrapper and gates on its own /readyz;
 * the hooks token reaches the process from the node's secret file (the literal `${CLAWOPS_SECRET_HOOKS_TOKEN}`, which
 * is in git, gets 401); a release that validates but cannot become ready is rolled back by itself.
 * Everything else about services is proven with the fast fake gateway (services-fleet.test.ts).
 */
import { existsSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeApplyResult } from '../../reconciler/apply/apply-node.js';
import { fleetAvailable, startFleet, type Fleet, type FleetNodeHandle } from '../fleet/fleet.js';
import { commitEdits, fleetRepo, fleetUnitEdits, portOffsetOf } from '../helpers/fleet-repo.js';
import { openclawCache } from '../helpers/openclaw.js';
import { runCli } from '../helpers/repo.js';
import { secretValue, seedSecrets } from '../helpers/secrets.js';

const ready = fleetAvailable().ok && openclawCache() !== undefined && process.env.CLAWOPS_SKIP_REAL_GATEWAY !== '1';
const ACME = 'tenants/acme/gateway.d/20-overrides.yaml';
const overrides = (port: number): string => `gateway:\n  port: ${port}\n  controlUi:\n    enabled: true\n    basePath: /acme\nlogging:\n  level: info\n`;

describe.skipIf(!ready)('services with the real OpenClaw gateway', () => {
  let fleet: Fleet;
  let repo: string;
  let gw1: FleetNodeHandle;
  /** acme's port on gw-1's own port block */
  let PORT = 0;
  let OFF = 0;
  const apply = async () => {
    const r = await runCli(['apply', '--repo', repo, '--identity', fleet.clientKeyPath, '--yes', '--json']);
    return { ...r, json: r.stdout.trim().startsWith('{') ? (JSON.parse(r.stdout) as { ok: boolean; results: NodeApplyResult[] }) : undefined };
  };
  const curl = async (args: string): Promise<string> => (await gw1.exec(`curl -s -m 5 -o /dev/null -w '%{http_code}' ${args}`)).stdout.trim();

  beforeAll(async () => {
    fleet = await startFleet({ names: ['gw-1'], openclaw: true });
    gw1 = fleet.node('gw-1');
    OFF = portOffsetOf(gw1);
    PORT = 18809 + OFF;
    await seedSecrets(gw1, ['acme']);
    repo = fleetRepo(fleet, fleetUnitEdits({ realGateway: true }), { 'gw-1': { role: 'gateway', canary: true, tenants: ['acme'] } });
  }, 120_000);
  afterAll(async () => {
    await gw1?.exec('for f in /Library/LaunchDaemons/*.plist; do [ -f "$f" ] && launchctl bootout system "$f"; done; true').catch(() => undefined);
    await fleet?.stop();
  });

  it('apply bootstraps the real gateway through the wrapper and gates on /readyz; hooks take the secret file\'s token, never the literal placeholder', async () => {
    const r = await apply();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const res = r.json!.results.find((x) => x.node === 'gw-1')!;
    expect(res.reloads).toEqual([expect.objectContaining({ tenant: 'acme', label: 'ai.openclaw.acme', method: 'bootstrap', oldPid: 0 })]);
    expect(await curl(`http://127.0.0.1:${PORT}/readyz`)).toBe('200');
    const wake = (auth: string): Promise<string> => curl(`-X POST -H 'Content-Type: application/json' -H 'Authorization: Bearer ${auth}' --data '{"text":"clawops test","mode":"next-heartbeat"}' http://127.0.0.1:${PORT}/hooks/wake`);
    // the placeholder is in git: it must never be a working token
    expect(await wake('${CLAWOPS_SECRET_HOOKS_TOKEN}')).toBe('401');
    expect(await wake('wrong-token')).toBe('401');
    expect(await wake(secretValue('gw-1', 'acme', 'hooks.token'))).toBe('200');
  }, 240_000);

  it('a change whose keys all hot-apply is the gateway\'s own reload, verified over its RPC: same pid, new config applied, in sync', async () => {
    const before = JSON.parse((await gw1.exec('cat /var/db/openclaw/clawops/run/acme.json')).stdout) as { pid: number; release_id: string };
    commitEdits(repo, { [ACME]: overrides(18809).replace('level: info', 'level: warn') }, 'acme warn');
    const r = await apply();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const res = r.json!.results.find((x) => x.node === 'gw-1')!;
    expect(res.reloads).toEqual([expect.objectContaining({ tenant: 'acme', method: 'hot', oldPid: before.pid, newPid: before.pid })]);
    // asked over the gateway's own WebSocket RPC (no OpenClaw CLI): it showed logging.level warn as its applied revision
    expect(r.stderr).toMatch(/ai\.openclaw\.acme hot \(logging\.level\) pid \d+, applied after \d+ ms, verified over its RPC/);
    expect(r.stderr + r.stdout).not.toContain(secretValue('gw-1', 'acme', 'token.current'));
    const after = JSON.parse((await gw1.exec('cat /var/db/openclaw/clawops/run/acme.json')).stdout) as { pid: number; release_id: string };
    expect(after).toMatchObject({ pid: before.pid, hot: true });
    expect(after.release_id).toBe(readlinkSync(join(gw1.etcOpenclaw, 'tenants/acme')).split('/').pop());
    expect(await curl(`http://127.0.0.1:${PORT}/readyz`)).toBe('200');
    const d = await runCli(['diff', '--repo', repo, '--identity', fleet.clientKeyPath]);
    expect(d.code, d.stdout).toBe(0);
  }, 240_000);

  it('a release that validates but cannot become ready (its port is taken) is rolled back; the old release serves again', async () => {
    const good = readlinkSync(join(gw1.etcOpenclaw, 'tenants/acme'));
    const taken = 18449;
    const blocker: Server = createServer((s) => s.destroy()).listen(taken + OFF, '127.0.0.1');
    try {
      commitEdits(repo, { [ACME]: overrides(taken) }, 'acme on a taken port');
      const r = await apply();
      expect(r.code).toBe(1);
      const res = r.json!.results.find((x) => x.node === 'gw-1')!;
      expect(res).toMatchObject({ outcome: 'failed', step: 'health', reason: 'RolledBack' });
      expect(readlinkSync(join(gw1.etcOpenclaw, 'tenants/acme'))).toBe(good);
      expect(existsSync(join(gw1.varDbOpenclaw, 'clawops/quarantine/acme', res.rolledBack[0]!.release))).toBe(true);
      expect(res.message).toMatch(/rolled back to [0-9a-f]{16}, ready again after \d+ s/);
      expect(await curl(`http://127.0.0.1:${PORT}/readyz`)).toBe('200');
    } finally {
      blocker.close();
    }
  }, 420_000);
});
