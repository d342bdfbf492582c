/**
 * Adversarial run (printing, fourth round): node strings that reach clawops' output through today's new paths —
 * the dead-man guard's DeadManRollback `detail` (launchctl's words) written into reload.log, FINISH's `kept` /
 * `records-lost` lines in RecordFailed, PROMOTE's `bad` lines (names of odd entries planted in a staging dir),
 * observe's `leftover scratch` names, diff's UnrecordedSwap messages from intent records, a guard's tenant names.
 * New character classes against them: U+2028/U+2029, C1 in its UTF-8 form, bytes that are not UTF-8.
 * Part A runs the node scripts on a local tree (the machine's sh, a fake launchctl first on PATH); part B runs the CLI
 * against a one-node fleet. A failing test is a defect found; none is skipped.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FINISH_SCRIPT, UNLOCK_SCRIPT } from '../../reconciler/apply/remote-scripts.js';
import { GUARD_BODY } from '../../reconciler/apply/services-sh.js';
import { keptNote } from '../../reconciler/apply/records.js';
import { escapeInline } from '../../reconciler/safe-text.js';
import { JOURNAL_FORMS } from '../../reconciler/journal-forms.js';
import { chownToNodeUser } from '../fleet/fleet.js';
import { acmeLevel, CLEAN_NODE } from '../helpers/fleet-cli.js';
import { fleetReady, useHostileNode } from '../helpers/hostile-node.js';
import { runCli, type CliRun } from '../helpers/repo.js';

/** what no printed text (nor reload.log line) may hold raw: C0 but LF/TAB, DEL, C1, U+2028/2029 */
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/;
/** the same, for one-line text (LF and TAB too) */
const RAW_INLINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const show = (s: string): string => JSON.stringify(s);

// ===================================================================================================================
// A. node scripts on a local tree
// ===================================================================================================================
const V1 = '1111111111111111';
const V2 = '2222222222222222';
const RUN = 'r20261130-print4';

describe('A. the dead-man guard\'s DeadManRollback detail and FINISH\'s kept lines, on a local node tree', () => {
  let root: string;
  const etc = (): string => join(root, 'etc');
  const varDb = (): string => join(root, 'var');
  const dir = (): string => join(varDb(), 'clawops');
  const logFile = (): string => join(dir(), 'reload.log');
  const bin = (): string => join(root, 'bin');
  const logBytes = (): Buffer => (existsSync(logFile()) && statSync(logFile()).isFile() ? readFileSync(logFile()) : Buffer.alloc(0));

  /** a launchctl whose `print` answers `state = STATE` and `last exit code = EXIT` (raw bytes), runs growing, no pid */
  const fakeLaunchctl = (state: Buffer, exit: Buffer): void => {
    writeFileSync(join(root, 'lc-state'), state);
    writeFileSync(join(root, 'lc-exit'), exit);
    writeFileSync(
      join(bin(), 'launchctl'),
      `#!/bin/sh\nS="${root}"\ncase "$1" in\n  print)\n    n=$(cat "$S/lc-runs" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$S/lc-runs"\n    printf '%s = {\\n' "$2"; printf '\\tstate = '; cat "$S/lc-state"; printf '\\n\\truns = %s\\n\\tlast exit code = ' "$n"; cat "$S/lc-exit"; printf '\\n}\\n'; exit 0 ;;\n  *) exit 0 ;;\nesac\n`,
    );
    chmodSync(join(bin(), 'launchctl'), 0o755);
  };
  /** acme swapped V1 → V2, its guard due at once: it puts V1 back, reloads it (launchctl says it exited at start) */
  const fireGuard = (): { code: number | null; stderr: string } => {
    symlinkSync(`../releases/acme/${V2}`, join(etc(), 'tenants', 'acme'));
    writeFileSync(join(dir(), `guard.${RUN}`), `deadline\t1\nacme\t${V2}\t${V1}\t-\n`);
    writeFileSync(join(root, 'guard.sh'), GUARD_BODY);
    const r = spawnSync('sh', [join(root, 'guard.sh'), etc(), varDb(), join(root, 'LaunchDaemons'), RUN, '0'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PATH: `${bin()}:${process.env.PATH ?? ''}` } });
    return { code: r.status, stderr: r.stderr };
  };
  const deadManLines = (b: Buffer): string[] => b.toString('latin1').split('\n').filter((l) => l.includes('"action":"DeadManRollback"'));

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'clawops-print4-'));
    mkdirSync(join(etc(), 'tenants'), { recursive: true });
    for (const id of [V1, V2]) {
      mkdirSync(join(etc(), 'releases/acme', id, 'launchd'), { recursive: true });
      writeFileSync(join(etc(), 'releases/acme', id, 'launchd', 'ai.openclaw.acme.plist'), `<plist>${id}</plist>\n`);
    }
    mkdirSync(dir(), { recursive: true });
    mkdirSync(join(root, 'LaunchDaemons'), { recursive: true });
    mkdirSync(bin(), { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('A1. launchctl\'s words holding C1 in UTF-8 (U+009B CSI, U+0085 NEL) and U+2028/U+2029: the DeadManRollback line the guard writes into reload.log carries none of them raw', () => {
    fakeLaunchctl(Buffer.from('waiting\u009b2J\u0085x\u2028forged', 'utf8'), Buffer.from('78\u2029\u009b31m', 'utf8'));
    const g = fireGuard();
    expect(g.code, g.stderr).toBe(0);
    const lines = deadManLines(logBytes());
    expect(lines, logBytes().toString('latin1')).toHaveLength(1);
    const text = logBytes().toString('utf8');
    expect(text, show(text)).not.toMatch(RAW);
  }, 60_000);

  it('A2. launchctl\'s words holding bytes that are not UTF-8 (0xFF, a lone 0x9B): the guard\'s reload.log line is still UTF-8', () => {
    fakeLaunchctl(Buffer.from([0x77, 0x9b, 0x32, 0x4a, 0xff, 0x78]), Buffer.from('1', 'utf8'));
    const g = fireGuard();
    expect(g.code, g.stderr).toBe(0);
    const b = logBytes();
    expect(deadManLines(b)).toHaveLength(1);
    // (valid UTF-8 round-trips byte for byte)
    expect(Buffer.from(b.toString('utf8'), 'utf8').equals(b), b.toString('latin1')).toBe(true);
  }, 60_000);

  it('A3. launchctl\'s words holding ESC, BEL, CR, a tab, quotes and backslashes: one DeadManRollback line in clawops\' exact form, nothing raw', () => {
    fakeLaunchctl(Buffer.from('\u001b]0;pwned\u0007\u001b[2J\r"x"\\y\tz', 'utf8'), Buffer.from('"\\\u001b[31m', 'utf8'));
    const g = fireGuard();
    expect(g.code, g.stderr).toBe(0);
    const lines = deadManLines(logBytes());
    expect(lines).toHaveLength(1);
    expect(lines[0]!, show(lines[0]!)).not.toMatch(RAW_INLINE);
    expect(lines[0]!).toMatch(new RegExp(JOURNAL_FORMS.deadMan));
    expect(JSON.parse(lines[0]!)).toMatchObject({ action: 'DeadManRollback', tenant: 'acme', release_id: V1, prev_release_id: V2, run: RUN });
  }, 60_000);

  it('A4. the log unwritable when the guard fires and launchctl\'s words hold a C1 (UTF-8): its record waits in intent.RUN.g…, and once the log is back the next settle records it, escaped (never dropped)', () => {
    mkdirSync(logFile());
    fakeLaunchctl(Buffer.from('waiting\u009b2J', 'utf8'), Buffer.from('1', 'utf8'));
    const g = fireGuard();
    expect(g.code, g.stderr).toBe(0);
    const kept = readdirSync(dir()).filter((f) => f.startsWith(`intent.${RUN}.g`));
    expect(kept, 'the record waits in a file of its own').toHaveLength(1);
    rmSync(logFile(), { recursive: true });
    const u = spawnSync('sh', ['-c', UNLOCK_SCRIPT, 'clawops', etc(), varDb(), RUN], { encoding: 'utf8' });
    const lines = deadManLines(logBytes());
    expect({ recorded: lines.length, stillWaiting: readdirSync(dir()).filter((f) => f.startsWith(`intent.${RUN}.g`)).length }, `UNLOCK: ${u.stdout}`).toEqual({ recorded: 1, stillWaiting: 0 });
    expect(logBytes().toString('utf8')).not.toMatch(RAW);
  }, 60_000);

  it('A5. FINISH with reload.log a directory, intent files planted under unsafe names and as a link, and the J records unkeepable: `kept` names only clawops\' safe files and RecordFailed\'s note is clean', () => {
    symlinkSync(`../releases/acme/${V2}`, join(etc(), 'tenants', 'acme'));
    mkdirSync(logFile());
    const rec = `{"time":"2026-11-30T10:00:00.000Z","action":"apply","node":"gw-1","tenant":"acme","release_id":"${V2}","prev_release_id":"${V1}","actor":"t","run":"${RUN}"}`;
    writeFileSync(join(dir(), `intent.${RUN}`), `${rec}\n`);
    // planted: names outside the safe set, and a link to a user file, all under the run's intent prefix
    writeFileSync(join(dir(), `intent.${RUN}.\u001b]0;pwned\u0007`), `${rec}\n`);
    writeFileSync(join(dir(), `intent.${RUN}.x\u2028y`), `${rec}\n`);
    writeFileSync(join(root, 'user.txt'), 'USERDATA\n');
    symlinkSync(join(root, 'user.txt'), join(dir(), `intent.${RUN}.lnk`));
    const r = spawnSync('sh', ['-c', FINISH_SCRIPT, 'clawops', etc(), varDb(), RUN, '3'], { input: `P\tacme\nJ\t${rec.replace('"apply"', '"rollback"')}\n`, encoding: 'utf8' });
    const fin = r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t'));
    expect(fin.some((x) => x[0] === 'record-failed'), r.stdout).toBe(true);
    const kept = fin.filter((x) => x[0] === 'kept').map((x) => x[1]);
    expect(kept, r.stdout).toEqual([`intent.${RUN}`]);
    const note = keptNote(fin);
    const why = fin.find((x) => x[0] === 'record-failed')![1] ?? '';
    expect(`${why}; ${note}`, show(note)).not.toMatch(RAW_INLINE);
    expect(readFileSync(join(root, 'user.txt'), 'utf8')).toBe('USERDATA\n');
  });
});

// ===================================================================================================================
// B. the CLI against a one-node fleet
// ===================================================================================================================
const ready = fleetReady();

describe.skipIf(!ready)('B. what apply and diff print on a fleet node', () => {
  const h = useHostileNode({ tenants: ['acme', 'globex'], reset: CLEAN_NODE });
  const { key, idOf, diff, commit } = h;
  const apply = (...args: string[]): Promise<CliRun> => runCli(['apply', '--repo', h.repo, '--identity', key(), '--yes', '--node', 'gw-1', ...args]);
  const C = (): string => join(h.gw.varDbOpenclaw, 'clawops');

  /** run `f` with CLAWOPS_PROGRESS set to `mode` */
  const withProgress = async <T>(mode: 'text' | 'json', f: () => Promise<T>): Promise<T> => {
    const old = process.env.CLAWOPS_PROGRESS;
    process.env.CLAWOPS_PROGRESS = mode;
    try {
      return await f();
    } finally {
      if (old === undefined) delete process.env.CLAWOPS_PROGRESS;
      else process.env.CLAWOPS_PROGRESS = old;
    }
  };
  /**
   * `f` while a watcher plants `name` (a symlink to /etc/hostname) in acme's staging dir of the new release the
   * moment the run makes it (BEGIN's pre-fill or STAGE); PROMOTE then finds it among the staged files
   */
  const planting = async <T>(name: string, f: () => Promise<T>): Promise<{ out: T; planted: boolean }> => {
    const relDir = join(h.gw.etcOpenclaw, 'releases', 'acme');
    let planted = false;
    const tryPlant = (): void => {
      if (planted) return;
      for (const n of readdirSync(relDir)) {
        if (!n.startsWith(`${idOf('acme')}.tmp-`)) continue;
        const s = join(relDir, n);
        try {
          if (!lstatSync(s).isDirectory()) continue;
          symlinkSync('/etc/hostname', join(s, name));
          planted = true;
        } catch {
          /* not there yet */
        }
      }
    };
    const w: FSWatcher = watch(relDir, () => tryPlant());
    const poll = setInterval(tryPlant, 2);
    try {
      const out = await f();
      return { out, planted };
    } finally {
      w.close();
      clearInterval(poll);
    }
  };

  beforeEach(() => {
    mkdirSync(C(), { recursive: true });
    chownToNodeUser(C());
  });

  it('B1. a link planted in the staging dir under a name holding U+2028/U+2029: apply\'s text summary and TTY progress lines name it without the raw separators', async () => {
    commit(acmeLevel('warn'), 'acme warn');
    const { out: a, planted } = await withProgress('text', () => planting('x\u2028  gw-2             applied    all good\u2029y.yaml', () => apply()));
    expect(planted).toBe(true);
    expect(a.stdout, a.stdout).toContain('staged files do not match what was sent');
    const all = a.stdout + a.stderr;
    expect(all, show(all.split('\n').filter((l) => RAW_INLINE.test(l)).join('\n'))).not.toMatch(RAW);
  }, 120_000);

  it('B2. the same plant with a name holding C1 (U+009B) and U+2028, `apply --json` with JSON progress: stdout (safeJson) and the pino progress lines on stderr carry nothing raw', async () => {
    commit(acmeLevel('warn'), 'acme warn');
    const { out: a, planted } = await withProgress('json', () => planting('c1\u009b2J\u2028z.yaml', () => apply('--json')));
    expect(planted).toBe(true);
    const j = JSON.parse(a.stdout) as { results: { reason?: string; message?: string }[] };
    expect(j.results[0]).toMatchObject({ reason: 'StageFailed' });
    expect(a.stdout, 'stdout').not.toMatch(RAW);
    const bad = a.stderr.split('\n').filter((l) => RAW_INLINE.test(l));
    expect(bad, show(bad.join('\n'))).toEqual([]);
  }, 120_000);

  it('B3. reload.log a symlink (to a name holding escapes): RecordFailed names only clawops\' paths and FINISH\'s `kept` file, nothing raw in text or --json', async () => {
    commit(acmeLevel('warn'), 'acme warn');
    symlinkSync(`/home/clawops/\u001b]0;pwned\u0007log\u2028x`, join(C(), 'reload.log'));
    const a = await withProgress('text', () => apply());
    expect(a.stdout).toMatch(/could not write the reload log/);
    expect(a.stdout).toMatch(/stays in intent\.[0-9a-z-]+ on the node/);
    expect(a.stdout + a.stderr, show(a.stdout)).not.toMatch(RAW);
    // the next apply, the log still a link: the earlier swap cannot be recorded (refused at the lock), one clean line
    const b = await apply('--json');
    expect(b.stdout, 'json').not.toMatch(RAW);
    expect(b.stdout).toMatch(/RecordFailed/);
  }, 120_000);

  it('B4. scratch files under names outside the safe set (ESC, U+2028, C1, a newline) beside a safe one: diff names only the safe one as left by a dead run, nothing raw', async () => {
    for (const n of ['node.lock.new.ok-run', 'node.lock.new.\u001b[2Jx', 'node.lock.stale.a\u2028b', '.intent.\u009b31m.tmp', 'want.x\ny', 'node.lock.release.\u2029']) writeFileSync(join(C(), n), 'x\n');
    chownToNodeUser(C());
    for (const d of [await diff(), await diff('--json')]) {
      expect(d.stdout + d.stderr, show(d.stdout)).not.toMatch(RAW);
      expect(d.stdout).toContain('node.lock.new.ok-run');
      expect(d.stdout).not.toMatch(/node\.lock\.stale|\.intent\.|want\.x/);
    }
  }, 60_000);

  it('B5. an intent with JSON-escaped controls in its free strings (node, actor, tag) and a DeadManRollback record: diff\'s UnrecordedSwap messages and the recovering apply print nothing raw; reload.log gets the lines still escaped', async () => {
    const cur = idOf('acme');
    const dead = '20200101t000000-dead04';
    const lines = [
      `{"time":"2020-01-01T00:00:00.000Z","action":"apply","node":"gw\\u001b[2J\\u2028","tenant":"acme","release_id":"${cur}","prev_release_id":"0123456789abcdef","tag":"v\\u009b31m","actor":"m\\u0007\\r\\n  gw-2 applied","run":"${dead}"}`,
      `{"time":"2020-01-01T00:00:09Z","action":"DeadManRollback","tenant":"globex","release_id":"${idOf('globex')}","prev_release_id":"fedcba9876543210","run":"${dead}","detail":" ai.openclaw.globex FAILED: state = \\u2028 \u00e9"}`,
    ];
    writeFileSync(join(C(), `intent.${dead}`), `${lines.join('\n')}\n`);
    chownToNodeUser(C());
    const d = await diff();
    expect(d.stdout).toMatch(/UnrecordedSwap|without recording it/);
    const dj = await diff('--json');
    for (const o of [d, dj]) expect(o.stdout + o.stderr, show(o.stdout)).not.toMatch(RAW);
    const a = await withProgress('text', () => apply());
    expect(a.stdout + a.stderr, show(a.stdout + a.stderr)).not.toMatch(RAW);
    const log = existsSync(join(C(), 'reload.log')) ? readFileSync(join(C(), 'reload.log'), 'utf8') : '';
    expect(log.split('\n').filter(Boolean).length, log).toBeGreaterThanOrEqual(1);
    expect(log, show(log)).not.toMatch(RAW);
  }, 120_000);

  it('B6. a pending guard file naming a tenant with U+2028 and U+0085 (UTF-8): diff\'s PendingGuard line names it without the raw characters (text and --json)', async () => {
    writeFileSync(join(C(), `guard.20200101t000000-dead06`), `deadline\t${Math.floor(Date.now() / 1000) + 600}\nac\u2028  gw-2  applied\u0085me\tdeadbeef\t-\t-\n`);
    chownToNodeUser(C());
    const d = await diff();
    expect(d.stdout).toContain('dead-man guard of run 20200101t000000-dead06');
    const dj = await diff('--json');
    for (const o of [d, dj]) expect(o.stdout + o.stderr, show(o.stdout.split('\n').filter((l) => RAW_INLINE.test(l)).join('\n'))).not.toMatch(RAW);
  }, 60_000);
});
