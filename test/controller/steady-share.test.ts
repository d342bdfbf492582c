/**
 * A steady pass keeps what did not change since the last pass as last pass's objects (share.ts) — the node's slimmed
 * observation, its plan, its status record — and what nodes have in common once; what changed is new. Over simulated
 * nodes (bench/lib/sim-node.ts) with drift, through the real pass (observe mode), as the scale bench runs it: the
 * status a pass writes is what it was before sharing (the same states, and the same JSON as the records rebuilt from
 * the pass's own facts would give).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitMirror } from '../../reconciler/controller/git-mirror.js';
import { DesiredCache, reconcilePass, type PassDeps } from '../../reconciler/controller/pass.js';
import { emptyStatus, type StatusDoc } from '../../reconciler/controller/status.js';
import { readSuspension, statusText } from '../../reconciler/controller/store.js';
import { checkedDesired, tenantIdsFor } from '../../bench/lib/infra-repo.js';
import { driftFor, SimPool, SimTransport, type ObserveTemplate, type SimDrift } from '../../bench/lib/sim-node.js';
import { simRepo } from '../../bench/lib/sim-repo.js';
import { captureTemplate } from '../../bench/lib/sim-template.js';

const NODES = 12;
const ids = tenantIdsFor(3);
let repo: { dir: string; commit: string };
let tpl: ObserveTemplate;
let work: string;
// gw-00004: token rotation, gw-00008: hand-edited (driftFor)
const drift = (name: string): SimDrift[] => driftFor(Number(name.replace(/^gw-0*/, '')) - 1);

beforeAll(async () => {
  repo = simRepo(NODES, ids, 20);
  const small = simRepo(2, ids, 20);
  tpl = await captureTemplate(checkedDesired(small.dir, ids.length, 20), ids, { commit: repo.commit });
  rmSync(small.dir, { recursive: true, force: true });
  work = mkdtempSync(join(tmpdir(), 'clawops-steady-share-'));
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
  if (repo) rmSync(repo.dir, { recursive: true, force: true });
});

describe('a steady pass', () => {
  it('keeps last pass’s objects where nothing changed and writes the status it wrote before', async () => {
    let clock = 1_800_000_000;
    const pool = new SimPool((n) => new SimTransport(n.name, tpl, drift(n.name), () => clock));
    const stateDir = join(work, 'state');
    mkdirSync(stateDir, { recursive: true });
    const mirror = new GitMirror(repo.dir, join(stateDir, 'repo.git'));
    const cache = new DesiredCache(() => mirror.dir);
    const doc: StatusDoc = emptyStatus({ pid: 1, startedAt: new Date(0).toISOString(), mode: 'observe', repo: mirror.origin, intervalSec: 60 });
    const deps = (): PassDeps => ({ mirror, pool, cache, mode: 'observe', now: () => new Date(clock * 1000), log: pino({ level: 'silent' }), actor: 'controller:test', lockTtlSec: 900, signal: new AbortController().signal, suspension: () => readSuspension(stateDir) });

    // the first passes are not steady (the canaries prove the commit, the fleet commit fans out)
    for (const p of ['p1', 'p2', 'p3']) {
      await reconcilePass(deps(), doc, p);
      clock += 60;
    }
    const kept1 = new Map([...pool.kept].map(([k, v]) => [k, v]));
    const recs1 = { ...doc.nodes };
    const norm = (pass: string, at: number): string => JSON.stringify(doc.nodes, null, 2).replaceAll(`"${pass}"`, '"pX"').replaceAll(new Date(at * 1000).toISOString(), 'T');
    const text1 = norm('p3', clock - 60);
    await reconcilePass(deps(), doc, 'p4');
    const text2 = norm('p4', clock);

    expect(Object.keys(doc.nodes)).toHaveLength(NODES);
    // the status is the same but for the pass id and the health answers' time
    expect(text2).toBe(text1);
    const states = Object.values(doc.nodes).map((n) => [n.node, n.state, drift(n.node).join(',')]);
    expect(states.filter(([, s, d]) => s !== 'Synced' && d === '')).toEqual([]);
    expect(states.filter(([, , d]) => /hand-edited|not-deployed/.test(d!)).every(([, s]) => s === 'OutOfSync')).toBe(true);

    for (const [name, k2] of pool.kept) {
      const k1 = kept1.get(name)!;
      // plan and observation: last pass's, all of them (only the clock and the observe time changed)
      expect(k2.plan).toBe(k1.plan);
      expect(k2.observation).not.toBe(k1.observation);
      expect(k2.observation!.tenants).toBe(k1.observation!.tenants);
      expect(k2.observation!.openclaw).toBe(k1.observation!.openclaw);
      // status record: new (pass id), its tenants' sync, health and tokens last pass's
      const [r1, r2] = [recs1[name]!, doc.nodes[name]!];
      expect(r2).not.toBe(r1);
      expect(r2.sync).toBe(r1.sync);
      for (const t of Object.keys(r2.tenants)) {
        expect(r2.tenants[t]!.sync).toBe(r1.tenants[t]!.sync);
        expect(r2.tenants[t]!.tokens).toBe(r1.tenants[t]!.tokens);
      }
    }
    // the fleet's nodes in sync hold one copy of what they have in common (the canaries, a group of their own, one more)
    const synced = [...pool.kept.entries()].filter(([n]) => drift(n).length === 0 && !doc.nodes[n]!.canary).map(([, k]) => k.observation!.tenants);
    expect(synced.length).toBeGreaterThan(5);
    for (const t of ids) expect(new Set(synced.map((x) => x[t]!.manifest)).size).toBe(1);
  }, 120_000);
});
