/**
 * A swap of /etc/openclaw/tenants/<t> that goes unrecorded (or is recorded wrongly) in
 * /var/db/openclaw/clawops/reload.log: every swap that happened must end up as exactly one record; no record may claim
 * a swap that did not happen; a failure to record must be reported and kept for later. The variants an adversarial
 * run (2026-11-29) tried, one test each.
 *
 * Fixed (the tests pass): 2 a rollback put back by its failing gate records both swaps; 6, 6b an undo whose relink
 * fails claims no swap back, and the forward swap is recorded once (by the intent); 7 an append a full disk cuts short
 * is taken back (log_append), so the next run's record is a whole line.
 *
 * Fixed too: 1 a run whose lock expired and was taken over while it was still alive reads its lock again right
 * before each swap of current (pointLink's beforeRename), and stops there.
 *
 * Fixed too (the intent journals every swap and undo as it happens): 3, 3b an automatic rollback marks the swap done
 * in the run's intent and adds its own record there before relinking (UNDO), so both are recorded however the run ends;
 * 4 the dead-man guard marks the swap it undoes done in the run's intent; 5 a DeadManRollback record the log cannot
 * take waits in the run's intent, reported by diff (UnrecordedSwap) and recorded by the next run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rollbackTenant } from '../../reconciler/apply/rollback.js';
import { observeAndPlan } from '../../reconciler/commands/diff.js';
import type { Transport } from '../../reconciler/transport/transport.js';
import { commitEdits, desiredOf, portOffsetOf } from '../helpers/fleet-repo.js';
import { REPO_ROOT, runCli, type CliRun } from '../helpers/repo.js';
import { CLEAN_NODE, ACME, extraLevel, killNodeNow, type ApplyJson } from '../helpers/fleet-cli.js';
import { fleetReady, sleep, UNITS_RESET, useHostileNode, type Rec } from '../helpers/hostile-node.js';

const ready = fleetReady();

// ===================================================================================================================
// A. no launchd units (no reload, no gate, no guard): the journal alone

const level = extraLevel;

describe.skipIf(!ready)('probe: swaps recorded exactly once (journal only, no units)', () => {
  const h = useHostileNode({ tenants: ['acme', 'globex'], reset: CLEAN_NODE });
  const { key, apply, commit, idOf, sh, linkId, reloadLog, intents, applyHooked } = h;

  it('1: a stale-lock takeover while the first run is still alive (between its two tenants\' swaps): the live run stops before its next swap (it checks its lock each swap), and every swap made is recorded once; before: the live run\'s later swap was never recorded', async () => {
    const v1 = { acme: idOf('acme'), globex: idOf('globex') };
    commit({ ...level('acme', 'warn'), ...level('globex', 'warn') }, 'acme and globex');
    const v2 = { acme: idOf('acme'), globex: idOf('globex') };
    let first: string | undefined;
    let other: string | undefined;
    let rb: CliRun | undefined;
    const res = await applyHooked({
      // before the temp link of the other tenant's first move is made (the taker would remove a temp link as litter)
      onSymlink: async (_a, b) => {
        const m = /\/tenants\/\.clawops-.*-([a-z]+)(\.prev)?$/.exec(b);
        if (!m) return;
        first ??= m[1];
        if (m[1] !== first && !rb) {
          other = m[1];
          // the first run is slow here (a long health gate, a paused laptop): its 1 s lock expires, and a rollback
          // of the tenant it already swapped takes the node over
          await sleep(1500);
          rb = await runCli(['rollback', '--repo', h.repo, '--identity', key(), '--node', 'gw-1', '--tenant', first!]);
        }
      },
    }, { lockTtlSec: 1 });
    expect(rb, 'the hook ran').toBeDefined();
    expect(rb!.code, rb!.stdout + rb!.stderr).toBe(0);
    const o = other as 'acme' | 'globex';
    const f = first as 'acme' | 'globex';
    // the live run read its lock again right before swapping the other tenant: taken over, it stopped there
    expect(res.results[0]).toMatchObject({ outcome: 'failed', step: 'swap', reason: 'NodeLocked' });
    expect(res.results[0]!.message).toMatch(/no longer this run's/);
    expect(res.results[0]!.swapped.map((s) => s.tenant)).toEqual([f]);
    expect(linkId(o)).toBe(v1[o]);
    expect(linkId(f)).toBe(v1[f]); // the rollback put it back
    // one more run (the design: the next run that takes the lock records what is pending)
    const next = await apply('--node', 'gw-1');
    expect(next.code, next.stdout + next.stderr).toBe(0);
    const log = reloadLog();
    // every swap of the first run recorded exactly once: the first tenant's (by the taker, recovered_by) and the other's
    expect(log.filter((l) => l.run === res.run && l.tenant === f && l.release_id === v2[f])).toHaveLength(1);
    // and no record claims the swap it did not make
    expect(log.filter((l) => l.run === res.run && l.tenant === o), JSON.stringify(log, null, 1)).toEqual([]);
  }, 90_000);

  it('a second apply of the same commit that takes the stale lock between the first run\'s swaps swaps the other tenant itself; the first run\'s re-point of an already-pointing link is not recorded (no duplicate)', async () => {
    commit({ ...level('acme', 'warn'), ...level('globex', 'warn') }, 'acme and globex');
    const v2 = { acme: idOf('acme'), globex: idOf('globex') };
    let first: string | undefined;
    let other: string | undefined;
    let r2: (CliRun & { json?: ApplyJson }) | undefined;
    const res = await applyHooked({
      onRename: async (_a, b) => {
        const m = /\/tenants\/([a-z]+)(\.prev)?$/.exec(b);
        if (!m) return;
        first ??= m[1];
        if (m[1] !== first && !r2) {
          other = m[1];
          await sleep(1500);
          r2 = await apply('--node', 'gw-1');
        }
      },
    }, { lockTtlSec: 1 });
    expect(r2?.code, r2 ? r2.stdout + r2.stderr : 'no hook').toBe(0);
    const o = other as 'acme' | 'globex';
    expect(linkId(o)).toBe(v2[o]);
    await apply('--node', 'gw-1');
    const log = reloadLog().filter((l) => l.action === 'apply');
    // each release went live once: one record each
    expect(log.filter((l) => l.tenant === 'acme' && l.release_id === v2.acme)).toHaveLength(1);
    expect(log.filter((l) => l.tenant === 'globex' && l.release_id === v2.globex)).toHaveLength(1);
    expect(log.filter((l) => l.run === res.run && l.tenant === o)).toEqual([]);
  }, 90_000);

  it('the node dies between the .prev move and the current move: no swap happened, none is recorded by the next apply', async () => {
    const v1 = idOf('acme');
    commit(level('acme', 'warn'), 'acme');
    let killed = false;
    const res = await applyHooked({
      afterRename: async (_a, b) => {
        if (b.endsWith('/tenants/acme.prev') && !killed) {
          killed = true;
          await killNodeNow(h.gw, sleep);
          throw new Error('gw-1: connection lost (node killed)');
        }
      },
    }, { lockTtlSec: 1 });
    expect(killed).toBe(true);
    expect(res.results[0]!.outcome).toBe('failed');
    await h.gw.stop();
    await h.gw.start();
    expect(linkId('acme')).toBe(v1);
    expect(intents()).toEqual([`intent.${res.run}`]);
    await sleep(1100);
    const next = await apply('--node', 'gw-1');
    expect(next.code, next.stdout + next.stderr).toBe(0);
    const log = reloadLog();
    expect(log.filter((l) => l.run === res.run)).toEqual([]);
    expect(log.filter((l) => l.run === next.json!.run && l.tenant === 'acme')).toHaveLength(1);
    expect(intents()).toEqual([]);
  }, 90_000);

  it('a rollback of a rollback: two records, each naming the right from/to', async () => {
    const v1 = idOf('acme');
    commit(level('acme', 'warn'), 'acme');
    const v2 = idOf('acme');
    expect((await apply('--node', 'gw-1')).code).toBe(0);
    const rb1 = await runCli(['rollback', '--repo', h.repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'acme']);
    expect(rb1.code, rb1.stderr).toBe(0);
    const rb2 = await runCli(['rollback', '--repo', h.repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'acme']);
    expect(rb2.code, rb2.stderr).toBe(0);
    expect(linkId('acme')).toBe(v2);
    const rbs = reloadLog().filter((l) => l.action === 'rollback');
    expect(rbs.map((l) => [l.release_id, l.prev_release_id])).toEqual([[v1, v2], [v2, v1]]);
  }, 90_000);

  it('rollback while a dead run\'s intent is pending records that swap (recovered_by) before its own, once each', async () => {
    const v1 = idOf('acme');
    commit(level('acme', 'warn'), 'acme');
    const v2 = idOf('acme');
    let killed = false;
    const res = await applyHooked({
      afterRename: async (_a, b) => {
        if (b.endsWith('/tenants/acme') && !killed) {
          killed = true;
          await killNodeNow(h.gw, sleep);
          throw new Error('gw-1: connection lost (node killed)');
        }
      },
    }, { lockTtlSec: 1 });
    expect(killed).toBe(true);
    await h.gw.stop();
    await h.gw.start();
    expect(linkId('acme')).toBe(v2);
    await sleep(1100);
    const rb = await runCli(['rollback', '--repo', h.repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'acme']);
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    const log = reloadLog();
    expect(log.filter((l) => l.run === res.run)).toEqual([expect.objectContaining({ action: 'apply', release_id: v2, recovered_by: expect.any(String) })]);
    expect(log.filter((l) => l.action === 'rollback').map((l) => [l.release_id, l.prev_release_id])).toEqual([[v1, v2]]);
  }, 90_000);
  const rollbackHooked = async (hook: (command: string) => Promise<void>, afterRename?: (to: string) => Promise<void>): Promise<{ run: string; err?: unknown }> => {
    const r = await observeAndPlan({ repo: h.repo, identity: key(), node: ['gw-1'] }, {}, true);
    const run = `probe${Date.now().toString(16)}`;
    let err: unknown;
    try {
      const t = r.fleet.transports.get('gw-1') as Transport;
      const origExec = t.exec.bind(t);
      (t as { exec: Transport['exec'] }).exec = async (command, o) => {
        await hook(command);
        return origExec(command, o);
      };
      const origRename = t.files.rename.bind(t.files);
      (t.files as { rename: (a: string, b: string) => Promise<void> }).rename = async (a: string, b: string) => {
        await origRename(a, b);
        await afterRename?.(b);
      };
      await rollbackTenant(t, 'acme', r.desired.settings, { run, actor: 'test@probe', pid: process.pid, lockTtlSec: 1, now: () => new Date(), onEvent: () => undefined }).catch((e: unknown) => {
        err = e;
      });
    } finally {
      await Promise.all([...r.fleet.transports.values()].map((t) => t.close().catch(() => undefined)));
      r.source.cleanup();
    }
    return { run, err };
  };

  it('rollback killed right after its swap (before FINISH): the next apply records it once, recovered_by', async () => {
    const v1 = idOf('acme');
    commit(level('acme', 'warn'), 'acme');
    const v2 = idOf('acme');
    expect((await apply('--node', 'gw-1')).code).toBe(0);
    let killed = false;
    const rb = await rollbackHooked(async () => undefined, async (to) => {
      if (!killed && to.endsWith('/tenants/acme')) {
        killed = true;
        await killNodeNow(h.gw, sleep);
        throw new Error('gw-1: connection lost (node killed)');
      }
    });
    expect(killed).toBe(true);
    expect(rb.err).toBeDefined();
    await h.gw.stop();
    await h.gw.start();
    expect(linkId('acme')).toBe(v1);
    await sleep(1100);
    // a newer commit: the next apply records the dead rollback, then swaps again
    commit(level('acme', 'error'), 'acme v3');
    const next = await apply('--node', 'gw-1');
    expect(next.code, next.stdout + next.stderr).toBe(0);
    const log = reloadLog().filter((l) => l.run === rb.run);
    expect(log).toEqual([expect.objectContaining({ action: 'rollback', release_id: v1, prev_release_id: v2, recovered_by: next.json!.run })]);
  }, 90_000);

  it('rollback with reload.log read-only: RecordFailed reported, intent kept; once writable the next apply records it', async () => {
    const v1 = idOf('acme');
    commit(level('acme', 'warn'), 'acme');
    const v2 = idOf('acme');
    expect((await apply('--node', 'gw-1')).code).toBe(0);
    await sh('chmod 0444 /var/db/openclaw/clawops/reload.log');
    const rb = await rollbackHooked(async () => undefined);
    expect(String(rb.err)).toMatch(/could not write the reload log/);
    expect(linkId('acme')).toBe(v1);
    expect(intents()).toEqual([`intent.${rb.run}`]);
    await sh('chmod 0644 /var/db/openclaw/clawops/reload.log');
    const next = await apply('--node', 'gw-1');
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(reloadLog().filter((l) => l.run === rb.run)).toEqual([expect.objectContaining({ action: 'rollback', release_id: v1, prev_release_id: v2, recovered_by: next.json!.run })]);
  }, 90_000);
  it('7: a real full disk (tmpfs) under the reload log at FINISH: the cut append is taken back, and the next run appends the swap\'s record as a whole line', async () => {
    commit(level('acme', 'warn'), 'acme');
    const v2 = idOf('acme');
    await sh('mkdir -p /var/db/openclaw/clawops');
    const uid = spawnSync('id', ['-u', h.gw.user], { encoding: 'utf8' }).stdout.trim();
    const m = spawnSync('nsenter', ['--target', String(h.gw.sshdPid()), '--mount', '--', 'mount', '-t', 'tmpfs', '-o', `size=64k,mode=755,uid=${uid},gid=${uid}`, 'tmpfs', '/var/db/openclaw/clawops'], { encoding: 'utf8' });
    expect(m.status, m.stderr).toBe(0);
    const readLog = async (): Promise<string> => (await h.gw.exec('cat /var/db/openclaw/clawops/reload.log 2>/dev/null')).stdout;
    let run = '';
    let next: CliRun & { json?: ApplyJson };
    let logText = '';
    let failMsg = '';
    try {
      // an old, valid log whose last 4 KiB page has 40 bytes left
      await sh(`awk 'BEGIN { s = "{\\"action\\":\\"pad\\",\\"x\\":\\""; while (length(s) < 4096 - 40 - 3) s = s "a"; print s "\\"}" }' > /var/db/openclaw/clawops/reload.log && wc -c < /var/db/openclaw/clawops/reload.log`);
      const res = await applyHooked({
        afterRename: async (_a, b) => {
          // the intent is written: the disk fills up (another process's logs)
          if (/\/intent\.[^/]+$/.test(b)) await h.gw.exec('dd if=/dev/zero of=/var/db/openclaw/clawops/filler bs=4k 2>/dev/null; true');
        },
      }, { lockTtlSec: 1 });
      run = res.run;
      failMsg = res.results[0]!.message ?? '';
      expect(res.results[0]!.reason, failMsg).toBe('RecordFailed');
      expect(linkId('acme')).toBe(v2);
      await sh('rm -f /var/db/openclaw/clawops/filler');
      await sleep(1100);
      next = await apply('--node', 'gw-1');
      logText = await readLog();
    } finally {
      spawnSync('nsenter', ['--target', String(h.gw.sshdPid()), '--mount', '--', 'umount', '-l', '/var/db/openclaw/clawops']);
    }
    expect(next!.code, next!.stdout + next!.stderr).toBe(0);
    const lines = logText.split('\n').filter((l) => l !== '');
    const bad = lines.filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    expect(bad.map((l) => l.slice(-400)), failMsg).toEqual([]);
    expect(lines.map((l) => JSON.parse(l) as Rec).filter((l) => l.run === run && l.release_id === v2)).toHaveLength(1);
  }, 90_000);
});

// ===================================================================================================================
// B. with launchd units: reload, health gate, automatic rollback, dead-man guard

const acmeOverrides = (port: number, lvl: string): string => `gateway:\n  port: ${port}\n  controlUi:\n    enabled: true\n    basePath: /acme\nlogging:\n  level: ${lvl}\n`;

describe.skipIf(!ready)('probe: swaps recorded exactly once (services: gate, automatic rollback, guard)', () => {
  const h = useHostileNode({ tenants: ['acme'], reset: UNITS_RESET, repo: 'units' });
  const { key, apply, sh, cdir, linkId, reloadLog, intents, blockPort, applyHooked } = h;
  const idOf = (): string => desiredOf(h.repo).tenants.get('acme')!.releaseId;

  it('2: `clawops rollback` whose health gate fails (put back at once): the rollback swap and the swap back are both recorded', async () => {
    commitEdits(h.repo, { [ACME]: acmeOverrides(18449, 'info') }, 'v1 on 18449');
    const v1 = idOf();
    expect((await apply()).code).toBe(0);
    commitEdits(h.repo, { [ACME]: acmeOverrides(18809, 'warn') }, 'v2 on 18809');
    const v2 = idOf();
    const a2 = await apply();
    expect(a2.code, a2.stdout + a2.stderr).toBe(0);
    expect(linkId('acme')).toBe(v2);
    expect(linkId('acme.prev')).toBe(v1);
    const blocker = blockPort(18449);
    let rb: CliRun;
    try {
      rb = await runCli(['rollback', '--repo', h.repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'acme']);
    } finally {
      blocker.close();
    }
    expect(rb.code).not.toBe(0);
    expect(rb.stderr).toMatch(/put back on/);
    expect(linkId('acme')).toBe(v2);
    // the next run (nothing to do) settles anything pending
    await apply();
    const swaps = reloadLog().filter((l) => l.action === 'rollback' || l.action === 'apply').map((l) => `${l.action} ${String(l.prev_release_id ?? '-')}→${String(l.release_id)}`);
    // two swaps happened: v2→v1 (the rollback), then v1→v2 (put back)
    expect(swaps.filter((s) => s === `rollback ${v2}→${v1}`), swaps.join('\n')).toHaveLength(1);
    expect(swaps.filter((s) => s === `rollback ${v1}→${v2}`), swaps.join('\n')).toHaveLength(1);
  }, 120_000);

  it('3: apply whose health gate fails (automatic rollback) while reload.log is unwritable: RecordFailed, the intent (with the undo journalled in it) kept, and the swap and its rollback recorded once the log is writable', async () => {
    expect((await apply()).code).toBe(0);
    const v1 = idOf();
    await sh('chmod 0444 /var/db/openclaw/clawops/reload.log');
    const before = reloadLog().length;
    commitEdits(h.repo, { [ACME]: acmeOverrides(18449, 'info') }, 'v2 on a taken port');
    const v2 = idOf();
    const blocker = blockPort(18449);
    let bad: CliRun & { json?: ApplyJson };
    try {
      bad = await apply();
    } finally {
      blocker.close();
    }
    expect(bad.code).toBe(1);
    const r = bad.json!.results.find((x) => x.node === 'gw-1')!;
    expect(r.swapped.map((s) => s.to)).toEqual([v2]);
    expect(linkId('acme')).toBe(v1);
    expect(reloadLog()).toHaveLength(before);
    // the failure is reported, and says the record is kept on the node: it must be
    expect(r.message).toMatch(/could not write the reload log/);
    const claimsKept = /the record stays in intent\.(\S+) on the node/.exec(r.message ?? '');
    if (claimsKept) expect(intents(), `message: ${r.message}`).toContain(`intent.${claimsKept[1]}`);
    // fixed by hand: the next runs must record what happened
    await sh('chmod 0644 /var/db/openclaw/clawops/reload.log');
    await apply();
    const log = reloadLog().filter((l) => l.run === bad.json!.run);
    expect(log.filter((l) => l.action === 'apply' && l.release_id === v2), JSON.stringify(reloadLog(), null, 1)).toHaveLength(1);
    expect(log.filter((l) => l.action === 'rollback' && l.release_id === v1)).toHaveLength(1);
  }, 120_000);

  /** apply in a child clawops, SIGKILLed right after acme's swap; returns the killed run id (from its intent file) */
  let killedAt = 0;
  const killAfterSwap = async (): Promise<string> => {
    const child = spawn(join(REPO_ROOT, 'bin/clawops'), ['apply', '--repo', h.repo, '--identity', key(), '--yes', '--node', 'gw-1', '--lock-ttl', '10'], { env: { ...process.env, CLAWOPS_PROGRESS: 'text' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (b: Buffer) => {
        err += b.toString();
        if (/swap\s+ok\s+acme:/.test(err) && child.exitCode === null) {
          child.kill('SIGKILL');
          killedAt = Date.now();
          resolve();
        }
      });
      child.on('exit', () => resolve());
    });
    expect(err).toMatch(/swap\s+ok\s+acme:/);
    const i = intents();
    expect(i).toHaveLength(1);
    return i[0]!.replace(/^intent\./, '');
  };
  const withShortConfirm = (): void => {
    commitEdits(h.repo, { 'clawops.yaml': `${readFileSync(join(h.repo, 'clawops.yaml'), 'utf8').replace(/confirm_sec: \d+/, 'confirm_sec: 5')}` }, 'short confirm');
  };
  const waitGuard = async (good: string | undefined): Promise<void> => {
    for (let i = 0; i < 120 && !(linkId('acme') === good && !readdirSync(cdir()).some((f) => f.startsWith('guard.'))); i++) await sleep(250);
    expect(linkId('acme')).toBe(good);
    await sleep(500);
    // the killed run's 10 s lock expires: the next run may take it over
    const left = killedAt + 11_000 - Date.now();
    if (left > 0) await sleep(left);
  };

  it('4: clawops killed after the swap, the dead-man guard reverts it (marking the swap done in the run\'s intent), then the next apply records the killed run\'s swap once', async () => {
    withShortConfirm();
    expect((await apply()).code).toBe(0);
    const good = linkId('acme');
    commitEdits(h.repo, { [ACME]: acmeOverrides(18809, 'warn') }, 'acme warn');
    const v2 = idOf();
    const dead = await killAfterSwap();
    expect(linkId('acme')).toBe(v2);
    await waitGuard(good);
    expect(reloadLog().filter((l) => l.action === 'DeadManRollback')).toEqual([expect.objectContaining({ run: dead, release_id: good, prev_release_id: v2 })]);
    const next = await apply();
    expect(next.code, next.stdout + next.stderr).toBe(0);
    // the forward swap good → v2 of the dead run happened (the guard's record even names it as what it undid)
    const log = reloadLog();
    expect(log.filter((l) => l.run === dead && l.action === 'apply' && l.release_id === v2), JSON.stringify(log, null, 1)).toHaveLength(1);
  }, 120_000);

  it('5: the dead-man guard fires while reload.log is unwritable: its DeadManRollback record waits in the run\'s intent, diff reports it, apply refuses (RecordFailed), and once writable it is recorded once', async () => {
    withShortConfirm();
    expect((await apply()).code).toBe(0);
    const good = linkId('acme');
    commitEdits(h.repo, { [ACME]: acmeOverrides(18809, 'warn') }, 'acme warn');
    const v2 = idOf();
    const dead = await killAfterSwap();
    await sh('chmod 0444 /var/db/openclaw/clawops/reload.log');
    await waitGuard(good);
    // the next diff must say something is unrecorded; the next apply must refuse (RecordFailed) like for an intent
    const d = await runCli(['diff', '--repo', h.repo, '--identity', key(), '--node', 'gw-1']);
    const a = await apply();
    const reported = /DeadManRollback|reload log|reload\.log|UnrecordedSwap|RecordFailed/i.test(d.stdout + d.stderr + a.stdout + a.stderr);
    await sh('chmod 0644 /var/db/openclaw/clawops/reload.log');
    await apply();
    const recorded = reloadLog().filter((l) => l.action === 'DeadManRollback' && l.run === dead && l.prev_release_id === v2);
    expect({ reported, recorded: recorded.length }).toEqual({ reported: true, recorded: 1 });
  }, 120_000);

  it('apply whose health gate fails (automatic rollback), reload.log writable: the swap and its rollback recorded once each', async () => {
    expect((await apply()).code).toBe(0);
    const v1 = idOf();
    commitEdits(h.repo, { [ACME]: acmeOverrides(18449, 'info') }, 'v2 on a taken port');
    const v2 = idOf();
    const blocker = blockPort(18449);
    let bad: CliRun & { json?: ApplyJson };
    try {
      bad = await apply();
    } finally {
      blocker.close();
    }
    expect(bad.code).toBe(1);
    await apply();
    const log = reloadLog().filter((l) => l.run === bad.json!.run);
    expect(log.filter((l) => l.action === 'apply' && l.release_id === v2)).toHaveLength(1);
    expect(log.filter((l) => l.action === 'rollback' && l.release_id === v1)).toHaveLength(1);
    expect(log.filter((l) => l.action === 'DeadManRollback')).toEqual([]);
  }, 120_000);

  it('3b: apply whose health gate fails (automatic rollback), then the connection drops before FINISH: the next run records the swap and its automatic rollback from the intent', async () => {
    expect((await apply()).code).toBe(0);
    const v1 = idOf();
    commitEdits(h.repo, { [ACME]: acmeOverrides(18449, 'info') }, 'v2 on a taken port');
    const v2 = idOf();
    const blocker = blockPort(18449);
    let killed = false;
    let res: Awaited<ReturnType<typeof applyHooked>>;
    try {
      res = await applyHooked({
        onExec: async (command) => {
          // FINISH (the run's record, prune and unlock) is about to be sent: the node goes away first
          if (!killed && command.includes('KEEP=$4')) {
            killed = true;
            await killNodeNow(h.gw, sleep);
            throw new Error('gw-1: connection lost (node killed)');
          }
        },
      }, { lockTtlSec: 1 });
    } finally {
      blocker.close();
    }
    expect(killed).toBe(true);
    expect(res.results[0]!.swapped.map((s) => s.to)).toEqual([v2]);
    expect(res.results[0]!.rolledBack.map((x) => x.release)).toEqual([v2]);
    await h.gw.stop();
    await h.gw.start();
    expect(linkId('acme')).toBe(v1);
    expect(intents()).toEqual([`intent.${res.run}`]);
    await sleep(1100);
    await apply();
    const d = await runCli(['diff', '--repo', h.repo, '--identity', key(), '--node', 'gw-1']);
    expect(intents()).toEqual([]);
    const log = reloadLog().filter((l) => l.run === res.run);
    expect({ apply: log.filter((l) => l.action === 'apply' && l.release_id === v2).length, rollback: log.filter((l) => l.action === 'rollback' && l.release_id === v1).length }, JSON.stringify(reloadLog(), null, 1) + d.stdout).toEqual({ apply: 1, rollback: 1 });
  }, 120_000);

  it('6: an automatic rollback whose relink fails (tenants/ not writable at that moment): no record of a swap back that never happened, the forward swap recorded once', async () => {
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
          // the automatic rollback (UNDO) is about to run: its relink cannot write into tenants/ this time
          if (!spoiled && command.includes('undo_tenant "$3" "$4" "$5"')) {
            spoiled = true;
            await sh('chmod 0555 /etc/openclaw/tenants');
          }
        },
      });
    } finally {
      blocker.close();
      await sh('chmod 0755 /etc/openclaw/tenants');
    }
    expect(spoiled).toBe(true);
    const r = res.results[0]!;
    expect(r.swapped.map((s) => s.to)).toEqual([v2]);
    // the link was NOT put back: the node still runs v2
    expect(linkId('acme')).toBe(v2);
    expect(r.message).toMatch(/but: /);
    await apply();
    const log = reloadLog().filter((l) => l.run === res.run && (l.action === 'apply' || l.action === 'rollback'));
    // one swap happened (v1 → v2): one record; no record of a swap back to v1
    expect(log.map((l) => `${String(l.action)} ${String(l.prev_release_id ?? '-')}→${String(l.release_id)}`)).toEqual([`apply ${v1}→${v2}`]);
  }, 120_000);

  it('6b: `clawops rollback` whose gate fails and whose put-back relink fails: no record claims the put-back swap that never happened', async () => {
    commitEdits(h.repo, { [ACME]: acmeOverrides(18449, 'info') }, 'v1 on 18449');
    const v1 = idOf();
    expect((await apply()).code).toBe(0);
    commitEdits(h.repo, { [ACME]: acmeOverrides(18809, 'warn') }, 'v2 on 18809');
    const v2 = idOf();
    expect((await apply()).code).toBe(0);
    const blocker = blockPort(18449);
    const r = await observeAndPlan({ repo: h.repo, identity: key(), node: ['gw-1'] }, {}, true);
    const run = `probe${Date.now().toString(16)}`;
    let spoiled = false;
    let err: unknown;
    try {
      const t = r.fleet.transports.get('gw-1') as Transport;
      const origExec = t.exec.bind(t);
      (t as { exec: Transport['exec'] }).exec = async (command, o) => {
        if (!spoiled && command.includes('undo_tenant "$3" "$4" "$5"')) {
          spoiled = true;
          await sh('chmod 0555 /etc/openclaw/tenants');
        }
        return origExec(command, o);
      };
      await rollbackTenant(t, 'acme', r.desired.settings, { run, actor: 'test@probe', pid: process.pid, lockTtlSec: 900, now: () => new Date(), onEvent: () => undefined }, { portOffset: portOffsetOf(h.gw) }).catch((e: unknown) => {
        err = e;
      });
    } finally {
      blocker.close();
      await sh('chmod 0755 /etc/openclaw/tenants');
      await Promise.all([...r.fleet.transports.values()].map((t) => t.close().catch(() => undefined)));
      r.source.cleanup();
    }
    expect(spoiled).toBe(true);
    expect(String(err)).toMatch(/but: /);
    // the put-back failed: the node runs v1 (the rollback's target)
    expect(linkId('acme')).toBe(v1);
    const log = reloadLog().filter((l) => l.run === run && l.action === 'rollback');
    expect(log.map((l) => `${String(l.prev_release_id ?? '-')}→${String(l.release_id)}`)).toEqual([`${v2}→${v1}`]);
  }, 120_000);

  it('the guard is confirmed, then the node goes away before FINISH: the swap stays, the next apply records it once (recovered_by)', async () => {
    expect((await apply()).code).toBe(0);
    const v1 = idOf();
    commitEdits(h.repo, { [ACME]: acmeOverrides(18809, 'warn') }, 'acme warn');
    const v2 = idOf();
    let killed = false;
    const res = await applyHooked({
      onExec: async (command) => {
        if (!killed && command.includes('KEEP=$4')) {
          // wait for the guard's confirmation (run's own connection) to land first
          for (let i = 0; i < 100 && readdirSync(cdir()).some((f) => /^guard\.[^.]+$/.test(f)); i++) await sleep(100);
          killed = true;
            await killNodeNow(h.gw, sleep);
            throw new Error('gw-1: connection lost (node killed)');
        }
      },
    }, { lockTtlSec: 1 });
    expect(killed).toBe(true);
    await h.gw.stop();
    await h.gw.start();
    expect(linkId('acme')).toBe(v2);
    await sleep(1100);
    await apply();
    const log = reloadLog().filter((l) => l.run === res.run);
    expect(log.filter((l) => l.action === 'apply').map((l) => [l.prev_release_id, l.release_id, typeof l.recovered_by])).toEqual([[v1, v2, 'string']]);
    expect(log.filter((l) => l.action !== 'apply' && l.action !== 'reload')).toEqual([]);
  }, 120_000);
});
