/**
 * `clawops controller run` killed with SIGKILL mid-pass, while it applies the canary (right after a tenant's link was
 * swapped, before its reload and health gate), then restarted on the same state dir (issue 10, "Bad input and faults").
 * Local nodes with services (the launchctl stand-in and the fake gateway through the real secret wrapper), so the
 * node's dead-man guard is real: with health.confirm_sec 10 it puts back a swap whose run died (the restarted
 * controller's first pass, which must still find the guard pending, ends ~0.6 s after the kill here). Afterwards:
 *   - no half-swapped tenant: every tenant link points at a complete release (its manifest is there), and the reload
 *     log agrees with what is current;
 *   - the swap the dead run made is either reverted by the guard (and then applied again cleanly by the restarted
 *     controller) or was complete; nothing that already runs is applied again (the fleet node is not touched);
 *   - the status store is readable and keeps the commit evidence (the proven commit, the fleet commit).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readStatus } from '../../reconciler/controller/store.js';
import { actor } from '../../reconciler/commands/apply.js';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { openclawCache } from '../helpers/openclaw.js';
import { EXAMPLE, REPO_ROOT } from '../helpers/repo.js';
import { node, summary } from './helpers.js';

const TSX = join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs');
const CLI = join(REPO_ROOT, 'reconciler/cli.ts');
const ACME = 'tenants/acme/gateway.d/20-overrides.yaml';
const GLOBEX = 'tenants/globex/gateway.d/20-agents.yaml';
const TENANTS = ['acme', 'globex'];

type Line = Record<string, unknown>;

describe.skipIf(!openclawCache())('controller killed with SIGKILL mid-pass, then restarted', () => {
  let lc: LocalController | undefined;
  afterEach(async () => {
    await lc?.close();
  });

  it('while swapping on the canary: no half-swapped tenant, the guard or the restart finishes it, nothing running is re-applied, status intact', async () => {
    lc = localController({
      nodes: [
        { name: 'gw-1', canary: true, tenants: TENANTS },
        { name: 'gw-2', tenants: TENANTS },
      ],
      secretsFor: TENANTS,
      services: true,
      clawops: (y) => y.replace('confirm_sec: 60', 'confirm_sec: 10'),
      prefix: 'clawops-ctl-kill-',
    });
    const { nodes: n, origin, stateDir } = lc;
    const etc = (node: string): string => join(n.root(node), 'etc/openclaw');
    const clawopsDir = (node: string): string => join(n.root(node), 'var/db/openclaw/clawops');
    const linkId = (node: string, t: string): string | undefined => {
      try {
        return readlinkSync(join(etc(node), 'tenants', t)).split('/').pop();
      } catch {
        return undefined;
      }
    };
    const reloadLog = (node: string): Line[] => {
      const f = join(clawopsDir(node), 'reload.log');
      return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) : [];
    };
    /** every tenant link of the node points at a complete release of its own tenant */
    const noHalfSwapped = (node: string): void => {
      for (const t of TENANTS) {
        const target = readlinkSync(join(etc(node), 'tenants', t));
        expect(target, `${node}/${t}`).toMatch(new RegExp(`^\\.\\./releases/${t}/[0-9a-f]{16}$`));
        expect(existsSync(join(etc(node), 'tenants', target.replace(/^\.\.\//, '../'), '.clawops/manifest.json')), `${node}/${t} → ${target}`).toBe(true);
      }
    };
    /** the reload log's last word on each tenant (a swap, a rollback, a dead-man rollback) is what is current */
    const logAgrees = (node: string): void => {
      for (const t of TENANTS) {
        const last = reloadLog(node).filter((l) => l.tenant === t && typeof l.release_id === 'string' && l.release_id !== '').at(-1);
        expect(last?.release_id, `${node}/${t}: reload.log says ${JSON.stringify(last)}`).toBe(linkId(node, t));
      }
    };

    // 1. an in-process controller brings both nodes to c1 (proven on the canary, fanned out as release/1)
    const c1 = origin.head();
    origin.tag('release/1', c1, { date: '2026-11-01T00:00:00Z' });
    const a = await lc.start();
    for (let i = 0; i < 4; i++) await a.c.runPass();
    expect(summary(a.c.status()), JSON.stringify(a.c.status().lastPass)).toEqual({ 'gw-1': 'Synced:Synced', 'gw-2': 'Synced:Synced' });
    expect(a.c.status().commits[c1]?.verdict).toBe('proven');
    const passesBefore = a.c.status().passes;
    await a.c.close();
    const gw2Before = Object.fromEntries(TENANTS.map((t) => [t, linkId('gw-2', t)]));
    const gw1Before = Object.fromEntries(TENANTS.map((t) => [t, linkId('gw-1', t)]));

    // 2. a merged change to both tenants; the controller runs as a process and is killed right after the canary's
    //    first swap (before that tenant's reload and health gate, before the second tenant's swap)
    const c2 = origin.commit({
      [ACME]: readFileSync(join(EXAMPLE, ACME), 'utf8').replace(/level: \w+/, 'level: warn'),
      [GLOBEX]: readFileSync(join(EXAMPLE, GLOBEX), 'utf8').replace('timeoutSeconds: 600', 'timeoutSeconds: 300'),
    }, 'acme and globex');
    origin.push();
    const child = spawn(process.execPath, ['--import', TSX, CLI, 'controller', 'run', '--repo', origin.bare, '--state-dir', stateDir, '--interval', '1h'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, CLAWOPS_LOG_LEVEL: 'info' },
    });
    let err = '';
    let swapLine: Line | undefined;
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      if (swapLine) return;
      for (const l of err.split('\n').filter((x) => x.startsWith('{'))) {
        const j = JSON.parse(l) as Line;
        if (j.stage === 'apply' && j.node === 'gw-1' && j.step === 'swap' && j.state === 'done') {
          swapLine = j;
          child.kill('SIGKILL');
          break;
        }
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const sig = await exited;
    clearTimeout(timer);
    expect(swapLine, `the controller never swapped on gw-1:\n${err}`).toBeDefined();
    expect(sig).toBe('SIGKILL');
    const swappedTenant = String(swapLine!.msg).split(':')[0]!;
    expect(TENANTS).toContain(swappedTenant);
    const deadRun = (err.split('\n').filter((x) => x.startsWith('{')).map((x) => JSON.parse(x) as Line).find((l) => l.stage === 'apply' && l.node === 'gw-1')?.reconcile) as string;
    expect(deadRun).toMatch(/^r\d{8}t\d{6}-[0-9a-f]{6}$/);

    // right after the kill: each link is one complete release or the other, never half of one; the fleet node untouched
    noHalfSwapped('gw-1');
    expect(linkId('gw-1', swappedTenant)).not.toBe(gw1Before[swappedTenant]);
    expect(Object.fromEntries(TENANTS.map((t) => [t, linkId('gw-2', t)]))).toEqual(gw2Before);
    // the status store is readable and kept its evidence (status.json is written by rename: old or new, never half)
    const stored = await readStatus(stateDir);
    expect(stored?.commits[c1]).toMatchObject({ verdict: 'proven' });
    expect(stored?.fleetCommit).toMatchObject({ commit: c1, tag: 'release/1' });
    expect(stored?.passes).toBeGreaterThanOrEqual(passesBefore);

    // 3. restarted at once on the same state dir (as the same controller: same user and host), as a supervisor
    //    would: it takes over the dead controller's state dir lock and resumes from the store. The dead run's swap is
    //    not confirmed and its dead-man guard is still pending (confirm_sec 10): nothing is applied to the canary, and
    //    what it runs does not count as evidence, until the guard has put the swap back
    const guardFiles = (): string[] => readdirSync(clawopsDir('gw-1')).filter((f) => f.startsWith('guard.'));
    expect(guardFiles().length).toBeGreaterThan(0);
    const b = await lc.start({ actor: `controller:${actor()}` });
    expect(b.log.lines().some((l) => l.msg === 'resuming from the stored status')).toBe(true);
    expect(b.c.status().commits[c1]?.verdict).toBe('proven');
    await b.c.runPass();
    let s = b.c.status();
    // Progressing (waiting), or worse: the swapped tenant's service still runs the release before the swap
    expect(node(s, 'gw-1')).toMatchObject({ sync: { target: { commit: c2 } } });
    expect(['Progressing', 'Degraded']).toContain(node(s, 'gw-1').state);
    const waitMsg = `waiting for the dead-man guard of run ${deadRun} (acme, globex) to put back what its run swapped and never confirmed; applying after it`;
    expect(b.log.lines().filter((l) => l.reason === 'WaitingForGuard').map((l) => [l.node, l.msg])).toEqual([['gw-1', `gw-1: ${waitMsg}`]]);
    expect(s.commits[c2]?.canaries['gw-1']).toMatchObject({ running: false, greenPasses: 0, note: waitMsg });
    expect(b.log.lines().filter((l) => l.stage === 'apply' && l.step !== undefined)).toEqual([]);
    expect(node(s, 'gw-2').state).toBe('Synced');
    noHalfSwapped('gw-1');

    // 4. the node's dead-man guard: nobody confirms the dead run's swap, so within confirm_sec of its last beat the
    //    guard puts the tenant back (or, had the run got that far, the swap was complete and confirmed)
    const t0 = Date.now();
    while (guardFiles().length > 0 && Date.now() - t0 < 45_000) await new Promise((r) => setTimeout(r, 250));
    expect(guardFiles()).toEqual([]);
    const reverted = reloadLog('gw-1').filter((l) => l.action === 'DeadManRollback' && l.run === deadRun).map((l) => String(l.tenant));
    for (const t of reverted) expect(linkId('gw-1', t), t).toBe(gw1Before[t]);
    if (!reverted.includes(swappedTenant)) expect(linkId('gw-1', swappedTenant)).not.toBe(gw1Before[swappedTenant]);
    // the tenant the dead run never reached was never swapped
    for (const t of TENANTS.filter((x) => x !== swappedTenant)) expect(linkId('gw-1', t), t).toBe(gw1Before[t]);
    noHalfSwapped('gw-1');
    const settled = Object.fromEntries(TENANTS.map((t) => [t, linkId('gw-1', t)]));

    // 5. the next pass releases the node lock the dead run left (its pid is gone) and applies what differs, once
    const seen = b.log.lines().length;
    await b.c.runPass();
    s = b.c.status();
    const applied = b.log.lines().slice(seen).filter((l) => l.stage === 'apply');
    expect(applied.filter((l) => l.step === 'lock' && l.state !== 'start' && l.state !== 'done').map((l) => l.msg)).toContain(`gw-1: released the node lock of run ${deadRun}: its controller (pid ${child.pid}) is gone`);
    // the fleet node runs release/1 already: not applied again
    expect(applied.filter((l) => l.node === 'gw-2')).toEqual([]);
    // the canary: only the tenants not already on c2 are swapped (each once); the result is c2 everywhere
    const swappedAgain = applied.filter((l) => l.node === 'gw-1' && l.step === 'swap' && l.state === 'done').map((l) => String(l.msg).split(':')[0]);
    const c2Ids = Object.fromEntries(TENANTS.map((t) => [t, linkId('gw-1', t)]));
    for (const t of TENANTS) {
      expect(c2Ids[t], t).not.toBe(gw1Before[t]);
      expect(swappedAgain.filter((x) => x === t).length, t).toBe(settled[t] === c2Ids[t] ? 0 : 1);
    }
    expect(node(s, 'gw-1')).toMatchObject({ state: 'Progressing', sync: { target: { commit: c2 } } });
    expect(applied.some((l) => l.state === 'fail')).toBe(false);
    await b.c.runPass();
    s = b.c.status();
    expect(summary(s)).toEqual({ 'gw-1': 'Synced:Synced', 'gw-2': 'Synced:Synced' });
    expect(node(s, 'gw-1').tenants.acme?.sync).toMatchObject({ state: 'InSync', commit: c2 });
    expect(node(s, 'gw-1').health.status).toBe('ok');
    expect(node(s, 'gw-2')).toMatchObject({ sync: { target: { commit: c1, tag: 'release/1' } } });
    noHalfSwapped('gw-1');
    noHalfSwapped('gw-2');
    logAgrees('gw-1');
    logAgrees('gw-2');
    expect(s.commits[c1]?.verdict).toBe('proven');
    expect(s.commits[c2]).toMatchObject({ verdict: 'pending', canaries: { 'gw-1': { running: true } } });
    expect(s.passes).toBeGreaterThan(passesBefore);
    // nothing of the dead run is left behind on the node (its intent, temp links, lock)
    expect(readdirSync(clawopsDir('gw-1')).filter((f) => /^(intent\.|guard\.|node\.lock)/.test(f))).toEqual([]);
    expect(readdirSync(join(etc('gw-1'), 'tenants')).filter((f) => f.startsWith('.clawops-'))).toEqual([]);
  }, 300_000);
});
