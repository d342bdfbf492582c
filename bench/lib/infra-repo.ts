/**
 * The generated infra repo the fleet benchmarks deploy: N tenants × M fragments across gateway.d, doctor.d and
 * webhook.d (lint clean), every tenant assigned to every fleet node; and the same releases laid out locally.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildDesired, formatFinding, hasErrors } from '../../reconciler/desired/build-desired.js';
import type { DesiredState } from '../../reconciler/desired/types.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import type { Fleet, FleetNodeHandle } from '../../test/fleet/fleet.js';
import { fleetRepo, placeRelease } from '../../test/helpers/fleet-repo.js';
import type { Edit } from '../../test/helpers/repo.js';

export function tenantFragments(id: string, index: number, total: number): Record<string, string> {
  const port = 18789 + index * 120; // base ports on one node ≥ 120 apart (lint nodes/port-overlap: a gateway uses a block of ports above its base)
  const gw: string[] = [
    `gateway:\n  mode: local\n  port: ${port}\n  bind: loopback\n  auth:\n    mode: token\n    token: { secret_ref: token.current }\n`,
    'gateway:\n  auth:\n    rateLimit:\n      maxAttempts: 10\n      windowMs: 60000\n      lockoutMs: 300000\n',
    'hooks:\n  enabled: true\n  path: /hooks\n  token: { secret_ref: hooks.token }\n',
    'logging:\n  level: info\n',
    'agents:\n  defaults:\n    timeoutSeconds: 600\n',
    `gateway:\n  controlUi:\n    enabled: false\n    basePath: /${id}\n`,
  ];
  const dr: string[] = [
    'doctor:\n  required_checks:\n    - core/doctor/config-valid\n  ignored_checks:\n    - core/doctor/node-hosting-preconditions\n  warn_on: warning\n  fail_on: error\n',
    'disk:\n  path: /\n  warn_free_pct: 15\n  critical_free_pct: 5\n',
    'queue:\n  paths:\n    - state/openclaw.sqlite-wal\n  warn_bytes: 268435456\n  critical_bytes: 1073741824\n',
    'maintenance_windows:\n  weekly-vacuum:\n    days: [sun]\n    start: "02:00"\n    end: "04:00"\n    tz: America/New_York\n',
    'digest:\n  slo_sec: 600\n  timeout_ms: 3000\n',
  ];
  const wh: string[] = [
    `endpoints:\n  crm:\n    url: https://hooks.${id}.example/openclaw/events\n    events: [agent.completed, agent.failed]\n    timeout_ms: 5000\n    signing_secret: { secret_ref: webhook.crm }\n    retry:\n      max_attempts: 5\n      backoff_ms: 1000\n      max_backoff_ms: 60000\n      budget_per_hour: 600\n`,
  ];
  // Fill up to `total` with further layers, round-robin over the kinds (later fragments override or add keys).
  const kinds: [string, string[]][] = [
    ['gateway.d', gw],
    ['doctor.d', dr],
    ['webhook.d', wh],
  ];
  let n = gw.length + dr.length + wh.length;
  for (let k = 0; n < total; k++, n++) {
    const kind = k % 3;
    if (kind === 0) gw.push(`logging:\n  level: ${k % 2 ? 'debug' : 'info'}\nagents:\n  defaults:\n    timeoutSeconds: ${300 + k * 10}\n`);
    else if (kind === 1) dr.push(`maintenance_windows:\n  window-${k}:\n    days: [${['mon', 'tue', 'wed', 'thu', 'fri', 'sat'][k % 6]}]\n    start: "0${k % 10}:00"\n    end: "0${k % 10}:30"\n    tz: UTC\n`);
    else wh.push(`endpoints:\n  sink-${k}:\n    url: https://sink-${k}.${id}.example/v1/openclaw\n    events: [agent.completed]\n    enabled: ${k % 2 === 0}\n    retry:\n      max_attempts: ${2 + (k % 5)}\n      budget_per_hour: ${60 * (1 + (k % 4))}\n`);
  }
  const files: Record<string, string> = {};
  for (const [dir, list] of kinds) {
    list.slice(0, total).forEach((content, i) => {
      files[`tenants/${id}/${dir}/${String(10 + i * 5)}-layer-${i}.yaml`] = content;
    });
  }
  return files;
}

export function tenantIdsFor(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `tenant-${String(i).padStart(2, '0')}`);
}

/** A committed git repo (tenants-example's settings and lock) pointed at the fleet; every node gets every tenant. */
export function generateRepo(fleet: Fleet, tenantIds: string[], fragments: number): string {
  const edits: Record<string, Edit> = { 'tenants/acme': null, 'tenants/globex': null, 'tenants/initech': null, fixtures: null };
  tenantIds.forEach((id, i) => Object.assign(edits, tenantFragments(id, i, fragments)));
  const assignment = Object.fromEntries(fleet.nodes.map((n) => [n.name, { role: 'gateway' as const, tenants: tenantIds }]));
  return fleetRepo(fleet, edits, assignment);
}

/** The repo's desired state, checked: lint clean, `tenants` tenants of `fragments` fragments each. */
export function checkedDesired(repo: string, tenants: number, fragments: number): DesiredState {
  const desired: DesiredState = buildDesired(readTreeSync(repo));
  if (hasErrors(desired)) {
    throw new Error(`generated repo does not lint clean:\n${desired.findings.slice(0, 5).map(formatFinding).join('\n')}`);
  }
  if (desired.tenants.size !== tenants) throw new Error(`expected ${tenants} tenants, got ${desired.tenants.size}`);
  const counts = [...desired.tenants.values()].map((t) => t.files.filter((f) => /^(gateway|doctor|webhook)\.d\//.test(f.path)).length);
  if (counts.some((n) => n !== fragments)) throw new Error(`expected ${fragments} fragments a tenant, got ${counts.join(',')}`);
  return desired;
}

/**
 * Lay the given tenants' releases out under `dir` exactly as apply does on a node (placeRelease into a stand-in
 * node dir): `<dir>/releases/<tenant>/<release-id>/…`. Returns `<dir>/releases`.
 */
export function stageReleases(desired: DesiredState, tenants: string[], dir: string): string {
  mkdirSync(dir, { recursive: true });
  const stageNode = { etcOpenclaw: dir } as FleetNodeHandle;
  for (const t of tenants) placeRelease(stageNode, desired, t);
  return join(dir, 'releases');
}
