/** `clawops inventory`: what each node should run (no node is contacted). Cheap to import; the work is loaded when it runs. */
import { Command } from 'commander';
import { ClawopsError, EXIT_OK } from '../errors.js';
import { safeJson } from '../safe-text.js';
import type { CliIo, SetExit } from './io.js';

export interface InventoryFlags {
  json?: boolean;
}

export function inventoryCommand(io: CliIo, setExit: SetExit): Command {
  return new Command('inventory')
    .description('what each node should run: role, canary, tenants with their release ids (no node is contacted)')
    .argument('<repo>', 'path to the infra repo checkout')
    .option('--json', 'machine-readable output')
    .action(async (repo: string, opts: InventoryFlags) => setExit(await runInventory(io, repo, opts)));
}

export async function runInventory(io: CliIo, repo: string, opts: InventoryFlags): Promise<number> {
  const [{ readTree }, { buildDesired, gatewayPort, hasErrors }] = await Promise.all([import('../source/read-tree.js'), import('../desired/build-desired.js')]);
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
  if (opts.json) io.stdout(`${safeJson({ openclaw: state.lock.openclaw, nodes: rows }, 2)}\n`);
  else {
    io.stdout(`openclaw ${state.lock.openclaw.version} (${state.lock.openclaw.commit}) on every node\n`);
    for (const r of rows) {
      io.stdout(`${r.node}  ${r.role}${r.canary ? ' (canary)' : ''}\n`);
      if (r.tenants.length === 0) io.stdout('    (no tenants)\n');
      for (const t of r.tenants) io.stdout(`    ${t.tenant.padEnd(16)} release ${t.release}  ${t.files} files  port ${t.port}\n`);
    }
  }
  return EXIT_OK;
}
