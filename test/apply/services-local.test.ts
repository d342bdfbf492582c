/**
 * The services shell (reload, health gate, undo, dead-man guard) on a local node: a directory standing for a Mac's /
 * with the real launchctl stand-in in usr/local/bin (state and job paths inside the node) and the fake gateway.
 * No sshd: fast, and the same scripts the fleet runs.
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { confirmGuard, gate, markPassed, readinessReason, reloadUnits, startGuard, undoTenant } from '../../reconciler/apply/services.js';
import { LocalTransport } from '../../reconciler/transport/local-transport.js';
import type { NodePaths } from '../../reconciler/transport/transport.js';
import { installFakeGateway, installLaunchctl } from '../fleet/node-bin.js';
import { freePort, holdPort } from '../helpers/ports.js';

const REPO = join(import.meta.dirname, '..', '..');
const HEALTH = { deadline_sec: 5, poll_ms: 100, allow_degraded: false };

let root: string;
let t: LocalTransport;
let p: NodePaths;
let port: number;

/** A release of tenant acme with a gateway unit running the fake gateway on `port` (the plist differs per `tag`). */
function release(id: string, opts: { port?: number; tag?: string } = {}): void {
  const rel = join(p.etc, 'releases/acme', id);
  mkdirSync(join(rel, 'launchd'), { recursive: true });
  mkdirSync(join(rel, '.clawops'), { recursive: true });
  writeFileSync(join(rel, 'openclaw.json'), JSON.stringify({ gateway: { port: opts.port ?? port } }));
  writeFileSync(join(rel, '.clawops/manifest.json'), JSON.stringify({ schema: 1, tenant: 'acme', release_id: id, files: {} }, null, 2));
  writeFileSync(
    join(rel, 'launchd/ai.openclaw.acme.plist'),
    `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>Label</key><string>ai.openclaw.acme</string>
  <key>ProgramArguments</key><array><string>/usr/local/bin/fake-openclaw-gateway</string><string>--profile</string><string>acme</string><string>gateway</string><string>run</string></array>
  <key>EnvironmentVariables</key><dict><key>OPENCLAW_CONFIG_PATH</key><string>/etc/openclaw/tenants/acme/openclaw.json</string><key>CLAWOPS_FAKE_READY_MS</key><string>200</string><key>TAG</key><string>${opts.tag ?? 'one'}</string></dict>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><true/>
  <key>ThrottleInterval</key><integer>1</integer>
  <key>StandardErrorPath</key><string>/var/db/openclaw/logs/acme/gateway.err</string>
</dict></plist>
`,
  );
}

function point(name: string, id: string): void {
  const l = join(p.etc, 'tenants', name);
  rmSync(l, { force: true });
  symlinkSync(`../releases/acme/${id}`, l);
}


beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'clawops-svc-'));
  t = new LocalTransport('local-1', root, 60_000);
  p = t.paths({ etc: '/etc/openclaw', var_db: '/var/db/openclaw' });
  const bin = join(root, 'usr/local/bin');
  mkdirSync(bin, { recursive: true });
  mkdirSync(p.launchDaemons, { recursive: true });
  mkdirSync(join(p.etc, 'tenants'), { recursive: true });
  mkdirSync(join(p.varDb, 'clawops'), { recursive: true });
  const node = process.execPath;
  installLaunchctl(bin, node);
  installFakeGateway(bin, node);
  port = await freePort();
});

afterEach(async () => {
  // stop every job (bootout), then remove the node
  await t.exec(`launchctl bootout system/ai.openclaw.acme >/dev/null 2>&1; true`);
  rmSync(root, { recursive: true, force: true });
});

describe('services on a local node (launchctl stand-in, fake gateway)', () => {
  it('bootstrap when not loaded, restart (new pid) when only the release changed, bootstrap again when the plist changed; each gated ready', async () => {
    release('aaaa1111');
    point('acme', 'aaaa1111');
    const first = await reloadUnits(t, p, 'acme', 'aaaa1111');
    expect(first).toMatchObject({ ok: true, reloads: [{ label: 'ai.openclaw.acme', method: 'bootstrap', oldPid: 0 }] });
    expect(first.reloads[0]!.newPid).toBeGreaterThan(0);
    expect(existsSync(join(p.launchDaemons, 'ai.openclaw.acme.plist'))).toBe(true);
    expect(await gate(t, `http://127.0.0.1:${port}/readyz`, 'ai.openclaw.acme', HEALTH)).toMatchObject({ ready: true });

    release('bbbb2222');
    point('acme', 'bbbb2222');
    const second = await reloadUnits(t, p, 'acme', 'bbbb2222');
    expect(second.reloads[0]).toMatchObject({ method: 'restart', oldPid: first.reloads[0]!.newPid });
    expect(second.reloads[0]!.newPid).not.toBe(first.reloads[0]!.newPid);

    release('cccc3333', { tag: 'two' });
    point('acme', 'cccc3333');
    const third = await reloadUnits(t, p, 'acme', 'cccc3333');
    expect(third.reloads[0]).toMatchObject({ method: 'bootstrap', oldPid: second.reloads[0]!.newPid });
    expect(readFileSync(join(p.launchDaemons, 'ai.openclaw.acme.plist'), 'utf8')).toContain('<string>two</string>');
    expect(await gate(t, `http://127.0.0.1:${port}/readyz`, 'ai.openclaw.acme', HEALTH)).toMatchObject({ ready: true });
  }, 60_000);

  it('a release whose port is taken never becomes ready: the gate says why, undo puts the old release back and it is ready again', async () => {
    release('aaaa1111');
    point('acme', 'aaaa1111');
    expect((await reloadUnits(t, p, 'acme', 'aaaa1111')).ok).toBe(true);
    // (held as it is picked: a port only free when asked could be another test file's by the time it is listened on)
    const { server: blocker, port: taken } = await holdPort((s) => s.destroy());
    try {
      release('bbbb2222', { port: taken });
      point('acme.prev', 'aaaa1111');
      point('acme', 'bbbb2222');
      await reloadUnits(t, p, 'acme', 'bbbb2222');
      const g = await gate(t, `http://127.0.0.1:${taken}/readyz`, 'ai.openclaw.acme', { ...HEALTH, deadline_sec: 3 });
      expect(g.ready).toBe(false);
      expect(g.reason).toMatch(/no answer|HTTP/);
      expect(g.reason).toContain('ai.openclaw.acme');
      const undo = await undoTenant(t, p, 'acme', 'aaaa1111', undefined);
      expect(undo.ok).toBe(true);
      expect(readlinkSync(join(p.etc, 'tenants/acme'))).toBe('../releases/acme/aaaa1111');
      expect(await gate(t, `http://127.0.0.1:${port}/readyz`, 'ai.openclaw.acme', HEALTH)).toMatchObject({ ready: true });
    } finally {
      blocker.close();
    }
  }, 60_000);

  /** acme runs aaaa1111; a guard of run `run` (overall `secs`, confirm 1 s) is armed and acme's link moved to bbbb2222 */
  const guardedSwap = async (run: string, secs: number): Promise<void> => {
    release('aaaa1111');
    release('bbbb2222');
    point('acme', 'aaaa1111');
    expect((await reloadUnits(t, p, 'acme', 'aaaa1111')).ok).toBe(true);
    await startGuard(t, p, run, secs, 1, [{ tenant: 'acme', to: 'bbbb2222', from: 'aaaa1111' }]);
    point('acme', 'bbbb2222');
  };
  /** the guard of `run` fired and is done: acme is back on aaaa1111; the last reload-log line */
  const fired = async (run: string): Promise<Record<string, string>> => {
    const log = join(p.varDb, 'clawops/reload.log');
    for (let i = 0; i < 100 && !existsSync(log); i++) await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 100 && existsSync(join(p.varDb, `clawops/guard.${run}.firing`)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(readlinkSync(join(p.etc, 'tenants/acme'))).toBe('../releases/acme/aaaa1111');
    return JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!) as Record<string, string>;
  };

  it('the dead-man guard puts the old release back by itself when nobody confirms, and logs DeadManRollback', async () => {
    await guardedSwap('run-dead', 2);
    expect((await reloadUnits(t, p, 'acme', 'bbbb2222')).ok).toBe(true);
    // no confirm: the guard fires after 2 s
    const line = await fired('run-dead');
    expect(line).toMatchObject({ action: 'DeadManRollback', tenant: 'acme', release_id: 'aaaa1111', prev_release_id: 'bbbb2222', run: 'run-dead' });
    expect(line.detail).toMatch(/ai\.openclaw\.acme pid \d+->\d+/);
    expect(await gate(t, `http://127.0.0.1:${port}/readyz`, 'ai.openclaw.acme', HEALTH)).toMatchObject({ ready: true });
  }, 60_000);

  it('a guard whose file and beat hold junk (numbers with a leading zero the shell would read as octal) still fires', async () => {
    // a long overall deadline: only the junk "passed" (read as 0: the gate passed long ago) can make it fire soon
    await guardedSwap('run-junk', 120);
    writeFileSync(join(p.varDb, 'clawops/guard.run-junk.beat'), '09\n');
    appendFileSync(join(p.varDb, 'clawops/guard.run-junk'), 'passed\t08\n');
    expect(await fired('run-junk')).toMatchObject({ action: 'DeadManRollback', tenant: 'acme', run: 'run-junk' });
  }, 60_000);

  it('a confirmed guard stands down: the new release stays, nothing is logged', async () => {
    release('aaaa1111');
    release('bbbb2222');
    point('acme', 'aaaa1111');
    await startGuard(t, p, 'run-ok', 2, 1, [{ tenant: 'acme', to: 'bbbb2222', from: 'aaaa1111' }]);
    point('acme', 'bbbb2222');
    await markPassed(t, p, 'run-ok');
    // a second transport: the confirmation comes over a new connection
    expect(await confirmGuard(new LocalTransport('local-1', root), p, 'run-ok')).toBe(true);
    await new Promise((r) => setTimeout(r, 3500));
    expect(readlinkSync(join(p.etc, 'tenants/acme'))).toBe('../releases/acme/bbbb2222');
    expect(existsSync(join(p.varDb, 'clawops/reload.log'))).toBe(false);
    expect(await confirmGuard(t, p, 'run-ok')).toBe(false);
  }, 30_000);

  it('a unit whose program does not exist never reaches running: launchctl\'s own words come back', async () => {
    release('aaaa1111');
    point('acme', 'aaaa1111');
    const plist = join(p.etc, 'releases/acme/aaaa1111/launchd/ai.openclaw.acme.plist');
    writeFileSync(plist, readFileSync(plist, 'utf8').replace('/usr/local/bin/fake-openclaw-gateway', '/usr/local/bin/no-such-gateway'));
    const r = await reloadUnits(t, p, 'acme', 'aaaa1111');
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/ai\.openclaw\.acme: (exited at start|did not reach running within \d+ s): state = .*last exit code = /);
  }, 60_000);

  it('readiness reasons name failing checks, never whole bodies', () => {
    expect(readinessReason('503', '{"ready":false,"failing":["startup-sidecars"],"secret":"x"}')).toBe('HTTP 503 (ready false; failing: startup-sidecars)');
    expect(readinessReason('000', '')).toBe('no answer');
    expect(readinessReason('200', '{"status":"degraded","checks":{"doctor":{"status":"warn"},"gateway":{"status":"ok"}}}')).toBe('HTTP 200 (status degraded; checks: doctor warn)');
  });
});
