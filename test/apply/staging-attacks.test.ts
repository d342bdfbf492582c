/**
 * Adversarial run (2026-11-29, evening) against today's staging change (STAGE: one tar extracted inside the staging
 * dir the node's shell enters with enter_staging; BEGIN's pre-fill through the same), the intent's O_EXCL temp, and
 * the shipped gateway wrapper's run record. One test per variant, each asserting the promise:
 *   1. nothing outside clawops' tree created, changed, removed or followed;
 *   2. a refusal names the path in one line, exits non-zero, leaves nothing half-written, never hangs;
 *   3. the staged release is byte-identical to the desired one, and the next apply converges;
 *   4. the wrapper never writes or reads through a link for its run record or secrets, never blocks, and still starts
 *      the gateway when the record cannot be written.
 * A failing test is a defect found (see the report of that run); none is skipped.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NodeApplyResult } from '../../reconciler/apply/apply-node.js';
import { tarOf } from '../../reconciler/apply/remote.js';
import { STAGE_SCRIPT } from '../../reconciler/apply/remote-scripts.js';
import { MANIFEST_PATH } from '../../reconciler/release-manifest.js';
import { chownToNodeUser } from '../fleet/fleet.js';
import { acmeLevel, extraLevel } from '../helpers/fleet-cli.js';
import { DASH, fleetReady, only, useHostileNode, useWrapperTree, walkTree as walk } from '../helpers/hostile-node.js';
import { applyAfter, treeSnapshot } from '../helpers/node-state.js';
import { runCli } from '../helpers/repo.js';

// ==================================================================================================================
// STAGE on a local tree, the machine's sh and GNU tar (fast: name and format variants)
// ==================================================================================================================
describe('STAGE on a local tree: odd names, planted things at and under the staging dir', () => {
  const ID = 'abcdef0123456789';
  const RUN = 'r20261129-attack';
  let root: string;
  const etc = (): string => join(root, 'etc');
  const staging = (): string => join(etc(), 'releases/acme', `${ID}.tmp-${RUN}`);
  /** prefilled: BEGIN's pre-fill made the staging dir (STAGE then extracts into it, else it refuses anything there) */
  const stage = async (files: { path: string; content: Buffer }[], prefilled = false): Promise<{ code: number | null; stderr: string; ms: number; signal: NodeJS.Signals | null }> => {
    const input = await tarOf(files);
    const t0 = Date.now();
    const r = spawnSync('sh', ['-c', STAGE_SCRIPT, 'clawops', etc(), RUN, 'acme', ID, prefilled ? '1' : '0'], { input, encoding: 'utf8', timeout: 10_000 });
    return { code: r.status, stderr: r.stderr, ms: Date.now() - t0, signal: r.signal };
  };
  const FILES = [
    { path: 'openclaw.json', content: Buffer.from('{"gateway":{"port":18789}}\n') },
    { path: MANIFEST_PATH, content: Buffer.from('{}\n') },
  ];

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'clawops-stage-attack-'));
    mkdirSync(join(root, 'user'));
    writeFileSync(join(root, 'user/keep.txt'), 'USERDATA\n');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('3. odd names (leading dashes, option-like, spaces, unicode, a 200-char component, a path > 255 chars, 40-deep nesting, tar-special names, empty files): every file lands byte for byte, mode 0644, nothing else staged, nothing outside the staging dir', async () => {
    const deep = `${Array.from({ length: 40 }, (_, i) => `d${i}`).join('/')}/leaf.yaml`;
    const files = [
      ...FILES,
      { path: '-rf', content: Buffer.from('dash\n') },
      { path: '--checkpoint=1', content: Buffer.from('opt\n') },
      { path: '--to-command=touch PWNED', content: Buffer.from('opt2\n') },
      { path: 'a b/c  d.yaml', content: Buffer.from('spaces\n') },
      { path: 'ünïcødé/ファイル.yaml', content: Buffer.from('unicode\n') },
      { path: `gateway.d/${'x'.repeat(200)}.yaml`, content: Buffer.from('long component\n') },
      { path: `${'p'.repeat(120)}/${'q'.repeat(120)}/${'r'.repeat(60)}.yaml`, content: Buffer.from('long path\n') },
      { path: deep, content: Buffer.from('deep\n') },
      { path: '././@LongLink', content: Buffer.from('gnu-longlink-name\n') },
      { path: 'PaxHeaders.0/x', content: Buffer.from('pax-name\n') },
      { path: 'back\\slash', content: Buffer.from('bs\n') },
      { path: 'empty.yaml', content: Buffer.alloc(0) },
      { path: 'sub/empty2', content: Buffer.alloc(0) },
    ];
    const r = await stage(files);
    expect(r.code, r.stderr).toBe(0);
    const want = new Map(files.map((f) => [f.path.replace(/^\.\/\.\//, ''), f.content]));
    const got = walk(staging());
    const gotFiles = [...got].filter(([, v]) => v.kind !== 'dir').map(([k]) => k).sort();
    const bad: string[] = [];
    for (const [p, c] of want) {
      const e = got.get(p);
      if (!e || e.kind !== 'file' || e.mode !== 0o644 || !readFileSync(join(staging(), p)).equals(c)) bad.push(`${p}: ${e ? `${e.kind} ${e.mode.toString(8)}` : 'missing'}`);
    }
    expect({ bad, files: gotFiles }).toEqual({ bad: [], files: [...want.keys()].sort() });
    // nothing created outside the staging dir (PWNED, a stray dir…)
    expect(readdirSync(root).sort()).toEqual(['etc', 'user']);
    expect(readdirSync(join(etc(), 'releases/acme'))).toEqual([`${ID}.tmp-${RUN}`]);
    expect(readdirSync(join(root, 'user'))).toEqual(['keep.txt']);
  });

  it('1. a directory planted at the staging dir\'s name (its name node.lock tells) holding a symlinked subdir to a user dir: nothing is written behind the link', async () => {
    mkdirSync(staging(), { recursive: true });
    symlinkSync(join(root, 'user'), join(staging(), 'gateway.d'));
    const before = treeSnapshot(join(root, 'user'));
    const r = await stage([...FILES, { path: 'gateway.d/10-base.yaml', content: Buffer.from('gateway:\n  port: 1\n') }]);
    expect(treeSnapshot(join(root, 'user')), `STAGE exit ${r.code}: ${r.stderr}`).toEqual(before);
    // and the same taken for BEGIN's own pre-filled dir: the archive's directory entry replaces the link
    const r2 = await stage([...FILES, { path: 'gateway.d/10-base.yaml', content: Buffer.from('gateway:\n  port: 1\n') }], true);
    expect(treeSnapshot(join(root, 'user')), `STAGE exit ${r2.code}: ${r2.stderr}`).toEqual(before);
  });

  it('1. a hard link and a symlink to user files planted inside a pre-filled staging dir under names the archive holds: replaced, never written through', async () => {
    mkdirSync(join(staging(), '.clawops'), { recursive: true });
    writeFileSync(join(root, 'user/hard.txt'), 'USERDATA hard\n');
    linkSync(join(root, 'user/hard.txt'), join(staging(), 'openclaw.json'));
    symlinkSync(join(root, 'user/keep.txt'), join(staging(), MANIFEST_PATH));
    const before = treeSnapshot(join(root, 'user'));
    const r = await stage(FILES, true);
    expect(r.code, r.stderr).toBe(0);
    expect(treeSnapshot(join(root, 'user'))).toEqual(before);
    expect(readFileSync(join(staging(), 'openclaw.json')).equals(FILES[0]!.content)).toBe(true);
    expect(lstatSync(join(staging(), MANIFEST_PATH)).isFile()).toBe(true);
  });

  it('2. a FIFO planted at the staging dir\'s name: refused at once (exit 3), one line naming the path, the FIFO left alone', async () => {
    mkdirSync(join(etc(), 'releases/acme'), { recursive: true });
    expect(spawnSync('mkfifo', [staging()]).status).toBe(0);
    const r = await stage(FILES);
    expect({ code: r.code, signal: r.signal, prompt: r.ms < 5000 }).toEqual({ code: 3, signal: null, prompt: true });
    expect(r.stderr.trim().split('\n')).toEqual([`${staging()} is not a staging directory this run made (something is already there); nothing staged`]);
    expect(lstatSync(staging()).isFIFO()).toBe(true);
  });

  it('1. releases/ itself a symlink to a user dir: refused naming it, nothing created behind the link', async () => {
    mkdirSync(etc(), { recursive: true });
    symlinkSync(join(root, 'user'), join(etc(), 'releases'));
    const before = treeSnapshot(join(root, 'user'));
    const r = await stage(FILES);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${etc()}/releases is not a directory clawops made`);
    expect(treeSnapshot(join(root, 'user'))).toEqual(before);
  });
});

// ==================================================================================================================
// the shipped gateway wrapper, run directly (dash) on a local tree, as launchd runs it
// ==================================================================================================================
describe('bin/gateway-run: its run record and secrets never through links, never blocking', () => {
  const w = useWrapperTree('clawops-wrapper-attack-', '#!/bin/sh\nprintf "%s\\n" "$@" > "$FAKE_OUT/argv"\nprintf "%s" "${CLAWOPS_SECRET_HOOKS_TOKEN:-}" > "$FAKE_OUT/hooks"\nexit 0\n');
  const user = (...p: string[]): string => join(w.root, 'user', ...p);

  beforeEach(() => {
    mkdirSync(user());
    writeFileSync(user('keep.txt'), 'USERDATA\n');
  });

  /** sh gateway-run acme ETC VARDB, optionally prefixed by a shell snippet run in the same process first ($$ kept by exec) */
  const run = (pre = ''): { code: number | null; stderr: string; ms: number; timedOut: boolean } => {
    const t0 = Date.now();
    const r = spawnSync(DASH, ['-c', `${pre}\nexec ${DASH} "$0" "$@"`, w.script(), 'acme', w.etc, w.varDb], {
      env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', HOME: w.root, CLAWOPS_OPENCLAW: w.fake, CLAWOPS_OPENCLAW_CLI: w.fake, FAKE_OUT: w.out },
      encoding: 'utf8',
      timeout: 5000,
    });
    return { code: r.status, stderr: r.stderr, ms: Date.now() - t0, timedOut: r.error !== undefined || r.signal !== null };
  };
  const started = (): boolean => existsSync(join(w.out, 'argv'));
  /** a reader blocked opening a FIFO (a process the wrapper left behind) is let go: O_RDWR never blocks and is a writer */
  const unblock = (fifo: string): void => {
    spawnSync('sh', ['-c', 'exec 3<>"$1"; sleep 0.2', 'sh', fifo], { timeout: 3000 });
  };

  it('4. clawops/run/acme.json a symlink to a user dir: the run record (its temp) is never moved behind the link, and the gateway starts', () => {
    mkdirSync(join(w.varDb, 'clawops', 'run'));
    symlinkSync(user(), join(w.varDb, 'clawops', 'run', 'acme.json'));
    const before = treeSnapshot(user());
    const r = run();
    expect({ code: r.code, started: started() }, r.stderr).toEqual({ code: 0, started: true });
    expect(treeSnapshot(user())).toEqual(before);
  });

  it('4. clawops/port-offset a FIFO (planted after BEGIN, or met by a launchd restart): the wrapper never blocks, the gateway starts', () => {
    const fifo = join(w.varDb, 'clawops', 'port-offset');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    try {
      const r = run();
      expect({ prompt: r.ms < 4000, timedOut: r.timedOut, started: started() }, r.stderr).toEqual({ prompt: true, timedOut: false, started: true });
    } finally {
      unblock(fifo);
    }
  });

  it('4. clawops/run/acme.json a FIFO and the temp name acme.json.<pid> a FIFO: nothing blocks, the record replaces the FIFO, the gateway starts', () => {
    mkdirSync(join(w.varDb, 'clawops', 'run'));
    const rec = join(w.varDb, 'clawops', 'run', 'acme.json');
    expect(spawnSync('mkfifo', [rec]).status).toBe(0);
    try {
      const r = run(`mkfifo "${join(w.varDb, 'clawops', 'run')}/acme.json.$$"`);
      expect({ prompt: r.ms < 4000, timedOut: r.timedOut, started: started(), code: r.code }, r.stderr).toEqual({ prompt: true, timedOut: false, started: true, code: 0 });
      expect(lstatSync(rec).isFile()).toBe(true);
      expect(readdirSync(join(w.varDb, 'clawops', 'run'))).toEqual(['acme.json']);
    } finally {
      if (existsSync(rec) && lstatSync(rec).isFIFO()) unblock(rec);
    }
  });

  it('4. the temp name clawops/run/acme.json.<pid> a symlink to a user file (the pid known to whoever started it): never written through, the record written', () => {
    mkdirSync(join(w.varDb, 'clawops', 'run'));
    const before = treeSnapshot(user());
    const r = run(`ln -s "${user('keep.txt')}" "${join(w.varDb, 'clawops', 'run')}/acme.json.$$"`);
    expect({ code: r.code, started: started() }, r.stderr).toEqual({ code: 0, started: true });
    expect(treeSnapshot(user())).toEqual(before);
    expect(lstatSync(join(w.varDb, 'clawops', 'run', 'acme.json')).isFile()).toBe(true);
  });

  it('4. clawops/run a regular file (the record cannot be written): the gateway still starts, the file untouched', () => {
    writeFileSync(join(w.varDb, 'clawops', 'run'), 'USERDATA\n');
    const r = run();
    expect({ code: r.code, started: started(), prompt: r.ms < 4000 }, r.stderr).toEqual({ code: 0, started: true, prompt: true });
    expect(readFileSync(join(w.varDb, 'clawops', 'run'), 'utf8')).toBe('USERDATA\n');
  });

  it('4. VARDB/secrets itself a symlink (to a dir holding another tenant set\'s secrets): refused (exit 78, one line), no secret read through it', () => {
    // the link's target holds acme secrets that are NOT the node's own
    mkdirSync(user('secrets', 'acme'), { recursive: true, mode: 0o700 });
    for (const n of ['token.current', 'hooks.token']) {
      writeFileSync(user('secrets', 'acme', n), 'tok_FOREIGN_secret_value\n');
      chmodSync(user('secrets', 'acme', n), 0o600);
    }
    rmSync(join(w.varDb, 'secrets'), { recursive: true });
    symlinkSync(user('secrets'), join(w.varDb, 'secrets'));
    const r = run();
    const leaked = existsSync(join(w.out, 'hooks')) ? readFileSync(join(w.out, 'hooks'), 'utf8') : '';
    expect({ code: r.code, started: started(), leaked }, r.stderr).toEqual({ code: 78, started: false, leaked: '' });
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/secrets.*(symlink|link)/);
  });
});

// ==================================================================================================================
// a one-node fleet: whole applies, things planted mid-run once node.lock names the run
// ==================================================================================================================
const ready = fleetReady();

describe.skipIf(!ready)('apply on a fleet node: the staging dir attacked mid-run', () => {
  const h = useHostileNode({ tenants: ['acme', 'globex', 'initech'], userData: true });
  const { key, apply, commit, idOf, sh, important, rel, shortTimeout, stuck, releaseDiff } = h;

  /** apply acme's change with run id `run`, `plant(stagingDirOnHost)` called once the lock (and BEGIN's pre-fill) is done */
  const applyPlanting = (run: string, tenant: string, plant: (s: string) => void) => {
    let planted = false;
    return applyAfter({ repo: h.repo, identity: key(), nodes: ['gw-1'] }, async () => undefined, {
      run,
      onEvent: (e) => {
        if (!planted && e.step === 'lock' && e.state === 'done') {
          planted = true;
          plant(rel(tenant, `${idOf(tenant)}.tmp-${run}`));
        }
      },
    });
  };

  it('1. a subdir of the staging dir BEGIN pre-filled (gateway.d) swapped for a link to a user dir once node.lock names the run: nothing is written behind the link', async () => {
    commit(acmeLevel('warn'), 'acme warn');
    const run = `probe${Date.now().toString(16)}`;
    let before: string[] = [];
    let prefilled = false;
    const res = await applyPlanting(run, 'acme', (s) => {
      prefilled = existsSync(join(s, 'gateway.d', '10-base.yaml'));
      rmSync(join(s, 'gateway.d'), { recursive: true, force: true });
      symlinkSync('/home/clawops/important', join(s, 'gateway.d'));
      before = treeSnapshot(important());
    });
    expect(prefilled).toBe(true);
    expect(treeSnapshot(important()), JSON.stringify(only(res))).toEqual(before);
  }, 60_000);

  it('2. a file BEGIN pre-filled into the staging dir swapped for a FIFO mid-run: PROMOTE neither hangs nor leaves a process blocked on the node; a one-line refusal', async () => {
    commit({ ...shortTimeout(), ...acmeLevel('warn') }, 'short timeout, acme warn');
    const run = `probe${Date.now().toString(16)}`;
    let prefilled = false;
    try {
      const t0 = Date.now();
      const res = await applyPlanting(run, 'acme', (s) => {
        const f = join(s, 'doctor.d', '10-base.yaml');
        prefilled = existsSync(f);
        rmSync(f, { force: true });
        spawnSync('mkfifo', [f]);
        chownToNodeUser(f);
      });
      const took = Date.now() - t0;
      const g = only(res);
      expect(prefilled).toBe(true);
      const left = await stuck('sha256sum');
      expect({ prompt: took < 10_000, failed: g.outcome === 'failed', oneLine: !(g.message ?? '').includes('\n'), left }, `${took} ms: step ${g.step}: ${g.reason}: ${g.message}`).toEqual({ prompt: true, failed: true, oneLine: true, left: '0' });
    } finally {
      await h.gw.stop();
      await h.gw.start();
    }
  }, 120_000);

  it('3. a stray file and a link to a user copy with the right bytes planted in the pre-filled staging dir mid-run: the release put in place is exactly the desired one (no stray, no link), or none is', async () => {
    commit(acmeLevel('warn'), 'acme warn');
    const run = `probe${Date.now().toString(16)}`;
    let before: string[] = [];
    const res = await applyPlanting(run, 'acme', (s) => {
      const f = join(s, 'webhook.d', '10-base.yaml');
      writeFileSync(important('copy.yaml'), readFileSync(f));
      chownToNodeUser(important('copy.yaml'));
      rmSync(f);
      symlinkSync('/home/clawops/important/copy.yaml', f);
      writeFileSync(join(s, 'gateway.d', '90-planted.yaml'), 'logging:\n  level: trace\n');
      chownToNodeUser(s);
      before = treeSnapshot(important());
    });
    const g = only(res);
    const placed = existsSync(rel('acme', idOf('acme')));
    if (placed) expect(releaseDiff('acme'), `${g.outcome}: ${g.message}`).toEqual({ extra: [], links: [], wrong: [], missing: [] });
    else expect(g.outcome).toBe('failed');
    expect(treeSnapshot(important())).toEqual(before);
  }, 60_000);

  it('printing: a file planted in the pre-filled staging dir under a name with terminal escapes and a newline: StageFailed names it escaped, nothing raw reaches the output', async () => {
    commit(acmeLevel('info'), 'acme info');
    const run = `probe${Date.now().toString(16)}`;
    const res = await applyPlanting(run, 'acme', (s) => {
      // (a link: named by the check, where a stray regular file is only counted)
      symlinkSync('/etc/hostname', join(s, 'gateway.d', 'x\u001b]0;pwned\u0007\u001b[2Jy\nz.yaml'));
      chownToNodeUser(s);
    });
    const g = only(res);
    expect(g).toMatchObject({ outcome: 'failed', reason: 'StageFailed' });
    expect(g.message, g.message).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(g.message, g.message).toMatch(/staged files do not match what was sent: acme\/gateway\.d\/x/);
  }, 60_000);

  it('1. releases/<t> swapped mid-run for a link to a user dir holding a dir named <id>.tmp-<run>: STAGE refuses, and the cleanup (UNLOCK) removes nothing behind the link', async () => {
    await sh('rm -rf /etc/openclaw/tenants/initech /etc/openclaw/releases/initech/*');
    commit(extraLevel('initech', 'warn'), 'initech warn');
    const run = `probe${Date.now().toString(16)}`;
    const id = idOf('initech');
    let before: string[] = [];
    const res = await applyPlanting(run, 'initech', () => {
      rmSync(rel('initech'), { recursive: true, force: true });
      mkdirSync(important(`${id}.tmp-${run}`));
      writeFileSync(important(`${id}.tmp-${run}`, 'thesis.tex'), 'USERDATA\n');
      chownToNodeUser(important());
      symlinkSync('/home/clawops/important', rel('initech'));
      before = treeSnapshot(important());
    });
    const g = only(res);
    expect(g.outcome).toBe('failed');
    expect(g.message ?? '').toMatch(/releases\/initech/);
    expect(treeSnapshot(important()), `${g.reason}: ${g.message}`).toEqual(before);
  }, 60_000);

  it('2+3. a FIFO planted at the staging dir\'s name mid-run (a first deploy): refused at once in one line naming it, nothing left locked or blocked; the next apply names it and leaves the tenant alone, and converges once it is removed', async () => {
    await sh('rm -rf /etc/openclaw/tenants/initech /etc/openclaw/releases/initech/*');
    commit({ ...shortTimeout(), ...extraLevel('initech', 'warn') }, 'short timeout, initech warn');
    const run = `probe${Date.now().toString(16)}`;
    try {
      const t0 = Date.now();
      const res = await applyPlanting(run, 'initech', (s) => {
        spawnSync('mkfifo', [s]);
        chownToNodeUser(s);
      });
      const took = Date.now() - t0;
      const g = only(res);
      expect({ prompt: took < 10_000, reason: g.reason, lock: existsSync(join(h.gw.varDbOpenclaw, 'clawops', 'node.lock')) }, g.message).toEqual({ prompt: true, reason: 'StageFailed', lock: false });
      expect(g.message).not.toContain('\n');
      expect(g.message).toContain(`/etc/openclaw/releases/initech/${idOf('initech')}.tmp-${run}`);
      expect(existsSync(join(h.gw.etcOpenclaw, 'tenants', 'initech'))).toBe(false);
      // the FIFO is not clawops' (it is no staging dir): the next apply leaves initech alone, naming it
      const next = await apply();
      expect(next.json?.blocked, next.stdout).toEqual(['gw-1/initech']);
      const d = await runCli(['diff', '--repo', h.repo, '--identity', key()]);
      expect(d.stdout + d.stderr).toContain(`releases/initech/${idOf('initech')}.tmp-${run} is not a release clawops made (left alone)`);
      // once it is removed by hand, the apply converges
      await sh(`rm -f /etc/openclaw/releases/initech/${idOf('initech')}.tmp-${run}`);
      const again = await apply();
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(releaseDiff('initech')).toEqual({ extra: [], links: [], wrong: [], missing: [] });
    } finally {
      await h.gw.stop();
      await h.gw.start();
    }
  }, 120_000);

  it('2+3. a full disk (tmpfs under releases/<t>) mid-extract: StageFailed in one line naming the staging dir, no staging dir or link left, the lock released; with space again the next apply converges', async () => {
    await sh('rm -rf /etc/openclaw/tenants/initech /etc/openclaw/releases/initech/*');
    // a fragment bigger than the volume (a YAML comment)
    commit({ ...extraLevel('initech', 'warn'), 'tenants/initech/gateway.d/40-pad.yaml': `# ${'padding '.repeat(8192)}\nlogging:\n  level: warn\n` }, 'initech padded');
    const uid = spawnSync('id', ['-u', h.gw.user], { encoding: 'utf8' }).stdout.trim();
    const target = '/etc/openclaw/releases/initech';
    const m = spawnSync('nsenter', ['--target', String(h.gw.sshdPid()), '--mount', '--', 'mount', '-t', 'tmpfs', '-o', `size=16k,mode=755,uid=${uid},gid=${uid}`, 'tmpfs', target], { encoding: 'utf8' });
    expect(m.status, m.stderr).toBe(0);
    let g: NodeApplyResult;
    let left = '';
    try {
      const r = await apply();
      g = only(r.json!);
      left = (await h.gw.exec(`ls -A ${target}`)).stdout.trim();
    } finally {
      const u = spawnSync('nsenter', ['--target', String(h.gw.sshdPid()), '--mount', '--', 'umount', target], { encoding: 'utf8' });
      expect(u.status, u.stderr).toBe(0);
    }
    expect({ reason: g!.reason, step: g!.step, left, link: existsSync(join(h.gw.etcOpenclaw, 'tenants', 'initech')), lock: existsSync(join(h.gw.varDbOpenclaw, 'clawops', 'node.lock')) }, g!.message).toEqual({ reason: 'StageFailed', step: 'stage', left: '', link: false, lock: false });
    expect(g!.message).not.toContain('\n');
    expect(g!.message).toMatch(new RegExp(`releases/initech/${idOf('initech')}\\.tmp-`));
    const next = await apply();
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(releaseDiff('initech')).toEqual({ extra: [], links: [], wrong: [], missing: [] });
  }, 120_000);

  for (const [what, make] of [
    ['a FIFO', (p: string) => spawnSync('mkfifo', [p])],
    ['a directory', (p: string) => mkdirSync(p)],
  ] as const) {
    it(`2+3. the intent's temp clawops/.intent.<RUN>.tmp planted as ${what} mid-run: the O_EXCL write fails at once in one line naming it, nothing swapped, the lock released; the next apply converges`, async () => {
      commit({ ...shortTimeout(), ...acmeLevel('warn') }, 'short timeout, acme warn');
      const run = `probe${Date.now().toString(16)}`;
      const old = (await sh('readlink /etc/openclaw/tenants/acme')).trim();
      let planted = false;
      try {
        const t0 = Date.now();
        const res = await applyAfter({ repo: h.repo, identity: key(), nodes: ['gw-1'] }, async () => undefined, {
          run,
          onEvent: (e) => {
            if (!planted && e.step === 'lock' && e.state === 'done') {
              planted = true;
              const p = join(h.gw.varDbOpenclaw, 'clawops', `.intent.${run}.tmp`);
              make(p);
              chownToNodeUser(p);
            }
          },
        });
        const took = Date.now() - t0;
        const g = only(res);
        expect({ prompt: took < 10_000, failed: g.outcome === 'failed', oneLine: !(g.message ?? '').includes('\n'), named: (g.message ?? '').includes(`.intent.${run}.tmp`), lock: existsSync(join(h.gw.varDbOpenclaw, 'clawops', 'node.lock')) }, `${took} ms: ${g.step}: ${g.reason}: ${g.message}`).toEqual({ prompt: true, failed: true, oneLine: true, named: true, lock: false });
        expect((await sh('readlink /etc/openclaw/tenants/acme')).trim()).toBe(old);
        const next = await apply();
        expect(next.code, next.stdout + next.stderr).toBe(0);
        expect((await sh('readlink /etc/openclaw/tenants/acme')).trim()).toBe(`../releases/acme/${idOf('acme')}`);
      } finally {
        await h.gw.stop();
        await h.gw.start();
      }
    }, 120_000);
  }

  it('1. the CURRENT release\'s gateway.d a symlink to a user dir holding byte-identical copies: BEGIN\'s pre-fill never copies (reads) through it, those files are sent', async () => {
    const cur = idOf('acme');
    await sh(`cp -r /etc/openclaw/releases/acme/${cur}/gateway.d /home/clawops/important/gd && rm -rf /etc/openclaw/releases/acme/${cur}/gateway.d && ln -s /home/clawops/important/gd /etc/openclaw/releases/acme/${cur}/gateway.d`);
    commit(extraLevel('acme', 'warn'), 'acme warn (a new fragment: gateway.d/10-base.yaml and 20-overrides.yaml unchanged)');
    const res = await applyAfter({ repo: h.repo, identity: key(), nodes: ['gw-1'] }, async () => undefined, {});
    const g = only(res);
    const files = h.desired.tenants.get('acme')!.files;
    // at most every unchanged file outside gateway.d (openclaw.json and the new fragment changed)
    const bound = files.filter((f) => !f.path.startsWith('gateway.d/') && f.path !== 'openclaw.json').length;
    expect(g.reusedFiles, `${g.outcome}: ${g.message}`).toBeLessThanOrEqual(bound);
  }, 60_000);

  it('3. a fragment whose name is 250 chars (a path of 260, a pax header) in a release with the wrapper: staged byte for byte (regular files, 0644, bin/gateway-run runs under sh), and the next apply has it (unchanged)', async () => {
    h.placeRepo({});
    const long = `tenants/acme/gateway.d/30-${'a'.repeat(242)}.yaml`;
    commit({ [long]: 'logging:\n  level: warn\n' }, 'acme long name');
    expect(h.desired.tenants.get('acme')!.files.some((f) => f.path.length > 255)).toBe(true);
    const r = await apply();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(releaseDiff('acme')).toEqual({ extra: [], links: [], wrong: [], missing: [] });
    const modes = [...walk(rel('acme', idOf('acme')))].filter(([, e]) => e.kind === 'file' && e.mode !== 0o644).map(([p, e]) => `${p} ${e.mode.toString(8)}`);
    expect(modes).toEqual([]);
    expect(readdirSync(rel('acme')).filter((n) => n.includes('.tmp-'))).toEqual([]);
    const again = await apply();
    expect(again.code, again.stdout).toBe(0);
    // (in sync: nothing to apply, or an unchanged node)
    expect(again.json === undefined || again.json.results.every((x) => x.outcome === 'unchanged'), again.stdout).toBe(true);
  }, 120_000);
});
