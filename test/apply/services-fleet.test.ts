/**
 * Services on the real sshd fleet (issue 9): tagged reloads, the health gate, automatic rollback with quarantine,
 * the dead-man guard when the applying clawops is killed, secrets refused before the swap, one gateway restart at a
 * time. The units run the fake gateway through the real secret wrapper and the launchctl stand-in; the real
 * OpenClaw gateway is proven by services-real-gateway.test.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyFleet } from '../../reconciler/apply/apply-fleet.js';
import type { ApplyEvent, NodeApplyResult } from '../../reconciler/apply/apply-node.js';
import { observeAndPlan } from '../../reconciler/commands/diff.js';
import { fleetAvailable, startFleet, type Fleet, type FleetNodeHandle } from '../fleet/fleet.js';
import { commitEdits, FLEET_NOTIFIER_PORT, fleetRepo, fleetUnitEdits, portOffsetOf } from '../helpers/fleet-repo.js';
import { openclawCache } from '../helpers/openclaw.js';
import { REPO_ROOT, runCli } from '../helpers/repo.js';
import { applyJson, nodeResult, tenantLink } from '../helpers/fleet-apply.js';
import { secretValue, seedSecrets } from '../helpers/secrets.js';

const ready = fleetAvailable().ok && openclawCache() !== undefined;


const ASSIGN = {
  'gw-1': { role: 'gateway' as const, canary: true, tenants: ['acme'] },
  'gw-2': { role: 'gateway' as const, tenants: ['acme', 'globex', 'initech'] },
};
const ACME = 'tenants/acme/gateway.d/20-overrides.yaml';
const acmeOverrides = (port: number, level: string): string => `gateway:\n  port: ${port}\n  controlUi:\n    enabled: true\n    basePath: /acme\nlogging:\n  level: ${level}\n`;

describe.skipIf(!ready)('services on a real fleet: reload, health gate, rollback, dead-man guard', () => {
  let fleet: Fleet;
  let repo: string;
  const apply = (...extra: string[]) => applyJson(repo, fleet.clientKeyPath, ...extra);
  const result = nodeResult;
  const link = tenantLink;
  const readyz = async (n: FleetNodeHandle, port: number): Promise<{ code: string; body: string }> => {
    const r = await n.exec(`curl -s -m 3 -o /tmp/readyz.$$ -w '%{http_code}' http://127.0.0.1:${port}/readyz; echo; cat /tmp/readyz.$$ 2>/dev/null; rm -f /tmp/readyz.$$`);
    const [code = '', ...rest] = r.stdout.split('\n');
    return { code, body: rest.join('\n') };
  };
  const reloadLog = (n: FleetNodeHandle): Record<string, unknown>[] => {
    const f = join(n.varDbOpenclaw, 'clawops', 'reload.log');
    return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  };

  /** each node's gateway port block (fleetNodesYaml gives every fleet node its own) */
  const OFFSET: Record<string, number> = {};
  beforeAll(async () => {
    fleet = await startFleet({ names: ['notifier-1', 'gw-1', 'gw-2'], openclaw: true });
    for (const n of fleet.nodes) OFFSET[n.name] = portOffsetOf(n);
  }, 120_000);
  afterAll(async () => {
    await fleet?.stop();
  });
  beforeEach(async () => {
    for (const n of fleet.nodes) {
      if (!n.running()) await n.start();
      await n.exec('for f in /Library/LaunchDaemons/*.plist; do [ -f "$f" ] || continue; launchctl bootout system "$f" >/dev/null 2>&1; rm -f "$f"; done; rm -rf /etc/openclaw/* /var/db/openclaw/clawops /var/db/openclaw/secrets/*; true');
      await seedSecrets(n, ['acme', 'globex', 'initech']);
    }
    repo = fleetRepo(fleet, {}, ASSIGN);
  });

  it('reloads each tenant after its swap (bootstrap; a hot change verified over the gateway RPC, same pid; a cold one or an unverifiable one restarted, new pid), gated ready, the guard confirmed', async () => {
    const first = await apply();
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const gw2 = fleet.node('gw-2');
    expect(result(first.json, 'gw-2').reloads.map((u) => [u.tenant, u.method, u.oldPid])).toEqual([
      ['acme', 'bootstrap', 0],
      ['globex', 'bootstrap', 0],
      ['initech', 'bootstrap', 0],
    ]);
    // the running gateway serves what the link points at: the fake reports the release id the wrapper exported
    const acmeRelease = link(gw2, 'acme')!.split('/').pop()!;
    const r1 = await readyz(gw2, 18809 + OFFSET['gw-2']!);
    expect(r1.code).toBe('200');
    expect(JSON.parse(r1.body)).toMatchObject({ ready: true, profile: 'acme', release: acmeRelease });
    const pid1 = result(first.json, 'gw-2').reloads[0]!.newPid;
    // the guard stood down (confirmed over a new connection): no guard file, no DeadManRollback
    expect(readdirSync(join(gw2.varDbOpenclaw, 'clawops')).filter((f) => f.startsWith('guard.'))).toEqual([]);

    // every changed key hot-applies: the gateway's own reload, asked over its RPC — same pid, the new config active
    commitEdits(repo, { [ACME]: acmeOverrides(18809, 'warn') }, 'acme warn');
    const second = await apply();
    expect(second.code, second.stdout + second.stderr).toBe(0);
    const hot = result(second.json, 'gw-2').reloads;
    expect(hot.map((x) => [x.tenant, x.method, x.oldPid, x.newPid])).toEqual([['acme', 'hot', pid1, pid1]]);
    expect(JSON.parse((await readyz(gw2, 18809 + OFFSET['gw-2']!)).body)).toMatchObject({ release: link(gw2, 'acme')!.split('/').pop() });
    expect(JSON.parse(readFileSync(join(gw2.varDbOpenclaw, 'clawops/run/acme.json'), 'utf8'))).toMatchObject({ pid: pid1, release_id: link(gw2, 'acme')!.split('/').pop(), hot: true });
    expect(reloadLog(gw2).filter((l) => l.action === 'reload' && l.tenant === 'acme').at(-1)).toMatchObject({ method: 'hot', old_pid: pid1, new_pid: pid1 });
    expect((await runCli(['diff', '--repo', repo, '--identity', fleet.clientKeyPath])).code).toBe(0);

    // a key the gateway restarts for (controlUi.basePath): launchd restarts it, a new pid
    commitEdits(repo, { [ACME]: acmeOverrides(18809, 'warn').replace('basePath: /acme', 'basePath: /acme2') }, 'acme basePath');
    const third = await apply();
    expect(third.code, third.stdout + third.stderr).toBe(0);
    const u = result(third.json, 'gw-2').reloads;
    expect(u.map((x) => [x.tenant, x.method])).toEqual([['acme', 'restart']]);
    expect(u[0]!.oldPid).toBe(pid1);
    expect(u[0]!.newPid).not.toBe(pid1);
    expect(JSON.parse((await readyz(gw2, 18809 + OFFSET['gw-2']!)).body)).toMatchObject({ release: link(gw2, 'acme')!.split('/').pop() });
    const log = reloadLog(gw2).filter((l) => l.action === 'reload' && l.tenant === 'acme');
    expect(log.at(-1)).toMatchObject({ method: 'restart', old_pid: pid1, new_pid: u[0]!.newPid, label: 'ai.openclaw.acme' });

    // a gateway that cannot be asked (drops the RPC): the hot change is not verified, so it is restarted, as before
    await gw2.exec('touch /var/db/openclaw/state/acme/fake-no-rpc');
    commitEdits(repo, { [ACME]: acmeOverrides(18809, 'error').replace('basePath: /acme', 'basePath: /acme2') }, 'acme error');
    const fourth = await apply();
    await gw2.exec('rm -f /var/db/openclaw/state/acme/fake-no-rpc');
    expect(fourth.code, fourth.stdout + fourth.stderr).toBe(0);
    const f = result(fourth.json, 'gw-2').reloads;
    expect(f.map((x) => [x.tenant, x.method])).toEqual([['acme', 'restart']]);
    expect(f[0]!.newPid).not.toBe(f[0]!.oldPid);
    expect(fourth.stderr).toMatch(/acme: hot reload not verified \([^)]*cannot talk to the gateway[^)]*\); restarting instead/);
    expect(reloadLog(gw2).some((l) => l.action === 'DeadManRollback')).toBe(false);
    // diff: in sync, the service runs what its link points at
    const d = await runCli(['diff', '--repo', repo, '--identity', fleet.clientKeyPath]);
    expect(d.code, d.stdout).toBe(0);
  }, 120_000);

  it('a release that cannot become ready (its port is taken) is rolled back on the canary and quarantined; the others are never touched; a new commit is tried', async () => {
    expect((await apply()).code).toBe(0);
    const gw1 = fleet.node('gw-1');
    const gw2 = fleet.node('gw-2');
    const good = link(gw1, 'acme');
    const gw2Before = link(gw2, 'acme');
    // something else holds the port acme moves to on gw-1; it never answers HTTP
    const taken = 18449;
    const blocker: Server = createServer((s) => s.destroy()).listen(taken + OFFSET['gw-1']!, '127.0.0.1');
    try {
      commitEdits(repo, { [ACME]: acmeOverrides(taken, 'info') }, 'acme moves to a taken port');
      const bad = await apply();
      expect(bad.code).toBe(1);
      const r = result(bad.json, 'gw-1');
      expect(r).toMatchObject({ outcome: 'failed', step: 'health', reason: 'RolledBack' });
      expect(r.message).toMatch(new RegExp(`acme: release [0-9a-f]{16} not ready (within 15 s|\\(its service stopped after \\d+ s\\)): http://127\\.0\\.0\\.1:${taken + OFFSET['gw-1']!}/readyz: (no answer|HTTP \\d+)`));
      expect(r.message).toContain(`rolled back to ${good!.split('/').pop()}`);
      expect(r.rolledBack).toEqual([expect.objectContaining({ tenant: 'acme', to: good!.split('/').pop() })]);
      // the old release serves again, on its own port
      expect(link(gw1, 'acme')).toBe(good);
      expect((await readyz(gw1, 18809 + OFFSET['gw-1']!)).code).toBe('200');
      // the later phase was not touched
      expect(result(bad.json, 'gw-2').outcome).toBe('skipped');
      expect(link(gw2, 'acme')).toBe(gw2Before);
      const badId = r.rolledBack[0]!.release;
      expect(existsSync(join(gw1.varDbOpenclaw, 'clawops/quarantine/acme', badId))).toBe(true);
      expect(reloadLog(gw1).find((l) => l.action === 'rollback')).toMatchObject({ tenant: 'acme', automatic: true, quarantined: badId, reason: 'HealthCheckFailed' });

      // the same content again: quarantined, refused, nothing swapped
      const again = await apply();
      expect(again.code).toBe(1);
      expect(again.json!.blocked).toContain('gw-1/acme');
      expect(link(gw1, 'acme')).toBe(good);
      const d = await runCli(['diff', '--repo', repo, '--identity', fleet.clientKeyPath]);
      expect(d.stdout).toMatch(/gw-1\/acme: release [0-9a-f]{16} was rolled back automatically on this node and is quarantined/);
    } finally {
      blocker.close();
    }
    // a new commit (new content) is judged afresh
    commitEdits(repo, { [ACME]: acmeOverrides(18809, 'error') }, 'acme back on its port');
    const fixed = await apply();
    expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0);
    expect((await readyz(gw1, 18809 + OFFSET['gw-1']!)).code).toBe('200');
  }, 180_000);

  it('kill -9 of the applying clawops right after the swap: the node reverts by itself within confirm_sec and logs DeadManRollback', async () => {
    // confirm_sec 5: the guard acts after 5 s without a beat from the (dead) run
    repo = fleetRepo(fleet, {}, ASSIGN);
    commitEdits(repo, { 'clawops.yaml': `${readFileSync(join(repo, 'clawops.yaml'), 'utf8').replace(/confirm_sec: \d+/, 'confirm_sec: 5')}` }, 'short confirm');
    expect((await apply()).code).toBe(0);
    const gw1 = fleet.node('gw-1');
    const good = link(gw1, 'acme');
    commitEdits(repo, { [ACME]: acmeOverrides(18809, 'warn') }, 'acme warn');
    const child = spawn(join(REPO_ROOT, 'bin/clawops'), ['apply', '--repo', repo, '--identity', fleet.clientKeyPath, '--yes', '--node', 'gw-1'], { env: { ...process.env, CLAWOPS_PROGRESS: 'text' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const killed = new Promise<void>((resolve) => {
      child.stderr.on('data', (b: Buffer) => {
        err += b.toString();
        if (/swap\s+ok\s+acme:/.test(err) && child.exitCode === null) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => resolve());
    });
    await killed;
    expect(err).toMatch(/swap\s+ok\s+acme:/);
    const swapped = link(gw1, 'acme');
    expect(swapped).not.toBe(good);
    // nobody confirms: within confirm_sec (+ the guard's 1 s poll and the reload) it is back
    const t0 = Date.now();
    while (link(gw1, 'acme') !== good && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 250));
    expect(link(gw1, 'acme')).toBe(good);
    expect(Date.now() - t0).toBeLessThan(20_000);
    for (let i = 0; i < 60 && !reloadLog(gw1).some((l) => l.action === 'DeadManRollback'); i++) await new Promise((r) => setTimeout(r, 250));
    expect(reloadLog(gw1).find((l) => l.action === 'DeadManRollback')).toMatchObject({ tenant: 'acme', release_id: good!.split('/').pop(), prev_release_id: swapped!.split('/').pop() });
    let code = '';
    for (let i = 0; i < 40 && code !== '200'; i++) {
      code = (await readyz(gw1, 18809 + OFFSET['gw-1']!)).code;
      if (code !== '200') await new Promise((r) => setTimeout(r, 250));
    }
    expect(code).toBe('200');
  }, 120_000);

  it('a missing or 0644 secret file is refused before any swap, naming the file; the value is never printed', async () => {
    const gw1 = fleet.node('gw-1');
    await gw1.exec('chmod 644 /var/db/openclaw/secrets/acme/hooks.token');
    const r = await apply('--node', 'gw-1');
    expect(r.code).toBe(1);
    expect(r.json!.blocked).toEqual(['gw-1/acme']);
    expect(link(gw1, 'acme')).toBeUndefined();
    const d = await runCli(['diff', '--repo', repo, '--identity', fleet.clientKeyPath, '--node', 'gw-1']);
    expect(d.stdout).toMatch(/gw-1\/acme: secret file hooks\.token has mode 644/);
    expect(d.stdout + d.stderr + r.stdout + r.stderr).not.toContain(secretValue('gw-1', 'acme', 'hooks.token'));

    // the check also holds on the node itself (a plan made before the file changed): the wrapper refuses in validate
    await gw1.exec('chmod 600 /var/db/openclaw/secrets/acme/hooks.token');
    const p = await observeAndPlan({ repo, identity: fleet.clientKeyPath, node: ['gw-1'] }, {}, true);
    await gw1.exec('rm -f /var/db/openclaw/secrets/acme/hooks.token');
    try {
      const res = await applyFleet(p.plan, p.desired, p.fleet.transports, { run: 'test-secret', actor: 'test', pid: process.pid, lockTtlSec: 60, now: () => new Date(), onEvent: () => undefined }, 2);
      const g = res.results.find((x) => x.node === 'gw-1')!;
      expect(g).toMatchObject({ outcome: 'failed', step: 'validate', reason: 'InvalidConfig' });
      expect(g.message).toMatch(/gw-1\/acme: refused before the swap: clawops-gateway-run: acme: secret file \/var\/db\/openclaw\/secrets\/acme\/hooks\.token is missing/);
      expect(link(gw1, 'acme')).toBeUndefined();
    } finally {
      await Promise.all([...p.fleet.transports.values()].map((t) => t.close()));
      p.source.cleanup();
    }
  }, 90_000);

  it('gateways on one node are restarted one at a time: each reload waits for the previous tenant to pass its gate', async () => {
    const p = await observeAndPlan({ repo, identity: fleet.clientKeyPath, node: ['gw-2'] }, {}, true);
    const events: ApplyEvent[] = [];
    try {
      const res = await applyFleet(p.plan, p.desired, p.fleet.transports, { run: 'test-order', actor: 'test', pid: process.pid, lockTtlSec: 120, now: () => new Date(), onEvent: (e) => events.push(e) }, 2);
      expect(res.ok).toBe(true);
    } finally {
      await Promise.all([...p.fleet.transports.values()].map((t) => t.close()));
      p.source.cleanup();
    }
    const seq = events.filter((e) => (e.step === 'reload' && e.state === 'start') || (e.step === 'health' && e.state === 'done' && !/guard/.test(e.message ?? ''))).map((e) => `${e.step}:${(e.message ?? '').split(':')[0]}`);
    expect(seq).toEqual(['reload:acme', 'health:acme', 'reload:globex', 'health:globex', 'reload:initech', 'health:initech']);
  }, 90_000);

  it('the notifier node gets its unit first: installed from launchd/notifier.plist on its port block, started, healthy; a changed unit is bootstrapped again', async () => {
    const nf = fleet.node('notifier-1');
    const assign = { 'notifier-1': { role: 'notifier' as const, tenants: [] as string[] }, ...ASSIGN };
    repo = fleetRepo(fleet, fleetUnitEdits({ notifier: true }), assign);
    const d0 = await runCli(['diff', '--repo', repo, '--identity', fleet.clientKeyPath, '--node', 'notifier-1']);
    expect(d0.code).toBe(1);
    expect(d0.stdout).toMatch(/notifier-1: the notifier unit ai\.openclaw\.clawops\.notifier is not installed/);
    const r = await apply('--node', 'notifier-1');
    if (r.code !== 0) console.log('NOTIFIER LOG', (await nf.exec('cat /var/db/openclaw/logs/notifier.log; ls -la /var/db/openclaw/clawops')).stdout);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(result(r.json, 'notifier-1').reloads).toEqual([expect.objectContaining({ tenant: '(node)', label: 'ai.openclaw.clawops.notifier', method: 'bootstrap' })]);
    const port = FLEET_NOTIFIER_PORT + portOffsetOf(nf);
    expect((await nf.exec(`curl -s -m 3 http://127.0.0.1:${port}/healthz`)).stdout).toContain('"ok":true');
    expect((await runCli(['diff', '--repo', repo, '--identity', fleet.clientKeyPath, '--node', 'notifier-1'])).code).toBe(0);
    // the template changes (a throttle): installed and bootstrapped again
    commitEdits(repo, { 'launchd/notifier.plist': readFileSync(join(repo, 'launchd/notifier.plist'), 'utf8').replace('  <key>RunAtLoad</key>', '  <key>ThrottleInterval</key>\n  <integer>5</integer>\n  <key>RunAtLoad</key>') }, 'notifier throttle');
    const r2 = await apply('--node', 'notifier-1');
    expect(r2.code, r2.stdout + r2.stderr).toBe(0);
    const u = result(r2.json, 'notifier-1').reloads[0]!;
    expect(u.method).toBe('bootstrap');
    expect(u.newPid).not.toBe(u.oldPid);
    await nf.exec('launchctl bootout system/ai.openclaw.clawops.notifier; true');
  }, 120_000);

  it('a service that still runs an older release than its link is NotReloaded; apply reloads it without a swap', async () => {
    expect((await apply()).code).toBe(0);
    const gw1 = fleet.node('gw-1');
    // a person swaps the link by hand to a newer complete release and never restarts the service
    commitEdits(repo, { [ACME]: acmeOverrides(18809, 'warn') }, 'acme warn');
    const p = await observeAndPlan({ repo, identity: fleet.clientKeyPath, node: ['gw-1'] }, {}, false);
    const want = p.desired.tenants.get('acme')!;
    p.source.cleanup();
    const { layRelease } = await import('../helpers/release.js');
    const { chownToNodeUser } = await import('../fleet/fleet.js');
    layRelease(gw1.etcOpenclaw, p.desired, 'acme');
    chownToNodeUser(gw1.etcOpenclaw);
    const d = await runCli(['diff', '--repo', repo, '--identity', fleet.clientKeyPath, '--node', 'gw-1']);
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(new RegExp(`gw-1/acme: ai\\.openclaw\\.acme \\(pid \\d+\\) still runs release [0-9a-f]{16}, not ${want.releaseId}`));
    const r = await apply('--node', 'gw-1');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(result(r.json, 'gw-1').swapped).toEqual([]);
    expect(result(r.json, 'gw-1').reloads.map((u) => [u.tenant, u.method])).toEqual([['acme', 'restart']]);
    expect(JSON.parse((await readyz(gw1, 18809 + OFFSET['gw-1']!)).body)).toMatchObject({ release: want.releaseId });
    expect((await runCli(['diff', '--repo', repo, '--identity', fleet.clientKeyPath, '--node', 'gw-1'])).code).toBe(0);
  }, 90_000);
});
