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
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BEGIN_SCRIPT, PROMOTE_SCRIPT } from '../../reconciler/apply/remote-scripts.js';
import { acmeLevel } from '../helpers/fleet-cli.js';
import { DASH, fleetReady, only, useHostileNode, useWrapperTree } from '../helpers/hostile-node.js';
import { applyAfter } from '../helpers/node-state.js';

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
  const w = useWrapperTree('clawops-wrapper-attack3-', '#!/bin/sh\nprintf "%s\\n" "$@" > "$FAKE_OUT/argv"\nexit 0\n');
  const po = (): string => join(w.varDb, 'clawops', 'port-offset');

  const run = (): { code: number | null; stderr: string; ms: number; timedOut: boolean } => {
    const t0 = Date.now();
    const r = spawnSync(DASH, [w.script(), 'acme', w.etc, w.varDb], {
      env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', HOME: w.root, CLAWOPS_OPENCLAW: w.fake, CLAWOPS_OPENCLAW_CLI: w.fake, FAKE_OUT: w.out },
      encoding: 'utf8',
      timeout: 10_000,
      killSignal: 'SIGKILL',
    });
    return { code: r.status, stderr: r.stderr, ms: Date.now() - t0, timedOut: r.error !== undefined || r.signal !== null };
  };
  const argv = (): string[] => (existsSync(join(w.out, 'argv')) ? readFileSync(join(w.out, 'argv'), 'utf8').trim().split('\n') : []);
  /** the base port the wrapper reads from its release's openclaw.json */
  const base = (): number => {
    const m = /^ {4}"port": (\d+),?$/m.exec(readFileSync(join(w.etc, 'tenants', 'acme', 'openclaw.json'), 'utf8'));
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
const ready = fleetReady();

describe.skipIf(!ready)('apply on a fleet node: legitimate flows after the staging hardening', () => {
  const h = useHostileNode({ tenants: ['acme', 'globex', 'initech'] });
  const { key, apply, commit, idOf, sh, shortTimeout, releaseDiff } = h;

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
      const res = await applyAfter({ repo: h.repo, identity: key(), nodes: ['gw-1'] }, async () => undefined, {});
      const took = Date.now() - t0;
      const g = only(res);
      expect({ prompt: took < 10_000, outcome: g.outcome }, `${took} ms: ${g.step}: ${g.reason}: ${g.message}`).toEqual({ prompt: true, outcome: 'applied' });
      expect((await sh(`readlink /etc/openclaw/tenants/acme`)).trim()).toBe(`../releases/acme/${idOf('acme')}`);
    } finally {
      // a shell left reading the file on the node is let go
      await h.gw.stop();
      await h.gw.start();
    }
  }, 120_000);
});
