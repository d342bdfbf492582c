/** Hand-built observations for planner tests: what the observe script would report for a node. */
import { createHash } from 'node:crypto';
import { buildDesired, notifierUnitFor } from '../../reconciler/desired/build-desired.js';
import type { DesiredState, TenantDesired } from '../../reconciler/desired/types.js';
import type { NodeObservation, ObserveResult, TenantObservation } from '../../reconciler/observe/types.js';
import { buildManifest, manifestBytes, MANIFEST_PATH } from '../../reconciler/release-manifest.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { EXAMPLE } from '../helpers/repo.js';

export const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

let cached: DesiredState | undefined;
/** tenants-example as desired state (built once; tests must not mutate it). */
export function exampleDesired(): DesiredState {
  cached ??= buildDesired(readTreeSync(EXAMPLE));
  return cached;
}

export function tenantOf(d: DesiredState, id: string): TenantDesired {
  const t = d.tenants.get(id);
  if (!t) throw new Error(`no tenant ${id}`);
  return t;
}

/** A tenant exactly as apply leaves it: current link → desired release, manifest, every file, service running. */
export function deployedTenant(t: TenantDesired, over: Partial<TenantObservation> = {}): TenantObservation {
  const manifest = buildManifest(t, { commit: 'c0ffee', createdAt: '2026-11-25T00:00:00Z', actor: 'test' });
  const files: Record<string, string> = {};
  for (const f of t.files) files[f.path] = f.sha256;
  files[MANIFEST_PATH] = sha(manifestBytes(manifest));
  return {
    tenant: t.id,
    current: { target: `../releases/${t.id}/${t.releaseId}`, releaseId: t.releaseId },
    releases: [t.releaseId],
    files,
    contents: {},
    currentComplete: true,
    unsafeNames: [],
    sizes: {},
    unexpected: [],
    // every other secret the release references is provisioned (0600)
    secrets: Object.fromEntries(t.secretRefs.filter((n) => n !== 'token.current' && n !== 'token.next').map((n) => [n, { present: true, mode: '600', mtime: 1_764_000_000, fingerprint: 'b2c3d4e5f6a1' }])),
    quarantined: [],
    manifest,
    launchd: { loaded: true, state: 'running', pid: 4242, lastExitCode: '(never exited)', fields: { state: 'running', pid: '4242' }, environment: {}, exitCode: 0 },
    tokens: { 'token.current': { present: true, mode: '600', mtime: 1_764_000_000, fingerprint: 'a1b2c3d4e5f6' }, 'token.next': { present: false } },
    ...over,
  };
}

/** A node in sync with `desired` for the given tenants. */
export function nodeObservation(desired: DesiredState, node: string, tenants: readonly string[], over: Partial<NodeObservation> = {}): NodeObservation {
  const obs: NodeObservation = {
    node,
    openclaw: { found: true, exitCode: 0, raw: `OpenClaw ${desired.lock.openclaw.version} (${desired.lock.openclaw.commit})`, version: desired.lock.openclaw.version, commit: desired.lock.openclaw.commit, cached: true },
    daemon: { path: '/usr/local/lib/node_modules/openclaw/openclaw.mjs', sha256: desired.lock.daemon.sha256 },
    disk: { freeKb: 50 * 1024 * 1024, totalKb: 500 * 1024 * 1024 },
    tenants: {},
    errors: [],
    leftovers: [],
    intents: [],
    guards: [],
    nodeUnits: {},
    nodeServices: {},
    commands: 1,
    durationMs: 5,
    ...over,
  };
  for (const id of tenants) obs.tenants[id] ??= deployedTenant(tenantOf(desired, id));
  // a notifier node runs its unit as rendered
  const spec = desired.nodes.find((n) => n.name === node);
  const nu = spec ? notifierUnitFor(desired, spec) : undefined;
  if (nu && !over.nodeUnits) {
    obs.nodeUnits[nu.label] = { sha256: nu.sha256 };
    obs.nodeServices[nu.label] = { loaded: true, state: 'running', pid: 4343, fields: {}, environment: {}, exitCode: 0 };
  }
  return obs;
}

export function ok(observation: NodeObservation): ObserveResult {
  return { node: observation.node, ok: true, observation };
}

/** Every node of the inventory in sync. */
export function fleetInSync(desired: DesiredState): ObserveResult[] {
  return desired.nodes.map((n) => ok(nodeObservation(desired, n.name, n.tenants)));
}
