/**
 * Issue 12: each distinct release is validated by `openclaw config validate` once per run; the other nodes verify its
 * staged bytes (PROMOTE's hash check) and run only their own secret check (`bin/gateway-run … --check`).
 * Real sshd fleet nodes with the real OpenClaw CLI. Every `config validate` a node runs is counted on the node: its
 * `node` (which openclaw's `#!/usr/bin/env node` finds first on PATH) is a script that logs such runs and then execs
 * the real Node; the version gate hashes openclaw's entry point, which is untouched.
 */
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyFleet } from '../../reconciler/apply/apply-fleet.js';
import type { ApplyEvent } from '../../reconciler/apply/apply-node.js';
import { ValidationMemo, type Decision, type Pending, type ReleaseVerdict } from '../../reconciler/apply/validation-memo.js';
import { observeAndPlan } from '../../reconciler/commands/diff.js';
import { fleetAvailable, startFleet, type Fleet, type FleetNodeHandle } from '../fleet/fleet.js';
import { applyJson, nodeResult, tenantLink } from '../helpers/fleet-apply.js';
import { commitEdits, fleetRepo } from '../helpers/fleet-repo.js';
import { openclawCache } from '../helpers/openclaw.js';
import { seedSecrets } from '../helpers/secrets.js';

const ready = fleetAvailable().ok && openclawCache() !== undefined;
const NODES = ['gw-1', 'gw-2', 'gw-3'];
const TENANTS = ['acme', 'globex'];
const ASSIGNMENT = Object.fromEntries(NODES.map((n) => [n, { role: 'gateway' as const, tenants: TENANTS }]));
const ACME_OVERRIDES = 'tenants/acme/gateway.d/20-overrides.yaml';
const CALLS = '/home/clawops/validate-calls.log';

describe.skipIf(!ready)('apply validates each distinct release once per run (real fleet)', () => {
  let fleet: Fleet;
  let repo: string;
  const apply = (...extra: string[]) => applyJson(repo, fleet.clientKeyPath, ...extra);
  const bump = (level: string): string => commitEdits(repo, { [ACME_OVERRIDES]: `gateway:\n  port: 18809\n  controlUi:\n    enabled: true\n    basePath: /acme\nlogging:\n  level: ${level}\n` }, `acme ${level}`);
  /** `config validate` runs on the node since the last reset, as the profiles (tenants) they were for */
  const validations = async (n: FleetNodeHandle): Promise<string[]> => {
    const r = await n.exec(`cat ${CALLS} 2>/dev/null; true`);
    return r.stdout.split('\n').filter(Boolean).map((l) => /--profile (\S+)/.exec(l)?.[1] ?? '?');
  };
  const allValidations = async (): Promise<string[]> => (await Promise.all(fleet.nodes.map(validations))).flat().sort();

  beforeAll(async () => {
    fleet = await startFleet({ names: NODES, openclaw: true });
    for (const n of fleet.nodes) {
      await seedSecrets(n, TENANTS);
      // count `config validate` runs: node's own `node` logs them, then is the real one
      const link = join(n.binDir, 'node');
      const real = readlinkSync(link);
      rmSync(link);
      // (with OPENCLAW_NO_RESPAWN as the node set it: without it the CLI starts Node a second time)
      writeFileSync(link, `#!/bin/sh\ncase " $* " in *" config validate "*) echo "$* NO_RESPAWN=\${OPENCLAW_NO_RESPAWN:-}" >> ${CALLS} ;; esac\nexec ${real} "$@"\n`, { mode: 0o755 });
    }
  }, 120_000);
  afterAll(async () => {
    await fleet?.stop();
  });
  beforeEach(async () => {
    for (const n of fleet.nodes) {
      await n.exec('for f in /Library/LaunchDaemons/*.plist; do [ -f "$f" ] || continue; launchctl bootout system "$f" >/dev/null 2>&1; rm -f "$f"; done; true');
      const r = await n.exec(`rm -rf /etc/openclaw/* /etc/openclaw/.[!.]* /var/db/openclaw/clawops/* ${CALLS} 2>/dev/null; true`);
      expect(r.code).toBe(0);
    }
    repo = fleetRepo(fleet, {}, ASSIGNMENT);
    // each test its own verdict store: the releases of one test are not found valid already by an earlier one
    process.env.XDG_CACHE_HOME = mkdtempSync(join(tmpdir(), 'xdg-cache-'));
  });

  it('three nodes get the same releases: openclaw validates each once, the other nodes only check their secrets', async () => {
    const r = await apply();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json!.ok).toBe(true);
    for (const n of NODES) expect(nodeResult(r.json, n).swapped.map((s) => s.tenant).sort()).toEqual(TENANTS);
    // on the nodes: one `openclaw config validate` per distinct release in the whole run, each one Node start
    expect(await allValidations()).toEqual(TENANTS);
    const lines = (await Promise.all(fleet.nodes.map((n) => n.exec(`cat ${CALLS}`)))).flatMap((x) => x.stdout.split('\n').filter(Boolean));
    expect(lines).toHaveLength(TENANTS.length);
    for (const l of lines) expect(l).toMatch(/ NO_RESPAWN=1$/);
    // and the apply result says which node did which
    for (const t of TENANTS) {
      const by = r.json!.results.filter((x) => x.validated?.includes(t)).map((x) => x.node);
      expect(by, t).toHaveLength(1);
      expect(r.json!.results.filter((x) => x.checked?.includes(t)).map((x) => x.node).sort(), t).toEqual(NODES.filter((n) => n !== by[0]));
    }
    for (const n of fleet.nodes) expect((await validations(n)).sort()).toEqual([...(nodeResult(r.json, n.name).validated ?? [])].sort());
    // a second apply has nothing to validate
    await Promise.all(fleet.nodes.map((n) => n.exec(`rm -f ${CALLS}`)));
    const again = await apply();
    expect(again.code).toBe(0);
    expect(await allValidations()).toEqual([]);
  }, 120_000);

  it('a release an earlier run found valid is not validated again by the next run (other nodes, same build); --revalidate does', async () => {
    // the first run reaches gw-1 only: it validates both releases there and keeps the verdicts
    const first = await apply('--node', 'gw-1');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(await allValidations()).toEqual(TENANTS);
    expect(nodeResult(first.json, 'gw-1').validated?.sort()).toEqual(TENANTS);
    const store = join(process.env.XDG_CACHE_HOME!, 'clawops', 'verdicts');
    expect(readdirSync(store).filter((f) => f.endsWith('.json'))).toHaveLength(TENANTS.length);
    // the next run (gw-2, gw-3): no `openclaw config validate` anywhere, every node checks its own secrets
    await Promise.all(fleet.nodes.map((n) => n.exec(`rm -f ${CALLS}`)));
    const next = await apply('--node', 'gw-2', '--node', 'gw-3');
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(await allValidations()).toEqual([]);
    for (const n of ['gw-2', 'gw-3']) {
      expect(nodeResult(next.json, n).validated).toEqual([]);
      expect(nodeResult(next.json, n).checked?.sort()).toEqual(TENANTS);
      expect(nodeResult(next.json, n).swapped.map((x) => x.tenant).sort()).toEqual(TENANTS);
    }
    expect(next.stderr).toContain(`validated on gw-1 in run ${String(first.json!.run)}, secrets checked here`);
    // (each node's own check ran: `checked`; a node refusing it although the release was found valid: the last test)
    const gw3 = fleet.node('gw-3');
    // --revalidate: openclaw runs again (once a release), and the verdicts are kept anew
    await gw3.exec('rm -rf /etc/openclaw/* /var/db/openclaw/clawops/*');
    const again = await apply('--node', 'gw-3', '--revalidate');
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(await allValidations()).toEqual(TENANTS);
  }, 120_000);

  it('an invalid release is refused on every node with one validation run, the same one-line error naming node, tenant and release', async () => {
    expect((await apply()).code).toBe(0);
    const before = new Map(fleet.nodes.map((n) => [n.name, tenantLink(n, 'acme')]));
    await Promise.all(fleet.nodes.map((n) => n.exec(`rm -f ${CALLS}`)));
    bump('loud');
    const r = await apply();
    expect(r.code).toBe(1);
    expect(await allValidations()).toEqual(['acme']);
    const validator = r.json!.results.find((x) => x.validated?.includes('acme'))!.node;
    for (const n of fleet.nodes) {
      const res = nodeResult(r.json, n.name);
      expect(res.outcome).toBe('failed');
      expect(res.step).toBe('validate');
      expect(res.reason).toBe('InvalidConfig');
      expect(res.message).toMatch(new RegExp(`^${n.name}/acme: openclaw config validate refused release [0-9a-f]{16}: logging\\.level`));
      expect(res.message).not.toMatch(/\n/);
      if (n.name !== validator) expect(res.message).toContain(`(validated once this run, on ${validator})`);
      expect(tenantLink(n, 'acme')).toBe(before.get(n.name));
      expect(res.swapped).toEqual([]);
    }
  }, 120_000);

  /**
   * A memo in which another node ('elsewhere') is already validating every release the first node asks for when the
   * nodes get there: each node does its own part (verify, place, secret check) meanwhile and waits for that verdict
   * before any swap. `end` decides that verdict after `ms`: settle it, or give it back (no verdict).
   */
  class ElsewhereMemo extends ValidationMemo {
    private started = false;
    constructor(private readonly ms: number, private readonly end: (d: Extract<Decision, { kind: 'validate' }>) => void) {
      super();
    }
    override decideNow(node: string, keys: readonly string[]): Map<string, Decision | Pending> {
      if (!this.started) {
        this.started = true;
        const ghost = super.decideNow('elsewhere', keys);
        setTimeout(() => ghost.forEach((d) => d.kind === 'validate' && this.end(d)), this.ms);
      }
      return super.decideNow(node, keys);
    }
  }
  const applyWith = async (memo: ValidationMemo, run: string, concurrency = 10) => {
    const p = await observeAndPlan({ repo, identity: fleet.clientKeyPath }, {}, true);
    const events: ApplyEvent[] = [];
    try {
      const res = await applyFleet(p.plan, p.desired, p.fleet.transports, { run, actor: 'test', pid: process.pid, lockTtlSec: 60, now: () => new Date(), onEvent: (e) => events.push(e), validations: memo }, concurrency);
      return { res, events };
    } finally {
      await Promise.all([...p.fleet.transports.values()].map((t) => t.close()));
      p.source.cleanup();
    }
  };

  it('a release another node is still validating: each node places and checks it meanwhile, and refuses the swap on that verdict', async () => {
    expect((await apply()).code).toBe(0);
    const before = new Map(fleet.nodes.map((n) => [n.name, tenantLink(n, 'acme')]));
    await Promise.all(fleet.nodes.map((n) => n.exec(`rm -f ${CALLS}`)));
    bump('warn');
    const why: ReleaseVerdict = { valid: false, node: 'elsewhere', why: 'openclaw config validate refused release x: logging.level: said elsewhere' };
    const { res, events } = await applyWith(new ElsewhereMemo(3000, (d) => d.claim.settle(why)), 'test-validate-once-pending-1');
    expect(await allValidations()).toEqual([]); // nobody ran openclaw: the verdict came from elsewhere
    for (const n of fleet.nodes) {
      const r = res.results.find((x) => x.node === n.name)!;
      expect(r.outcome, n.name).toBe('failed');
      expect(r.step).toBe('validate');
      expect(r.message).toBe(`${n.name}/acme: ${why.why} (validated once this run, on elsewhere); refusing the swap`);
      // its own part (PROMOTE: verify, place, secret check) was done while the verdict was pending, not after it
      expect(r.checked).toEqual(['acme']);
      expect(r.swapped).toEqual([]);
      expect(tenantLink(n, 'acme')).toBe(before.get(n.name));
      expect(events.some((e) => e.node === n.name && e.step === 'swap')).toBe(false);
    }
  }, 120_000);

  it('a node waiting for the verdict gives its place to the next (concurrency 1): every node locks, stages and checks before the verdict; after it, one node at a time', async () => {
    expect((await apply()).code).toBe(0);
    bump('debug');
    const { res, events } = await applyWith(new ElsewhereMemo(4000, (d) => d.claim.settle({ valid: true, node: 'elsewhere' })), 'test-validate-once-slots', 1);
    for (const n of NODES) expect(res.results.find((x) => x.node === n)!.outcome, n).toBe('applied');
    const firstSwap = events.findIndex((e) => e.step === 'swap');
    expect(firstSwap).toBeGreaterThan(0);
    // before the verdict (no node swaps without it), each node had its turn: locked, staged, placed and checked
    for (const n of NODES) expect(events.slice(0, firstSwap).some((e) => e.node === n && e.step === 'stage' && e.state === 'done'), n).toBe(true);
    // after it, never two nodes past their verdict at once: each node's steps from its validate 'done' to its record
    // are one run of events no other node's step interrupts (prune may follow record)
    const spans = NODES.map((n) => {
      const from = events.findIndex((e) => e.node === n && e.step === 'validate' && e.state === 'done');
      const to = events.findIndex((e) => e.node === n && e.step === 'record' && e.state === 'done');
      return { n, from, to };
    });
    for (const a of spans) {
      expect(a.from, a.n).toBeGreaterThan(0);
      expect(events.slice(a.from, a.to + 1).every((e) => e.node === a.n), a.n).toBe(true);
    }
  }, 120_000);

  it('a pending validation given back without a verdict is validated by one of the waiting nodes, on the release it placed', async () => {
    expect((await apply()).code).toBe(0);
    await Promise.all(fleet.nodes.map((n) => n.exec(`rm -f ${CALLS}`)));
    bump('info');
    const { res } = await applyWith(new ElsewhereMemo(2000, (d) => d.claim.giveBack()), 'test-validate-once-pending-2');
    for (const n of NODES) expect(res.results.find((x) => x.node === n)!.outcome, n).toBe('applied');
    expect(await allValidations()).toEqual(['acme']);
    const by = res.results.filter((x) => x.validated?.includes('acme')).map((x) => x.node);
    expect(by).toHaveLength(1);
    // the validating node is not also counted as having only checked it
    expect(res.results.filter((x) => x.checked?.includes('acme')).map((x) => x.node).sort()).toEqual(NODES.filter((n) => n !== by[0]));
  }, 120_000);

  it('a node whose secret file is gone refuses the swap with its one-line error although another node validated the release', async () => {
    // planned with every secret in place; gw-3's hooks.token disappears before the apply reaches it
    const p = await observeAndPlan({ repo, identity: fleet.clientKeyPath }, {}, true);
    const gw3 = fleet.node('gw-3');
    expect((await gw3.exec('rm /var/db/openclaw/secrets/acme/hooks.token')).code).toBe(0);
    const memo = new ValidationMemo();
    const events: ApplyEvent[] = [];
    try {
      const res = await applyFleet(p.plan, p.desired, p.fleet.transports, { run: 'test-validate-once-1', actor: 'test', pid: process.pid, lockTtlSec: 60, now: () => new Date(), onEvent: (e) => events.push(e), validations: memo }, 10);
      const g3 = res.results.find((x) => x.node === 'gw-3')!;
      expect(g3.outcome).toBe('failed');
      expect(g3.step).toBe('validate');
      expect(g3.message).toMatch(/^gw-3\/acme: refused before the swap: clawops-gateway-run: acme: secret file \/var\/db\/openclaw\/secrets\/acme\/hooks\.token is missing; not starting$/);
      expect(g3.swapped).toEqual([]);
      expect(tenantLink(gw3, 'acme')).toBeUndefined();
      for (const n of ['gw-1', 'gw-2']) expect(res.results.find((x) => x.node === n)!.outcome, n).toBe('applied');
      // gw-3's wrapper stopped before openclaw: still one validation per release (if gw-3 took acme's first, it gave
      // it back and another node validated it)
      expect(await allValidations()).toEqual(TENANTS);
      expect(events.some((e) => e.node !== 'gw-3' && e.step === 'validate' && e.state === 'done' && /validated on gw-\d this run, secrets checked here/.test(e.message ?? ''))).toBe(true);
    } finally {
      await Promise.all([...p.fleet.transports.values()].map((t) => t.close()));
      p.source.cleanup();
      await seedSecrets(gw3, TENANTS);
    }
  }, 120_000);
});
