/**
 * Adversarial review of the controller's early start (connections.ts startEarly, health-stage.ts startEarlyHealth;
 * issue 12), with real passes: local nodes (directories with the real openclaw CLI, the launchctl stand-in and the
 * fake gateway) and a real sshd fleet. Each test is a defect the review found:
 *
 * - an early observe that FAILED (before the fetch) was the node's verdict, though a fresh ask at the group's turn
 *   succeeds: the node was Unreachable and backed off for a failure nobody would have seen;
 * - a slow fetch (the origin's upload-pack sleeping 3 s; git waits up to 2 min): the observation from before it was
 *   the canary's, so a hand edit made during the fetch was not seen — Synced and a green pass counted;
 * - a canary not applied to while another canary was (its apply and health gate take seconds to minutes): its health
 *   answer from beside its observe was taken, though its gateway failed by the time the health stage ran;
 * - an apply that swapped nothing but reloaded a service (NotReloaded) has outcome `unchanged`: the health stage
 *   took the answer asked beside observe, from the process apply had just replaced;
 * - a health command started early on the node's OLD connection (its nodes.yaml entry moved to another machine)
 *   was taken as the answer of the new one;
 * - stopping the controller while an early observe runs: the command failed with the connection closed, and
 *   observe's retry-on-a-new-connection logged in again AFTER close() — a session the process never closes (the CLI
 *   then never exits); and a command left over from a pass that is over dropped the connection the next pass uses.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionPool } from '../../reconciler/controller/connections.js';
import type { NodeFacts } from '../../reconciler/controller/derive.js';
import { healthStage, startEarlyHealth } from '../../reconciler/controller/health-stage.js';
import type { NodeSpec, Settings } from '../../reconciler/desired/types.js';
import { loadDesired } from '../../reconciler/source/load.js';
import type { ExecOptions, ExecResult, Transport } from '../../reconciler/transport/transport.js';
import { plan } from '../../reconciler/plan/plan.js';
import { chownToNodeUser, fleetAvailable, startFleet, type Fleet } from '../fleet/fleet.js';
import { fleetNodesYaml } from '../helpers/fleet-repo.js';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { openclawCache } from '../helpers/openclaw.js';
import { layRelease } from '../helpers/release.js';
import { EXAMPLE } from '../helpers/repo.js';
import { seedSecrets } from '../helpers/secrets.js';
import { deployedTenant, exampleDesired, nodeObservation, ok, tenantOf } from '../plan/fixtures.js';
import { ACME, acmeLevel, clawopsYaml, makeOrigin, memLogger, newController, node, portOffset, summary } from './helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** a `sh` first on the node's PATH: fails the next `count` observe commands (exit 7), runs every other command */
function failObserves(bin: string, counter: string, count: number): void {
  writeFileSync(counter, String(count));
  writeFileSync(
    join(bin, 'sh'),
    `#!/bin/sh\nif [ "$3" = clawops-observe ]; then n=$(cat ${counter}); if [ "$n" -gt 0 ]; then echo $((n - 1)) > ${counter}; echo "injected observe failure" >&2; exit 7; fi; fi\nexec /bin/sh "$@"\n`,
    { mode: 0o755 },
  );
}

describe.skipIf(!openclawCache())('early start on local nodes', () => {
  let lc: LocalController | undefined;
  afterEach(async () => {
    await lc?.close();
    lc = undefined;
  });

  it('an early observe that failed is not the verdict: the node is asked again at its turn (and a real failure still fails)', async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }], secretsFor: ['acme'], prefix: 'clawops-ctl-early-' });
    const { c } = await lc.start();
    await c.runPass();
    await c.runPass();
    expect(node(c.status(), 'gw-1')).toMatchObject({ state: 'Synced' });

    // the next two observe commands fail: both are the early observe's (its try, and its retry on a new connection),
    // made before the fetch; the node answers again by the time the canaries are observed
    const counter = join(lc.nodes.root('gw-1'), 'fail-observes');
    failObserves(join(lc.nodes.root('gw-1'), 'usr/local/bin'), counter, 2);
    await c.runPass();
    expect(readFileSync(counter, 'utf8').trim()).toBe('0');
    expect(node(c.status(), 'gw-1')).toMatchObject({ state: 'Synced' });
    expect(node(c.status(), 'gw-1').backoff).toBeUndefined();

    // a node that keeps failing fails: the fresh ask's failure is the verdict
    failObserves(join(lc.nodes.root('gw-1'), 'usr/local/bin'), counter, 100);
    await c.runPass();
    expect(node(c.status(), 'gw-1')).toMatchObject({ state: 'Unreachable', reason: 'ObserveFailed', backoff: { kind: 'observe', failures: 1 } });
    expect(node(c.status(), 'gw-1').message).toContain('injected observe failure');
    rmSync(join(lc.nodes.root('gw-1'), 'usr/local/bin/sh'));
  }, 60_000);

  it('a node whose observe hangs: the early observe that timed out while its group waited is the verdict, not tried a second time', async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }], secretsFor: ['acme'], clawops: (y) => y.replace('command_timeout_ms: 60000', 'command_timeout_ms: 1500'), prefix: 'clawops-ctl-early-' });
    const { c } = await lc.start();
    await c.runPass();
    await c.runPass();
    expect(node(c.status(), 'gw-1').state).toBe('Synced');
    // from now on every observe command on gw-1 hangs (killed by the 1.5 s command timeout); each one is counted
    const bin = join(lc.nodes.root('gw-1'), 'usr/local/bin');
    const tries = join(lc.nodes.root('gw-1'), 'observe-tries');
    writeFileSync(tries, '');
    writeFileSync(join(bin, 'sh'), `#!/bin/sh\nif [ "$3" = clawops-observe ]; then echo x >> ${tries}; exec /bin/sleep 30; fi\nexec /bin/sh "$@"\n`, { mode: 0o755 });
    await c.runPass();
    expect(node(c.status(), 'gw-1')).toMatchObject({ state: 'Unreachable', reason: 'ObserveFailed', backoff: { kind: 'observe', failures: 1 } });
    // the early observe and its one retry on a new connection (as any observe): 2 × 1.5 s, not 4
    expect(readFileSync(tries, 'utf8').trim().split('\n')).toHaveLength(2);
    rmSync(join(bin, 'sh'));
  }, 60_000);

  it('a slow fetch: an early observation from before it is not what the canary is judged on (a hand edit during the fetch is seen)', async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }], secretsFor: ['acme'], prefix: 'clawops-ctl-early-' });
    const file = join(lc.nodes.root('gw-1'), 'etc/openclaw/tenants/acme/gateway.d/10-base.yaml');
    let edit: Promise<void> | undefined;
    let slow = false;
    const log = memLogger((l) => {
      // 1.5 s into a 3 s fetch (the early observe of gw-1 is long done): someone edits a file of the canary's release
      if (slow && l.stage === 'fetch' && String(l.msg).startsWith('fetching')) edit = sleep(1_500).then(() => writeFileSync(file, `${readFileSync(file, 'utf8')}# hotfix\n`));
    });
    const { c } = await lc.start({}, log);
    await c.runPass();
    await c.runPass();
    const commit = lc.origin.head();
    expect(node(c.status(), 'gw-1').state).toBe('Synced');
    expect(c.status().commits[commit]?.canaries['gw-1']?.greenPasses).toBe(1);

    // the origin answers slowly from now on (the mirror's upload-pack sleeps 3 s): the fetch takes 3 s
    execFileSync('git', ['-C', join(lc.stateDir, 'repo.git'), 'config', 'remote.origin.uploadpack', 'sleep 3; git-upload-pack']);
    slow = true;
    await c.runPass();
    await edit;
    const s = c.status();
    // observed after the fetch: the edit is drift, repaired on the canary, and no green pass is counted for it
    expect(node(s, 'gw-1')).toMatchObject({ state: 'Progressing', reason: 'Applied' });
    expect(s.commits[commit]?.canaries['gw-1']?.greenPasses).toBe(0);
    expect(readFileSync(file, 'utf8')).not.toContain('# hotfix');
  }, 60_000);

  it('a canary not applied to while another canary is: its health is asked when the stage runs, not taken from beside an observe long before', async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }, { name: 'gw-2', canary: true, tenants: ['globex'] }], services: true, prefix: 'clawops-ctl-early-' });
    const { nodes, origin } = lc;
    const forced = join(nodes.root('gw-2'), 'var/db/openclaw/state/globex/fake-readyz.json');
    let armed = false;
    const log = memLogger((l) => {
      // gw-1's apply starts: from now on gw-2's gateway fails its readiness route
      if (armed && l.stage === 'apply' && l.node === 'gw-1' && l.step === 'lock' && l.state === 'start') writeFileSync(forced, JSON.stringify({ code: 503, body: { status: 'fail', tenant: 'globex', failures: [], reasons: [] } }));
    });
    const { c } = await lc.start({}, log);
    await c.runPass();
    await c.runPass();
    expect(summary(c.status())).toEqual({ 'gw-1': 'Synced:Synced', 'gw-2': 'Synced:Synced' });

    // a commit for acme only: gw-1 is applied to (its first command takes 1.5 s more), gw-2 runs the commit already
    const bin = join(nodes.root('gw-1'), 'usr/local/bin');
    writeFileSync(join(bin, '.slow-once'), '');
    writeFileSync(join(bin, 'sh'), `#!/bin/sh\ncase "$2" in *clawops-health*) ;; *) if [ "$3" != clawops-observe ] && [ -e ${bin}/.slow-once ]; then rm -f ${bin}/.slow-once; /bin/sleep 1.5; fi ;; esac\nexec /bin/sh "$@"\n`, { mode: 0o755 });
    const c2 = origin.commit({ [ACME]: acmeLevel('warn') }, 'acme: warn');
    origin.push();
    armed = true;
    await c.runPass();
    const s = c.status();
    expect(node(s, 'gw-1')).toMatchObject({ state: 'Progressing' });
    expect(node(s, 'gw-2').tenants.globex!.probe).toMatchObject({ status: 'fail', code: 503 });
    expect(node(s, 'gw-2')).toMatchObject({ state: 'Degraded', reason: 'ProbeFailed' });
    expect(s.commits[c2]?.canaries['gw-2']).toMatchObject({ running: true, greenPasses: 0 });
  }, 90_000);

  it('an apply that only reloaded a service (NotReloaded, outcome unchanged): the node health is asked after the reload, not taken from beside observe', async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }], secretsFor: ['acme'], services: true, prefix: 'clawops-ctl-early-' });
    const { nodes, origin } = lc;
    const forced = join(nodes.root('gw-1'), 'var/db/openclaw/state/acme/fake-readyz.json');
    let reloading = false;
    const log = memLogger((l) => {
      // the service is restarted: the new process answers readiness ok (the old one said fail)
      if (l.stage === 'apply' && l.step === 'reload' && l.state === 'start') {
        reloading = true;
        rmSync(forced, { force: true });
      }
    });
    const { c } = await lc.start({}, log);
    await c.runPass();
    await c.runPass();
    expect(node(c.status(), 'gw-1')).toMatchObject({ state: 'Synced', health: { status: 'ok' } });

    // a person lays the next commit's acme release on gw-1 and points the link at it, without restarting the service
    const c2 = origin.commit({ [ACME]: acmeLevel('warn') }, 'acme: warn');
    origin.push();
    const built = await loadDesired(origin.bare, c2);
    try {
      layRelease(join(nodes.root('gw-1'), 'etc/openclaw'), built.desired, 'acme', { commit: c2 });
    } finally {
      built.source.cleanup();
    }
    // … and the process still running the old release fails its readiness route
    writeFileSync(forced, JSON.stringify({ code: 503, body: { status: 'fail', tenant: 'acme', failures: [], reasons: [] } }));

    await c.runPass();
    expect(reloading).toBe(true);
    const s = c.status();
    const applied = log.lines().filter((l) => l.stage === 'apply' && l.step === 'reload' && l.state === 'done');
    expect(applied.length).toBeGreaterThan(0);
    // the probe the status keeps is the reloaded service's answer (ok), not the old process's (fail)
    expect(node(s, 'gw-1').tenants.acme!.probe).toMatchObject({ status: 'ok', code: 200 });
    expect(node(s, 'gw-1').reason).not.toBe('ProbeFailed');
  }, 90_000);
});

// ---------------------------------------------------------------- a moved inventory entry (fake transports)

class FakeTransport implements Transport {
  readonly stats = { commands: 0, bytesSent: 0, bytesReceived: 0 };
  health = 0;
  constructor(readonly node: string, private readonly answer: { code: number; body: unknown }) {}
  paths() {
    return { etc: '/etc/openclaw', varDb: '/var/db/openclaw', launchDaemons: '/Library/LaunchDaemons' };
  }
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (!command.includes('clawops-health')) return { stdout: '', stderr: 'unexpected', code: 127, signal: null };
    this.health++;
    const stdin = String(await opts.stdin);
    const body = Buffer.from(JSON.stringify(this.answer.body)).toString('base64');
    const stdout = stdin.split('\n').filter((l) => l.startsWith('U\t')).map((l) => `T\t${l.split('\t')[1]}\t${l.split('\t')[2]}\t${this.answer.code}\t0\t${body}\n`).join('');
    return { stdout, stderr: '', code: 0, signal: null };
  }
  files = {} as Transport['files'];
  async close(): Promise<void> {}
}

/** one connection per node identity (host): a changed host gets a new transport, as ConnectionPool.get does */
class MovingPool extends ConnectionPool {
  current: { host: string; t: FakeTransport } | undefined;
  readonly byHost = new Map<string, FakeTransport>();
  constructor() {
    super({});
  }
  override async get(n: NodeSpec, _s: Settings): Promise<Transport> {
    if (this.current?.host !== n.host) this.current = { host: n.host, t: this.byHost.get(n.host)! };
    return this.current.t;
  }
  override peek(_name: string): Transport | undefined {
    return this.current?.t;
  }
}

describe('health asked early on a connection the node no longer uses', () => {
  it("gw-1's entry moves to another machine: the answer asked on the old one is not the new one's", async () => {
    const d = exampleDesired();
    const gw1 = d.nodes.find((n) => n.name === 'gw-1')!;
    const first = gw1.tenants[0]!;
    const facts = (): Map<string, NodeFacts> => {
      const o = nodeObservation(d, 'gw-1', gw1.tenants);
      o.tenants[first] = deployedTenant(tenantOf(d, first), {});
      for (const t of gw1.tenants.slice(1)) o.tenants[t]!.files = Object.fromEntries(Object.entries(o.tenants[t]!.files).filter(([k]) => !k.startsWith('launchd/')));
      const observed = ok(o);
      return new Map<string, NodeFacts>([['gw-1', { node: 'gw-1', role: 'gateway', canary: true, follows: 'canary', observed, plan: plan(d, [observed], [gw1]).nodes[0]!, desired: d, suspended: false, mode: 'auto' }]]);
    };
    const pool = new MovingPool();
    const old = new FakeTransport('gw-1', { code: 200, body: { ready: true, failing: [] } });
    const replacement = new FakeTransport('gw-1', { code: 503, body: { ready: false, failing: ['gateway'] } });
    pool.byHost.set(gw1.host, old);
    pool.byHost.set('replacement.invalid', replacement);
    const deps = { pool, log: pino({ level: 'silent' }), now: () => new Date('2026-11-29T09:00:00Z'), signal: new AbortController().signal };

    await pool.get(gw1, d.settings);
    await healthStage(deps, facts(), [gw1], d);
    expect(old.health).toBe(1);

    // next pass: nodes.yaml now puts gw-1 on another machine; the early health command goes out on the connection
    // open at the time (the old machine's) before observe makes the new one
    const moved = { ...gw1, host: 'replacement.invalid' };
    startEarlyHealth(pool, 'gw-1', () => new Date());
    await pool.get(moved, d.settings);
    const f = facts();
    await healthStage(deps, f, [moved], d);
    expect(replacement.health).toBe(1);
    expect(f.get('gw-1')!.health?.probes[first]).toMatchObject({ status: 'fail', code: 503 });
    pool.endPass();
  });
});

// ---------------------------------------------------------------- stopping during an early observe (real sshd)

const fleetReady = fleetAvailable().ok && openclawCache() !== undefined;

describe.skipIf(!fleetReady)('stopping the controller during an early observe (real sshd fleet)', () => {
  let fleet: Fleet | undefined;
  afterEach(async () => {
    await fleet?.stop();
    fleet = undefined;
  });

  it('SIGTERM while a fleet node\'s early observe runs: the controller closes every connection and never logs in again', async () => {
    fleet = await startFleet({ names: ['gw-1', 'gw-2'], openclaw: true });
    const assign = { 'gw-1': { role: 'gateway' as const, canary: true, tenants: ['acme'] }, 'gw-2': { role: 'gateway' as const, tenants: ['acme'] } };
    for (const n of fleet.nodes) await seedSecrets(n, ['acme']);
    const nodesYaml = fleetNodesYaml(fleet, assign).replace(/port_offset: \d+/g, () => `port_offset: ${portOffset()}`);
    const origin = makeOrigin({ 'clawops.yaml': clawopsYaml(readFileSync(join(EXAMPLE, 'clawops.yaml'), 'utf8')), 'nodes.yaml': nodesYaml });
    origin.tag('release/1', origin.head());
    let stopAt: number | undefined;
    let passes = 0;
    const log = memLogger((l) => {
      if (l.stage === 'fetch' && String(l.msg).startsWith('fetching') && ++passes === stopAt) c.stop();
    });
    const { c } = newController({ repo: origin.bare, stateDir: mkdtempSync(join(tmpdir(), 'clawops-ctl-early-')), identityFile: fleet.clientKeyPath }, log);
    await c.start();
    const gw2 = fleet.node('gw-2');
    const logins = (): number => (readFileSync(gw2.sshdLogPath, 'utf8').match(/Accepted publickey/g) ?? []).length;
    try {
      await c.runPass();
      await c.runPass();
      expect(node(c.status(), 'gw-2').state).toBe('Gated');

      // gw-2's observe now takes 3 s (its sh sleeps first); the controller is stopped as the next pass fetches: the
      // canary is done at once, the fleet is not touched, gw-2's early observe is still running when close() comes
      writeFileSync(join(gw2.binDir, 'sh'), `#!/bin/sh\nif [ "$3" = clawops-observe ]; then /bin/sleep 3; fi\nexec /bin/sh "$@"\n`, { mode: 0o755 });
      stopAt = passes + 1;
      const s = await c.runPass();
      expect(s.outcome).toBe('Interrupted');
    } finally {
      await c.close();
    }
    const before = logins();
    await sleep(4_500);
    // the early observe failed with the connection closed; no retry on a new connection after close()
    expect(logins()).toBe(before);
  }, 120_000);

  it('an early observe left over from a pass that is over (clawops.yaml broken at the pin) touches no connection when it fails', async () => {
    fleet = await startFleet({ names: ['gw-1'], openclaw: true });
    await seedSecrets(fleet.node('gw-1'), ['acme']);
    const nodesYaml = fleetNodesYaml(fleet, { 'gw-1': { role: 'gateway' as const, canary: true, tenants: ['acme'] } }).replace(/port_offset: \d+/g, () => `port_offset: ${portOffset()}`);
    const good = clawopsYaml(readFileSync(join(EXAMPLE, 'clawops.yaml'), 'utf8'));
    const origin = makeOrigin({ 'clawops.yaml': good, 'nodes.yaml': nodesYaml });
    const { c, log } = newController({ repo: origin.bare, stateDir: mkdtempSync(join(tmpdir(), 'clawops-ctl-early-')), identityFile: fleet.clientKeyPath });
    await c.start();
    const gw1 = fleet.node('gw-1');
    const logins = (): number => (readFileSync(gw1.sshdLogPath, 'utf8').match(/Accepted publickey/g) ?? []).length;
    try {
      await c.runPass();
      await c.runPass();
      expect(node(c.status(), 'gw-1').state).toBe('Synced');
      // the next observe on gw-1 takes 2 s and fails; the pass stops at the pin (clawops.yaml does not validate), so
      // its early observe of gw-1 is nobody's and is still running when the pass is over
      const counter = join(gw1.binDir, '.fail-observes');
      writeFileSync(counter, '1');
      writeFileSync(join(gw1.binDir, 'sh'), `#!/bin/sh\nif [ "$3" = clawops-observe ] && [ "$(cat /usr/local/bin/.fail-observes)" = 1 ]; then echo 0 > /usr/local/bin/.fail-observes; /bin/sleep 2; echo "injected observe failure" >&2; exit 7; fi\nexec /bin/sh "$@"\n`, { mode: 0o755 });
      chownToNodeUser(counter);
      origin.commit({ 'clawops.yaml': 'gating: [\n' }, 'broken settings');
      origin.push();
      const before = logins();
      expect((await c.runPass()).outcome).toBe('ValidationFailed');
      await sleep(3_500);
      expect(readFileSync(counter, 'utf8').trim()).toBe('0');
      // it failed after its pass: no connection dropped for it, no retry logged in again to observe for nobody
      expect(logins()).toBe(before);
      origin.commit({ 'clawops.yaml': good }, 'settings fixed');
      origin.push();
      await c.runPass();
      expect(node(c.status(), 'gw-1').state).toBe('Synced');
      expect(logins()).toBe(before);
      expect(log.lines().some((l) => l.reconcile !== undefined && String(l.msg).includes('injected observe failure'))).toBe(false);
    } finally {
      await c.close();
    }
  }, 120_000);
});
