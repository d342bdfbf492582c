/** `clawops apply --json` against a test fleet, and what a node's links point at, for the apply test files. */
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeApplyResult } from '../../reconciler/apply/apply-node.js';
import type { FleetNodeHandle } from '../fleet/fleet.js';
import { runCli, type CliRun } from './repo.js';

export interface ApplyJson {
  run?: string;
  ok: boolean;
  halted?: string;
  blocked?: string[];
  results: NodeApplyResult[];
}

export async function applyJson(repo: string, identity: string, ...extra: string[]): Promise<CliRun & { json: ApplyJson | undefined }> {
  const r = await runCli(['apply', '--repo', repo, '--identity', identity, '--yes', '--json', ...extra]);
  return { ...r, json: r.stdout.trim().startsWith('{') ? (JSON.parse(r.stdout) as ApplyJson) : undefined };
}

export function nodeResult(j: ApplyJson | undefined, node: string): NodeApplyResult {
  return j!.results.find((r) => r.node === node)!;
}

/** Where tenants/<name> points on the node (name may be `<t>.prev`); undefined when there is no link. */
export function tenantLink(n: FleetNodeHandle, name: string): string | undefined {
  try {
    return readlinkSync(join(n.etcOpenclaw, 'tenants', name));
  } catch {
    return undefined;
  }
}
