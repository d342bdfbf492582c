/**
 * Adversarial run 6, launchd units on a hostile or messy node — the local half (no sshd: a directory standing for a
 * Mac's /, the real launchctl stand-in in its usr/local/bin, the node scripts run the way apply runs them:
 * reloadUnits = RELOAD, installNodeUnit = NODE_UNIT, undoTenant with no target = what `apply --prune` runs for a
 * tenant it removes, and what the automatic rollback of a first deploy runs). One variant a test, each asserting one
 * promise:
 *   P1 nothing outside clawops' tree is created, changed, removed or followed;
 *   P2 a refusal is one line naming the path, nothing half-done, no hang;
 *   P3 every unit change made is recorded once, none it did not make;
 *   P4 nothing the node says is printed raw.
 * The fleet half (prune, releases.keep, the secret wrapper over ssh) is units-prune-attacks-6.test.ts.
 * Every defect this run reproduced is fixed; its test says what it was (`// fixed (was: …)`); the rest guard what held.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installNodeUnit, reloadUnits, undoTenant } from '../../reconciler/apply/services.js';
import { LocalTransport } from '../../reconciler/transport/local-transport.js';
import type { NodePaths } from '../../reconciler/transport/transport.js';
import { NOTIFIER_LABEL } from '../../reconciler/units/render-units.js';
import { dropUnitsNode, plistOf, unitsNode } from '../helpers/units-node.js';
import { treeSnapshot } from '../helpers/node-state.js';

let root: string;
let t: LocalTransport;
let p: NodePaths;
/** labels a test loaded: booted out after it */
let labels: string[] = [];

/** releases/<tenant>/<id> with its gateway unit (a sleep: these tests are about the unit files, not the gateway) */
function release(tenant: string, id: string): void {
  const rel = join(p.etc, 'releases', tenant, id);
  mkdirSync(join(rel, 'launchd'), { recursive: true });
  mkdirSync(join(rel, '.clawops'), { recursive: true });
  writeFileSync(join(rel, 'openclaw.json'), '{}\n');
  writeFileSync(join(rel, '.clawops/manifest.json'), JSON.stringify({ schema: 1, tenant, release_id: id, files: {} }, null, 2));
  writeFileSync(join(rel, `launchd/ai.openclaw.${tenant}.plist`), plistOf(`ai.openclaw.${tenant}`));
  labels.push(`ai.openclaw.${tenant}`);
}

/** a unit clawops never wrote, installed and loaded by someone else */
async function foreignUnit(label: string, file = `${label}.plist`): Promise<void> {
  writeFileSync(join(p.launchDaemons, file), plistOf(label, 'foreign'));
  labels.push(label);
  const r = await t.exec(`launchctl bootstrap system '${join(p.launchDaemons, file).replace(/'/g, `'\\''`)}'`);
  expect(r.code, r.stderr).toBe(0);
}

const loaded = async (label: string): Promise<boolean> => (await t.exec(`launchctl print system/${label} >/dev/null 2>&1`)).code === 0;
const important = (...x: string[]): string => join(root, 'home', 'important', ...x);

beforeEach(() => {
  ({ root, t, p } = unitsNode('clawops-units6-'));
  labels = [];
});

afterEach(async () => {
  await dropUnitsNode({ root, t, p }, labels);
});

describe('probe 6: launchd units on a hostile node (local node, launchctl stand-in)', () => {
  // ------------------------------------------------------------------------------------------------------------
  // installing a unit: what sits at <LaunchDaemons>/<label>.plist, or at <LaunchDaemons> itself

  // fixed (was: install_reload's `mv -f TMP DST` moves the new plist INTO a directory a link at DST points at (no -T): a file is created outside the tree)
  it('U1. the installed plist <LaunchDaemons>/ai.openclaw.acme.plist a symlink to a user DIRECTORY: the reload creates nothing behind the link (P1)', async () => {
    release('acme', 'aaaa1111');
    symlinkSync(important(), join(p.launchDaemons, 'ai.openclaw.acme.plist'));
    const before = treeSnapshot(important());
    const r = await reloadUnits(t, p, 'acme', 'aaaa1111');
    // the promise: the user's dir exactly as before (today: ai.openclaw.acme.plist.clawops-tmp is created in it)
    expect(treeSnapshot(important()), JSON.stringify(r)).toEqual(before);
  }, 60_000);

  // fixed (was: the same `mv -f` (no -T): a real directory at <LaunchDaemons>/<label>.plist (someone's) receives clawops' plist temp inside it)
  it('U2. the installed plist a real DIRECTORY holding user files: the reload writes nothing into it (P1)', async () => {
    release('acme', 'aaaa1111');
    const d = join(p.launchDaemons, 'ai.openclaw.acme.plist');
    mkdirSync(d);
    writeFileSync(join(d, 'keep.txt'), 'USERDATA\n');
    const before = treeSnapshot(d);
    const r = await reloadUnits(t, p, 'acme', 'aaaa1111');
    expect(treeSnapshot(d), JSON.stringify(r)).toEqual(before);
  }, 60_000);

  // fixed (was: install_reload / NODE_UNIT take <LaunchDaemons> as they find it (`[ -d "$LD" ]` follows a link): a symlinked LaunchDaemons gets clawops' plists written behind it)
  it('U3. <LaunchDaemons> itself a symlink to a user dir: the reload refuses naming it, nothing is written behind the link (P1)', async () => {
    release('acme', 'aaaa1111');
    rmSync(p.launchDaemons, { recursive: true });
    symlinkSync(important(), p.launchDaemons);
    const before = treeSnapshot(important());
    const r = await reloadUnits(t, p, 'acme', 'aaaa1111');
    expect(treeSnapshot(important()), JSON.stringify(r)).toEqual(before);
    expect(r.ok).toBe(false);
    expect(r.error).toContain(p.launchDaemons);
  }, 60_000);

  it('U4. the installed plist a FIFO: replaced promptly by a regular file (never opened: no hang), the unit runs', async () => {
    release('acme', 'aaaa1111');
    execFileSync('mkfifo', [join(p.launchDaemons, 'ai.openclaw.acme.plist')]);
    const t0 = Date.now();
    const r = await reloadUnits(t, p, 'acme', 'aaaa1111');
    expect({ ok: r.ok, prompt: Date.now() - t0 < 20_000, file: lstatSync(join(p.launchDaemons, 'ai.openclaw.acme.plist')).isFile() }, JSON.stringify(r)).toEqual({ ok: true, prompt: true, file: true });
  }, 60_000);

  it('U5. the notifier plist a symlink to a user FILE (NODE_UNIT): replaced by a regular file, the user file untouched', async () => {
    writeFileSync(important('p.txt'), 'USERDATA keep me\n');
    symlinkSync(important('p.txt'), join(p.launchDaemons, `${NOTIFIER_LABEL}.plist`));
    labels.push(NOTIFIER_LABEL);
    const before = treeSnapshot(important());
    await installNodeUnit(t, p, NOTIFIER_LABEL, Buffer.from(plistOf(NOTIFIER_LABEL)));
    expect(treeSnapshot(important())).toEqual(before);
    expect(lstatSync(join(p.launchDaemons, `${NOTIFIER_LABEL}.plist`)).isSymbolicLink()).toBe(false);
  }, 60_000);

  // ------------------------------------------------------------------------------------------------------------
  // removing a tenant's units (apply --prune; the automatic rollback of a first deploy): unit_remove

  // fixed (was: unit_remove boots out and deletes every <LaunchDaemons>/ai.openclaw.<t>.*.plist, and tenant "clawops" (a valid id) matches the notifier's ai.openclaw.clawops.notifier)
  it('U6. label collision: removing tenant "clawops" (a valid tenant id) leaves the node\'s notifier unit ai.openclaw.clawops.notifier installed and running (P1)', async () => {
    await installNodeUnit(t, p, NOTIFIER_LABEL, Buffer.from(plistOf(NOTIFIER_LABEL)));
    labels.push(NOTIFIER_LABEL);
    expect(await loaded(NOTIFIER_LABEL)).toBe(true);
    release('clawops', 'cccc1111');
    symlinkSync('../releases/clawops/cccc1111', join(p.etc, 'tenants/clawops'));
    expect((await reloadUnits(t, p, 'clawops', 'cccc1111')).ok).toBe(true);
    const r = await undoTenant(t, p, 'clawops', undefined, undefined);
    expect({
      ok: r.ok,
      tenantUnit: existsSync(join(p.launchDaemons, 'ai.openclaw.clawops.plist')),
      notifierPlist: existsSync(join(p.launchDaemons, `${NOTIFIER_LABEL}.plist`)),
      notifierLoaded: await loaded(NOTIFIER_LABEL),
    }).toEqual({ ok: true, tenantUnit: false, notifierPlist: true, notifierLoaded: true });
  }, 60_000);

  // fixed (was: unit_remove's glob ai.openclaw.<t>.*.plist takes any unit under the tenant's prefix, also one no release ever ships (only ai.openclaw.<t> and ai.openclaw.<t>.probe are rendered))
  it('U7. a unit clawops never wrote under the tenant\'s prefix (ai.openclaw.acme.backup, an admin\'s): removing acme leaves it installed and running (P1)', async () => {
    release('acme', 'aaaa1111');
    expect((await reloadUnits(t, p, 'acme', 'aaaa1111')).ok).toBe(true);
    await foreignUnit('ai.openclaw.acme.backup');
    const r = await undoTenant(t, p, 'acme', undefined, undefined);
    expect({
      ok: r.ok,
      acme: existsSync(join(p.launchDaemons, 'ai.openclaw.acme.plist')),
      backup: existsSync(join(p.launchDaemons, 'ai.openclaw.acme.backup.plist')),
      backupLoaded: await loaded('ai.openclaw.acme.backup'),
    }).toEqual({ ok: true, acme: false, backup: true, backupLoaded: true });
  }, 60_000);

  // fixed (was: unit_remove prints each removed label raw on a record line (`rec removed-unit "$label"`): a plist name holding a newline forges records, e.g. a `reloaded` one the first-deploy rollback journals into reload.log (or a `reload-failed` one whose text becomes the undo's error))
  it('U8. a plist name with a newline and tabs under the tenant\'s prefix: removing acme reports no reload it did not make (P3)', async () => {
    // the name spells a second record line: reloaded <label> bootstrap 1 2
    const odd = 'ai.openclaw.acme.x\nreloaded\tai.openclaw.acme\tbootstrap\t1\t2.plist';
    writeFileSync(join(p.launchDaemons, odd), plistOf('ai.openclaw.acme.x'));
    const r = await undoTenant(t, p, 'acme', undefined, undefined);
    // the promise: an undo that restarts nothing reports no reload (rollBackTenant journals every reload it returns)
    expect(r.reloads, JSON.stringify(r)).toEqual([]);
  }, 60_000);

  // fixed (was: unit_remove boots a label out only when its plist file is there (`[ -f "$dst" ] || continue`): a service whose plist was removed by hand keeps running after its tenant is pruned)
  it('U9. acme\'s service runs but its plist was deleted by hand: removing acme stops the service (P2: nothing half-done)', async () => {
    release('acme', 'aaaa1111');
    expect((await reloadUnits(t, p, 'acme', 'aaaa1111')).ok).toBe(true);
    rmSync(join(p.launchDaemons, 'ai.openclaw.acme.plist'));
    const r = await undoTenant(t, p, 'acme', undefined, undefined);
    // the promise: the unit stopped (or the removal refused, naming it); today ok, and the service runs on
    expect({ stopped: !(await loaded('ai.openclaw.acme')), refused: r.ok === false && /ai\.openclaw\.acme/.test(r.error ?? '') }, JSON.stringify(r)).not.toEqual({ stopped: false, refused: false });
  }, 60_000);

  it('U10. acme\'s installed plist replaced by a symlink to a regular file: removing acme stops the service and removes the link, never the file behind it', async () => {
    release('acme', 'aaaa1111');
    expect((await reloadUnits(t, p, 'acme', 'aaaa1111')).ok).toBe(true);
    writeFileSync(important('my.plist'), plistOf('ai.openclaw.acme', 'mine'));
    rmSync(join(p.launchDaemons, 'ai.openclaw.acme.plist'));
    symlinkSync(important('my.plist'), join(p.launchDaemons, 'ai.openclaw.acme.plist'));
    const before = treeSnapshot(important());
    await undoTenant(t, p, 'acme', undefined, undefined);
    expect({ user: treeSnapshot(important()), loaded: await loaded('ai.openclaw.acme') }).toEqual({ user: before, loaded: false });
  }, 60_000);

  it('U11. removing acme while its plist is a FIFO: no hang, the FIFO is not opened', async () => {
    execFileSync('mkfifo', [join(p.launchDaemons, 'ai.openclaw.acme.plist')]);
    const t0 = Date.now();
    const r = await undoTenant(t, p, 'acme', undefined, undefined);
    expect({ prompt: Date.now() - t0 < 15_000, ok: r.ok }).toEqual({ prompt: true, ok: true });
  }, 60_000);

  it('U12. other tenants\' units are never touched by removing one (acme and acme2: no prefix overlap without a dot)', async () => {
    release('acme', 'aaaa1111');
    release('acme2', 'bbbb2222');
    expect((await reloadUnits(t, p, 'acme', 'aaaa1111')).ok).toBe(true);
    expect((await reloadUnits(t, p, 'acme2', 'bbbb2222')).ok).toBe(true);
    await undoTenant(t, p, 'acme', undefined, undefined);
    expect({ acme2: existsSync(join(p.launchDaemons, 'ai.openclaw.acme2.plist')), loaded: await loaded('ai.openclaw.acme2'), left: readdirSync(p.launchDaemons) }).toEqual({ acme2: true, loaded: true, left: ['ai.openclaw.acme2.plist'] });
  }, 60_000);
});
