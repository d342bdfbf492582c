/**
 * Infra repos pointed at a test fleet, and releases put on nodes behind clawops' back (for diff tests that must
 * not depend on apply).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import type { DesiredState } from '../../reconciler/desired/types.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { chownToNodeUser, type Fleet, type FleetNodeHandle } from '../fleet/fleet.js';
import { layRelease } from './release.js';
import { applyEdits, EXAMPLE, exampleRepo, type Edit } from './repo.js';

/** Which tenants each fleet node gets; the default mirrors tenants-example. */
export const EXAMPLE_ASSIGNMENT: Record<string, { role: 'gateway' | 'notifier'; canary?: boolean; tenants: string[] }> = {
  'notifier-1': { role: 'notifier', tenants: [] },
  'gw-1': { role: 'gateway', canary: true, tenants: ['acme', 'globex'] },
  'gw-2': { role: 'gateway', tenants: ['acme', 'globex', 'initech'] },
};

// machine-wide (not under the run's TMPDIR): two vitest runs at once (a helper's file beside the suite) share the slots
const BLOCKS = '/tmp/clawops-port-blocks';
const SLOT_SPAN = 400;
/** offsets 1000..11800: clear of the controller tests' windows (12000 and up) */
const SLOTS = 28;
const blockOf = new Map<string, number>();
let exitHook = false;

function slotIsFree(dir: string): boolean {
  let owner = 0;
  let root = '';
  try {
    owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    root = readFileSync(join(dir, 'root'), 'utf8');
  } catch {
    // being created right now, or a process died between its mkdir and writing its pid: free after a minute
    try {
      return Date.now() - statSync(dir).mtimeMs > 60_000;
    } catch {
      return false;
    }
  }
  let alive = true;
  try {
    process.kill(owner, 0);
  } catch {
    alive = false;
  }
  // a dead owner, or a node directory that is gone (its fleet stopped): the slot is free again
  return !alive || !owner || (root !== '' && !existsSync(root));
}

/**
 * A gateway port block of its own for a node on this machine's network (a fleet node, a local node): test files run
 * in parallel, so every node gets a distinct port_offset. Slots are taken with mkdir (atomic across processes) and
 * freed at exit; a slot whose owner died or whose node directory is gone is taken over.
 */
export function portBlock(root: string): number {
  const known = blockOf.get(root);
  if (known !== undefined) return known;
  mkdirSync(BLOCKS, { recursive: true });
  for (let slot = 0; slot < SLOTS; slot++) {
    const dir = join(BLOCKS, String(slot));
    try {
      mkdirSync(dir);
    } catch {
      if (!slotIsFree(dir)) continue;
      rmSync(dir, { recursive: true, force: true });
      try {
        mkdirSync(dir);
      } catch {
        continue;
      }
    }
    writeFileSync(join(dir, 'root'), root);
    writeFileSync(join(dir, 'pid'), String(process.pid));
    const offset = 1000 + slot * SLOT_SPAN;
    blockOf.set(root, offset);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        for (const off of blockOf.values()) rmSync(join(BLOCKS, String((off - 1000) / SLOT_SPAN)), { recursive: true, force: true });
      });
    }
    return offset;
  }
  throw new Error(`no free port block (${SLOTS} in use under ${BLOCKS})`);
}

export function portOffsetOf(node: FleetNodeHandle): number {
  return portBlock(node.root);
}

/**
 * Fleet nodes share this machine's network: each gets its own gateway port block (port_offset), as a local fleet
 * does, so acme on gw-1 and acme on gw-2 (and on another test file's fleet) never clash.
 */
export function fleetNodesYaml(fleet: Fleet, assignment = EXAMPLE_ASSIGNMENT): string {
  const nodes = fleet.nodes.map((n) => {
    const a = assignment[n.name] ?? { role: 'gateway' as const, tenants: [] };
    return { name: n.name, host: n.host, port: n.port, user: n.user, host_key: n.hostKey, role: a.role, ...(a.canary ? { canary: true } : {}), port_offset: portOffsetOf(n), tenants: a.tenants };
  });
  return stringify({ nodes });
}

/**
 * tenants-example's gateway unit with the wrapper exec'ing the fleet's fake gateway (ready in a fraction of a second,
 * ~40 MB) instead of the real one (30-50 s, ~1 GB); the real gateway is proven by the tests that pass REAL_GATEWAY.
 * No probe unit: the health gate asks the gateway's own /readyz.
 */
/**
 * The fleet notifier's base listen port (tenants-example's 9099 moved): with a node's port_offset (1000-11800) it
 * lands at 19699-30499, above the fleet's sshd ports (10000-18700, which another test file's nodes may hold
 * meanwhile) and 90 below its own node's gateway block, clear of every other block's gateways and probes.
 */
export const FLEET_NOTIFIER_PORT = 18699;

export function fleetUnitEdits(opts: { realGateway?: boolean; readyMs?: number; notifier?: boolean } = {}): Record<string, Edit> {
  const env = opts.realGateway
    ? ''
    : `  <key>EnvironmentVariables</key>\n  <dict>\n    <key>CLAWOPS_OPENCLAW</key>\n    <string>/usr/local/bin/fake-openclaw-gateway</string>\n    <key>CLAWOPS_FAKE_READY_MS</key>\n    <string>${opts.readyMs ?? 200}</string>\n  </dict>\n`;
  const tpl = readFileSync(join(EXAMPLE, 'launchd/gateway.plist'), 'utf8').replace('  <key>ThrottleInterval</key>\n  <integer>10</integer>\n', `  <key>ThrottleInterval</key>\n  <integer>2</integer>\n${env}`);
  // the fake gateway is ready in well under a second: a short deadline keeps failing gates short in tests
  const example = readFileSync(join(EXAMPLE, 'clawops.yaml'), 'utf8');
  const settings = `${opts.notifier ? example.replace('listen: 127.0.0.1:9099', `listen: 127.0.0.1:${FLEET_NOTIFIER_PORT}`) : example}health:\n  deadline_sec: ${opts.realGateway ? 150 : 15}\n  confirm_sec: 60\n  poll_ms: 200\n`;
  // the notifier unit (a real `clawops notifier serve`) only where a test asks for it
  return { 'launchd/gateway.plist': tpl, 'launchd/probe.plist': null, 'clawops.yaml': settings, 'launchd/notifier.plist': opts.notifier ? readFileSync(join(EXAMPLE, 'launchd/notifier.plist'), 'utf8') : null };
}

export function git(dir: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' } }).trim();
}

/** A committed git repo: tenants-example with nodes.yaml pointing at the fleet, plus edits. */
export function fleetRepo(fleet: Fleet, edits: Record<string, Edit> = {}, assignment = EXAMPLE_ASSIGNMENT): string {
  const dir = exampleRepo({ 'nodes.yaml': fleetNodesYaml(fleet, assignment), ...fleetUnitEdits(), ...edits });
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'initial');
  return dir;
}

/** Edit files in a repo and commit them. */
export function commitEdits(dir: string, edits: Record<string, Edit>, message = 'change'): string {
  applyEdits(dir, edits);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

export function desiredOf(dir: string): DesiredState {
  return buildDesired(readTreeSync(dir));
}

/** Write a tenant's desired release onto a node the way apply lays it out, without clawops. */
export function placeRelease(node: FleetNodeHandle, desired: DesiredState, tenant: string): string {
  const { releaseId } = layRelease(node.etcOpenclaw, desired, tenant);
  chownToNodeUser(node.etcOpenclaw);
  return releaseId;
}

/** Every node gets every tenant the repo assigns it: a fleet in sync. */
export function placeAll(fleet: Fleet, desired: DesiredState): void {
  for (const spec of desired.nodes) {
    const node = fleet.nodes.find((n) => n.name === spec.name);
    if (!node) continue;
    for (const t of spec.tenants) placeRelease(node, desired, t);
  }
}
