/**
 * `clawops notifier serve`: the webhook-failure digest server. Registered by reconciler/cli.ts.
 * Runs until SIGTERM/SIGINT, then persists the digest and closes; the action resolves so the CLI exits 0.
 * Secrets: prefer `--slack-url-file` / `--smtp-password-file` (a command line is visible in ps); values are never
 * logged or echoed in errors.
 * Cheap to import (cli.ts imports it for every run, `--help` included): the service, pino and nodemailer are
 * loaded by the action.
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { Logger } from 'pino';
import { settingsWithDefaults } from '../desired/defaults.js';
import { IoError, UsageError } from '../errors.js';
import { parseListen, type ListenAddress } from './listen-address.js';
import type { NotifierHandle, NotifierOptions } from './service.js';

export interface NotifierServeFlags {
  socket: string;
  listen: string;
  window: string;
  maxKeys: string;
  state: string | false;
  slackUrl?: string;
  slackUrlFile?: string;
  smtp?: string;
  smtpSecure?: boolean;
  smtpUser?: string;
  smtpPasswordFile?: string;
  mailFrom?: string;
  mailTo?: string[];
}

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} "${v}": expected a positive integer`);
  return n;
}

/** A secret file's content, trimmed; the error names the file, never the content. */
export function readSecretFile(flag: string, path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  const v = text.trim();
  if (v === '') throw new UsageError(`${flag} ${path}: file is empty`);
  return v;
}

function smtpAddress(v: string): ListenAddress {
  if (/^[^:[\]\s]+$/.test(v)) return { host: v, port: 25 };
  try {
    return parseListen(v);
  } catch {
    // (never echoed: a nodemailer-style smtp://user:password@host puts the password in the value)
    throw new UsageError(/[@/]/.test(v) ? '--smtp (value not shown: a URL may hold a password): expected host or host:port; credentials go in --smtp-user and --smtp-password-file' : `--smtp "${v}": expected host or host:port`);
  }
}

/** Turn CLI flags into service options (throws UsageError); exported for tests. */
export function notifierOptionsFromFlags(flags: NotifierServeFlags, logger: Logger): NotifierOptions {
  const opts: NotifierOptions = {
    socketPath: flags.socket,
    listen: parseListen(flags.listen),
    windowSec: positiveInt('--window', flags.window),
    maxKeys: positiveInt('--max-keys', flags.maxKeys),
    logger,
  };
  if (flags.state !== false) opts.stateFile = flags.state;
  if (flags.slackUrl !== undefined && flags.slackUrlFile !== undefined) throw new UsageError('--slack-url and --slack-url-file are exclusive');
  const slack = flags.slackUrlFile !== undefined ? readSecretFile('--slack-url-file', flags.slackUrlFile) : flags.slackUrl;
  if (slack !== undefined) {
    let ok = false;
    try {
      const u = new URL(slack);
      ok = u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      ok = false;
    }
    // the URL is the secret: say what is wrong without echoing it
    if (!ok) throw new UsageError(`${flags.slackUrlFile !== undefined ? '--slack-url-file' : '--slack-url'}: not an http(s) URL`);
    opts.slackUrl = slack;
  }
  const mailTo = (flags.mailTo ?? []).flatMap((x) => x.split(',')).map((x) => x.trim()).filter((x) => x !== '');
  if (flags.smtp !== undefined) {
    if (flags.mailFrom === undefined || mailTo.length === 0) throw new UsageError('--smtp needs --mail-from and --mail-to');
    const addr = smtpAddress(flags.smtp);
    opts.smtp = { host: addr.host, port: addr.port, secure: flags.smtpSecure === true, from: flags.mailFrom, to: mailTo };
    if (flags.smtpUser !== undefined) {
      opts.smtp.user = flags.smtpUser;
      if (flags.smtpPasswordFile !== undefined) opts.smtp.password = readSecretFile('--smtp-password-file', flags.smtpPasswordFile);
    } else if (flags.smtpPasswordFile !== undefined) throw new UsageError('--smtp-password-file needs --smtp-user');
  } else {
    // (each names the flag: one given without --smtp would leave a notifier that runs and never mails)
    const lone = ([['--mail-from', flags.mailFrom !== undefined], ['--mail-to', mailTo.length > 0], ['--smtp-user', flags.smtpUser !== undefined], ['--smtp-password-file', flags.smtpPasswordFile !== undefined], ['--smtp-secure', flags.smtpSecure === true]] as const).find(([, given]) => given);
    if (lone) throw new UsageError(`${lone[0]} needs --smtp (mail goes out only through an SMTP server)`);
  }
  return opts;
}

/**
 * Make sure the directory of `--state <file>` exists (creating it, mode 0700, if missing; missing parents get the
 * usual mode) and can be written, so the digest is persisted rather than "saving digest failed" at every save.
 * Throws IoError naming the directory (exit 2). Returns the directory when it was created.
 */
export function ensureStateDir(stateFile: string): string | undefined {
  const dir = dirname(resolve(stateFile));
  const refuse = (why: string): never => {
    throw new IoError(`--state ${stateFile}: cannot use directory ${dir}: ${why}`);
  };
  let created: string | undefined;
  if (!existsSync(dir)) {
    try {
      mkdirSync(dirname(dir), { recursive: true });
      mkdirSync(dir, { mode: 0o700 });
      created = dir;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' || !existsSync(dir)) {
        // name the path component in the way when there is one (a regular file where a directory should be)
        let up = dirname(dir);
        while (!existsSync(up) && dirname(up) !== up) up = dirname(up);
        refuse(existsSync(up) && !statSync(up).isDirectory() ? `${up} is not a directory` : `cannot create it (${code ?? 'error'})`);
      }
    }
  }
  if (!statSync(dir).isDirectory()) refuse('not a directory');
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    refuse(`not writable (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return created;
}

/**
 * Commands built with `new Command()` and attached with addCommand() do not inherit the program's settings, so
 * a usage mistake in `notifier serve`/`probe serve` would call process.exit(1) behind main()'s back. Throw
 * CommanderError instead (main maps it to exit 2), and take the program's output settings when dispatched.
 */
export function inheritProgramSettings(cmd: Command): Command {
  cmd.exitOverride();
  for (const sub of cmd.commands) sub.exitOverride();
  cmd.hook('preSubcommand', (self, sub) => {
    if (self.parent) self.copyInheritedSettings(self.parent);
    sub.copyInheritedSettings(self);
  });
  return cmd;
}

/** Serve until SIGTERM/SIGINT, then close `handle` (what `notifier serve` and `probe serve` do after starting). */
export async function serveUntilSignal(handle: { close(): Promise<void> }, logger: Logger): Promise<void> {
  const sig = await new Promise<NodeJS.Signals>((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
  logger.info({ signal: sig }, 'shutting down');
  await handle.close();
}

export function notifierCommand(): Command {
  const d = settingsWithDefaults({}).notifier;
  const cmd = new Command('notifier').description('webhook-failure digest: NDJSON socket in, HTTP digest and broadcasts out');
  cmd
    .command('serve')
    .description('serve the digest until SIGTERM/SIGINT')
    .option('--socket <path>', 'UNIX socket gateways write NDJSON failures to (mode 0660)', d.socket)
    .option('--listen <host:port>', 'HTTP address for /v1/webhook-digest and /healthz', d.listen)
    .option('--window <sec>', 'rolling window in seconds', String(d.window_sec))
    .option('--max-keys <n>', 'cap on distinct (tenant, origin, family) keys', String(d.max_keys))
    .option('--state <file>', 'persist the digest here (atomic writes)', d.state_file)
    .option('--no-state', 'do not persist the digest')
    .addOption(new Option('--slack-url <url>', 'Slack-compatible incoming webhook (secret; prefer --slack-url-file)').conflicts('slackUrlFile'))
    .option('--slack-url-file <path>', 'file holding the incoming-webhook URL')
    .option('--smtp <host:port>', 'SMTP server for email summaries')
    .option('--smtp-secure', 'implicit TLS (port 465); default is STARTTLS when offered')
    .option('--smtp-user <user>', 'SMTP user')
    .option('--smtp-password-file <path>', 'file holding the SMTP password')
    .option('--mail-from <addr>', 'From: address')
    .option('--mail-to <addrs...>', 'recipients (repeatable or comma-separated)')
    .action(async (flags: NotifierServeFlags) => {
      const [{ createLogger }, { startNotifier }] = await Promise.all([import('./logger.js'), import('./service.js')]);
      const logger = createLogger('clawops-notifier');
      const opts = notifierOptionsFromFlags(flags, logger);
      if (opts.stateFile !== undefined) {
        const created = ensureStateDir(opts.stateFile);
        if (created !== undefined) logger.info({ dir: created, mode: '0700' }, 'created the state directory');
      }
      const handle: NotifierHandle = await startNotifier(opts);
      await serveUntilSignal(handle, logger);
    });
  return inheritProgramSettings(cmd);
}
