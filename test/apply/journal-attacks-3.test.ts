/**
 * Adversarial tests of the swap journal, third round: settle_intent (remote-scripts.ts JOURNAL_SH) against diff's
 * mirror of it (plan/intent-records.ts pendingRecords), the undo's journalling (services-sh.ts UNDO_SH), the dead-man
 * guard (GUARD_BODY) against another run's swap, and what diff says a dead run left (Leftovers).
 * Part A runs the node scripts on a local tree with the machine's own sh (like journal-attacks.test.ts); part B runs
 * on the one-node fleet.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UNLOCK_SCRIPT } from '../../reconciler/apply/remote-scripts.js';
import { GUARD_BODY, UNDO_SCRIPT } from '../../reconciler/apply/services-sh.js';
import { pendingRecords } from '../../reconciler/plan/intent-records.js';
import { runCli, type CliRun } from '../helpers/repo.js';
import type { ApplyJson } from '../helpers/fleet-cli.js';
import { fleetReady, linkIdIn, pointTenant, UNITS_RESET, useHostileNode } from '../helpers/hostile-node.js';

// ===================================================================================================================
// A. local node tree

const V1 = '1111111111111111';
const V2 = '2222222222222222';
const V3 = '3333333333333333';
const RUN = 'r20261130-attack3';
const rec = (action: 'apply' | 'rollback', tenant: string, to: string, from?: string, extra = '', actor = 't', run = RUN): string =>
  `{"time":"2026-11-30T20:00:00.000Z","action":"${action}","node":"gw-1","tenant":"${tenant}","release_id":"${to}",${from ? `"prev_release_id":"${from}",` : ''}"actor":"${actor}","run":"${run}"${extra}}`;
const dmr = (tenant: string, to: string, from: string, detail = ' ai.openclaw.acme pid 1->2'): string =>
  `{"time":"2026-11-30T20:00:09Z","action":"DeadManRollback","tenant":"${tenant}","release_id":"${to}","prev_release_id":"${from}","run":"${RUN}","detail":"${detail}"}`;

describe('journal attacks 3: the node scripts on a local tree', () => {
  let root: string;
  const etc = (): string => join(root, 'etc');
  const varDb = (): string => join(root, 'var');
  const dir = (): string => join(root, 'var/clawops');
  const intentFile = (run = RUN): string => join(dir(), `intent.${run}`);
  const logFile = (): string => join(dir(), 'reload.log');
  const link = (tenant: string, id: string): void => pointTenant(etc(), tenant, id);
  const linkOf = (tenant: string): string | undefined => linkIdIn(etc(), tenant);
  const logBytes = (): Buffer => (existsSync(logFile()) && !statSync(logFile()).isDirectory() ? readFileSync(logFile()) : Buffer.alloc(0));
  const logLines = (): string[] => logBytes().toString('utf8').split('\n').filter(Boolean);
  const unlock = (run = RUN, env: NodeJS.ProcessEnv = process.env): { out: string; err: string } => {
    const r = spawnSync('sh', ['-c', UNLOCK_SCRIPT, 'clawops', etc(), varDb(), run], { encoding: 'utf8', env });
    return { out: r.stdout, err: r.stderr };
  };
  /** what `clawops diff` would say of the intent bytes (observe decodes them as UTF-8 and splits lines), as `action tenant release` */
  const diffSays = (bytes: Buffer): string[] =>
    pendingRecords(bytes.toString('utf8').split('\n').filter((l) => l.trim() !== ''), (t) => linkOf(t)).map((r) => `${r.action} ${r.tenant} ${r.release}`);
  /** what the next apply records from the intent bytes (settle_intent, run by UNLOCK), as `action tenant release` */
  const applyRecords = (bytes: Buffer): { recorded: string[]; out: string } => {
    writeFileSync(intentFile(), bytes);
    const before = logLines().length;
    const r = unlock();
    const recorded = logLines().slice(before).map((l) => {
      try {
        const j = JSON.parse(l) as { action: string; tenant: string; release_id: string };
        return `${j.action} ${j.tenant} ${j.release_id}`;
      } catch {
        return `(not JSON) ${l}`;
      }
    });
    return { recorded, out: r.out + r.err };
  };
  const realBin = (name: string): string => spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'clawops-jattack3-'));
    mkdirSync(join(etc(), 'tenants'), { recursive: true });
    for (const id of [V1, V2, V3]) mkdirSync(join(etc(), 'releases/acme', id), { recursive: true });
    mkdirSync(dir(), { recursive: true });
    mkdirSync(join(root, 'LaunchDaemons'), { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('promise 3 / diff vs apply: a marked record whose line ends in CR (an intent edited or copied with CRLF line ends): diff says exactly what the next apply records', () => {
    link('acme', V1);
    const bytes = Buffer.from(`${rec('apply', 'acme', V2, V1)}\r\ndone acme ${V2}\n`);
    const said = diffSays(bytes);
    const { recorded, out } = applyRecords(bytes);
    expect({ diff: said, apply: recorded }, out).toEqual({ diff: recorded, apply: recorded });
  });

  it('promise 3 / diff vs apply: the real record of a standing swap, then a JSON line not in clawops\' exact form for the same tenant: diff must not call the intent empty litter while apply records the swap', () => {
    link('acme', V2);
    // (a line in no clawops form: keys in another order; settle_intent ignores it, diff's parse takes it for the tenant's last record)
    const planted = `{"time":"2026-11-30T20:00:01.000Z","tenant":"acme","action":"apply","release_id":"${V3}","run":"x"}`;
    const bytes = Buffer.from(`${rec('apply', 'acme', V2, V1)}\n${planted}\n`);
    const said = diffSays(bytes);
    const { recorded, out } = applyRecords(bytes);
    expect(recorded, out).toEqual([`apply acme ${V2}`]);
    expect(said, 'diff reports the swap the next apply records').toEqual(recorded);
  });

  it('promise 3 / diff vs apply: lines JSON.parse accepts but settle_intent never copies (a DeadManRollback whose detail holds an escaped quote, a marked record with a raw UTF-8 C1 character): diff claims no UnrecordedSwap the apply will not record', () => {
    link('acme', V1);
    const cases: Buffer[] = [
      Buffer.from(`${dmr('acme', V1, V2, ' FAILED x: \\"quoted\\"')}\n`),
      Buffer.from(`${rec('apply', 'acme', V2, V1, '', 'x\u0085y')}\ndone acme ${V2}\n`, 'utf8'),
    ];
    const got = cases.map((b) => ({ diff: diffSays(b), apply: applyRecords(b).recorded }));
    expect(got).toEqual(got.map((g) => ({ diff: g.apply, apply: g.apply })));
  });

  it('promise 1 / a first deploy\'s automatic rollback: the link is removed, then its final mark (`done acme `) cannot be appended (the disk fills at that moment): the undo (a swap that happened) is still recorded once', () => {
    // the run's intent: the first deploy of acme to V2 (swapped: the link points at V2)
    link('acme', V2);
    writeFileSync(intentFile(), `${rec('apply', 'acme', V2)}\n`);
    const undoRec = rec('rollback', 'acme', '', V2, `,"reason":"HealthCheckFailed","automatic":true,"quarantined":"${V2}"`);
    // an `rm` on PATH: right after the undo removed acme's link, the intent stops taking appends (simulated the only way
    // root cannot write past: the intent gets a second name, which log_records refuses)
    const bin = join(root, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'rm'), `#!/bin/sh\n"${realBin('rm')}" "$@"; rc=$?\nif [ "$2" = "${join(etc(), 'tenants/acme')}" ]; then "${realBin('ln')}" "${intentFile()}" "${root}/full"; fi\nexit $rc\n`);
    chmodSync(join(bin, 'rm'), 0o755);
    writeFileSync(join(root, 'undo.sh'), UNDO_SCRIPT);
    const u = spawnSync('sh', [join(root, 'undo.sh'), etc(), join(root, 'LaunchDaemons'), 'acme', '', '', '5', varDb(), RUN, undoRec, V2], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
    });
    // (sh FILE: $0 is the file; UNDO_SCRIPT reads $1.. as with sh -c SCRIPT x ...)
    expect(existsSync(join(root, 'full')), u.stdout + u.stderr).toBe(true);
    expect(linkOf('acme')).toBeUndefined();
    // the undo told its caller the intent took both (noted 2): apply's rollBackTenant then records nothing itself
    expect(u.stdout).toMatch(/^noted\t2$/m);
    expect(u.stdout).toMatch(/^unlinked\tacme$/m);
    // the disk frees up; the run ends (FINISH/UNLOCK settles its intent)
    rmSync(join(root, 'full'));
    const r = unlock();
    expect(logLines(), `${r.out}\nintent was:\n${u.stdout}`).toEqual([rec('apply', 'acme', V2), undoRec]);
  });

  it('promise 1 / a dead run\'s dead-man guard checks acme is still on V2, then the next run swaps acme V2 → V3 before the guard relinks: every swap that happened is recorded (the next run\'s V3 swap is not lost)', () => {
    const DEAD = 'r20261130-dead';
    const NEXT = 'r20261130-next';
    link('acme', V2);
    // the next run (it recovered the dead run's intent already) wrote its intent and is about to swap
    writeFileSync(intentFile(NEXT), `${rec('apply', 'acme', V3, V2, '', 't', NEXT)}\n`);
    // the dead run's guard (acme V1 → V2, put V1 back), fired at once
    writeFileSync(join(root, 'guard.sh'), GUARD_BODY);
    writeFileSync(join(dir(), `guard.${DEAD}`), `deadline\t1\nacme\t${V2}\t${V1}\t-\n`);
    // an `ln` on PATH: the guard's relink of acme starts (its FROM check passed) and, at that moment, the next run's
    // swap of acme (a fresh link renamed over the old one) happens, as two processes on the node would interleave
    const bin = join(root, 'bin');
    mkdirSync(bin, { recursive: true });
    const realLn = realBin('ln');
    const tenants = join(etc(), 'tenants');
    writeFileSync(
      join(bin, 'ln'),
      `#!/bin/sh\ncase "$3" in */.clawops-undo-*-acme) if [ ! -e "${root}/raced" ]; then : > "${root}/raced"; "${realLn}" -s ../releases/acme/${V3} "${tenants}/.clawops-${NEXT}-acme" && { mv -T "${tenants}/.clawops-${NEXT}-acme" "${tenants}/acme" 2>/dev/null || mv -h "${tenants}/.clawops-${NEXT}-acme" "${tenants}/acme"; }; fi ;; esac\nexec "${realLn}" "$@"\n`,
    );
    chmodSync(join(bin, 'ln'), 0o755);
    const g = spawnSync('sh', [join(root, 'guard.sh'), etc(), varDb(), join(root, 'LaunchDaemons'), DEAD, '0'], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` } });
    expect(g.status, g.stderr).toBe(0);
    expect(existsSync(join(root, 'raced')), 'the race ran').toBe(true);
    const end = linkOf('acme');
    // the next run ends: FINISH settles its intent
    const r = unlock(NEXT);
    const log = logLines();
    const shown = `link now ${end}\nlog:\n${log.join('\n')}\n${r.out}`;
    // the next run's swap V2 → V3 happened: recorded once
    expect(log.filter((l) => l === rec('apply', 'acme', V3, V2, '', 't', NEXT)), shown).toHaveLength(1);
    // and no record claims the guard moved acme off V2 when it moved it off V3
    expect(end === V3 || log.every((l) => !(l.includes('DeadManRollback') && l.includes(`"prev_release_id":"${V2}"`))), shown).toBe(true);
  });

  it('promise 5 / a huge reload.log (30 MB) whose last line has no newline: the run\'s swap is appended as a whole line of its own, the old bytes untouched', () => {
    const line = `${rec('apply', 'other', V1)}\n`;
    const chunk = line.repeat(10_000);
    for (let i = 0; i < Math.ceil(30_000_000 / chunk.length); i++) appendFileSync(logFile(), chunk);
    appendFileSync(logFile(), rec('apply', 'other', V2));
    const size = statSync(logFile()).size;
    link('acme', V2);
    writeFileSync(intentFile(), `${rec('apply', 'acme', V2, V1)}\n`);
    const r = unlock();
    const buf = readFileSync(logFile());
    expect(buf.subarray(size).toString('utf8'), r.out).toBe(`\n${rec('apply', 'acme', V2, V1)}\n`);
    expect(buf.subarray(size - 20, size).toString('utf8')).toBe(rec('apply', 'other', V2).slice(-20));
    expect(existsSync(intentFile())).toBe(false);
  }, 60_000);

  it('promise 1 / the run\'s automatic rollback of acme journalled in full, then the dead-man guard fires late (acme already back on V1): no second swap back is done or recorded', () => {
    link('acme', V1);
    const undoRec = rec('rollback', 'acme', V1, V2, `,"reason":"HealthCheckFailed","automatic":true,"quarantined":"${V2}"`);
    writeFileSync(intentFile(), `${rec('apply', 'acme', V2, V1)}\ndone acme ${V2}\n${undoRec}\ndone acme ${V1}\n`);
    writeFileSync(join(root, 'guard.sh'), GUARD_BODY);
    writeFileSync(join(dir(), `guard.${RUN}`), `deadline\t1\nacme\t${V2}\t${V1}\t-\n`);
    const g = spawnSync('sh', [join(root, 'guard.sh'), etc(), varDb(), join(root, 'LaunchDaemons'), RUN, '0'], { encoding: 'utf8' });
    expect(g.status, g.stderr).toBe(0);
    const r = unlock();
    expect(logLines(), r.out).toEqual([rec('apply', 'acme', V2, V1), undoRec]);
    expect(readdirSync(dir()).filter((f) => f.startsWith('intent.'))).toEqual([]);
  });

  it('promise 1 / two tenants in one run, the second rolled back automatically, the guard file of the run already removed (confirmed): each of the three swaps recorded once, in order', () => {
    for (const id of [V1, V2]) mkdirSync(join(etc(), 'releases/globex', id), { recursive: true });
    link('acme', V2);
    link('globex', V1);
    const undoRec = rec('rollback', 'globex', V1, V2, `,"reason":"HealthCheckFailed","automatic":true,"quarantined":"${V2}"`);
    const lines = [rec('apply', 'acme', V2, V1), rec('apply', 'globex', V2, V1), `done globex ${V2}`, undoRec, `done globex ${V1}`];
    const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''));
    const said = diffSays(bytes);
    const { recorded, out } = applyRecords(bytes);
    expect(recorded, out).toEqual([`apply acme ${V2}`, `apply globex ${V2}`, `rollback globex ${V1}`]);
    expect(said).toEqual(recorded);
  });
});

// ===================================================================================================================
// B. on the one-node fleet

const ready = fleetReady();

describe.skipIf(!ready)('journal attacks 3 on the fleet', () => {
  const h = useHostileNode({ tenants: ['acme'], reset: UNITS_RESET, repo: 'units' });
  const { key, cdir } = h;
  const apply = (...args: string[]): Promise<CliRun & { json?: ApplyJson }> => h.apply('--node', 'gw-1', ...args);

  it('promise 3 / a run killed while writing its intent (its .intent.<run>.tmp) and while taking the lock (node.lock.new.<run>) left scratch files: diff names them as Leftovers and the next apply removes them', async () => {
    expect((await apply()).code).toBe(0);
    const dead = 'r20261130t200000-dead03';
    const line = JSON.stringify({ time: '2026-11-30T20:00:00.000Z', action: 'apply', node: 'gw-1', tenant: 'acme', release_id: 'abababababababab', actor: 'x', run: dead });
    const r = await h.gw.exec(`printf '%s\\n' '${line}' > /var/db/openclaw/clawops/.intent.${dead}.tmp; printf '{"run":"${dead}"}\\n' > /var/db/openclaw/clawops/node.lock.new.${dead}`);
    expect(r.code, r.stderr).toBe(0);
    const d = await runCli(['diff', '--repo', h.repo, '--identity', key(), '--node', 'gw-1']);
    const said = d.stdout + d.stderr;
    const next = await apply();
    const left = readdirSync(cdir()).filter((f) => f.includes(dead));
    expect({ diffNamesTmp: said.includes(`.intent.${dead}.tmp`), diffNamesLock: said.includes(`node.lock.new.${dead}`), leftAfterApply: left }, `${said}\n${next.stdout}`).toEqual({ diffNamesTmp: true, diffNamesLock: true, leftAfterApply: [] });
  }, 120_000);
});
