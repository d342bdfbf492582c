/**
 * The controller end to end on local nodes (directories standing for Macs, the real openclaw CLI, the real apply
 * and observe scripts) against a real bare git origin: canary first, fleet gated on green canary passes, release
 * tags, drift repair and observe mode, suspend, restart. Passes are driven one at a time; nothing sleeps.
 */
import { readFileSync, readlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { changeSuspension, readStatus, writeSuspension } from '../../reconciler/controller/store.js';
import type { Controller, ControllerOptions } from '../../reconciler/controller/loop.js';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { openclawCache } from '../helpers/openclaw.js';
import { EXAMPLE } from '../helpers/repo.js';
import { ACME, acmeLevel, clawopsYaml, type LocalNodes, memLogger, node, type Origin, summary } from './helpers.js';

const ready = openclawCache() !== undefined;

describe.skipIf(!ready)('controller on local nodes', () => {
  let nodes: LocalNodes;
  let origin: Origin;
  let stateDir: string;
  let lc: LocalController;
  const link = (n: string, t: string): string | undefined => {
    try {
      return readlinkSync(join(nodes.root(n), 'etc/openclaw/tenants', t));
    } catch {
      return undefined;
    }
  };
  const start = (extra: Partial<ControllerOptions> = {}) => lc.start(extra);

  beforeEach(() => {
    lc = localController({
      nodes: [
        { name: 'gw-1', canary: true, tenants: ['acme'] },
        { name: 'gw-2', tenants: ['acme', 'globex'] },
      ],
      prefix: 'clawops-ctl-state-',
    });
    ({ nodes, origin, stateDir } = lc);
  });
  afterEach(async () => {
    await lc.close();
  });

  it('main goes to the canary; the fleet waits for 2 green canary passes on a release/ tag, then fans out; a new tag waits again', async () => {
    const c1 = origin.head();
    origin.tag('release/1', c1, { date: '2026-11-01T00:00:00Z' });
    const { c, log } = await start();

    // pass 1: the canary gets main; gw-2 is gated (nothing fanned out before: left alone)
    expect((await c.runPass()).outcome).toBe('ok');
    let s = c.status();
    expect(node(s, 'gw-1')).toMatchObject({ state: 'Progressing', follows: 'canary', sync: { target: { ref: 'refs/heads/main', commit: c1 } } });
    expect(link('gw-1', 'acme')).toMatch(/^\.\.\/releases\/acme\/[0-9a-f]{16}$/);
    expect(node(s, 'gw-2')).toMatchObject({ state: 'Gated', follows: 'fleet' });
    expect(node(s, 'gw-2').message).toContain(`canary gw-1 has been green on ${c1.slice(0, 7)} for 0 of 2 passes`);
    expect(link('gw-2', 'acme')).toBeUndefined();
    expect(s.commits[c1]).toMatchObject({ verdict: 'pending', canaries: { 'gw-1': { running: true, greenPasses: 0 } } });

    // pass 2: green once
    await c.runPass();
    s = c.status();
    expect(node(s, 'gw-1').state).toBe('Synced');
    expect(node(s, 'gw-2').message).toContain(`canary gw-1 has been green on ${c1.slice(0, 7)} for 1 of 2 passes`);
    expect(link('gw-2', 'acme')).toBeUndefined();

    // pass 3: green twice → proven → fan-out
    await c.runPass();
    s = c.status();
    expect(s.commits[c1]).toMatchObject({ verdict: 'proven', canaries: { 'gw-1': { greenPasses: 2 } } });
    expect(s.fleetCommit).toMatchObject({ commit: c1, tag: 'release/1' });
    expect(node(s, 'gw-2').state).toBe('Progressing');
    expect(link('gw-2', 'acme')).toBe(link('gw-1', 'acme'));
    await c.runPass();
    expect(summary(c.status())).toEqual({ 'gw-1': 'Synced:Synced', 'gw-2': 'Synced:Synced' });
    expect(node(c.status(), 'gw-2').tenants.acme!.sync).toMatchObject({ state: 'InSync', commit: c1, tag: 'release/1' });

    // a merged PR: the canary gets it, the fleet stays on release/1 (proven), not gated
    const before = link('gw-2', 'acme');
    const c2 = origin.commit({ [ACME]: acmeLevel('warn') }, 'acme: warn');
    origin.push();
    await c.runPass();
    s = c.status();
    expect(node(s, 'gw-1')).toMatchObject({ state: 'Progressing', sync: { target: { commit: c2 } } });
    expect(link('gw-1', 'acme')).not.toBe(before);
    expect(node(s, 'gw-2').state).toBe('Synced');
    expect(link('gw-2', 'acme')).toBe(before);

    // tag it: gated until the canary was green on it twice; the fleet is held at release/1 meanwhile
    origin.tag('release/2', c2, { date: '2026-11-02T00:00:00Z' });
    await c.runPass();
    s = c.status();
    expect(s.source.fleet).toMatchObject({ ref: 'refs/tags/release/2', commit: c2, tag: 'release/2' });
    expect(node(s, 'gw-2')).toMatchObject({ state: 'Gated', sync: { target: { commit: c1, tag: 'release/1' } } });
    expect(node(s, 'gw-2').message).toContain(`canary gw-1 has been green on ${c2.slice(0, 7)} for 1 of 2 passes`);
    expect(link('gw-2', 'acme')).toBe(before);
    await c.runPass();
    s = c.status();
    expect(s.fleetCommit).toMatchObject({ commit: c2, tag: 'release/2' });
    expect(link('gw-2', 'acme')).toBe(link('gw-1', 'acme'));

    // one reconcile id per pass on every line of it
    const ids = new Set(log.lines().filter((l) => l.reconcile !== undefined).map((l) => l.reconcile));
    expect(ids.size).toBe(c.passes);
    expect(log.lines().some((l) => l.stage === 'gate' && String(l.msg).includes('fanning out release/2'))).toBe(true);

    // the store on disk is what /status shows, and a restarted controller resumes from it
    const stored = await readStatus(stateDir);
    expect(stored?.commits[c2]?.verdict).toBe('proven');
    await c.close();
    const again = await start();
    const r = await again.c.runPass();
    expect(r.outcome).toBe('ok');
    expect(summary(again.c.status())).toEqual({ 'gw-1': 'Synced:Synced', 'gw-2': 'Synced:Synced' });
    // nothing was re-applied: no apply stage in the restarted controller's log
    expect(again.log.lines().filter((l) => l.stage === 'apply')).toEqual([]);
  }, 240_000);

  it('a hand edit is reported in observe mode and repaired in auto mode; a suspended node is reported, not touched', async () => {
    origin.tag('release/1', 'HEAD');
    const { c } = await start();
    for (let i = 0; i < 4; i++) await c.runPass();
    expect(summary(c.status())).toEqual({ 'gw-1': 'Synced:Synced', 'gw-2': 'Synced:Synced' });
    await c.close();

    const file = join(nodes.root('gw-2'), 'etc/openclaw/tenants/globex/gateway.d/10-base.yaml');
    writeFileSync(file, `${readFileSync(file, 'utf8')}# hotfix\n`);
    const obs = await start({ mode: 'observe' });
    await obs.c.runPass();
    expect(node(obs.c.status(), 'gw-2')).toMatchObject({ state: 'OutOfSync', reason: 'Drifted' });
    expect(node(obs.c.status(), 'gw-2').message).toMatch(/globex: gateway\.d\/10-base\.yaml hand-edited on the node.*observe mode: not applied/);
    expect(readFileSync(file, 'utf8')).toContain('# hotfix');
    await obs.c.close();

    await writeSuspension(stateDir, changeSuspension({ all: false, nodes: [] }, 'suspend', ['gw-2']));
    const auto = await start();
    await auto.c.runPass();
    expect(node(auto.c.status(), 'gw-2')).toMatchObject({ state: 'Suspended', suspended: true });
    expect(readFileSync(file, 'utf8')).toContain('# hotfix');
    await writeSuspension(stateDir, { all: false, nodes: [] });
    await auto.c.runPass();
    expect(node(auto.c.status(), 'gw-2')).toMatchObject({ state: 'Progressing', suspended: false });
    expect(readFileSync(file, 'utf8')).not.toContain('# hotfix');
    await auto.c.runPass();
    expect(node(auto.c.status(), 'gw-2').state).toBe('Synced');
    expect(existsSync(join(stateDir, 'repo.git'))).toBe(true);
  }, 240_000);

  it('stop() during a pass stops the node at its next step boundary: nothing half-swapped, its lock released, status says Interrupted', async () => {
    origin.tag('release/1', 'HEAD');
    let c!: Controller;
    const log = memLogger((l) => {
      if (l.stage === 'apply' && l.node === 'gw-1' && l.step === 'lock' && l.state === 'done') c.stop();
    });
    ({ c } = await lc.start({}, log));
    expect((await c.runPass()).outcome).toBe('Interrupted');
    const s = c.status();
    expect(node(s, 'gw-1')).toMatchObject({ state: 'OutOfSync', reason: 'Interrupted' });
    expect(link('gw-1', 'acme')).toBeUndefined();
    expect(existsSync(join(nodes.root('gw-1'), 'var/db/openclaw/clawops/node.lock'))).toBe(false);
    expect(log.lines().some((l) => l.stage === 'gate' && String(l.msg).includes('interrupted: the other nodes are not touched'))).toBe(true);
    expect((await readStatus(stateDir))?.lastPass).toMatchObject({ outcome: 'Interrupted' });
    await c.close();
    // the next controller picks up where it stopped
    const again = await start();
    await again.c.runPass();
    expect(node(again.c.status(), 'gw-1').state).toBe('Progressing');
    expect(link('gw-1', 'acme')).toMatch(/^\.\.\/releases\/acme\//);
  }, 120_000);

  it('a commit that does not validate fails on the canary and never fans out, even tagged; the fix is judged afresh', async () => {
    origin.tag('release/1', 'HEAD', { date: '2026-11-01T00:00:00Z' });
    const { c } = await start();
    await c.runPass();
    const broken = origin.commit({ [ACME]: 'gateway: [oops\n' }, 'broken yaml');
    origin.push();
    origin.tag('release/2', broken, { date: '2026-11-02T00:00:00Z' });
    await c.runPass();
    let s = c.status();
    expect(node(s, 'gw-1')).toMatchObject({ state: 'Failed', reason: 'ValidationFailed' });
    expect(node(s, 'gw-1').message).toMatch(new RegExp(`^commit ${broken.slice(0, 7)}: .*20-overrides\\.yaml`));
    expect(s.commits[broken]).toMatchObject({ verdict: 'failed', failure: { reason: 'ValidationFailed' } });
    expect(node(s, 'gw-2')).toMatchObject({ state: 'Gated' });
    expect(node(s, 'gw-2').message).toContain(`commit ${broken.slice(0, 7)} failed (ValidationFailed): it never fans out`);
    const fix = origin.commit({ [ACME]: acmeLevel('error') }, 'fixed');
    origin.push();
    origin.tag('release/3', fix, { date: '2026-11-03T00:00:00Z' });
    for (let i = 0; i < 3; i++) await c.runPass();
    s = c.status();
    expect(s.commits[fix]?.verdict).toBe('proven');
    expect(s.fleetCommit).toMatchObject({ commit: fix, tag: 'release/3' });
    expect(link('gw-2', 'acme')).toBe(link('gw-1', 'acme'));
  }, 120_000);

  it('takes gating from clawops.yaml on the default branch: green_passes 1 fans out after one green pass', async () => {
    origin.commit({ 'clawops.yaml': clawopsYaml(readFileSync(join(EXAMPLE, 'clawops.yaml'), 'utf8'), { green_passes: 1, require_replay: false }) }, 'one green pass is enough');
    origin.push();
    origin.tag('release/1', 'HEAD');
    const { c } = await start();
    await c.runPass();
    expect(node(c.status(), 'gw-2').message).toContain('for 0 of 1 passes');
    await c.runPass();
    expect(c.status().fleetCommit).toMatchObject({ tag: 'release/1' });
    expect(link('gw-2', 'acme')).toBe(link('gw-1', 'acme'));
  }, 120_000);
});
