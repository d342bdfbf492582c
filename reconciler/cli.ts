/**
 * The `clawops` command. Exit codes like diff(1): 0 clean/in sync, 1 findings/changes, 2 trouble.
 * Human output on stdout, pino JSON logs on stderr, `--json` for machines. Library code throws typed errors;
 * only this file turns them into one line and an exit code.
 *
 * This file only wires the commands, and it is on the start-up path of every run: import nothing heavy here.
 * Each subcommand's definition (name, description, options) is cheap to import and loads its implementation
 * (ssh, git, ajv, pino, nodemailer…) with `import()` when it runs. diff, apply, rollback and probe build their
 * commands in modules that import their implementation, so they are registered as lazy stubs (name and
 * description here) and their real command is loaded when dispatched, `--help` included.
 * test/cli/startup.test.ts checks that `clawops --help` loads none of it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Help } from 'commander';
import { inventoryCommand } from './commands/inventory.js';
import { defaultIo, type CliIo, type SetExit } from './commands/io.js';
import { lintCommand } from './commands/lint.js';
import { renderCommand } from './commands/render.js';
import { ClawopsError, EXIT_ERROR, EXIT_OK, oneLine } from './errors.js';
import { escapeInline } from './safe-text.js';
import { notifierCommand } from './notifier/cli.js';
import { isEntry } from './is-entry.js';

/**
 * The subcommands whose module is imported only when they run: what `clawops --help` lists for each (the real
 * command's description, and its term: name, `[options]` if it has some, arguments). test/cli checks them against
 * the real commands.
 */
export const LAZY_COMMANDS = {
  diff: { term: 'diff [options]', description: 'what differs between the repo and each node (exit 0 in sync, 1 differences, 2 error)' },
  apply: { term: 'apply [options]', description: 'stage, validate and swap releases on each node (exit 0 done, 1 a node failed or was refused, 2 error)' },
  rollback: { term: 'rollback [options]', description: "swap a tenant's current and .prev releases on one node (again to go forward)" },
  probe: { term: 'probe', description: "composite readiness of one tenant's gateway" },
  replay: { term: 'replay [options]', description: "send the recorded webhook fixtures from a node to its tenants' endpoints (exit 0 all matched, 1 otherwise, 2 error)" },
  controller: { term: 'controller', description: 'the GitOps loop: watch the infra repo, gate fleet commits on the canaries, keep the fleet converged' },
  status: { term: 'status [options]', description: 'the fleet worst first, in triage order, with reasons and next steps (exit 0 all Synced and healthy, 1 otherwise, 2 error)' },
} as const;
export type LazyName = keyof typeof LAZY_COMMANDS;

/** Build the real command of a lazy one (the only place that imports those modules). */
export async function loadLazyCommand(name: LazyName, io: CliIo, setExit: SetExit): Promise<Command> {
  switch (name) {
    case 'diff':
      return (await import('./commands/diff.js')).diffCommand(io, setExit);
    case 'apply':
      return (await import('./commands/apply.js')).applyCommand(io, setExit);
    case 'rollback':
      return (await import('./commands/apply.js')).rollbackCommand(io, setExit);
    case 'probe':
      return (await import('./probe/cli.js')).probeCommand();
    case 'replay':
      return (await import('./commands/replay.js')).replayCommand(io, setExit);
    case 'controller':
      return (await import('./commands/controller.js')).controllerCommand(io, setExit);
    case 'status':
      return (await import('./commands/status.js')).statusCommand(io, setExit);
  }
}

/**
 * A stand-in listed under the program with its name and description; when dispatched it loads the real command,
 * attaches it under the program (usage lines, inherited settings) and hands it every argument, `--help` included.
 */
function addLazyCommand(program: Command, name: LazyName, load: () => Promise<Command>): void {
  const stub = program
    .command(name)
    .description(LAZY_COMMANDS[name].description)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_opts: unknown, stub: Command) => {
      const real = (await load()).copyInheritedSettings(program);
      if (real.name() !== name) throw new Error(`lazy command ${name} loaded ${real.name()}`);
      real.parent = program;
      await real.parseAsync(stub.args, { from: 'user' });
    });
  lazyTerms.set(stub, LAZY_COMMANDS[name].term);
}

const lazyTerms = new WeakMap<Command, string>();

export function buildProgram(io: CliIo, setExit: SetExit): Command {
  const program = new Command('clawops')
    .description('GitOps reconciler for fleets of Macs running OpenClaw gateways')
    // commander's own errors keep the contract: ONE line, `clawops: …`, escaped (argv may hold anything), its "(Did you
    // mean …?)" folded in
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: (str, write) => write(`clawops: ${usageLine(str)}\n`) })
    .exitOverride()
    .showHelpAfterError(false)
    .option('-V, --version', 'print the version and the commit it was built from');
  program.on('option:version', () => {
    const line = versionLine();
    io.stdout(`${line}\n`);
    throw new CommanderError(EXIT_OK, 'commander.version', line);
  });
  // a lazy stub is listed with its real command's term (`diff [options]`), not its own (`diff`)
  program.configureHelp({
    subcommandTerm(this: Help, cmd: Command): string {
      return lazyTerms.get(cmd) ?? Help.prototype.subcommandTerm.call(this, cmd);
    },
  });

  for (const cmd of [lintCommand(io, setExit), renderCommand(io, setExit), inventoryCommand(io, setExit)]) program.addCommand(cmd.copyInheritedSettings(program));
  for (const name of ['diff', 'apply', 'rollback'] as const) addLazyCommand(program, name, () => loadLazyCommand(name, io, setExit));
  program.addCommand(notifierCommand());
  addLazyCommand(program, 'probe', () => loadLazyCommand('probe', io, setExit));
  addLazyCommand(program, 'replay', () => loadLazyCommand('replay', io, setExit));
  addLazyCommand(program, 'controller', () => loadLazyCommand('controller', io, setExit));
  addLazyCommand(program, 'status', () => loadLazyCommand('status', io, setExit));
  return program;
}

/** A commander message as one escaped line, without its `error: ` prefix. */
function usageLine(message: string): string {
  const lines = message.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return escapeInline(lines.join(' ').replace(/^error: /, ''));
}

/** Run the CLI; resolves to the exit code. Never throws, never calls process.exit. */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  let code = EXIT_OK;
  const program = buildProgram(io, (c) => (code = c));
  // a command name that is none (`clawops aply --help`, `clawops help aply`): commander would answer the program's
  // --help before it looked the name up
  const known = new Set(program.commands.map((c) => c.name()));
  const named = argv[0] === 'help' ? argv[1] : argv[0];
  if (named !== undefined && !named.startsWith('-') && !known.has(named) && (argv[0] === 'help' || argv.includes('--help') || argv.includes('-h'))) {
    io.stderr(`clawops: unknown command '${escapeInline(named)}'\n`);
    return EXIT_ERROR;
  }
  // `help <cmd> [sub]` is `<cmd> [sub] --help`: commander's help command would print a lazy stub's own help
  const args = argv[0] === 'help' && argv.length > 1 ? [...argv.slice(1), '--help'] : argv;
  try {
    await program.parseAsync(args, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help/version are exit 0; every usage mistake is 2, like diff(1)
      return e.exitCode === 0 ? EXIT_OK : EXIT_ERROR;
    }
    if (e instanceof ClawopsError) {
      // (escaped whole: a value the operator gave may hold a newline, and the message goes on after it)
      io.stderr(`clawops: ${escapeInline(e.message)}\n`);
      return e.exitCode;
    }
    io.stderr(`clawops: internal error: ${escapeInline(oneLine(e))}\n`);
    return EXIT_ERROR;
  }
}

/**
 * `clawops <version> (<commit>)`: the version from package.json; the commit from build-info.json beside the compiled
 * code (`{"commit": "…"}`, if the build wrote one), else `git rev-parse --short HEAD` of the checkout the code lives
 * in, else "unknown". Only computed when asked (`--version`), never on the start-up path.
 */
export function versionLine(codeDir: string = dirname(fileURLToPath(import.meta.url))): string {
  let root: string | undefined;
  let version = 'unknown';
  // reconciler/ from source, dist/reconciler/ when built
  for (const dir of [join(codeDir, '..'), join(codeDir, '..', '..')]) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name !== 'clawops') continue;
      root = dir;
      if (typeof pkg.version === 'string') version = pkg.version;
      break;
    } catch {
      /* not here */
    }
  }
  return `clawops ${version} (${buildCommit(codeDir) ?? (root !== undefined ? gitCommit(root) : undefined) ?? 'unknown'})`;
}

function buildCommit(codeDir: string): string | undefined {
  for (const f of [join(codeDir, 'build-info.json'), join(codeDir, '..', 'build-info.json')]) {
    if (!existsSync(f)) continue;
    try {
      const info = JSON.parse(readFileSync(f, 'utf8')) as { commit?: unknown };
      if (typeof info.commit === 'string' && /^[0-9a-f]{4,40}$/.test(info.commit)) return info.commit;
    } catch {
      /* unreadable: fall back to git */
    }
  }
  return undefined;
}

/** HEAD of the git checkout whose top level is `root` (not of some repo that merely contains it). */
function gitCommit(root: string): string | undefined {
  try {
    const [top, commit] = execFileSync('git', ['-C', root, 'rev-parse', '--show-toplevel', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 })
      .trim()
      .split('\n');
    return top !== undefined && commit !== undefined && realpathSync(top) === realpathSync(root) ? commit : undefined;
  } catch {
    return undefined;
  }
}

if (isEntry(import.meta.url)) {
  // a reader that went away (`clawops lint --json | head`): end quietly as a program killed by SIGPIPE does (141), never
  // a stack trace and an exit 1 that would read as "findings"
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(141);
      throw e;
    });
  }
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
