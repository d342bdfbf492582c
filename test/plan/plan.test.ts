/** plan(desired, observed): pure pairing of the repo with hand-built node observations. */
import { describe, expect, it } from 'vitest';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import type { DesiredState, NodeSpec } from '../../reconciler/desired/types.js';
import type { ObserveResult } from '../../reconciler/observe/types.js';
import { driftedFiles, plan } from '../../reconciler/plan/plan.js';
import { CATEGORIES, isWorse, STATUS_ORDER, type NodePlan, type NodeStatus, type Plan } from '../../reconciler/plan/types.js';
import { renderText } from '../../reconciler/report/plan-report.js';
import { MANIFEST_PATH } from '../../reconciler/release-manifest.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { exampleRepo } from '../helpers/repo.js';
import { deployedTenant, exampleDesired, fleetInSync, nodeObservation, ok, sha, tenantOf } from './fixtures.js';

const desired = exampleDesired();
const node = (p: Plan, name: string): NodePlan => {
  const n = p.nodes.find((x) => x.node === name);
  if (!n) throw new Error(`no node ${name} in plan`);
  return n;
};
const spec = (name: string): NodeSpec => desired.nodes.find((n) => n.name === name)!;
const gw1 = (): NodeSpec => spec('gw-1');
const gw2 = (): NodeSpec => spec('gw-2');

/** The fleet in sync, except gw-2 whose observation `edit` changes. */
function withGw2(edit: (o: ReturnType<typeof nodeObservation>) => void, d: DesiredState = desired): ObserveResult[] {
  return d.nodes.map((n) => {
    const o = nodeObservation(d, n.name, n.tenants);
    if (n.name === 'gw-2') edit(o);
    return ok(o);
  });
}

function variant(edits: Record<string, string | null>): DesiredState {
  const d = buildDesired(readTreeSync(exampleRepo(edits)));
  expect(d.findings.filter((f) => f.severity === 'error')).toEqual([]);
  return d;
}

describe('plan: in sync', () => {
  it('a fleet that matches the repo is InSync everywhere, with no actions and no diffs', () => {
    const observed = fleetInSync(desired);
    const before = structuredClone(observed);
    const p = plan(desired, observed, desired.nodes, { revision: 'abc123' });
    expect(p.inSync).toBe(true);
    expect(p.worst).toBe('InSync');
    expect(p.revision).toBe('abc123');
    expect(p.nodes.map((n) => [n.node, n.status, n.blocked])).toEqual([
      ['notifier-1', 'InSync', false],
      ['gw-1', 'InSync', false],
      ['gw-2', 'InSync', false],
    ]);
    for (const n of p.nodes) {
      expect(n.actions).toEqual([]);
      expect(n.diffs).toEqual([]);
      expect(n.issues).toEqual([]);
    }
    expect(node(p, 'gw-2').tenants).toEqual(
      ['acme', 'globex', 'initech'].map((t) => ({ tenant: t, state: 'InSync', desiredRelease: tenantOf(desired, t).releaseId, currentRelease: tenantOf(desired, t).releaseId })),
    );
    expect(node(p, 'gw-1').canary).toBe(true);
    expect(node(p, 'gw-1').role).toBe('gateway');
    // pure: the observation is not touched, and the same inputs give the same plan
    expect(observed).toEqual(before);
    expect(plan(desired, observed, desired.nodes, { revision: 'abc123' })).toEqual(p);
  });

  it('plans only the nodes it is given', () => {
    const p = plan(desired, fleetInSync(desired), [gw1()]);
    expect(p.nodes.map((n) => n.node)).toEqual(['gw-1']);
    expect(p.revision).toBeUndefined();
  });

  it('a .prev link and older releases do not make a tenant differ', () => {
    const observed = withGw2((o) => {
      const t = o.tenants.acme!;
      t.prev = { target: '../releases/acme/0000000000000000', releaseId: '0000000000000000' };
      t.releases = ['0000000000000000', t.current!.releaseId!];
    });
    const p = plan(desired, observed);
    expect(p.inSync).toBe(true);
    expect(node(p, 'gw-2').tenants[0]).toMatchObject({ tenant: 'acme', state: 'InSync', prevRelease: '0000000000000000' });
  });
});

describe('plan: not deployed', () => {
  it('a tenant missing from the node is NotDeployed: deploy action, every file an added diff', () => {
    const observed = withGw2((o) => {
      delete o.tenants.initech;
    });
    const p = plan(desired, observed);
    const n = node(p, 'gw-2');
    const initech = tenantOf(desired, 'initech');
    expect(p.inSync).toBe(false);
    expect(p.worst).toBe('OutOfSync');
    expect(n.status).toBe('OutOfSync');
    expect(n.blocked).toBe(false);
    expect(n.tenants.find((t) => t.tenant === 'initech')).toEqual({ tenant: 'initech', state: 'NotDeployed', desiredRelease: initech.releaseId });
    expect(n.actions).toEqual([{ kind: 'deploy', tenant: 'initech', releaseId: initech.releaseId, reason: 'NotDeployed', files: initech.files }]);
    expect(n.diffs.map((d) => [d.tenant, d.path, d.change])).toEqual(initech.files.map((f) => ['initech', f.path, 'added']));
    for (const d of n.diffs) {
      expect(d.patch).toContain('--- /dev/null');
      expect(d.patch).toContain(`+++ b/initech/${d.path}`);
    }
    expect(n.issues).toEqual([
      expect.objectContaining({ category: 'drift', severity: 'warning', reason: 'NotDeployed', node: 'gw-2', tenant: 'initech', difference: true, message: expect.stringContaining(`release ${initech.releaseId} would be staged (${initech.files.length} files)`) }),
    ]);
    // the other nodes are unaffected
    expect(node(p, 'gw-1').status).toBe('InSync');
  });

  it('a tenant with releases but no current link is NotDeployed too, and gets no health checks', () => {
    const observed = withGw2((o) => {
      const t = o.tenants.initech!;
      delete t.current;
      delete t.manifest;
      t.files = {};
      t.launchd = { loaded: false, fields: {}, environment: {}, exitCode: 113 };
    });
    const n = node(plan(desired, observed), 'gw-2');
    expect(n.tenants.find((t) => t.tenant === 'initech')?.state).toBe('NotDeployed');
    expect(n.issues.map((i) => i.reason)).toEqual(['NotDeployed']);
  });

  it('a tenant whose referenced secret file is missing is Blocked before its first deploy: no deploy action', () => {
    const observed = withGw2((o) => {
      const t = o.tenants.globex!;
      delete t.current;
      delete t.manifest;
      t.files = {};
      delete t.secrets['hooks.token'];
    });
    const n = node(plan(desired, observed), 'gw-2');
    expect(n.tenants.find((t) => t.tenant === 'globex')?.state).toBe('Blocked');
    expect(n.issues.find((i) => i.reason === 'SecretMissing')).toMatchObject({ category: 'token', severity: 'error', tenant: 'globex', file: 'hooks.token', difference: true });
    expect(n.actions.filter((a) => a.kind === 'deploy' && a.tenant === 'globex')).toEqual([]);
  });
});

describe('plan: changed release', () => {
  const changed = variant({ 'tenants/acme/gateway.d/20-overrides.yaml': 'gateway:\n  port: 18809\n  controlUi:\n    enabled: true\n    basePath: /acme\nlogging:\n  level: info\n' });
  const oldAcme = tenantOf(desired, 'acme');
  const newAcme = tenantOf(changed, 'acme');

  /** gw-1 runs the old acme release; the node sent the old content of files that differ. */
  function oldOnGw1(withContents: boolean): ObserveResult[] {
    return changed.nodes.map((n) => {
      const o = nodeObservation(changed, n.name, n.tenants);
      if (n.name === 'gw-1') {
        o.tenants.acme = deployedTenant(oldAcme);
        if (withContents) {
          for (const f of oldAcme.files) if (newAcme.files.find((x) => x.path === f.path)?.sha256 !== f.sha256) o.tenants.acme.contents[f.path] = f.content;
        }
      }
      return ok(o);
    });
  }

  it('reports Changed with the release ids and unified diffs of fragments and rendered openclaw.json', () => {
    expect(newAcme.releaseId).not.toBe(oldAcme.releaseId);
    const p = plan(changed, oldOnGw1(true));
    const n = node(p, 'gw-1');
    expect(n.status).toBe('OutOfSync');
    expect(n.tenants.find((t) => t.tenant === 'acme')).toEqual({ tenant: 'acme', state: 'Changed', desiredRelease: newAcme.releaseId, currentRelease: oldAcme.releaseId });
    expect(n.actions).toEqual([{ kind: 'deploy', tenant: 'acme', releaseId: newAcme.releaseId, reason: 'Changed', files: newAcme.files }]);
    expect(n.diffs.map((d) => [d.path, d.change])).toEqual([
      ['gateway.d/20-overrides.yaml', 'modified'],
      ['openclaw.json', 'modified'],
    ]);
    const frag = n.diffs[0]!.patch;
    expect(frag).toMatch(/^--- a\/acme\/gateway\.d\/20-overrides\.yaml\t?\n\+\+\+ b\/acme\/gateway\.d\/20-overrides\.yaml\t?\n@@ /);
    expect(frag).toContain('\n-  level: debug\n+  level: info\n');
    const rendered = n.diffs[1]!.patch;
    expect(rendered).toContain('-    "level": "debug"');
    expect(rendered).toContain('+    "level": "info"');
    expect(rendered).not.toContain('Index:');
    expect(rendered).not.toMatch(/^=+$/m);
    expect(n.issues).toEqual([expect.objectContaining({ category: 'drift', reason: 'Changed', tenant: 'acme', difference: true, message: `release ${oldAcme.releaseId} → ${newAcme.releaseId} (2 file(s) differ)` })]);
    // gw-2 was built from the new desired state and stays in sync
    expect(node(p, 'gw-2').status).toBe('InSync');
  });

  it('without old content the diff is listed with an empty patch', () => {
    const n = node(plan(changed, oldOnGw1(false)), 'gw-1');
    expect(n.diffs.map((d) => [d.path, d.change, d.patch])).toEqual([
      ['gateway.d/20-overrides.yaml', 'modified', ''],
      ['openclaw.json', 'modified', ''],
    ]);
  });

  it('a fragment added to or removed from the repo is an added / removed file diff', () => {
    const more = variant({ 'tenants/globex/doctor.d/30-extra.yaml': 'doctor:\n  interval_sec: 45\n', 'tenants/globex/gateway.d/20-agents.yaml': null });
    const oldGlobex = tenantOf(desired, 'globex');
    const observed = more.nodes.map((n) => {
      const o = nodeObservation(more, n.name, n.tenants);
      if (n.name === 'gw-2') {
        o.tenants.globex = deployedTenant(oldGlobex);
        const removed = oldGlobex.files.find((f) => f.path === 'gateway.d/20-agents.yaml')!;
        o.tenants.globex.contents[removed.path] = removed.content;
      }
      return ok(o);
    });
    const n = node(plan(more, observed), 'gw-2');
    const byPath = Object.fromEntries(n.diffs.map((d) => [d.path, d]));
    expect(byPath['doctor.d/30-extra.yaml']?.change).toBe('added');
    expect(byPath['doctor.d/30-extra.yaml']?.patch).toContain('+  interval_sec: 45');
    expect(byPath['gateway.d/20-agents.yaml']?.change).toBe('removed');
    expect(byPath['gateway.d/20-agents.yaml']?.patch).toContain('+++ /dev/null');
    expect(byPath['gateway.d/20-agents.yaml']?.patch).toMatch(/^-agents:$/m);
    expect(n.diffs.some((d) => d.path === MANIFEST_PATH)).toBe(false);
    expect(n.tenants.find((t) => t.tenant === 'globex')?.state).toBe('Changed');
  });

  it('same release id but files that differ without drift is still Changed', () => {
    const observed = withGw2((o) => {
      // a release dir whose manifest agrees with what is there, but not with the repo (e.g. another render)
      const t = o.tenants.globex!;
      const m = t.manifest as { files: Record<string, string> };
      m.files['openclaw.json'] = sha('{}');
      t.files['openclaw.json'] = sha('{}');
    });
    const n = node(plan(desired, observed), 'gw-2');
    expect(n.tenants.find((t) => t.tenant === 'globex')?.state).toBe('Changed');
    expect(n.diffs.map((d) => d.path)).toEqual(['openclaw.json']);
  });
});

describe('plan: drift', () => {
  const acme = tenantOf(desired, 'acme');
  const frag = acme.files.find((f) => f.path === 'gateway.d/10-base.yaml')!;

  function driftOn(edit: (t: ReturnType<typeof deployedTenant>) => void): NodePlan {
    const observed = withGw2((o) => edit(o.tenants.acme!));
    return node(plan(desired, observed), 'gw-2');
  }

  it('a hand-edited file is drift naming node, tenant and file, with a diff back to git', () => {
    const edited = Buffer.from(frag.content.toString().replace('level: info', 'level: trace'));
    const n = driftOn((t) => {
      t.files[frag.path] = sha(edited);
      t.contents[frag.path] = edited;
    });
    expect(n.status).toBe('Drifted');
    expect(n.blocked).toBe(false);
    const drift = n.issues.filter((i) => i.reason === 'Drifted');
    expect(drift).toEqual([
      {
        category: 'drift',
        severity: 'error',
        reason: 'Drifted',
        node: 'gw-2',
        tenant: 'acme',
        file: 'gateway.d/10-base.yaml',
        message: `gateway.d/10-base.yaml hand-edited on the node (release ${acme.releaseId})`,
        difference: true,
      },
    ]);
    expect(n.tenants.find((t) => t.tenant === 'acme')?.state).toBe('Drifted');
    expect(n.actions).toEqual([{ kind: 'deploy', tenant: 'acme', releaseId: acme.releaseId, reason: 'Drifted', files: acme.files }]);
    expect(n.diffs).toHaveLength(1);
    expect(n.diffs[0]).toMatchObject({ tenant: 'acme', path: frag.path, change: 'modified' });
    expect(n.diffs[0]!.patch).toContain('\n-  level: trace\n+  level: info\n');
  });

  it('a deleted file is drift and an added diff', () => {
    const n = driftOn((t) => {
      delete t.files[frag.path];
    });
    expect(n.issues.find((i) => i.reason === 'Drifted')).toMatchObject({ file: frag.path, message: expect.stringContaining('deleted on the node') });
    expect(n.diffs.map((d) => [d.path, d.change])).toEqual([[frag.path, 'added']]);
  });

  it('a file added on the node is drift, shown by name, size and hash only (default deny), even if its content arrived', () => {
    const n = driftOn((t) => {
      t.files['gateway.d/99-local.yaml'] = sha('logging:\n  level: trace\n');
      t.sizes['gateway.d/99-local.yaml'] = 25;
      t.contents['gateway.d/99-local.yaml'] = Buffer.from('logging:\n  level: trace\n');
    });
    expect(n.issues.find((i) => i.reason === 'Drifted')).toMatchObject({ file: 'gateway.d/99-local.yaml', message: expect.stringContaining('added on the node') });
    expect(n.diffs).toEqual([{ tenant: 'acme', path: 'gateway.d/99-local.yaml', change: 'removed', patch: expect.stringContaining('not written by clawops: 25 bytes, sha256 ') }]);
    expect(n.diffs[0]!.patch).not.toContain('trace');
  });

  it('a value equal to a secret file on the node is redacted wherever it appears (fingerprint match), whatever its key', () => {
    const token = 'plainlowercasetokenwithoutdigits';
    const edited = Buffer.from(`${frag.content.toString()}note: ${token}\ndescription: "see ${token}\n"\n`);
    const n = driftOn((t) => {
      t.tokens['token.current'] = { present: true, mode: '600', mtime: 1, fingerprint: sha(`${token}\n`).slice(0, 12) };
      t.files[frag.path] = sha(edited);
      t.contents[frag.path] = edited;
    });
    const patch = n.diffs.find((d) => d.path === frag.path)!.patch;
    expect(patch).toContain('note: (secret)');
    expect(patch).not.toContain(token);
  });

  it('a tenant whose link points outside its releases is Blocked: UnexpectedEntry, no deploy, nothing read', () => {
    const n = driftOn((t) => {
      t.unexpected.push('/etc/openclaw/tenants/acme points at /var/db/openclaw/secrets/acme, outside releases/acme/');
      t.files = {};
    });
    expect(n.tenants.find((t) => t.tenant === 'acme')?.state).toBe('Blocked');
    expect(n.issues.find((i) => i.reason === 'UnexpectedEntry')).toMatchObject({ tenant: 'acme', severity: 'error', difference: true });
    expect(n.actions.filter((a) => a.kind === 'deploy' && a.tenant === 'acme')).toEqual([]);
    expect(n.diffs).toEqual([]);
    expect(n.status).toBe('Drifted');
  });

  it('a file replaced by a symlink is drift', () => {
    const n = driftOn((t) => {
      t.files[frag.path] = 'symlink';
    });
    expect(n.issues.find((i) => i.reason === 'Drifted')).toMatchObject({ file: frag.path, message: expect.stringContaining('replaced by a symlink on the node') });
    expect(n.status).toBe('Drifted');
  });

  it('a missing, unreadable or foreign manifest is drift on .clawops/manifest.json', () => {
    const cases: [(t: ReturnType<typeof deployedTenant>) => void, string][] = [
      [(t) => delete t.manifest, 'release has no clawops manifest'],
      [(t) => (t.manifest = { invalid: 'not JSON' }), 'release manifest is not JSON'],
      [(t) => (t.manifest = { invalid: 'not a clawops release manifest' }), 'release manifest is not a clawops release manifest'],
      [
        (t) => {
          delete t.manifest;
          t.files = {};
        },
        'current link does not resolve to a release',
      ],
    ];
    for (const [edit, what] of cases) {
      const n = driftOn(edit);
      expect(n.status).toBe('Drifted');
      expect(n.issues.filter((i) => i.reason === 'Drifted')).toEqual([expect.objectContaining({ tenant: 'acme', file: MANIFEST_PATH, message: expect.stringContaining(what) })]);
      expect(n.actions.map((a) => a.kind === 'deploy' && a.reason)).toEqual(['Drifted']);
    }
  });

  it('driftedFiles lists several problems sorted by path, ignoring the manifest itself', () => {
    const t = deployedTenant(acme);
    t.files['openclaw.json'] = sha('x');
    delete t.files['doctor.d/10-base.yaml'];
    t.files['zz-extra'] = sha('y');
    t.files['gateway.d/20-overrides.yaml'] = 'symlink';
    expect(driftedFiles(t)).toEqual([
      { path: 'doctor.d/10-base.yaml', what: 'deleted on the node' },
      { path: 'gateway.d/20-overrides.yaml', what: 'replaced by a symlink on the node' },
      { path: 'openclaw.json', what: 'hand-edited on the node' },
      { path: 'zz-extra', what: 'added on the node' },
    ]);
    expect(driftedFiles(deployedTenant(acme))).toEqual([]);
    const { current: _c, ...notDeployed } = deployedTenant(acme);
    expect(driftedFiles(notDeployed)).toEqual([]);
  });

  it('names that are Object.prototype members are files and tenants like any other', () => {
    const t = deployedTenant(acme);
    t.files['constructor'] = sha('x');
    t.files['toString'] = sha('y');
    expect(driftedFiles(t).map((f) => [f.path, f.what])).toEqual([
      ['constructor', 'added on the node'],
      ['toString', 'added on the node'],
    ]);
    // a tenant called "constructor" that the node does not have yet
    const tenants = new Map(desired.tenants);
    tenants.set('constructor', { ...acme, id: 'constructor' });
    const d: DesiredState = { ...desired, tenants, nodes: [{ ...gw1(), tenants: ['constructor'] }] };
    const p = plan(d, [ok(nodeObservation(d, 'gw-1', []))]);
    expect(p.nodes[0]!.tenants).toEqual([{ tenant: 'constructor', state: 'NotDeployed', desiredRelease: acme.releaseId }]);
  });

  it('unexpected entries the observe script reported make the node Drifted', () => {
    const observed = withGw2((o) => o.errors.push('/etc/openclaw/tenants/acme.prev exists but is not a symlink'));
    const p = plan(desired, observed);
    const n = node(p, 'gw-2');
    expect(n.status).toBe('Drifted');
    expect(n.issues).toEqual([expect.objectContaining({ category: 'drift', reason: 'UnexpectedEntry', message: '/etc/openclaw/tenants/acme.prev exists but is not a symlink', difference: true })]);
    expect(p.inSync).toBe(false);
  });
});

describe('plan: version skew blocks the node', () => {
  const lock = desired.lock;
  const skewed = (edit: (o: ReturnType<typeof nodeObservation>) => void): NodePlan => node(plan(desired, withGw2(edit)), 'gw-2');

  it('a different openclaw version, with expected and found', () => {
    const n = skewed((o) => Object.assign(o.openclaw, { version: '2026.8.1', commit: '0badc0d', raw: 'OpenClaw 2026.8.1 (0badc0d)' }));
    expect(n.status).toBe('VersionSkew');
    expect(n.blocked).toBe(true);
    expect(n.issues).toEqual([
      {
        category: 'version-skew',
        severity: 'error',
        reason: 'VersionSkew',
        node: 'gw-2',
        message: `openclaw 2026.8.1 (0badc0d) does not match the lock: expected ${lock.openclaw.version} (${lock.openclaw.commit})`,
        difference: true,
      },
    ]);
  });

  it('the same version built from another commit', () => {
    const n = skewed((o) => (o.openclaw.commit = '1234567'));
    expect(n.issues.map((i) => i.reason)).toEqual(['VersionSkew']);
    expect(n.issues[0]!.message).toContain('(1234567)');
  });

  it('commits match by prefix either way, but not when they diverge after 7 characters', () => {
    const full = 'eb377ac5b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6';
    const withLock = (commit: string): DesiredState => ({ ...desired, lock: { ...desired.lock, openclaw: { ...desired.lock.openclaw, commit } } });
    const reasons = (d: DesiredState, found: string): string[] =>
      node(plan(d, withGw2((o) => (o.openclaw.commit = found), d)), 'gw-2')
        .issues.filter((i) => i.category === 'version-skew')
        .map((i) => i.reason);
    expect(reasons(desired, full)).toEqual([]); // lock eb377ac, node prints the full hash
    expect(reasons(withLock(full), 'eb377ac')).toEqual([]); // lock full, node prints the short hash
    expect(reasons(withLock(full), 'eb377ac5b1')).toEqual([]);
    expect(reasons(withLock(full), 'eb377ac0000')).toEqual(['VersionSkew']);
    expect(reasons(desired, 'eb377ad')).toEqual(['VersionSkew']);
  });

  it('unparseable --version output', () => {
    const n = skewed((o) => {
      o.openclaw = { found: true, exitCode: 1, raw: 'Error: Cannot find module', cached: false };
    });
    expect(n.issues[0]).toMatchObject({ reason: 'VersionSkew', message: expect.stringContaining('unparseable "Error: Cannot find module"') });
    expect(n.blocked).toBe(true);
  });

  it('a daemon whose hash differs from the lock', () => {
    const n = skewed((o) => (o.daemon = { path: '/opt/openclaw/openclaw.mjs', sha256: 'f'.repeat(64) }));
    expect(n.status).toBe('VersionSkew');
    expect(n.issues).toEqual([
      expect.objectContaining({ category: 'version-skew', reason: 'DaemonHashMismatch', message: `daemon /opt/openclaw/openclaw.mjs sha256 ffffffffffff… does not match the lock: expected ${lock.daemon.sha256.slice(0, 12)}…` }),
    ]);
  });

  it('openclaw missing from PATH', () => {
    const n = skewed((o) => {
      o.openclaw = { found: false, exitCode: 127, raw: '', cached: false };
      delete o.daemon;
    });
    expect(n.issues).toEqual([expect.objectContaining({ reason: 'OpenclawMissing', message: `openclaw not found on PATH; expected ${lock.openclaw.version} (${lock.openclaw.commit})` })]);
    expect(n.status).toBe('VersionSkew');
    expect(n.blocked).toBe(true);
  });

  it('skew wins over drift for the node status, and the drift is still reported', () => {
    const n = skewed((o) => {
      o.openclaw.version = '2026.8.1';
      o.tenants.acme!.files['openclaw.json'] = sha('edited');
    });
    expect(n.status).toBe('VersionSkew');
    expect(n.blocked).toBe(true);
    expect(n.issues.map((i) => i.reason).sort()).toEqual(['Drifted', 'VersionSkew']);
  });
});

describe('plan: unobservable nodes', () => {
  it('Unreachable and HostKeyMismatch nodes are blocked and reported; the others are still planned', () => {
    const observed: ObserveResult[] = [
      { node: 'notifier-1', ok: false, reason: 'HostKeyMismatch', message: 'notifier-1: host key mismatch: expected SHA256:aaa, found SHA256:bbb; refusing to connect' },
      { node: 'gw-1', ok: false, reason: 'Unreachable', message: 'gw-1: connect ECONNREFUSED 127.0.0.1:22' },
      ok(nodeObservation(desired, 'gw-2', gw2().tenants)),
    ];
    const p = plan(desired, observed);
    expect(p.nodes.map((n) => [n.node, n.status, n.blocked])).toEqual([
      ['notifier-1', 'HostKeyMismatch', true],
      ['gw-1', 'Unreachable', true],
      ['gw-2', 'InSync', false],
    ]);
    expect(node(p, 'gw-1').issues).toEqual([{ category: 'unreachable', severity: 'error', reason: 'Unreachable', node: 'gw-1', message: 'gw-1: connect ECONNREFUSED 127.0.0.1:22', difference: true }]);
    expect(node(p, 'notifier-1').issues[0]).toMatchObject({ category: 'unreachable', reason: 'HostKeyMismatch' });
    expect(node(p, 'gw-1').tenants).toEqual([]);
    expect(node(p, 'gw-1').actions).toEqual([]);
    expect(p.worst).toBe('HostKeyMismatch');
    expect(p.inSync).toBe(false);
  });

  it('a node with no observation at all is Unreachable ("not observed"); ObserveFailed is kept', () => {
    const p = plan(desired, [{ node: 'gw-2', ok: false, reason: 'ObserveFailed', message: 'gw-2: observe script failed (exit 2)' }]);
    expect(p.nodes.map((n) => [n.node, n.status])).toEqual([
      ['notifier-1', 'Unreachable'],
      ['gw-1', 'Unreachable'],
      ['gw-2', 'ObserveFailed'],
    ]);
    expect(node(p, 'gw-1').issues[0]!.message).toBe('gw-1: not observed');
    expect(p.worst).toBe('Unreachable');
  });
});

describe('plan: tenants the repo no longer assigns', () => {
  const observed = (): ObserveResult[] =>
    desired.nodes.map((n) => {
      const o = nodeObservation(desired, n.name, n.tenants);
      if (n.name === 'gw-1') o.tenants.initech = deployedTenant(tenantOf(desired, 'initech'));
      return ok(o);
    });

  it('are reported and kept by default', () => {
    const p = plan(desired, observed());
    const n = node(p, 'gw-1');
    expect(n.status).toBe('OutOfSync');
    expect(n.tenants.at(-1)).toEqual({ tenant: 'initech', state: 'Unassigned', currentRelease: tenantOf(desired, 'initech').releaseId });
    expect(n.issues).toEqual([expect.objectContaining({ category: 'drift', reason: 'Unassigned', tenant: 'initech', difference: true, message: 'no longer assigned to this node (kept; pass --prune to remove)' })]);
    expect(n.actions).toEqual([]);
    expect(p.inSync).toBe(false);
  });

  it('are pruned only with {prune: true}', () => {
    const n = node(plan(desired, observed(), desired.nodes, { prune: true }), 'gw-1');
    expect(n.actions).toEqual([{ kind: 'prune', tenant: 'initech' }]);
    expect(n.issues[0]!.message).toBe('no longer assigned to this node; will be pruned');
  });

  it('a leftover tenant without a current link: what is left of it (a .prev, release dirs) is named and pruned with --prune; nothing left, nothing said', () => {
    const obsWith = (left: boolean): ReturnType<typeof ok>[] => desired.nodes.map((n) => {
      const o = nodeObservation(desired, n.name, n.tenants);
      if (n.name === 'gw-1') {
        const { current: _c, ...rest } = deployedTenant(tenantOf(desired, 'initech'));
        o.tenants.initech = left ? { ...rest, prev: { target: '../releases/initech/x', releaseId: 'x' } } : { ...rest, releases: [] };
      }
      return ok(o);
    });
    // (a removal cut short after its links went leaves releases/<t>: never silent)
    const p = plan(desired, obsWith(true), desired.nodes, { prune: true });
    expect(p.inSync).toBe(false);
    expect(node(p, 'gw-1').actions).toEqual([{ kind: 'prune', tenant: 'initech' }]);
    expect(node(p, 'gw-1').issues.find((i) => i.tenant === 'initech')?.message).toMatch(/^no longer assigned to this node; what is left of it \(releases\/initech: \d+ release dir\(s\), a \.prev link\) has no current link; will be pruned$/);
    const none = plan(desired, obsWith(false), desired.nodes, { prune: true });
    expect(none.inSync).toBe(true);
    expect(node(none, 'gw-1').actions).toEqual([]);
  });

  it('a tenant on the notifier node (assigned nothing) is Unassigned there', () => {
    const obs = desired.nodes.map((n) => {
      const o = nodeObservation(desired, n.name, n.tenants);
      if (n.name === 'notifier-1') o.tenants.acme = deployedTenant(tenantOf(desired, 'acme'));
      return ok(o);
    });
    expect(node(plan(desired, obs), 'notifier-1').tenants).toEqual([expect.objectContaining({ tenant: 'acme', state: 'Unassigned' })]);
  });
});

describe('plan: a tenant whose link is still on a quarantined release', () => {
  const obs = (): ReturnType<typeof ok>[] => desired.nodes.map((n) => {
    const o = nodeObservation(desired, n.name, n.tenants);
    const acme = o.tenants.acme;
    if (n.name === 'gw-1' && acme) acme.quarantined = [tenantOf(desired, 'acme').releaseId];
    return ok(o);
  });
  it('is Blocked (Quarantined), never silent: an automatic rollback that could not finish', () => {
    const p = plan(desired, obs(), desired.nodes);
    expect(p.inSync).toBe(false);
    const n = node(p, 'gw-1');
    expect(n.tenants.find((x) => x.tenant === 'acme')?.state).toBe('Blocked');
    expect(n.issues.find((i) => i.tenant === 'acme' && i.reason === 'Quarantined')?.message).toMatch(/^its link is still on release [0-9a-f]{16}, which was rolled back automatically and is quarantined/);
    expect(n.actions).toEqual([]);
  });
  it('with --retry-quarantined: reloaded (and gated) as it is', () => {
    const n = node(plan(desired, obs(), desired.nodes, { retryQuarantined: true }), 'gw-1');
    expect(n.actions).toEqual([{ kind: 'reload', tenant: 'acme', releaseId: tenantOf(desired, 'acme').releaseId }]);
  });
});

describe('plan: probe and token notes are not differences', () => {
  const issuesOf = (edit: (o: ReturnType<typeof nodeObservation>) => void, opts = {}): { p: Plan; n: NodePlan } => {
    const p = plan(desired, withGw2(edit), desired.nodes, opts);
    return { p, n: node(p, 'gw-2') };
  };

  it('launchd not loaded / not running', () => {
    const { p, n } = issuesOf((o) => {
      o.tenants.acme!.launchd = { loaded: false, fields: {}, environment: {}, exitCode: 113 };
      o.tenants.globex!.launchd = { loaded: true, state: 'not running', lastExitCode: '78: EX_CONFIG', fields: {}, environment: {}, exitCode: 0 };
    });
    expect(n.issues).toEqual([
      { category: 'probe', severity: 'warning', reason: 'ServiceNotLoaded', node: 'gw-2', tenant: 'acme', message: 'launchd service ai.openclaw.acme is not loaded', difference: false },
      { category: 'probe', severity: 'warning', reason: 'ServiceNotRunning', node: 'gw-2', tenant: 'globex', message: 'launchd service ai.openclaw.globex is not running (last exit code 78: EX_CONFIG)', difference: false },
    ]);
    expect(n.status).toBe('InSync');
    expect(p.inSync).toBe(true);
    expect(p.worst).toBe('InSync');
  });

  it('token missing, bad mode, overlap and not rotated', () => {
    const { p, n } = issuesOf((o) => {
      o.tenants.acme!.tokens['token.current'] = { present: false };
      o.tenants.globex!.tokens['token.current'] = { present: true, mode: '644', mtime: 1, fingerprint: 'aaaaaaaaaaaa' };
      o.tenants.globex!.tokens['token.next'] = { present: true, mode: '600', mtime: 2, fingerprint: 'bbbbbbbbbbbb' };
      o.tenants.initech!.tokens['token.next'] = { ...o.tenants.initech!.tokens['token.current'] };
    });
    // a referenced secret that is missing or wrongly moded blocks the tenant (the gateway would not start)
    expect(n.issues.map((i) => [i.category, i.severity, i.reason, i.tenant, i.difference])).toEqual([
      ['token', 'error', 'SecretMissing', 'acme', true],
      ['token', 'error', 'SecretMode', 'globex', true],
      ['token', 'info', 'TokenOverlap', 'globex', false],
      ['token', 'warning', 'TokenNotRotated', 'initech', false],
    ]);
    expect(n.issues.find((i) => i.reason === 'SecretMode')).toMatchObject({ file: 'token.current', message: expect.stringContaining('token.current has mode 644') });
    // (no fingerprint either: round 17 recovered a PIN from the 12 hex digits printed here)
    expect(n.issues.find((i) => i.reason === 'TokenOverlap')!.message).toBe('rotation in progress: token.next staged beside token.current');
    expect(n.tenants.filter((t) => t.state === 'Blocked').map((t) => t.tenant)).toEqual(['acme', 'globex']);
    // nothing about a token's value is ever in a message
    expect(n.status).toBe('Drifted');
    expect(p.inSync).toBe(false);
  });

  it('token.next with a bad mode is a warning (not referenced: the wrapper ignores it)', () => {
    const { n } = issuesOf((o) => (o.tenants.acme!.tokens['token.next'] = { present: true, mode: '644', mtime: 1, fingerprint: 'cccccccccccc' }));
    expect(n.issues.find((i) => i.reason === 'TokenMode')).toMatchObject({ severity: 'warning', file: 'token.next', difference: false });
  });

  it('mode 0400 is fine', () => {
    const { n } = issuesOf((o) => (o.tenants.acme!.tokens['token.current'].mode = '400'));
    expect(n.issues).toEqual([]);
  });

  it('low disk only when a threshold is given', () => {
    const low = (o: ReturnType<typeof nodeObservation>): void => {
      o.disk = { freeKb: 100 * 1024, totalKb: 500 * 1024 * 1024 };
    };
    expect(issuesOf(low).n.issues).toEqual([]);
    const { p, n } = issuesOf(low, { lowDiskKb: 1024 * 1024 });
    expect(n.issues).toEqual([{ category: 'probe', severity: 'warning', reason: 'LowDisk', node: 'gw-2', message: 'only 100 MiB free under /etc/openclaw', difference: false }]);
    expect(p.inSync).toBe(true);
  });
});

describe('plan: worst status and triage', () => {
  it('worst folds to the lowest STATUS_ORDER index regardless of node order', () => {
    const statuses: NodeStatus[] = [];
    const observed = withGw2((o) => o.errors.push('x')); // gw-2 Drifted
    observed[0] = ok(nodeObservation(desired, 'notifier-1', [], { openclaw: { found: false, exitCode: 127, raw: '', cached: false } })); // VersionSkew
    const p = plan(desired, observed);
    for (const n of p.nodes) statuses.push(n.status);
    expect(statuses).toEqual(['VersionSkew', 'InSync', 'Drifted']);
    expect(p.worst).toBe('VersionSkew');
    expect(plan(desired, [...observed].reverse()).worst).toBe('VersionSkew');
    expect(plan(desired, [], []).worst).toBe('InSync');
    expect(plan(desired, [], []).inSync).toBe(true);
    // STATUS_ORDER is worst first and total
    for (let i = 0; i + 1 < STATUS_ORDER.length; i++) {
      expect(isWorse(STATUS_ORDER[i]!, STATUS_ORDER[i + 1]!)).toBe(true);
      expect(isWorse(STATUS_ORDER[i + 1]!, STATUS_ORDER[i]!)).toBe(false);
    }
  });

  it('every issue falls in one triage category, and the report prints them in triage order', () => {
    const observed: ObserveResult[] = [
      { node: 'notifier-1', ok: false, reason: 'Unreachable', message: 'notifier-1: timed out' },
      ok(
        nodeObservation(desired, 'gw-1', gw1().tenants, {
          openclaw: { found: true, exitCode: 0, raw: 'OpenClaw 2026.8.1 (0badc0d)', version: '2026.8.1', commit: '0badc0d', cached: false },
        }),
      ),
      ...withGw2((o) => {
        o.tenants.acme!.files['openclaw.json'] = sha('edited');
        o.tenants.globex!.launchd = { loaded: false, fields: {}, environment: {}, exitCode: 113 };
        o.tenants.initech!.tokens['token.next'] = { present: true, mode: '600', mtime: 1, fingerprint: 'cccccccccccc' };
      }).slice(2),
    ];
    const p = plan(desired, observed);
    const cats = new Set(p.nodes.flatMap((n) => n.issues.map((i) => i.category)));
    expect([...cats].sort()).toEqual([...CATEGORIES].sort());
    const text = renderText(p, { source: { origin: 'tenants-example', dirty: false }, lock: desired.lock });
    const at = ['Unreachable', 'Directory drift', 'Version skew', 'Probe', 'Token overlap'].map((h) => text.indexOf(`\n${h}\n`));
    expect(at.every((i) => i > 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(text).toMatch(/gw-1 +VersionSkew \[canary\] \(blocked: apply will not touch it\)/);
    expect(text).toMatch(/gw-2 +Drifted: would deploy acme@/);
    expect(text).toContain('Differences on 3 of 3 node(s)');
  });
});
