/** The real observe script, run through the LocalTransport against a root-prefix node directory. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NodeSpec } from '../../reconciler/desired/types.js';
import { OBSERVE_SCRIPT } from '../../reconciler/observe/observe-script.js';
import { expectations, observeNode } from '../../reconciler/observe/observe-node.js';
import { parseObservation } from '../../reconciler/observe/parse-observation.js';
import type { NodeObservation } from '../../reconciler/observe/types.js';
import { plan } from '../../reconciler/plan/plan.js';
import { MANIFEST_PATH } from '../../reconciler/release-manifest.js';
import { exampleDesired } from '../plan/fixtures.js';
import { makeLocalNode, placeLocalRelease, RecordingTransport, writeToken, type LocalNode } from './local-node.js';

const example = exampleDesired();
/** tenants-example with the lock's daemon hash set to this node's fake openclaw */
let desired = example;
const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
const TOKEN = 'tok_Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sA-acme';
const NEXT = 'tok_next_Xy7uB2nM5kQ8wE3rT6yU9iO1pA4sD-acme';

let node: LocalNode;
let transport: RecordingTransport;
const spec = (tenants: string[]): NodeSpec => ({ name: 'local-1', host: 'localhost', port: 22, user: 'clawops', role: 'gateway', canary: false, transport: 'local', root: node.root, tenants });

async function observe(tenants: string[] = ['acme', 'globex']): Promise<NodeObservation> {
  return observeNode(transport, desired.settings.paths, expectations(desired, tenants));
}

beforeEach(() => {
  node = makeLocalNode();
  transport = new RecordingTransport('local-1', node.root);
  desired = { ...example, lock: { ...example.lock, daemon: { sha256: sha(readFileSync(node.daemon)) } } };
});
afterEach(() => node.remove());

function deployAcmeGlobex(): void {
  mkdirSync(join(node.varDb, 'clawops'), { recursive: true });
  for (const t of ['acme', 'globex']) {
    placeLocalRelease(node, desired, t);
    writeToken(node, t, 'token.current', `${TOKEN}-${t}`);
    writeToken(node, t, 'hooks.token', `${TOKEN}-hooks-${t}`);
    node.setRunning(t, true);
  }
}

describe('observe through the local transport', () => {
  it('a node in sync: versions, daemon hash, files, manifest, launchd, tokens, in one command', async () => {
    deployAcmeGlobex();
    const o = await observe();
    expect(transport.stats.commands).toBe(1);
    expect(o.commands).toBe(1);
    expect(o.errors).toEqual([]);
    expect(o.openclaw).toEqual({ found: true, exitCode: 0, raw: 'OpenClaw 2026.9.6 (eb377ac)', version: '2026.9.6', commit: 'eb377ac', cached: false });
    expect(o.daemon?.sha256).toBe(sha(readFileSync(node.daemon)));
    expect(o.daemon?.path).toMatch(/\/usr\/local\/bin\/\.\.\/lib\/node_modules\/openclaw\/openclaw\.mjs$/);
    expect(o.disk!.freeKb).toBeGreaterThan(0);
    expect(o.disk!.totalKb).toBeGreaterThanOrEqual(o.disk!.freeKb);
    expect(o.lock).toBeUndefined();
    const acme = desired.tenants.get('acme')!;
    const t = o.tenants.acme!;
    expect(t.current).toEqual({ target: `../releases/acme/${acme.releaseId}`, releaseId: acme.releaseId });
    expect(t.prev).toBeUndefined();
    expect(t.releases).toEqual([acme.releaseId]);
    const want = Object.fromEntries(acme.files.map((f) => [f.path, f.sha256]));
    want[MANIFEST_PATH] = sha(readFileSync(join(node.etc, 'releases/acme', acme.releaseId, MANIFEST_PATH)));
    expect(t.files).toEqual(want);
    expect(t.contents).toEqual({});
    expect(t.manifest).toMatchObject({ schema: 1, tenant: 'acme', release_id: acme.releaseId, commit: 'c0ffee' });
    expect(t.launchd).toMatchObject({ loaded: true, state: 'running', pid: 4242, exitCode: 0 });
    const tokFile = join(node.varDb, 'secrets/acme/token.current');
    expect(t.tokens).toEqual({
      'token.current': { present: true, mode: '600', mtime: Math.floor(statSync(tokFile).mtimeMs / 1000), fingerprint: sha(`${TOKEN}-acme`).slice(0, 12) },
      'token.next': { present: false },
    });
    // and the planner agrees
    const p = plan(desired, [{ node: 'local-1', ok: true, observation: o }], [spec(['acme', 'globex'])]);
    expect(p.nodes[0]!.issues).toEqual([]);
    expect(p.inSync).toBe(true);
  });

  it('token content never leaves the node: only mode, mtime and a fingerprint', async () => {
    deployAcmeGlobex();
    writeToken(node, 'acme', 'token.next', NEXT, 0o644);
    const o = await observe();
    expect(o.tenants.acme!.tokens['token.next']).toMatchObject({ present: true, mode: '644', fingerprint: sha(NEXT).slice(0, 12) });
    const raw = transport.outputs.map((r) => r.stdout + r.stderr).join('\n');
    for (const secret of [TOKEN, NEXT]) {
      expect(raw).not.toContain(secret);
      expect(raw).not.toContain(Buffer.from(secret).toString('base64').slice(0, 16));
      expect(raw).not.toContain(Buffer.from(`${secret}-acme`).toString('base64').slice(0, 16));
    }
    expect(JSON.stringify(o)).not.toContain('tok_');
  });

  it('caches the version line per daemon hash: openclaw runs once until the binary changes', async () => {
    deployAcmeGlobex();
    const first = await observe();
    expect(first.openclaw.cached).toBe(false);
    expect(node.openclawRuns()).toBe(1);
    const cache = readFileSync(join(node.varDb, 'clawops/observe/openclaw-version.cache'), 'utf8');
    // (keyed by the entry point's, package.json's and dist/build-info.json's hashes; this package has no build-info.json)
    expect(cache).toMatch(new RegExp(`^${first.daemon!.sha256}:[0-9a-f]{64}:([0-9a-f]{64})?\tOpenClaw 2026\\.9\\.6 \\(eb377ac\\)\n$`));
    const second = await observe();
    expect(second.openclaw).toEqual({ ...first.openclaw, cached: true });
    expect(node.openclawRuns()).toBe(1);
    // an upgrade in place changes the hash: asked again
    appendFileSync(node.daemon, '# upgraded\n');
    const third = await observe();
    expect(third.openclaw.cached).toBe(false);
    expect(third.daemon!.sha256).not.toBe(first.daemon!.sha256);
    expect(node.openclawRuns()).toBe(2);
    // and so does a changed package.json beside it
    appendFileSync(join(node.daemon, '../package.json'), '\n');
    expect((await observe()).openclaw.cached).toBe(false);
    expect(node.openclawRuns()).toBe(3);
    expect(transport.stats.commands).toBe(4);
  });

  it('the daemon is the file the relative link resolves to, hashed; a version cache that is a symlink is not read', async () => {
    deployAcmeGlobex();
    const first = await observe();
    expect(first.daemon).toEqual({ path: expect.stringMatching(/\/usr\/local\/bin\/\.\.\/lib\/node_modules\/openclaw\/openclaw\.mjs$/), sha256: sha(readFileSync(node.daemon, 'utf8')) });
    const cache = join(node.varDb, 'clawops/observe/openclaw-version.cache');
    const elsewhere = join(node.root, 'planted.cache');
    writeFileSync(elsewhere, readFileSync(cache, 'utf8'));
    rmSync(cache);
    symlinkSync(elsewhere, cache);
    expect((await observe()).openclaw.cached).toBe(false);
    expect(node.openclawRuns()).toBe(2);
  });

  it('does not cache output that is not a version line, nor without a clawops state dir', async () => {
    const bad = makeLocalNode({ versionLine: 'Error: Cannot find module' });
    try {
      mkdirSync(join(bad.varDb, 'clawops'), { recursive: true });
      const tr = new RecordingTransport('bad', bad.root);
      const obs = async (): Promise<NodeObservation> => observeNode(tr, desired.settings.paths, expectations(desired, []));
      expect((await obs()).openclaw).toMatchObject({ found: true, raw: 'Error: Cannot find module', cached: false });
      expect((await obs()).openclaw.cached).toBe(false);
      expect(bad.openclawRuns()).toBe(2);
    } finally {
      bad.remove();
    }
    // no /var/db/openclaw/clawops: nothing written, still correct
    expect((await observe([])).openclaw.cached).toBe(false);
    expect((await observe([])).openclaw).toMatchObject({ version: '2026.9.6', cached: false });
    expect(node.openclawRuns()).toBe(2);
  });

  it('hand edits, deletions, additions and symlinks are drift; contents come back only for files that differ', async () => {
    deployAcmeGlobex();
    const acme = desired.tenants.get('acme')!;
    const rel = join(node.etc, 'releases/acme', acme.releaseId);
    const edited = readFileSync(join(rel, 'gateway.d/10-base.yaml'), 'utf8').replace('level: info', 'level: trace');
    writeFileSync(join(rel, 'gateway.d/10-base.yaml'), edited);
    rmSync(join(rel, 'doctor.d/20-maintenance.yaml'));
    writeFileSync(join(rel, 'gateway.d/99-local.yaml'), 'logging:\n  level: trace\n');
    writeFileSync(join(rel, 'gateway.d/99 local\n.yaml'), 'token: tok_NeverShipMe0123456789abcdef\n');
    rmSync(join(rel, 'webhook.json'));
    symlinkSync('/etc/passwd', join(rel, 'webhook.json'));
    const o = await observe();
    const t = o.tenants.acme!;
    expect(t.files['gateway.d/10-base.yaml']).toBe(sha(edited));
    expect(t.files['doctor.d/20-maintenance.yaml']).toBeUndefined();
    expect(t.files['gateway.d/99-local.yaml']).toBe(sha('logging:\n  level: trace\n'));
    expect(t.files['webhook.json']).toBe('symlink');
    // a name outside the safe set is reported (tab/newline as ?), never hashed, read or parsed into two names
    expect(t.unsafeNames).toEqual(['gateway.d/99 local?.yaml']);
    expect(Object.keys(t.files).some((f) => f.includes('local\n') || f === '.yaml')).toBe(false);
    // content comes back only for clawops' own files; a file it did not write is sized, never read
    expect(Object.keys(t.contents).sort()).toEqual(['gateway.d/10-base.yaml']);
    expect(t.sizes).toEqual({ 'gateway.d/99-local.yaml': 24 });
    expect(transport.outputs[0]!.stdout).not.toContain(Buffer.from('token: tok_NeverShipMe').toString('base64').slice(0, 12));
    expect(t.contents['gateway.d/10-base.yaml']?.toString()).toBe(edited);
    expect(o.tenants.globex!.contents).toEqual({});
    // /etc/passwd was not read through the symlink
    expect(transport.outputs[0]!.stdout).not.toContain(Buffer.from('root:').toString('base64').slice(0, 6));

    const p = plan(desired, [{ node: 'local-1', ok: true, observation: o }], [spec(['acme', 'globex'])]);
    const n = p.nodes[0]!;
    expect(n.status).toBe('Drifted');
    expect(n.issues.filter((i) => i.reason === 'Drifted').map((i) => [i.tenant, i.file, i.message.split(' (')[0]])).toEqual([
      ['acme', 'doctor.d/20-maintenance.yaml', 'doctor.d/20-maintenance.yaml deleted on the node'],
      ['acme', 'gateway.d/10-base.yaml', 'gateway.d/10-base.yaml hand-edited on the node'],
      ['acme', 'gateway.d/99 local?.yaml', 'gateway.d/99 local?.yaml added on the node'],
      ['acme', 'gateway.d/99-local.yaml', 'gateway.d/99-local.yaml added on the node'],
      ['acme', 'webhook.json', 'webhook.json replaced by a symlink on the node'],
    ]);
    // default deny: the added file is shown by name, size and hash only
    const added = n.diffs.find((d) => d.path === 'gateway.d/99-local.yaml')!;
    expect(added.patch).toContain('not written by clawops: 24 bytes');
    expect(added.patch).not.toContain('trace');
    const diff = n.diffs.find((d) => d.path === 'gateway.d/10-base.yaml')!;
    expect(diff.patch).toContain('-  level: trace\n+  level: info');
  });

  it('an older release: old contents of the files the new one changes, for the unified diff', async () => {
    deployAcmeGlobex();
    const acme = desired.tenants.get('acme')!;
    const rel = join(node.etc, 'releases/acme', acme.releaseId);
    // pretend the node runs an older render: openclaw.json differs, consistently with its manifest
    const manifest = JSON.parse(readFileSync(join(rel, MANIFEST_PATH), 'utf8')) as { files: Record<string, string> };
    writeFileSync(join(rel, 'openclaw.json'), '{"old": true}\n');
    manifest.files['openclaw.json'] = sha('{"old": true}\n');
    writeFileSync(join(rel, MANIFEST_PATH), JSON.stringify(manifest));
    const o = await observe();
    expect(Object.keys(o.tenants.acme!.contents)).toEqual(['openclaw.json']);
    const n = plan(desired, [{ node: 'local-1', ok: true, observation: o }], [spec(['acme', 'globex'])]).nodes[0]!;
    expect(n.tenants[0]).toMatchObject({ tenant: 'acme', state: 'Changed' });
    expect(n.diffs[0]!.patch).toContain('-{"old": true}');
  });

  it('an empty node (no /etc/openclaw, no /var/db/openclaw) is observed without errors', async () => {
    const o = await observe(['acme']);
    expect(o.errors).toEqual([]);
    expect(o.openclaw.version).toBe('2026.9.6');
    expect(Object.keys(o.tenants)).toEqual(['acme']);
    expect(o.tenants.acme).toMatchObject({ releases: [], files: {}, contents: {}, launchd: { loaded: false, exitCode: 113 }, tokens: { 'token.current': { present: false }, 'token.next': { present: false } } });
    expect(o.tenants.acme!.current).toBeUndefined();
    expect(transport.stats.commands).toBe(1);
    const n = plan(desired, [{ node: 'local-1', ok: true, observation: o }], [spec(['acme'])]).nodes[0]!;
    // nothing provisioned either: the gateway could not start, so apply would refuse it until the secrets exist
    expect(n.tenants).toEqual([expect.objectContaining({ tenant: 'acme', state: 'Blocked' })]);
    expect(n.issues.filter((i) => i.reason === 'SecretMissing').map((i) => i.file).sort()).toEqual(['hooks.token', 'token.current']);
    writeToken(node, 'acme', 'token.current', 'x'.repeat(32));
    writeToken(node, 'acme', 'hooks.token', 'y'.repeat(32));
    const n2 = plan(desired, [{ node: 'local-1', ok: true, observation: await observe(['acme']) }], [spec(['acme'])]).nodes[0]!;
    expect(n2.tenants).toEqual([expect.objectContaining({ tenant: 'acme', state: 'NotDeployed' })]);
  });

  const hostHasOpenclaw = (() => {
    try {
      execFileSync('sh', ['-c', 'command -v openclaw'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  it.skipIf(hostHasOpenclaw)('openclaw missing from PATH', async () => {
    rmSync(join(node.bin, 'openclaw'));
    const o = await observe([]);
    expect(o.openclaw).toEqual({ found: false, exitCode: 127, raw: '', cached: false });
    expect(o.daemon).toBeUndefined();
    const n = plan(desired, [{ node: 'local-1', ok: true, observation: o }], [spec([])]).nodes[0]!;
    expect(n.issues.map((i) => i.reason)).toEqual(['OpenclawMissing']);
  });

  it('tenants the node has but was not asked about, .prev links, odd entries and the node lock', async () => {
    deployAcmeGlobex();
    placeLocalRelease(node, desired, 'initech');
    const acme = desired.tenants.get('acme')!;
    symlinkSync(`../releases/acme/${acme.releaseId}`, join(node.etc, 'tenants/acme.prev'));
    writeFileSync(join(node.etc, 'tenants/README'), 'not a link\n');
    symlinkSync('../releases/x/y', join(node.etc, 'tenants/.hidden'));
    writeFileSync(join(node.etc, 'tenants/odd\nname'), '');
    writeFileSync(join(node.varDb, 'clawops/node.lock'), 'pid 77 apply since 2026-11-25T00:00:00Z\n');
    const o = await observe(['acme']);
    expect(Object.keys(o.tenants).sort()).toEqual(['acme', 'globex', 'initech']);
    expect(o.tenants.initech!.current?.releaseId).toBe(desired.tenants.get('initech')!.releaseId);
    expect(o.tenants.acme!.prev).toEqual({ target: `../releases/acme/${acme.releaseId}`, releaseId: acme.releaseId });
    expect(o.tenants.acme!.prevManifest).toMatchObject({ release_id: acme.releaseId });
    expect(o.errors.sort()).toEqual([
      `${join(node.etc, 'tenants/.hidden')} is not a name clawops uses (left alone)`,
      `${join(node.etc, 'tenants/README')} exists but is not a symlink`,
      `${join(node.etc, 'tenants/odd?name')} is not a name clawops uses (left alone)`,
    ]);
    expect(o.lock).toBe('pid 77 apply since 2026-11-25T00:00:00Z\n');
    const n = plan(desired, [{ node: 'local-1', ok: true, observation: o }], [spec(['acme'])]).nodes[0]!;
    expect(n.tenants.filter((t) => t.state === 'Unassigned').map((t) => t.tenant)).toEqual(['globex', 'initech']);
  });

  it('a service that is not loaded', async () => {
    deployAcmeGlobex();
    node.setRunning('globex', false);
    const o = await observe();
    expect(o.tenants.globex!.launchd).toEqual({ loaded: false, fields: {}, environment: {}, exitCode: 113 });
    const n = plan(desired, [{ node: 'local-1', ok: true, observation: o }], [spec(['acme', 'globex'])]);
    expect(n.nodes[0]!.issues.map((i) => i.reason)).toEqual(['ServiceNotLoaded']);
    expect(n.inSync).toBe(true);
  });
});

describe('the observe script is portable POSIX sh', () => {
  /** Run the script directly under `shell`, with `path` as PATH. */
  const which = (tool: string): string => execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
  function runUnder(shell: string[], path: string, tenants: string[]): NodeObservation {
    const tmp = mkdtempSync(join(tmpdir(), 'clawops-tmpdir-'));
    try {
      const input = expectations(desired, tenants);
      const stdout = execFileSync(which(shell[0]!), [...shell.slice(1), '-c', OBSERVE_SCRIPT, 'clawops-observe', node.etc, node.varDb], {
        input,
        env: { PATH: path, HOME: node.root, TMPDIR: tmp },
        encoding: 'utf8',
      });
      // the script's scratch dir is removed on exit
      expect(readdirSync(tmp)).toEqual([]);
      return parseObservation('local-1', stdout, { commands: 1, durationMs: 0 }, input);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  /** what may differ between two runs: timing, the version cache, free disk (other processes write) */
  const strip = (o: NodeObservation): unknown => ({ ...o, now: 0, durationMs: 0, openclaw: { ...o.openclaw, cached: false }, disk: o.disk ? { totalKb: o.disk.totalKb } : undefined });

  it('dash (Debian /bin/sh) and bash --posix give the same observation as the transport', async () => {
    deployAcmeGlobex();
    writeFileSync(join(node.etc, 'releases/acme', desired.tenants.get('acme')!.releaseId, 'openclaw.json'), '{"edited":1}\n');
    const viaTransport = await observe();
    const PATH = `${node.bin}:/usr/bin:/bin`;
    expect(strip(runUnder(['dash'], PATH, ['acme', 'globex']))).toEqual(strip(viaTransport));
    expect(strip(runUnder(['bash', '--posix'], PATH, ['acme', 'globex']))).toEqual(strip(viaTransport));
  });

  it('a macOS-like userland: no sha256sum (shasum -a 256), BSD stat -f', async () => {
    deployAcmeGlobex();
    writeToken(node, 'acme', 'token.next', NEXT, 0o640);
    const viaTransport = await observe();
    // a bin dir with the tools the script uses, minus GNU-only ones, plus BSD-style stand-ins
    const mac = mkdtempSync(join(tmpdir(), 'clawops-macbin-'));
    try {
      const tools = ['mktemp', 'rm', 'cat', 'awk', 'tr', 'base64', 'dirname', 'basename', 'readlink', 'cut', 'head', 'df', 'ls', 'sed', 'sort', 'find', 'wc', 'mv', 'sh', 'date', 'printf'];
      for (const tool of tools) symlinkSync(which(tool), join(mac, tool));
      const sha256sum = which('sha256sum');
      const gnuStat = which('stat');
      writeFileSync(join(mac, 'shasum'), `#!/bin/sh\n[ "$1" = -a ] && [ "$2" = 256 ] || { echo "shasum: only -a 256 here" >&2; exit 1; }\nshift 2\nexec ${sha256sum} "$@"\n`);
      writeFileSync(
        join(mac, 'stat'),
        `#!/bin/sh\ncase $1 in -f) case $2 in %Lp*%m*%N) ;; *) exit 1 ;; esac; shift 2; exec ${gnuStat} -c "$(printf '%%a\\t%%Y\\t%%n')" "$@" ;; *) echo "stat: illegal option -- \${1#-}" >&2; echo 'usage: stat [-FLnq] [-f format | -l | -r | -s | -x] [-t timefmt] [file ...]' >&2; exit 1 ;; esac\n`,
      );
      chmodSync(join(mac, 'shasum'), 0o755);
      chmodSync(join(mac, 'stat'), 0o755);
      const o = runUnder(['dash'], `${node.bin}:${mac}`, ['acme', 'globex']);
      expect(strip(o)).toEqual(strip(viaTransport));
      expect(o.tenants.acme!.tokens['token.next']).toMatchObject({ present: true, mode: '640', fingerprint: sha(NEXT).slice(0, 12) });
    } finally {
      rmSync(mac, { recursive: true, force: true });
    }
  });
});
