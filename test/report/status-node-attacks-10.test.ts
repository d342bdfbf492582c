/**
 * Adversarial run 10, part A: the status views fed by what a NODE controls. A local node (transport `local`: the
 * real observe script, run on a directory standing for the Mac) gets hostile files planted where clawops reads them —
 * a release manifest, the dead-man guard file, the node lock, an intent file, a quarantine record, the `openclaw` on
 * its PATH — and `clawops status --repo` (a one-off observe mapped to the status model, in process) or the controller
 * (local nodes, passes driven one at a time) reads it. Expectations: every view shows such text escaped or visibly
 * replaced, one line per item, bounded in size; nothing crashes; the controller keeps going.
 *
 * (test/report/status-print-attacks-5.test.ts covers C0/C1/U+2028 in hand-made stores, HTML and Prometheus
 * injection; this file goes through the node's own files and the real observe.)
 */
import { chmodSync, existsSync, mkdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusView } from '../../reconciler/report/status-model.js';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { openclawCache } from '../helpers/openclaw.js';
import { runCli } from '../helpers/repo.js';
import { BIDI_ZW, longestLine, oneLocalNode, RAW_CONTROL, rawLines, type OneNode } from '../helpers/attack10.js';

const RELEASE = '0123456789abcdef';
const COMMIT = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

/** a release dir on the node holding only a manifest, and tenants/acme linked to it (as a hand or a bad run left it) */
function plantRelease(n: OneNode, manifest: Record<string, unknown> | string): void {
  const dir = join(n.etc, 'releases/acme', RELEASE);
  mkdirSync(join(dir, '.clawops'), { recursive: true });
  mkdirSync(join(n.etc, 'tenants'), { recursive: true });
  const text = typeof manifest === 'string' ? manifest : JSON.stringify({ schema: 1, tenant: 'acme', release_id: RELEASE, files: {}, created_at: '2026-11-28T12:00:00Z', actor: 'x', ...manifest });
  writeFileSync(join(dir, '.clawops/manifest.json'), `${text}\n`);
  symlinkSync(`../releases/acme/${RELEASE}`, join(n.etc, 'tenants/acme'));
}

/** a dead-man guard file as GUARD_START writes it (deadline, pid, then `tenant new old oldprev` rows) */
function plantGuard(n: OneNode, run: string, deadline: string, rows: string[], pid: number = process.pid): void {
  writeFileSync(join(n.clawops, `guard.${run}`), `deadline\t${deadline}\npid\t${pid}\n${rows.map((r) => `${r}\n`).join('')}`);
}

const inAnHour = (): string => String(Math.floor(Date.now() / 1000) + 3600);

/** `clawops status --repo` as text and as JSON */
async function status(n: OneNode): Promise<{ code: number; text: string; stderr: string; json: string; jsonCode: number }> {
  const t = await runCli(['status', '--repo', n.repo]);
  const j = await runCli(['status', '--repo', n.repo, '--json']);
  return { code: t.code, text: t.stdout, stderr: t.stderr + j.stderr, json: j.stdout, jsonCode: j.code };
}

describe.skipIf(!openclawCache())('status views fed by what a node controls (adversarial run 10)', () => {
  const made: OneNode[] = [];
  const node = (): OneNode => {
    const n = oneLocalNode();
    made.push(n);
    return n;
  };
  afterEach(() => {
    for (const n of made.splice(0)) {
      rmSync(n.nodes.dir, { recursive: true, force: true });
      rmSync(n.origin.work, { recursive: true, force: true });
      rmSync(n.origin.bare, { recursive: true, force: true });
    }
  });

  // fixed (was: escapeInline (reconciler/safe-text.ts) leaves Unicode bidi overrides/isolates (U+202A–202E, U+2066–2069) and zero-width characters (U+200B–200F, U+FEFF) raw, so a node's text (here a release manifest's tag; also guard rows, lock owners, `openclaw --version`) reorders/hides what `clawops status` (and diff, the page) prints around it; they should be shown visibly escaped (\u202e) like the C1 controls)
  it('text: a release manifest tag holding U+202E/U+2066/U+200B is shown escaped, not raw, on the `runs` line', async () => {
    const n = node();
    plantRelease(n, { commit: COMMIT, tag: 'release/1\u202e3.v-exe.\u2066\u200bgnp' });
    const r = await status(n);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/\n {4}runs {4}release\/1/);
    expect(rawLines(r.text)).toEqual([]);
  }, 30_000);

  // fixed (was: a manifest on the node whose "commit" is not a string (a number, 1e999, an object) is copied into the status record as it is (controller/derive.ts deriveNode → tenant sync.commit; release-manifest.ts parseManifest checks only schema/release_id/files), and status-model.ts shortCommit (via status-text.ts runs/revLabel) calls .slice on it: `clawops status` dies with "internal error: (c ?? "").slice is not a function", exit 2, for the whole fleet (a controller stores it too: `clawops status --state-dir`/`--controller` then die the same way whenever that node is not Synced); a non-string commit/tag should be dropped (or the manifest judged invalid) and the status printed)
  it('text: a manifest whose commit is a number does not crash `clawops status` (exit 1, the node shown)', async () => {
    const n = node();
    plantRelease(n, `{"schema":1,"tenant":"acme","release_id":"${RELEASE}","commit":12345,"tag":{"a":1},"files":{},"created_at":"x","actor":"y"}`);
    const r = await status(n);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.text).toContain('gw-1 [gateway, canary]');
    expect(r.jsonCode).toBe(1);
  }, 30_000);

  // fixed (was: the release manifest is read whole (observe-script.ts manifestj record) and its "tag" copied unbounded into the status (controller/derive.ts deriveNode → sync.running): a 2 MB tag in a node's manifest makes a 2 MB `runs` line in `clawops status` (and in status.json every pass); node text should be bounded (a tag longer than git allows is no tag))
  it('size: a 2 MB tag in a release manifest gives a bounded status (every line under 8 KiB)', async () => {
    const n = node();
    plantRelease(n, { commit: COMMIT, tag: `release/1${'x'.repeat(2_000_000)}` });
    const r = await status(n);
    expect(r.code).toBe(1);
    expect(longestLine(r.text)).toBeLessThan(8192);
    expect(r.json.length).toBeLessThan(256 * 1024);
  }, 30_000);

  // fixed (was: the dead-man guard file is read whole (observe-script.ts: `awk 'NF == 4 { … $1 }' "$f"`, no head -c, unlike node.lock 4 KiB, intents 64 KiB, quarantine 1 KiB, run records 4 KiB) and every row's first column is listed (parse-observation.ts 'guard', plan.ts PendingGuard "pending for …", pass.ts WaitingForGuard): a 1.9 MB guard file makes a 1.3 MB `probe` line in `clawops status`/diff (and the controller's node message, log line and status.json); read a bounded prefix and list a few tenants "and N more")
  it('size: a guard file of 100,000 rows gives a bounded status (every line under 8 KiB, all of it under 64 KiB)', async () => {
    const n = node();
    plantGuard(n, 'r9', inAnHour(), Array.from({ length: 100_000 }, (_, i) => `t${i}\t${RELEASE}\t-\t-`));
    const r = await status(n);
    expect(r.code).toBe(1);
    expect(r.text).toContain('dead-man guard of run r9 pending for t0');
    expect(longestLine(r.text)).toBeLessThan(8192);
    expect(r.text.length).toBeLessThan(64 * 1024);
    expect(r.json.length).toBeLessThan(256 * 1024);
  }, 60_000);

  // fixed (was: a guard file whose deadline is not a plain number (`1e999`: the observe awk's `d + 0` prints inf) becomes deadline NaN (parse-observation.ts 'guard': Number()), shown as "reverts in NaN s unless confirmed" (plan.ts PendingGuard), and such a guard is never judged past its deadline; an unreadable deadline should read as unknown (no "NaN" shown) and count as such)
  it('numbers: a guard whose deadline is 1e999 never shows "NaN" in the status', async () => {
    const n = node();
    plantGuard(n, 'r9', '1e999', [`acme\t${RELEASE}\t-\t-`]);
    const r = await status(n);
    expect(r.code).toBe(1);
    expect(r.text).toContain('dead-man guard of run r9 pending for acme');
    expect(r.text).not.toMatch(/NaN|Infinity/);
    expect(r.json).not.toMatch(/NaN|Infinity/);
  }, 30_000);

  // fixed (was: the first line of the node's `openclaw --version` is kept whole (openclaw-sh.ts oc_facts: `head -n 1`, no byte bound; openclaw-cli.ts parseVersion takes `OpenClaw (\S+)` of any length): an openclaw printing "OpenClaw 2026.9.6<1 MB> (eb377ac)" puts 1 MB into the node's `openclaw` field, its VersionSkew message and two 1 MB lines of `clawops status` (2 MB of output, and of status.json every pass); bound the line (and the version word) when it is read)
  it('size: an `openclaw --version` printing a 1 MB version gives a bounded status (every line under 8 KiB)', async () => {
    const n = node();
    const bin = join(n.nodes.root('gw-1'), 'usr/local/bin/openclaw');
    rmSync(bin);
    writeFileSync(bin, `#!/bin/sh\nprintf 'OpenClaw 2026.9.6%s (eb377ac)\\n' "$(head -c 1000000 /dev/zero | tr '\\0' x)"\n`);
    chmodSync(bin, 0o755);
    const r = await status(n);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.text).toContain('Version skew');
    expect(longestLine(r.text)).toBeLessThan(8192);
    expect(r.json.length).toBeLessThan(256 * 1024);
  }, 30_000);

  // fixed (was: parse-observation.ts collectRecords stores per-file records in plain objects (`tenant(a).files[b] = …`, also contents/sizes): a file named `__proto__` that a hand adds to a deployed release (a name observe's is_safe accepts) hits the prototype setter and is silently dropped, so the planner never sees it (plan.ts driftedFiles "added on the node"): `clawops status`/diff say Synced / In sync, exit 0, where `extra.txt` in its place is reported Drifted; the per-file maps should be null-prototype objects or Maps (as tenants are guarded by TENANT_ID))
  it('drift: a file named __proto__ added to a deployed release is reported like any other added file', async () => {
    const n = node();
    const apply = await runCli(['apply', '--repo', n.repo, '--yes']);
    expect(apply.code, apply.stderr).toBe(0);
    const rel = join(n.etc, 'tenants', readlinkSync(join(n.etc, 'tenants/acme')));
    writeFileSync(join(rel, '__proto__'), 'added by hand\n');
    const r = await status(n);
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/why {5}acme: __proto__ added on the node/);
    expect((await runCli(['diff', '--repo', n.repo])).code).toBe(1);
  }, 60_000);

  it('holds: a 1 MB node.lock (owner 1 MB, pid "pid"), a 1 MB intent file of forged swap records and a quarantine record of ESC sequences give a bounded status and diff, one line each, nothing raw', async () => {
    const n = node();
    writeFileSync(join(n.clawops, 'node.lock'), JSON.stringify({ run: 'r1', owner: `mallory${'\u001b[2J'.repeat(250_000)}`, pid: 'pid', acquired_epoch: 1, ttl_sec: 1 }));
    const line = (i: number): string => JSON.stringify({ time: '2026-11-28T12:00:00Z', action: 'apply', node: 'gw-1', tenant: 'acme', release_id: RELEASE, actor: 'clawops\u009b2J', run: `r${i}` });
    let intent = '';
    while (intent.length < 1_000_000) intent += `${line(intent.length)}\n`;
    writeFileSync(join(n.clawops, 'intent.r1'), intent);
    mkdirSync(join(n.clawops, 'quarantine/acme'), { recursive: true });
    writeFileSync(join(n.clawops, 'quarantine/acme', RELEASE), '\u001b]0;pwned\u0007\u001b[2J\n'.repeat(100_000));
    const r = await status(n);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const d = await runCli(['diff', '--repo', n.repo]);
    expect(d.code).toBe(1);
    expect(d.stdout).toContain('the node lock file is unreadable');
    expect(d.stdout).toContain('intent.r1 is larger than 64 KiB');
    for (const text of [r.text, d.stdout]) {
      expect(longestLine(text.replace(/^[+ -].*$/gm, ''))).toBeLessThan(1024);
      expect(text.split('\n').filter((l) => RAW_CONTROL.test(l))).toEqual([]);
    }
    expect((JSON.parse(r.json) as StatusView).nodes[0]?.node).toBe('gw-1');
  }, 30_000);
});

describe.skipIf(!openclawCache())('the controller and a dead-man guard file a node keeps (adversarial run 10)', () => {
  let lc: LocalController | undefined;
  afterEach(async () => {
    await lc?.close();
    lc = undefined;
  });

  // fixed (was: pass.ts reconcileGroup counts every guard file whose run holds no lock as pending ("orphans") and applies nothing to the node meanwhile, without looking at whether the guard's process is alive (observe reports `alive: false` for a guard whose pid is gone, e.g. after a reboot; plan.ts already calls such a file litter the next apply removes): the node stays `Progressing`/`WaitingForGuard` ("within health.confirm_sec the guard puts back…") forever and is never applied to, so the litter is never removed; a guard that is not alive should not hold the node (apply it, and let apply's recover remove the file))
  it('a guard file whose process is gone does not hold the node for ever: a later pass applies it and the file is removed', async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }], prefix: 'clawops-att10-ctl-' });
    const clawops = join(lc.nodes.root('gw-1'), 'var/db/openclaw/clawops');
    mkdirSync(clawops, { recursive: true });
    // what a reboot mid-apply leaves: the guard's file, its pid long gone
    const guard = join(clawops, 'guard.r20261101t000000-aaaaaa');
    writeFileSync(guard, `deadline\t${Math.floor(Date.now() / 1000) + 30}\npid\t999999\nacme\t${RELEASE}\t-\t-\n`);
    const { c, clock } = await lc.start();
    for (let i = 0; i < 3; i++) {
      await c.runPass();
      clock.advance(120_000);
    }
    expect(c.status().nodes['gw-1']?.reason).not.toBe('WaitingForGuard');
    expect(existsSync(guard)).toBe(false);
    expect(existsSync(join(lc.nodes.root('gw-1'), 'etc/openclaw/tenants/acme'))).toBe(true);
  }, 90_000);

  // (bounded-size and escaping of what the controller stores from a node: the same readers as above)
  it('holds: a pending guard of another run (alive) holds the node with WaitingForGuard, and the message names its run in one line', async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }], prefix: 'clawops-att10-ctl-' });
    const clawops = join(lc.nodes.root('gw-1'), 'var/db/openclaw/clawops');
    mkdirSync(clawops, { recursive: true });
    writeFileSync(join(clawops, 'guard.r20261101t000000-bbbbbb'), `deadline\t${Math.floor(Date.now() / 1000) + 3600}\npid\t${process.pid}\nacme\t${RELEASE}\t-\t-\n`);
    const { c } = await lc.start();
    await c.runPass();
    const n = c.status().nodes['gw-1']!;
    expect(n).toMatchObject({ state: 'Progressing', reason: 'WaitingForGuard' });
    expect(n.message).toContain('run r20261101t000000-bbbbbb (acme)');
    expect(n.message).not.toMatch(/\n/);
    expect(BIDI_ZW.test(n.message ?? '')).toBe(false);
    expect(existsSync(join(lc.nodes.root('gw-1'), 'etc/openclaw/tenants/acme'))).toBe(false);
  }, 60_000);
});
