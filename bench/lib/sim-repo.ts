/**
 * An infra repo for a simulated fleet: tenants-example's settings, lock and units, N tenants × M fragments
 * (bench/lib/infra-repo.ts), and an inventory of `nodes` gateway nodes on hosts of their own (the first `canaries`
 * are canaries), every node assigned every tenant. Committed on main and tagged release/1, so a controller pass has
 * both a canary and a fleet commit.
 */
import { execFileSync } from 'node:child_process';
import { stringify } from 'yaml';
import { exampleRepo, type Edit } from '../../test/helpers/repo.js';
import { tenantFragments } from './infra-repo.js';

export function simNodeName(i: number): string {
  return `gw-${String(i + 1).padStart(5, '0')}`;
}

/** A deterministic, well-formed ed25519 host key line per node (never dialled: simulated nodes are not connected to). */
function hostKey(i: number): string {
  const blob = Buffer.alloc(51);
  blob.writeUInt32BE(11, 0);
  blob.write('ssh-ed25519', 4, 'ascii');
  blob.writeUInt32BE(32, 15);
  blob.writeUInt32BE(i + 1, 19);
  return `ssh-ed25519 ${blob.toString('base64')} ${simNodeName(i)}`;
}

export function simNodesYaml(nodes: number, tenants: readonly string[], canaries = 2): string {
  const list = Array.from({ length: nodes }, (_, i) => ({
    name: simNodeName(i),
    host: `${simNodeName(i)}.sim.invalid`,
    user: 'clawops',
    host_key: hostKey(i),
    role: 'gateway',
    ...(i < canaries ? { canary: true } : {}),
    tenants: [...tenants],
  }));
  return stringify({ nodes: list });
}

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@example.com', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@example.com' } }).trim();
}

/** The repo dir and its one commit (main, tagged release/1). */
export function simRepo(nodes: number, tenantIds: readonly string[], fragments: number): { dir: string; commit: string } {
  const edits: Record<string, Edit> = { 'tenants/acme': null, 'tenants/globex': null, 'tenants/initech': null, fixtures: null, 'launchd/notifier.plist': null, 'nodes.yaml': simNodesYaml(nodes, tenantIds) };
  tenantIds.forEach((id, i) => {
    // tenantFragments puts tenants 20 ports apart; lint wants a gateway's port block (120) each (nodes/port-overlap)
    const files = tenantFragments(id, i, fragments);
    for (const [path, text] of Object.entries(files)) files[path] = text.replace(/^  port: \d+$/m, `  port: ${18789 + i * 120}`);
    Object.assign(edits, files);
  });
  const dir = exampleRepo(edits);
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', `simulated fleet: ${nodes} nodes × ${tenantIds.length} tenants`);
  git(dir, 'tag', '-a', '-m', 'release 1', 'release/1');
  return { dir, commit: git(dir, 'rev-parse', 'HEAD') };
}
