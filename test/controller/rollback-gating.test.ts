/**
 * A commit rolled back on a canary never fans out, even when tagged later, and a restarted controller still knows;
 * the next commit is judged afresh. The canary's automatic rollback is apply's (services issue); here apply is the
 * real one except for the bad commit, for which it reports what a rolled-back node reports (outcome failed at the
 * health step, reason RolledBack, rolledBack[]) — the controller's side of the contract, without launchd units.
 */
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { openclawCache } from '../helpers/openclaw.js';
import { ACME, acmeLevel, node } from './helpers.js';

const bad = vi.hoisted(() => ({ commit: '' }));
vi.mock('../../reconciler/apply/apply-fleet.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../reconciler/apply/apply-fleet.js')>();
  const { rollingBackApply } = await import('./rolled-back.js');
  return {
    ...real,
    applyFleet: rollingBackApply(real.applyFleet, bad),
  };
});


describe.skipIf(!openclawCache())('a commit rolled back on a canary', () => {
  let lc: LocalController | undefined;
  afterEach(async () => {
    await lc?.close();
  });

  it('is failed for good: tagged later it never fans out (also after a restart); the next commit fans out after its green passes', async () => {
    lc = localController({
      nodes: [
        { name: 'gw-1', canary: true, tenants: ['acme'] },
        { name: 'gw-2', tenants: ['acme'] },
      ],
      prefix: 'clawops-ctl-rb-',
    });
    const { nodes, origin } = lc;
    const link = (n: string): string => readlinkSync(join(nodes.root(n), 'etc/openclaw/tenants/acme'));
    origin.tag('release/1', 'HEAD', { date: '2026-11-01T00:00:00Z' });
    const { c, log } = await lc.start();
    for (let i = 0; i < 4; i++) await c.runPass();
    const good = link('gw-2');
    expect(node(c.status(), 'gw-2').state).toBe('Synced');

    bad.commit = origin.commit({ [ACME]: acmeLevel('warn') }, 'acme: warn (breaks readiness)');
    origin.push();
    await c.runPass();
    let s = c.status();
    expect(node(s, 'gw-1')).toMatchObject({ state: 'RolledBack', reason: 'RolledBack', lastError: { reason: 'RolledBack' } });
    expect(s.commits[bad.commit]).toMatchObject({ verdict: 'failed', failure: { reason: 'RolledBack', node: 'gw-1' } });
    expect(log.lines().some((l) => l.stage === 'gate' && String(l.msg).includes('will never fan out'))).toBe(true);
    // the canary backs off (30 s on the injected clock): no second attempt in the next pass, state still says why
    await c.runPass();
    expect(node(c.status(), 'gw-1')).toMatchObject({ state: 'RolledBack', backoff: { failures: 1, kind: 'apply' } });

    // tagging the failed commit does not fan it out
    origin.tag('release/2', bad.commit, { date: '2026-11-02T00:00:00Z' });
    for (let i = 0; i < 3; i++) await c.runPass();
    s = c.status();
    expect(s.source.fleet).toMatchObject({ tag: 'release/2', commit: bad.commit });
    expect(node(s, 'gw-2')).toMatchObject({ state: 'Gated', sync: { target: { tag: 'release/1' } } });
    expect(node(s, 'gw-2').message).toContain(`failed on canary gw-1 (RolledBack): it never fans out`);
    expect(link('gw-2')).toBe(good);

    // a restarted controller remembers
    await lc.close();
    const again = await lc.start();
    await again.c.runPass();
    expect(node(again.c.status(), 'gw-2').message).toContain('failed on canary gw-1 (RolledBack)');
    expect(link('gw-2')).toBe(good);

    // the fix is judged afresh: canary, two green passes, a release tag, fan-out
    const fix = origin.commit({ [ACME]: acmeLevel('error') }, 'acme: error');
    origin.push();
    again.clock.advance(31_000); // past the canary's backoff
    await again.c.runPass();
    expect(node(again.c.status(), 'gw-1')).toMatchObject({ state: 'Progressing', sync: { target: { commit: fix } } });
    origin.tag('release/3', fix, { date: '2026-11-03T00:00:00Z' });
    await again.c.runPass();
    expect(node(again.c.status(), 'gw-2').message).toContain(`canary gw-1 has been green on ${fix.slice(0, 7)} for 1 of 2 passes`);
    await again.c.runPass();
    s = again.c.status();
    expect(s.commits[fix]?.verdict).toBe('proven');
    expect(s.commits[bad.commit]?.verdict).toBe('failed');
    expect(link('gw-2')).toBe(link('gw-1'));
    expect(link('gw-2')).not.toBe(good);
  }, 240_000);
});
