/**
 * Issue 8 regressions on the real sshd fleet: clawops acts only on what it owns, never prints what it did not write,
 * never swaps unrecorded. One test per reported defect, each asserting the promise (not today's wording), plus
 * variants the reports did not cover (other link targets, other odd names, other shapes).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NodeApplyResult } from '../../reconciler/apply/apply-node.js';
import { chownToNodeUser, fleetAvailable, startFleet, type Fleet, type FleetNodeHandle } from '../fleet/fleet.js';
import { commitEdits, fleetRepo } from '../helpers/fleet-repo.js';
import { openclawCache } from '../helpers/openclaw.js';
import { runCli } from '../helpers/repo.js';
import { secretValue, seedSecrets } from '../helpers/secrets.js';
import { useOneNodeFleet } from '../helpers/fleet-cli.js';

const ready = fleetAvailable().ok && openclawCache() !== undefined;
const ASSIGN = { 'gw-1': { role: 'gateway' as const, canary: true, tenants: ['acme', 'globex', 'initech'] } };
const ACME = 'tenants/acme/gateway.d/20-overrides.yaml';
const INITECH = 'tenants/initech/gateway.d/20-hooks.yaml';
const level = (l: string): string => `gateway:\n  port: 18809\n  controlUi:\n    enabled: true\n    basePath: /acme\nlogging:\n  level: ${l}\n`;

interface ApplyJson {
  ok: boolean;
  blocked?: string[];
  results: NodeApplyResult[];
}

describe.skipIf(!ready)('the node is not trusted to be tidy (issue 8)', () => {
  let fleet: Fleet;
  let gw: FleetNodeHandle;
  let repo: string;
  const key = (): string => fleet.clientKeyPath;
  const apply = async (...extra: string[]) => {
    const r = await runCli(['apply', '--repo', repo, '--identity', key(), '--yes', '--json', ...extra]);
    return { ...r, json: r.stdout.trim().startsWith('{') ? (JSON.parse(r.stdout) as ApplyJson) : undefined };
  };
  const diff = (...extra: string[]) => runCli(['diff', '--repo', repo, '--identity', key(), ...extra]);
  const res = (j: ApplyJson | undefined): NodeApplyResult => j!.results.find((r) => r.node === 'gw-1')!;
  const etc = (...p: string[]): string => join(gw.etcOpenclaw, ...p);
  const link = (name: string): string | undefined => {
    try {
      return readlinkSync(etc('tenants', name));
    } catch {
      return undefined;
    }
  };
  const sh = async (cmd: string): Promise<string> => {
    const r = await gw.exec(cmd);
    expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };

  const one = useOneNodeFleet();
  beforeAll(() => {
    fleet = one.fleet;
    gw = one.gw;
  });
  beforeEach(async () => {
    await gw.exec('for f in /Library/LaunchDaemons/*.plist; do [ -f "$f" ] || continue; launchctl bootout system "$f" >/dev/null 2>&1; rm -f "$f"; done; chmod -R u+w /etc/openclaw 2>/dev/null; rm -rf /etc/openclaw/* /etc/openclaw/.[!.]* /var/db/openclaw/clawops /var/db/openclaw/secrets/* /home/clawops/important; true');
    await seedSecrets(gw, ['acme', 'globex', 'initech']);
    repo = fleetRepo(fleet, {}, ASSIGN);
  });

  it('1. a symlinked releases/<t> is never followed: nothing outside the tree is pruned, staged or cleaned; the tenant is refused, the others applied', async () => {
    expect((await apply()).code).toBe(0);
    // the user's directory, full of things that look like old releases and staging dirs
    await sh('mkdir -p /home/clawops/important && cd /home/clawops/important && for d in 0123456789abcdef 1123456789abcdef 2123456789abcdef 3123456789abcdef 4123456789abcdef 5123456789abcdef x.tmp-old; do mkdir -p $d && echo keep > $d/data; done');
    await sh('mv /etc/openclaw/releases/initech /etc/openclaw/releases/initech.real && ln -s /home/clawops/important /etc/openclaw/releases/initech');
    commitEdits(repo, { [INITECH]: null, 'tenants/initech/gateway.d/30-x.yaml': 'logging:\n  level: warn\n', [ACME]: level('warn') }, 'initech and acme change');
    const d = await diff();
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/gw-1\/initech: \/etc\/openclaw\/releases\/initech is a symlink \(\/home\/clawops\/important\), not a directory clawops owns/);
    const r = await apply();
    expect(r.code).toBe(1);
    expect(r.json!.blocked).toEqual(['gw-1/initech']);
    expect(res(r.json).swapped.map((s) => s.tenant)).toEqual(['acme']);
    expect(readdirSync(join(gw.homeDir, 'important')).sort()).toEqual(['0123456789abcdef', '1123456789abcdef', '2123456789abcdef', '3123456789abcdef', '4123456789abcdef', '5123456789abcdef', 'x.tmp-old']);
    for (const x of readdirSync(join(gw.homeDir, 'important'))) expect(readFileSync(join(gw.homeDir, 'important', x, 'data'), 'utf8')).toBe('keep\n');

    // variant: a release id under a real releases/<t> that is itself a symlink to an outside directory
    await sh('rm /etc/openclaw/releases/initech && mv /etc/openclaw/releases/initech.real /etc/openclaw/releases/initech');
    const id = link('initech')!.split('/').pop()!;
    await sh(`mv /etc/openclaw/releases/initech/${id} /home/clawops/important/real && ln -s /home/clawops/important/real /etc/openclaw/releases/initech/${id}`);
    const v = await apply();
    expect(v.code).toBe(1);
    expect(v.json!.blocked).toEqual(['gw-1/initech']);
    expect(existsSync(join(gw.homeDir, 'important/real/openclaw.json'))).toBe(true);
    expect((await diff()).stdout).toMatch(new RegExp(`releases/initech/${id} is a symlink, not a release`));
  }, 120_000);

  it('1b. a symlinked releases/ itself: every tenant refused, nothing followed', async () => {
    expect((await apply()).code).toBe(0);
    await sh('mkdir -p /home/clawops/important && mv /etc/openclaw/releases /home/clawops/important/releases && ln -s /home/clawops/important/releases /etc/openclaw/releases');
    commitEdits(repo, { [ACME]: level('warn') }, 'acme warn');
    const r = await apply();
    expect(r.code).toBe(1);
    expect(r.json!.blocked?.sort()).toEqual(['gw-1/acme', 'gw-1/globex', 'gw-1/initech']);
    expect(readdirSync(join(gw.homeDir, 'important/releases/acme'))).toHaveLength(1);
  }, 90_000);

  it('2. tenants/<t> pointing at secrets, /etc or a traversal path: never read, never printed, never kept as .prev, never made live', async () => {
    expect((await apply()).code).toBe(0);
    const tokens = ['token.current', 'hooks.token'].map((n) => secretValue('gw-1', 'globex', n));
    const targets = ['/var/db/openclaw/secrets/globex', '/etc', '../releases/globex/../../../var/db/openclaw/secrets/globex'];
    for (const [i, target] of targets.entries()) {
      await sh(`ln -sfn '${target}' /etc/openclaw/tenants/.t && mv -T /etc/openclaw/tenants/.t /etc/openclaw/tenants/globex`);
      const text = await diff();
      const json = await diff('--json');
      for (const out of [text.stdout + text.stderr, json.stdout + json.stderr]) {
        for (const tok of tokens) expect(out).not.toContain(tok);
        expect(out).not.toMatch(/root:x?:0:0/);
      }
      expect(text.code).toBe(1);
      expect(text.stdout).toMatch(/gw-1\/globex: \/etc\/openclaw\/tenants\/globex points at .*(outside releases\/globex\/|which is not a release)/);
      commitEdits(repo, { 'tenants/globex/gateway.d/30-x.yaml': `logging:\n  level: ${['warn', 'error', 'debug'][i]}\n` }, `globex change ${i}`);
      const r = await apply();
      expect(r.code).toBe(1);
      expect(r.json!.blocked).toEqual(['gw-1/globex']);
      expect(link('globex')).toBe(target);
      expect(link('globex.prev')).toBeUndefined();
      const rb = await runCli(['rollback', '--repo', repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'globex']);
      expect(rb.code).toBe(2);
      expect(rb.stderr).toMatch(/gw-1\/globex: refused: .*; nothing was changed/);
      expect(link('globex')).toBe(target);
    }
  }, 180_000);

  it('3. a deleted current release never becomes .prev: the good previous release stays the rollback target', async () => {
    expect((await apply()).code).toBe(0);
    const v1 = link('acme')!;
    commitEdits(repo, { [ACME]: level('warn') }, 'v2');
    expect((await apply()).code).toBe(0);
    const v2 = link('acme')!;
    expect(link('acme.prev')).toBe(v1);
    rmSync(etc('tenants', v2), { recursive: true, force: true });
    commitEdits(repo, { [ACME]: level('error') }, 'v3');
    const r = await apply();
    expect(r.code, r.stdout).toBe(0);
    expect(link('acme')).not.toBe(v2);
    expect(link('acme.prev')).toBe(v1);
    const rb = await runCli(['rollback', '--repo', repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'acme']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(link('acme')).toBe(v1);

    // variant: the .prev release damaged (its manifest gone): rollback refuses and changes nothing
    rmSync(etc('tenants', `${link('acme.prev')}`, '.clawops/manifest.json'), { force: true });
    const cur = link('acme');
    const rb2 = await runCli(['rollback', '--repo', repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'acme']);
    expect(rb2.code).toBe(2);
    expect(rb2.stderr).toMatch(/\.prev points at release [0-9a-f]{16}, which is missing or incomplete; nothing was changed/);
    expect(link('acme')).toBe(cur);
    expect((await diff()).stdout).toMatch(/gw-1\/acme: \.prev points at release [0-9a-f]{16}, which is missing or incomplete/);
  }, 150_000);

  it('4. odd file names in the live release (newline, tab, backslash, -rf, a directory) are drift, repaired NUL-safely; nothing else is deleted', async () => {
    expect((await apply()).code).toBe(0);
    const rel = etc('tenants', link('acme')!);
    for (const name of ['x\ngateway.d', 'y\tdoctor.d', 'back\\slash', '-rf']) writeFileSync(join(rel, name), 'stray\n');
    mkdirSync(join(rel, 'z\nwebhook.d'));
    writeFileSync(join(rel, 'z\nwebhook.d', 'f'), 'stray\n');
    chownToNodeUser(gw.etcOpenclaw);
    const d = await diff();
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/gw-1\/acme: x\?gateway\.d added on the node/);
    expect(d.stdout).toMatch(/gw-1\/acme: y\?doctor\.d added on the node/);
    expect(d.stdout).not.toContain('stray');
    const r = await apply();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(readdirSync(rel).sort()).toEqual(['.clawops', 'bin', 'doctor.d', 'doctor.json', 'gateway.d', 'launchd', 'openclaw.json', 'secrets.list', 'webhook.d', 'webhook.json']);
    expect(readdirSync(join(rel, 'gateway.d')).sort()).toEqual(['10-base.yaml', '20-overrides.yaml']);
    expect((await diff()).code).toBe(0);
    commitEdits(repo, { [ACME]: level('warn') }, 'later change');
    expect((await apply()).code).toBe(0);
  }, 120_000);

  it('5. a reload log that cannot be written fails the node, says what runs, keeps the intent; the next run records it', async () => {
    expect((await apply()).code).toBe(0);
    await sh('chmod 444 /var/db/openclaw/clawops/reload.log');
    commitEdits(repo, { [ACME]: level('warn') }, 'acme warn');
    const r = await apply();
    expect(r.code).toBe(1);
    const g = res(r.json);
    expect(g).toMatchObject({ outcome: 'failed', reason: 'RecordFailed' });
    expect(g.message).toMatch(/swapped \(acme now runs [0-9a-f]{16}\) but could not write the reload log/);
    const intents = readdirSync(join(gw.varDbOpenclaw, 'clawops')).filter((f) => f.startsWith('intent.'));
    expect(intents).toHaveLength(1);
    // still unwritable: the next run refuses before changing anything
    const again = await apply();
    expect(res(again.json)).toMatchObject({ outcome: 'failed', reason: 'RecordFailed', step: 'lock' });
    await sh('chmod 644 /var/db/openclaw/clawops/reload.log');
    expect((await diff()).stdout).toMatch(/swapped to release [0-9a-f]{16} without recording it/);
    const fixed = await apply();
    expect(fixed.code, fixed.stdout).toBe(0);
    expect(res(fixed.json).recovered).toEqual([`acme/${link('acme')!.split('/').pop()}`]);
    const log = readFileSync(join(gw.varDbOpenclaw, 'clawops/reload.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(log.find((l) => l.recovered_by !== undefined)).toMatchObject({ action: 'apply', tenant: 'acme' });
    expect((await diff()).code).toBe(0);

    // variant: reload.log replaced by a directory
    await sh('rm -f /var/db/openclaw/clawops/reload.log && mkdir /var/db/openclaw/clawops/reload.log');
    commitEdits(repo, { [ACME]: level('error') }, 'acme error');
    const dir = await apply();
    expect(res(dir.json)).toMatchObject({ outcome: 'failed', reason: 'RecordFailed' });
  }, 150_000);

  it('10. what a dead run left (stale lock, temp link, want file, unrecorded intent) is shown by diff and cleaned by the next apply', async () => {
    expect((await apply()).code).toBe(0);
    const cur = link('acme')!;
    const id = cur.split('/').pop()!;
    const dead = 'deadrun-1';
    writeFileSync(join(gw.varDbOpenclaw, 'clawops/node.lock'), `{"run":"${dead}","owner":"x","pid":1,"ttl_sec":10,"acquired_epoch":1000,"host":"h"}\n`);
    writeFileSync(join(gw.varDbOpenclaw, `clawops/want.${dead}`), 'F\tacme\tx\ty\tz\n');
    writeFileSync(join(gw.varDbOpenclaw, `clawops/intent.${dead}`), `${JSON.stringify({ time: '2026-11-28T00:00:00Z', action: 'apply', node: 'gw-1', tenant: 'acme', release_id: id, actor: 'x', run: dead })}\n`);
    symlinkSync(cur, etc('tenants', `.clawops-${dead}-acme`));
    chownToNodeUser(gw.etcOpenclaw);
    chownToNodeUser(join(gw.varDbOpenclaw, 'clawops'));
    const d = await diff();
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/StaleLock|the node lock of x \(run deadrun-1\) expired/);
    expect(d.stdout).toMatch(/run deadrun-1 swapped to release [0-9a-f]{16} without recording it/);
    expect(d.stdout).toMatch(/left by a dead run: .*\.clawops-deadrun-1-acme/);
    const r = await apply();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(res(r.json).recovered).toEqual([`acme/${id}`]);
    expect(readdirSync(join(gw.varDbOpenclaw, 'clawops')).filter((f) => f.includes(dead) || f === 'node.lock')).toEqual([]);
    expect(() => lstatSync(etc('tenants', `.clawops-${dead}-acme`))).toThrow();
    expect((await diff()).code).toBe(0);
  }, 90_000);

  it('6 + 7. a diff never shows a node secret (by fingerprint, whatever the key) nor raw terminal escapes', async () => {
    expect((await apply()).code).toBe(0);
    const rel = etc('tenants', link('acme')!);
    const token = secretValue('gw-1', 'acme', 'token.current');
    const cfg = readFileSync(join(rel, 'openclaw.json'), 'utf8');
    // a hand edit: the node's own token pasted under a harmless key, plus a clear-screen and a window-title escape
    writeFileSync(join(rel, 'openclaw.json'), cfg.replace('{\n', `{\n  "note": "${token}",\n`) + '\u001b[2J\u001b]0;owned\u0007\n');
    chownToNodeUser(gw.etcOpenclaw);
    for (const args of [[], ['--json']]) {
      const d = await diff(...args);
      expect(d.code).toBe(1);
      expect(d.stdout).not.toContain(token);
      expect(d.stdout).not.toContain('\u001b');
      expect(d.stdout).not.toContain('\u0007');
    }
    const text = (await diff()).stdout;
    expect(text).toContain('"note": (secret)');
    expect(text).toMatch(/\\e\[2J/);
  }, 90_000);

  it('11b. a full disk while copying unchanged files on the node is reported at stage with the free space, never as a lock failure', async () => {
    expect((await apply()).code).toBe(0);
    const uid = spawnSync('id', ['-u', 'clawops'], { encoding: 'utf8' }).stdout.trim();
    // initech's releases move onto a small tmpfs that is then filled up (the filler looks like an old release)
    await sh('cp -a /etc/openclaw/releases/initech /tmp/initech-copy');
    const m = spawnSync('nsenter', ['--target', String(gw.sshdPid()), '--mount', '--', 'mount', '-t', 'tmpfs', '-o', `size=96k,mode=755,uid=${uid},gid=${uid}`, 'tmpfs', '/etc/openclaw/releases/initech'], { encoding: 'utf8' });
    expect(m.status, m.stderr).toBe(0);
    try {
      await sh('cp -a /tmp/initech-copy/. /etc/openclaw/releases/initech/ && rm -rf /tmp/initech-copy && mkdir -p /etc/openclaw/releases/initech/ffffffffffffffff && (dd if=/dev/zero of=/etc/openclaw/releases/initech/ffffffffffffffff/fill bs=1k count=200 2>/dev/null; true)');
      commitEdits(repo, { 'tenants/initech/gateway.d/30-x.yaml': 'logging:\n  level: warn\n' }, 'initech change');
      const r = await apply();
      expect(r.code).toBe(1);
      const g = res(r.json);
      expect(g).toMatchObject({ outcome: 'failed', step: 'stage', reason: 'StageFailed' });
      expect(g.message).toMatch(/\(\d+ MiB free under \/etc\/openclaw\); nothing was swapped/);
      expect(link('initech')).toBeDefined();
    } finally {
      spawnSync('nsenter', ['--target', String(gw.sshdPid()), '--mount', '--', 'umount', '/etc/openclaw/releases/initech']);
    }
  }, 90_000);

  it('11. messages say what happened: a permission-denied repair, a directory where a link belongs', async () => {
    expect((await apply()).code).toBe(0);
    const rel = etc('tenants', link('acme')!);
    writeFileSync(join(rel, 'gateway.d/10-base.yaml'), 'edited by hand\n');
    await sh(`chmod 555 ${rel.replace(gw.etcOpenclaw, '/etc/openclaw')}/gateway.d`);
    const r = await apply();
    expect(r.code).toBe(1);
    expect(res(r.json).message).toMatch(/could not put release files in place: acme: .*(Permission denied|permission denied)/);
    expect(res(r.json).message).not.toMatch(/staged files do not match/);
    await sh(`chmod 755 ${rel.replace(gw.etcOpenclaw, '/etc/openclaw')}/gateway.d`);

    await sh('rm /etc/openclaw/tenants/globex && mkdir /etc/openclaw/tenants/globex');
    commitEdits(repo, { 'tenants/globex/gateway.d/30-x.yaml': 'logging:\n  level: warn\n' }, 'globex change');
    const g = await apply();
    expect(g.code).toBe(1);
    expect(g.json!.blocked).toContain('gw-1/globex');
    const d = await diff();
    expect(d.stdout).toMatch(/gw-1\/globex: \/etc\/openclaw\/tenants\/globex exists but is not a symlink/);
    expect(d.stdout + g.stdout).not.toMatch(/disk full or I\/O error/);
  }, 120_000);
});
