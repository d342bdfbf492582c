/**
 * Operator flows after the hardening (BEGIN/STAGE/PROMOTE/FINISH/UNLOCK, UNDO/GUARD, the wrapper): the runbook must
 * still converge. A refusal of a legitimate state, or a node that never converges, is a defect. Each flow asserts
 * the exit codes, that `clawops diff` is in sync afterwards, one reload-log record per swap, and that nothing but
 * clawops' steady files is left in /var/db/openclaw/clawops (and no staging dir or temp link under /etc/openclaw).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DesiredState, TenantDesired } from '../../reconciler/desired/types.js';
import { releaseIdOf } from '../../reconciler/release-manifest.js';
import { GATEWAY_RUN_SH } from '../../reconciler/units/gateway-run-sh.js';
import { chownToNodeUser } from '../fleet/fleet.js';
import { ACME, extraLevel, killNodeNow } from '../helpers/fleet-cli.js';
import { commitEdits, desiredOf, fleetNodesYaml, fleetRepo } from '../helpers/fleet-repo.js';
import { fleetReady, oneGateway, sleep, useHostileNode, type Rec } from '../helpers/hostile-node.js';
import { layRelease } from '../helpers/release.js';
import { runCli } from '../helpers/repo.js';

const ready = fleetReady();

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** what clawops keeps in its dir between runs */
const STEADY = new Set(['reload.log', 'port-offset', 'openclaw-version.cache', 'observe', 'run', 'quarantine']);
const ALL3 = oneGateway(['acme', 'globex', 'initech']);
const TWO = oneGateway(['acme', 'globex']);
const acmeOverrides = (port: number, lvl: string): Record<string, string> => ({ [ACME]: `gateway:\n  port: ${port}\n  controlUi:\n    enabled: true\n    basePath: /acme\nlogging:\n  level: ${lvl}\n` });
const level = extraLevel;

/** every unit booted out and removed, and nothing of clawops, no release, no secrets, no gateway state on gw-1 */
const FLOWS_RESET = 'for f in /Library/LaunchDaemons/*.plist; do [ -f "$f" ] || continue; launchctl bootout system "$f" >/dev/null 2>&1; rm -f "$f"; done; chmod -R u+w /etc/openclaw /var/db/openclaw 2>/dev/null; rm -rf /etc/openclaw/* /etc/openclaw/.[!.]* /var/db/openclaw/clawops /var/db/openclaw/secrets/* /var/db/openclaw/state; true';

describe.skipIf(!ready)('operator flows after the hardening: no false refusal, every flow converges', () => {
  const h = useHostileNode({ tenants: ['acme', 'globex', 'initech'], reset: FLOWS_RESET, repo: 'none', runTag: 'flow' });
  const { key, apply, diff, cdir, linkId, sh, blockPort, applyHooked } = h;
  const idOf = (t: string): string => desiredOf(h.repo).tenants.get(t)!.releaseId;
  const reloadLog = (): Rec[] => {
    const f = cdir('reload.log');
    if (!existsSync(f)) return [];
    return readFileSync(f, 'utf8').split('\n').flatMap((l) => {
      try {
        return [JSON.parse(l) as Rec];
      } catch {
        return [];
      }
    });
  };
  const swapsOf = (log: Rec[]): string[] => log.filter((l) => l.action === 'apply' || l.action === 'rollback' || l.action === 'DeadManRollback').map((l) => `${String(l.run)} ${String(l.action)} ${String(l.tenant)} ${String(l.prev_release_id ?? '-')}->${String(l.release_id)}`);
  const ok = (r: { code: number | null; stdout: string; stderr: string }): void => expect(r.code, r.stdout + r.stderr).toBe(0);

  /** the invariants every flow ends with */
  const converged = async (): Promise<void> => {
    const d = await diff();
    expect(d.code, `diff not in sync:\n${d.stdout}${d.stderr}`).toBe(0);
    const left = existsSync(cdir()) ? readdirSync(cdir()).filter((f) => !STEADY.has(f)) : [];
    expect(left, 'left in /var/db/openclaw/clawops').toEqual([]);
    const tmpLinks = existsSync(join(h.gw.etcOpenclaw, 'tenants')) ? readdirSync(join(h.gw.etcOpenclaw, 'tenants')).filter((f) => f.startsWith('.')) : [];
    expect(tmpLinks, 'temp links left in tenants/').toEqual([]);
    const rel = join(h.gw.etcOpenclaw, 'releases');
    const staging = existsSync(rel) ? readdirSync(rel).flatMap((t) => readdirSync(join(rel, t)).filter((n) => n.includes('.tmp-')).map((n) => `${t}/${n}`)) : [];
    expect(staging, 'staging dirs left').toEqual([]);
    // one record per swap: no swap recorded twice
    const s = swapsOf(reloadLog());
    expect(s.filter((x, i) => s.indexOf(x) !== i), 'duplicate swap records').toEqual([]);
  };

  /** a release as the previous clawops laid it: the same tenant files but the wrapper of before (no secrets-dir refusal, no run-record hardening) */
  const OLD_WRAPPER = Buffer.from(
    GATEWAY_RUN_SH.split('\n')
      .filter((l) => !l.startsWith('for d in "$VARDB/secrets" "$SD"'))
      .join('\n'),
  );
  const layOld = (desired: DesiredState, tenant: string): string => {
    const t = desired.tenants.get(tenant)!;
    expect(OLD_WRAPPER.equals(t.files.find((f) => f.path === 'bin/gateway-run')!.content)).toBe(false);
    const files = t.files.map((f) => (f.path === 'bin/gateway-run' ? { ...f, content: OLD_WRAPPER, sha256: sha(OLD_WRAPPER) } : f));
    const releaseId = releaseIdOf(files);
    const old: TenantDesired = { ...t, files, releaseId };
    layRelease(h.gw.etcOpenclaw, { ...desired, tenants: new Map([[tenant, old]]) }, tenant);
    chownToNodeUser(h.gw.etcOpenclaw);
    return releaseId;
  };
  /** start a tenant's gateway from its current release, as the previous clawops left it running */
  const startUnits = async (tenant: string): Promise<void> => {
    await sh(`mkdir -p /var/db/openclaw/logs/${tenant} /Library/LaunchDaemons && cp /etc/openclaw/tenants/${tenant}/launchd/ai.openclaw.${tenant}.plist /Library/LaunchDaemons/ && launchctl bootstrap system /Library/LaunchDaemons/ai.openclaw.${tenant}.plist`);
    for (let i = 0; i < 50; i++) {
      const p = await h.gw.exec(`launchctl print system/ai.openclaw.${tenant} | grep -c '	pid = '`);
      if (p.stdout.trim() !== '0' && p.stdout.trim() !== '') return;
      await sleep(100);
    }
  };

  it('upgrade path: tenants deployed by the previous clawops (old wrapper, gateways running), an old-format intent of a dead run, its staging dir and want list, a stale lock: one apply converges, every tenant restarted once', async () => {
    h.repo = fleetRepo(h.fleet, {}, TWO);
    const desired = desiredOf(h.repo);
    const old = { acme: layOld(desired, 'acme'), globex: layOld(desired, 'globex') };
    await startUnits('acme');
    await startUnits('globex');
    const dead = 'r20261120-oldrun';
    // what a dead run of the previous clawops left: its intent (swap records only, no done marks), a staging dir, its
    // wanted-file list and its lock, long expired
    await sh(`mkdir -p /var/db/openclaw/clawops /etc/openclaw/releases/acme/${idOf('acme')}.tmp-${dead}/gateway.d && echo x > /etc/openclaw/releases/acme/${idOf('acme')}.tmp-${dead}/gateway.d/10-base.yaml`);
    writeFileSync(cdir(`intent.${dead}`), `${JSON.stringify({ time: '2026-11-20T00:00:00.000Z', action: 'apply', node: 'gw-1', tenant: 'acme', release_id: old.acme, actor: 'old@clawops', run: dead })}\n`);
    writeFileSync(cdir(`want.${dead}`), `F\tacme\t${idOf('acme')}\topenclaw.json\t${'0'.repeat(64)}\n`);
    writeFileSync(cdir('node.lock'), `{"run":"${dead}","owner":"old@clawops","pid":4242,"ttl_sec":900,"acquired_epoch":1000,"host":"old"}\n`);
    chownToNodeUser(cdir());
    chownToNodeUser(h.gw.etcOpenclaw);
    const pids0 = await sh("for t in acme globex; do launchctl print system/ai.openclaw.$t | sed -n 's/^\tpid = //p'; done");
    const r = await apply();
    ok(r);
    const res = r.json!.results[0]!;
    expect(res.swapped.map((s) => `${s.tenant} ${s.from ?? '-'}->${s.to}`).sort()).toEqual([`acme ${old.acme}->${idOf('acme')}`, `globex ${old.globex}->${idOf('globex')}`]);
    expect(res.recovered).toEqual([`acme/${old.acme}`]);
    expect(res.reloads.map((u) => `${u.tenant} ${u.method}`).sort()).toEqual(['acme restart', 'globex restart']);
    const pids1 = await sh("for t in acme globex; do launchctl print system/ai.openclaw.$t | sed -n 's/^\tpid = //p'; done");
    expect(pids1).not.toBe(pids0);
    expect(linkId('acme.prev')).toBe(old.acme);
    await converged();
    const log = reloadLog();
    expect(log.filter((l) => l.run === dead)).toEqual([expect.objectContaining({ action: 'apply', release_id: old.acme, recovered_by: r.json!.run })]);
    expect(log.filter((l) => l.run === r.json!.run && l.action === 'apply')).toHaveLength(2);
    // and a second apply has nothing to do
    const again = await apply();
    ok(again);
    expect(again.json?.results[0]?.swapped ?? []).toEqual([]);
  }, 120_000);

  it('upgrade path: a guard file (and its beat) of a dead run whose guard process is gone (the node rebooted) is cleaned by the next apply, not left pending forever', async () => {
    h.repo = fleetRepo(h.fleet, {}, TWO);
    const desired = desiredOf(h.repo);
    const old = layOld(desired, 'acme');
    layOld(desired, 'globex');
    await startUnits('acme');
    await startUnits('globex');
    const dead = 'r20261120-guardrun';
    await sh('mkdir -p /var/db/openclaw/clawops');
    // the dead run's guard: its deadline long past, nobody left to fire or confirm it
    writeFileSync(cdir(`guard.${dead}`), `deadline\t1000\nacme\t${old}\t-\t-\n`);
    writeFileSync(cdir(`guard.${dead}.beat`), '1000\n');
    chownToNodeUser(cdir());
    const r = await apply();
    ok(r);
    const d = await diff();
    expect(d.code, d.stdout).toBe(0);
    expect(readdirSync(cdir()).filter((f) => f.startsWith('guard.')), `diff says:\n${d.stdout}`).toEqual([]);
    await converged();
  }, 120_000);

  it('change, rollback, rollback of the rollback, apply again, rollback and apply: each swap recorded once, in sync at the end', async () => {
    h.repo = fleetRepo(h.fleet, {}, TWO);
    const a1 = await apply();
    ok(a1);
    const v1 = idOf('acme');
    commitEdits(h.repo, level('acme', 'warn'), 'acme warn');
    const v2 = idOf('acme');
    ok(await apply());
    const rb = (): ReturnType<typeof runCli> => runCli(['rollback', '--repo', h.repo, '--identity', key(), '--node', 'gw-1', '--tenant', 'acme']);
    ok(await rb());
    expect(linkId('acme')).toBe(v1);
    expect((await diff()).code).toBe(1);
    ok(await rb());
    expect(linkId('acme')).toBe(v2);
    const a3 = await apply();
    ok(a3);
    expect(a3.json?.results[0]?.swapped ?? []).toEqual([]);
    await converged();
    ok(await rb());
    expect(linkId('acme')).toBe(v1);
    const a4 = await apply();
    ok(a4);
    expect(a4.json!.results[0]!.swapped).toEqual([{ tenant: 'acme', from: v1, to: v2 }]);
    expect(linkId('acme')).toBe(v2);
    await converged();
    const acme = reloadLog().filter((l) => l.tenant === 'acme' && (l.action === 'apply' || l.action === 'rollback')).map((l) => `${String(l.action)} ${String(l.prev_release_id ?? '-')}->${String(l.release_id)}`);
    expect(acme).toEqual([`apply -->${v1}`, `apply ${v1}->${v2}`, `rollback ${v2}->${v1}`, `rollback ${v1}->${v2}`, `rollback ${v2}->${v1}`, `apply ${v1}->${v2}`]);
  }, 150_000);

  it('--prune of a tenant no longer assigned: its units stopped and removed, its tree gone, then in sync', async () => {
    h.repo = fleetRepo(h.fleet, {}, ALL3);
    ok(await apply());
    expect(existsSync(join(h.gw.launchDaemonsDir, 'ai.openclaw.initech.plist'))).toBe(true);
    commitEdits(h.repo, { 'nodes.yaml': fleetNodesYaml(h.fleet, TWO) }, 'initech off gw-1');
    expect(desiredOf(h.repo).nodes.find((n) => n.name === 'gw-1')!.tenants).toEqual(['acme', 'globex']);
    const kept = await apply();
    ok(kept);
    expect(linkId('initech')).toBeDefined();
    const pr = await apply('--prune');
    ok(pr);
    expect(pr.json!.results[0]!.removed).toEqual(['initech']);
    expect(linkId('initech')).toBeUndefined();
    expect(existsSync(join(h.gw.etcOpenclaw, 'releases/initech'))).toBe(false);
    expect(existsSync(join(h.gw.launchDaemonsDir, 'ai.openclaw.initech.plist'))).toBe(false);
    await converged();
    // the pruned tenant's run record is no steady file of a tenant the node runs
    expect(existsSync(cdir('run', 'initech.json')), 'run/initech.json of the pruned tenant left behind').toBe(false);
  }, 150_000);

  it('--retry-quarantined after an automatic rollback: the release goes live once its port is free, in sync after, each swap recorded once', async () => {
    h.repo = fleetRepo(h.fleet, {}, TWO);
    ok(await apply());
    const v1 = idOf('acme');
    commitEdits(h.repo, acmeOverrides(18449, 'info'), 'acme on 18449');
    const v2 = idOf('acme');
    const blocker = blockPort(18449);
    let bad: Awaited<ReturnType<typeof apply>>;
    try {
      bad = await apply();
    } finally {
      blocker.close();
    }
    expect(bad.code, bad.stdout + bad.stderr).toBe(1);
    expect(bad.json!.results[0]!.reason).toBe('RolledBack');
    expect(linkId('acme')).toBe(v1);
    // quarantined: a plain apply does not try it again
    const plain = await apply();
    expect(plain.json?.results[0]?.swapped ?? []).toEqual([]);
    const retry = await apply('--retry-quarantined');
    ok(retry);
    expect(linkId('acme')).toBe(v2);
    await converged();
    const log = reloadLog().filter((l) => l.tenant === 'acme' && (l.action === 'apply' || l.action === 'rollback'));
    expect(log.map((l) => `${String(l.action)} ${String(l.prev_release_id ?? '-')}->${String(l.release_id)}`)).toEqual([`apply -->${v1}`, `apply ${v1}->${v2}`, `rollback ${v2}->${v1}`, `apply ${v1}->${v2}`]);
  }, 150_000);

  it('first deploy of three tenants at once on a clean node: each bootstrapped and recorded once, in sync', async () => {
    h.repo = fleetRepo(h.fleet, {}, ALL3);
    const r = await apply();
    ok(r);
    const res = r.json!.results[0]!;
    expect(res.swapped.map((s) => s.tenant).sort()).toEqual(['acme', 'globex', 'initech']);
    expect(res.reloads.map((u) => `${u.tenant} ${u.method}`).sort()).toEqual(['acme bootstrap', 'globex bootstrap', 'initech bootstrap']);
    await converged();
    expect(reloadLog().filter((l) => l.action === 'apply')).toHaveLength(3);
    const again = await apply();
    ok(again);
    expect(again.json?.results[0]?.swapped ?? []).toEqual([]);
  }, 120_000);

  it('a run killed mid-stage (one tenant staged, the node gone): the next apply cleans its staging dir, list and lock, and converges', async () => {
    h.repo = fleetRepo(h.fleet, {}, TWO);
    ok(await apply());
    commitEdits(h.repo, { ...level('acme', 'warn'), ...level('globex', 'warn') }, 'both');
    let stages = 0;
    let killed = false;
    const res = await applyHooked({
      onExec: async (command) => {
        if (command.includes('PREFILLED=') && ++stages === 2 && !killed) {
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
    await sleep(1100);
    const r = await apply();
    ok(r);
    expect(r.json!.results[0]!.swapped.map((s) => s.tenant).sort()).toEqual(['acme', 'globex']);
    await converged();
    expect(reloadLog().filter((l) => l.run === res.run)).toEqual([]);
  }, 150_000);

  it('a run killed mid-swap (first tenant swapped, the node gone with its guard): the next apply records the swap once, finishes the other tenant and converges', async () => {
    h.repo = fleetRepo(h.fleet, {}, TWO);
    ok(await apply());
    const v1 = { acme: idOf('acme'), globex: idOf('globex') };
    commitEdits(h.repo, { ...level('acme', 'warn'), ...level('globex', 'warn') }, 'both');
    const v2 = { acme: idOf('acme'), globex: idOf('globex') };
    let killed = false;
    let first = '';
    const res = await applyHooked({
      afterRename: async (_a, b) => {
        const m = /\/tenants\/([a-z]+)$/.exec(b);
        if (m && !killed) {
          killed = true;
          first = m[1]!;
          await killNodeNow(h.gw, sleep);
          throw new Error('gw-1: connection lost (node killed)');
        }
      },
    }, { lockTtlSec: 1 });
    expect(killed).toBe(true);
    await h.gw.stop();
    await h.gw.start();
    expect(linkId(first)).toBe(v2[first as 'acme']);
    await sleep(1100);
    const r = await apply();
    ok(r);
    expect(linkId('acme')).toBe(v2.acme);
    expect(linkId('globex')).toBe(v2.globex);
    const log = reloadLog();
    expect(log.filter((l) => l.run === res.run && l.action === 'apply').map((l) => `${String(l.tenant)} ${String(l.prev_release_id)}->${String(l.release_id)}`)).toEqual([`${first} ${v1[first as 'acme']}->${v2[first as 'acme']}`]);
    const again = await apply();
    ok(again);
    await converged();
  }, 150_000);

  it('two applies back to back: the second changes nothing (no swap, no restart, no record) and the node stays in sync', async () => {
    h.repo = fleetRepo(h.fleet, {}, TWO);
    ok(await apply());
    commitEdits(h.repo, level('acme', 'warn'), 'acme warn');
    const a = await apply();
    ok(a);
    const n = reloadLog().length;
    const pid0 = await sh("launchctl print system/ai.openclaw.acme | sed -n 's/^\tpid = //p'");
    const b = await apply();
    ok(b);
    expect(b.json?.results[0]?.swapped ?? []).toEqual([]);
    expect(b.json?.results[0]?.reloads ?? []).toEqual([]);
    expect(reloadLog()).toHaveLength(n);
    expect(await sh("launchctl print system/ai.openclaw.acme | sed -n 's/^\tpid = //p'")).toBe(pid0);
    await converged();
  }, 120_000);

  it('a live release repaired in place (a hand-edited fragment, a stray file, the gateway\'s openclaw.json.last-good beside its config): repaired, last-good kept, no swap recorded, in sync', async () => {
    h.repo = fleetRepo(h.fleet, {}, TWO);
    ok(await apply());
    const id = linkId('acme')!;
    const rel = join(h.gw.etcOpenclaw, 'releases/acme', id);
    const cfg = readFileSync(join(rel, 'openclaw.json'));
    writeFileSync(join(rel, 'openclaw.json.last-good'), cfg);
    writeFileSync(join(rel, 'gateway.d/10-base.yaml'), 'edited: by hand\n');
    writeFileSync(join(rel, 'gateway.d/99-stray.yaml'), 'stray: true\n');
    chownToNodeUser(h.gw.etcOpenclaw);
    const n = reloadLog().length;
    expect((await diff()).code).toBe(1);
    const r = await apply();
    ok(r);
    expect(linkId('acme')).toBe(id);
    expect(readdirSync(join(rel, 'gateway.d')).sort()).toEqual(['10-base.yaml', '20-overrides.yaml']);
    expect(existsSync(join(rel, 'openclaw.json.last-good'))).toBe(true);
    expect(swapsOf(reloadLog().slice(n))).toEqual([]);
    await converged();
  }, 120_000);

  it('a node whose reload.log is large (~40 MB, its last line unended): apply appends whole lines, in sync after', async () => {
    h.repo = fleetRepo(h.fleet, {}, TWO);
    ok(await apply());
    const line = JSON.stringify({ time: '2026-01-01T00:00:00.000Z', action: 'reload', node: 'gw-1', tenant: 'acme', release_id: 'ab', label: 'ai.openclaw.acme', method: 'restart', old_pid: 1, new_pid: 2, actor: 'x', run: 'old' });
    await sh(`cd /var/db/openclaw/clawops && yes '${line}' | head -n 160000 > big && cat reload.log >> big && printf '{"time":"2026' >> big && mv big reload.log && wc -c < reload.log`);
    commitEdits(h.repo, level('acme', 'warn'), 'acme warn');
    const v2 = idOf('acme');
    const t0 = Date.now();
    const r = await apply();
    ok(r);
    expect(Date.now() - t0).toBeLessThan(60_000);
    const tail = (await sh('tail -n 5 /var/db/openclaw/clawops/reload.log')).split('\n').filter((l) => l !== '');
    for (const l of tail.slice(-2)) expect(() => JSON.parse(l), l).not.toThrow();
    expect(reloadLog().filter((l) => l.action === 'apply' && l.release_id === v2)).toHaveLength(1);
    await converged();
  }, 150_000);

  it('a hard-link backup of /etc/openclaw/releases taken on the node (cp -al): apply does not refuse, and the node converges', async () => {
    h.repo = fleetRepo(h.fleet, {}, TWO);
    ok(await apply());
    commitEdits(h.repo, level('acme', 'warn'), 'acme warn');
    ok(await apply());
    await sh('cp -al /etc/openclaw/releases /etc/openclaw/backup-releases');
    commitEdits(h.repo, level('acme', 'error'), 'acme error');
    const r = await apply();
    ok(r);
    const again = await apply();
    ok(again);
    const d = await diff();
    await sh('rm -rf /etc/openclaw/backup-releases');
    expect(d.code, d.stdout).toBe(0);
  }, 150_000);
});
