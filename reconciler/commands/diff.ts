/** `clawops diff`: observe every selected node in one remote command each, plan, and report. Changes nothing. */
import { requireIdentity, requireReadable } from './flag-files.js';
import { Command, Option } from 'commander';
import { EXIT_CHANGES, EXIT_OK, UsageError } from '../errors.js';
import { existsSync } from 'node:fs';
import { readRegularFile } from '../bounded-read.js';
import { MAX_FILE_BYTES } from '../desired/snapshot.js';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { nodeWithDefaults, settingsWithDefaults } from '../desired/defaults.js';
import type { NodeSpec, Settings } from '../desired/types.js';
import { observeFleet, type NodeTiming } from '../observe/observe-fleet.js';
import { observeNode } from '../observe/observe-node.js';
import type { NodeObservation } from '../observe/types.js';
import { connectNode, type ConnectOptions } from '../transport/connect.js';
import type { Transport } from '../transport/transport.js';
import { plan, type PlanOptions } from '../plan/plan.js';
import type { Plan } from '../plan/types.js';
import { planJson, renderText, type ReportMeta } from '../report/plan-report.js';
import { loadDesired, selectNodes } from '../source/load.js';
import { safeJson } from '../safe-text.js';
import type { CliIo } from './io.js';
import type { DesiredState } from '../desired/types.js';
import { isGitUrl, type Source } from '../source/git-source.js';

export interface FleetFlags {
  repo: string;
  ref?: string;
  node?: string[];
  identity?: string;
  knownHosts?: string;
  concurrency?: string;
  verify?: boolean;
}

export function addFleetOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--repo <path|url>', 'infra repo: a local checkout or a git URL')
    .option('--ref <ref>', 'branch, tag or commit to use (the repo is cloned to a temp dir)')
    .option('--node <name...>', 'only these nodes (repeatable)')
    .option('--identity <file>', 'ssh private key (default $CLAWOPS_SSH_IDENTITY, then ~/.ssh/id_ed25519)')
    .option('--known-hosts <file>', 'known_hosts for nodes without a pinned host_key')
    .addOption(new Option('--concurrency <n>', 'nodes worked on at once (default: clawops.yaml concurrency)').argParser((v) => v))
    .option('--verify', 'every node reads and hashes everything, never the answer it kept from its last full observe');
}

export function connectOptions(flags: FleetFlags, source: Source): { identityFile?: string; knownHostsFile?: string; localBase: string; concurrency?: number } {
  const n = flags.concurrency !== undefined ? Number(flags.concurrency) : undefined;
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) throw new UsageError(`--concurrency ${flags.concurrency}: want a whole number ≥ 1`);
  requireIdentity('--identity', flags.identity);
  requireReadable([['--known-hosts', flags.knownHosts]]);
  return {
    ...(flags.identity ? { identityFile: flags.identity } : {}),
    ...(flags.knownHosts ? { knownHostsFile: flags.knownHosts } : {}),
    localBase: source.dir,
    ...(n !== undefined ? { concurrency: n } : {}),
  };
}

export function reportMeta(source: Source, desired: DesiredState): ReportMeta {
  return {
    source: {
      origin: source.origin,
      ...(source.ref ? { ref: source.ref } : {}),
      ...(source.commit ? { commit: source.commit } : {}),
      ...(source.tag ? { tag: source.tag } : {}),
      dirty: source.dirty,
    },
    lock: desired.lock,
  };
}

/** When each stage of a pass ended, in ms since the process started (performance.now()); for CLAWOPS_TIMING. */
export interface StageMarks {
  start: number;
  /** when the first early ssh login started (startEarlyLogins), if any did */
  earlyStarted?: number;
  loaded: number;
  observed: number;
  planned: number;
  reported?: number;
}

/**
 * CLAWOPS_TIMING=1: where the time of a pass went, one line a stage on stderr (ms since the process started: node
 * start-up and imports come before `start`). Per node: its ssh login and its observe command (script + parse).
 */
export function timingReport(marks: StageMarks, timings: Record<string, NodeTiming>): string {
  const ms = (x: number): string => `${Math.round(x)} ms`;
  const spread = (xs: number[]): string => {
    if (xs.length === 0) return '-';
    const s = [...xs].sort((a, b) => a - b);
    return `min ${ms(s[0]!)} median ${ms(s[Math.floor(s.length / 2)]!)} max ${ms(s[s.length - 1]!)}`;
  };
  const t = Object.values(timings);
  const connect = t.filter((x) => x.connected !== undefined).map((x) => x.connected! - x.start);
  const observe = t.filter((x) => x.connected !== undefined && x.observed !== undefined).map((x) => x.observed! - x.connected!);
  const firstStart = Math.min(marks.earlyStarted ?? Infinity, ...t.map((x) => x.start), marks.observed);
  return [
    `timing: start-up and imports   ${ms(marks.start)}`,
    `timing: desired state built     ${ms(marks.loaded)} (+${ms(marks.loaded - marks.start)})`,
    `timing: first connect started   ${ms(firstStart)}${marks.earlyStarted !== undefined ? ' (early: while the desired state was built)' : ''}`,
    `timing: every node observed     ${ms(marks.observed)} (+${ms(marks.observed - marks.loaded)}; ${t.length} node(s))`,
    `timing:   ssh login a node      ${spread(connect)}`,
    `timing:   observe a node        ${spread(observe)}`,
    `timing: planned                 ${ms(marks.planned)} (+${ms(marks.planned - marks.observed)})`,
    ...(marks.reported !== undefined ? [`timing: reported                ${ms(marks.reported)} (+${ms(marks.reported - marks.planned)})`] : []),
    '',
  ].join('\n');
}

/** An ssh login and observe command started before the desired state was built, and what they were started for. */
interface EarlyLogin {
  started: number;
  node: NodeSpec;
  ssh: Settings['ssh'];
  paths: Settings['paths'];
  login: Promise<Transport>;
  /** the observe command, started as soon as the login is done; its stdin (the expectations) is given later */
  observation: Promise<NodeObservation>;
  supply: (stdin: string | undefined) => void;
}

/**
 * Start the ssh logins of the first wave of nodes (as many as are worked on at once), and on each its one observe
 * command, while the repo is read and the desired state built: rsync starts its logins at once, and the observe
 * script does its costly part (the tree walk and hashing) before it reads its stdin, the expectations, which follow
 * once the desired state is built. Only for a local checkout read as it is (no --ref, not a URL); nodes.yaml and
 * clawops.yaml are read here with the same defaults as buildDesired, and anything unexpected in them (unreadable,
 * not YAML, not the expected shape) means no early logins. A login and its observation are used only if the validated
 * desired state has exactly this node, these ssh settings and these paths (takeEarly); else they are dropped (the
 * command gets an empty stdin and the connection is closed) and the node is observed as usual. The host key check is
 * the transport's as always. Never throws.
 */
export function startEarlyLogins(flags: FleetFlags): Map<string, EarlyLogin> {
  const early = new Map<string, EarlyLogin>();
  if (flags.ref !== undefined || isGitUrl(flags.repo)) return early;
  try {
    // read as the repo's own lint reads it: a regular file of the tree (never through a committed symlink, never a
    // FIFO), at most 1 MiB; anything else starts no login here (lint then says what is wrong)
    const read = (f: string): unknown => {
      const bytes = readRegularFile(join(flags.repo, f), MAX_FILE_BYTES);
      if (bytes === undefined) throw new Error(`${f}: missing`);
      return parseYaml(bytes.toString('utf8'));
    };
    const settings = settingsWithDefaults((read('clawops.yaml') ?? {}) as Parameters<typeof settingsWithDefaults>[0]);
    const raw = (read('nodes.yaml') as { nodes?: unknown } | null)?.nodes;
    if (!Array.isArray(raw)) return early;
    let nodes = (raw as Parameters<typeof nodeWithDefaults>[0][]).map(nodeWithDefaults);
    if (flags.node?.length) nodes = nodes.filter((n) => flags.node!.includes(n.name));
    const n = flags.concurrency !== undefined ? Number(flags.concurrency) : settings.concurrency;
    if (!Number.isInteger(n) || n < 1) return early;
    for (const f of [flags.identity, flags.knownHosts]) if (f !== undefined && !existsSync(f)) return early;
    const opts: ConnectOptions = { ...(flags.identity ? { identityFile: flags.identity } : {}), ...(flags.knownHosts ? { knownHostsFile: flags.knownHosts } : {}) };
    for (const node of nodes.slice(0, n)) {
      if (node.transport !== 'ssh' || typeof node.name !== 'string' || typeof node.host !== 'string' || early.has(node.name)) continue;
      let supply: (stdin: string | undefined) => void = () => undefined;
      const stdin = new Promise<string>((resolve, reject) => {
        supply = (s) => (s === undefined ? reject(new Error('not used')) : resolve(s));
      });
      stdin.catch(() => undefined);
      const login = connectNode(node, settings, opts);
      const observation = login.then((t) => observeNode(t, settings.paths, stdin, { verify: flags.verify === true }));
      // settled by whoever takes them; unused ones are dropped by dropEarly
      login.catch(() => undefined);
      observation.catch(() => undefined);
      early.set(node.name, { started: performance.now(), node, ssh: settings.ssh, paths: settings.paths, login, observation, supply });
    }
  } catch {
    /* no early logins: every node is connected after the desired state is built, as usual */
  }
  return early;
}

/**
 * The early login and observation for `node`, when they were started for exactly this node, these ssh settings and
 * these paths: the observe command then gets `stdin` and they are the caller's. Else undefined (and a mismatching one
 * is dropped at once).
 */
export function takeEarly(early: Map<string, EarlyLogin>, node: NodeSpec, settings: Pick<Settings, 'ssh' | 'paths'>, stdin: string): { transport: Promise<Transport>; observation: Promise<NodeObservation> } | undefined {
  const e = early.get(node.name);
  if (!e) return undefined;
  early.delete(node.name);
  const { ssh, paths } = settings;
  const same =
    e.node.host === node.host &&
    e.node.port === node.port &&
    e.node.user === node.user &&
    e.node.transport === node.transport &&
    (e.node.host_key ?? '') === (node.host_key ?? '') &&
    e.ssh.known_hosts === ssh.known_hosts &&
    e.ssh.connect_timeout_ms === ssh.connect_timeout_ms &&
    e.ssh.command_timeout_ms === ssh.command_timeout_ms &&
    e.ssh.keepalive_ms === ssh.keepalive_ms &&
    e.paths.etc === paths.etc &&
    e.paths.var_db === paths.var_db &&
    e.paths.launch_daemons === paths.launch_daemons;
  if (!same) {
    void drop(e);
    return undefined;
  }
  e.supply(stdin);
  return { transport: e.login, observation: e.observation };
}

async function drop(e: EarlyLogin): Promise<void> {
  e.supply(undefined);
  await e.login.then((t) => t.close()).catch(() => undefined);
}

/** Close every early login nobody took (a node the desired state does not have; an error before observing). */
export async function dropEarly(early: Map<string, EarlyLogin>): Promise<void> {
  const left = [...early.values()];
  early.clear();
  await Promise.all(left.map(drop));
}

/** Observe and plan; the shared front half of diff and apply. */
export async function observeAndPlan(flags: FleetFlags, planOpts: PlanOptions, keepOpen: boolean) {
  const start = performance.now();
  const early = startEarlyLogins(flags);
  const earlyStarted = early.size ? Math.min(...[...early.values()].map((e) => e.started)) : undefined;
  let loadedSource: Source | undefined;
  try {
    const { source, desired } = await loadDesired(flags.repo, flags.ref);
    loadedSource = source;
    const loaded = performance.now();
    const nodes = selectNodes(desired, flags.node);
    const co = connectOptions(flags, source);
    const concurrency = co.concurrency ?? desired.settings.concurrency;
    const started = (node: NodeSpec, stdin: string): ReturnType<typeof takeEarly> => takeEarly(early, node, desired.settings, stdin);
    const fleet = await observeFleet(desired, nodes, { ...co, concurrency, keepOpen, started, verify: flags.verify === true });
    await dropEarly(early);
    const observed = performance.now();
    const p: Plan = plan(desired, fleet.results, nodes, { ...planOpts, ...(source.commit ? { revision: source.commit } : {}) });
    const marks: StageMarks = { start, ...(earlyStarted !== undefined ? { earlyStarted } : {}), loaded, observed, planned: performance.now() };
    return { source, desired, nodes, fleet, concurrency, plan: p, meta: reportMeta(source, desired), marks };
  } catch (e) {
    await dropEarly(early);
    loadedSource?.cleanup();
    throw e;
  }
}

export function diffCommand(io: CliIo, setExit: (code: number) => void): Command {
  const cmd = new Command('diff').description('what differs between the repo and each node (exit 0 in sync, 1 differences, 2 error)');
  addFleetOptions(cmd)
    .option('--json', 'machine-readable plan')
    .option('--prune', 'plan removal of tenants a node has but the repo no longer assigns')
    .action(async (flags: FleetFlags & { json?: boolean; prune?: boolean }) => {
      const r = await observeAndPlan(flags, { prune: flags.prune === true }, false);
      try {
        io.stdout(flags.json ? `${safeJson(planJson(r.plan, r.meta), 2)}\n` : renderText(r.plan, r.meta));
        if (process.env.CLAWOPS_TIMING) io.stderr(timingReport({ ...r.marks, reported: performance.now() }, r.fleet.timings));
        setExit(r.plan.inSync ? EXIT_OK : EXIT_CHANGES);
      } finally {
        r.source.cleanup();
      }
    });
  return cmd;
}
