/**
 * Adversarial run 7, the local half (no sshd): a directory standing for a Mac's /, the real launchctl stand-in in its
 * usr/local/bin, and the node scripts run the way apply runs them: pruneTenants = PRUNE (what `apply --prune` runs
 * for the tenants it removes, before FINISH), undoTenant with no target = the automatic rollback of a first deploy,
 * installNodeUnit = NODE_UNIT; and the shipped secret wrapper bin/gateway-run against a local tree (useWrapperTree).
 * One variant a test, each asserting ONE promise:
 *   P1 nothing outside clawops' tree is created, changed, removed or followed;
 *   P2 a refusal is ONE line naming the path/node/key, non-zero exit, nothing half-written, no hang;
 *   P3 every swap/unit change/removal made is recorded exactly once, none it did not make;
 *   P4 nothing the node says is printed raw, and secrets never appear in output/logs/errors.
 * (These run as the test host's user, root here: nothing in this file relies on a permission bit.)
 * The fleet half (faults, permissions, the records over ssh) is prune-units-attacks-7.test.ts.
 * Every defect this run reproduced (L1, L2, L3, L6 ×3, W3, W4, W6, W7) is fixed; its test says what it was (`// fixed (was: …)`); the rest held.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installNodeUnit, pruneTenants, reloadUnits, undoTenant } from '../../reconciler/apply/services.js';
import { LocalTransport } from '../../reconciler/transport/local-transport.js';
import type { NodePaths } from '../../reconciler/transport/transport.js';
import { NOTIFIER_LABEL } from '../../reconciler/units/render-units.js';
import { dropUnitsNode, plistOf, unitsNode } from '../helpers/units-node.js';
import { DASH, useWrapperTree } from '../helpers/hostile-node.js';
import { treeSnapshot } from '../helpers/node-state.js';

let root: string;
let t: LocalTransport;
let p: NodePaths;
/** labels a test loaded: booted out after it */
let labels: string[] = [];
const RUN = 'probe7local';

/** releases/<tenant>/<id> with its gateway unit (and its probe unit when asked), tenants/<tenant> pointing at it */
function release(tenant: string, id: string, probe = false): void {
  const rel = join(p.etc, 'releases', tenant, id);
  mkdirSync(join(rel, 'launchd'), { recursive: true });
  mkdirSync(join(rel, '.clawops'), { recursive: true });
  writeFileSync(join(rel, 'openclaw.json'), '{}\n');
  writeFileSync(join(rel, '.clawops/manifest.json'), JSON.stringify({ schema: 1, tenant, release_id: id, files: {} }, null, 2));
  writeFileSync(join(rel, `launchd/ai.openclaw.${tenant}.plist`), plistOf(`ai.openclaw.${tenant}`));
  labels.push(`ai.openclaw.${tenant}`);
  if (probe) {
    writeFileSync(join(rel, `launchd/ai.openclaw.${tenant}.probe.plist`), plistOf(`ai.openclaw.${tenant}.probe`));
    labels.push(`ai.openclaw.${tenant}.probe`);
  }
  rmSync(join(p.etc, 'tenants', tenant), { force: true });
  symlinkSync(`../releases/${tenant}/${id}`, join(p.etc, 'tenants', tenant));
}

const loaded = async (label: string): Promise<boolean> => (await t.exec(`launchctl print system/${label} >/dev/null 2>&1`)).code === 0;
const important = (...x: string[]): string => join(root, 'home', 'important', ...x);
const prune = (tenant: string): ReturnType<typeof pruneTenants> => pruneTenants(t, p, RUN, [{ tenant, record: `{"probe":"${tenant}"}` }]);

describe('probe 7: PRUNE and unit removal on a hostile node (local node, launchctl stand-in)', () => {
  beforeEach(() => {
    ({ root, t, p } = unitsNode('clawops-prune7-'));
    labels = [];
  });

  afterEach(async () => {
    await dropUnitsNode({ root, t, p }, labels);
  });

  // ------------------------------------------------------------------------------------------------------------
  // LaunchDaemons a symlink while REMOVING units (install_reload refuses one since run 6; unit_remove does not look)

  // fixed (was: services-sh.ts unit_remove (run by PRUNE_SCRIPT) never checks $LD is a real dir: rm -f "$LD/ai.openclaw.<t>.plist" removes a user file behind a symlinked LaunchDaemons)
  it('L1. --prune of acme while <LaunchDaemons> is a symlink to a user dir holding a file named ai.openclaw.acme.plist: the user file is neither removed nor followed (P1)', async () => {
    release('acme', 'aaaa1111');
    writeFileSync(important('ai.openclaw.acme.plist'), 'USERDATA: my own notes, named like a plist\n');
    rmSync(p.launchDaemons, { recursive: true });
    symlinkSync(important(), p.launchDaemons);
    const before = treeSnapshot(important());
    const r = await prune('acme');
    expect(treeSnapshot(important()), JSON.stringify(r)).toEqual(before);
  }, 60_000);

  // fixed (was: services-sh.ts UNDO_SH undo_tenant, first-deploy path (to empty) -> unit_remove: the same rm through a symlinked LaunchDaemons)
  it('L2. the automatic rollback of a first deploy (undo with no target) while <LaunchDaemons> is a symlink to a user dir: the user file ai.openclaw.acme.probe.plist behind it stays (P1)', async () => {
    release('acme', 'aaaa1111');
    writeFileSync(important('ai.openclaw.acme.probe.plist'), 'USERDATA\n');
    rmSync(p.launchDaemons, { recursive: true });
    symlinkSync(important(), p.launchDaemons);
    const before = treeSnapshot(important());
    const r = await undoTenant(t, p, 'acme', undefined, undefined);
    expect(treeSnapshot(important()), JSON.stringify(r)).toEqual(before);
  }, 60_000);

  // ------------------------------------------------------------------------------------------------------------
  // PRUNE's "checked whole, nothing of it changed" when one of the two units cannot go

  // fixed (was: PRUNE_SCRIPT's pre-check does not look for a directory at LD/ai.openclaw.<t>.probe.plist; unit_remove boots out and removes the gateway unit before failing on the probe, and the tenant is reported "left as it was")
  it('L3. --prune of acme whose gateway unit runs but whose probe plist name is a real directory: refused with nothing of acme changed — the gateway unit still installed and running (P2)', async () => {
    release('acme', 'aaaa1111');
    expect((await reloadUnits(t, p, 'acme', 'aaaa1111')).ok).toBe(true);
    mkdirSync(join(p.launchDaemons, 'ai.openclaw.acme.probe.plist'));
    writeFileSync(join(p.launchDaemons, 'ai.openclaw.acme.probe.plist', 'keep.txt'), 'USERDATA\n');
    const r = await prune('acme');
    const state = {
      refused: r.refused.map((x) => x.tenant),
      gatewayPlist: existsSync(join(p.launchDaemons, 'ai.openclaw.acme.plist')),
      gatewayLoaded: await loaded('ai.openclaw.acme'),
      link: lstatSync(join(p.etc, 'tenants/acme')).isSymbolicLink(),
    };
    // refused (the directory is someone's): then "as it was" must be true of the unit it already removed
    expect(state, JSON.stringify(r)).toEqual({ refused: ['acme'], gatewayPlist: true, gatewayLoaded: true, link: true });
  }, 60_000);

  it('L4. --prune of acme with both units (gateway and probe) loaded: both booted out and removed, its links gone, no other unit touched (P1/P3: exactly the two labels)', async () => {
    release('acme', 'aaaa1111', true);
    release('acme2', 'bbbb2222', true);
    expect((await reloadUnits(t, p, 'acme', 'aaaa1111')).ok).toBe(true);
    expect((await reloadUnits(t, p, 'acme2', 'bbbb2222')).ok).toBe(true);
    const r = await prune('acme');
    expect({
      unlinked: r.unlinked,
      left: readdirSync(p.launchDaemons).sort(),
      acme: await loaded('ai.openclaw.acme'),
      probe: await loaded('ai.openclaw.acme.probe'),
      acme2: await loaded('ai.openclaw.acme2'),
      acme2probe: await loaded('ai.openclaw.acme2.probe'),
      link: existsSync(join(p.etc, 'tenants/acme')),
    }, JSON.stringify(r)).toEqual({ unlinked: ['acme'], left: ['ai.openclaw.acme2.plist', 'ai.openclaw.acme2.probe.plist'], acme: false, probe: false, acme2: true, acme2probe: true, link: false });
  }, 60_000);

  it('L5. the notifier installed (NODE_UNIT) while <LaunchDaemons> is a symlink to a user dir: refused naming it, nothing written behind the link (P1)', async () => {
    rmSync(p.launchDaemons, { recursive: true });
    symlinkSync(important(), p.launchDaemons);
    labels.push(NOTIFIER_LABEL);
    const before = treeSnapshot(important());
    const r = await installNodeUnit(t, p, NOTIFIER_LABEL, Buffer.from(plistOf(NOTIFIER_LABEL)));
    expect({ user: treeSnapshot(important()), ok: r.ok, named: (r.error ?? '').includes(p.launchDaemons) }, JSON.stringify(r)).toEqual({ user: before, ok: false, named: true });
  }, 60_000);

  // ------------------------------------------------------------------------------------------------------------
  // the run's intent file planted before PRUNE journals into it

  for (const [name, plant] of [
    ['a symlink to a user file', (f: string) => symlinkSync(important('notes.txt'), f)],
    ['a FIFO', (f: string) => execFileSync('mkfifo', [f])],
    ['a directory', (f: string) => mkdirSync(f)],
  ] as const) {
    // fixed (was: PRUNE_SCRIPT: `printf … | log_records "$IJ" || … "cannot journal the removal: $why"`: log_records runs in the pipeline's subshell, so $why is empty and the refusal names no path)
    it(`L6. intent.<run> ${name} before --prune of acme: refused at once, one line naming the intent, acme untouched, nothing written behind it (P2)`, async () => {
      release('acme', 'aaaa1111');
      plant(join(p.varDb, 'clawops', `intent.${RUN}`));
      const before = treeSnapshot(important());
      const t0 = Date.now();
      const r = await prune('acme');
      expect({
        prompt: Date.now() - t0 < 20_000,
        refused: r.refused.map((x) => x.tenant),
        named: r.refused[0]?.why.includes(`intent.${RUN}`) ?? false,
        oneLine: !(r.refused[0]?.why ?? '').includes('\n'),
        link: lstatSync(join(p.etc, 'tenants/acme')).isSymbolicLink(),
        user: treeSnapshot(important()),
      }, JSON.stringify(r)).toEqual({ prompt: true, refused: ['acme'], named: true, oneLine: true, link: true, user: before });
    }, 60_000);
  }
});

// ==================================================================================================================
// the secret wrapper bin/gateway-run on a local tree (dash: the fleet's and Linux's /bin/sh)
// ==================================================================================================================

/** the fake openclaw: what it was given, CLAWOPS_SECRET_* values byte for byte, one file each */
const FAKE = `#!/bin/sh
printf '%s\\n' "$@" > "$FAKE_OUT/argv"
for v in CLAWOPS_SECRET_HOOKS_TOKEN CLAWOPS_SECRET_TOKEN_CURRENT CLAWOPS_SECRET_TOKEN_NEXT CLAWOPS_SECRET_X; do
  eval "if [ -n \\"\\\${$v+set}\\" ]; then printf '%s' \\"\\\$$v\\" > \\"\\$FAKE_OUT/env.$v\\"; fi"
done
exit 0
`;

describe('probe 7: the secret wrapper (local tree, dash)', () => {
  const w = useWrapperTree('clawops-wrapper7-', FAKE);
  const sec = (name: string, tenant = 'acme'): string => join(w.varDb, 'secrets', tenant, name);
  const put = (name: string, content: Buffer | string, tenant = 'acme'): void => {
    mkdirSync(join(w.varDb, 'secrets', tenant), { recursive: true, mode: 0o700 });
    writeFileSync(sec(name, tenant), content);
    chmodSync(sec(name, tenant), 0o600);
  };
  const list = (): string => join(w.etc, 'tenants', 'acme', 'secrets.list');
  const addToList = (line: string): void => writeFileSync(list(), `${readFileSync(list(), 'utf8')}${line}\n`);
  const run = (mode = ''): { code: number | null; stderr: string[]; out: string; ms: number; timedOut: boolean } => {
    const t0 = Date.now();
    const r = spawnSync(DASH, [w.script(), 'acme', w.etc, w.varDb, ...(mode ? [mode] : [])], {
      env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', HOME: w.root, CLAWOPS_OPENCLAW: w.fake, CLAWOPS_OPENCLAW_CLI: w.fake, FAKE_OUT: w.out },
      encoding: 'utf8',
      timeout: 15_000,
      killSignal: 'SIGKILL',
    });
    return { code: r.status, stderr: r.stderr.split('\n').filter((l) => l !== ''), out: r.stdout + r.stderr, ms: Date.now() - t0, timedOut: r.error !== undefined || r.signal !== null };
  };
  const env = (v: string): Buffer | undefined => (existsSync(join(w.out, `env.${v}`)) ? readFileSync(join(w.out, `env.${v}`)) : undefined);
  const started = (): boolean => existsSync(join(w.out, 'argv'));

  it('W1. hooks.token of exactly 65536 bytes (the limit): accepted, exported whole (its trailing newline stripped)', () => {
    const v = 'h'.repeat(65535);
    put('hooks.token', `${v}\n`);
    const r = run();
    expect({ code: r.code, started: started(), same: env('CLAWOPS_SECRET_HOOKS_TOKEN')?.toString() === v, stderr: r.stderr }).toEqual({ code: 0, started: true, same: true, stderr: [] });
  }, 30_000);

  it('W2. hooks.token of 65537 bytes: refused, exit 78, ONE line naming the file, no value (P2)', () => {
    const v = 'h'.repeat(65536);
    put('hooks.token', `${v}\n`);
    const r = run();
    expect({ code: r.code, lines: r.stderr.length, named: r.stderr[0]?.includes(sec('hooks.token')) ?? false, started: started(), leak: r.out.includes('hhhhhhhhhhhhhhhh') }, r.out.slice(0, 300)).toEqual({ code: 78, lines: 1, named: true, started: false, leak: false });
  }, 30_000);

  // fixed (was: gateway-run-sh.ts: val=$(cat …) drops NUL bytes silently under dash (bash warns on stderr): the gateway starts with a value the file does not hold)
  it('W3. hooks.token holding a NUL byte (hk_ab\\0cd): the gateway is never started with a value other than the file holds — refused, exit 78, ONE line naming the file (P2)', () => {
    put('hooks.token', Buffer.from('hk_ab\0cd_value\n', 'binary'));
    const r = run();
    const got = env('CLAWOPS_SECRET_HOOKS_TOKEN');
    // (an environment string cannot hold a NUL: the only honest outcome is a refusal)
    expect({ code: r.code, lines: r.stderr.length, named: r.stderr[0]?.includes(sec('hooks.token')) ?? false, exported: got?.toString('binary') ?? null }, r.out).toEqual({ code: 78, lines: 1, named: true, exported: null });
  }, 30_000);

  // fixed (was: gateway-run-sh.ts strips trailing \n only ($(cat …)) where gateway-rpc.ts readSecret strips trailing [\r\n]+: for a CRLF env token the gateway gets "tok\r", the hot-reload client sends "tok")
  it('W4. an env token.current "tok…\\r\\n" (CRLF): the wrapper exports the value the hot-reload client sends for it (gateway-rpc.ts readSecret strips trailing CR and LF), never one with a stray CR (consistency; outside P1-P4)', () => {
    // (a config that takes token.current from the environment, as one with the token in a \${VAR} spot does)
    addToList('env CLAWOPS_SECRET_TOKEN_CURRENT token.current');
    put('token.current', 'tok_crlf_value_123\r\n');
    const r = run();
    expect({ code: r.code, value: JSON.stringify(env('CLAWOPS_SECRET_TOKEN_CURRENT')?.toString() ?? null) }, r.out).toEqual({ code: 0, value: JSON.stringify('tok_crlf_value_123') });
  }, 30_000);

  for (const [name, content] of [
    ['over 64 KiB', `${'n'.repeat(70_000)}\n`],
    ['only newlines', '\n\n\n'],
  ] as const) {
    it(`W5. token.next ${name} beside a good env token.current: ignored — the gateway starts, CLAWOPS_SECRET_TOKEN_NEXT not exported, nothing on stderr`, () => {
      addToList('env CLAWOPS_SECRET_TOKEN_CURRENT token.current');
      put('token.next', content);
      const r = run();
      expect({ code: r.code, started: started(), next: env('CLAWOPS_SECRET_TOKEN_NEXT') !== undefined, cur: env('CLAWOPS_SECRET_TOKEN_CURRENT')?.toString(), stderr: r.stderr }).toEqual({ code: 0, started: true, next: false, cur: 'tok_current_value_123456', stderr: [] });
    }, 30_000);
  }

  // fixed (was: gateway-run-sh.ts ok_secret and the export loop take secrets.list names as paths: "../globex/hooks.token" reads and exports another tenant's secret (gateway-rpc.ts readSecret refuses ".."))
  it('W6. a secrets.list line naming ../globex/hooks.token: another tenant\'s secret is never read or exported — refused, exit 78, ONE line (P1)', () => {
    put('hooks.token', 'hk_GLOBEX_private_value_987\n', 'globex');
    addToList('env CLAWOPS_SECRET_X ../globex/hooks.token');
    const r = run();
    expect({ code: r.code, exported: env('CLAWOPS_SECRET_X')?.toString() ?? null, lines: r.stderr.length }, r.out).toEqual({ code: 78, exported: null, lines: 1 });
  }, 30_000);

  // fixed (was: gateway-run-sh.ts checks each secret <= 64 KiB but not their total: past ARG_MAX every later program fails E2BIG (raw "head/sed/mkdir: Argument list too long" lines), then a refusal blaming the state dir)
  it('W7. 35 env secrets of 60 000 bytes each (2.1 MB: the first 34 under the 2 MiB the kernel takes for argv + environment, all 35 over): refused before anything runs, exit 78, ONE line of the wrapper\'s, no shell error (P2)', () => {
    // (as many as it takes to pass ARG_MAX by the last one: 35 where it is 2 MiB)
    const n = Math.floor(Number(execFileSync('getconf', ['ARG_MAX'], { encoding: 'utf8' }).trim()) / 60_000) + 1;
    for (let i = 0; i < n; i++) {
      put(`big${i}.token`, `${String.fromCharCode(97 + (i % 26)).repeat(60_000)}\n`);
      addToList(`env CLAWOPS_SECRET_BIG${i} big${i}.token`);
    }
    const r = run();
    expect({ code: r.code, lines: r.stderr.length, clawops: /^clawops-gateway-run: acme: /.test(r.stderr[0] ?? ''), timedOut: r.timedOut }, r.out.slice(0, 600)).toEqual({ code: 78, lines: 1, clawops: true, timedOut: false });
  }, 30_000);
});
