/**
 * The controller benchmarks' kit: a bare origin of the generated infra repo (10 tenants × 20 fragments, every tenant on
 * every node, the first node a canary, `release/1` tagged) for a chosen subset of a test fleet, and a Controller run in
 * this process whose stages are timed from the outside (its mirror, desired cache and connection pool are wrapped;
 * reconciler/ is not changed), with the bytes its transports send.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { stringify } from 'yaml';
import type { ConnectionPool } from '../../reconciler/controller/connections.js';
import type { GitMirror } from '../../reconciler/controller/git-mirror.js';
import { Controller, systemClock } from '../../reconciler/controller/loop.js';
import type { DesiredCache } from '../../reconciler/controller/pass.js';
import type { DesiredState } from '../../reconciler/desired/types.js';
import type { ObserveResult } from '../../reconciler/observe/types.js';
import { clawopsYaml } from '../../test/controller/helpers.js';
import type { FleetNodeHandle } from '../../test/fleet/fleet.js';
import { fleetUnitEdits, git } from '../../test/helpers/fleet-repo.js';
import { exampleRepo, type Edit } from '../../test/helpers/repo.js';
import { checkedDesired, tenantFragments } from './infra-repo.js';

export interface ControllerOrigin {
  /** the committed working repo (what `clawops diff --repo` reads) */
  work: string;
  /** its bare origin (what the controller mirrors) */
  bare: string;
  commit: string;
  desired: DesiredState;
}

/**
 * The generated repo for `nodes` (a subset of the fleet, so a pass at N nodes observes exactly N), the first of them a
 * canary, refs as the controller's defaults (canary main, fleet release/*), no fixture replay (the repo records none),
 * and no launchd units: the releases declare no services, so a placed release is all a node needs to be Synced (the
 * nodes run no gateways; 10 fake gateways × 40 nodes would not fit this machine). Pushed to a bare origin, tagged
 * release/1 on the same commit.
 */
export function controllerOrigin(nodes: FleetNodeHandle[], tenantIds: string[], fragments: number): ControllerOrigin {
  const units = fleetUnitEdits();
  const edits: Record<string, Edit> = {
    'tenants/acme': null,
    'tenants/globex': null,
    'tenants/initech': null,
    fixtures: null,
    'clawops.yaml': clawopsYaml(String(units['clawops.yaml'])),
    'launchd/gateway.plist': null,
    'launchd/probe.plist': null,
    'launchd/notifier.plist': null,
    launchd: null,
  };
  // profiles on one Mac need base ports ≥ 120 apart (lint nodes/port-overlap); tenantFragments spaces them 20 apart
  tenantIds.forEach((id, i) => {
    const files = tenantFragments(id, i, fragments);
    for (const [p, c] of Object.entries(files)) files[p] = c.replace(`port: ${18789 + i * 20}\n`, `port: ${18789 + i * 120}\n`);
    Object.assign(edits, files);
  });
  edits['nodes.yaml'] = nodesYaml(nodes, tenantIds);
  const work = exampleRepo(edits);
  git(work, 'init', '-q', '-b', 'main');
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'initial');
  const desired = checkedDesired(work, tenantIds.length, fragments);
  const bare = mkdtempSync(join(tmpdir(), 'clawops-ctl-bench-origin-'));
  git(bare, 'init', '-q', '--bare', '-b', 'main');
  git(work, 'remote', 'add', 'origin', bare);
  git(work, 'push', '-q', 'origin', 'main');
  git(work, 'tag', '-a', '-m', 'release/1', 'release/1');
  git(work, 'push', '-q', 'origin', 'refs/tags/release/1');
  return { work, bare, commit: git(work, 'rev-parse', 'HEAD'), desired };
}

/**
 * nodes.yaml for `nodes`, the first a canary. One port_offset for all (the schema's cap, clear of the blocks tests
 * claim under /tmp/clawops-port-blocks, of which there are 28 — too few for 40 nodes): the nodes here run no gateway,
 * so their tenants' ports are never bound and cannot clash.
 */
function nodesYaml(nodes: FleetNodeHandle[], tenantIds: string[]): string {
  return stringify({
    nodes: nodes.map((n, i) => ({ name: n.name, host: n.host, port: n.port, user: n.user, host_key: n.hostKey, role: 'gateway', ...(i === 0 ? { canary: true } : {}), port_offset: PORT_OFFSET, tenants: tenantIds })),
  });
}
const PORT_OFFSET = 40_000;

/** Where one pass's time went, measured around the controller's own objects. Milliseconds unless named otherwise. */
export interface PassTimes {
  /** wall time of runPass() (includes the status write) */
  wallMs: number;
  /** the loop's own durationMs (the pass without the status write) */
  passMs: number;
  /** git fetch of the origin */
  fetchMs: number;
  /** ref listing, HEAD and clawops.yaml reads (pinning) */
  pinMs: number;
  /** desired-state lookups (a cached commit costs ~0) */
  desiredMs: number;
  /** observe+plan per group, as the pass logs it (group: ms), and the slowest node's own observe script time */
  groups: { group: string; nodes: number; ms: number; slowestNodeMs: number }[];
  /** the health stage per group, as the pass logs it (nodes asked, ms); none logged when no node was asked */
  health: { nodes: number; ms: number }[];
  /** per node: wall time of its observe call (remote command round trip) and the node-side script time */
  nodeObserveMs: number[];
  nodeScriptMs: number[];
  /** process CPU time during the pass (user + system): the controller's */
  cpuMs: number;
  /** CPU time of the controller's child processes that ended during the pass (git fetch, for-each-ref, …) */
  childCpuMs: number;
  /** CPU time the fleet nodes spent during the pass (every process under their sshds), when the bench can read it */
  nodeCpuMs: number;
  /** remote commands the transports started during the pass (observe, health, …), all nodes */
  commands: number;
  rssBytes: number;
  /** bytes the transports sent (command lines, stdin) and received during the pass */
  bytesSent: number;
  bytesReceived: number;
  outcome: string;
}

interface Internals {
  mirror: GitMirror;
  pool: ConnectionPool;
  cache: DesiredCache;
}

export interface BenchController {
  c: Controller;
  /** one pass, timed */
  pass(): Promise<PassTimes>;
  /** node name → state, from the status the controller keeps */
  states(): Record<string, string>;
  close(): Promise<void>;
}

/**
 * A Controller as `clawops controller run` makes one (real clock, the fleet's key), in `mode`, logging at debug into a
 * sink that keeps only the lines the timing needs. The wrappers add a performance.now() pair around each call.
 */
export async function benchController(o: { origin: string; stateDir: string; identityFile: string; mode: 'auto' | 'observe'; nodes: string[]; nodeCpuMs?: () => number }): Promise<BenchController> {
  let cur: PassTimes | undefined;
  const sink = {
    write(s: string): void {
      if (!cur || !(s.includes('"stage":"observe"') || s.includes('"stage":"health"'))) return;
      for (const line of s.split('\n')) {
        if (!line.includes('"ms"')) continue;
        const l = JSON.parse(line) as { stage?: string; group?: string; nodes?: number; ms?: number; slowestNodeMs?: number };
        if (typeof l.ms !== 'number') continue;
        if (l.stage === 'health') cur.health.push({ nodes: l.nodes ?? 0, ms: l.ms });
        else if (l.stage === 'observe') cur.groups.push({ group: l.group ?? '?', nodes: l.nodes ?? 0, ms: l.ms, slowestNodeMs: l.slowestNodeMs ?? 0 });
      }
    },
  };
  const logger = pino({ level: 'debug', base: { name: 'clawops-controller' } }, sink);
  const c = new Controller({ repo: o.origin, stateDir: o.stateDir, intervalMs: 60_000, mode: o.mode, logger, clock: systemClock, identityFile: o.identityFile });
  const inner = c as unknown as Internals;

  const timed = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, add: (ms: number, r: R, a: A) => void): ((...a: A) => Promise<R>) =>
    async (...a: A) => {
      const t0 = performance.now();
      const r = await fn(...a);
      add(performance.now() - t0, r, a);
      return r;
    };
  const m = inner.mirror;
  m.fetch = timed(m.fetch.bind(m), (ms) => cur && (cur.fetchMs += ms));
  m.refs = timed(m.refs.bind(m), (ms) => cur && (cur.pinMs += ms));
  m.head = timed(m.head.bind(m), (ms) => cur && (cur.pinMs += ms));
  m.show = timed(m.show.bind(m), (ms) => cur && (cur.pinMs += ms));
  const cache = inner.cache;
  cache.get = timed(cache.get.bind(cache), (ms) => cur && (cur.desiredMs += ms));
  const pool = inner.pool;
  pool.observe = timed(pool.observe.bind(pool), (ms, r: ObserveResult) => {
    if (!cur) return;
    cur.nodeObserveMs.push(ms);
    if (r.ok) cur.nodeScriptMs.push(r.observation.durationMs);
  });

  const wire = (): { sent: number; received: number; commands: number } => {
    let sent = 0;
    let received = 0;
    let commands = 0;
    for (const n of o.nodes) {
      const t = pool.peek(n);
      if (t) {
        sent += t.stats.bytesSent;
        received += t.stats.bytesReceived;
        commands += t.stats.commands;
      }
    }
    return { sent, received, commands };
  };

  await c.start();
  return {
    c,
    async pass() {
      cur = { wallMs: 0, passMs: 0, fetchMs: 0, pinMs: 0, desiredMs: 0, groups: [], health: [], nodeObserveMs: [], nodeScriptMs: [], cpuMs: 0, childCpuMs: 0, nodeCpuMs: NaN, commands: 0, rssBytes: 0, bytesSent: 0, bytesReceived: 0, outcome: '' };
      // read outside the timed span (walking /proc costs the bench a few ms)
      const n0 = o.nodeCpuMs?.();
      const w0 = wire();
      const cpu0 = process.cpuUsage();
      const child0 = childCpuMs();
      const t0 = performance.now();
      const s = await c.runPass('bench');
      cur.wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      cur.childCpuMs = childCpuMs() - child0;
      const w1 = wire();
      const n1 = o.nodeCpuMs?.();
      if (n0 !== undefined && n1 !== undefined) cur.nodeCpuMs = n1 - n0;
      cur.cpuMs = (cpu.user + cpu.system) / 1000;
      cur.rssBytes = process.memoryUsage().rss;
      // a connection made during the pass starts from 0: deltas only over connections that were there before
      cur.bytesSent = w1.sent - w0.sent;
      cur.bytesReceived = w1.received - w0.received;
      cur.commands = w1.commands - w0.commands;
      cur.passMs = s.durationMs;
      cur.outcome = s.outcome;
      const r = cur;
      cur = undefined;
      return r;
    },
    states: () => Object.fromEntries(Object.values(c.status().nodes).map((n) => [n.node, n.state])),
    close: () => c.close(),
  };
}

/** Passes until every node is Synced (the first connects; the canary's green passes open the fleet gate). */
export async function warmUp(b: BenchController, nodes: string[], maxPasses = 6): Promise<PassTimes[]> {
  const out: PassTimes[] = [];
  for (let i = 0; i < maxPasses; i++) {
    out.push(await b.pass());
    const st = b.states();
    if (nodes.every((n) => st[n] === 'Synced')) return out;
  }
  const st = b.states();
  const bad = Object.entries(st).filter(([, s]) => s !== 'Synced');
  const doc = b.c.status();
  throw new Error(`the fleet is not Synced after ${maxPasses} passes: ${bad.slice(0, 5).map(([n, s]) => `${n} ${s}: ${(doc.nodes[n]?.message ?? doc.nodes[n]?.reason ?? '').slice(0, 200)}`).join('; ')} (last pass ${doc.lastPass?.outcome ?? '?'}${doc.lastPass?.message ? `: ${doc.lastPass.message}` : ''})`);
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}


/**
 * CPU time (ms) used so far by the processes of the fleet nodes (each node's sshd, PID 1 of its namespace, and
 * everything under it): the sum over the live processes of their own and their reaped children's user+system time.
 * A process that exits moves from its own counters into its parent's children counters, so the difference of two
 * readings is what the nodes spent in between, whatever started or ended (clock ticks: 10 ms a process at worst).
 */
export function fleetCpuMs(roots: readonly number[]): number {
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // fields after the command (which may hold spaces and parentheses): state ppid … utime(14) stime cutime cstime
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parent.set(Number(e), Number(f[1]));
    cpu.set(Number(e), Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]));
  }
  const inFleet = new Map<number, boolean>(roots.map((r) => [r, true]));
  const under = (pid: number): boolean => {
    const chain: number[] = [];
    let p: number | undefined = pid;
    let hit = false;
    while (p !== undefined && p > 1) {
      const known = inFleet.get(p);
      if (known !== undefined) {
        hit = known;
        break;
      }
      chain.push(p);
      p = parent.get(p);
    }
    for (const c of chain) inFleet.set(c, hit);
    return hit;
  };
  let ticks = 0;
  for (const [pid, t] of cpu) if (under(pid)) ticks += t;
  return (ticks * 1000) / CLK_TCK;
}
const CLK_TCK = 100;

/** CPU time (ms) of this process's children that have ended and been waited for (cutime + cstime of /proc/self/stat) */
export function childCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK;
}
