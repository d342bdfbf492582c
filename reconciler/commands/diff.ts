/** `clawops diff`: observe every selected node in one remote command each, plan, and report. Changes nothing. */
import { requireReadable } from './flag-files.js';
import { Command, Option } from 'commander';
import { EXIT_CHANGES, EXIT_OK, UsageError } from '../errors.js';
import { observeFleet } from '../observe/observe-fleet.js';
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

/** Observe and plan; the shared front half of diff and apply. */
export async function observeAndPlan(flags: FleetFlags, planOpts: PlanOptions, keepOpen: boolean) {
  const { source, desired } = await loadDesired(flags.repo, flags.ref);
  try {
    const nodes = selectNodes(desired, flags.node);
    const co = connectOptions(flags, source);
    const concurrency = co.concurrency ?? desired.settings.concurrency;
    const fleet = await observeFleet(desired, nodes, { ...co, concurrency, keepOpen });
    const p: Plan = plan(desired, fleet.results, nodes, { ...planOpts, ...(source.commit ? { revision: source.commit } : {}) });
    return { source, desired, nodes, fleet, concurrency, plan: p, meta: reportMeta(source, desired) };
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
        setExit(r.plan.inSync ? EXIT_OK : EXIT_CHANGES);
      } finally {
        r.source.cleanup();
      }
    });
  return cmd;
}
