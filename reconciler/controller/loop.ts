/**
 * The outer loop: schedules passes (every interval ±10 %, at once on a trigger; triggers during a pass coalesce into
 * one next pass), gives each a reconcile id and a logger, writes status in a deferred block so every exit path leaves
 * a true status behind, and stops at a node step boundary when asked (SIGTERM → abort → apply stops between steps).
 * The inner pass is pass.ts. Clock and randomness are injectable, so tests drive passes without sleeping.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { dirVerdictStore, type VerdictStore } from '../apply/verdict-cache.js';
import { isGitUrl } from '../source/git-source.js';
import { oneLine } from '../errors.js';
import { ConnectionPool } from './connections.js';
import { jitter } from './gating.js';
import { GitMirror } from './git-mirror.js';
import { DesiredCache, PassError, reconcilePass } from './pass.js';
import { emptyStatus, STATUS_SCHEMA_VERSION, type StatusDoc } from './status.js';
import { acquireStateLock, type StateLock } from './state-lock.js';
import { readStatus, readSuspension, writeStatus } from './store.js';

export interface Clock {
  now(): Date;
  /** resolves after ms, or early (without error) when the signal aborts */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  random(): number;
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) =>
    new Promise((res) => {
      if (signal.aborted) return res();
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        res();
      }
      signal.addEventListener('abort', done, { once: true });
    }),
  random: Math.random,
};

export interface ControllerOptions {
  repo: string;
  stateDir: string;
  intervalMs: number;
  mode: 'auto' | 'observe';
  logger: Logger;
  clock?: Clock;
  identityFile?: string;
  knownHostsFile?: string;
  concurrency?: number;
  nodes?: string[];
  actor?: string;
  lockTtlSec?: number;
}

export interface PassSummary {
  id: string;
  outcome: string;
  trigger: string;
  durationMs: number;
}

export function newPassId(now: Date, rand: () => string = () => randomBytes(3).toString('hex')): string {
  return `r${now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').toLowerCase()}-${rand()}`;
}

export class Controller {
  readonly clock: Clock;
  private readonly log: Logger;
  private readonly mirror: GitMirror;
  private readonly pool: ConnectionPool;
  private readonly cache: DesiredCache;
  private lock: StateLock | undefined;
  private doc!: StatusDoc;
  private readonly stopper = new AbortController();
  /** a trigger arrived since the current pass started (or since the last one ended) */
  private pending: string | undefined;
  private wake: (() => void) | undefined;
  private running = false;
  /** why the status store could not be written after the last pass: until a write succeeds, passes apply nothing */
  private storeError: string | undefined;
  private loopAlive = false;
  private passListeners: ((s: PassSummary) => void)[] = [];
  passes = 0;
  /** valid `openclaw config validate` verdicts, kept across passes and restarts */
  private readonly verdicts: VerdictStore;

  constructor(private readonly opts: ControllerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger;
    this.mirror = new GitMirror(opts.repo, join(opts.stateDir, 'repo.git'));
    // local nodes' relative roots resolve against a local repo dir (as with apply), else the state dir
    const localBase = !isGitUrl(opts.repo) ? resolve(opts.repo) : resolve(opts.stateDir);
    this.pool = new ConnectionPool({ ...(opts.identityFile ? { identityFile: opts.identityFile } : {}), ...(opts.knownHostsFile ? { knownHostsFile: opts.knownHostsFile } : {}), localBase });
    this.cache = new DesiredCache(() => this.mirror.dir);
    this.verdicts = dirVerdictStore(join(opts.stateDir, 'verdicts'));
  }

  /** Take the state dir (lock), read the stored status (refusing one it cannot read), check the mirror. */
  async start(): Promise<void> {
    mkdirSync(this.opts.stateDir, { recursive: true, mode: 0o700 });
    this.lock = acquireStateLock(this.opts.stateDir, { now: () => this.clock.now() });
    try {
      const stored = await readStatus(this.opts.stateDir);
      readSuspension(this.opts.stateDir);
      await this.mirror.checkExisting();
      const controller = { pid: process.pid, startedAt: this.clock.now().toISOString(), mode: this.opts.mode, repo: this.mirror.origin, intervalSec: Math.round(this.opts.intervalMs / 1000) };
      this.doc = stored ? { ...stored, schemaVersion: STATUS_SCHEMA_VERSION, controller } : emptyStatus(controller);
      if (stored) this.log.info({ passes: stored.passes, commits: Object.keys(stored.commits).length, nodes: Object.keys(stored.nodes).length }, 'resuming from the stored status');
      await writeStatus(this.opts.stateDir, this.doc);
    } catch (e) {
      this.lock.release();
      this.lock = undefined;
      throw e;
    }
  }

  status(): StatusDoc {
    return this.doc;
  }

  /** The loop is alive: started and not crashed (what /healthz reports). */
  alive(): boolean {
    return this.loopAlive;
  }

  get signal(): AbortSignal {
    return this.stopper.signal;
  }

  onPass(fn: (s: PassSummary) => void): () => void {
    this.passListeners.push(fn);
    return () => {
      this.passListeners = this.passListeners.filter((f) => f !== fn);
    };
  }

  /** Ask for a pass now. During a pass, any number of triggers make exactly one next pass. */
  trigger(reason: string): void {
    this.pending ??= reason;
    this.wake?.();
  }

  /** Stop: the pass in flight stops at its next node step boundary; run() then returns. */
  stop(): void {
    this.stopper.abort();
    this.wake?.();
  }

  /** Run passes until stop(): the first at once, then every interval ±10 % or on a trigger. */
  async run(): Promise<void> {
    this.loopAlive = true;
    let trigger = 'start';
    try {
      while (!this.stopper.signal.aborted) {
        this.pending = undefined;
        const s = await this.runPass(trigger);
        if (this.stopper.signal.aborted) break;
        trigger = this.pending ?? (await this.waitForTrigger(this.delayAfter(s)));
      }
    } finally {
      this.loopAlive = false;
    }
  }

  /** After a pass: the interval ±10 %, or sooner while the source is failing (its own backoff, capped by the interval). */
  private delayAfter(_s: PassSummary): number {
    const f = this.doc.source.failures;
    const base = f > 0 ? Math.min(this.opts.intervalMs, 30_000 * 2 ** Math.min(f - 1, 10)) : this.opts.intervalMs;
    return jitter(base, this.clock.random());
  }

  private async waitForTrigger(ms: number): Promise<string> {
    if (this.pending) return this.pending;
    const sleeping = new AbortController();
    const onStop = (): void => sleeping.abort();
    this.stopper.signal.addEventListener('abort', onStop, { once: true });
    this.wake = () => sleeping.abort();
    try {
      await this.clock.sleep(ms, sleeping.signal);
    } finally {
      this.wake = undefined;
      this.stopper.signal.removeEventListener('abort', onStop);
    }
    return this.pending ?? 'interval';
  }

  /** One pass with deferred status: whatever happens inside, the store is written before this returns. */
  async runPass(trigger = 'manual'): Promise<PassSummary> {
    if (this.running) throw new Error('a pass is already running');
    this.running = true;
    const started = this.clock.now();
    const id = newPassId(started);
    const log = this.log.child({ reconcile: id });
    const t0 = performance.now();
    this.doc.lastPass = { id, startedAt: started.toISOString(), outcome: 'Running' };
    log.info({ trigger }, `reconcile ${id} (${trigger})`);
    let outcome = 'ok';
    let message: string | undefined;
    // evidence that is not on disk must not drive an apply or a fan-out (a restart would forget it, a failed commit
    // included): while the store cannot be written, a pass observes and reports only, and tries the write first
    if (this.storeError !== undefined) {
      try {
        await writeStatus(this.opts.stateDir, this.doc);
        log.warn({ reason: 'StatusWriteRecovered' }, 'the status store can be written again: applying again');
        this.storeError = undefined;
      } catch (e) {
        this.storeError = oneLine(e);
        log.error({ reason: 'StatusWriteFailed' }, `the status store cannot be written (${this.storeError}): this pass observes and applies nothing`);
      }
    }
    const held = this.storeError !== undefined;
    try {
      await reconcilePass(
        {
          mirror: this.mirror,
          pool: this.pool,
          cache: this.cache,
          mode: held ? 'observe' : this.opts.mode,
          now: () => this.clock.now(),
          log,
          actor: this.opts.actor ?? 'clawops-controller',
          lockTtlSec: this.opts.lockTtlSec ?? 900,
          signal: this.stopper.signal,
          suspension: () => readSuspension(this.opts.stateDir),
          ...(this.opts.concurrency ? { concurrency: this.opts.concurrency } : {}),
          ...(this.opts.nodes ? { only: this.opts.nodes } : {}),
          persist: () => writeStatus(this.opts.stateDir, this.doc),
          verdicts: this.verdicts,
        },
        this.doc,
        id,
      );
      if (this.stopper.signal.aborted) outcome = 'Interrupted';
    } catch (e) {
      outcome = e instanceof PassError ? e.reason : 'PassFailed';
      message = oneLine(e);
      log.error({ reason: outcome }, `reconcile ${id} failed: ${message}`);
    } finally {
      const durationMs = Math.round(performance.now() - t0);
      this.passes++;
      this.doc.passes++;
      this.doc.lastPass = { id, startedAt: started.toISOString(), finishedAt: this.clock.now().toISOString(), outcome, ...(message ? { message } : {}), durationMs };
      try {
        await writeStatus(this.opts.stateDir, this.doc);
      } catch (e) {
        this.storeError = oneLine(e);
        outcome = 'StatusWriteFailed';
        log.error({ reason: 'StatusWriteFailed' }, `${this.storeError}; nothing is applied until the status store can be written`);
      }
      if (outcome === 'StatusWriteFailed') this.doc.lastPass = { ...this.doc.lastPass, outcome, message: `the status store cannot be written (${this.storeError}); nothing is applied until it can` };
      log.info({ outcome, durationMs, state: this.doc.state }, `reconcile ${id} done: ${outcome} in ${durationMs} ms, fleet ${this.doc.state}`);
      this.running = false;
    }
    const s = { id, outcome, trigger, durationMs: this.doc.lastPass.durationMs ?? 0 };
    for (const fn of this.passListeners) fn(s);
    return s;
  }

  /** Close connections and release the state dir. */
  async close(): Promise<void> {
    await this.pool.closeAll();
    this.lock?.release();
    this.lock = undefined;
  }
}
