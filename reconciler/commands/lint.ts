/**
 * `clawops lint`: schemas, layout, merge conflicts, literal secrets, inventory; with --openclaw also the real
 * `openclaw config validate`. The definition is cheap to import; the work (yaml, ajv…) is loaded when it runs.
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import type { Finding } from '../desired/types.js';
import { EXIT_CHANGES, EXIT_OK, UsageError } from '../errors.js';
import { safeJson } from '../safe-text.js';
import { once } from './options.js';
import type { CliIo, SetExit } from './io.js';

export interface LintFlags {
  tenant?: string;
  json?: boolean;
  openclaw?: string | boolean;
}

export function lintCommand(io: CliIo, setExit: SetExit): Command {
  return new Command('lint')
    .description('validate an infra repo: schemas, layout, merge conflicts, secrets, inventory')
    .argument('<repo>', 'path to the infra repo checkout')
    .option('--tenant <id>', 'only this tenant (repo-level files are always checked)', once)
    .option('--json', 'machine-readable findings')
    .option('--openclaw [bin]', 'also run `openclaw config validate` on each rendered config (default: openclaw on PATH)')
    .action(async (repo: string, opts: LintFlags) => setExit(await runLint(io, repo, opts)));
}

/** Lint `repo`; resolves to the exit code (0 no errors, 1 errors). */
export async function runLint(io: CliIo, repo: string, opts: LintFlags): Promise<number> {
  const [{ readTree }, { buildDesired, formatFinding }] = await Promise.all([import('../source/read-tree.js'), import('../desired/build-desired.js')]);
  const snapshot = await readTree(repo);
  const state = buildDesired(snapshot, opts.tenant === undefined ? {} : { tenant: opts.tenant });
  if (opts.tenant !== undefined && !state.tenants.has(opts.tenant) && !state.findings.some((f) => f.file.startsWith(`tenants/${opts.tenant}/`) || f.file === `tenants/${opts.tenant}`)) {
    throw new UsageError(`tenant "${opts.tenant}" not found under ${repo}/tenants/`);
  }
  const findings: Finding[] = [...state.findings];
  if (opts.openclaw !== undefined && opts.openclaw !== false) {
    const { lintWithOpenclaw } = await import('../desired/lint-openclaw.js');
    // a path (not a name looked up on PATH) is the operator's, from where clawops started: openclaw runs in a temp dir
    const given = typeof opts.openclaw === 'string' ? opts.openclaw : 'openclaw';
    const bin = given.includes('/') ? resolve(given) : given;
    for (const t of state.tenants.values()) {
      try {
        findings.push(...(await lintWithOpenclaw(t, bin)));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR' || code === 'EISDIR') throw new UsageError(`--openclaw ${given}: cannot run it (${code})`);
        throw e;
      }
    }
  }
  const errors = findings.filter((f) => f.severity === 'error').length;
  if (opts.json) {
    io.stdout(`${safeJson({ ok: errors === 0, errors, warnings: findings.length - errors, tenants: [...state.tenants.keys()], findings }, 2)}\n`);
  } else {
    for (const f of findings) io.stdout(`${formatFinding(f)}\n`);
    const summary = errors === 0 ? `ok: ${state.tenants.size} tenant(s), ${state.nodes.length} node(s)` : `${errors} error(s)`;
    io.stdout(`${summary}${findings.length - errors > 0 ? `, ${findings.length - errors} warning(s)` : ''}\n`);
  }
  return errors === 0 ? EXIT_OK : EXIT_CHANGES;
}
