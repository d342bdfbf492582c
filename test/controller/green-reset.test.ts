/**
 * An apply to a canary ends its run of green passes, and that is on disk before the apply starts (issue 10: kill -9
 * mid-pass and restart → "status intact"). Found by an adversarial review: a controller killed after repairing a
 * hand-edited canary, before its end-of-pass status write, came back counting the green pass from before the repair
 * and proved the commit with one green pass after it. Here the status.json on disk at the moment apply starts is
 * what a kill -9 during that apply would leave; a controller restarted on it must not prove the commit early.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { openclawCache } from '../helpers/openclaw.js';

const onDisk = vi.hoisted(() => ({ file: '', atApply: [] as string[] }));
vi.mock('../../reconciler/apply/apply-fleet.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../reconciler/apply/apply-fleet.js')>();
  const { readFileSync: read } = await import('node:fs');
  return {
    ...real,
    applyFleet: (async (...args: Parameters<typeof real.applyFleet>) => {
      if (onDisk.file) onDisk.atApply.push(read(onDisk.file, 'utf8'));
      return real.applyFleet(...args);
    }) as typeof real.applyFleet,
  };
});

describe.skipIf(!openclawCache())('green passes and an apply the store never recorded', () => {
  let lc: LocalController | undefined;
  afterEach(async () => {
    await lc?.close();
    onDisk.file = '';
    onDisk.atApply = [];
  });

  it('a canary repaired mid-way through its green passes starts counting again, also after kill -9 during the repair', async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }, { name: 'gw-2', tenants: ['acme'] }] });
    const { nodes, origin, stateDir } = lc;
    const c1 = origin.head();
    origin.tag('release/1', c1, { date: '2026-11-01T00:00:00Z' });
    const { c } = await lc.start();
    await c.runPass(); // applies c1 to the canary
    await c.runPass(); // green 1 of 2
    expect(c.status().commits[c1]?.canaries['gw-1']?.greenPasses).toBe(1);

    // a hand edit on the canary; the next pass repairs it (an apply)
    onDisk.file = join(stateDir, 'status.json');
    const f = join(nodes.root('gw-1'), 'etc/openclaw/tenants/acme/gateway.d/10-base.yaml');
    writeFileSync(f, `${readFileSync(f, 'utf8')}# hotfix\n`);
    await c.runPass();
    expect(onDisk.atApply).toHaveLength(1);
    const atKill = JSON.parse(onDisk.atApply[0]!) as { commits: Record<string, { canaries: Record<string, { greenPasses: number; note?: string }> }> };
    expect(atKill.commits[c1]!.canaries['gw-1']).toMatchObject({ greenPasses: 0, note: expect.stringMatching(/applied to again in pass .*green passes count from the next one/) });

    // kill -9 during that apply: the store is what was on disk then; a restart needs two more green passes
    await lc.close();
    writeFileSync(join(stateDir, 'status.json'), onDisk.atApply[0]!);
    onDisk.file = '';
    const again = await lc.start();
    await again.c.runPass();
    expect(again.c.status().commits[c1]).toMatchObject({ verdict: 'pending', canaries: { 'gw-1': { greenPasses: 1 } } });
    expect(again.c.status().fleetCommit).toBeUndefined();
    await again.c.runPass();
    expect(again.c.status().commits[c1]?.verdict).toBe('proven');
  }, 240_000);
});
