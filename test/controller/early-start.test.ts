/**
 * What a steady pass starts early (connections.ts startEarly, health-stage.ts startEarlyHealth): the last pass's
 * observe commands while the source is fetched, and its health command beside the node's observe command. Each early
 * answer is taken only by the same ask in the same pass — same node spec, tenants and desired state for observe; the
 * same command (tenants, URLs, digest) on a node not applied to for health — and anything else is asked afresh, so a
 * pass never acts on what another commit, another spec, an apply or an earlier pass saw.
 */
import { pino } from 'pino';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { DesiredState, NodeSpec, Settings } from '../../reconciler/desired/types.js';
import type { ExecOptions, ExecResult, Transport } from '../../reconciler/transport/transport.js';
import type { NodeFacts } from '../../reconciler/controller/derive.js';

/** let started commands reach the (fake) node */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

// observe itself is observe/'s (tested there): here each call is counted and its answer numbered
const observeCalls: { node: string; stdin: string }[] = [];
vi.mock('../../reconciler/observe/observe-node.js', () => ({
  expectations: (_d: unknown, tenants: readonly string[]) => `${tenants.join(',')}\n`,
  observeNode: async (t: Transport, _p: unknown, stdin: string) => {
    observeCalls.push({ node: t.node, stdin });
    await new Promise((r) => setTimeout(r, 5));
    return { node: t.node, durationMs: observeCalls.length, tenants: {}, errors: [] };
  },
}));

const { ConnectionPool } = await import('../../reconciler/controller/connections.js');
const { healthStage, startEarlyHealth } = await import('../../reconciler/controller/health-stage.js');
const { deployedTenant, exampleDesired, nodeObservation, ok, tenantOf } = await import('../plan/fixtures.js');
const { plan } = await import('../../reconciler/plan/plan.js');

class FakeTransport implements Transport {
  readonly stats = { commands: 0, bytesSent: 0, bytesReceived: 0 };
  readonly health: string[] = [];
  failHealth = false;
  constructor(readonly node: string) {}
  paths() {
    return { etc: '/etc/openclaw', varDb: '/var/db/openclaw', launchDaemons: '/Library/LaunchDaemons' };
  }
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.stats.commands++;
    if (!command.includes('clawops-health')) return { stdout: '', stderr: 'unexpected command', code: 127, signal: null };
    const stdin = String(await opts.stdin);
    this.health.push(stdin);
    if (this.failHealth) return { stdout: '', stderr: 'boom', code: 1, signal: null };
    const body = Buffer.from(JSON.stringify({ ready: true, failing: [] })).toString('base64');
    const stdout = stdin.split('\n').filter((l) => l.startsWith('U\t')).map((l) => `T\t${l.split('\t')[1]}\t${l.split('\t')[2]}\t200\t0\t${body}\n`).join('');
    return { stdout, stderr: '', code: 0, signal: null };
  }
  files = {} as Transport['files'];
  async close(): Promise<void> {}
}

class FakePool extends ConnectionPool {
  readonly ts = new Map<string, FakeTransport>();
  constructor() {
    super({});
  }
  override async get(node: NodeSpec, _s: Settings): Promise<Transport> {
    let t = this.ts.get(node.name);
    if (!t) this.ts.set(node.name, (t = new FakeTransport(node.name)));
    return t;
  }
  override peek(name: string): Transport | undefined {
    return this.ts.get(name);
  }
}

const spec = (name: string, tenants: string[], canary = false): NodeSpec => ({ name, host: `${name}.invalid`, port: 22, user: 'clawops', role: 'gateway', canary, transport: 'ssh', tenants });
const desired = (concurrency = 10): DesiredState => ({ settings: { concurrency }, tenants: new Map(), nodes: [] }) as unknown as DesiredState;
const durationOf = (r: Awaited<ReturnType<InstanceType<typeof ConnectionPool>['observe']>>): number => (r.ok ? r.observation.durationMs : -1);

describe('observe: the last pass\'s first wave started before fetch and pin', () => {
  beforeEach(() => {
    observeCalls.length = 0;
  });

  it('a steady pass takes the early observation: one observe command a node, not two', async () => {
    const pool = new FakePool();
    const d = desired();
    const a = spec('gw-1', ['acme']);
    await pool.observe(a, d);
    expect(pool.startEarly(undefined, () => false)).toBe(1);
    await settle();
    expect(observeCalls).toHaveLength(2);
    // the next pass's spec object is a copy (specsIn): the same node, connection and tenants count as the same ask
    expect(durationOf(await pool.observe({ ...a }, d))).toBe(2);
    expect(observeCalls).toHaveLength(2);
    // taken once: a second call in the pass observes afresh
    expect(durationOf(await pool.observe(a, d))).toBe(3);
    pool.endPass();
  });

  it('another commit (desired state), other tenants or another host: observed afresh, the early one never used', async () => {
    const pool = new FakePool();
    const d1 = desired();
    const a = spec('gw-1', ['acme']);
    for (const next of [{ s: a, d: desired() }, { s: spec('gw-1', ['acme', 'globex']), d: d1 }, { s: { ...a, host: 'elsewhere.invalid' }, d: d1 }]) {
      await pool.observe(a, d1);
      observeCalls.length = 0;
      pool.startEarly(undefined, () => false);
      const r = await pool.observe(next.s, next.d);
      expect(observeCalls).toHaveLength(2);
      expect(durationOf(r)).toBe(2);
      pool.endPass();
    }
  });

  it('what no call took is thrown away at the end of the pass (never handed to the next one)', async () => {
    const pool = new FakePool();
    const d = desired();
    const a = spec('gw-1', ['acme']);
    await pool.observe(a, d);
    pool.startEarly(undefined, () => false);
    pool.endPass();
    expect(durationOf(await pool.observe(a, d))).toBe(3);
  });

  it('canaries first, at most the concurrency; nothing for a node the pass skips (backoff, --node)', async () => {
    const pool = new FakePool();
    const d = desired(2);
    const nodes = [spec('gw-2', ['acme']), spec('gw-3', ['acme']), spec('gw-1', ['acme'], true), spec('gw-4', ['acme'])];
    for (const n of nodes) await pool.observe(n, d);
    observeCalls.length = 0;
    expect(pool.startEarly(undefined, (n) => n === 'gw-2')).toBe(2);
    await settle();
    expect(observeCalls.map((c) => c.node)).toEqual(['gw-1', 'gw-3']);
    pool.endPass();
    observeCalls.length = 0;
    expect(pool.startEarly(3, () => false)).toBe(3);
    // nodes gone from the inventory are not started again
    pool.endPass();
    await pool.retain(new Set(['gw-4']));
    observeCalls.length = 0;
    expect(pool.startEarly(undefined, () => false)).toBe(1);
    await settle();
    expect(observeCalls.map((c) => c.node)).toEqual(['gw-4']);
    pool.endPass();
  });

  it('the observe stdin is built once per desired state and tenant list', async () => {
    const pool = new FakePool();
    const d = desired();
    await pool.observe(spec('gw-1', ['acme']), d);
    await pool.observe(spec('gw-2', ['acme']), d);
    expect(observeCalls[0]!.stdin).toBe(observeCalls[1]!.stdin);
    expect(observeCalls[0]!.stdin).toBe('acme\n');
  });
});

describe('health: the last pass\'s health command started beside observe', () => {
  const d = exampleDesired();
  const gw1 = d.nodes.find((n) => n.name === 'gw-1')!;
  const first = gw1.tenants[0]!;
  const facts = (over: Partial<NodeFacts> = {}): Map<string, NodeFacts> => {
    const o = nodeObservation(d, 'gw-1', gw1.tenants);
    o.tenants[first] = deployedTenant(tenantOf(d, first), {});
    for (const t of gw1.tenants.slice(1)) o.tenants[t]!.files = Object.fromEntries(Object.entries(o.tenants[t]!.files).filter(([k]) => !k.startsWith('launchd/')));
    const observed = ok(o);
    const p = plan(d, [observed], [gw1]).nodes[0]!;
    return new Map<string, NodeFacts>([['gw-1', { node: 'gw-1', role: 'gateway', canary: true, follows: 'canary', observed, plan: p, desired: d, suspended: false, mode: 'auto', ...over }]]);
  };
  const deps = (pool: InstanceType<typeof FakePool>) => ({ pool, log: pino({ level: 'silent' }), now: () => new Date('2026-11-29T09:00:00Z'), signal: new AbortController().signal });

  it('same targets: the early answer is the stage\'s (one health command a pass); an applied node or a failed early command is asked again', async () => {
    const pool = new FakePool();
    await pool.get(gw1, d.settings);
    const t = pool.ts.get('gw-1')!;
    const f1 = facts();
    await healthStage(deps(pool), f1, [gw1], d);
    expect(t.health).toHaveLength(1);
    expect(t.health[0]).toMatch(new RegExp(`^U\\t${first}\\t(probe|gateway)\\thttp://127\\.0\\.0\\.1:\\d+/readyz\\n$`));
    expect(f1.get('gw-1')!.health?.probes[first]?.status).toBe('ok');

    // pass 2: started beside observe, taken by the stage
    pool.startEarly(undefined, () => false);
    startEarlyHealth(pool, 'gw-1', () => new Date());
    await settle();
    expect(t.health).toHaveLength(2);
    const f2 = facts();
    await healthStage(deps(pool), f2, [gw1], d);
    expect(t.health).toHaveLength(2);
    expect(f2.get('gw-1')!.health?.probes[first]?.status).toBe('ok');
    pool.endPass();

    // pass 3: the early command fails (say the connection was replaced): asked again after observe
    pool.startEarly(undefined, () => false);
    t.failHealth = true;
    startEarlyHealth(pool, 'gw-1', () => new Date());
    await settle();
    t.failHealth = false;
    const f3 = facts();
    await healthStage(deps(pool), f3, [gw1], d);
    expect(t.health).toHaveLength(4);
    expect(f3.get('gw-1')!.health?.probes[first]?.status).toBe('ok');
    pool.endPass();

    // pass 4: applied to this pass: the early answer (from before the apply) is not the node's health, nothing asked
    pool.startEarly(undefined, () => false);
    startEarlyHealth(pool, 'gw-1', () => new Date());
    const f4 = facts({ apply: { outcome: 'applied' } as NodeFacts['apply'] });
    await healthStage(deps(pool), f4, [gw1], d);
    expect(f4.get('gw-1')!.health).toBeUndefined();
    pool.endPass();
    // … and the next pass starts nothing early for it: it asks after its observe
    const before = t.health.length;
    startEarlyHealth(pool, 'gw-1', () => new Date());
    await settle();
    expect(t.health).toHaveLength(before);
  });

  it('other targets this pass (another port): the early answer is dropped and the node asked for its own', async () => {
    const pool = new FakePool();
    await pool.get(gw1, d.settings);
    const t = pool.ts.get('gw-1')!;
    await healthStage(deps(pool), facts(), [gw1], d);
    pool.startEarly(undefined, () => false);
    startEarlyHealth(pool, 'gw-1', () => new Date());
    const moved = facts();
    const o = moved.get('gw-1')!.observed;
    if (!o?.ok) throw new Error('fixture');
    o.observation.tenants[first]!.files['openclaw.json'] = 'e'.repeat(64);
    o.observation.tenants[first]!.contents['openclaw.json'] = Buffer.from('{"gateway":{"port":30001}}');
    await healthStage(deps(pool), moved, [gw1], d);
    expect(t.health).toHaveLength(3);
    expect(t.health[2]).toMatch(/:301\d\d\/readyz|:30001\/readyz/);
    expect(t.health[1]).not.toBe(t.health[2]);
    pool.endPass();
  });
});
