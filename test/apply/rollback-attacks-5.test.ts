/**
 * `clawops rollback` on a hostile or messy node (adversarial run 5). One test a variant, each asserting one promise:
 *   1. nothing outside clawops' tree is created, changed, removed or followed;
 *   2. a refusal is one line naming the path, a non-zero exit, nothing half-written (links exactly as before), no hang;
 *   3. every swap the rollback makes is recorded once in reload.log (a put-back included), and none it did not make;
 *   4. nothing the node says (link targets, lock fields) is printed raw.
 * Set-up as outside-tree-attacks.test.ts: one node, no launchd units, acme on v2 with .prev on v1 after one apply.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rollbackTenant } from '../../reconciler/apply/rollback.js';
import { observeAndPlan } from '../../reconciler/commands/diff.js';
import type { Transport } from '../../reconciler/transport/transport.js';
import { chownToNodeUser } from '../fleet/fleet.js';
import { applyAfter, treeSnapshot } from '../helpers/node-state.js';
import { runCli, type CliRun } from '../helpers/repo.js';
import { acmeLevel } from '../helpers/fleet-cli.js';
import { errLines, fleetReady, useHostileNode } from '../helpers/hostile-node.js';

const ready = fleetReady();

describe.skipIf(!ready)('probe 5: clawops rollback on a hostile or messy node', () => {
  const h = useHostileNode({ tenants: ['acme', 'globex'], userData: true });
  const { key, apply, commit, idOf, sh, important, cdir, tenantsDir, links, reloadLog, intents } = h;
  const rollback = (): Promise<CliRun> => runCli(['rollback', '--repo', h.repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'acme']);
  const rollbacks = (): string[] => reloadLog().filter((l) => l.action === 'rollback').map((l) => `${String(l.prev_release_id ?? '-')}→${String(l.release_id)}`);
  /** acme on v2, .prev on v1 (one apply of a change) */
  const deployTwo = async (): Promise<{ v1: string; v2: string }> => {
    const v1 = idOf('acme');
    commit(acmeLevel('warn'), 'acme warn');
    const v2 = idOf('acme');
    const a = await apply();
    expect(a.code, a.stdout + a.stderr).toBe(0);
    expect(readlinkSync(tenantsDir('acme'))).toBe(`../releases/acme/${v2}`);
    expect(readlinkSync(tenantsDir('acme.prev'))).toBe(`../releases/acme/${v1}`);
    return { v1, v2 };
  };
  const stuckShells = (): Promise<string> => h.stuck('sh -c');

  // ------------------------------------------------------------------------------------------------------------
  // promise 1 + 2: odd tenant links and release dirs are refused, one line naming the path, nothing changed

  for (const [name, shape, path] of [
    ['tenants/acme.prev a regular file holding user data', 'rm /etc/openclaw/tenants/acme.prev && echo USERDATA > /etc/openclaw/tenants/acme.prev', '/etc/openclaw/tenants/acme.prev'],
    ['tenants/acme.prev a directory holding user data', 'rm /etc/openclaw/tenants/acme.prev && mkdir /etc/openclaw/tenants/acme.prev && echo USERDATA > /etc/openclaw/tenants/acme.prev/keep', '/etc/openclaw/tenants/acme.prev'],
  ] as const) {
    it(`1/2a. ${name}: refused in one line naming it, exit non-zero, tenants/ exactly as before, no intent left, lock released`, async () => {
      await deployTwo();
      await sh(shape);
      const before = treeSnapshot(tenantsDir());
      const rb = await rollback();
      expect({
        code: rb.code !== 0,
        lines: errLines(rb).length,
        named: errLines(rb).some((l) => l.includes(path)),
        tenants: treeSnapshot(tenantsDir()),
        intents: intents(),
        lock: existsSync(cdir('node.lock')),
        rollbacks: rollbacks(),
      }, rb.stderr).toEqual({ code: true, lines: 1, named: true, tenants: before, intents: [], lock: false, rollbacks: [] });
    }, 60_000);
  }

  it('1/2b. .prev pointing at another tenant\'s complete release (../releases/globex/<id>): refused naming it, globex\'s release and the links untouched', async () => {
    await deployTwo();
    const g = idOf('globex');
    await sh(`ln -sfn ../releases/globex/${g} /etc/openclaw/tenants/acme.prev`);
    const beforeLinks = links();
    const beforeG = treeSnapshot(join(h.gw.etcOpenclaw, 'releases', 'globex'));
    const rb = await rollback();
    expect({
      code: rb.code !== 0,
      named: errLines(rb).length === 1 && errLines(rb)[0]!.includes('/etc/openclaw/tenants/acme.prev'),
      links: links(),
      globex: treeSnapshot(join(h.gw.etcOpenclaw, 'releases', 'globex')),
      rollbacks: rollbacks(),
    }, rb.stderr).toEqual({ code: true, named: true, links: beforeLinks, globex: beforeG, rollbacks: [] });
  }, 60_000);

  it('1/2c. .prev\'s release dir replaced by a symlink to a user dir holding a complete copy of it: refused naming it, nothing behind the link read into service or changed', async () => {
    const { v1 } = await deployTwo();
    await sh(`cp -a /etc/openclaw/releases/acme/${v1} /home/clawops/important/rel && rm -rf /etc/openclaw/releases/acme/${v1} && ln -s /home/clawops/important/rel /etc/openclaw/releases/acme/${v1}`);
    const before = treeSnapshot(important());
    const beforeLinks = links();
    const rb = await rollback();
    expect({
      code: rb.code !== 0,
      named: errLines(rb).length === 1 && errLines(rb)[0]!.includes(`/etc/openclaw/releases/acme/${v1}`),
      links: links(),
      user: treeSnapshot(important()),
      rollbacks: rollbacks(),
    }, rb.stderr).toEqual({ code: true, named: true, links: beforeLinks, user: before, rollbacks: [] });
  }, 60_000);

  it('1a. .prev\'s release dir a mount point (a user volume holding a complete copy of the release, bind-mounted there): the rollback does not follow it (the tenant is not put onto the user\'s volume: links as before, no swap recorded), and the volume is untouched', async () => {
    const { v1 } = await deployTwo();
    await sh(`mkdir -p /home/clawops/important/volume && cp -a /etc/openclaw/releases/acme/${v1}/. /home/clawops/important/volume/`);
    const m = spawnSync('nsenter', ['--target', String(h.gw.sshdPid()), '--mount', '--', 'mount', '--bind', '/home/clawops/important/volume', `/etc/openclaw/releases/acme/${v1}`], { encoding: 'utf8' });
    expect(m.status, m.stderr).toBe(0);
    let rb: CliRun;
    let after: string[];
    let afterLinks: string[];
    const before = treeSnapshot(important());
    const beforeLinks = links();
    try {
      rb = await rollback();
      after = treeSnapshot(important());
      afterLinks = links();
    } finally {
      spawnSync('nsenter', ['--target', String(h.gw.sshdPid()), '--mount', '--', 'umount', `/etc/openclaw/releases/acme/${v1}`]);
    }
    expect({ user: after, links: afterLinks, rollbacks: rollbacks() }, rb.stdout + rb.stderr).toEqual({ user: before, links: beforeLinks, rollbacks: [] });
  }, 60_000);

  it('2d. .prev\'s release incomplete, its openclaw.json replaced by a FIFO: refused at once naming .prev, no shell left blocked, the FIFO and the links as before', async () => {
    const { v1 } = await deployTwo();
    await sh(`rm /etc/openclaw/releases/acme/${v1}/openclaw.json && mkfifo /etc/openclaw/releases/acme/${v1}/openclaw.json`);
    const beforeLinks = links();
    const t0 = Date.now();
    const rb = await rollback();
    const took = Date.now() - t0;
    expect({
      prompt: took < 20_000,
      code: rb.code !== 0,
      named: errLines(rb).length === 1 && errLines(rb)[0]!.includes('/etc/openclaw/tenants/acme.prev'),
      stuck: await stuckShells(),
      fifo: lstatSync(join(h.gw.etcOpenclaw, 'releases', 'acme', v1, 'openclaw.json')).isFIFO(),
      links: links(),
      lock: existsSync(cdir('node.lock')),
    }, rb.stderr).toEqual({ prompt: true, code: true, named: true, stuck: '0', fifo: true, links: beforeLinks, lock: false });
  }, 60_000);

  // ------------------------------------------------------------------------------------------------------------
  // promise 3: swaps recorded once, none claimed that did not happen

  it('3a. the CURRENT release damaged (a listed file a FIFO): no hang; the rollback to the complete .prev is recorded once (v2→v1), .prev is not moved onto the damaged release, the FIFO untouched', async () => {
    const { v1, v2 } = await deployTwo();
    await sh(`rm /etc/openclaw/releases/acme/${v2}/openclaw.json && mkfifo /etc/openclaw/releases/acme/${v2}/openclaw.json`);
    const t0 = Date.now();
    const rb = await rollback();
    const took = Date.now() - t0;
    expect({
      prompt: took < 20_000,
      code: rb.code,
      cur: readlinkSync(tenantsDir('acme')),
      prev: readlinkSync(tenantsDir('acme.prev')),
      rollbacks: rollbacks(),
      fifo: lstatSync(join(h.gw.etcOpenclaw, 'releases', 'acme', v2, 'openclaw.json')).isFIFO(),
      stuck: await stuckShells(),
      intents: intents(),
    }, rb.stdout + rb.stderr).toEqual({ prompt: true, code: 0, cur: `../releases/acme/${v1}`, prev: `../releases/acme/${v1}`, rollbacks: [`${v2}→${v1}`], fifo: true, stuck: '0', intents: [] });
  }, 60_000);

  /** .prev's release v1 (no launchd units, complete) with a `launchd` symlink planted into it, to a user dir holding a plist */
  const plantUnitsLink = async (v1: string): Promise<void> => {
    await sh([
      'mkdir -p /home/clawops/important/units',
      `printf '<?xml version="1.0"?><plist version="1.0"><dict><key>Label</key><string>ai.openclaw.acme</string><key>ProgramArguments</key><array><string>/bin/sleep</string><string>60</string></array></dict></plist>\\n' > /home/clawops/important/units/ai.openclaw.acme.plist`,
      `ln -s /home/clawops/important/units /etc/openclaw/releases/acme/${v1}/launchd`,
    ].join(' && '));
  };
  const acmeUnits = async (): Promise<string[]> => {
    const installed = readdirSync(h.gw.launchDaemonsDir).filter((f) => f.startsWith('ai.openclaw.acme'));
    await h.gw.exec('for f in /Library/LaunchDaemons/ai.openclaw.acme*.plist; do [ -e "$f" ] || continue; launchctl bootout system "$f" >/dev/null 2>&1; rm -f "$f"; done; true');
    return installed;
  };

  it('1b. .prev\'s release (complete, no launchd units) holding a planted `launchd` symlink to a user dir with a plist: the link is not followed, so the rollback goes through as it would without it (exit 0, on v1), nothing installed from the user\'s plist, the user dir untouched', async () => {
    const { v1 } = await deployTwo();
    await plantUnitsLink(v1);
    const before = treeSnapshot(important());
    const rb = await rollback();
    const cur = readlinkSync(tenantsDir('acme'));
    expect({ code: rb.code, cur, installed: await acmeUnits(), user: treeSnapshot(important()) }, rb.stderr).toEqual({ code: 0, cur: `../releases/acme/${v1}`, installed: [], user: before });
  }, 60_000);

  it('3b. the same planted `launchd` link: whatever the rollback does, the links and reload.log agree (one record per swap made: v2→v1 alone, or v2→v1 and its put-back v1→v2), no intent left', async () => {
    const { v1, v2 } = await deployTwo();
    await plantUnitsLink(v1);
    const rb = await rollback();
    const cur = readlinkSync(tenantsDir('acme'));
    await acmeUnits();
    const expected = cur === `../releases/acme/${v1}` ? [`${v2}→${v1}`] : [`${v2}→${v1}`, `${v1}→${v2}`];
    expect({ rollbacks: rollbacks(), intents: intents() }, `${rb.code}: ${rb.stderr}`).toEqual({ rollbacks: expected, intents: [] });
  }, 60_000);

  it('2/3c. the move of current fails after .prev was moved (the connection drops between the two renames): the links are exactly as before (.prev still names v1), and no swap is recorded', async () => {
    const { v1, v2 } = await deployTwo();
    const beforeLinks = links();
    const r = await observeAndPlan({ repo: h.repo, identity: key(), node: ['gw-1'] }, {}, true);
    const run = `probe${Date.now().toString(16)}`;
    let err: unknown;
    let failed = false;
    try {
      const t = r.fleet.transports.get('gw-1') as Transport;
      const origLink = t.files.symlink.bind(t.files);
      (t.files as { symlink: (a: string, b: string) => Promise<void> }).symlink = async (a: string, b: string) => {
        // the temp link of current (not .prev's): the SFTP request fails
        if (b.endsWith(`/.clawops-${run}-acme`)) {
          failed = true;
          throw new Error('gw-1: SFTP symlink failed (connection lost)');
        }
        await origLink(a, b);
      };
      await rollbackTenant(t, 'acme', r.desired.settings, { run, actor: 'test@probe', pid: process.pid, lockTtlSec: 900, now: () => new Date(), onEvent: () => undefined }).catch((e: unknown) => {
        err = e;
      });
    } finally {
      await Promise.all([...r.fleet.transports.values()].map((t) => t.close().catch(() => undefined)));
      r.source.cleanup();
    }
    expect(failed).toBe(true);
    expect(err).toBeDefined();
    expect({ links: links(), rollbacks: rollbacks(), lock: existsSync(cdir('node.lock')) }, `${String(err)} (v1 ${v1}, v2 ${v2})`).toEqual({ links: beforeLinks, rollbacks: [], lock: false });
  }, 60_000);

  it('the same for apply: the move of current fails after .prev was moved: .prev still names the release it named, and no swap is recorded', async () => {
    const { v1 } = await deployTwo();
    commit(acmeLevel('error'), 'acme error');
    const beforeLinks = links();
    const run = `probe${Date.now().toString(16)}`;
    let failed = false;
    const res = await applyAfter({
      repo: h.repo,
      identity: key(),
      nodes: ['gw-1'],
      wrap: (ts) => {
        const t = ts.get('gw-1')!;
        const origLink = t.files.symlink.bind(t.files);
        (t.files as { symlink: (a: string, b: string) => Promise<void> }).symlink = async (a: string, b: string) => {
          // the temp link of current (not .prev's): the SFTP request fails
          if (b.endsWith(`/.clawops-${run}-acme`)) {
            failed = true;
            throw new Error('gw-1: SFTP symlink failed (connection lost)');
          }
          await origLink(a, b);
        };
      },
    }, async () => undefined, { run });
    expect(failed).toBe(true);
    expect(res.results[0]!.outcome).toBe('failed');
    expect({ links: links(), applies: reloadLog().filter((l) => l.run === run && l.action === 'apply').length, lock: existsSync(cdir('node.lock')) }, `v1 ${v1}`).toEqual({ links: beforeLinks, applies: 0, lock: false });
  }, 60_000);

  it('1/3d. reload.log a symlink to a user file: nothing appended through it, a one-line RecordFailed naming reload.log, and the swap it made kept in its intent for the next run', async () => {
    const { v1, v2 } = await deployTwo();
    writeFileSync(important('diary.txt'), 'USERDATA\n');
    chownToNodeUser(important());
    await sh('rm -f /var/db/openclaw/clawops/reload.log && ln -s /home/clawops/important/diary.txt /var/db/openclaw/clawops/reload.log');
    const before = treeSnapshot(important());
    const rb = await rollback();
    const kept = intents();
    const pending = kept.flatMap((f) => readFileSync(cdir(f), 'utf8').split('\n')).filter((l) => l.includes('"action":"rollback"') && l.includes(`"release_id":"${v1}"`) && l.includes(`"prev_release_id":"${v2}"`));
    expect({
      user: treeSnapshot(important()),
      code: rb.code !== 0,
      line: errLines(rb).length === 1 && /reload\.log/.test(errLines(rb)[0]!),
      cur: readlinkSync(tenantsDir('acme')),
      kept: kept.length,
      pending: pending.length,
      lock: existsSync(cdir('node.lock')),
    }, rb.stderr).toEqual({ user: before, code: true, line: true, cur: `../releases/acme/${v1}`, kept: 1, pending: 1, lock: false });
  }, 60_000);

  it('2/3e. reload.log a FIFO: the rollback neither hangs nor leaves a shell blocked; a one-line failure naming reload.log; the lock released', async () => {
    await deployTwo();
    await sh('rm -f /var/db/openclaw/clawops/reload.log && mkfifo /var/db/openclaw/clawops/reload.log');
    try {
      const t0 = Date.now();
      const rb = await rollback();
      const took = Date.now() - t0;
      expect({
        prompt: took < 20_000,
        code: rb.code !== 0,
        line: errLines(rb).length === 1 && /reload\.log/.test(errLines(rb)[0]!),
        stuck: await stuckShells(),
        lock: existsSync(cdir('node.lock')),
        fifo: lstatSync(cdir('reload.log')).isFIFO(),
      }, rb.stderr).toEqual({ prompt: true, code: true, line: true, stuck: '0', lock: false, fifo: true });
    } finally {
      await h.gw.stop();
      await h.gw.start();
    }
  }, 90_000);

  // ------------------------------------------------------------------------------------------------------------
  // promise 4: node strings never printed raw

  it('4a. .prev pointing at a target full of escape sequences (OSC retitle, CSI clear, BEL, CR): refused, the output carries no raw control character, the links as before', async () => {
    await deployTwo();
    const evil = '../releases/acme/\u001b]0;pwned\u0007\u001b[2J\r0123';
    await sh('rm /etc/openclaw/tenants/acme.prev');
    symlinkSync(evil, tenantsDir('acme.prev'));
    const beforeLinks = links();
    const rb = await rollback();
    const out = rb.stdout + rb.stderr;
    expect({
      code: rb.code !== 0,
      // eslint-disable-next-line no-control-regex
      raw: /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(out),
      named: errLines(rb).length === 1 && errLines(rb)[0]!.includes('/etc/openclaw/tenants/acme.prev'),
      links: links(),
    }, JSON.stringify(out)).toEqual({ code: true, raw: false, named: true, links: beforeLinks });
  }, 60_000);

  it('4b. a stale node.lock whose owner, host and run carry escape sequences: the rollback takes it over, and nothing of it reaches the output raw', async () => {
    const { v1, v2 } = await deployTwo();
    const esc = (s: string): string => JSON.stringify(s);
    writeFileSync(cdir('node.lock'), `{"run":${esc('r\u001b[2J')},"owner":${esc('x\u001b]0;pwned\u0007')},"pid":1,"ttl_sec":10,"acquired_epoch":1000,"host":${esc('h\u009b31m\r')}}\n`);
    chownToNodeUser(cdir());
    const rb = await rollback();
    const out = rb.stdout + rb.stderr;
    expect({
      code: rb.code,
      // eslint-disable-next-line no-control-regex
      raw: /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(out),
      cur: readlinkSync(tenantsDir('acme')),
      rollbacks: rollbacks(),
    }, JSON.stringify(out)).toEqual({ code: 0, raw: false, cur: `../releases/acme/${v1}`, rollbacks: [`${v2}→${v1}`] });
  }, 60_000);
});
