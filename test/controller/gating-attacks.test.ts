/**
 * Canary gating against the ways an outside adversarial review broke it (issue 10: "never fans a commit out before
 * the canaries have proven exactly that commit"). Each case was a passing attack before the fix:
 * - the nodes.yaml of a failed canary commit (a tenant added to a fleet node) no longer reaches the fleet node: fleet
 *   nodes are worked on as the commit they get describes them;
 * - a commit that takes every tenant off the canary runs on no canary, so it proves nothing;
 * - a release never proven under its own canaries does not fan out when a later main commit drops a canary;
 * - a commit that failed on the canary is not applied to it again pass after pass (a rollback and outage each time).
 * Local nodes, the real openclaw CLI and observe/plan/apply; apply reports a rollback for the one bad commit, as in
 * rollback-gating.test.ts (these nodes run no gateways).
 */
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { writeSuspension } from '../../reconciler/controller/store.js';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { openclawCache } from '../helpers/openclaw.js';
import { ACME, acmeLevel, node } from './helpers.js';

const bad = vi.hoisted(() => ({ commit: '', tries: 0 }));
vi.mock('../../reconciler/apply/apply-fleet.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../reconciler/apply/apply-fleet.js')>();
  const { rollingBackApply } = await import('./rolled-back.js');
  return {
    ...real,
    applyFleet: rollingBackApply(real.applyFleet, bad),
  };
});


describe.skipIf(!openclawCache())('canary gating holds against an adversarial review', () => {
  let lc: LocalController | undefined;
  afterEach(async () => {
    await lc?.close();
    bad.commit = '';
    bad.tries = 0;
  });
  const linkOf = (l: LocalController) => (n: string, t: string): string | undefined => {
    try {
      return readlinkSync(join(l.nodes.root(n), 'etc/openclaw/tenants', t));
    } catch {
      return undefined;
    }
  };

  it("a failed canary commit's nodes.yaml does not reach a fleet node; a failed commit is not applied to the canary again", async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }, { name: 'gw-2', tenants: ['acme'] }] });
    const { nodes, origin } = lc;
    const link = linkOf(lc);
    origin.tag('release/1', 'HEAD', { date: '2026-11-01T00:00:00Z' });
    const { c, clock } = await lc.start();
    for (let i = 0; i < 4; i++) await c.runPass();
    const c1 = c.status().fleetCommit?.commit;
    expect(c1).toBeDefined();

    // c2 on main assigns globex to the fleet node gw-2, and is rolled back on the canary
    bad.commit = origin.commit({ [ACME]: acmeLevel('warn'), 'nodes.yaml': nodes.nodesYaml([{ name: 'gw-1', canary: true, tenants: ['acme'] }, { name: 'gw-2', tenants: ['acme', 'globex'] }]) }, 'gw-2 gets globex');
    origin.push();
    for (let i = 0; i < 4; i++) {
      await c.runPass();
      clock.advance(31 * 60_000); // past the longest backoff: the canary would be tried again if it were allowed
    }
    const s = c.status();
    expect(s.commits[bad.commit]?.verdict).toBe('failed');
    expect(s.fleetCommit?.commit).toBe(c1);
    expect(link('gw-2', 'globex')).toBeUndefined();
    expect(Object.keys(node(s, 'gw-2').tenants)).toEqual(['acme']);
    // tried once, then held: no rollback (and outage) on the canary every backoff period
    expect(bad.tries).toBe(1);
    expect(node(s, 'gw-1').message).toMatch(/failed on the canaries \(RolledBack\): not applied again; push a fix to main/);
  }, 240_000);

  it('a commit that takes every tenant off the canary is not proven by it', async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }, { name: 'gw-2', tenants: ['acme'] }] });
    const { nodes, origin } = lc;
    const link = linkOf(lc);
    const c1 = origin.head();
    origin.tag('release/1', c1, { date: '2026-11-01T00:00:00Z' });
    const { c } = await lc.start();
    for (let i = 0; i < 4; i++) await c.runPass();
    expect(c.status().fleetCommit?.commit).toBe(c1);
    const fleetRel1 = link('gw-2', 'acme');

    const c2 = origin.commit({ [ACME]: acmeLevel('warn'), 'nodes.yaml': nodes.nodesYaml([{ name: 'gw-1', canary: true, tenants: [] }, { name: 'gw-2', tenants: ['acme'] }]) }, 'acme warn; gw-1 no tenants');
    origin.push();
    origin.tag('release/2', c2, { date: '2026-11-02T00:00:00Z' });
    for (let i = 0; i < 4; i++) await c.runPass();
    const s = c.status();
    expect(s.commits[c2]?.verdict).toBe('pending');
    expect(s.commits[c2]?.canaries['gw-1']).toMatchObject({ running: false, note: expect.stringMatching(/no tenant is assigned to it/) });
    expect(s.fleetCommit?.commit).toBe(c1);
    expect(link('gw-2', 'acme')).toBe(fleetRel1);
    expect(node(s, 'gw-2')).toMatchObject({ state: 'Gated' });
  }, 240_000);

  it('a release never proven under its canaries does not fan out when a later main commit drops a canary', async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }, { name: 'gw-3', canary: true, tenants: ['acme'] }, { name: 'gw-2', tenants: ['acme'] }] });
    const { nodes, origin, stateDir } = lc;
    const link = linkOf(lc);
    await writeSuspension(stateDir, { all: false, nodes: ['gw-3'] });
    const c1 = origin.head();
    origin.tag('release/1', c1, { date: '2026-11-01T00:00:00Z' });
    const { c } = await lc.start();
    for (let i = 0; i < 3; i++) await c.runPass();
    expect(c.status().commits[c1]?.verdict).toBe('pending');

    origin.commit({ 'nodes.yaml': nodes.nodesYaml([{ name: 'gw-1', canary: true, tenants: ['acme'] }, { name: 'gw-3', tenants: ['acme'] }, { name: 'gw-2', tenants: ['acme'] }]) }, 'gw-3 not a canary');
    origin.push();
    await c.runPass();
    const s = c.status();
    expect(s.fleetCommit).toBeUndefined();
    expect(s.commits[c1]?.verdict).toBe('pending');
    expect(link('gw-2', 'acme')).toBeUndefined();
    expect(node(s, 'gw-2').message).toMatch(/never proven while the canaries ran it/);
  }, 240_000);
});
