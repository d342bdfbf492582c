/** `clawops render`: print one tenant's rendered document. Cheap to import; the renderer is loaded when it runs. */
import { Command, Option } from 'commander';
import { KINDS, RENDERED_FILES, type Kind } from '../desired/types.js';
import { ClawopsError, EXIT_OK, UsageError } from '../errors.js';
import { once } from './options.js';
import type { CliIo, SetExit } from './io.js';

export interface RenderFlags {
  tenant: string;
  kind: Kind;
}

export function renderCommand(io: CliIo, setExit: SetExit): Command {
  return new Command('render')
    .description("print a tenant's rendered document (openclaw.json by default)")
    .argument('<repo>', 'path to the infra repo checkout')
    .requiredOption('--tenant <id>', 'tenant to render', once)
    .addOption(new Option('--kind <kind>', 'which document').choices([...KINDS]).default('gateway'))
    .action(async (repo: string, opts: RenderFlags) => setExit(await runRender(io, repo, opts)));
}

export async function runRender(io: CliIo, repo: string, opts: RenderFlags): Promise<number> {
  const [{ readTree }, { buildDesired, formatFinding, hasErrors }] = await Promise.all([import('../source/read-tree.js'), import('../desired/build-desired.js')]);
  const state = buildDesired(await readTree(repo), { tenant: opts.tenant });
  if (hasErrors(state)) {
    for (const f of state.findings.filter((x) => x.severity === 'error')) io.stderr(`${formatFinding(f)}\n`);
    throw new ClawopsError('ValidationFailed', `cannot render ${opts.tenant}: the repo has ${state.findings.filter((x) => x.severity === 'error').length} error(s); run clawops lint`);
  }
  const t = state.tenants.get(opts.tenant);
  if (!t) throw new UsageError(`tenant "${opts.tenant}" not found under ${repo}/tenants/`);
  const file = t.files.find((f) => f.path === RENDERED_FILES[opts.kind])!;
  io.stdout(file.content.toString('utf8'));
  return EXIT_OK;
}
