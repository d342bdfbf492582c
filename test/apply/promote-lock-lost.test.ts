/**
 * PROMOTE finds the node lock no longer this run's (it expired and another run took it over between BEGIN and
 * PROMOTE): the node fails with NodeLocked and nothing is swapped, for both PROMOTE runs: the first one (verify, place,
 * validate or check: step `stage`) and the re-validation after a verdict another node gave back (step `validate`).
 * The other run's lock is left exactly as it is. Local nodes (the local transport), the real OpenClaw CLI.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyFleet } from '../../reconciler/apply/apply-fleet.js';
import { ValidationMemo, type Claim, type Decision, type Pending } from '../../reconciler/apply/validation-memo.js';
import { observeAndPlan } from '../../reconciler/commands/diff.js';
import { localNodes, type LocalNodes } from '../helpers/local-nodes.js';
import { openclawCache } from '../helpers/openclaw.js';

const cache = openclawCache();
const runContext = (run: string): { run: string; actor: string; pid: number; lockTtlSec: number; now: () => Date } => ({ run, actor: 'test', pid: process.pid, lockTtlSec: 900, now: () => new Date() });
/** another run's lock, as BEGIN writes one: a live pid (this process), a long TTL */
const FOREIGN_LOCK = `{"run":"20261129t000000-other1","owner":"someone-else","pid":${process.pid},"ttl_sec":900,"acquired_epoch":${Math.floor(Date.now() / 1000)},"host":"elsewhere"}\n`;

describe.skipIf(!cache)('PROMOTE with the node lock taken over', () => {
  let nodes: LocalNodes;
  let repo: string;
  const nodeRoot = (n: string): string => nodes.root(n);
  const lockFile = (n: string): string => join(nodeRoot(n), 'var/db/openclaw/clawops/node.lock');
  /** what another run does when it takes over an expired lock: its own lock in place of ours */
  const takeOver = (n: string): void => writeFileSync(lockFile(n), FOREIGN_LOCK);
  /** nothing of the run is live on the node: no tenant linked, no staging dir of the run, the other run's lock intact */
  const untouched = (n: string, run: string): void => {
    const ls = (d: string): string[] => (existsSync(join(nodeRoot(n), d)) ? readdirSync(join(nodeRoot(n), d)) : []);
    expect(ls('etc/openclaw/tenants')).toEqual([]);
    for (const t of ls('etc/openclaw/releases')) {
      expect(readdirSync(join(nodeRoot(n), 'etc/openclaw/releases', t)).filter((x) => x.includes(`.tmp-${run}`)), t).toEqual([]);
    }
    expect(readFileSync(lockFile(n), 'utf8')).toBe(FOREIGN_LOCK);
    expect(readdirSync(join(nodeRoot(n), 'var/db/openclaw/clawops')).filter((x) => x.includes(run))).toEqual([]);
  };

  beforeEach(() => {
    nodes = localNodes(cache!, 'clawops-lock-lost-');
    repo = nodes.repo;
  });
  afterEach(() => nodes.stop());

  it('the first PROMOTE (stage): NodeLocked, nothing swapped, the other run\'s lock kept; the canary\'s failure stops the fleet', async () => {
    const r = await observeAndPlan({ repo }, {}, true);
    const run = 'test-lost-stage';
    try {
      const res = await applyFleet(r.plan, r.desired, r.fleet.transports, {
        ...runContext(run),
        onEvent: (e) => {
          // after BEGIN took the lock and the files were staged, before PROMOTE runs
          if (e.node === 'gw-1' && e.step === 'validate' && e.state === 'start') takeOver('gw-1');
        },
      }, 10);
      const g1 = res.results.find((x) => x.node === 'gw-1')!;
      expect(g1).toMatchObject({ outcome: 'failed', step: 'stage', reason: 'NodeLocked', swapped: [] });
      expect(g1.message).toBe('gw-1: the node lock is no longer this run\'s (expired and taken over?); nothing was swapped');
      untouched('gw-1', run);
      // gw-1 is the canary: the rest of the fleet is not touched
      expect(res.results.find((x) => x.node === 'gw-2')).toMatchObject({ outcome: 'skipped', message: 'gw-2: not touched: canary gateways gw-1 failed' });
      expect(existsSync(join(nodeRoot('gw-2'), 'etc/openclaw'))).toBe(false);
    } finally {
      await Promise.all([...r.fleet.transports.values()].map((t) => t.close()));
      r.source.cleanup();
    }
  }, 90_000);

  it('the re-validation after a verdict given back (validate): NodeLocked, nothing swapped, the other run\'s lock kept', async () => {
    const r = await observeAndPlan({ repo }, {}, true);
    const run = 'test-lost-validate';
    /** another node of the run holds every claim gw-2 needs while gw-2 does its own part, then gives them back */
    class Scripted extends ValidationMemo {
      private held: Claim[] = [];
      waited = false;
      override decideNow(node: string, keys: readonly string[]): Map<string, Decision | Pending> {
        if (node === 'gw-2' && this.held.length === 0) {
          for (const d of super.decideNow('gw-x', keys).values()) if (d.kind === 'validate') this.held.push(d.claim);
        }
        return super.decideNow(node, keys);
      }
      override decide(node: string, keys: readonly string[], signal?: AbortSignal): Promise<Map<string, Decision>> {
        if (node === 'gw-2' && !this.waited) {
          // gw-2's first PROMOTE is done (placed, secrets checked); now the lock is taken over and the claims come back
          this.waited = true;
          takeOver('gw-2');
          for (const c of this.held) c.giveBack();
        }
        return super.decide(node, keys, signal);
      }
    }
    const memo = new Scripted();
    try {
      const res = await applyFleet({ ...r.plan, nodes: r.plan.nodes.filter((n) => n.node === 'gw-2') }, r.desired, r.fleet.transports, { ...runContext(run), validations: memo, onEvent: () => undefined }, 10);
      expect(memo.waited).toBe(true);
      const g2 = res.results.find((x) => x.node === 'gw-2')!;
      expect(g2).toMatchObject({ outcome: 'failed', step: 'validate', reason: 'NodeLocked', swapped: [] });
      expect(g2.message).toBe('gw-2: the node lock is no longer this run\'s (expired and taken over?); nothing was swapped');
      // its first PROMOTE ran: each release was checked here (secrets), none validated, none swapped
      expect(g2.validated ?? []).toEqual([]);
      untouched('gw-2', run);
      expect(existsSync(join(nodeRoot('gw-1'), 'etc/openclaw'))).toBe(false);
    } finally {
      await Promise.all([...r.fleet.transports.values()].map((t) => t.close()));
      r.source.cleanup();
    }
  }, 90_000);
});
