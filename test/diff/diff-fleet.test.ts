/** `clawops diff` against real sshd fleet nodes. */
import { readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { seedSecrets } from '../helpers/secrets.js';
import { fleetAvailable, startFleet, type Fleet } from '../fleet/fleet.js';
import { desiredOf, fleetRepo, placeAll } from '../helpers/fleet-repo.js';
import { runCli } from '../helpers/repo.js';
import { openclawCache } from '../helpers/openclaw.js';
import type { DesiredState } from '../../reconciler/desired/types.js';

const avail = fleetAvailable();
const ready = avail.ok && openclawCache() !== undefined;

describe.skipIf(!ready)('clawops diff against a real fleet', () => {
  let fleet: Fleet;
  let repo: string;
  let desired: DesiredState;
  const diff = (...extra: string[]) => runCli(['diff', '--repo', repo, '--identity', fleet.clientKeyPath, ...extra]);

  beforeAll(async () => {
    fleet = await startFleet({ names: ['notifier-1', 'gw-1', 'gw-2'], openclaw: true });
    // secrets are provisioned out of band, never from git; a gateway tenant without them is Blocked
    for (const n of fleet.nodes) await seedSecrets(n, ['acme', 'globex', 'initech']);
    repo = fleetRepo(fleet);
    desired = desiredOf(repo);
  });
  afterAll(async () => {
    await fleet?.stop();
  });
  beforeEach(async () => {
    for (const n of fleet.nodes) if (!n.running()) await n.start();
    placeAll(fleet, desired);
  });

  it('reports a fleet in sync with exit 0, one remote command per node', async () => {
    const r = await diff('--json');
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout) as { inSync: boolean; nodes: { node: string; status: string; issues: { difference: boolean; message: string }[] }[] };
    expect(j.nodes.map((n) => [n.node, n.status])).toEqual([['notifier-1', 'InSync'], ['gw-1', 'InSync'], ['gw-2', 'InSync']]);
    expect(j.inSync).toBe(true);
    expect(r.code).toBe(0);
    const text = await diff();
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('In sync: 3 node(s)');
  });

  it('counts exactly one remote command per node for a diff', async () => {
    const { observeFleet } = await import('../../reconciler/observe/observe-fleet.js');
    const obs = await observeFleet(desired, desired.nodes, { identityFile: fleet.clientKeyPath });
    expect(obs.results.every((r) => r.ok)).toBe(true);
    expect(obs.commands).toEqual({ 'notifier-1': 1, 'gw-1': 1, 'gw-2': 1 });
  });

  it('starts the first wave of ssh logins while the desired state is built, and logs in to each node once', async () => {
    const { observeAndPlan } = await import('../../reconciler/commands/diff.js');
    const logins = (): number[] => fleet.nodes.map((n) => (readFileSync(n.sshdLogPath, 'utf8').match(/Accepted publickey/g) ?? []).length);
    const before = logins();
    const r = await observeAndPlan({ repo, identity: fleet.clientKeyPath }, { prune: false }, false);
    r.source.cleanup();
    expect(r.plan.inSync).toBe(true);
    expect(r.marks.earlyStarted).toBeDefined();
    expect(r.marks.earlyStarted!).toBeLessThan(r.marks.loaded);
    // sshd logs the login as it happens; every node once (no early login left unused, none made twice)
    await expect.poll(() => logins().map((n, i) => n - before[i]!), { timeout: 5000 }).toEqual(fleet.nodes.map(() => 1));
  });

  it('an unchanged node answers from the observation it kept; a hand edit after it is seen; --verify reads everything', async () => {
    const gw1 = fleet.node('gw-1');
    const t0 = (): string => readFileSync(join(gw1.varDbOpenclaw, 'clawops/observe/cache'), 'utf8').split('\n')[0]!.split('\t')[1]!;
    // the fleet was just placed: answers stay full until that is more than a second before the next full one
    await sleep(2100);
    expect((await diff()).code).toBe(0);
    const first = t0();
    await sleep(1100);
    expect((await diff()).code).toBe(0);
    expect(t0()).toBe(first); // kept: nothing rewritten
    await sleep(1100);
    expect((await diff('--verify')).code).toBe(0);
    expect(Number(t0())).toBeGreaterThan(Number(first)); // a full answer, kept in turn
    // a hand edit right after a kept answer
    await sleep(1100);
    expect((await diff()).code).toBe(0);
    const f = join(gw1.etcOpenclaw, 'tenants', 'acme', 'openclaw.json');
    writeFileSync(f, readFileSync(f, 'utf8').replace('{', '{"hand": 1, '));
    const r = await diff();
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/gw-1\/acme: openclaw\.json hand-edited on the node/);
  });

  it('reports a file edited on a node as drift naming node, tenant and file, with a redacted diff', async () => {
    const gw2 = fleet.node('gw-2');
    const file = join(gw2.etcOpenclaw, 'tenants', 'globex', 'openclaw.json');
    const doc = JSON.parse(await gw2.exec(`cat /etc/openclaw/tenants/globex/openclaw.json`).then((x) => x.stdout)) as Record<string, unknown>;
    doc.hand_edit = { token: 'sk-livehandpastedsecret0123456789' };
    writeFileSync(file, JSON.stringify(doc, null, 2));
    const r = await diff();
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Directory drift\n(.*\n)*\s+x gw-2\/globex: openclaw\.json hand-edited on the node/);
    expect(r.stdout).not.toContain('sk-livehandpastedsecret');
    expect(r.stdout).toContain('(secret');
    expect(r.stdout).toMatch(/gw-1 +InSync/);
    expect(r.stdout).toMatch(/gw-2 +Drifted/);
  });

  it('reports version skew with expected and found', async () => {
    const gw1 = fleet.node('gw-1');
    // a different openclaw earlier on the node's PATH than the shared install
    const link = join(gw1.binDir, 'openclaw');
    const target = readlinkSync(link); // the shared read-only install: replace the link, never write through it
    rmSync(link);
    writeFileSync(link, '#!/bin/sh\necho "OpenClaw 2026.8.1 (0badc0d)"\n', { mode: 0o755 });
    try {
      const r = await diff('--json');
      expect(r.code).toBe(1);
      const j = JSON.parse(r.stdout) as { nodes: { node: string; status: string; blocked: boolean; issues: { category: string; message: string }[] }[] };
      const n = j.nodes.find((x) => x.node === 'gw-1')!;
      expect(n.status).toBe('VersionSkew');
      expect(n.blocked).toBe(true);
      const skew = n.issues.find((i) => i.category === 'version-skew')!;
      expect(skew.message).toContain('2026.8.1');
      expect(skew.message).toContain('expected 2026.9.6');
      expect(j.nodes.find((x) => x.node === 'gw-2')!.status).toBe('InSync');
    } finally {
      rmSync(link);
      symlinkSync(target, link);
    }
  });

  it('reports a node with sshd stopped as Unreachable and still observes the others', async () => {
    await fleet.node('gw-2').stop();
    const r = await diff();
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Unreachable\n\s+x gw-2: /);
    expect(r.stdout).toMatch(/gw-1 +InSync/);
    expect(r.stdout).toMatch(/notifier-1 +InSync/);
  });

  it('refuses a node whose host key changed, naming both fingerprints', async () => {
    await fleet.node('notifier-1').regenerateHostKey();
    const r = await diff();
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/notifier-1: .*host key.*SHA256:\S+.*SHA256:\S+/i);
    expect(r.stdout).toMatch(/notifier-1 +HostKeyMismatch/);
  });

  it('exits 2 with one line for a repo URL that does not exist, an unknown ref and a malformed inventory', async () => {
    const missing = await runCli(['diff', '--repo', 'file:///nonexistent/infra.git']);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/cannot clone file:\/\/\/nonexistent\/infra\.git/);

    const ref = await runCli(['diff', '--repo', repo, '--ref', 'v9.9.9']);
    expect(ref.code).toBe(2);
    expect(ref.stderr).toMatch(/unknown ref "v9\.9\.9"/);

    const bad = fleetRepo(fleet, { 'nodes.yaml': 'nodes:\n  - name: gw-1\n    host: 127.0.0.1\n    port: nope\n' });
    const inv = await runCli(['diff', '--repo', bad]);
    expect(inv.code).toBe(2);
    expect(inv.stderr.trim().split('\n')).toHaveLength(1);
    expect(inv.stderr).toMatch(/nodes\.yaml:\d+:\d+: error: /);
  });
});
