/**
 * The controller with services (the repo's launchd unit runs the fake gateway through the real secret wrapper and
 * the launchctl stand-in, on local nodes): the canary's releases are reloaded and health-gated by apply, its health
 * is read from the running services, and a commit whose gateway never becomes ready is rolled back by apply on the
 * canary — and then never fans out, even when tagged. No mocks.
 */
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fleetUnitEdits } from '../helpers/fleet-repo.js';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { openclawCache } from '../helpers/openclaw.js';
import { ACME, acmeLevel, node, summary } from './helpers.js';


describe.skipIf(!openclawCache())('controller with services (fake gateway, launchctl stand-in)', () => {
  let lc: LocalController | undefined;
  afterEach(async () => {
    await lc?.close();
  });

  it('gates on the canary running the commit healthily; a commit that fails the health gate is rolled back there and never fans out', async () => {
    lc = localController({
      nodes: [
        { name: 'gw-1', canary: true, tenants: ['acme'] },
        { name: 'gw-2', tenants: ['acme'] },
      ],
      secretsFor: ['acme'],
      services: true,
      clawops: (y) => y.replace('deadline_sec: 15', 'deadline_sec: 4'),
      prefix: 'clawops-ctl-units-',
    });
    const { nodes, origin } = lc;
    const link = (n: string): string => readlinkSync(join(nodes.root(n), 'etc/openclaw/tenants/acme'));
    const c1 = origin.head();
    origin.tag('release/1', c1, { date: '2026-11-01T00:00:00Z' });
    const { c, log } = await lc.start();

    // the canary: swapped, its unit bootstrapped and gated ready by apply
    await c.runPass();
    let s = c.status();
    expect(node(s, 'gw-1').state).toBe('Progressing');
    expect(s.commits[c1]?.canaries['gw-1']).toMatchObject({ running: true, healthGate: 'passed', greenPasses: 0 });
    expect(log.lines().some((l) => l.stage === 'apply' && l.node === 'gw-1' && l.step === 'health' && l.state === 'done')).toBe(true);
    // green passes come from the running service (launchd running the current release)
    await c.runPass();
    s = c.status();
    expect(node(s, 'gw-1')).toMatchObject({ state: 'Synced', health: { status: 'ok' }, tenants: { acme: { health: { status: 'ok', service: 'running' } } } });
    expect(node(s, 'gw-1').tenants.acme!.health.pid).toBeGreaterThan(0);
    await c.runPass();
    await c.runPass();
    expect(summary(c.status())).toEqual({ 'gw-1': 'Synced:Synced', 'gw-2': 'Synced:Synced' });
    const good = link('gw-2');

    // a commit whose gateway never becomes ready (the unit's gateway takes 10 min to be ready; the gate waits 4 s)
    const bad = origin.commit({ 'launchd/gateway.plist': String(fleetUnitEdits({ readyMs: 600_000 })['launchd/gateway.plist']), [ACME]: acmeLevel('warn') }, 'slow gateway');
    origin.push();
    await c.runPass();
    s = c.status();
    expect(node(s, 'gw-1')).toMatchObject({ state: 'RolledBack', reason: 'RolledBack' });
    expect(node(s, 'gw-1').message).toMatch(/not ready within 4 s/);
    expect(s.commits[bad]).toMatchObject({ verdict: 'failed', failure: { reason: 'RolledBack', node: 'gw-1' }, canaries: { 'gw-1': { healthGate: 'failed' } } });
    // apply put the canary back on what it ran, and it is healthy there
    expect(link('gw-1')).toBe(good);
    origin.tag('release/2', bad, { date: '2026-11-02T00:00:00Z' });
    await c.runPass();
    await c.runPass();
    s = c.status();
    expect(node(s, 'gw-2')).toMatchObject({ state: 'Gated', sync: { target: { tag: 'release/1' } } });
    expect(node(s, 'gw-2').message).toContain(`commit ${bad.slice(0, 7)} failed on canary gw-1 (RolledBack): it never fans out`);
    expect(link('gw-2')).toBe(good);
    // the canary shows why it holds back: the release is quarantined on it (a new commit tries again)
    expect(node(s, 'gw-1')).toMatchObject({ state: 'Blocked', reason: 'Quarantined', health: { status: 'ok' }, lastError: { reason: 'RolledBack' }, tenants: { acme: { sync: { state: 'Blocked', currentRelease: good.split('/').pop() } } } });
  }, 240_000);
});
