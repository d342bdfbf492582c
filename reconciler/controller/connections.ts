/**
 * Connections kept open between passes (one per node, host keys pinned as everywhere): a steady pass costs one
 * remote command per node and no logins. A connection that failed is dropped and made again on the next use.
 */
import type { DesiredState, NodeSpec, Settings } from '../desired/types.js';
import { HostKeyError, oneLine, SshError } from '../errors.js';
import { expectations, observeNode } from '../observe/observe-node.js';
import { Reparser } from '../observe/reparse.js';
import type { NodeObservation, ObserveResult } from '../observe/types.js';
import type { NodePlan } from '../plan/types.js';
import { connectNode, type ConnectOptions } from '../transport/connect.js';
import type { Transport } from '../transport/transport.js';
import type { HealthFacts, HealthTargets } from './health-facts.js';
import { share } from '../share.js';

/** what a connection was made for: a changed inventory entry (host, port, key…) means a new connection */
function identity(node: NodeSpec): string {
  return JSON.stringify([node.transport, node.host, node.port, node.user, node.host_key ?? '', node.root ?? '']);
}

/** what an observe call depends on besides the desired state: the connection and the tenants asked about */
function observeKey(node: NodeSpec): string {
  return `${identity(node)}\n${node.tenants.join('\n')}`;
}

/**
 * How long an early observation (or health answer) may have been finished when its group (its health stage) asks
 * for it. The early start saves about one observe a node while the source is fetched and pinned (tens to hundreds of
 * ms); a fetch that took longer (a slow or stalled origin: git may wait minutes), or other canaries' applies before a
 * health stage, must not leave the pass judging nodes — a canary's green pass included — on what they were before:
 * the node is asked again, as it was before early start.
 */
export const EARLY_MAX_AGE_MS = 1_000;

/** distinct tenant lists whose observe stdin is kept per desired state (nodes mostly share a few) */
const STDIN_MEMO_MAX = 32;

export class ConnectionPool {
  private readonly open = new Map<string, { t: Transport; id: string }>();
  /** each node's last observe call (its spec and desired state): what the next pass starts with, before fetch and pin */
  private readonly last = new Map<string, { node: NodeSpec; key: string; desired: DesiredState }>();
  /** observes started by startEarly for this pass, each taken at most once by observe() */
  private readonly early = new Map<string, { key: string; desired: DesiredState; result: Promise<ObserveResult>; done?: number }>();
  /** observe's stdin per desired state and tenant list: the same bytes every pass and for every node alike */
  private readonly stdinMemo = new WeakMap<DesiredState, Map<string, string>>();
  /** the health stage's (health-stage.ts): each node's last health command, and this pass's ones started early */
  readonly healthAsked = new Map<string, { key: string; etc: string; portOffset: number; targets: HealthTargets }>();
  /**
   * each node's last observation (slimmed) and plan as the pass kept them: the next pass shares what did not change
   * with them (share.ts), so a steady node's are not made anew, kept through the pass and left as old-space garbage
   */
  readonly kept = new Map<string, { observation?: NodeObservation; plan?: NodePlan }>();
  readonly healthEarly = new Map<string, { key: string; t: Transport; result: Promise<{ facts: HealthFacts; failed: boolean }>; done?: number }>();
  /**
   * how long each group's observe stage took last pass (ms): early health is started only for a group whose observe
   * ends within EARLY_MAX_AGE_MS — in a longer one the first answers would be too old when the health stage asks, and
   * every node would be asked twice (2,000 nodes: 1.3–1.5 health commands a node a pass)
   */
  readonly groupObserveMs = new Map<string, number>();
  /** each node's kept answer as last parsed: an unchanged one is not parsed again in full (reparse.ts) */
  readonly reparser = new Reparser();
  /** closeAll() was called (the controller is stopping): no connection is made again, by a command in flight or a retry */
  private closed = false;
  /** the pass startEarly began; endPass() moves it on, so an early command still running after its pass touches no connection */
  private generation = 0;

  constructor(private readonly opts: ConnectOptions) {}

  async get(node: NodeSpec, settings: Settings): Promise<Transport> {
    if (this.closed) throw new SshError(node.name, 'the controller is stopping: no new connection');
    const have = this.open.get(node.name);
    if (have && have.id === identity(node)) return have.t;
    if (have) await this.drop(node.name);
    const t = await connectNode(node, settings, this.opts);
    if (this.closed) {
      // closeAll() ran while this one was being made: it would keep the process (and a session on the node) alive
      await t.close().catch(() => undefined);
      throw new SshError(node.name, 'the controller is stopping: no new connection');
    }
    this.open.set(node.name, { t, id: identity(node) });
    return t;
  }

  /** A fresh connection that is not pooled (apply's dead-man guard confirmation needs a NEW one). */
  fresh(node: NodeSpec, settings: Settings): Promise<Transport> {
    return connectNode(node, settings, this.opts);
  }

  peek(name: string): Transport | undefined {
    return this.open.get(name)?.t;
  }

  async drop(name: string): Promise<void> {
    const have = this.open.get(name);
    this.open.delete(name);
    await have?.t.close().catch(() => undefined);
  }

  /** Drop `t` if it is still the node's pooled connection (not one another command has made since). */
  private async dropIf(name: string, t: Transport): Promise<void> {
    if (this.open.get(name)?.t === t) await this.drop(name);
    else await t.close().catch(() => undefined);
  }

  /** Close connections of nodes no longer in the inventory. */
  async retain(names: ReadonlySet<string>): Promise<void> {
    for (const n of [...this.last.keys()]) if (!names.has(n)) this.last.delete(n);
    for (const n of [...this.healthAsked.keys()]) if (!names.has(n)) this.healthAsked.delete(n);
    for (const n of [...this.kept.keys()]) if (!names.has(n)) this.kept.delete(n);
    this.reparser.retain(names);
    for (const n of [...this.open.keys()]) if (!names.has(n)) await this.drop(n);
  }

  /**
   * A steady pass observes what the last one did (same nodes, same commits, so the same desired state objects from
   * the pass's cache): start the first wave of those observes now (canaries first, at most `max`, none for a node
   * `skip` names), while the pass fetches and pins. observe() hands one over only to a call for the same node, tenants
   * and desired state, finished at most EARLY_MAX_AGE_MS before that call, and not failed before it (such a failure
   * is asked again: a node that really fails fails again); anything else is observed afresh, and endPass() throws away what no call took, so an observation never
   * outlives its pass (one still running then drops no connection and is not retried).
   */
  startEarly(max: number | undefined, skip: (name: string) => boolean): number {
    this.early.clear();
    this.healthEarly.clear();
    if (this.closed) return 0;
    const gen = ++this.generation;
    const cands = [...this.last.entries()].filter(([name]) => !skip(name)).sort(([, a], [, b]) => Number(b.node.canary) - Number(a.node.canary));
    const n = Math.min(cands.length, max ?? cands[0]?.[1].desired.settings.concurrency ?? 0);
    for (const [name, x] of cands.slice(0, n)) {
      // copied (share.ts) the moment it is parsed: these wait through the fetch, and the parser's own objects kept
      // that long (all of them, the only ones made meanwhile: 10 nodes × 10 tenants is the 100 V8 needs to decide)
      // had V8 allocate every later parse straight in the old generation (allocation-site pretenuring) in some
      // runs: ~30 KiB of old-space garbage a node a pass. The copy's objects are share.ts's, the long-lived kind.
      const result = this.observeNow(x.node, x.desired, gen).then((r) => (r.ok ? { ...r, observation: share(undefined, r.observation) } : r));
      const e: { key: string; desired: DesiredState; result: Promise<ObserveResult>; done?: number } = { key: x.key, desired: x.desired, result };
      result.then(
        () => void (e.done = performance.now()),
        () => undefined,
      );
      this.early.set(name, e);
    }
    return n;
  }

  /** The pass is over: observes started early that no call took are dropped (never used by a later pass). */
  endPass(): void {
    this.generation++;
    this.early.clear();
    this.healthEarly.clear();
  }

  private stdinFor(desired: DesiredState, tenants: readonly string[]): string {
    let m = this.stdinMemo.get(desired);
    if (!m) this.stdinMemo.set(desired, (m = new Map()));
    const k = tenants.join('\n');
    let s = m.get(k);
    if (s === undefined) {
      s = expectations(desired, tenants);
      if (m.size < STDIN_MEMO_MAX) m.set(k, s);
    }
    return s;
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    this.early.clear();
    this.healthEarly.clear();
    await Promise.all([...this.open.keys()].map((n) => this.drop(n)));
  }

  /**
   * Observe one node in one remote command over its pooled connection; on a failure of an old connection, one more
   * try on a new one (it may have died between passes). Results are classified as observeFleet classifies them.
   */
  async observe(node: NodeSpec, desired: DesiredState): Promise<ObserveResult> {
    const key = observeKey(node);
    this.last.set(node.name, { node, key, desired });
    const e = this.early.get(node.name);
    if (e) {
      this.early.delete(node.name);
      const asked = performance.now();
      const running = e.done === undefined;
      const r = await e.result;
      // the same ask: its answer, unless it was over long before this call (EARLY_MAX_AGE_MS: what the node was
      // before a slow fetch) or failed before this call (a node down or a command that failed before the fetch is
      // asked again now: that failure is not the node's verdict; a real failure fails again). A failure that came
      // while this call waited is as current as a fresh ask's and is the verdict (a hung node is not waited for
      // twice). Started for another commit or spec: it had to finish first (one command at a time on a node);
      // observed afresh
      const age = running ? 0 : asked - e.done!;
      if (e.key === key && e.desired === desired && age <= EARLY_MAX_AGE_MS && (r.ok || running)) return r;
    }
    return this.observeNow(node, desired);
  }

  /** `early`: the pass (generation) an early observe was started for; once it is over, a failure drops or retries nothing */
  private async observeNow(node: NodeSpec, desired: DesiredState, early?: number): Promise<ObserveResult> {
    const stdin = this.stdinFor(desired, node.tenants);
    for (let attempt = 0; ; attempt++) {
      const reused = this.open.get(node.name)?.id === identity(node);
      let t: Transport | undefined;
      try {
        t = await this.get(node, desired.settings);
        const observation = await observeNode(t, desired.settings.paths, stdin, { reparser: this.reparser });
        return { node: node.name, ok: true, observation };
      } catch (e) {
        // a command left over from a pass that is over (or a controller that is stopping, or started for a node the
        // inventory has dropped since) touches no connection and is not tried again: the one it ran on may carry the
        // next pass's commands (that pass finds out for itself whether it still works), and a retry would log in
        // again to observe for nobody (after closeAll(), a session that keeps the process alive)
        const stale = this.closed || (early !== undefined && (early !== this.generation || !this.last.has(node.name)));
        if (t && !stale) await this.dropIf(node.name, t);
        if (e instanceof HostKeyError) return { node: node.name, ok: false, reason: 'HostKeyMismatch', message: oneLine(e) };
        if (reused && attempt === 0 && e instanceof SshError && !stale) continue;
        const unreachable = e instanceof SshError && t === undefined;
        return { node: node.name, ok: false, reason: unreachable ? 'Unreachable' : 'ObserveFailed', message: oneLine(e) };
      }
    }
  }
}
