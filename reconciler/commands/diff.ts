/** `clawops diff`: observe every selected node in one remote command each, plan, and report. Changes nothing. */
import { requireReadable } from './flag-files.js';
import { Command, Option } from 'commander';
import { EXIT_CHANGES, EXIT_OK, UsageError } from '../errors.js';
import { observeFleet, type NodeTiming } from '../observe/observe-fleet.js';
import { plan, type PlanOptions } from '../plan/plan.js';
import type { Plan } from '../plan/types.js';
import { planJson, renderText, type ReportMeta } from '../report/plan-report.js';
import { loadDesired, selectNodes } from '../source/load.js';
import type { CliIo } from './io.js';
import type { DesiredState } from '../desired/types.js';
import type { Source } from '../source/git-source.js';

export interface FleetFlags {
  repo: string;
  ref?: string;
  node?: string[];
  identity?: string;
  knownHosts?: string;
  concurrency?: string;
}

export function addFleetOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--repo <path|url>', 'infra repo: a local checkout or a git URL')
    .option('--ref <ref>', 'branch, tag or commit to use (the repo is cloned to a temp dir)')
    .option('--node <name...>', 'only these nodes (repeatable)')
    .option('--identity <file>', 'ssh private key (default $CLAWOPS_SSH_IDENTITY, then ~/.ssh/id_ed25519)')
    .option('--known-hosts <file>', 'known_hosts for nodes without a pinned host_key')
    .addOption(new Option('--concurrency <n>', 'nodes worked on at once (default: clawops.yaml concurrency)').argParser((v) => v));
}

export function connectOptions(flags: FleetFlags, source: Source): { identityFile?: string; knownHostsFile?: string; localBase: string; concurrency?: number } {
  const n = flags.concurrency !== undefined ? Number(flags.concurrency) : undefined;
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) throw new UsageError(`--concurrency ${flags.concurrency}: want a whole number ≥ 1`);
  requireReadable([['--identity', flags.identity], ['--known-hosts', flags.knownHosts]]);
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
  const firstStart = t.length ? Math.min(...t.map((x) => x.start)) : marks.observed;
  return [
    `timing: start-up and imports   ${ms(marks.start)}`,
    `timing: desired state built     ${ms(marks.loaded)} (+${ms(marks.loaded - marks.start)})`,
    `timing: first connect started   ${ms(firstStart)}`,
    `timing: every node observed     ${ms(marks.observed)} (+${ms(marks.observed - marks.loaded)}; ${t.length} node(s))`,
    `timing:   ssh login a node      ${spread(connect)}`,
    `timing:   observe a node        ${spread(observe)}`,
    `timing: planned                 ${ms(marks.planned)} (+${ms(marks.planned - marks.observed)})`,
    ...(marks.reported !== undefined ? [`timing: reported                ${ms(marks.reported)} (+${ms(marks.reported - marks.planned)})`] : []),
    '',
  ].join('\n');
}

/** Observe and plan; the shared front half of diff and apply. */
export async function observeAndPlan(flags: FleetFlags, planOpts: PlanOptions, keepOpen: boolean) {
  const start = performance.now();
  const { source, desired } = await loadDesired(flags.repo, flags.ref);
  try {
    const loaded = performance.now();
    const nodes = selectNodes(desired, flags.node);
    const co = connectOptions(flags, source);
    const concurrency = co.concurrency ?? desired.settings.concurrency;
    const fleet = await observeFleet(desired, nodes, { ...co, concurrency, keepOpen });
    const observed = performance.now();
    const p: Plan = plan(desired, fleet.results, nodes, { ...planOpts, ...(source.commit ? { revision: source.commit } : {}) });
    const marks: StageMarks = { start, loaded, observed, planned: performance.now() };
    return { source, desired, nodes, fleet, concurrency, plan: p, meta: reportMeta(source, desired), marks };
  } catch (e) {
    source.cleanup();
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
        io.stdout(flags.json ? `${JSON.stringify(planJson(r.plan, r.meta), null, 2)}\n` : renderText(r.plan, r.meta));
        if (process.env.CLAWOPS_TIMING) io.stderr(timingReport({ ...r.marks, reported: performance.now() }, r.fleet.timings));
        setExit(r.plan.inSync ? EXIT_OK : EXIT_CHANGES);
      } finally {
        r.source.cleanup();
      }
    });
  return cmd;
}
