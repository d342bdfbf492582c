/**
 * The `clawops` command. Exit codes like diff(1): 0 clean/in sync, 1 findings/changes, 2 trouble.
 * Human output on stdout, pino JSON logs on stderr, `--json` for machines. Library code throws typed errors;
 * only this file turns them into one line and an exit code.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { buildDesired, formatFinding, gatewayPort, hasErrors } from './desired/build-desired.js';
import { lintWithOpenclaw } from './desired/lint-openclaw.js';
import { KINDS, RENDERED_FILES, type Finding, type Kind } from './desired/types.js';
import { ClawopsError, EXIT_CHANGES, EXIT_ERROR, EXIT_OK, UsageError, oneLine } from './errors.js';
import { applyCommand, rollbackCommand } from './commands/apply.js';
import { diffCommand } from './commands/diff.js';
import { notifierCommand } from './notifier/cli.js';
import { probeCommand } from './probe/cli.js';
import { readTree } from './source/read-tree.js';

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const defaultIo: CliIo = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};

/** Commands other modules contribute (probe, notifier); registered at import time to keep cli.ts the one entry. */
export type CommandFactory = (io: CliIo, setExit: (code: number) => void) => Command;
const extraCommands: CommandFactory[] = [];
export function registerCommand(f: CommandFactory): void {
  extraCommands.push(f);
}

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('clawops')
    .description('GitOps reconciler for fleets of Macs running OpenClaw gateways')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride()
    .showHelpAfterError(false);

  program
    .command('lint')
    .description('validate an infra repo: schemas, layout, merge conflicts, secrets, inventory')
    .argument('<repo>', 'path to the infra repo checkout')
    .option('--tenant <id>', 'only this tenant (repo-level files are always checked)')
    .option('--json', 'machine-readable findings')
    .option('--openclaw [bin]', 'also run `openclaw config validate` on each rendered config (default: openclaw on PATH)')
    .action(async (repo: string, opts: { tenant?: string; json?: boolean; openclaw?: string | boolean }) => {
      const snapshot = await readTree(repo);
      const state = buildDesired(snapshot, opts.tenant === undefined ? {} : { tenant: opts.tenant });
      if (opts.tenant !== undefined && !state.tenants.has(opts.tenant) && !state.findings.some((f) => f.file.startsWith(`tenants/${opts.tenant}/`) || f.file === `tenants/${opts.tenant}`)) {
        throw new UsageError(`tenant "${opts.tenant}" not found under ${repo}/tenants/`);
      }
      const findings: Finding[] = [...state.findings];
      if (opts.openclaw !== undefined && opts.openclaw !== false) {
        const bin = typeof opts.openclaw === 'string' ? opts.openclaw : 'openclaw';
        for (const t of state.tenants.values()) findings.push(...(await lintWithOpenclaw(t, bin)));
      }
      const errors = findings.filter((f) => f.severity === 'error').length;
      if (opts.json) {
        io.stdout(`${JSON.stringify({ ok: errors === 0, errors, warnings: findings.length - errors, tenants: [...state.tenants.keys()], findings }, null, 2)}\n`);
      } else {
        for (const f of findings) io.stdout(`${formatFinding(f)}\n`);
        const summary = errors === 0 ? `ok: ${state.tenants.size} tenant(s), ${state.nodes.length} node(s)` : `${errors} error(s)`;
        io.stdout(`${summary}${findings.length - errors > 0 ? `, ${findings.length - errors} warning(s)` : ''}\n`);
      }
      setExit(errors === 0 ? EXIT_OK : EXIT_CHANGES);
    });

  program
    .command('render')
    .description("print a tenant's rendered document (openclaw.json by default)")
    .argument('<repo>', 'path to the infra repo checkout')
    .requiredOption('--tenant <id>', 'tenant to render')
    .addOption(new Option('--kind <kind>', 'which document').choices([...KINDS]).default('gateway'))
    .action(async (repo: string, opts: { tenant: string; kind: Kind }) => {
      const state = buildDesired(await readTree(repo), { tenant: opts.tenant });
      if (hasErrors(state)) {
        for (const f of state.findings.filter((x) => x.severity === 'error')) io.stderr(`${formatFinding(f)}\n`);
        throw new ClawopsError('ValidationFailed', `cannot render ${opts.tenant}: the repo has ${state.findings.filter((x) => x.severity === 'error').length} error(s); run clawops lint`);
      }
      const t = state.tenants.get(opts.tenant);
      if (!t) throw new UsageError(`tenant "${opts.tenant}" not found under ${repo}/tenants/`);
      const file = t.files.find((f) => f.path === RENDERED_FILES[opts.kind])!;
      io.stdout(file.content.toString('utf8'));
      setExit(EXIT_OK);
    });

  program
    .command('inventory')
    .description('what each node should run: role, canary, tenants with their release ids (no node is contacted)')
    .argument('<repo>', 'path to the infra repo checkout')
    .option('--json', 'machine-readable output')
    .action(async (repo: string, opts: { json?: boolean }) => {
      const state = buildDesired(await readTree(repo));
      if (hasErrors(state)) throw new ClawopsError('ValidationFailed', `${repo} has ${state.findings.filter((x) => x.severity === 'error').length} error(s); run clawops lint`);
      const rows = state.nodes.map((n) => ({
        node: n.name,
        role: n.role,
        canary: n.canary,
        tenants: n.tenants.map((t) => {
          const d = state.tenants.get(t)!;
          return { tenant: t, release: d.releaseId, files: d.files.length, port: gatewayPort(d) };
        }),
      }));
      if (opts.json) io.stdout(`${JSON.stringify({ openclaw: state.lock.openclaw, nodes: rows }, null, 2)}\n`);
      else {
        io.stdout(`openclaw ${state.lock.openclaw.version} (${state.lock.openclaw.commit}) on every node\n`);
        for (const r of rows) {
          io.stdout(`${r.node}  ${r.role}${r.canary ? ' (canary)' : ''}\n`);
          if (r.tenants.length === 0) io.stdout('    (no tenants)\n');
          for (const t of r.tenants) io.stdout(`    ${t.tenant.padEnd(16)} release ${t.release}  ${t.files} files  port ${t.port}\n`);
        }
      }
      setExit(EXIT_OK);
    });

  program.addCommand(diffCommand(io, setExit));
  program.addCommand(applyCommand(io, setExit));
  program.addCommand(rollbackCommand(io, setExit));
  program.addCommand(notifierCommand());
  program.addCommand(probeCommand());
  for (const f of extraCommands) program.addCommand(f(io, setExit));
  return program;
}

/** Run the CLI; resolves to the exit code. Never throws, never calls process.exit. */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  let code = EXIT_OK;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help/version are exit 0; every usage mistake is 2, like diff(1)
      return e.exitCode === 0 ? EXIT_OK : EXIT_ERROR;
    }
    if (e instanceof ClawopsError) {
      io.stderr(`clawops: ${oneLine(e)}\n`);
      return e.exitCode;
    }
    io.stderr(`clawops: internal error: ${oneLine(e)}\n`);
    return EXIT_ERROR;
  }
}

function isEntry(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
