/** `clawops apply` / `clawops rollback` against real sshd fleet nodes with the real OpenClaw CLI. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyFleet } from '../../reconciler/apply/apply-fleet.js';
import type { ApplyEvent, NodeApplyResult } from '../../reconciler/apply/apply-node.js';
import { observeAndPlan } from '../../reconciler/commands/diff.js';
import { seedSecrets } from '../helpers/secrets.js';
import { fleetAvailable, startFleet, type Fleet, type FleetNodeHandle } from '../fleet/fleet.js';
import { commitEdits, fleetRepo, git, portOffsetOf } from '../helpers/fleet-repo.js';
import { openclawCache } from '../helpers/openclaw.js';
import { runCli } from '../helpers/repo.js';
import { applyJson, nodeResult, tenantLink } from '../helpers/fleet-apply.js';

const ready = fleetAvailable().ok && openclawCache() !== undefined;


const ACME_OVERRIDES = 'tenants/acme/gateway.d/20-overrides.yaml';

describe.skipIf(!ready)('clawops apply against a real fleet', () => {
  let fleet: Fleet;
  let repo: string;
  const key = (): string => fleet.clientKeyPath;
  const apply = (...extra: string[]) => applyJson(repo, key(), ...extra);
  const result = nodeResult;
  const link = tenantLink;
  const releases = (n: FleetNodeHandle, t: string): string[] => {
    try {
      return readdirSync(join(n.etcOpenclaw, 'releases', t)).sort();
    } catch {
      return [];
    }
  };
  const lockFile = (n: FleetNodeHandle): string => join(n.varDbOpenclaw, 'clawops', 'node.lock');
  const bump = (level: string): string => commitEdits(repo, { [ACME_OVERRIDES]: `gateway:\n  port: 18809\n  controlUi:\n    enabled: true\n    basePath: /acme\nlogging:\n  level: ${level}\n` }, `acme ${level}`);

  beforeAll(async () => {
    fleet = await startFleet({ names: ['notifier-1', 'gw-1', 'gw-2'], openclaw: true });
    // secrets are provisioned out of band, never from git; a gateway tenant without them is Blocked
    for (const n of fleet.nodes) await seedSecrets(n, ['acme', 'globex', 'initech']);
  });
  afterAll(async () => {
    await fleet?.stop();
  });
  beforeEach(async () => {
    for (const n of fleet.nodes) {
      if (!n.running()) await n.start();
      // a clean node: nothing deployed, no lock, no reload log (the shared openclaw install stays)
      // services of the previous test stopped (their ports freed), units removed
      await n.exec('for f in /Library/LaunchDaemons/*.plist; do [ -f "$f" ] || continue; launchctl bootout system "$f" >/dev/null 2>&1; rm -f "$f"; done; true');
      for (const dir of [n.etcOpenclaw, join(n.varDbOpenclaw, 'clawops')]) {
        if (!existsSync(dir)) continue;
        const r = await n.exec(`rm -rf ${dir === n.etcOpenclaw ? '/etc/openclaw' : '/var/db/openclaw/clawops'}/* /etc/openclaw/.[!.]* 2>/dev/null; true`);
        expect(r.code).toBe(0);
      }
    }
    repo = fleetRepo(fleet);
  });

  it('deploys every tenant, is in sync afterwards, records the release, and does nothing the second time', async () => {
    const r = await apply();
    expect(r.stderr).not.toMatch(/"level":50/);
    expect(r.code).toBe(0);
    expect(r.json!.ok).toBe(true);
    const gw2 = fleet.node('gw-2');
    expect(result(r.json, 'gw-2').swapped.map((s) => s.tenant)).toEqual(['acme', 'globex', 'initech']);
    expect(result(r.json, 'notifier-1').outcome).toBe('unchanged');
    const acme = link(gw2, 'acme')!;
    expect(acme).toMatch(/^\.\.\/releases\/acme\/[0-9a-f]{16}$/);
    const cfg = await gw2.exec('cat /etc/openclaw/tenants/acme/openclaw.json');
    expect(JSON.parse(cfg.stdout)).toHaveProperty('gateway.port', 18809);
    const log = readFileSync(join(gw2.varDbOpenclaw, 'clawops', 'reload.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    // each swap, then each unit (re)started for it: how, and the pids
    expect(log.map((l) => [l.action, l.tenant])).toEqual([
      ['apply', 'acme'], ['apply', 'globex'], ['apply', 'initech'],
      ['reload', 'acme'], ['reload', 'globex'], ['reload', 'initech'],
    ].sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0)) as string[][]);
    expect(log[0]).toMatchObject({ action: 'apply', node: 'gw-2', tenant: 'acme', commit: git(repo, 'rev-parse', 'HEAD') });
    expect(log.find((l) => l.action === 'reload')).toMatchObject({ label: 'ai.openclaw.acme', method: 'bootstrap', old_pid: 0, commit: git(repo, 'rev-parse', 'HEAD') });
    expect(result(r.json, 'gw-2').reloads.map((u) => u.tenant)).toEqual(['acme', 'globex', 'initech']);
    // the gateway really runs: its /readyz answers on the node's port block (gw-2: base + 3000)
    const ready = await gw2.exec(`curl -s http://127.0.0.1:${18809 + portOffsetOf(gw2)}/readyz`);
    expect(JSON.parse(ready.stdout)).toMatchObject({ ready: true, profile: 'acme' });
    expect(existsSync(lockFile(gw2))).toBe(false);
    expect(readdirSync(join(gw2.varDbOpenclaw, 'clawops')).filter((f) => f.startsWith('want.'))).toEqual([]);

    const d = await runCli(['diff', '--repo', repo, '--identity', key()]);
    expect(d.code).toBe(0);
    const again = await runCli(['apply', '--repo', repo, '--identity', key(), '--yes']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing to apply.');
  }, 60_000);

  it('restages only the tenant whose files changed, swaps it with .prev, and rollback swaps back and forth', async () => {
    expect((await apply()).code).toBe(0);
    const gw1 = fleet.node('gw-1');
    const before = link(gw1, 'acme');
    const globexBefore = link(gw1, 'globex');
    bump('warn');
    const r = await apply();
    expect(r.code).toBe(0);
    const res = result(r.json, 'gw-1');
    expect(res.staged).toEqual(['acme']);
    // only the changed fragment and what it renders into cross the wire; the rest is copied on the node
    expect(res.reusedFiles).toBeGreaterThanOrEqual(6);
    expect(res.swapped.map((s) => s.tenant)).toEqual(['acme']);
    const after = link(gw1, 'acme');
    expect(after).not.toBe(before);
    expect(readlinkSync(join(gw1.etcOpenclaw, 'tenants', 'acme.prev'))).toBe(before);
    expect(link(gw1, 'globex')).toBe(globexBefore);

    const rb = await runCli(['rollback', '--repo', repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'acme']);
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    expect(link(gw1, 'acme')).toBe(before);
    expect(readlinkSync(join(gw1.etcOpenclaw, 'tenants', 'acme.prev'))).toBe(after);
    const fwd = await runCli(['rollback', '--repo', repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'acme']);
    expect(fwd.code).toBe(0);
    expect(link(gw1, 'acme')).toBe(after);
    const log = readFileSync(join(gw1.varDbOpenclaw, 'clawops', 'reload.log'), 'utf8');
    expect(log.match(/"action":"rollback"/g)).toHaveLength(2);

    const none = await runCli(['rollback', '--repo', repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'globex']);
    expect(none.code).toBe(2);
    expect(none.stderr.split('\n').filter((l) => l.startsWith('clawops:'))).toHaveLength(1);
    expect(none.stderr).toMatch(/gw-1: tenant globex has no \.prev release/);
  }, 60_000);

  it('repairs a hand-edited current release in place; the link never moves and the fleet ends in sync', async () => {
    expect((await apply()).code).toBe(0);
    const gw2 = fleet.node('gw-2');
    const before = link(gw2, 'globex');
    // a hand edit, a stray file, and a kind dir replaced by a file
    const edit = await gw2.exec('echo "# hotfix" >> /etc/openclaw/tenants/globex/gateway.d/10-base.yaml && echo stray > /etc/openclaw/tenants/globex/notes.txt && rm -rf /etc/openclaw/tenants/globex/doctor.d && echo oops > /etc/openclaw/tenants/globex/doctor.d');
    expect(edit.code).toBe(0);
    expect((await runCli(['diff', '--repo', repo, '--identity', key()])).stdout).toMatch(/gw-2\/globex: gateway\.d\/10-base\.yaml hand-edited on the node/);
    const r = await apply();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(result(r.json, 'gw-2').staged).toEqual(['globex']);
    expect(link(gw2, 'globex')).toBe(before);
    expect((await gw2.exec('ls /etc/openclaw/tenants/globex/notes.txt')).code).not.toBe(0);
    expect((await runCli(['diff', '--repo', repo, '--identity', key()])).code).toBe(0);
  }, 60_000);

  it('refuses an invalid rendered config before the swap, with the validator message, leaving current untouched', async () => {
    expect((await apply()).code).toBe(0);
    const gw1 = fleet.node('gw-1');
    const before = link(gw1, 'acme');
    bump('loud');
    const r = await apply();
    expect(r.code).toBe(1);
    const res = result(r.json, 'gw-1');
    expect(res.outcome).toBe('failed');
    expect(res.step).toBe('validate');
    expect(res.message).toMatch(/gw-1\/acme: openclaw config validate refused release [0-9a-f]{16}: logging\.level/);
    expect(link(gw1, 'acme')).toBe(before);
    // the canary failed: gw-2 was not touched
    expect(result(r.json, 'gw-2').outcome).toBe('skipped');
    expect(r.json!.halted).toMatch(/canary gateways gw-1 failed/);
    expect(existsSync(lockFile(gw1))).toBe(false);
    expect(readdirSync(join(gw1.varDbOpenclaw, 'clawops')).filter((f) => f.startsWith('want.'))).toEqual([]);
  }, 60_000);

  it('refuses a node whose openclaw differs from the lock and touches nothing on it', async () => {
    const gw1 = fleet.node('gw-1');
    const l = join(gw1.binDir, 'openclaw');
    const target = readlinkSync(l);
    rmSync(l);
    writeFileSync(l, '#!/bin/sh\necho "OpenClaw 2026.8.1 (0badc0d)"\n', { mode: 0o755 });
    try {
      const r = await apply();
      expect(r.code).toBe(1);
      const res = result(r.json, 'gw-1');
      expect(res.outcome).toBe('refused');
      expect(res.message).toMatch(/2026\.8\.1.*expected 2026\.9\.6/);
      expect(releases(gw1, 'acme')).toEqual([]);
      expect(link(gw1, 'acme')).toBeUndefined();
      expect(result(r.json, 'gw-2').outcome).toBe('skipped');
      expect(releases(fleet.node('gw-2'), 'acme')).toEqual([]);
    } finally {
      rmSync(l);
      symlinkSync(target, l);
    }
  }, 60_000);

  it('fails the second of two applies naming the holder, and takes over a stale lock', async () => {
    const gw1 = fleet.node('gw-1');
    const now = Math.floor(Date.now() / 1000);
    mkdirSync(join(gw1.varDbOpenclaw, 'clawops'), { recursive: true });
    writeFileSync(lockFile(gw1), `{"run":"other-run","owner":"alice@laptop","pid":4242,"ttl_sec":900,"acquired_epoch":${now},"host":"laptop"}\n`);
    spawnSync('chown', ['-R', 'clawops:clawops', join(gw1.varDbOpenclaw, 'clawops')]);
    const held = await apply();
    expect(held.code).toBe(1);
    expect(result(held.json, 'gw-1').message).toMatch(/gw-1: locked by alice@laptop \(pid 4242 on laptop, run other-run/);
    expect(readFileSync(lockFile(gw1), 'utf8')).toContain('alice@laptop'); // not ours to remove

    writeFileSync(lockFile(gw1), `{"run":"other-run","owner":"alice@laptop","pid":4242,"ttl_sec":900,"acquired_epoch":${now - 3600},"host":"laptop"}\n`);
    const took = await runCli(['apply', '--repo', repo, '--identity', key(), '--yes']);
    expect(took.code, took.stdout + took.stderr).toBe(0);
    expect(took.stderr).toMatch(/"node":"gw-1","step":"lock","state":"warn".*took over a stale lock held by alice@laptop/);
    expect(existsSync(lockFile(gw1))).toBe(false);
  }, 60_000);

  it('two applies at once: every node is applied by one of them and the other is told who holds it', async () => {
    const [a, b] = await Promise.all([apply(), apply()]);
    const messages = [...a.json!.results, ...b.json!.results].map((r) => r.message ?? '').join('\n');
    expect(a.code + b.code).toBeGreaterThanOrEqual(1);
    expect(messages).toMatch(/locked by .*run \d{8}t\d{6}-[0-9a-f]{6}/);
    // whatever the interleaving, a plain apply afterwards converges and the fleet ends in sync
    await apply();
    expect((await runCli(['diff', '--repo', repo, '--identity', key()])).code).toBe(0);
  }, 90_000);

  it('sshd killed in the middle of staging leaves current unchanged, and the next apply completes', async () => {
    expect((await apply()).code).toBe(0);
    const gw2 = fleet.node('gw-2');
    const before = link(gw2, 'acme');
    bump('warn');
    const r = await observeAndPlan({ repo, identity: key() }, {}, true);
    let killed = false;
    const events: ApplyEvent[] = [];
    const res = await applyFleet(r.plan, r.desired, r.fleet.transports, {
      run: 'test-kill-1',
      actor: 'test',
      pid: process.pid,
      lockTtlSec: 1, // so the next apply may take over the lock the dead run leaves
      now: () => new Date(),
      onEvent: (e) => {
        events.push(e);
        if (e.node === 'gw-2' && e.step === 'stage' && e.state === 'start' && !killed) {
          killed = true;
          // SIGKILL to the node's PID-namespace init now, synchronously: everything of the node dies at this step
          // (stop() alone kills a little later, when the staging may already be over); stop() then tidies up
          const pid = gw2.sshdPid();
          if (pid !== undefined) process.kill(pid, 'SIGKILL');
          void gw2.stop();
        }
      },
    }, 10);
    await Promise.all([...r.fleet.transports.values()].map((t) => t.close()));
    r.source.cleanup();
    const g = res.results.find((x) => x.node === 'gw-2')!;
    expect(killed).toBe(true);
    expect(g.outcome).toBe('failed');
    await gw2.start();
    expect(link(gw2, 'acme')).toBe(before);
    await new Promise((ok) => setTimeout(ok, 1100)); // the dead run's 1 s lock expires
    const next = await apply();
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(result(next.json, 'gw-2').swapped.map((s) => s.tenant)).toEqual(['acme']);
    expect(releases(gw2, 'acme').filter((x) => x.includes('.tmp-'))).toEqual([]);
  }, 90_000);

  it('disk full while staging fails cleanly and leaves no partial release', async () => {
    const gw2 = fleet.node('gw-2');
    // a 16 KiB tmpfs in gw-2's own mount namespace where initech's releases go
    const mk = await gw2.exec('mkdir -p /etc/openclaw/releases/initech');
    expect(mk.code).toBe(0);
    const uid = spawnSync('id', ['-u', 'clawops'], { encoding: 'utf8' }).stdout.trim();
    const m = spawnSync('nsenter', ['--target', String(gw2.sshdPid()), '--mount', '--', 'mount', '-t', 'tmpfs', '-o', `size=16k,mode=755,uid=${uid},gid=${uid}`, 'tmpfs', '/etc/openclaw/releases/initech'], { encoding: 'utf8' });
    expect(m.status, m.stderr).toBe(0);
    try {
      const r = await apply();
      expect(r.code).toBe(1);
      const res = result(r.json, 'gw-2');
      expect(res.outcome).toBe('failed');
      expect(res.step).toBe('stage');
      // the step, the file and the free space, in one line
      expect(res.message).toMatch(/^gw-2: staging initech release [0-9a-f]{16} failed: tar into \/etc\/openclaw\/releases\/initech\/[0-9a-f]{16}\.tmp-\S+: .*No space left on device \(\d+ MiB free under \/etc\/openclaw\); nothing was swapped$/);
      const left = await gw2.exec('ls -A /etc/openclaw/releases/initech /etc/openclaw/releases/acme /etc/openclaw/tenants 2>&1');
      expect(left.stdout).not.toMatch(/\.tmp-/);
      expect(left.stdout).not.toMatch(/[0-9a-f]{16}/);
      expect(existsSync(lockFile(gw2))).toBe(false);
      expect(result(r.json, 'gw-1').outcome).toBe('applied'); // the canary went first and is fine
    } finally {
      spawnSync('nsenter', ['--target', String(gw2.sshdPid()), '--mount', '--', 'umount', '/etc/openclaw/releases/initech']);
    }
  }, 60_000);

  it('never lets a tenant link go missing or dangle during a swap (readlink in a tight loop on the node)', async () => {
    expect((await apply()).code).toBe(0);
    const gw1 = fleet.node('gw-1');
    bump('warn');
    const loop = gw1.exec(
      'n=0; bad=0; while [ ! -f /var/db/openclaw/stop-loop ]; do t=$(readlink /etc/openclaw/tenants/acme); ' +
        '[ -n "$t" ] && [ -f "/etc/openclaw/tenants/acme/openclaw.json" ] || bad=$((bad+1)); echo "$t"; n=$((n+1)); done | sort | uniq -c; echo done',
    );
    await new Promise((ok) => setTimeout(ok, 200));
    const before = link(gw1, 'acme');
    const r = await apply('--node', 'gw-1');
    expect(r.code).toBe(0);
    await new Promise((ok) => setTimeout(ok, 200));
    writeFileSync(join(gw1.varDbOpenclaw, 'stop-loop'), '');
    const out = (await loop).stdout;
    rmSync(join(gw1.varDbOpenclaw, 'stop-loop'));
    const seen = out.trim().split('\n').filter((l) => l.trim() !== 'done').map((l) => l.trim().split(/\s+/));
    // every sample was one of the two releases, never empty
    expect(seen.map((s) => s[1])).toEqual(expect.arrayContaining([before, link(gw1, 'acme')]));
    for (const [count, target] of seen) {
      expect(target, `${count} samples of ${String(target)}`).toMatch(/^\.\.\/releases\/acme\/[0-9a-f]{16}$/);
    }
    expect(seen.reduce((n, s) => n + Number(s[0]), 0)).toBeGreaterThan(100);
  }, 60_000);

  it('prunes releases beyond the newest five that are neither current nor .prev', async () => {
    expect((await apply()).code).toBe(0);
    const gw1 = fleet.node('gw-1');
    const old = ['1111111111111111', '2222222222222222', '3333333333333333', '4444444444444444', '5555555555555555', '6666666666666666'];
    await gw1.exec(old.map((id, i) => `mkdir -p /etc/openclaw/releases/acme/${id} && touch -d '2026-01-0${i + 1}' /etc/openclaw/releases/acme/${id}`).join(' && '));
    const cur = link(gw1, 'acme')!.split('/').pop()!;
    utimesSync(join(gw1.etcOpenclaw, 'releases', 'acme', cur), new Date('2025-01-01'), new Date('2025-01-01')); // oldest, but .prev after the apply
    bump('warn');
    const r = await apply();
    expect(r.code).toBe(0);
    const left = releases(gw1, 'acme');
    const now = link(gw1, 'acme')!.split('/').pop()!;
    expect(left).toContain(now);
    expect(left).toContain(cur); // .prev survives although it is the oldest
    expect(left).toEqual([cur, now, '3333333333333333', '4444444444444444', '5555555555555555', '6666666666666666'].sort());
    expect(result(r.json, 'gw-1').pruned.sort()).toEqual(['acme/1111111111111111', 'acme/2222222222222222']);
  }, 60_000);
});
