/**
 * Adversarial tests of the swap journal (2026-11-29, second round): intent.<run>, its `done` marks, settle_intent
 * (remote-scripts.ts JOURNAL_SH), the undo's journalling (services-sh.ts UNDO_SH) and the dead-man guard (GUARD_BODY).
 * The promises under attack:
 *   1. every swap of tenants/<t> that happened ends up as exactly ONE record in reload.log;
 *   2. no record (nor diff's UnrecordedSwap) claims a swap that did not happen;
 *   3. a failure to record is reported and kept for later, never silently lost;
 *   4. nothing planted in an intent file that is not in clawops' exact form is copied into reload.log;
 *   5. the guard and a still-alive run racing do not double-record or lose records.
 * Part A runs settle_intent on a node tree in a temp dir with the machine's own sh (like swap-journal.test.ts); the
 * guard racing FINISH is made deterministic by an `awk` on PATH that runs the real guard (GUARD_BODY) right after
 * settle_intent's awk has read the intent. Part B runs on the one-node fleet (like swap-record-attacks.test.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UNLOCK_SCRIPT } from '../../reconciler/apply/remote-scripts.js';
import { GUARD_BODY, UNDO_SCRIPT } from '../../reconciler/apply/services-sh.js';
import { commitEdits, desiredOf, fleetRepo } from '../helpers/fleet-repo.js';
import { REPO_ROOT, runCli, type CliRun } from '../helpers/repo.js';
import { ACME, extraLevel, type ApplyJson } from '../helpers/fleet-cli.js';
import { fleetReady, linkIdIn, pointTenant, sleep, UNITS_RESET, useHostileNode } from '../helpers/hostile-node.js';
import { seedSecrets } from '../helpers/secrets.js';

// ===================================================================================================================
// A. settle_intent on a local node tree (fast, deterministic)

const V1 = '1111111111111111';
const V2 = '2222222222222222';
const RUN = 'r20261129-attack';
const rec = (action: 'apply' | 'rollback', tenant: string, to: string, from?: string, extra = '', actor = 't'): string =>
  `{"time":"2026-11-29T20:00:00.000Z","action":"${action}","node":"gw-1","tenant":"${tenant}","release_id":"${to}",${from ? `"prev_release_id":"${from}",` : ''}"actor":"${actor}","run":"${RUN}"${extra}}`;
const dmr = (tenant: string, to: string, from: string, detail = ' ai.openclaw.acme pid 1->2'): string =>
  `{"time":"2026-11-29T20:00:09Z","action":"DeadManRollback","tenant":"${tenant}","release_id":"${to}","prev_release_id":"${from}","run":"${RUN}","detail":"${detail}"}`;

describe('journal attacks: settle_intent on a local node tree', () => {
  let root: string;
  const etc = (): string => join(root, 'etc');
  const dir = (): string => join(root, 'var/clawops');
  const intentFile = (): string => join(dir(), `intent.${RUN}`);
  const logFile = (): string => join(dir(), 'reload.log');
  const link = (tenant: string, id: string): void => pointTenant(etc(), tenant, id);
  const linkOf = (tenant: string): string | undefined => linkIdIn(etc(), tenant);
  const logBytes = (): Buffer => (existsSync(logFile()) && !statSync(logFile()).isDirectory() ? readFileSync(logFile()) : Buffer.alloc(0));
  const logLines = (): string[] => logBytes().toString('latin1').split('\n').filter(Boolean);
  /** UNLOCK (settle_intent) over the intent `content`, with `path` first on PATH */
  const settleRaw = (content: Buffer | string, path?: string): { out: string; err: string; kept: boolean } => {
    writeFileSync(intentFile(), content);
    const env = { ...process.env, ...(path ? { PATH: `${path}:${process.env.PATH ?? ''}` } : {}) };
    const r = spawnSync('sh', ['-c', UNLOCK_SCRIPT, 'clawops', etc(), join(root, 'var'), RUN], { encoding: 'utf8', env });
    return { out: r.stdout, err: r.stderr, kept: existsSync(intentFile()) };
  };
  const settle = (lines: string[], path?: string): { out: string; err: string; kept: boolean } => settleRaw(lines.map((l) => `${l}\n`).join(''), path);

  /**
   * A bin dir with a `tr` that runs the real tr, then — once, right after the tr that reads the intent file for
   * settle_intent's first pass (`tr '\\000' '\\001' < intent`) — runs `action` (sh), as a process racing the settle
   * would at that very moment.
   */
  const raceAfterIntentRead = (action: string): string => {
    const bin = join(root, 'bin');
    mkdirSync(bin, { recursive: true });
    const realTr = spawnSync('sh', ['-c', 'command -v tr'], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(
      join(bin, 'tr'),
      `#!/bin/sh\n"${realTr}" "$@"; rc=$?\nif [ "$1" = '\\000' ] && [ ! -e "${root}/raced" ]; then : > "${root}/raced"; (PATH="${process.env.PATH ?? ''}"; ${action}) </dev/null >/dev/null 2>&1; fi\nexit $rc\n`,
    );
    chmodSync(join(bin, 'tr'), 0o755);
    return bin;
  };
  /** the real dead-man guard of run RUN for acme (V1 → V2 swapped; it puts V1 back), fired at once */
  const guardNow = (): string => {
    writeFileSync(join(root, 'guard.sh'), GUARD_BODY);
    writeFileSync(join(dir(), `guard.${RUN}`), `deadline\t1\nacme\t${V2}\t${V1}\t-\n`);
    return `sh "${join(root, 'guard.sh')}" "${etc()}" "${join(root, 'var')}" "${join(root, 'LaunchDaemons')}" "${RUN}" 0`;
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'clawops-jattack-'));
    mkdirSync(join(etc(), 'tenants'), { recursive: true });
    for (const id of [V1, V2]) mkdirSync(join(etc(), 'releases/acme', id), { recursive: true });
    mkdirSync(dir(), { recursive: true });
    mkdirSync(join(root, 'LaunchDaemons'), { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('promise 5 / guard vs FINISH: the guard marks and undoes the swap after settle_intent read the intent but before it looked at the link: the forward swap is still recorded once (with the guard\'s DeadManRollback)', () => {
    link('acme', V2);
    const r = settle([rec('apply', 'acme', V2, V1)], raceAfterIntentRead(guardNow()));
    expect(existsSync(join(root, 'raced')), 'the race ran').toBe(true);
    expect(linkOf('acme'), 'the guard put V1 back').toBe(V1);
    const log = logLines();
    expect(log.filter((l) => l.includes('"action":"DeadManRollback"'))).toHaveLength(1);
    // the swap V1 → V2 happened (the guard even undid it): one record of it, in the log or still pending in the intent
    const pending = r.kept ? readFileSync(intentFile(), 'utf8').split('\n').filter((l) => l === rec('apply', 'acme', V2, V1)).length : 0;
    expect({ recorded: log.filter((l) => l === rec('apply', 'acme', V2, V1)).length, pending }, `log:\n${log.join('\n')}\nout:\n${r.out}`).toEqual({ recorded: 1, pending: 0 });
  });

  it('promise 5 / guard vs FINISH: the guard fires right after settle_intent read the intent, the log momentarily unwritable for it: its DeadManRollback waits in a file of its own (never the intent being settled), the swap recorded once', () => {
    link('acme', V2);
    writeFileSync(logFile(), '');
    // the guard runs with the log replaced by a directory (it cannot take the record), then the log comes back
    const guard = `mv "${logFile()}" "${logFile()}.x"; mkdir "${logFile()}"; ${guardNow()}; rmdir "${logFile()}"; mv "${logFile()}.x" "${logFile()}"`;
    const r = settle([rec('apply', 'acme', V2, V1)], raceAfterIntentRead(guard));
    expect(existsSync(join(root, 'raced')), 'the race ran').toBe(true);
    expect(linkOf('acme'), 'the guard put V1 back').toBe(V1);
    const log = logLines();
    expect(log.filter((l) => l === rec('apply', 'acme', V2, V1)), `out:\n${r.out}`).toHaveLength(1);
    const waiting = readdirSync(dir()).filter((f) => f.startsWith(`intent.${RUN}.g`)).flatMap((f) => readFileSync(join(dir(), f), 'utf8').split('\n').filter(Boolean));
    const dmrs = [...log, ...waiting].filter((l) => l.includes('"action":"DeadManRollback"'));
    expect(dmrs, `log:\n${log.join('\n')}\nwaiting:\n${waiting.join('\n')}`).toHaveLength(1);
    expect(JSON.parse(dmrs[0]!)).toMatchObject({ tenant: 'acme', release_id: V1, prev_release_id: V2, run: RUN });
  });

  it('promise 5 / guard vs the run\'s automatic rollback: the guard looks at the link (still the new release) just before the run\'s own undo puts the old one back: the swap back is recorded once, not as both the run\'s rollback and a DeadManRollback', () => {
    link('acme', V2);
    writeFileSync(intentFile(), `${rec('apply', 'acme', V2, V1)}\n`);
    const undoRec = rec('rollback', 'acme', V1, V2, `,"reason":"HealthCheckFailed","automatic":true,"quarantined":"${V2}"`);
    // the run's automatic rollback, exactly as apply sends it (UNDO with the run and the undo's record)
    writeFileSync(join(root, 'undo.sh'), UNDO_SCRIPT);
    writeFileSync(join(root, 'undo.rec'), undoRec);
    const runUndo = `sh "${join(root, 'undo.sh')}" "${etc()}" "${join(root, 'LaunchDaemons')}" acme ${V1} '' 5 "${join(root, 'var')}" ${RUN} "$(cat "${join(root, 'undo.rec')}")"`;
    // a readlink on PATH that, the first time the guard reads acme's link, answers what it read, but only after the
    // run's undo ran meanwhile (the two are separate processes on the node; nothing orders them)
    const bin = join(root, 'bin');
    mkdirSync(bin, { recursive: true });
    const realReadlink = spawnSync('sh', ['-c', 'command -v readlink'], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(join(bin, 'readlink'), `#!/bin/sh\nout=$("${realReadlink}" "$@"); rc=$?\nif [ -n "\${GUARD_RACE:-}" ] && [ ! -e "${root}/raced" ]; then : > "${root}/raced"; (GUARD_RACE=; ${runUndo}) </dev/null >/dev/null 2>&1; fi\nprintf '%s\\n' "$out"\nexit $rc\n`);
    chmodSync(join(bin, 'readlink'), 0o755);
    const g = spawnSync('sh', ['-c', guardNow()], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, GUARD_RACE: '1' } });
    expect(g.status, g.stderr).toBe(0);
    expect(existsSync(join(root, 'raced')), 'the race ran').toBe(true);
    expect(linkOf('acme')).toBe(V1);
    // the run ends (FINISH settles its intent)
    const r = spawnSync('sh', ['-c', UNLOCK_SCRIPT, 'clawops', etc(), join(root, 'var'), RUN], { encoding: 'utf8' });
    const log = logLines();
    expect(log.filter((l) => l === rec('apply', 'acme', V2, V1)), r.stdout).toHaveLength(1);
    // one swap back (V2 → V1) happened: one record of it
    const back = log.filter((l) => l.includes(`"release_id":"${V1}","prev_release_id":"${V2}"`));
    expect(back, log.join("\n")).toHaveLength(1);
  });

  it('promise 3 / the guard fires after the run settled and removed its intent, reload.log unwritable: its DeadManRollback waits in an intent file of its own made afresh, and is recorded once when the log is fixed', () => {
    link('acme', V2);
    mkdirSync(logFile());
    const g = spawnSync('sh', ['-c', guardNow()], { encoding: 'utf8' });
    expect(g.status, g.stderr).toBe(0);
    expect(linkOf('acme')).toBe(V1);
    const kept = readdirSync(dir()).filter((f) => f.startsWith(`intent.${RUN}`));
    expect(kept, 'the record waits in a fresh intent file').toEqual([expect.stringMatching(new RegExp(`^intent\\.${RUN}\\.g[0-9]+\\.acme$`))]);
    const waiting = readFileSync(join(dir(), kept[0]!), 'utf8').split('\n').filter(Boolean);
    expect(waiting).toHaveLength(1);
    expect(JSON.parse(waiting[0]!)).toMatchObject({ action: 'DeadManRollback', tenant: 'acme', release_id: V1, prev_release_id: V2, run: RUN });
    rmSync(logFile(), { recursive: true });
    const r = spawnSync('sh', ['-c', UNLOCK_SCRIPT, 'clawops', etc(), join(root, 'var'), RUN], { encoding: 'utf8' });
    expect(logLines(), r.stdout).toEqual(waiting);
    expect(readdirSync(dir()).filter((f) => f.startsWith('intent.'))).toEqual([]);
  });

  it('promise 4 / control characters: a marked record carrying a raw 8-bit C1 byte (0x9B, CSI) is not copied into reload.log', () => {
    link('acme', V1);
    // (the line: {"time":…,"actor":"x<0x9B>2J","run":"…"} then its done mark; 0x9B alone, not UTF-8-encoded)
    const planted = Buffer.from(`${rec('apply', 'acme', V2, V1, '', 'xQQ2J')}\ndone acme ${V2}\n`.replace('QQ', '\x9b'), 'latin1');
    expect(planted.includes(0x9b)).toBe(true);
    settleRaw(planted);
    expect(logBytes().includes(0x9b), logBytes().toString('latin1')).toBe(false);
  });

  it('promise 4 / odd content: a marked record carrying a raw U+2028 (never written raw by clawops: safeJson escapes it) is not copied into reload.log', () => {
    link('acme', V1);
    settle([rec('apply', 'acme', V2, V1, '', 'x\u2028y'), `done acme ${V2}`]);
    expect(logBytes().toString('utf8').includes('\u2028'), logBytes().toString('utf8')).toBe(false);
  });

  it('promise 4 / control characters: a marked record with a raw NUL byte inside a string is not copied (with or without the NUL) into reload.log', () => {
    link('acme', V1);
    const line = rec('apply', 'acme', V2, V1, '', 'x\u0000y');
    settleRaw(Buffer.from(`${line}\ndone acme ${V2}\n`, 'utf8'));
    const log = logLines();
    expect(log, log.join('\n')).toEqual([]);
  });

  it('promise 4 / misjudged own lines: clawops\' own records with every optional key (commit, tag with escapes, a non-ASCII actor) and an automatic first-deploy undo are recorded byte for byte', () => {
    // (no link any more: the first deploy was undone and its link removed)
    const extra = `,"commit":"${'ab'.repeat(20)}","tag":"v1 \\"q\\" \\\\ \\u2028 ü"`;
    const fwd = rec('apply', 'acme', V2, undefined, '').replace('"actor"', `${extra.slice(1)},"actor"`).replace('"actor":"t"', '"actor":"Jürgen \\u0085@host"');
    const undo = `{"time":"2026-11-29T20:00:01.000Z","action":"rollback","node":"gw-1","tenant":"acme","release_id":"","prev_release_id":"${V2}"${extra},"actor":"Jürgen \\u0085@host","run":"${RUN}","reason":"HealthCheckFailed","automatic":true,"quarantined":"${V2}"}`;
    expect(JSON.parse(fwd)).toMatchObject({ tag: 'v1 "q" \\ \u2028 ü', actor: 'Jürgen \u0085@host' });
    JSON.parse(undo);
    const r = settle([fwd, `done acme ${V2}`, undo, 'done acme ']);
    expect(logBytes().toString('utf8').split('\n').filter(Boolean), r.out).toEqual([fwd, undo]);
  });

  it('promise 1+3 / the guard undoes a first deploy (link removed) while reload.log is unwritable: record-failed, the intent kept; once fixed the swap and the DeadManRollback (release_id "") recorded once each', () => {
    // the guard of a first deploy: done mark, link removed, its record in the intent (the log unwritable), then fixed
    mkdirSync(logFile());
    const lines = [rec('apply', 'acme', V2), `done acme ${V2}`, dmr('acme', '', V2)];
    const first = settle(lines);
    expect(first.out).toMatch(/^record-failed\t/m);
    expect(first.kept).toBe(true);
    rmSync(logFile(), { recursive: true });
    const r = spawnSync('sh', ['-c', UNLOCK_SCRIPT, 'clawops', etc(), join(root, 'var'), RUN], { encoding: 'utf8' });
    expect(logLines(), r.stdout).toEqual([rec('apply', 'acme', V2), dmr('acme', '', V2)]);
    expect(existsSync(intentFile())).toBe(false);
  });

  it('promise 1 / rollback of rollback inside one run: the rollback command\'s swap and its put-back (marks for both), then a second record for the same release later in the intent: each recorded once', () => {
    // rollback V2→V1 (marked by the put-back), the put-back V1→V2 (marked), then the same release pair again unmarked
    // (a second rollback recorded in the same intent must not take the first one's mark)
    link('acme', V2);
    const rb = rec('rollback', 'acme', V1, V2);
    const back = rec('rollback', 'acme', V2, V1);
    const r = settle([rb, `done acme ${V1}`, back, `done acme ${V2}`, rb]);
    // the third record's swap never happened (the link is on V2): rb once, back once
    expect(logLines(), r.out).toEqual([rb, back]);
  });
});

// ===================================================================================================================
// B. on the one-node fleet (services: reload, gate, automatic rollback)

const ready = fleetReady();

const acmeOverrides = (port: number, lvl: string): string => `gateway:\n  port: ${port}\n  controlUi:\n    enabled: true\n    basePath: /acme\nlogging:\n  level: ${lvl}\n`;

describe.skipIf(!ready)('journal attacks on the fleet (gate, automatic rollback)', () => {
  const h = useHostileNode({ tenants: ['acme'], reset: UNITS_RESET, repo: 'units', runTag: 'jattack' });
  const { key, sh, cdir, linkId, reloadLog, intents, blockPort, applyHooked } = h;
  const apply = (...args: string[]): Promise<CliRun & { json?: ApplyJson }> => h.apply('--node', 'gw-1', ...args);
  const idOf = (): string => desiredOf(h.repo).tenants.get('acme')!.releaseId;
  const swapsOf = (run: string): string[] => reloadLog().filter((l) => l.run === run && (l.action === 'apply' || l.action === 'rollback')).map((l) => `${String(l.action)} ${String(l.prev_release_id ?? '-')}→${String(l.release_id)}`);

  it('promise 1+3 / automatic rollback while neither the intent nor reload.log can be written: the failure is reported and both swaps are kept for later (then recorded once each), never dropped', async () => {
    expect((await apply()).code).toBe(0);
    const v1 = idOf();
    commitEdits(h.repo, { [ACME]: acmeOverrides(18449, 'info') }, 'v2 on a taken port');
    const v2 = idOf();
    const blocker = blockPort(18449);
    let spoiled = false;
    let res: Awaited<ReturnType<typeof applyHooked>>;
    try {
      res = await applyHooked({
        onExec: async (command) => {
          // the automatic rollback (UNDO) is about to run: the clawops dir's files stop taking appends (a quota, a
          // full volume): the intent cannot take the undo's notes, the log cannot take records
          if (!spoiled && command.includes('undo_tenant "$3" "$4" "$5"')) {
            spoiled = true;
            await sh('chmod 0444 /var/db/openclaw/clawops/intent.* /var/db/openclaw/clawops/reload.log');
          }
        },
      });
    } finally {
      blocker.close();
    }
    expect(spoiled).toBe(true);
    const r = res.results[0]!;
    expect(r.swapped.map((s) => s.to)).toEqual([v2]);
    expect(r.rolledBack.map((x) => x.release)).toEqual([v2]);
    expect(linkId('acme')).toBe(v1);
    // reported
    expect(r.reason, r.message).toBe('RecordFailed');
    const kept = intents();
    await sh('chmod 0644 /var/db/openclaw/clawops/reload.log; chmod 0600 /var/db/openclaw/clawops/intent.* 2>/dev/null; true');
    const d = await runCli(['diff', '--repo', h.repo, '--identity', key(), '--node', 'gw-1']);
    await sleep(1100);
    // (the next apply exits 1: v2 is quarantined, acme blocked; it still records what is pending)
    const next = await apply();
    // both swaps happened (v1 → v2, then back): each recorded exactly once, however late
    expect({ kept, swaps: swapsOf(res.run) }, `${r.message}\n${d.stdout}\n${next.stdout}`).toEqual({ kept: [expect.stringMatching(new RegExp(`^intent\\.${res.run}(\\.f)?$`))], swaps: [`apply ${v1}→${v2}`, `rollback ${v2}→${v1}`] });
    // and the report says where they are: no claim of a file that is not there
    expect(r.message).toContain(`the record stays in ${kept[0]!} on the node`);
  }, 150_000);

  it('promise 1 / takeover of a stale lock while the run waits on its health gate, then its automatic rollback: the forward swap is recorded once (not by the taker\'s recovery AND by the run\'s own FINISH)', async () => {
    expect((await apply()).code).toBe(0);
    const v1 = idOf();
    commitEdits(h.repo, { [ACME]: acmeOverrides(18449, 'info') }, 'v2 on a taken port');
    const v2 = idOf();
    const blocker = blockPort(18449);
    let taker: CliRun | undefined;
    let res: Awaited<ReturnType<typeof applyHooked>>;
    try {
      res = await applyHooked({
        onExec: async (command) => {
          // the gate failed; the run was slow (its 1 s lock expired): another clawops takes the stale lock over right
          // now and records what it takes for a dead run's intent (a rollback of a tenant that is not deployed: it
          // changes nothing else and gives the lock back)
          if (!taker && command.includes('undo_tenant "$3" "$4" "$5"')) {
            await sleep(1200);
            taker = await runCli(['rollback', '--repo', h.repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'ghost']);
          }
        },
      }, { lockTtlSec: 1 });
    } finally {
      blocker.close();
    }
    expect(taker, 'the hook ran').toBeDefined();
    expect(taker!.stderr).toMatch(/ghost|not deployed/);
    const r = res.results[0]!;
    expect(r.swapped.map((s) => s.to)).toEqual([v2]);
    expect(linkId('acme')).toBe(v1);
    await sleep(1100);
    await apply();
    const swaps = swapsOf(res.run);
    expect({ forward: swaps.filter((s) => s === `apply ${v1}→${v2}`).length, back: swaps.filter((s) => s === `rollback ${v2}→${v1}`).length }, JSON.stringify(reloadLog(), null, 1)).toEqual({ forward: 1, back: 1 });
  }, 150_000);

  it('promise 1+2 / several tenants, clawops SIGKILLed right after the first tenant\'s swap, the dead-man guard reverts it: the swapped tenant\'s swap and the guard\'s undo recorded once each, nothing recorded for the tenant never swapped', async () => {
    await seedSecrets(h.gw, ['acme', 'globex']);
    h.repo = fleetRepo(h.fleet, {}, { 'gw-1': { role: 'gateway' as const, canary: true, tenants: ['acme', 'globex'] } });
    commitEdits(h.repo, { 'clawops.yaml': `${readFileSync(join(h.repo, 'clawops.yaml'), 'utf8').replace(/confirm_sec: \d+/, 'confirm_sec: 5')}` }, 'short confirm');
    expect((await apply()).code).toBe(0);
    const ids = (): { acme: string; globex: string } => {
      const d = desiredOf(h.repo);
      return { acme: d.tenants.get('acme')!.releaseId, globex: d.tenants.get('globex')!.releaseId };
    };
    const v1 = ids();
    commitEdits(h.repo, { ...extraLevel('acme', 'warn'), ...extraLevel('globex', 'warn') }, 'both');
    const v2 = ids();
    const child = spawn(join(REPO_ROOT, 'bin/clawops'), ['apply', '--repo', h.repo, '--identity', key(), '--yes', '--node', 'gw-1', '--lock-ttl', '10'], { env: { ...process.env, CLAWOPS_PROGRESS: 'text' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let first = '';
    let killedAt = 0;
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (b: Buffer) => {
        err += b.toString();
        const m = /swap\s+ok\s+(acme|globex):/.exec(err);
        if (m && child.exitCode === null && !killedAt) {
          first = m[1]!;
          child.kill('SIGKILL');
          killedAt = Date.now();
          resolve();
        }
      });
      child.on('exit', () => resolve());
    });
    expect(first, err).not.toBe('');
    const other = first === 'acme' ? 'globex' : 'acme';
    const f = first as 'acme' | 'globex';
    const o = other as 'acme' | 'globex';
    const pending = intents();
    expect(pending).toHaveLength(1);
    const dead = pending[0]!.replace(/^intent\./, '');
    // the guard: the swapped tenant back on v1, the other never swapped
    for (let i = 0; i < 120 && !(linkId(f) === v1[f] && !readdirSync(cdir()).some((x) => x.startsWith('guard.'))); i++) await sleep(250);
    expect(linkId(f)).toBe(v1[f]);
    expect(linkId(o)).toBe(v1[o]);
    const left = killedAt + 11_000 - Date.now();
    if (left > 0) await sleep(left);
    const next = await apply();
    expect(next.code, next.stdout + next.stderr).toBe(0);
    const log = reloadLog().filter((l) => l.run === dead);
    const shown = JSON.stringify(reloadLog(), null, 1);
    expect(log.filter((l) => l.action === 'apply').map((l) => `${String(l.tenant)} ${String(l.prev_release_id)}→${String(l.release_id)}`), shown).toEqual([`${f} ${v1[f]}→${v2[f]}`]);
    expect(log.filter((l) => l.action === 'DeadManRollback').map((l) => `${String(l.tenant)} ${String(l.prev_release_id)}→${String(l.release_id)}`), shown).toEqual([`${f} ${v2[f]}→${v1[f]}`]);
    expect(log.filter((l) => l.action === 'rollback'), shown).toEqual([]);
    expect(intents()).toEqual([]);
  }, 150_000);

  it('promise 2 / diff: an intent whose swap never happened (killed before the swap of current; the link is still on the old release) is not reported as a swap made without recording it', async () => {
    expect((await apply()).code).toBe(0);
    const v1 = idOf();
    commitEdits(h.repo, { [ACME]: acmeOverrides(18809, 'warn') }, 'v2');
    const v2 = idOf();
    // a dead run's intent in clawops' exact form: its swap to v2 never happened (acme still on v1)
    const dead = 'r20261129t200000-dead01';
    const line = JSON.stringify({ time: '2026-11-29T20:00:00.000Z', action: 'apply', node: 'gw-1', tenant: 'acme', release_id: v2, prev_release_id: v1, actor: 'test@jattack', run: dead });
    await sh(`printf '%s\\n' '${line}' > /var/db/openclaw/clawops/intent.${dead}`);
    expect(linkId('acme')).toBe(v1);
    const d = await runCli(['diff', '--repo', h.repo, '--identity', key(), '--node', 'gw-1']);
    const claims = (d.stdout + d.stderr).split('\n').filter((l) => l.includes(dead) && /swapped to release/.test(l));
    expect(claims, d.stdout + d.stderr).toEqual([]);
    // and the next apply records nothing for it
    expect((await apply()).code).toBe(0);
    expect(reloadLog().filter((l) => l.run === dead)).toEqual([]);
  }, 120_000);
});

