/**
 * The controller against real sshd fleet nodes (real openclaw, pinned host keys, the real apply and observe scripts,
 * the repo's gateway unit running the fake gateway through the real secret wrapper and launchctl stand-in) and a real
 * bare git origin, in auto mode. A rollback on a canary is covered on local nodes (controller-units.test.ts).
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Controller } from '../../reconciler/controller/loop.js';
import { fleetAvailable, startFleet, type Fleet, type FleetNodeHandle } from '../fleet/fleet.js';
import { fleetNodesYaml, fleetUnitEdits } from '../helpers/fleet-repo.js';
import { openclawCache } from '../helpers/openclaw.js';
import { seedSecrets } from '../helpers/secrets.js';
import { ACME, acmeLevel, clawopsYaml, type FakeClock, makeOrigin, type MemLog, newController, node, type Origin, portOffset, summary } from './helpers.js';

const ready = fleetAvailable().ok && openclawCache() !== undefined;
const ASSIGN = {
  'gw-1': { role: 'gateway' as const, canary: true, tenants: ['acme', 'globex'] },
  'gw-2': { role: 'gateway' as const, tenants: ['acme', 'globex'] },
  'gw-3': { role: 'gateway' as const, tenants: ['acme'] },
};

describe.skipIf(!ready)('controller on a real sshd fleet', () => {
  let fleet: Fleet;
  let origin: Origin;
  let c: Controller;
  let clock: FakeClock;
  let log: MemLog;
  const current = async (n: FleetNodeHandle, t: string): Promise<string> => (await n.exec(`readlink /etc/openclaw/tenants/${t} || true`)).stdout.trim();
  const logins = (n: FleetNodeHandle): number => (readFileSync(n.sshdLogPath, 'utf8').match(/Accepted publickey/g) ?? []).length;

  beforeAll(async () => {
    fleet = await startFleet({ names: ['gw-1', 'gw-2', 'gw-3'], openclaw: true });
    for (const n of fleet.nodes) await seedSecrets(n, ASSIGN[n.name as keyof typeof ASSIGN].tenants);
    const units = fleetUnitEdits();
    // port blocks of our own: other test processes run fake gateways on this machine's loopback too
    const nodesYaml = fleetNodesYaml(fleet, ASSIGN).replace(/port_offset: \d+/g, () => `port_offset: ${portOffset()}`);
    origin = makeOrigin({ ...units, 'clawops.yaml': clawopsYaml(String(units['clawops.yaml'])), 'nodes.yaml': nodesYaml }, { units: true });
    ({ c, clock, log } = newController({ repo: origin.bare, stateDir: mkdtempSync(join(tmpdir(), 'clawops-ctl-fleet-')), identityFile: fleet.clientKeyPath }));
    await c.start();
  });
  afterAll(async () => {
    await c?.close();
    await fleet?.stop();
  });

  it('push to main → canary updated, others Gated with the reason; a release/ tag → fan-out after 2 green canary passes', async () => {
    const gw1 = fleet.node('gw-1');
    const gw2 = fleet.node('gw-2');
    const gw3 = fleet.node('gw-3');
    await c.runPass();
    let s = c.status();
    expect(node(s, 'gw-1').state).toBe('Progressing');
    expect(node(s, 'gw-2')).toMatchObject({ state: 'Gated', message: 'no release yet: no ref matches refs/tags/release/*' });
    expect(await current(gw2, 'acme')).toBe('');

    const c2 = origin.commit({ [ACME]: acmeLevel('warn') }, 'acme: warn');
    origin.push();
    await c.runPass();
    s = c.status();
    expect(node(s, 'gw-1')).toMatchObject({ state: 'Progressing', sync: { target: { ref: 'refs/heads/main', commit: c2 } } });
    expect(JSON.parse((await gw1.exec('cat /etc/openclaw/tenants/acme/openclaw.json')).stdout)).toHaveProperty('logging.level', 'warn');

    origin.tag('release/1', c2);
    await c.runPass();
    s = c.status();
    for (const n of ['gw-2', 'gw-3']) {
      expect(node(s, n)).toMatchObject({ state: 'Gated', follows: 'fleet' });
      expect(node(s, n).message).toBe(`release/1 gated: canary gw-1 has been green on ${c2.slice(0, 7)} for 1 of 2 passes`);
    }
    expect(await current(gw3, 'acme')).toBe('');
    await c.runPass();
    s = c.status();
    expect(s.fleetCommit).toMatchObject({ commit: c2, tag: 'release/1' });
    expect(summary(s)).toEqual({ 'gw-1': 'Synced:Synced', 'gw-2': 'Progressing:Applied', 'gw-3': 'Progressing:Applied' });
    expect(await current(gw2, 'acme')).toBe(await current(gw1, 'acme'));
    expect(await current(gw3, 'acme')).toBe(await current(gw1, 'acme'));
    // the fan-out does not validate again what the canary's apply found valid (the verdicts kept in STATE_DIR/verdicts):
    // gw-2 and gw-3 only check their own secrets
    const fanout = log.lines().filter((l) => l.step === 'validate' && l.state === 'done' && (l.node === 'gw-2' || l.node === 'gw-3'));
    expect(fanout.map((l) => l.node).sort()).toEqual(['gw-2', 'gw-3']);
    for (const l of fanout) {
      expect(String(l.msg)).toMatch(/^\d release\(s\) valid \(0 validated here; (acme|globex) validated on gw-1 in run \S+(, (acme|globex) on gw-1 in run \S+)?, secrets checked here\)$/);
      expect(String(l.msg)).toContain(l.node === 'gw-3' ? '1 release(s)' : '2 release(s)');
    }
    await c.runPass();
    s = c.status();
    expect(summary(s)).toEqual({ 'gw-1': 'Synced:Synced', 'gw-2': 'Synced:Synced', 'gw-3': 'Synced:Synced' });
    expect(node(s, 'gw-2')).toMatchObject({ openclaw: '2026.9.6', sync: { status: 'InSync', running: [{ commit: c2, tag: 'release/1' }] }, health: { status: 'ok' } });
    expect(node(s, 'gw-2').tenants.globex).toMatchObject({ state: 'Synced', sync: { state: 'InSync', commit: c2 }, health: { status: 'ok', service: 'running' } });
    expect(s.commits[c2]?.canaries['gw-1']).toMatchObject({ healthGate: 'passed', greenPasses: 3 });
  }, 240_000);

  it('steady passes reuse the open connections: one observe command a node, no new logins', async () => {
    const before = fleet.nodes.map(logins);
    const durations: number[] = [];
    for (let i = 0; i < 3; i++) durations.push((await c.runPass()).durationMs);
    expect(fleet.nodes.map(logins)).toEqual(before);
    expect(summary(c.status())).toEqual({ 'gw-1': 'Synced:Synced', 'gw-2': 'Synced:Synced', 'gw-3': 'Synced:Synced' });
    // recorded for the issue: a no-change pass over 3 nodes on open connections (fetch + observe + plan)
    console.info(`[controller] steady pass durations (3 nodes): ${durations.join(', ')} ms`);
  }, 60_000);

  it('a node locked by a person is Locked with the holder and repaired on the next pass once free; a node down is Unreachable while the others sync', async () => {
    const gw2 = fleet.node('gw-2');
    const gw3 = fleet.node('gw-3');
    // someone applies by hand on gw-3 (holds its lock) while it has drifted
    const now = Number((await gw3.exec('date +%s')).stdout.trim());
    expect((await gw3.exec(`echo '{"run":"by-hand","owner":"alice@laptop","pid":4242,"ttl_sec":900,"acquired_epoch":${now},"host":"laptop"}' > /var/db/openclaw/clawops/node.lock && echo '# hotfix' >> /etc/openclaw/tenants/acme/gateway.d/10-base.yaml`)).code).toBe(0);
    await c.runPass();
    let s = c.status();
    expect(node(s, 'gw-3')).toMatchObject({ state: 'Locked', reason: 'NodeLocked' });
    expect(node(s, 'gw-3').backoff).toBeUndefined(); // retried next pass, not backed off
    expect(node(s, 'gw-3').message).toMatch(/alice@laptop/);
    expect((await gw3.exec('cat /etc/openclaw/tenants/acme/gateway.d/10-base.yaml')).stdout).toContain('# hotfix');
    await gw3.exec('rm /var/db/openclaw/clawops/node.lock');
    await c.runPass();
    expect(node(c.status(), 'gw-3').state).toBe('Progressing');
    expect((await gw3.exec('cat /etc/openclaw/tenants/acme/gateway.d/10-base.yaml')).stdout).not.toContain('# hotfix');

    await gw2.stop();
    const t0 = Date.now();
    await c.runPass();
    s = c.status();
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(node(s, 'gw-2')).toMatchObject({ state: 'Unreachable', reason: 'Unreachable', backoff: { failures: 1, kind: 'observe' } });
    expect(node(s, 'gw-3').state).toBe('Synced');
    expect(node(s, 'gw-1').state).toBe('Synced');
    // backing off: not even tried in the next pass
    await c.runPass();
    expect(node(c.status(), 'gw-2')).toMatchObject({ state: 'Unreachable', reason: 'BackingOff' });
    await gw2.start();
    clock.advance(31_000);
    await c.runPass();
    // back, in sync (its releases are current), but the test fleet's reboot forgot its launchd jobs: the services do
    // not run, and the status says so (health apart from sync); nothing in the plan loads units whose link is current
    s = c.status();
    expect(node(s, 'gw-2')).toMatchObject({ state: 'Degraded', reason: 'ServiceNotRunning', sync: { status: 'InSync' }, health: { status: 'failed' } });
    expect(node(s, 'gw-2').health.message).toMatch(/acme: ai\.openclaw\.acme is not loaded/);
    expect(node(s, 'gw-2').backoff).toBeUndefined();
    expect(log.lines().some((l) => l.stage === 'backoff' && l.node === 'gw-2')).toBe(true);
  }, 120_000);
});
