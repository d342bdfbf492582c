/**
 * Adversarial run 3 against the staging hardening (STAGE / BEGIN's pre-fill / PROMOTE's exact-set check / the
 * gateway wrapper). New variants only, each asserting a promise:
 *   1. nothing outside clawops' tree touched or followed, and never a hang;
 *   2. a refusal is one line naming the path and its real cause; the next apply converges once the cause is gone;
 *   3. the release put live is byte-identical to the desired one;
 *   4. no false refusal of a legitimate flow;
 *   5. the wrapper always starts the gateway on a sane node and never blocks.
 * A failing test is a defect found; none is skipped.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NodeApplyResult } from '../../reconciler/apply/apply-node.js';
import { BEGIN_SCRIPT, PROMOTE_SCRIPT } from '../../reconciler/apply/remote-scripts.js';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import type { DesiredState } from '../../reconciler/desired/types.js';
import { MANIFEST_PATH } from '../../reconciler/release-manifest.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { fleetAvailable, type Fleet, type FleetNodeHandle } from '../fleet/fleet.js';
import { acmeLevel, applyJson, NO_UNITS, useOneNodeFleet } from '../helpers/fleet-cli.js';
import { commitEdits, desiredOf, fleetRepo, placeAll } from '../helpers/fleet-repo.js';
import { applyAfter } from '../helpers/node-state.js';
import { openclawCache } from '../helpers/openclaw.js';
import { layRelease } from '../helpers/release.js';
import { EXAMPLE } from '../helpers/repo.js';
import { seedSecrets } from '../helpers/secrets.js';

const which = (tool: string): string => spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
const DASH = which('dash') || which('sh');

/** every entry under root (not following links): relative path → kind */
function walk(root: string): Map<string, { kind: 'file' | 'dir' | 'link' | 'other'; mode: number }> {
  const out = new Map<string, { kind: 'file' | 'dir' | 'link' | 'other'; mode: number }>();
  const go = (rel: string): void => {
    for (const n of readdirSync(rel === '' ? root : join(root, rel))) {
      const r = rel === '' ? n : `${rel}/${n}`;
      const st = lstatSync(join(root, r));
      const kind = st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
      out.set(r, { kind, mode: st.mode & 0o7777 });
      if (kind === 'dir') go(r);
    }
  };
  go('');
  return out;
}

// ==================================================================================================================
// the lock's shell side on a local tree: a node.lock that is a regular file, but a huge one with no newline
// ==================================================================================================================
describe('the node lock read by the shell: a huge regular file planted at node.lock', () => {
  const RUN = 'r20261130-attack3';
  let root: string;
  const etc = (): string => join(root, 'etc');
  const varDb = (): string => join(root, 'var');
  const lock = (): string => join(varDb(), 'clawops', 'node.lock');

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'clawops-lock-attack3-'));
    mkdirSync(join(varDb(), 'clawops'), { recursive: true });
    mkdirSync(etc(), { recursive: true });
    // a sparse 8 GiB regular file: no disk used, no newline anywhere (the shell's `read` takes it a byte at a time)
    expect(spawnSync('truncate', ['-s', '8G', lock()]).status).toBe(0);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('1+2. BEGIN with node.lock a sparse 8 GiB regular file (no newline): answers "lock held" at once, never hangs reading it', () => {
    const t0 = Date.now();
    const r = spawnSync('sh', ['-c', BEGIN_SCRIPT, 'clawops', etc(), varDb(), RUN, 'test', String(process.pid), '900', 'lock-only', ''], { input: '', encoding: 'utf8', timeout: 15_000, killSignal: 'SIGKILL' });
    const ms = Date.now() - t0;
    const held = r.stdout.split('\n').some((l) => l.startsWith('lock\theld'));
    expect({ prompt: ms < 10_000, timedOut: r.signal !== null, held }, `${ms} ms, exit ${r.status} ${r.signal}: ${r.stderr}`).toEqual({ prompt: true, timedOut: false, held: true });
    expect(lstatSync(lock()).size).toBe(8 * 1024 ** 3);
  }, 30_000);

  it('1+2. PROMOTE with node.lock swapped mid-run for a sparse 8 GiB regular file: answers "lock-lost" at once, never hangs reading it', () => {
    writeFileSync(join(varDb(), 'clawops', `want.${RUN}`), '');
    const t0 = Date.now();
    const r = spawnSync('sh', ['-c', PROMOTE_SCRIPT, 'clawops', etc(), RUN, varDb()], { input: '', encoding: 'utf8', timeout: 15_000, killSignal: 'SIGKILL' });
    const ms = Date.now() - t0;
    expect({ prompt: ms < 10_000, timedOut: r.signal !== null, out: r.stdout.trim() }, `${ms} ms, exit ${r.status} ${r.signal}: ${r.stderr}`).toEqual({ prompt: true, timedOut: false, out: 'lock-lost' });
  }, 30_000);
});

// ==================================================================================================================
// the shipped gateway wrapper, run directly (dash) on a local tree, as launchd runs it: port-offset variants
// ==================================================================================================================
describe('bin/gateway-run: the port-offset file read by the shell', () => {
  const example: DesiredState = buildDesired(readTreeSync(EXAMPLE));
  let root: string;
  let etc: string;
  let varDb: string;
  let out: string;
  let fake: string;
  const script = (): string => join(etc, 'tenants', 'acme', 'bin', 'gateway-run');
  const po = (): string => join(varDb, 'clawops', 'port-offset');

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'clawops-wrapper-attack3-'));
    etc = join(root, 'etc');
    varDb = join(root, 'var');
    layRelease(etc, example, 'acme');
    mkdirSync(join(varDb, 'secrets', 'acme'), { recursive: true, mode: 0o700 });
    for (const [n, v] of [['token.current', 'tok_current_value_123456'], ['hooks.token', 'hk_hooks_value_123456']] as const) {
      writeFileSync(join(varDb, 'secrets', 'acme', n), `${v}\n`);
      chmodSync(join(varDb, 'secrets', 'acme', n), 0o600);
    }
    mkdirSync(join(varDb, 'clawops'), { recursive: true });
    out = join(root, 'out');
    mkdirSync(out);
    fake = join(root, 'openclaw-fake');
    writeFileSync(fake, '#!/bin/sh\nprintf "%s\\n" "$@" > "$FAKE_OUT/argv"\nexit 0\n', { mode: 0o755 });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const run = (): { code: number | null; stderr: string; ms: number; timedOut: boolean } => {
    const t0 = Date.now();
    const r = spawnSync(DASH, [script(), 'acme', etc, varDb], {
      env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', HOME: root, CLAWOPS_OPENCLAW: fake, CLAWOPS_OPENCLAW_CLI: fake, FAKE_OUT: out },
      encoding: 'utf8',
      timeout: 10_000,
      killSignal: 'SIGKILL',
    });
    return { code: r.status, stderr: r.stderr, ms: Date.now() - t0, timedOut: r.error !== undefined || r.signal !== null };
  };
  const argv = (): string[] => (existsSync(join(out, 'argv')) ? readFileSync(join(out, 'argv'), 'utf8').trim().split('\n') : []);
  /** the base port the wrapper reads from its release's openclaw.json */
  const base = (): number => {
    const m = /^ {4}"port": (\d+),?$/m.exec(readFileSync(join(etc, 'tenants', 'acme', 'openclaw.json'), 'utf8'));
    return m ? Number(m[1]) : 18789;
  };

  it('5. clawops/port-offset a sparse 8 GiB regular file (no newline): the wrapper never blocks reading it, the gateway starts', () => {
    expect(spawnSync('truncate', ['-s', '8G', po()]).status).toBe(0);
    const r = run();
    expect({ prompt: r.ms < 5000, timedOut: r.timedOut, started: argv().includes('gateway') }, `${r.ms} ms: ${r.stderr}`).toEqual({ prompt: true, timedOut: false, started: true });
  }, 30_000);

  it('5. clawops/port-offset a decimal number with a leading zero ("08", hand-written): the gateway starts, on base + 8', () => {
    writeFileSync(po(), '08\n');
    const r = run();
    expect({ code: r.code, argv: argv() }, r.stderr).toEqual({ code: 0, argv: ['--profile', 'acme', 'gateway', 'run', '--port', String(base() + 8)] });
  });

  it('5. clawops/port-offset "100" with no trailing newline (written by hand with printf): the gateway starts on base + 100', () => {
    writeFileSync(po(), '100');
    const r = run();
    expect({ code: r.code, argv: argv() }, r.stderr).toEqual({ code: 0, argv: ['--profile', 'acme', 'gateway', 'run', '--port', String(base() + 100)] });
  });

  it('5. clawops/port-offset "0100" (a decimal with a leading zero): the port is base + 100, not base + 64 (octal)', () => {
    writeFileSync(po(), '0100\n');
    const r = run();
    expect({ code: r.code, argv: argv() }, r.stderr).toEqual({ code: 0, argv: ['--profile', 'acme', 'gateway', 'run', '--port', String(base() + 100)] });
  });
});

// ==================================================================================================================
// a one-node fleet: whole applies
// ==================================================================================================================
const ready = fleetAvailable().ok && openclawCache() !== undefined;
const ASSIGN = { 'gw-1': { role: 'gateway' as const, canary: true, tenants: ['acme', 'globex', 'initech'] } };
const TENANTS = ['acme', 'globex', 'initech'];

describe.skipIf(!ready)('apply on a fleet node: legitimate flows after the staging hardening', () => {
  let fleet: Fleet;
  let gw: FleetNodeHandle;
  let repo: string;
  let desired: DesiredState;
  const key = (): string => fleet.clientKeyPath;
  const apply = (...args: string[]): ReturnType<typeof applyJson> => applyJson(repo, key(), ...args);
  const commit = (edits: Record<string, string | null>, msg = 'change'): void => {
    commitEdits(repo, edits, msg);
    desired = desiredOf(repo);
  };
  const idOf = (t: string): string => desired.tenants.get(t)!.releaseId;
  const sh = async (cmd: string): Promise<string> => {
    const r = await gw.exec(cmd);
    expect(r.code, `${cmd}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const rel = (...p: string[]): string => join(gw.etcOpenclaw, 'releases', ...p);
  const shortTimeout = (): Record<string, string> => ({ 'clawops.yaml': readFileSync(join(repo, 'clawops.yaml'), 'utf8').replace(/command_timeout_ms: \d+/, 'command_timeout_ms: 5000') });
  const only = (r: { results: NodeApplyResult[] }): NodeApplyResult => r.results.find((x) => x.node === 'gw-1')!;
  const releaseDiff = (t: string): { extra: string[]; links: string[]; wrong: string[]; missing: string[] } => {
    const d = desired.tenants.get(t)!;
    const got = walk(rel(t, d.releaseId));
    const want = new Map(d.files.map((f) => [f.path, f.content]));
    const res = { extra: [] as string[], links: [] as string[], wrong: [] as string[], missing: [] as string[] };
    for (const [p, e] of got) {
      if (e.kind === 'link') res.links.push(p);
      if (e.kind === 'dir' || p === MANIFEST_PATH || p === 'openclaw.json.last-good') continue;
      if (!want.has(p)) res.extra.push(p);
      else if (e.kind === 'file' && !readFileSync(rel(t, d.releaseId, p)).equals(want.get(p)!)) res.wrong.push(p);
    }
    for (const p of want.keys()) if (!got.has(p)) res.missing.push(p);
    return res;
  };

  const one = useOneNodeFleet();
  beforeAll(() => {
    fleet = one.fleet;
    gw = one.gw;
  });
  beforeEach(async () => {
    if (!gw.running()) await gw.start();
    await sh('chmod -R u+w /etc/openclaw /var/db/openclaw /home/clawops 2>/dev/null; rm -rf /etc/openclaw/* /etc/openclaw/.[!.]* /var/db/openclaw/clawops /var/db/openclaw/logs /var/db/openclaw/secrets/* /home/clawops/important*; mkdir -p /var/db/openclaw/clawops; true');
    await seedSecrets(gw, TENANTS);
    repo = fleetRepo(fleet, NO_UNITS, ASSIGN);
    desired = desiredOf(repo);
    placeAll(fleet, desired);
  });

  it('4+2. the current release holds two byte-identical fragments as one file with two names (deduplicated by a tool like hardlink(1); still a complete release): the next apply\'s pre-fill does not make the staging dir refuse itself, the apply converges', async () => {
    const same = 'logging:\n  level: info\n';
    commit({ 'tenants/acme/gateway.d/30-a.yaml': same, 'tenants/acme/gateway.d/31-b.yaml': same }, 'acme: two identical fragments');
    const first = await apply();
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const cur = idOf('acme');
    // dedup: one inode, two names; bytes unchanged, the release still complete (BEGIN says have)
    await sh(`cd /etc/openclaw/releases/acme/${cur}/gateway.d && ln -f 30-a.yaml 31-b.yaml`);
    commit(acmeLevel('warn'), 'acme warn (30-a and 31-b unchanged: pre-filled)');
    const r = await apply();
    const g = r.json ? only(r.json) : undefined;
    const again = r.code === 0 ? undefined : await apply();
    expect({ code: r.code, retry: again?.code }, `${g?.reason}: ${g?.message}\nretry: ${again?.stdout}`).toEqual({ code: 0, retry: undefined });
    expect(releaseDiff('acme')).toEqual({ extra: [], links: [], wrong: [], missing: [] });
  }, 120_000);

  it('1+2. clawops/port-offset a sparse 8 GiB regular file (no newline) before an apply: BEGIN never hangs reading it, the apply converges (the file rewritten)', async () => {
    commit({ ...shortTimeout(), ...acmeLevel('warn') }, 'short timeout, acme warn');
    await sh('truncate -s 8G /var/db/openclaw/clawops/port-offset');
    try {
      const t0 = Date.now();
      const res = await applyAfter({ repo, identity: key(), nodes: ['gw-1'] }, async () => undefined, {});
      const took = Date.now() - t0;
      const g = only(res);
      expect({ prompt: took < 10_000, outcome: g.outcome }, `${took} ms: ${g.step}: ${g.reason}: ${g.message}`).toEqual({ prompt: true, outcome: 'applied' });
      expect((await sh(`readlink /etc/openclaw/tenants/acme`)).trim()).toBe(`../releases/acme/${idOf('acme')}`);
    } finally {
      // a shell left reading the file on the node is let go
      await gw.stop();
      await gw.start();
    }
  }, 120_000);
});
