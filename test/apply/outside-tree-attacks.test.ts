/**
 * Does clawops act OUTSIDE the tree it owns on a hostile or messy node (releases/<t>/<id>, tenants/<t>[.prev],
 * /var/db/openclaw/clawops/…, ai.openclaw.<t>.plist)? The variants an adversarial run (2026-11-29) tried, one test
 * each, asserting the promise: nothing outside the tree created, changed, removed or followed; a refusal naming the
 * path; never a hang.
 *
 * Fixed (the tests pass): A, O a symlinked VARDB/clawops is refused by BEGIN and TAKEOVER, and observe keeps nothing
 * there; B, Q clawops/port-offset that is a link or a FIFO is removed (its own name), never written through or read;
 * F, M, S reload.log that is a link, a FIFO or has another hard link is refused by FINISH, UNLOCK and the dead-man
 * guard (log_refusal); N, T no rm -rf through a mount point (mount_inside: the node's mount table, bind mounts of the
 * same file system included; find -xdev for volumes); R node.lock that is not a regular file is not read; V, W the
 * pre-fill hashes only regular files; G a symlinked logs/ fails the reload; H, H2, J, K clawops' temp names (the
 * quarantine record, the guard file, a plist) are removed and created afresh (O_EXCL), their dirs never links; I, U the
 * heartbeat and PASSED never write through a link; P a symlinked secrets/<t> is refused by PROMOTE before the wrapper
 * (which checks each secret file, not the dir) reads through it: no release is deployed on it (a gateway restarted by
 * launchd still starts through the old wrapper: L and the wrapper's own check wait for a wrapper change).
 *
 * Fixed later the same day: C a staging dir planted as a link under the name node.lock tells: files are staged by
 * STAGE, one tar extracted inside the directory the node's shell stands in (enter_staging: made by mkdir, pwd -P
 * checked), never by an SFTP write by path; D the intent's temp is created afresh (SFTP O_EXCL), never written through
 * a link; L the shipped wrapper writes its run record only into real dirs, its temp created afresh, and refuses a
 * symlinked secrets/<t> itself.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NodeApplyResult } from '../../reconciler/apply/apply-node.js';
import { chownToNodeUser } from '../fleet/fleet.js';
import { applyAfter, treeSnapshot } from '../helpers/node-state.js';
import { runCli } from '../helpers/repo.js';
import { acmeLevel, extraLevel } from '../helpers/fleet-cli.js';
import { fleetReady, useHostileNode } from '../helpers/hostile-node.js';
import { connectNode } from '../../reconciler/transport/connect.js';
import type { Transport } from '../../reconciler/transport/transport.js';
import { runScript } from '../../reconciler/apply/remote.js';
import { quarantine } from '../../reconciler/apply/services.js';
import { GATE_SCRIPT, GUARD_BODY, GUARD_START_SCRIPT, NODE_UNIT_SCRIPT, PASSED_SCRIPT, RELOAD_SCRIPT } from '../../reconciler/apply/services-sh.js';

const ready = fleetReady();
const extra = extraLevel;


describe.skipIf(!ready)('probe: clawops never acts outside its tree (apply, node scripts)', () => {
  const h = useHostileNode({ tenants: ['acme', 'globex', 'initech'], userData: true });
  const { key, apply, commit, idOf, sh, important, cdir } = h;
  const result = (j: { results: NodeApplyResult[] } | undefined): NodeApplyResult => j!.results.find((r) => r.node === 'gw-1')!;

  // ------------------------------------------------------------------------------------------------------------
  it('A. /var/db/openclaw/clawops itself a symlink to a user dir: apply refuses the node, naming it, and nothing behind the link is written or removed', async () => {
    await sh([
      'rm -rf /var/db/openclaw/clawops',
      'cd /home/clawops/important',
      // user files that happen to carry clawops\' litter names
      'echo USERDATA > want.list && echo USERDATA > node.lock.stale.backup && echo USERDATA > node.lock.release.old',
      'ln -s /home/clawops/important /var/db/openclaw/clawops',
    ].join(' && '));
    const before = treeSnapshot(important());
    commit(acmeLevel('warn'), 'acme warn');
    const r = await apply();
    const after = treeSnapshot(important());
    // the promise: nothing behind the link created, changed or removed (today: want.list, node.lock.stale.backup and
    // node.lock.release.old are deleted by recover_dead_runs; node.lock, want.RUN, port-offset, reload.log,
    // openclaw-version.cache… are written there); refused, naming the path
    expect(after).toEqual(before);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/\/var\/db\/openclaw\/clawops.*symlink/);
  }, 60_000);

  it('B. clawops/port-offset a symlink to a user file: BEGIN replaces the link, never writes through it', async () => {
    await sh('echo "USERDATA keep me" > /home/clawops/important/settings.conf && ln -s /home/clawops/important/settings.conf /var/db/openclaw/clawops/port-offset');
    const before = treeSnapshot(important());
    commit(acmeLevel('warn'), 'acme warn');
    await apply();
    expect(readFileSync(important('settings.conf'), 'utf8')).toBe('USERDATA keep me\n');
    expect(treeSnapshot(important())).toEqual(before);
  }, 60_000);

  it('C. a staging dir releases/<t>/<id>.tmp-<RUN> planted as a symlink once the lock (with its run id) is visible: STAGE refuses it (enter_staging), nothing is written behind the link', async () => {
    // a first deploy of initech (nothing to pre-fill from: the staging dir is made by SFTP mkdirp)
    await sh('rm -rf /etc/openclaw/tenants/initech /etc/openclaw/releases/initech/*');
    commit(extra('initech', 'warn'), 'initech warn');
    const run = `probe${Date.now().toString(16)}`;
    const id = idOf('initech');
    let before: string[] = [];
    const res = await applyAfter({ repo: h.repo, identity: key(), nodes: ['gw-1'] }, async () => undefined, {
      run,
      onEvent: (e) => {
        if (e.step === 'lock' && e.state === 'done') {
          // a local process that reads node.lock (it names the run) plants the staging dir's name
          symlinkSync('/home/clawops/important', join(h.gw.etcOpenclaw, 'releases', 'initech', `${id}.tmp-${run}`));
          before = treeSnapshot(important());
        }
      },
    });
    expect(before.length).toBeGreaterThan(0);
    const after = treeSnapshot(important());
    expect(after, JSON.stringify(result(res))).toEqual(before);
  }, 60_000);

  it('D. clawops/.intent.<RUN>.tmp planted as a symlink after the lock: the intent is created afresh (O_EXCL), so the write fails and nothing is written through the link', async () => {
    commit(acmeLevel('warn'), 'acme warn');
    const run = `probe${Date.now().toString(16)}`;
    await sh('echo "USERDATA keep me" > /home/clawops/important/journal.txt');
    let before: string[] = [];
    await applyAfter({ repo: h.repo, identity: key(), nodes: ['gw-1'] }, async () => undefined, {
      run,
      onEvent: (e) => {
        if (e.step === 'lock' && e.state === 'done') {
          symlinkSync('/home/clawops/important/journal.txt', cdir(`.intent.${run}.tmp`));
          before = treeSnapshot(important());
        }
      },
    });
    expect(readFileSync(important('journal.txt'), 'utf8')).toBe('USERDATA keep me\n');
    expect(treeSnapshot(important())).toEqual(before);
  }, 60_000);

  it('--prune of an unassigned tenant whose releases/<t> holds a user dir (diff: "not a release clawops made (left alone)") leaves that dir alone', async () => {
    await sh('mkdir /etc/openclaw/releases/initech/notes-keep && echo USERDATA > /etc/openclaw/releases/initech/notes-keep/data');
    commit({ 'nodes.yaml': readFileSync(join(h.repo, 'nodes.yaml'), 'utf8').replace(/- initech\n/, '') }, 'unassign initech');
    const d = await runCli(['diff', '--repo', h.repo, '--identity', key()]);
    expect(d.stdout).toContain('notes-keep is not a release clawops made (left alone)');
    await apply('--prune');
    expect(existsSync(join(h.gw.etcOpenclaw, 'releases/initech/notes-keep/data'))).toBe(true);
  }, 60_000);

  it('F. reload.log a hard link to a user file: the record is refused (RecordFailed naming it), never appended into that file', async () => {
    writeFileSync(important('diary.txt'), 'USERDATA\n');
    chownToNodeUser(important());
    linkSync(important('diary.txt'), cdir('reload.log'));
    commit(acmeLevel('warn'), 'acme warn');
    const r = await apply();
    expect(readFileSync(important('diary.txt'), 'utf8'), r.stdout).toBe('USERDATA\n');
  }, 60_000);

  // ------------------------------------------------------------------------------------------------------------
  // the node scripts clawops runs after a swap (reload, gate, guard, quarantine, wrapper), run the way apply runs them
  const withTransport = async <T>(fn: (t: Transport) => Promise<T>): Promise<T> => {
    const t = await connectNode(h.desired.nodes.find((n) => n.name === 'gw-1')!, h.desired.settings, { identityFile: key(), knownHostsFile: h.fleet.knownHostsPath });
    try {
      return await fn(t);
    } finally {
      await t.close();
    }
  };
  const P = { etc: '/etc/openclaw', varDb: '/var/db/openclaw', launchDaemons: '/Library/LaunchDaemons' };

  it('G. /var/db/openclaw/logs a symlink to a user dir: the reload refuses (reload-failed naming it), nothing created behind it', async () => {
    await sh('ln -s /home/clawops/important /var/db/openclaw/logs');
    const before = treeSnapshot(important());
    await withTransport((t) => runScript(t, RELOAD_SCRIPT, [P.etc, P.launchDaemons, 'acme', idOf('acme'), '1', P.varDb, '']));
    expect(treeSnapshot(important())).toEqual(before);
  }, 60_000);

  it('H. clawops/quarantine a symlink: the automatic-rollback quarantine writes nothing behind it', async () => {
    await sh('ln -s /home/clawops/important /var/db/openclaw/clawops/quarantine');
    const before = treeSnapshot(important());
    await withTransport((t) => quarantine(t, P, 'acme', idOf('acme'), '{"reason":"probe"}'));
    expect(treeSnapshot(important())).toEqual(before);
  }, 60_000);

  it('H2. quarantine/<t>/<id>.tmp planted as a symlink: removed, the record created fresh (O_EXCL), the user file untouched', async () => {
    const id = idOf('acme');
    await sh(`echo "USERDATA keep me" > /home/clawops/important/q.txt && mkdir -p /var/db/openclaw/clawops/quarantine/acme && ln -s /home/clawops/important/q.txt /var/db/openclaw/clawops/quarantine/acme/${id}.tmp`);
    await withTransport((t) => quarantine(t, P, 'acme', id, '{"reason":"probe"}'));
    expect(readFileSync(important('q.txt'), 'utf8')).toBe('USERDATA keep me\n');
  }, 60_000);

  it('I. the health gate\'s heartbeat (guard.<RUN>.beat) planted as a symlink: never written through', async () => {
    const run = 'probebeat1';
    await sh(`echo "USERDATA keep me" > /home/clawops/important/beat.txt && ln -s /home/clawops/important/beat.txt /var/db/openclaw/clawops/guard.${run}.beat`);
    await withTransport((t) => runScript(t, GATE_SCRIPT, ['http://127.0.0.1:1/readyz', '1', '100', '0', 'ai.openclaw.acme', `${P.varDb}/clawops/guard.${run}.beat`], '', 20_000));
    expect(readFileSync(important('beat.txt'), 'utf8')).toBe('USERDATA keep me\n');
  }, 60_000);

  it('J. GUARD_START\'s guard.<RUN>.tmp planted as a symlink: removed, the guard file created fresh (O_EXCL)', async () => {
    const run = 'probeguard1';
    await sh(`echo "USERDATA keep me" > /home/clawops/important/guard.txt && ln -s /home/clawops/important/guard.txt /var/db/openclaw/clawops/guard.${run}.tmp`);
    try {
      await withTransport((t) => runScript(t, GUARD_START_SCRIPT, [P.etc, P.varDb, P.launchDaemons, run, '600', '300', GUARD_BODY], `acme\t${idOf('acme')}\t-\t-\n`));
      expect(readFileSync(important('guard.txt'), 'utf8')).toBe('USERDATA keep me\n');
    } finally {
      // stand the guard down (its loop ends when the file is gone)
      await h.gw.exec(`rm -f /var/db/openclaw/clawops/guard.${run} /var/db/openclaw/clawops/guard.${run}.tmp`);
    }
  }, 60_000);

  it('K. a <LaunchDaemons>/<label>.plist.clawops-tmp planted as a symlink: removed before the copy, the user file untouched, the installed plist a real file', async () => {
    const label = 'ai.openclaw.clawops.notifier';
    await sh(`echo "USERDATA keep me" > /home/clawops/important/plist.txt && ln -s /home/clawops/important/plist.txt /Library/LaunchDaemons/${label}.plist.clawops-tmp`);
    const plist = `<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>Label</key><string>${label}</string><key>ProgramArguments</key><array><string>/bin/sleep</string><string>30</string></array></dict></plist>\n`;
    try {
      await withTransport((t) => runScript(t, NODE_UNIT_SCRIPT, [P.launchDaemons, label, '2', P.varDb], plist, 30_000));
      expect(readFileSync(important('plist.txt'), 'utf8')).toBe('USERDATA keep me\n');
      expect(lstatSync(join(h.gw.launchDaemonsDir, `${label}.plist`)).isSymbolicLink()).toBe(false);
    } finally {
      await h.gw.exec(`launchctl bootout system/${label} >/dev/null 2>&1; rm -f /Library/LaunchDaemons/${label}.plist*`);
    }
  }, 60_000);

  it('L. the shipped gateway wrapper never writes its run record through a symlinked clawops/run', async () => {
    // a repo with launchd units: its releases ship bin/gateway-run
    h.placeRepo({});
    expect(h.desired.tenants.get('acme')!.files.some((f) => f.path === 'bin/gateway-run')).toBe(true);
    await sh('ln -s /home/clawops/important /var/db/openclaw/clawops/run');
    const before = treeSnapshot(important());
    // (openclaw replaced by `true`: only the wrapper's own steps run)
    await sh('CLAWOPS_OPENCLAW=true sh /etc/openclaw/tenants/acme/bin/gateway-run acme /etc/openclaw /var/db/openclaw');
    expect(treeSnapshot(important())).toEqual(before);
  }, 60_000);

  it('M. reload.log a FIFO: FINISH refuses it at once (not a regular file), the lock is released, no shell stays blocked', async () => {
    const cfg = readFileSync(join(h.repo, 'clawops.yaml'), 'utf8');
    commit({ 'clawops.yaml': cfg.replace(/command_timeout_ms: \d+/, 'command_timeout_ms: 5000'), ...acmeLevel('warn') }, 'short timeout, acme warn');
    await sh('mkfifo /var/db/openclaw/clawops/reload.log');
    try {
      const t0 = Date.now();
      const r = await apply();
      const took = Date.now() - t0;
      const g = result(r.json);
      const stuck = (await h.gw.exec('ps -eo args | grep -c "^sh -c" || true')).stdout.trim();
      const lock = existsSync(cdir('node.lock'));
      // the promise: a one-line RecordFailed naming the path at once; no process left blocked; the lock released
      expect({ took: took < 4000, reason: g.reason, msg: /reload\.log/.test(g.message ?? ''), stuck, lock }, g.message).toEqual({ took: true, reason: 'RecordFailed', msg: true, stuck: '0', lock: false });
    } finally {
      await h.gw.stop();
      await h.gw.start();
    }
  }, 90_000);

  it('N. an old release dir that is a mount point is never pruned: the mounted user data stays', async () => {
    const uid = spawnSync('id', ['-u', 'clawops'], { encoding: 'utf8' }).stdout.trim();
    // six older release dirs (more than releases.keep = 5); the oldest is where someone mounted a volume
    const old = ['0000000000000001', '0000000000000002', '0000000000000003', '0000000000000004', '0000000000000005', '0000000000000006'];
    await sh(`cd /etc/openclaw/releases/acme && for d in ${old.join(' ')}; do mkdir $d && echo x > $d/f; done && touch -d 2020-01-01 ${old[0]} && touch -d 2020-01-02 ${old.slice(1).join(' ')}`);
    await sh('mkdir -p /home/clawops/important/volume && echo USERDATA > /home/clawops/important/volume/precious.db');
    const m = spawnSync('nsenter', ['--target', String(h.gw.sshdPid()), '--mount', '--', 'mount', '--bind', '/home/clawops/important/volume', `/etc/openclaw/releases/acme/${old[0]}`], { encoding: 'utf8' });
    expect(m.status, m.stderr).toBe(0);
    void uid;
    try {
      // (inside the node the mounted volume's root is what releases/acme/<old> shows: dated oldest)
      await sh(`touch -d 2019-01-01 /etc/openclaw/releases/acme/${old[0]}`);
      const before = treeSnapshot(important());
      commit(acmeLevel('warn'), 'acme warn');
      const r = await apply();
      expect(treeSnapshot(important()), r.stdout).toEqual(before);
    } finally {
      spawnSync('nsenter', ['--target', String(h.gw.sshdPid()), '--mount', '--', 'umount', `/etc/openclaw/releases/acme/${old[0]}`]);
    }
  }, 60_000);

  it('O. the rollback command, with /var/db/openclaw/clawops a symlink: refused, nothing behind the link touched', async () => {
    commit(acmeLevel('warn'), 'v2');
    expect((await apply()).code).toBe(0);
    await sh('mv /var/db/openclaw/clawops/reload.log /tmp/ 2>/dev/null; rm -rf /var/db/openclaw/clawops && cd /home/clawops/important && echo USERDATA > want.keep && ln -s /home/clawops/important /var/db/openclaw/clawops');
    const before = treeSnapshot(important());
    const rb = await runCli(['rollback', '--repo', h.repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'acme']);
    expect(treeSnapshot(important()), rb.stderr).toEqual(before);
    expect(rb.code).not.toBe(0);
  }, 60_000);

  it('P. /var/db/openclaw/secrets/<t> a symlink (to another tenant\'s secrets): apply refuses the tenant before its validation or secret check reads anything through it', async () => {
    // a repo with launchd units: the release's wrapper reads the secret files (it refuses a linked secret FILE)
    h.placeRepo({});
    await sh('mv /var/db/openclaw/secrets/acme /var/db/openclaw/secrets/acme.orig && ln -s /var/db/openclaw/secrets/globex /var/db/openclaw/secrets/acme');
    commit(acmeLevel('warn'), 'acme warn');
    const r = await apply();
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/secrets\/acme.*(symlink|link)/);
  }, 60_000);


  for (const [letter, name, msg] of [
    ['Q', 'port-offset', 'BEGIN\'s `cat port-offset` blocks (the gateway wrapper\'s too)'],
    ['R', 'node.lock', 'BEGIN\'s `head -c 4096 node.lock` (lock held) blocks'],
  ] as const) {
    it(`${letter}. clawops/${name} a FIFO (${msg} before): the apply neither hangs nor leaves a shell blocked on the node`, async () => {
      const cfg = readFileSync(join(h.repo, 'clawops.yaml'), 'utf8');
      commit({ 'clawops.yaml': cfg.replace(/command_timeout_ms: \d+/, 'command_timeout_ms: 5000'), ...acmeLevel('warn') }, 'short timeout, acme warn');
      await sh(`mkfifo /var/db/openclaw/clawops/${name}`);
      try {
        const t0 = Date.now();
        const r = await apply();
        const took = Date.now() - t0;
        const stuck = (await h.gw.exec('ps -eo args | grep -c "^sh -c" || true')).stdout.trim();
        const g = result(r.json);
        // the promise: prompt, nothing left blocked on the node; node.lock (not clawops' form) is a refusal naming it,
        // port-offset (clawops' own name) is replaced by a regular file or removed
        const named = name === 'node.lock' ? (g.message ?? '').includes(name) : !(await h.gw.exec(`[ -p /var/db/openclaw/clawops/${name} ]`)).code;
        expect({ prompt: took < 4000, named, stuck }, `${took} ms: ${g.reason}: ${g.message}`).toEqual({ prompt: true, named: name === 'node.lock', stuck: '0' });
      } finally {
        await h.gw.stop();
        await h.gw.start();
      }
    }, 90_000);
  }

  it('S. the dead-man guard, firing, never appends its DeadManRollback record through a symlinked reload.log', async () => {
    const run = 'probeguard2';
    await sh('echo "USERDATA keep me" > /home/clawops/important/log.txt && ln -s /home/clawops/important/log.txt /var/db/openclaw/clawops/reload.log');
    // a guard whose run went silent at once (deadline 1 s, confirm 0): it puts acme back (a first deploy: unlinked)
    await withTransport((t) => runScript(t, GUARD_START_SCRIPT, [P.etc, P.varDb, P.launchDaemons, run, '1', '0', GUARD_BODY], `acme\t${idOf('acme')}\t-\t-\n`));
    for (let i = 0; i < 50 && existsSync(cdir(`guard.${run}`)) ; i++) await new Promise((ok) => setTimeout(ok, 100));
    for (let i = 0; i < 50 && existsSync(cdir(`guard.${run}.firing`)); i++) await new Promise((ok) => setTimeout(ok, 100));
    expect(existsSync(cdir(`guard.${run}`))).toBe(false);
    expect(readFileSync(important('log.txt'), 'utf8')).toBe('USERDATA keep me\n');
  }, 60_000);

  it('T. repairing a drifted live release never takes the files of a volume mounted inside it for strays', async () => {
    const id = idOf('acme');
    await sh('mkdir -p /home/clawops/important/volume && echo USERDATA > /home/clawops/important/volume/precious.db');
    await sh(`mkdir /etc/openclaw/releases/acme/${id}/notes && echo edited >> /etc/openclaw/releases/acme/${id}/gateway.d/10-base.yaml`);
    const m = spawnSync('nsenter', ['--target', String(h.gw.sshdPid()), '--mount', '--', 'mount', '--bind', '/home/clawops/important/volume', `/etc/openclaw/releases/acme/${id}/notes`], { encoding: 'utf8' });
    expect(m.status, m.stderr).toBe(0);
    try {
      const before = treeSnapshot(important());
      const r = await apply();
      expect(treeSnapshot(important()), r.stdout).toEqual(before);
    } finally {
      spawnSync('nsenter', ['--target', String(h.gw.sshdPid()), '--mount', '--', 'umount', `/etc/openclaw/releases/acme/${id}/notes`]);
    }
  }, 60_000);

  it('U. PASSED never appends through a guard.<RUN> that is a symlink', async () => {
    const run = 'probepassed1';
    await sh(`echo "USERDATA keep me" > /home/clawops/important/g.txt && ln -s /home/clawops/important/g.txt /var/db/openclaw/clawops/guard.${run}`);
    await withTransport((t) => t.exec(`sh -c '${PASSED_SCRIPT.replace(/'/g, `'\\''`)}' clawops /var/db/openclaw ${run}`));
    expect(readFileSync(important('g.txt'), 'utf8')).toBe('USERDATA keep me\n');
  }, 60_000);

  // ------------------------------------------------------------------------------------------------------------
  // variants that hold today

  it('releases/initech a RELATIVE symlink to another tenant\'s releases dir (../releases/acme): initech refused, acme\'s releases untouched', async () => {
    await sh('rm -rf /etc/openclaw/releases/initech && ln -s acme /etc/openclaw/releases/initech');
    const before = treeSnapshot(join(h.gw.etcOpenclaw, 'releases', 'acme'));
    commit(extra('initech', 'warn'), 'initech warn');
    const r = await apply();
    expect(r.code).toBe(1);
    expect(r.json!.blocked).toEqual(['gw-1/initech']);
    expect(treeSnapshot(join(h.gw.etcOpenclaw, 'releases', 'acme'))).toEqual(before);
  }, 60_000);

  it('node.lock a hard link to a user file: apply is refused (an unreadable lock), the file untouched', async () => {
    writeFileSync(important('lockish.txt'), 'USERDATA\n');
    chownToNodeUser(important());
    linkSync(important('lockish.txt'), cdir('node.lock'));
    commit(acmeLevel('warn'), 'acme warn');
    const r = await apply();
    expect(r.code).not.toBe(0);
    expect(result(r.json).reason).toBe('NodeLocked');
    expect(readFileSync(important('lockish.txt'), 'utf8')).toBe('USERDATA\n');
  }, 60_000);

  it('node.lock a symlink to a user file holding an expired lock: not read (an unreadable lock: refused, naming the file), the user file untouched', async () => {
    writeFileSync(important('old.lock'), `{"run":"20200101t000000-abcdef","owner":"x","pid":1,"ttl_sec":10,"acquired_epoch":1000,"host":"h"}\n`);
    chownToNodeUser(important());
    await sh('ln -s /home/clawops/important/old.lock /var/db/openclaw/clawops/node.lock');
    const before = treeSnapshot(important());
    commit(acmeLevel('warn'), 'acme warn');
    const r = await apply();
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout).toMatch(/unreadable lock file.*node\.lock/);
    expect(treeSnapshot(important())).toEqual(before);
    expect(lstatSync(cdir('node.lock')).isSymbolicLink()).toBe(true);
  }, 60_000);

  it('a dead run\'s intent.* that is a FIFO or a symlink, and want.* that is a directory or a symlink: skipped promptly, nothing behind them touched', async () => {
    await sh([
      'echo "USERDATA" > /home/clawops/important/i.txt',
      'mkfifo /var/db/openclaw/clawops/intent.deadfifo',
      'ln -s /home/clawops/important/i.txt /var/db/openclaw/clawops/intent.deadlink',
      'mkdir /var/db/openclaw/clawops/want.deaddir && echo USERDATA > /var/db/openclaw/clawops/want.deaddir/x',
      'ln -s /home/clawops/important/i.txt /var/db/openclaw/clawops/want.deadlink',
    ].join(' && '));
    const before = treeSnapshot(important());
    commit(acmeLevel('warn'), 'acme warn');
    const t0 = Date.now();
    const r = await apply();
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.code, r.stdout).toBe(0);
    expect(treeSnapshot(important())).toEqual(before);
    expect(readFileSync(cdir('want.deaddir', 'x'), 'utf8')).toBe('USERDATA\n');
  }, 60_000);

  it('an installed plist that is a symlink to a user file is replaced (rename over the link), never written through', async () => {
    const label = 'ai.openclaw.clawops.notifier';
    await sh(`echo "USERDATA keep me" > /home/clawops/important/p.txt && ln -s /home/clawops/important/p.txt /Library/LaunchDaemons/${label}.plist`);
    const plist = `<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>Label</key><string>${label}</string><key>ProgramArguments</key><array><string>/bin/sleep</string><string>30</string></array></dict></plist>\n`;
    try {
      await withTransport((t) => runScript(t, NODE_UNIT_SCRIPT, [P.launchDaemons, label, '2', P.varDb], plist, 30_000));
      expect(readFileSync(important('p.txt'), 'utf8')).toBe('USERDATA keep me\n');
      expect(lstatSync(join(h.gw.launchDaemonsDir, `${label}.plist`)).isSymbolicLink()).toBe(false);
    } finally {
      await h.gw.exec(`launchctl bootout system/${label} >/dev/null 2>&1; rm -f /Library/LaunchDaemons/${label}.plist*`);
    }
  }, 60_000);

  for (const [letter, shape, what] of [
    ['V', (R: string) => `rm ${R}/doctor.json && mkfifo ${R}/doctor.json`, 'a FIFO'],
    ['W', (R: string) => `rm ${R}/doctor.json && ln -s /dev/zero ${R}/doctor.json`, 'a symlink to /dev/zero'],
  ] as const) {
    it(`${letter}. a file of the CURRENT release replaced by ${what}: BEGIN's pre-fill hashes only regular files, so it neither blocks nor reads through the link`, async () => {
      const cfg = readFileSync(join(h.repo, 'clawops.yaml'), 'utf8');
      await sh(shape(`/etc/openclaw/releases/acme/${idOf('acme')}`));
      commit({ 'clawops.yaml': cfg.replace(/command_timeout_ms: \d+/, 'command_timeout_ms: 5000'), ...acmeLevel('warn') }, 'short timeout, acme warn');
      try {
        const t0 = Date.now();
        const r = await apply();
        const took = Date.now() - t0;
        const left = (await h.gw.exec('ps -eo args | grep -c "^sha256sum" || true')).stdout.trim();
        const g = result(r.json);
        // the promise: the damaged file is drift, never hashed through a link nor opened as a pipe; the apply goes on
        expect({ prompt: took < 4000, code: r.code, left }, `${took} ms: step ${g.step}: ${g.reason}: ${g.message}`).toEqual({ prompt: true, code: 0, left: '0' });
      } finally {
        await h.gw.stop();
        await h.gw.start();
      }
    }, 90_000);
  }

  it('litter with odd names (leading dash, glob, space, newline, $(…)) in clawops/ and releases/<t>/: recovery removes only its own safe names, nothing else', async () => {
    await sh([
      'cd /var/db/openclaw/clawops',
      'echo USERDATA > "want.a b" && echo USERDATA > "want.*" && printf USERDATA > "$(printf \'want.x\\ny\')" && echo USERDATA > \'want.$(id)\'',
      'echo USERDATA > -rf && echo USERDATA > "intent.a b"',
      'cd /etc/openclaw/releases/acme',
      'mkdir -- -rf.tmp-x "0123abcd.tmp-a b" \'0123abcd.tmp-$(id)\' "$(printf \'0123abcd.tmp-x\\ny\')" && for d in -rf.tmp-x "0123abcd.tmp-a b" \'0123abcd.tmp-$(id)\'; do echo USERDATA > "./$d/data"; done',
    ].join(' && '));
    const beforeC = treeSnapshot(cdir()).filter((l) => !/^"(observe|reload\.log|port-offset|openclaw-version\.cache)/.test(l) && !l.startsWith('"" '));
    const beforeR = treeSnapshot(join(h.gw.etcOpenclaw, 'releases', 'acme')).filter((l) => !l.startsWith('"" ') && !l.includes(idOf('acme')));
    commit(extra('globex', 'warn'), 'globex warn');
    const r = await apply();
    // acme, whose releases/ holds what clawops did not make, is left alone (blocked); globex goes on
    expect(r.json!.blocked).toEqual(['gw-1/acme']);
    expect(result(r.json).swapped.map((x) => x.tenant)).toEqual(['globex']);
    const afterC = treeSnapshot(cdir()).filter((l) => !/^"(observe|reload\.log|port-offset|openclaw-version\.cache)/.test(l) && !l.startsWith('"" '));
    expect(afterC).toEqual(beforeC);
    expect(treeSnapshot(join(h.gw.etcOpenclaw, 'releases', 'acme')).filter((l) => !l.startsWith('"" ') && !l.includes(idOf('acme')))).toEqual(beforeR);
  }, 60_000);
});
