/**
 * `clawops controller run|suspend|resume`. Registered lazily by reconciler/cli.ts: `run` loads the loop (git, ssh,
 * pino) only when it runs.
 *
 * run: long-running; pino JSON on stderr (one reconcile id per pass); exit 0 on SIGTERM/SIGINT once the pass in
 * flight has stopped at a node step boundary; exit 2 on a start-up error, as one line. suspend/resume persist in
 * the state dir (suspend.json) and are picked up by a running controller at its next pass.
 */
import { requireIdentity, requireReadable } from './flag-files.js';
import { Command, Option } from 'commander';
import { IoError, UsageError } from '../errors.js';
import { inheritProgramSettings, readSecretFile } from '../notifier/cli.js';
import { parseListen } from '../notifier/listen-address.js';
import type { CliIo, SetExit } from './io.js';
import type { Logger } from 'pino';
import type { Controller } from '../controller/loop.js';
import type { ControllerHttp } from '../controller/server.js';

export interface ControllerRunFlags {
  repo: string;
  stateDir: string;
  interval: string;
  listen?: string;
  webhookSecretFile?: string;
  mode: string;
  identity?: string;
  knownHosts?: string;
  concurrency?: string;
  node?: string[];
}

/** `60s`, `5m`, `1h`, `500ms`, or plain seconds → milliseconds. */
export function parseInterval(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new UsageError(`--interval "${v}": expected a duration like 60s, 5m or 1h`);
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  if (!(ms >= 1000) || ms > 24 * 3_600_000) throw new UsageError(`--interval "${v}": want 1s to 24h`);
  return Math.round(ms);
}

export function controllerCommand(io: CliIo, setExit: SetExit): Command {
  const cmd = new Command('controller').description('the GitOps loop: watch the infra repo, gate fleet commits on the canaries, keep the fleet converged');
  cmd
    .command('run')
    .description('run the loop until SIGTERM (exit 0), 2 on a start-up error')
    .requiredOption('--repo <url|path>', 'infra repo: a git URL or a local path (mirrored into the state dir)')
    .requiredOption('--state-dir <dir>', 'where the mirror, the status store and the lock live (one controller per dir)')
    .option('--interval <duration>', 'time between passes, ±10 % jitter', '60s')
    .option('--listen <host:port>', 'HTTP for POST /hooks/git, GET /status, GET /healthz (default: none)')
    .option('--webhook-secret-file <file>', 'HMAC secret for X-Hub-Signature-256 on /hooks/git')
    .addOption(new Option('--mode <mode>', 'auto applies; observe only reports').choices(['auto', 'observe']).default('auto'))
    .option('--identity <file>', 'ssh private key (default $CLAWOPS_SSH_IDENTITY, then ~/.ssh/id_ed25519)')
    .option('--known-hosts <file>', 'known_hosts for nodes without a pinned host_key')
    .option('--concurrency <n>', 'nodes worked on at once (default: clawops.yaml concurrency)')
    .option('--node <name...>', 'only these nodes (repeatable); the others are left alone')
    .action(async (flags: ControllerRunFlags) => {
      const opts = runOptions(flags);
      const [{ createLogger }, { Controller }, { startServer }, { actor }] = await Promise.all([import('../notifier/logger.js'), import('../controller/loop.js'), import('../controller/server.js'), import('./apply.js')]);
      const logger = createLogger('clawops-controller');
      const c = new Controller({ ...opts.controller, logger, actor: `controller:${actor()}` });
      await c.start();
      let http: Awaited<ReturnType<typeof startServer>> | undefined;
      const onSignal = (sig: NodeJS.Signals): void => {
        if (c.signal.aborted) return;
        logger.info({ signal: sig }, 'stopping: the pass in flight stops at its next node step boundary');
        c.stop();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      try {
        if (opts.listen) {
          try {
            http = await startServer(opts.listen, controllerHttp(c, logger, opts.secret));
          } catch (e) {
            throw new IoError(`--listen ${flags.listen}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
          }
          logger.info({ listen: `${http.address.host}:${http.address.port}`, hook: opts.secret !== undefined }, 'listening');
        }
        logger.info({ repo: c.status().controller.repo, stateDir: flags.stateDir, mode: opts.controller.mode, intervalMs: opts.controller.intervalMs }, 'controller started');
        await c.run();
        logger.info({ passes: c.passes }, 'controller stopped');
        setExit(0);
      } finally {
        await http?.close();
        await c.close();
        // a second ^C/SIGTERM while shutting down must not end the process with the default action (exit 143):
        // the handler (a no-op once stopping) stays while the process winds down, and is dropped 5 s later when the
        // process is still there (a CLI run in-process); the timer does not keep the process alive
        setTimeout(() => {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        }, 5_000).unref();
      }
    });

  for (const action of ['suspend', 'resume'] as const) {
    cmd
      .command(action)
      .description(action === 'suspend' ? 'stop applying (to the named nodes, or all); still observed and reported' : 'apply again (to the named nodes, or the controller as a whole)')
      .requiredOption('--state-dir <dir>', "the controller's state dir")
      .option('--node <name...>', 'only these nodes (repeatable)')
      .action(async (flags: { stateDir: string; node?: string[] }) => {
        const { changeSuspension, readSuspension, writeSuspension } = await import('../controller/store.js');
        const { lockHolder } = await import('../controller/state-lock.js');
        const { existsSync } = await import('node:fs');
        if (!existsSync(flags.stateDir)) throw new UsageError(`--state-dir ${flags.stateDir}: no such directory`);
        const next = changeSuspension(readSuspension(flags.stateDir), action, flags.node ?? []);
        await writeSuspension(flags.stateDir, next);
        const holder = lockHolder(flags.stateDir);
        const what = flags.node?.length ? `node(s) ${flags.node.join(', ')}` : 'the controller';
        io.stdout(`${action === 'suspend' ? 'suspended' : 'resumed'} ${what}${next.all ? ' (the whole controller is suspended)' : ''}${next.nodes.length ? `; suspended nodes: ${next.nodes.join(', ')}` : ''}${holder ? `; controller pid ${holder.pid} picks it up at its next pass` : ''}\n`);
        setExit(0);
      });
  }
  return inheritProgramSettings(cmd);
}

/** What the listener needs of a running controller; it hears of every finished pass (onPass), so the page and
 * /metrics move once per pass, right after the store is written. */
export function controllerHttp(c: Pick<Controller, 'status' | 'alive' | 'trigger' | 'onPass'>, log: Logger, secret?: Buffer): ControllerHttp {
  return { status: () => c.status(), alive: () => c.alive(), trigger: (r) => c.trigger(r), ...(secret ? { secret } : {}), log, onPass: (fn) => c.onPass(() => fn()) };
}

export function runOptions(flags: ControllerRunFlags): {
  controller: { repo: string; stateDir: string; intervalMs: number; mode: 'auto' | 'observe'; identityFile?: string; knownHostsFile?: string; concurrency?: number; nodes?: string[] };
  listen?: { host: string; port: number };
  secret?: Buffer;
} {
  const intervalMs = parseInterval(flags.interval);
  const listen = flags.listen !== undefined ? parseListen(flags.listen) : undefined;
  if (flags.webhookSecretFile !== undefined && listen === undefined) throw new UsageError('--webhook-secret-file needs --listen');
  const secret = flags.webhookSecretFile !== undefined ? Buffer.from(readSecretFile('--webhook-secret-file', flags.webhookSecretFile)) : undefined;
  requireIdentity('--identity', flags.identity);
  requireReadable([['--known-hosts', flags.knownHosts]]);
  const n = flags.concurrency !== undefined ? Number(flags.concurrency) : undefined;
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) throw new UsageError(`--concurrency ${flags.concurrency}: want a whole number ≥ 1`);
  return {
    controller: {
      repo: flags.repo,
      stateDir: flags.stateDir,
      intervalMs,
      mode: flags.mode === 'observe' ? 'observe' : 'auto',
      ...(flags.identity ? { identityFile: flags.identity } : {}),
      ...(flags.knownHosts ? { knownHostsFile: flags.knownHosts } : {}),
      ...(n !== undefined ? { concurrency: n } : {}),
      ...(flags.node?.length ? { nodes: flags.node } : {}),
    },
    ...(listen ? { listen } : {}),
    ...(secret ? { secret } : {}),
  };
}
