/**
 * Issue 8 hardening on the real sshd fleet: clawops touches only what it owns (real hex release dirs in a real
 * releases/<t>, tenants/<t>[.prev] links of exactly the form ../releases/<t>/<id>); everything else is reported and
 * left alone, never read, printed, followed, kept as .prev or made live; odd names are drift, repaired NUL-safely;
 * swaps are journalled and never go unrecorded; what dead runs leave is shown and cleaned; messages say what
 * happened. One test per reported defect asserting the promise, plus shapes the reports did not cover.
 *
 * The repo ships no launchd units (no reload, no health gate, no dead-man guard): those are covered elsewhere, and
 * without them an apply is one validation per changed release, which keeps this file fast. Releases are laid on the
 * nodes by hand (as apply lays them) instead of by a first apply.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { journalLine, type NodeApplyResult, type RunContext } from '../../reconciler/apply/apply-node.js';
import type { DesiredState } from '../../reconciler/desired/types.js';
import type { Issue, TenantPlan } from '../../reconciler/plan/types.js';
import { chownToNodeUser, fleetAvailable, startFleet, type Fleet, type FleetNodeHandle } from '../fleet/fleet.js';
import { commitEdits, desiredOf, fleetRepo, placeAll } from '../helpers/fleet-repo.js';
import { applyAfter, treeSnapshot } from '../helpers/node-state.js';
import { openclawCache } from '../helpers/openclaw.js';
import { layRelease } from '../helpers/release.js';
import { runCli, type CliRun } from '../helpers/repo.js';
import { secretValue, seedSecrets } from '../helpers/secrets.js';
import { NO_UNITS, acmeLevel, applyJson, extraLevel, killNodeNow } from '../helpers/fleet-cli.js';

const ready = fleetAvailable().ok && openclawCache() !== undefined;

const ASSIGN = {
  'gw-1': { role: 'gateway' as const, canary: true, tenants: ['acme', 'globex', 'initech'] },
  'gw-2': { role: 'gateway' as const, tenants: ['initech'] },
};
const TENANTS = ['acme', 'globex', 'initech'];
const extra = extraLevel;

interface PlanNodeJson {
  node: string;
  status: string;
  tenants: TenantPlan[];
  actions: { kind: string; tenant?: string }[];
  issues: Issue[];
  diffs: { tenant: string; path: string; change: string; patch: string }[];
}
interface PlanJsonOut {
  inSync: boolean;
  nodes: PlanNodeJson[];
}

describe.skipIf(!ready)('clawops touches only what it owns (issue 8 hardening)', () => {
  let fleet: Fleet;
  let gw1: FleetNodeHandle;
  let gw2: FleetNodeHandle;
  let repo: string;
  let desired: DesiredState;
  const key = (): string => fleet.clientKeyPath;

  const apply = (...args: string[]): ReturnType<typeof applyJson> => applyJson(repo, key(), ...args);
  const diff = (...args: string[]): Promise<CliRun> => runCli(['diff', '--repo', repo, '--identity', key(), ...args]);
  const diffJson = async (...args: string[]): Promise<CliRun & { plan: PlanJsonOut; node: (n: string) => PlanNodeJson }> => {
    const r = await diff('--json', ...args);
    const plan = JSON.parse(r.stdout) as PlanJsonOut;
    return { ...r, plan, node: (n) => plan.nodes.find((x) => x.node === n)! };
  };
  const rollback = (tenant: string, node = 'gw-1'): Promise<CliRun> => runCli(['rollback', '--repo', repo, '--identity', key(), '--node', node, '--tenant', tenant]);
  const result = (j: { results: NodeApplyResult[] } | undefined, node = 'gw-1'): NodeApplyResult => j!.results.find((r) => r.node === node)!;
  const tenantState = (n: PlanNodeJson, t: string): string | undefined => n.tenants.find((x) => x.tenant === t)?.state;
  const commit = (edits: Record<string, string | null>, msg = 'change'): void => {
    commitEdits(repo, edits, msg);
    desired = desiredOf(repo);
  };
  const idOf = (t: string): string => desired.tenants.get(t)!.releaseId;

  const etc = (n: FleetNodeHandle, ...p: string[]): string => join(n.etcOpenclaw, ...p);
  const clawopsDir = (n: FleetNodeHandle, ...p: string[]): string => join(n.varDbOpenclaw, 'clawops', ...p);
  const link = (n: FleetNodeHandle, name: string): string | undefined => {
    try {
      return readlinkSync(etc(n, 'tenants', name));
    } catch {
      return undefined;
    }
  };
  const linkId = (n: FleetNodeHandle, name: string): string | undefined => link(n, name)?.split('/').pop();
  const exists = (p: string): boolean => {
    try {
      lstatSync(p);
      return true;
    } catch {
      return false;
    }
  };
  const sh = async (n: FleetNodeHandle, cmd: string): Promise<string> => {
    const r = await n.exec(cmd);
    expect(r.code, `${cmd}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  /** point tenants/<name> at target the way apply does (a temp link renamed over it) */
  const pointAt = (n: FleetNodeHandle, name: string, target: string): Promise<string> =>
    sh(n, `ln -sfn '${target}' /etc/openclaw/tenants/.t-hand && mv -T /etc/openclaw/tenants/.t-hand '/etc/openclaw/tenants/${name}'`);
  const tokens = (n: FleetNodeHandle, t: string): string[] => ['token.current', 'hooks.token'].map((s) => secretValue(n.name, t, s));
  const reloadLog = (n: FleetNodeHandle): Record<string, unknown>[] => {
    const f = clawopsDir(n, 'reload.log');
    if (!existsSync(f) || lstatSync(f).isDirectory()) return [];
    return readFileSync(f, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  const clawopsFiles = (n: FleetNodeHandle, prefix: string): string[] => (existsSync(clawopsDir(n)) ? readdirSync(clawopsDir(n)).filter((f) => f.startsWith(prefix)) : []);
  /** no lock, no temp link, no staging dir, no want file left by this or any run */
  const expectTidy = (n: FleetNodeHandle): void => {
    expect(exists(clawopsDir(n, 'node.lock')), `${n.name}: node.lock`).toBe(false);
    expect(clawopsFiles(n, 'want.'), `${n.name}: want files`).toEqual([]);
    if (existsSync(etc(n, 'tenants'))) expect(readdirSync(etc(n, 'tenants')).filter((x) => x.startsWith('.clawops-')), `${n.name}: temp links`).toEqual([]);
  };

  beforeAll(async () => {
    fleet = await startFleet({ names: ['gw-1', 'gw-2'], openclaw: true });
    gw1 = fleet.node('gw-1');
    gw2 = fleet.node('gw-2');
  }, 120_000);
  afterAll(async () => {
    await fleet?.stop();
  });
  beforeEach(async () => {
    for (const n of fleet.nodes) {
      if (!n.running()) await n.start();
      // a clean node: nothing deployed, no clawops state, the secrets as provisioned, no user dirs of earlier tests
      await sh(n, 'chmod -R u+w /etc/openclaw /var/db/openclaw /home/clawops 2>/dev/null; rm -rf /etc/openclaw/* /etc/openclaw/.[!.]* /var/db/openclaw/clawops /var/db/openclaw/secrets/* /home/clawops/important* /home/clawops/pwned*; true');
      await seedSecrets(n, TENANTS);
    }
    repo = fleetRepo(fleet, NO_UNITS, ASSIGN);
    desired = desiredOf(repo);
    // every node in sync, laid out by hand the way apply lays it out
    placeAll(fleet, desired);
  });

  // ---------------------------------------------------------------------------------------------------------------
  // 1. a symlinked releases/<t> (or releases/, or a release id) is never followed

  it('1. releases/initech a symlink to a user dir full of hex-named and .tmp- dirs: nothing in it is pruned, staged or cleaned; initech refused naming the path; other tenants and nodes applied', async () => {
    const id = idOf('initech');
    // the user's directory: the live release moved in, plus old dirs that look like releases and staging dirs
    const junk = ['0000000000000001', '0000000000000002', '0000000000000003', '0000000000000004', '0000000000000005', '0000000000000006', 'x.tmp-old', `${id}.tmp-20200101t000000-abcdef`];
    await sh(gw1, [
      'mkdir -p /home/clawops/important',
      `mv /etc/openclaw/releases/initech/${id} /home/clawops/important/`,
      'rmdir /etc/openclaw/releases/initech',
      'ln -s /home/clawops/important /etc/openclaw/releases/initech',
      `cd /home/clawops/important && for d in ${junk.join(' ')}; do mkdir "$d" && echo "USERDATA-$d" > "$d/data" && touch -d 2020-01-01 "$d/data" "$d"; done`,
    ].join(' && '));
    const before = treeSnapshot(join(gw1.homeDir, 'important'));
    commit({ ...extra('initech', 'warn'), ...extra('globex', 'warn') }, 'initech and globex');

    const text = await diff();
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/gw-1\/initech: .*\/etc\/openclaw\/releases\/initech is a symlink/);
    expect(text.stdout).not.toContain('USERDATA');
    const dj = await diffJson();
    expect(tenantState(dj.node('gw-1'), 'initech')).toBe('Blocked');
    expect(dj.node('gw-1').issues.some((i) => i.reason === 'UnexpectedEntry' && i.tenant === 'initech' && i.message.includes('/etc/openclaw/releases/initech'))).toBe(true);
    expect(dj.stdout).not.toContain('USERDATA');

    const r = await apply();
    expect(r.code).toBe(1);
    expect(r.json!.ok).toBe(false);
    expect(r.json!.blocked).toEqual(['gw-1/initech']);
    expect(result(r.json).swapped.map((s) => s.tenant)).toEqual(['globex']);
    // the other node is not this node's problem: its initech goes ahead
    expect(result(r.json, 'gw-2').swapped.map((s) => s.tenant)).toEqual(['initech']);
    expect(treeSnapshot(join(gw1.homeDir, 'important'))).toEqual(before);
    expect(readlinkSync(etc(gw1, 'releases', 'initech'))).toBe('/home/clawops/important');
    expect(link(gw1, 'initech')).toBe(`../releases/initech/${id}`);
    expect(r.stdout).not.toContain('USERDATA');
    expectTidy(gw1);

    // a dead run's litter on the same node: the cleanup (recover) never walks through the link either
    const now = Math.floor(Date.now() / 1000);
    writeFileSync(clawopsDir(gw1, 'node.lock'), `{"run":"20200101t000000-abcdef","owner":"alice@laptop","pid":4242,"ttl_sec":60,"acquired_epoch":${now - 3600},"host":"laptop"}\n`);
    writeFileSync(clawopsDir(gw1, 'want.20200101t000000-abcdef'), 'F\tinitech\tx\ty\tz\n');
    chownToNodeUser(clawopsDir(gw1));
    const rec = await apply('--node', 'gw-1');
    expect(rec.code).toBe(1); // initech still blocked
    expect(treeSnapshot(join(gw1.homeDir, 'important'))).toEqual(before);
    expectTidy(gw1);
  }, 60_000);

  it('1 (spec). the apply result of a node lists a tenant whose releases/<t> is a symlink in refusedTenants, naming the path', async () => {
    // spec: "apply refuses that tenant on that node (its result lists it in refusedTenants …)". Regression: the
    // planner blocked the tenant and the node's result never mentioned it (only the run's `blocked` list did).
    await sh(gw1, 'mkdir -p /home/clawops/important && mv /etc/openclaw/releases/initech/* /home/clawops/important/ && rmdir /etc/openclaw/releases/initech && ln -s /home/clawops/important /etc/openclaw/releases/initech');
    commit({ ...extra('initech', 'warn'), ...extra('globex', 'warn') }, 'initech and globex');
    const r = await apply('--node', 'gw-1');
    expect(r.code).toBe(1);
    expect(result(r.json).refusedTenants).toEqual([{ tenant: 'initech', message: expect.stringContaining('/etc/openclaw/releases/initech') }]);
  }, 60_000);

  it('1b. releases/initech becomes a symlink between plan and apply: the node refuses initech (refusedTenants, naming the path), applies globex, touches nothing behind the link', async () => {
    const id = idOf('initech');
    await sh(gw1, `mkdir -p /home/clawops/important && cd /home/clawops/important && for d in 0000000000000001 0000000000000002 0000000000000003 0000000000000004 0000000000000005 0000000000000006 x.tmp-old; do mkdir "$d" && echo "USERDATA-$d" > "$d/data" && touch -d 2020-01-01 "$d"; done`);
    commit({ ...extra('initech', 'warn'), ...extra('globex', 'warn') }, 'initech and globex');
    let before: string[] = [];
    const res = await applyAfter({ repo, identity: key(), nodes: ['gw-1'] }, async () => {
      await sh(gw1, `mv /etc/openclaw/releases/initech/${id} /home/clawops/important/ && rmdir /etc/openclaw/releases/initech && ln -s /home/clawops/important /etc/openclaw/releases/initech`);
      before = treeSnapshot(join(gw1.homeDir, 'important'));
    });
    const g = result(res);
    expect(g.refusedTenants.map((x) => x.tenant)).toEqual(['initech']);
    expect(g.refusedTenants[0]!.message).toContain('/etc/openclaw/releases/initech');
    expect(g.swapped.map((s) => s.tenant)).toEqual(['globex']);
    expect(g.staged).toEqual(['globex']);
    expect(treeSnapshot(join(gw1.homeDir, 'important'))).toEqual(before);
    expect(link(gw1, 'initech')).toBe(`../releases/initech/${id}`);
    expectTidy(gw1);
  }, 60_000);

  it('1b (spec). a node that refused a tenant makes the run not ok (the CLI exits 1 on it)', async () => {
    // spec: a refused tenant → "the run is not ok, exit 1". Regression: applyFleet's ok counted only outcomes
    // ('applied' here) and the CLI's only added the planner's blocked list, so a refusal by the node itself exited 0.
    const id = idOf('initech');
    commit({ ...extra('initech', 'warn'), ...extra('globex', 'warn') }, 'initech and globex');
    const res = await applyAfter({ repo, identity: key(), nodes: ['gw-1'] }, async () => {
      await sh(gw1, `mkdir -p /home/clawops/important && mv /etc/openclaw/releases/initech/${id} /home/clawops/important/ && rmdir /etc/openclaw/releases/initech && ln -s /home/clawops/important /etc/openclaw/releases/initech`);
    });
    expect(result(res).refusedTenants.map((x) => x.tenant)).toEqual(['initech']);
    expect(res.ok).toBe(false);
  }, 60_000);

  it('1c. /etc/openclaw/releases itself a symlink: every tenant blocked (diff names it), apply changes nothing behind it, also when it appears between plan and apply', async () => {
    await sh(gw1, 'mkdir -p /home/clawops/important && cd /home/clawops/important && for d in 0000000000000001 0000000000000002 0000000000000003 0000000000000004 0000000000000005 0000000000000006 y.tmp-old; do mkdir -p "releases/acme/$d" && echo USERDATA > "releases/acme/$d/data" && touch -d 2020-01-01 "releases/acme/$d"; done');
    commit(acmeLevel('warn'), 'acme warn');
    let before: string[] = [];
    // first behind the planner's back: BEGIN refuses every tenant, nothing is staged, swapped, pruned or cleaned
    const raced = await applyAfter({ repo, identity: key(), nodes: ['gw-1'] }, async () => {
      await sh(gw1, 'cp -a /etc/openclaw/releases/. /home/clawops/important/releases/ && rm -rf /etc/openclaw/releases && ln -s /home/clawops/important/releases /etc/openclaw/releases');
      before = treeSnapshot(join(gw1.homeDir, 'important'));
    });
    const g = result(raced);
    expect(g.outcome).toBe('refused');
    expect(g.reason).toBe('UnexpectedEntry');
    expect(g.swapped).toEqual([]);
    expect(g.message).toContain('/etc/openclaw/releases is a symlink');
    expect(treeSnapshot(join(gw1.homeDir, 'important'))).toEqual(before);
    expectTidy(gw1);

    const text = await diff('--node', 'gw-1');
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('/etc/openclaw/releases is a symlink (/home/clawops/important/releases)');
    expect(text.stdout).not.toContain('USERDATA');
    const dj = await diffJson('--node', 'gw-1');
    expect(TENANTS.map((t) => tenantState(dj.node('gw-1'), t))).toEqual(['Blocked', 'Blocked', 'Blocked']);
    const r = await apply('--node', 'gw-1');
    expect(r.code).toBe(1);
    expect(r.json!.blocked?.sort()).toEqual(['gw-1/acme', 'gw-1/globex', 'gw-1/initech']);
    expect(treeSnapshot(join(gw1.homeDir, 'important'))).toEqual(before);
    expect(readlinkSync(etc(gw1, 'releases'))).toBe('/home/clawops/important/releases');
  }, 60_000);

  it('1d. a release id that is a symlink: the current one blocks the tenant and its target is untouched; an old one is never pruned through, even when it appears after the plan', async () => {
    const id = idOf('initech');
    await sh(gw1, `mkdir -p /home/clawops/important && mv /etc/openclaw/releases/initech/${id} /home/clawops/important/rel && ln -s /home/clawops/important/rel /etc/openclaw/releases/initech/${id}`);
    const before = treeSnapshot(join(gw1.homeDir, 'important'));
    commit(extra('initech', 'warn'), 'initech warn');
    const text = await diff('--node', 'gw-1');
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`/etc/openclaw/releases/initech/${id} is a symlink, not a release`);
    const r = await apply('--node', 'gw-1');
    expect(r.code).toBe(1);
    expect(r.json!.blocked).toEqual(['gw-1/initech']);
    expect(treeSnapshot(join(gw1.homeDir, 'important'))).toEqual(before);
    expect(readlinkSync(etc(gw1, 'releases', 'initech', id))).toBe('/home/clawops/important/rel');
    const rb = await rollback('initech');
    expect(rb.code).toBe(2);
    expect(treeSnapshot(join(gw1.homeDir, 'important'))).toEqual(before);

    // acme: six old real releases (prune is due) and an old hex-named symlink into the user's dir, made after the plan
    const acmeId = idOf('acme');
    commit(acmeLevel('warn'), 'acme warn');
    let user: string[] = [];
    const res = await applyAfter({ repo, identity: key(), nodes: ['gw-1'] }, async () => {
      await sh(gw1, [
        'mkdir -p /home/clawops/important2/keep && echo USERDATA > /home/clawops/important2/keep/data',
        'cd /etc/openclaw/releases/acme && for i in 1 2 3 4 5 6; do mkdir 100000000000000$i && touch -d 2020-01-0$i 100000000000000$i; done',
        'ln -s /home/clawops/important2/keep /etc/openclaw/releases/acme/0000000000000000 && touch -h -d 2020-01-01 /etc/openclaw/releases/acme/0000000000000000',
      ].join(' && '));
      user = treeSnapshot(join(gw1.homeDir, 'important2'));
    });
    const g = result(res);
    expect(g.swapped.map((s) => `${s.tenant}:${s.from}`)).toEqual([`acme:${acmeId}`]);
    expect(g.pruned.sort()).toEqual(['acme/1000000000000001', 'acme/1000000000000002', 'acme/1000000000000003']);
    expect(readlinkSync(etc(gw1, 'releases', 'acme', '0000000000000000'))).toBe('/home/clawops/important2/keep');
    expect(treeSnapshot(join(gw1.homeDir, 'important2'))).toEqual(user);
  }, 60_000);

  // ---------------------------------------------------------------------------------------------------------------
  // 2. a tenant link pointing anywhere but ../releases/<t>/<id> is never read, printed, kept as .prev or made live

  it('2. tenants/globex pointing at secrets, /etc, a traversal, an absolute path, another tenant\'s release or its own with a trailing slash: never read or printed by diff, refused by apply (also behind the planner\'s back), never kept as .prev, rollback refuses', async () => {
    const gid = idOf('globex');
    const secret = tokens(gw1, 'globex');
    const acmeSecret = tokens(gw1, 'acme');
    // a complete second release and a .prev at it: a rollback would have somewhere to go if it did not refuse
    await sh(gw1, `cp -a /etc/openclaw/releases/globex/${gid} /etc/openclaw/releases/globex/00000000000000f0 && ln -s ../releases/globex/00000000000000f0 /etc/openclaw/tenants/globex.prev`);
    const secretsBefore = treeSnapshot(join(gw1.varDbOpenclaw, 'secrets'));
    commit(extra('globex', 'warn'), 'globex warn');
    const targets = [
      '/var/db/openclaw/secrets/globex',
      '/etc',
      '../releases/globex/../../../var/db/openclaw/secrets/globex',
      `/etc/openclaw/releases/globex/${gid}`,
      `../releases/acme/${idOf('acme')}`,
      `../releases/globex/${gid}/`,
    ];
    for (const [i, target] of targets.entries()) {
      const full = i < 4; // the reported shapes get every command; the others diff, rollback and the raced apply
      await pointAt(gw1, 'globex', target);
      const outs: string[] = [];
      if (full) {
        const text = await diff('--node', 'gw-1');
        expect(text.code, target).toBe(1);
        expect(text.stdout, target).toContain('/etc/openclaw/tenants/globex points at');
        outs.push(text.stdout + text.stderr);
      }
      const json = await diffJson('--node', 'gw-1');
      outs.push(json.stdout + json.stderr);
      expect(json.code, target).toBe(1);
      expect(tenantState(json.node('gw-1'), 'globex'), target).toBe('Blocked');
      expect(json.node('gw-1').issues.filter((x) => x.reason === 'UnexpectedEntry' && x.tenant === 'globex').map((x) => x.message), target).toEqual([expect.stringContaining('/etc/openclaw/tenants/globex points at')]);
      // no diff of anything under that link
      expect(json.node('gw-1').diffs.filter((d) => d.tenant === 'globex'), target).toEqual([]);

      if (full) {
        const r = await apply('--node', 'gw-1');
        expect(r.code, target).toBe(1);
        expect(r.json!.blocked, target).toEqual(['gw-1/globex']);
        outs.push(r.stdout + r.stderr);
        expect(link(gw1, 'globex'), target).toBe(target);
        expect(link(gw1, 'globex.prev'), target).toBe('../releases/globex/00000000000000f0');
      }

      const rb = await rollback('globex');
      expect(rb.code, target).toBe(2);
      expect(rb.stderr, target).toMatch(/gw-1\/globex: refused: .*tenants\/globex points at .*; nothing was changed/);
      outs.push(rb.stdout + rb.stderr);
      expect(link(gw1, 'globex'), target).toBe(target);
      expect(link(gw1, 'globex.prev'), target).toBe('../releases/globex/00000000000000f0');
      for (const out of outs) {
        for (const tok of [...secret, ...acmeSecret]) expect(out, target).not.toContain(tok);
        expect(out, target).not.toMatch(/root:[^\s]*:0:0/);
      }

      // the same link appearing after the plan: BEGIN refuses globex before anything is staged or swapped
      await pointAt(gw1, 'globex', `../releases/globex/${gid}`);
      const raced = await applyAfter({ repo, identity: key(), nodes: ['gw-1'] }, () => pointAt(gw1, 'globex', target).then(() => undefined));
      const g = result(raced);
      expect(g.outcome, target).toBe('refused');
      expect(g.refusedTenants.map((x) => x.tenant), target).toEqual(['globex']);
      expect(g.refusedTenants[0]!.message, target).toContain('/etc/openclaw/tenants/globex points at');
      expect(g.swapped, target).toEqual([]);
      expect(link(gw1, 'globex'), target).toBe(target);
      expect(link(gw1, 'globex.prev'), target).toBe('../releases/globex/00000000000000f0');
      expectTidy(gw1);
    }
    expect(readdirSync(etc(gw1, 'releases', 'globex')).sort()).toEqual(['00000000000000f0', gid].sort());
    expect(treeSnapshot(join(gw1.varDbOpenclaw, 'secrets'))).toEqual(secretsBefore);
    expect(reloadLog(gw1)).toEqual([]);
  }, 90_000);

  it('2b. tenants/globex.prev pointing at the secrets (current fine): diff shows no secret, apply refuses globex and leaves that .prev, rollback refuses', async () => {
    const gid = idOf('globex');
    commit(extra('globex', 'warn'), 'globex warn');
    // behind the planner's back first: BEGIN refuses globex, nothing staged or swapped
    const raced = await applyAfter({ repo, identity: key(), nodes: ['gw-1'] }, () => pointAt(gw1, 'globex.prev', '/var/db/openclaw/secrets/globex').then(() => undefined));
    expect(result(raced).refusedTenants.map((x) => x.tenant)).toEqual(['globex']);
    expect(result(raced).swapped).toEqual([]);
    expect(link(gw1, 'globex.prev')).toBe('/var/db/openclaw/secrets/globex');
    for (const args of [[], ['--json']]) {
      const d = await diff('--node', 'gw-1', ...args);
      expect(d.code).toBe(1);
      for (const tok of tokens(gw1, 'globex')) expect(d.stdout).not.toContain(tok);
      expect(d.stdout).toContain('/etc/openclaw/tenants/globex.prev points at /var/db/openclaw/secrets/globex');
    }
    const r = await apply('--node', 'gw-1');
    expect(r.code).toBe(1);
    expect(r.json!.blocked).toEqual(['gw-1/globex']);
    expect(link(gw1, 'globex')).toBe(`../releases/globex/${gid}`);
    expect(link(gw1, 'globex.prev')).toBe('/var/db/openclaw/secrets/globex');
    const rb = await rollback('globex');
    expect(rb.code).toBe(2);
    expect(rb.stderr).toMatch(/refused: .*globex\.prev points at/);
    expect(link(gw1, 'globex')).toBe(`../releases/globex/${gid}`);
    expect(link(gw1, 'globex.prev')).toBe('/var/db/openclaw/secrets/globex');
    expect(reloadLog(gw1)).toEqual([]);
  }, 60_000);

  // ---------------------------------------------------------------------------------------------------------------
  // 3. a missing or incomplete current release is never kept as .prev; rollback refuses an incomplete .prev

  it('3. the current release deleted by hand: the next apply (exit 0) keeps the good .prev and says so; rollback then goes back to it', async () => {
    const v1 = idOf('acme');
    commit(acmeLevel('warn'), 'v2');
    const v2 = idOf('acme');
    expect((await apply('--node', 'gw-1')).code).toBe(0);
    expect(linkId(gw1, 'acme.prev')).toBe(v1);
    await sh(gw1, `rm -rf /etc/openclaw/releases/acme/${v2}`);
    commit(acmeLevel('error'), 'v3');
    const v3 = idOf('acme');
    const r = await runCli(['apply', '--repo', repo, '--identity', key(), '--yes', '--node', 'gw-1']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(linkId(gw1, 'acme')).toBe(v3);
    expect(linkId(gw1, 'acme.prev')).toBe(v1);
    // a warning at the swap naming the release that was not kept
    const warns = r.stderr.split('\n').filter((l) => l.includes('"state":"warn"') && l.includes('"step":"swap"'));
    expect(warns.join('\n')).toContain(v2);
    const log = reloadLog(gw1).filter((l) => l.release_id === v3);
    expect(log).toEqual([expect.objectContaining({ action: 'apply', tenant: 'acme', prev_release_id: v2 })]);
    const rb = await rollback('acme');
    expect(rb.code, rb.stderr).toBe(0);
    expect(linkId(gw1, 'acme')).toBe(v1);
    expect(linkId(gw1, 'acme.prev')).toBe(v3);
    expect(JSON.parse(readFileSync(join(etc(gw1, 'tenants', 'acme'), 'openclaw.json'), 'utf8'))).toMatchObject({ gateway: { port: 18809 } });
  }, 60_000);

  it('3b. a hand-damaged current (a file edited, or its manifest gone) is not kept as .prev either; a .prev without manifest, or missing, makes rollback refuse and change nothing', async () => {
    const v1 = idOf('acme');
    commit(acmeLevel('warn'), 'v2');
    const v2 = idOf('acme');
    expect((await apply('--node', 'gw-1')).code).toBe(0);
    // v2 hand-edited: incomplete (its hashes no longer match)
    await sh(gw1, `echo '# hotfix' >> /etc/openclaw/releases/acme/${v2}/gateway.d/10-base.yaml`);
    commit(acmeLevel('error'), 'v3');
    const v3 = idOf('acme');
    const r = await apply('--node', 'gw-1');
    expect(r.code, r.stdout).toBe(0);
    expect(linkId(gw1, 'acme')).toBe(v3);
    expect(linkId(gw1, 'acme.prev')).toBe(v1);

    // the .prev release (v1) loses its manifest: rollback refuses, nothing changes
    await sh(gw1, `rm /etc/openclaw/releases/acme/${v1}/.clawops/manifest.json`);
    const snap = treeSnapshot(gw1.etcOpenclaw);
    const logBefore = reloadLog(gw1);
    const rb = await rollback('acme');
    expect(rb.code).toBe(2);
    expect(rb.stderr).toMatch(new RegExp(`\\.prev points at release ${v1}, which is missing or incomplete; nothing was changed`));
    expect(treeSnapshot(gw1.etcOpenclaw)).toEqual(snap);
    expect(reloadLog(gw1)).toEqual(logBefore);
    expectTidy(gw1);
    const d = await diff('--node', 'gw-1');
    expect(d.stdout).toMatch(new RegExp(`gw-1/acme: \\.prev points at release ${v1}, which is missing or incomplete`));

    // the .prev release gone altogether: the same
    await sh(gw1, `rm -rf /etc/openclaw/releases/acme/${v1}`);
    const snap2 = treeSnapshot(gw1.etcOpenclaw);
    const rb2 = await rollback('acme');
    expect(rb2.code).toBe(2);
    expect(rb2.stderr).toContain(`points at release ${v1}, which is missing or incomplete; nothing was changed`);
    expect(treeSnapshot(gw1.etcOpenclaw)).toEqual(snap2);

    // a first deploy whose current vanished: no .prev appears from nowhere
    await sh(gw1, `rm -rf /etc/openclaw/releases/initech/${idOf('initech')}`);
    commit(extra('initech', 'warn'), 'initech warn');
    const i = await apply('--node', 'gw-1');
    expect(i.code, i.stdout).toBe(0);
    expect(linkId(gw1, 'initech')).toBe(idOf('initech'));
    expect(link(gw1, 'initech.prev')).toBeUndefined();
  }, 60_000);

  // ---------------------------------------------------------------------------------------------------------------
  // 4. names outside [A-Za-z0-9._-] are drift, never parsed, hashed or read; a repair removes them with find itself

  it('4. odd names in the live release (newline, tab, backslash, -rf, glob and shell characters, UTF-8, a directory, a link to the secrets, "x\\n.." in a subdir): drift, not InSync; repaired NUL-safely; nothing else deleted; later apply and diff clean', async () => {
    const id = idOf('acme');
    const rel = etc(gw1, 'releases', 'acme', id);
    const files = ['x\ngateway.d', 'y\tdoctor.d', 'back\\slash', '-rf', '*', 'a b', '$(touch pwned)', '`touch pwned2`', 'café', '\nopenclaw.json'];
    for (const f of files) writeFileSync(join(rel, f), 'STRAY-CONTENT\n');
    // a directory with an odd name holding a file and a link to the tenant's secrets (rm -rf must not follow it)
    mkdirSync(join(rel, 'z\nwebhook.d'));
    writeFileSync(join(rel, 'z\nwebhook.d', 'f'), 'STRAY-CONTENT\n');
    symlinkSync('/var/db/openclaw/secrets/acme', join(rel, 'z\nwebhook.d', 'secrets'));
    symlinkSync('/var/db/openclaw/secrets/acme/token.current', join(rel, 'tok\nen'));
    // in a subdir: split into lines this would read "gateway.d/x" and ".." (the release dir's parent)
    writeFileSync(join(rel, 'gateway.d', 'x\n..'), 'STRAY-CONTENT\n');
    chownToNodeUser(gw1.etcOpenclaw);
    const secretsBefore = treeSnapshot(join(gw1.varDbOpenclaw, 'secrets'));

    const text = await diff('--node', 'gw-1');
    expect(text.code).toBe(1);
    for (const shown of ['x?gateway.d', 'y?doctor.d', 'z?webhook.d', 'tok?en', 'gateway.d/x?..', '?openclaw.json']) expect(text.stdout).toContain(`gw-1/acme: ${shown} added on the node`);
    expect(text.stdout).not.toContain('STRAY-CONTENT');
    for (const tok of tokens(gw1, 'acme')) expect(text.stdout).not.toContain(tok);
    const dj = await diffJson('--node', 'gw-1');
    expect(tenantState(dj.node('gw-1'), 'acme')).toBe('Drifted');
    expect(dj.plan.inSync).toBe(false);
    const drifted = dj.node('gw-1').issues.filter((i) => i.reason === 'Drifted' && i.tenant === 'acme').map((i) => i.file!);
    expect(drifted).toEqual(expect.arrayContaining(['x?gateway.d', 'y?doctor.d', 'back\\slash', '-rf', '*', 'a b', '$(touch pwned)', '`touch pwned2`', 'z?webhook.d', 'tok?en', 'gateway.d/x?..', '?openclaw.json']));
    expect(drifted.some((f) => f.startsWith('caf'))).toBe(true);
    expect(dj.stdout).not.toContain('STRAY-CONTENT');

    const r = await apply('--node', 'gw-1');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(result(r.json).swapped).toEqual([]); // repaired in place: the link never moves
    expect(linkId(gw1, 'acme')).toBe(id);
    const want = desired.tenants.get('acme')!.files.map((f) => f.path);
    const top = [...new Set(want.map((p) => p.split('/')[0]!))];
    expect(readdirSync(rel).sort()).toEqual([...top, '.clawops'].sort());
    for (const d of ['gateway.d', 'doctor.d', 'webhook.d']) expect(readdirSync(join(rel, d)).sort()).toEqual(want.filter((p) => p.startsWith(`${d}/`)).map((p) => p.slice(d.length + 1)).sort());
    for (const f of desired.tenants.get('acme')!.files) expect(readFileSync(join(rel, f.path)).equals(f.content), f.path).toBe(true);
    expect(readdirSync(gw1.homeDir).filter((f) => f.startsWith('pwned'))).toEqual([]);
    expect(treeSnapshot(join(gw1.varDbOpenclaw, 'secrets'))).toEqual(secretsBefore);
    // the other tenants' releases and links are whole
    for (const t of ['globex', 'initech']) expect(readdirSync(etc(gw1, 'releases', t))).toEqual([idOf(t)]);

    const again = await runCli(['apply', '--repo', repo, '--identity', key(), '--yes', '--node', 'gw-1']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing to apply.');
    expect((await diff('--node', 'gw-1')).code).toBe(0);
  }, 60_000);

  it('4b. odd names outside a release (under tenants/, under releases/<t>/) are reported with ? and left alone; the tenant next to them still deploys', async () => {
    await sh(gw1, `ln -s ../releases/acme/${idOf('acme')} "/etc/openclaw/tenants/$(printf 'acme\\nx')" && mkdir "/etc/openclaw/releases/initech/$(printf '0123\\tabcd')"`);
    const text = await diff('--node', 'gw-1');
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('/etc/openclaw/tenants/acme?x is not a name clawops uses (left alone)');
    expect(text.stdout).toContain('gw-1/initech: /etc/openclaw/releases/initech/0123?abcd is not a release clawops made (left alone)');
    commit({ ...acmeLevel('warn'), ...extra('initech', 'warn') }, 'acme and initech');
    const r = await apply('--node', 'gw-1');
    expect(r.code).toBe(1);
    expect(r.json!.blocked).toEqual(['gw-1/initech']);
    expect(result(r.json).swapped.map((s) => s.tenant)).toEqual(['acme']);
    expect(exists(etc(gw1, 'tenants', 'acme\nx'))).toBe(true);
    expect(exists(etc(gw1, 'releases', 'initech', '0123\tabcd'))).toBe(true);
  }, 60_000);

  // ---------------------------------------------------------------------------------------------------------------
  // 5. an unwritable reload log: the node fails RecordFailed saying what runs, the intent stays, the next run records it

  /** a reload log with one old line, owned by the login user, then made unwritable by `spoil` (run as that user) */
  const spoilLog = async (n: FleetNodeHandle, spoil: string): Promise<void> => {
    await sh(n, `mkdir -p /var/db/openclaw/clawops && echo '{"action":"apply","tenant":"acme","release_id":"0000000000000000","run":"old"}' > /var/db/openclaw/clawops/reload.log && ${spoil}`);
  };

  it('5. reload.log read-only (0444, the login user is unprivileged): the swap happens, the node fails RecordFailed naming what now runs, the intent stays; while it stays unwritable the next run changes nothing; once writable the next apply records it with recovered_by and diff is clean', async () => {
    await spoilLog(gw1, 'chmod 0444 /var/db/openclaw/clawops/reload.log');
    commit(acmeLevel('warn'), 'v2');
    const v2 = idOf('acme');
    const r = await apply('--node', 'gw-1');
    expect(r.code).toBe(1);
    expect(r.json!.ok).toBe(false);
    const g = result(r.json);
    expect(g).toMatchObject({ outcome: 'failed', reason: 'RecordFailed' });
    expect(g.swapped.map((s) => s.to)).toEqual([v2]);
    // one line, saying the swap happened and what runs now
    expect(g.message).not.toContain('\n');
    expect(g.message).toContain('acme');
    expect(g.message).toContain(v2);
    expect(g.message).toMatch(/swapped|now runs/);
    expect(g.message).toMatch(/reload\.log/);
    expect(linkId(gw1, 'acme')).toBe(v2);
    const intents = clawopsFiles(gw1, 'intent.');
    expect(intents).toEqual([`intent.${r.json!.run!}`]);
    expect(readFileSync(clawopsDir(gw1, intents[0]!), 'utf8')).toContain(`"release_id":"${v2}"`);
    expect(reloadLog(gw1)).toHaveLength(1);
    expectTidy(gw1);

    // the next run takes the lock, cannot record, and refuses before changing anything (a newer commit waits)
    const dj = await diffJson('--node', 'gw-1');
    expect(dj.node('gw-1').issues.filter((i) => i.reason === 'UnrecordedSwap').map((i) => i.message)).toEqual([expect.stringContaining(v2)]);
    commit(acmeLevel('error'), 'v3');
    const v3 = idOf('acme');
    const blocked = await apply('--node', 'gw-1');
    expect(blocked.code).toBe(1);
    expect(result(blocked.json)).toMatchObject({ outcome: 'failed', reason: 'RecordFailed' });
    expect(linkId(gw1, 'acme')).toBe(v2);
    expect(readdirSync(etc(gw1, 'releases', 'acme')).filter((x) => x.startsWith(v3))).toEqual([]);
    expect(clawopsFiles(gw1, 'intent.')).toEqual(intents);
    expectTidy(gw1);

    await sh(gw1, 'chmod 0644 /var/db/openclaw/clawops/reload.log');
    const fixed = await apply('--node', 'gw-1');
    expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0);
    expect(result(fixed.json).recovered).toEqual([`acme/${v2}`]);
    expect(linkId(gw1, 'acme')).toBe(v3);
    const log = reloadLog(gw1);
    expect(log.filter((l) => l.release_id === v2)).toEqual([expect.objectContaining({ action: 'apply', tenant: 'acme', run: r.json!.run, recovered_by: fixed.json!.run })]);
    expect(log.filter((l) => l.release_id === v3)).toEqual([expect.objectContaining({ action: 'apply', tenant: 'acme', run: fixed.json!.run })]);
    expect(log.filter((l) => l.release_id === v3)[0]).not.toHaveProperty('recovered_by');
    expect(clawopsFiles(gw1, 'intent.')).toEqual([]);
    expect((await diff('--node', 'gw-1')).code).toBe(0);
  }, 60_000);

  it('5 (spec). while a dead run\'s swap cannot be recorded, rollback (a run that takes the lock) refuses the node and changes nothing', async () => {
    // spec: "the next run that takes the lock records dead runs' intents … before anything else, or refuses the node
    // (RecordFailed) if the log is still unwritable". Regression: rollback ignored BEGIN's record-failed and swapped.
    await spoilLog(gw1, 'chmod 0444 /var/db/openclaw/clawops/reload.log');
    const v1 = idOf('acme');
    commit(acmeLevel('warn'), 'v2');
    const v2 = idOf('acme');
    expect((await apply('--node', 'gw-1')).code).toBe(1); // RecordFailed, v2 live, v1 .prev, intent kept
    expect(linkId(gw1, 'acme.prev')).toBe(v1);
    const rb = await rollback('acme');
    expect(linkId(gw1, 'acme')).toBe(v2);
    expect(rb.code).not.toBe(0);
    expect(rb.stderr).toMatch(/RecordFailed|reload log/);
  }, 60_000);

  it('5b. reload.log replaced by a directory, or a link to /dev/full (a full disk): RecordFailed naming what runs, intent kept; fixed by hand, the next apply records it', async () => {
    for (const [i, spoil] of ['rm /var/db/openclaw/clawops/reload.log && mkdir /var/db/openclaw/clawops/reload.log', 'rm /var/db/openclaw/clawops/reload.log && ln -s /dev/full /var/db/openclaw/clawops/reload.log'].entries()) {
      await spoilLog(gw1, spoil);
      commit(acmeLevel(['warn', 'error'][i]!), `v${i}`);
      const v = idOf('acme');
      const r = await apply('--node', 'gw-1');
      expect(r.code, spoil).toBe(1);
      const g = result(r.json);
      expect(g, spoil).toMatchObject({ outcome: 'failed', reason: 'RecordFailed' });
      expect(g.message, spoil).toContain(`acme now runs ${v}`);
      // a log that is a symlink is never written through (a link to /dev/full stands for a full disk: refused either way)
      if (i === 1) expect(g.message).toMatch(/No space left on device|is a symlink; clawops never writes through one/);
      expect(linkId(gw1, 'acme'), spoil).toBe(v);
      expect(clawopsFiles(gw1, 'intent.'), spoil).toEqual([`intent.${r.json!.run!}`]);
      expectTidy(gw1);
      await sh(gw1, 'rm -rf /var/db/openclaw/clawops/reload.log');
      const fixed = await apply('--node', 'gw-1');
      expect(fixed.code, spoil).toBe(0);
      expect(result(fixed.json).recovered, spoil).toEqual([`acme/${v}`]);
      expect(reloadLog(gw1), spoil).toEqual([expect.objectContaining({ tenant: 'acme', release_id: v, recovered_by: fixed.json!.run })]);
      expect(clawopsFiles(gw1, 'intent.'), spoil).toEqual([]);
    }
  }, 60_000);

  it('5c (spec). RecordFailed says why the log could not be written (the OS error), also when the log cannot even be opened', async () => {
    // regression: with `cat … >> reload.log 2> err` a failing >> redirection (EACCES, EISDIR) is reported by the
    // shell before 2> is in place, and the message ended in "reload.log: ;" with no reason at all.
    await spoilLog(gw1, 'chmod 0444 /var/db/openclaw/clawops/reload.log');
    commit(acmeLevel('warn'), 'v2');
    const r = await apply('--node', 'gw-1');
    expect(result(r.json).reason).toBe('RecordFailed');
    expect(result(r.json).message).toMatch(/[Pp]ermission denied/);
  }, 60_000);

  // ---------------------------------------------------------------------------------------------------------------
  // 10. what a killed run leaves is shown by diff and cleaned by the next apply under the lock

  it('10. a dead run\'s litter made by hand (stale lock, temp links, want and lock scratch files, a staging dir, an intent for a swap that happened and one that did not): diff shows each and exits 1; an apply with nothing else to do records the swap with recovered_by, removes the rest and the lock; the next diff exits 0', async () => {
    const dead = '20200101t000000-deadbe';
    const v1 = idOf('acme');
    commit(acmeLevel('warn'), 'v2');
    const v2 = idOf('acme');
    // the dead run's swap, done the way apply does it: v2 laid out, .prev then current renamed into place
    layRelease(gw1.etcOpenclaw, desired, 'acme');
    chownToNodeUser(gw1.etcOpenclaw);
    await pointAt(gw1, 'acme', `../releases/acme/${v1}`);
    await sh(gw1, [
      `ln -s ../releases/acme/${v1} /etc/openclaw/tenants/.clawops-${dead}-acme.prev && mv -T /etc/openclaw/tenants/.clawops-${dead}-acme.prev /etc/openclaw/tenants/acme.prev`,
      `ln -s ../releases/acme/${v2} /etc/openclaw/tenants/.clawops-${dead}-acme && mv -T /etc/openclaw/tenants/.clawops-${dead}-acme /etc/openclaw/tenants/acme`,
      // killed right after: a temp link it had made for globex, a staging dir, its lists and lock
      `ln -s ../releases/globex/${idOf('globex')} /etc/openclaw/tenants/.clawops-${dead}-globex`,
      `mkdir -p /etc/openclaw/releases/globex/${idOf('globex').replace(/^./, 'f')}.tmp-${dead}/gateway.d && echo partial > /etc/openclaw/releases/globex/${idOf('globex').replace(/^./, 'f')}.tmp-${dead}/gateway.d/10-base.yaml`,
    ].join(' && '));
    const ctx: RunContext = { run: dead, actor: 'alice@laptop', pid: 4242, lockTtlSec: 60, now: () => new Date('2020-01-01T00:00:00Z'), onEvent: () => undefined, commit: 'deadbeef' };
    const intent = [journalLine(ctx, 'gw-1', 'apply', 'acme', v2, v1), journalLine(ctx, 'gw-1', 'apply', 'globex', '0123456789abcdef', idOf('globex'))].join('\n') + '\n';
    mkdirSync(clawopsDir(gw1), { recursive: true });
    writeFileSync(clawopsDir(gw1, `intent.${dead}`), intent);
    writeFileSync(clawopsDir(gw1, `want.${dead}`), `F\tacme\t${v2}\topenclaw.json\t${'0'.repeat(64)}\n`);
    writeFileSync(clawopsDir(gw1, `node.lock.new.${dead}`), '{}\n');
    // lock_json's shape (remote-scripts.ts), acquired an hour ago with a one-minute ttl
    writeFileSync(clawopsDir(gw1, 'node.lock'), `{"run":"${dead}","owner":"alice@laptop","pid":4242,"ttl_sec":60,"acquired_epoch":${Math.floor(Date.now() / 1000) - 3600},"host":"laptop"}\n`);
    chownToNodeUser(join(gw1.varDbOpenclaw, 'clawops'));
    chownToNodeUser(gw1.etcOpenclaw);

    const text = await diff('--node', 'gw-1');
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('record and clean up after a dead run');
    const dj = await diffJson('--node', 'gw-1');
    const issues = dj.node('gw-1').issues;
    const by = (reason: string): string[] => issues.filter((i) => i.reason === reason).map((i) => i.message);
    expect(by('StaleLock')).toEqual([expect.stringContaining(dead)]);
    expect(by('UnrecordedSwap')).toEqual(expect.arrayContaining([expect.stringContaining(v2)]));
    expect(by('Leftovers')).toHaveLength(1);
    for (const litter of [`.clawops-${dead}-globex`, `want.${dead}`, `.tmp-${dead}`]) expect(by('Leftovers')[0]).toContain(litter);
    expect(dj.node('gw-1').actions).toEqual([{ kind: 'recover' }]);
    expect(dj.node('gw-1').tenants.every((t) => t.state === 'InSync')).toBe(true);

    const r = await apply('--node', 'gw-1');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const g = result(r.json);
    expect(g.recovered).toEqual([`acme/${v2}`]); // only the swap that happened
    expect(g.swapped).toEqual([]);
    const log = reloadLog(gw1);
    expect(log).toEqual([expect.objectContaining({ action: 'apply', tenant: 'acme', release_id: v2, prev_release_id: v1, run: dead, actor: 'alice@laptop', recovered_by: r.json!.run })]);
    expect(readdirSync(clawopsDir(gw1)).filter((f) => f.includes(dead) || /^(node\.lock|intent\.|want\.|\.intent\.)/.test(f))).toEqual([]);
    expect(readdirSync(etc(gw1, 'tenants')).sort()).toEqual(['acme', 'acme.prev', 'globex', 'initech']);
    expect(readdirSync(etc(gw1, 'releases', 'globex'))).toEqual([idOf('globex')]);
    expect(linkId(gw1, 'acme')).toBe(v2);
    expect(linkId(gw1, 'acme.prev')).toBe(v1);
    expect((await diff('--node', 'gw-1')).code).toBe(0);
  }, 60_000);

  it('10b. litter that is not clawops\' own is left alone: a .clawops-* that is a directory, a temp link into the secrets is removed without touching them', async () => {
    const dead = '20200101t000000-deadbe';
    await sh(gw1, [
      `mkdir /etc/openclaw/tenants/.clawops-${dead}-initech && echo USERDATA > /etc/openclaw/tenants/.clawops-${dead}-initech/data`,
      `ln -s /var/db/openclaw/secrets/acme /etc/openclaw/tenants/.clawops-${dead}-acme`,
    ].join(' && '));
    const secretsBefore = treeSnapshot(join(gw1.varDbOpenclaw, 'secrets'));
    const d = await diff('--node', 'gw-1');
    expect(d.code).toBe(1);
    expect(d.stdout).toContain(`/etc/openclaw/tenants/.clawops-${dead}-initech is not a symlink (left alone)`);
    expect(d.stdout).toContain(`.clawops-${dead}-acme`);
    const r = await apply('--node', 'gw-1');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(exists(etc(gw1, 'tenants', `.clawops-${dead}-acme`))).toBe(false);
    expect(treeSnapshot(join(gw1.varDbOpenclaw, 'secrets'))).toEqual(secretsBefore);
    expect(readFileSync(etc(gw1, 'tenants', `.clawops-${dead}-initech`, 'data'), 'utf8')).toBe('USERDATA\n');
  }, 60_000);

  it('10c (spec). a directory in a real releases/<t> named x.tmp-* (not <id>.tmp-<run>) is not clawops\' staging: reported and left alone, never removed', async () => {
    // regression: observe called any safe *.tmp-* directory a staging leftover and recover_dead_runs rm -rf'd it;
    // the spec's leftovers are staging dirs `<id>.tmp-<run>` only, and a user's `notes.tmp-keep` is not one.
    await sh(gw1, 'mkdir /etc/openclaw/releases/acme/notes.tmp-keep && echo USERDATA > /etc/openclaw/releases/acme/notes.tmp-keep/data');
    const d = await diff('--node', 'gw-1');
    expect(d.code).toBe(1);
    expect(d.stdout).toContain('/etc/openclaw/releases/acme/notes.tmp-keep is not a release clawops made (left alone)');
    await apply('--node', 'gw-1');
    expect(readFileSync(etc(gw1, 'releases', 'acme', 'notes.tmp-keep', 'data'), 'utf8')).toBe('USERDATA\n');
  }, 60_000);

  it('10d. a real kill right after the first swap: the intent is on the node, diff shows the unrecorded swap and the litter, the next apply records that swap (recovered_by) and finishes the rest', async () => {
    commit({ ...acmeLevel('warn'), ...extra('globex', 'warn') }, 'acme and globex');
    const ids = { acme: idOf('acme'), globex: idOf('globex') };
    let killed: string | undefined;
    const res = await applyAfter({ repo, identity: key(), nodes: ['gw-1'] }, async () => undefined, {
      lockTtlSec: 1, // the next apply may take over the lock this run leaves
      onEvent: (e) => {
        if (e.node === 'gw-1' && e.step === 'swap' && e.state === 'done' && !killed) {
          killed = e.message;
          // sshd, the sftp session, everything in the node at once; block until the namespace is gone, so not one
          // more request of this run reaches the node
          // (no pause: killNodeNow runs to its end before returning its promise, in this synchronous callback)
          void killNodeNow(gw1);
        }
      },
    });
    expect(killed).toBeDefined();
    expect(result(res).outcome).toBe('failed');
    await gw1.stop();
    await gw1.start();
    const first = killed!.split(':')[0] as 'acme' | 'globex';
    const other = first === 'acme' ? 'globex' : 'acme';
    expect(linkId(gw1, first)).toBe(ids[first]);
    expect(linkId(gw1, other)).not.toBe(ids[other]);
    expect(clawopsFiles(gw1, 'intent.')).toEqual([`intent.${res.run}`]);
    expect(exists(clawopsDir(gw1, 'node.lock'))).toBe(true);

    await new Promise((ok) => setTimeout(ok, 1100)); // the dead run's 1 s lock expires
    const dj = await diffJson('--node', 'gw-1');
    const reasons = dj.node('gw-1').issues.map((i) => i.reason);
    expect(reasons).toEqual(expect.arrayContaining(['UnrecordedSwap', 'StaleLock']));
    expect(dj.node('gw-1').issues.find((i) => i.reason === 'UnrecordedSwap')!.message).toContain(ids[first]);

    const r = await apply('--node', 'gw-1');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(result(r.json).recovered).toEqual([`${first}/${ids[first]}`]);
    expect(result(r.json).swapped.map((s) => s.tenant)).toEqual([other]);
    const log = reloadLog(gw1);
    expect(log.filter((l) => l.run === res.run)).toEqual([expect.objectContaining({ action: 'apply', tenant: first, release_id: ids[first], recovered_by: r.json!.run })]);
    expect(log.filter((l) => l.run === r.json!.run).map((l) => l.tenant)).toEqual([other]);
    expect(linkId(gw1, other)).toBe(ids[other]);
    expect(clawopsFiles(gw1, 'intent.')).toEqual([]);
    expectTidy(gw1);
    expect(readdirSync(etc(gw1, 'releases', first)).filter((x) => x.includes('.tmp-'))).toEqual([]);
    expect((await diff('--node', 'gw-1')).code).toBe(0);
  }, 60_000);

  // ---------------------------------------------------------------------------------------------------------------
  // 11. messages say what happened

  it('11. a repair the OS refuses (a 0555 subdir, a 0555 release dir) says the files could not be put in place, with the OS error, not "staged files do not match"; nothing is swapped', async () => {
    const id = idOf('acme');
    for (const [what, prep, undo] of [
      ['a 0555 gateway.d', `echo edited >> /etc/openclaw/releases/acme/${id}/gateway.d/10-base.yaml && chmod 0555 /etc/openclaw/releases/acme/${id}/gateway.d`, `chmod 0755 /etc/openclaw/releases/acme/${id}/gateway.d`],
      ['a 0555 release dir with a stray file', `echo stray > /etc/openclaw/releases/acme/${id}/notes.txt && chmod 0555 /etc/openclaw/releases/acme/${id}`, `chmod 0755 /etc/openclaw/releases/acme/${id}`],
    ] as const) {
      await sh(gw1, prep);
      const r = await apply('--node', 'gw-1');
      expect(r.code, what).toBe(1);
      const g = result(r.json);
      expect(g, what).toMatchObject({ outcome: 'failed', reason: 'StageFailed' });
      expect(g.message, what).toMatch(/could not put release files in place: acme: .*[Pp]ermission denied/);
      expect(g.message, what).not.toMatch(/staged files do not match/);
      expect(g.message, what).not.toContain('\n');
      expect(g.swapped, what).toEqual([]);
      expect(linkId(gw1, 'acme'), what).toBe(id);
      expectTidy(gw1);
      expect(readdirSync(etc(gw1, 'releases', 'acme')).filter((x) => x.includes('.tmp-')), what).toEqual([]);
      await sh(gw1, undo);
    }
    // the owner fixed the modes: the next apply repairs the release
    const fixed = await apply('--node', 'gw-1');
    expect(fixed.code).toBe(0);
    expect((await diff('--node', 'gw-1')).code).toBe(0);
  }, 60_000);

  it('11b. tenants/acme a real directory, or a regular file, or tenants/acme.prev a directory: refused naming the path, never "disk full or I/O error"; the other tenants go on', async () => {
    const v1 = idOf('acme');
    commit({ ...acmeLevel('warn'), ...extra('globex', 'warn') }, 'acme and globex');
    for (const [what, prep, msg] of [
      ['tenants/acme a directory', 'rm /etc/openclaw/tenants/acme && mkdir /etc/openclaw/tenants/acme && echo USERDATA > /etc/openclaw/tenants/acme/data', '/etc/openclaw/tenants/acme exists but is not a symlink'],
      ['tenants/acme a file', 'rm -rf /etc/openclaw/tenants/acme && echo USERDATA > /etc/openclaw/tenants/acme', '/etc/openclaw/tenants/acme exists but is not a symlink'],
      ['tenants/acme.prev a directory', `rm -rf /etc/openclaw/tenants/acme && ln -s ../releases/acme/${v1} /etc/openclaw/tenants/acme && mkdir /etc/openclaw/tenants/acme.prev`, '/etc/openclaw/tenants/acme.prev exists but is not a symlink'],
    ] as const) {
      // behind the planner's back: the node refuses acme itself
      await sh(gw1, `rm -rf /etc/openclaw/tenants/acme /etc/openclaw/tenants/acme.prev && ln -s ../releases/acme/${v1} /etc/openclaw/tenants/acme`);
      const globexPending = linkId(gw1, 'globex') !== idOf('globex');
      const raced = await applyAfter({ repo, identity: key(), nodes: ['gw-1'] }, () => sh(gw1, prep).then(() => undefined));
      const g = result(raced);
      expect(g.refusedTenants, what).toEqual([{ tenant: 'acme', message: expect.stringContaining(msg) }]);
      expect(g.message ?? '', what).not.toMatch(/disk full or I\/O error/);
      expect(g.message ?? '', what).toContain(msg);
      expect(g.swapped.map((s) => s.tenant), what).toEqual(globexPending ? ['globex'] : []);
      // and as the planner sees it
      const d = await diff('--node', 'gw-1');
      expect(d.stdout, what).toContain(`gw-1/acme: ${msg}`);
      expect(d.stdout, what).not.toMatch(/disk full or I\/O error/);
      const r = await apply('--node', 'gw-1');
      expect(r.code, what).toBe(1);
      expect(r.json!.blocked, what).toEqual(['gw-1/acme']);
      expect(r.stdout, what).not.toMatch(/disk full or I\/O error/);
    }
    expect(linkId(gw1, 'globex')).toBe(idOf('globex'));
  }, 60_000);

  // ---------------------------------------------------------------------------------------------------------------
  // diff shows content only of files clawops writes; a repair never writes or deletes through a link

  it('6. diff shows only name, size and hash of files clawops did not write, never what a link in the release points at; the repair replaces links, never writes or deletes through them', async () => {
    const id = idOf('acme');
    const R = `/etc/openclaw/releases/acme/${id}`;
    await sh(gw1, [
      'mkdir -p /home/clawops/important && echo "USERDATA-10" > /home/clawops/important/10-base.yaml && echo USERDATA-keep > /home/clawops/important/keep.yaml',
      // a stray file (safe name) with a private note, in a dir clawops writes
      `printf 'password: PRIVATE-NOTE-123\\n' > ${R}/gateway.d/99-local.yaml`,
      // a desired file replaced by a link to the tenant's token, another to /etc/passwd
      `rm ${R}/openclaw.json && ln -s /var/db/openclaw/secrets/acme/token.current ${R}/openclaw.json`,
      `rm ${R}/doctor.json && ln -s /etc/passwd ${R}/doctor.json`,
      // a kind dir replaced by a link to the user's dir, whose files have the desired names
      `rm -rf ${R}/webhook.d && ln -s /home/clawops/important ${R}/webhook.d`,
    ].join(' && '));
    const user = treeSnapshot(join(gw1.homeDir, 'important'));
    const secretsBefore = treeSnapshot(join(gw1.varDbOpenclaw, 'secrets'));
    for (const args of [[], ['--json']]) {
      const d = await diff('--node', 'gw-1', ...args);
      expect(d.code).toBe(1);
      for (const leak of ['PRIVATE-NOTE-123', 'USERDATA', ...tokens(gw1, 'acme')]) expect(d.stdout, leak).not.toContain(leak);
      expect(d.stdout).not.toMatch(/root:[^\s]*:0:0/);
    }
    const dj = await diffJson('--node', 'gw-1');
    const stray = dj.node('gw-1').diffs.find((x) => x.path === 'gateway.d/99-local.yaml')!;
    expect(stray.change).toBe('removed');
    const sha = createHash('sha256').update('password: PRIVATE-NOTE-123\n').digest('hex').slice(0, 12);
    expect(stray.patch).toContain(`not written by clawops: 27 bytes, sha256 ${sha}…; content not shown`);
    const files = dj.node('gw-1').issues.filter((i) => i.reason === 'Drifted').map((i) => i.message);
    expect(files).toEqual(expect.arrayContaining([expect.stringMatching(/^openclaw\.json replaced by a symlink/), expect.stringMatching(/^doctor\.json replaced by a symlink/), expect.stringMatching(/^webhook\.d\/10-base\.yaml deleted on the node/)]));

    const r = await apply('--node', 'gw-1');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(treeSnapshot(join(gw1.homeDir, 'important'))).toEqual(user);
    expect(treeSnapshot(join(gw1.varDbOpenclaw, 'secrets'))).toEqual(secretsBefore);
    for (const f of ['openclaw.json', 'doctor.json', 'webhook.d']) expect(lstatSync(etc(gw1, 'releases', 'acme', id, f)).isSymbolicLink(), f).toBe(false);
    expect(exists(etc(gw1, 'releases', 'acme', id, 'gateway.d', '99-local.yaml'))).toBe(false);
    expect(linkId(gw1, 'acme')).toBe(id);
    expect((await diff('--node', 'gw-1')).code).toBe(0);
  }, 60_000);

  it('6b (spec). a release file replaced by a link to /dev/zero, or by a FIFO, is drift reported at once: observe never hashes through a link nor blocks on a pipe (and leaves nothing running on the node)', async () => {
    // regression: release_ok ran `sha256sum -c` over the manifest's paths, following links and opening pipes: the
    // observe command hung until the ssh command timeout (node ObserveFailed, blocked) and the sha256sum stayed
    // behind on the node, at 100% CPU for /dev/zero, one more every pass.
    const cfg = readFileSync(join(repo, 'clawops.yaml'), 'utf8');
    expect(cfg).toMatch(/command_timeout_ms: \d+/);
    commit({ 'clawops.yaml': cfg.replace(/command_timeout_ms: \d+/, 'command_timeout_ms: 3000') }, 'short command timeout');
    const R = `/etc/openclaw/releases/acme/${idOf('acme')}`;
    try {
      for (const shape of [`ln -s /dev/zero ${R}/x && mv ${R}/x ${R}/openclaw.json`, `rm ${R}/openclaw.json && mkfifo ${R}/openclaw.json`]) {
        await sh(gw1, shape);
        const dj = await diffJson('--node', 'gw-1');
        expect(dj.node('gw-1').status, shape).toBe('Drifted');
        expect(dj.node('gw-1').issues.some((i) => i.reason === 'Drifted' && i.file === 'openclaw.json'), shape).toBe(true);
        expect((await gw1.exec('ps -eo args | grep -c "^sha256sum"')).stdout.trim(), shape).toBe('0');
        placeAll(fleet, desired);
      }
    } finally {
      // whatever was left hanging in the node dies with it
      await gw1.stop();
      await gw1.start();
    }
  }, 60_000);
});
