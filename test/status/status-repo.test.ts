/**
 * `clawops status --repo`: a one-off observe (diff's front half) over a local fleet, mapped to the same status model
 * by the controller's own derivation: nothing deployed → OutOfSync with the apply to run; after apply → all Synced,
 * exit 0; a hand edit → Directory drift.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StatusView } from '../../reconciler/report/status-model.js';
import { makeLocalNodes, makeOrigin } from '../controller/helpers.js';
import { openclawCache } from '../helpers/openclaw.js';
import { runCli } from '../helpers/repo.js';

describe.skipIf(!openclawCache())('clawops status --repo (a one-off observe)', () => {
  it('OutOfSync before apply, Synced after (exit 0), a hand edit under Directory drift', async () => {
    const nodes = makeLocalNodes(['gw-1', 'gw-2'], ['acme', 'globex']);
    const origin = makeOrigin({ 'nodes.yaml': nodes.nodesYaml([{ name: 'gw-1', canary: true, tenants: ['acme'] }, { name: 'gw-2', tenants: ['acme', 'globex'] }]) });
    const repo = origin.work;

    let r = await runCli(['status', '--repo', repo]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n')[0]).toMatch(new RegExp(`^clawops status {2}observed now from ${repo} @ [0-9a-f]{12}$`));
    expect(r.stdout).toContain('\n2 node(s): 2 OutOfSync\n');
    expect(r.stdout).toContain('    next    clawops apply --repo <infra repo> --node gw-1\n');
    const before = JSON.parse((await runCli(['status', '--repo', repo, '--json'])).stdout) as StatusView;
    expect(before).toMatchObject({ from: { kind: 'observe' }, ok: false });
    expect(before.nodes.find((n) => n.node === 'gw-2')).toMatchObject({ state: 'OutOfSync', tokens: [], desired: { commit: origin.head(), openclaw: '2026.9.6' }, running: { openclaw: '2026.9.6' } });
    expect(before.gate).toBeUndefined();
    // the token state observe saw, per tenant (token.current provisioned, no token.next): never a value
    expect(before.nodes.find((n) => n.node === 'gw-2')?.tenants.map((t) => [t.tenant, t.token?.overlap, t.token?.current.mode])).toEqual([['acme', 'single', '600'], ['globex', 'single', '600']]);

    const apply = await runCli(['apply', '--repo', repo, '--yes']);
    expect(apply.code, apply.stderr).toBe(0);
    r = await runCli(['status', '--repo', repo]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('\n2 node(s): 2 Synced\n\nSynced: gw-1, gw-2\n\nAll nodes Synced and healthy\n');

    const file = join(nodes.root('gw-2'), 'etc/openclaw/tenants/globex/gateway.d/10-base.yaml');
    writeFileSync(file, `${readFileSync(file, 'utf8')}# hotfix\n`);
    r = await runCli(['status', '--repo', repo, '--node', 'gw-2']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\nDirectory drift\n {2}gw-2 \[gateway\] OutOfSync: Drifted since .*\n {4}why {5}globex: gateway\.d\/10-base\.yaml hand-edited on the node/);
  }, 180_000);
});
