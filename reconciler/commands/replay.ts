/** `clawops replay`: the recorded webhook fixtures, delivered from one node (specs/replay.md). */
import { Command, Option } from 'commander';
import { EXIT_CHANGES, EXIT_OK, UsageError } from '../errors.js';
import { fixturesFromDir } from '../replay/fixtures.js';
import { replayNode, type SecretChoice } from '../replay/replay.js';
import { renderReplayText, replayJson } from '../replay/report.js';
import { escapeInline } from '../safe-text.js';
import { loadInventory, selectNodes } from '../source/load.js';
import { connectNode } from '../transport/connect.js';
import { connectOptions } from './diff.js';
import type { CliIo, SetExit } from './io.js';

interface ReplayFlags {
  repo: string;
  ref?: string;
  node: string;
  tenant?: string[];
  secret: SecretChoice;
  json?: boolean;
  notify: boolean;
  identity?: string;
  knownHosts?: string;
}

export const REPLAY_DESCRIPTION = 'send the recorded webhook fixtures from a node to its tenants\' endpoints (exit 0 all matched, 1 otherwise, 2 error)';

export function replayCommand(io: CliIo, setExit: SetExit): Command {
  return new Command('replay')
    .description(REPLAY_DESCRIPTION)
    .requiredOption('--repo <path|url>', 'infra repo (fixtures/webhooks/ and the inventory): a local checkout or a git URL')
    .option('--ref <ref>', 'branch, tag or commit of the repo')
    .requiredOption('--node <name>', 'the node to send from')
    .option('--tenant <id>', 'only this tenant (repeatable; default every tenant of the node)', (v: string, acc: string[] = []) => [...acc, v])
    .addOption(new Option('--secret <which>', "authenticate with the tenant's current or next secret").choices(['current', 'next']).default('current'))
    .option('--json', 'machine-readable report')
    .option('--no-notify', "do not write failures to the node's notifier socket")
    .option('--identity <file>', 'ssh private key (default $CLAWOPS_SSH_IDENTITY, then ~/.ssh/id_ed25519)')
    .option('--known-hosts <file>', 'known_hosts for nodes without a pinned host_key')
    .action(async (flags: ReplayFlags) => {
      const { source, desired } = await loadInventory(flags.repo, flags.ref);
      try {
        const [node] = selectNodes(desired, [flags.node]);
        const foreign = (flags.tenant ?? []).filter((t) => !node!.tenants.includes(t));
        if (foreign.length > 0) throw new UsageError(`--tenant ${foreign.join(', ')}: not a tenant of node ${node!.name} (it runs: ${node!.tenants.join(', ') || 'none'})`);
        const t = await connectNode(node!, desired.settings, connectOptions({ ...flags, node: [flags.node] }, source));
        try {
          const rep = await replayNode(t, desired, node!, {
            fixtures: fixturesFromDir(source.dir),
            secret: flags.secret,
            notify: flags.notify,
            ...(flags.tenant ? { tenants: flags.tenant } : {}),
          });
          io.stdout(flags.json ? replayJson(rep) : renderReplayText(rep));
          if (rep.notifier.attempted > 0 && rep.notifier.error !== undefined && flags.notify) io.stderr(`clawops: warning: ${escapeInline(rep.notifier.error)}\n`);
          setExit(rep.ok ? EXIT_OK : EXIT_CHANGES);
        } finally {
          await t.close();
        }
      } finally {
        source.cleanup();
      }
    });
}
