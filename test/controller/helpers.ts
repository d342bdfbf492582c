/**
 * Controller test kit: an origin as a real bare git repo with a working clone to push from, local nodes (directories
 * standing for a Mac's / with the real openclaw CLI), a fake clock, and a logger into memory. Passes are driven by
 * calling runPass()/trigger(); nothing sleeps.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { Controller, type Clock, type ControllerOptions } from '../../reconciler/controller/loop.js';
import type { NodeStatusRecord, StatusDoc } from '../../reconciler/controller/status.js';
import { git } from '../helpers/fleet-repo.js';
import { installFakeGateway, installLaunchctl } from '../fleet/node-bin.js';
import { openclawCache } from '../helpers/openclaw.js';
import { applyEdits, EXAMPLE, exampleRepo, type Edit } from '../helpers/repo.js';
import { EXAMPLE_SECRETS, secretValue } from '../helpers/secrets.js';

/** refs as the controller's defaults name them (a bare glob here, to exercise the tag shorthand) */
/** acme's overrides fragment in tenants-example, and its text with another logging level (a change that hot-applies) */
export const ACME = 'tenants/acme/gateway.d/20-overrides.yaml';
export const acmeLevel = (level: string): string => readFileSync(join(EXAMPLE, ACME), 'utf8').replace(/level: \w+/, `level: ${level}`);

export const CONTROLLER_REFS = 'refs:\n  canary: refs/heads/main\n  fleet: release/*\n';

/**
 * clawops.yaml for controller tests: the base with its `refs:` and `gating:` replaced. `gating` defaults to no fixture
 * replay, since tenants-example's endpoints (hooks.acme.example…) are not reachable from a test; tests of the replay
 * gate pass `{}` (the defaults: replay required while the repo records fixtures) or their own keys.
 */
export function clawopsYaml(base: string, gating: Record<string, number | boolean> = { require_replay: false }): string {
  const stripped = base.replace(/^(refs|gating):.*\n(?:[ \t]+.*\n)*/gm, '');
  const g = Object.entries(gating);
  return `${stripped}${CONTROLLER_REFS}${g.length > 0 ? `gating:\n${g.map(([k, v]) => `  ${k}: ${String(v)}\n`).join('')}` : ''}`;
}

export interface FakeClock extends Clock {
  advance(ms: number): void;
  sleeps: number[];
}

/** Time moves only when told; sleep() resolves when advanced past its end or when its signal aborts. */
export function fakeClock(start = Date.parse('2026-11-28T12:00:00Z')): FakeClock {
  let t = start;
  const waiting: { until: number; done: () => void }[] = [];
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => new Date(t),
    random: () => 0.5,
    sleep(ms, signal) {
      sleeps.push(ms);
      return new Promise((resolve) => {
        if (signal.aborted) return resolve();
        const w = { until: t + ms, done: () => resolve() };
        waiting.push(w);
        signal.addEventListener('abort', () => {
          waiting.splice(waiting.indexOf(w), 1);
          resolve();
        }, { once: true });
      });
    },
    advance(ms) {
      t += ms;
      for (const w of [...waiting]) {
        if (w.until <= t) {
          waiting.splice(waiting.indexOf(w), 1);
          w.done();
        }
      }
    },
  };
}

export interface MemLog {
  logger: Logger;
  lines: () => Record<string, unknown>[];
  text: () => string;
}

export function memLogger(onLine?: (l: Record<string, unknown>) => void): MemLog {
  const out: string[] = [];
  const write = (s: string): void => {
    out.push(s);
    if (onLine) for (const l of s.split('\n').filter((x) => x !== '')) onLine(JSON.parse(l) as Record<string, unknown>);
  };
  const logger = pino({ level: 'debug', base: { name: 'clawops-controller' } }, { write });
  return { logger, lines: () => out.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>), text: () => out.join('') };
}

export interface Origin {
  /** the bare repo the controller mirrors */
  bare: string;
  /** a working clone engineers push from */
  work: string;
  commit(edits: Record<string, Edit>, message?: string): string;
  push(...refspecs: string[]): void;
  tag(name: string, commit?: string, opts?: { force?: boolean; date?: string }): void;
  head(): string;
}

/**
 * A bare origin holding tenants-example (with edits) on main, and a working clone to change it. Without `units`,
 * the repo's launchd/ templates are left out: releases then declare no services, so apply swaps without reloading
 * or health-gating (the nodes here run no launchd stand-in or gateway); health is then "ok once deployed".
 */
export function makeOrigin(edits: Record<string, Edit>, opts: { units?: boolean } = {}): Origin {
  const work = exampleRepo({ ...(opts.units ? {} : { launchd: null }), ...edits });
  const bare = mkdtempSync(join(tmpdir(), 'clawops-origin-'));
  git(bare, 'init', '-q', '--bare', '-b', 'main');
  git(work, 'init', '-q', '-b', 'main');
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'initial');
  git(work, 'remote', 'add', 'origin', bare);
  git(work, 'push', '-q', 'origin', 'main');
  return {
    bare,
    work,
    commit(e, message = 'change') {
      applyEdits(work, e);
      git(work, 'add', '-A');
      git(work, 'commit', '-q', '-m', message);
      return git(work, 'rev-parse', 'HEAD');
    },
    push(...refspecs) {
      git(work, 'push', '-q', '--force', 'origin', ...(refspecs.length ? refspecs : ['main']));
    },
    tag(name, commit = 'HEAD', opts = {}) {
      const env: Record<string, string> = opts.date ? { GIT_COMMITTER_DATE: opts.date } : {};
      const args = ['tag', ...(opts.force ? ['-f'] : []), '-a', '-m', name, name, commit];
      execGit(work, args, env);
      git(work, 'push', '-q', '--force', 'origin', `refs/tags/${name}`);
    },
    head: () => git(work, 'rev-parse', 'HEAD'),
  };
}

function execGit(dir: string, args: string[], env: Record<string, string>): void {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    git(dir, ...args);
  } finally {
    for (const k of Object.keys(env)) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

export interface LocalNodes {
  dir: string;
  root(name: string): string;
  nodesYaml(spec: { name: string; canary?: boolean; tenants: string[] }[]): string;
  /** boot out every unit the stand-in supervises on these nodes (tests with services) */
  stopServices(): void;
}

/**
 * Gateway port blocks (nodes.yaml port_offset) for nodes on this machine's network: local nodes and sshd fleet nodes
 * share it, with each other and with other test processes. Each process takes a 4000-port window of its own (one of
 * 7 between 12000 and 40000, the schema's cap), clear of the blocks other tests use (fleetNodesYaml: 1000-3000, apply
 * tests: up to ~10000), and cycles within it. A window is claimed with mkdir (atomic across processes); one whose
 * owner died is taken over, so two test files running at once never share ports (a fake gateway of one would
 * otherwise hold another's port).
 */
const WINDOWS = 7;
const WINDOW_DIR = join(tmpdir(), 'clawops-ctl-port-windows');
let windowBase: number | undefined;
function claimWindow(): number {
  mkdirSync(WINDOW_DIR, { recursive: true });
  for (let i = 0; i < WINDOWS; i++) {
    const k = (process.pid + i) % WINDOWS;
    const dir = join(WINDOW_DIR, String(k));
    let took = false;
    try {
      mkdirSync(dir);
      took = true;
    } catch {
      let owner = 0;
      try {
        owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      } catch {
        /* being written, or gone */
      }
      let alive = owner > 0;
      try {
        if (alive) process.kill(owner, 0);
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === 'EPERM';
      }
      if (owner > 0 && !alive) {
        rmSync(dir, { recursive: true, force: true });
        try {
          mkdirSync(dir);
          took = true;
        } catch {
          /* someone else took it over */
        }
      }
    }
    if (!took) continue;
    writeFileSync(join(dir, 'pid'), String(process.pid));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    return 12_000 + k * 4000;
  }
  // every window in use by a live process: share one, as before
  return 12_000 + (process.pid % WINDOWS) * 4000;
}
let offsetSeq = 0;
export function portOffset(): number {
  windowBase ??= claimWindow();
  offsetSeq = (offsetSeq + 1) % 20;
  return windowBase + offsetSeq * 200;
}

/**
 * Directories standing for Macs (transport local) with the real openclaw CLI and the tenants' secrets provisioned;
 * with `services`, also the launchctl stand-in and the fake gateway the test repo's unit runs (fleetUnitEdits).
 */
export function makeLocalNodes(names: string[], tenants: string[] = ['acme', 'globex', 'initech'], opts: { services?: boolean } = {}): LocalNodes {
  const cache = openclawCache();
  if (!cache) throw new Error('the openclaw cache is missing (make install-openclaw)');
  const dir = mkdtempSync(join(tmpdir(), 'clawops-ctl-nodes-'));
  const root = (n: string): string => join(dir, n);
  for (const n of names) {
    const bin = join(root(n), 'usr/local/bin');
    mkdirSync(bin, { recursive: true });
    symlinkSync(cache.node, join(bin, 'node'));
    symlinkSync(cache.mjs, join(bin, 'openclaw'));
    if (opts.services) {
      installLaunchctl(bin, process.execPath);
      installFakeGateway(bin, process.execPath);
    }
    for (const t of tenants) {
      const sd = join(root(n), 'var/db/openclaw/secrets', t);
      mkdirSync(sd, { recursive: true, mode: 0o700 });
      for (const s of EXAMPLE_SECRETS) {
        writeFileSync(join(sd, s), `${secretValue(n, t, s)}\n`, { mode: 0o600 });
        chmodSync(join(sd, s), 0o600);
      }
    }
  }
  const offsets = new Map(names.map((n) => [n, portOffset()]));
  return {
    dir,
    root,
    nodesYaml: (spec) =>
      `nodes:\n${spec.map((s) => `  - { name: ${s.name}, host: localhost, transport: local, root: ${root(s.name)}, role: gateway${s.canary ? ', canary: true' : ''}, port_offset: ${offsets.get(s.name) ?? 0}, tenants: [${s.tenants.join(', ')}] }`).join('\n')}\n`,
    stopServices: () => {
      for (const n of names) {
        // pending dead-man guards first (a guard stands down when its file is gone): one firing after the test would
        // bootstrap a gateway again, holding its port for the tests that come next
        execFileSync('sh', ['-c', 'rm -f "$1"/var/db/openclaw/clawops/guard.*; for f in "$1"/Library/LaunchDaemons/*.plist; do [ -f "$f" ] && "$1/usr/local/bin/launchctl" bootout system "$f"; done; true', 'x', root(n)], { stdio: 'ignore' });
      }
    },
  };
}

export function newController(o: Partial<ControllerOptions> & Pick<ControllerOptions, 'repo' | 'stateDir'>, log = memLogger(), clock = fakeClock()): { c: Controller; log: MemLog; clock: FakeClock } {
  const c = new Controller({ intervalMs: 60_000, mode: 'auto', logger: log.logger, clock, ...o });
  return { c, log, clock };
}

export function node(doc: StatusDoc, name: string): NodeStatusRecord {
  const n = doc.nodes[name];
  if (!n) throw new Error(`no status for ${name}; have ${Object.keys(doc.nodes).join(', ')}`);
  return n;
}

/** One line per node: what a person reading /status cares about first. */
export function summary(doc: StatusDoc): Record<string, string> {
  return Object.fromEntries(Object.values(doc.nodes).map((n) => [n.node, `${n.state}:${n.reason}`]));
}
