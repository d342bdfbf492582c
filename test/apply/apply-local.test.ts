/** apply/rollback over the `local` transport (the demo's fleet): CLI contract without ssh. */
import { existsSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { applyFleet } from '../../reconciler/apply/apply-fleet.js';
import { observeAndPlan } from '../../reconciler/commands/diff.js';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localNodes, type LocalNodes } from '../helpers/local-nodes.js';
import { openclawCache } from '../helpers/openclaw.js';
import { runCli } from '../helpers/repo.js';

const cache = openclawCache();
/** what every apply run of these tests is: this process, a test actor, a 15-minute lock */
const runContext = (run: string): { run: string; actor: string; pid: number; lockTtlSec: number; now: () => Date } => ({ run, actor: 'test', pid: process.pid, lockTtlSec: 900, now: () => new Date() });

describe.skipIf(!cache)('apply over the local transport', () => {
  let nodes: LocalNodes;
  let repo: string;
  const nodeRoot = (n: string): string => nodes.root(n);

  // each test its own nodes and port blocks (a test's gateways may still be stopping when the next one starts)
  beforeEach(() => {
    nodes = localNodes(cache!, 'clawops-local-');
    repo = nodes.repo;
  });
  afterEach(() => nodes.stop());

  it('--dry-run shows the diff, exits 1 and changes nothing; without --yes on a pipe it refuses with one line', async () => {
    const dry = await runCli(['apply', '--repo', repo, '--dry-run']);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toContain('gw-1/acme: not deployed');
    expect(existsSync(join(nodeRoot('gw-1'), 'etc/openclaw'))).toBe(false);
    const key = await runCli(['diff', '--repo', repo, '--identity', '/nonexistent/id_ed25519']);
    expect([key.code, key.stderr]).toEqual([2, 'clawops: --identity /nonexistent/id_ed25519: cannot read (ENOENT)\n']);
    const conc = await runCli(['apply', '--repo', repo, '--yes', '--concurrency', '0']);
    expect([conc.code, conc.stderr]).toEqual([2, 'clawops: --concurrency 0: want a whole number ≥ 1\n']);
    const ask = await runCli(['apply', '--repo', repo]);
    expect(ask.code).toBe(2);
    expect(ask.stderr.trim().split('\n')).toEqual(['clawops: stdin is not a terminal: pass --yes to apply without asking, or --dry-run to only see the diff']);
    expect(existsSync(join(nodeRoot('gw-1'), 'etc/openclaw'))).toBe(false);
  });

  it('applies, reports in sync, rolls back with a clear error when there is no .prev', async () => {
    const r = await runCli(['apply', '--repo', repo, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/gw-2 +applied +acme \(new\) → [0-9a-f]{16}; globex \(new\) → [0-9a-f]{16}/);
    expect(readlinkSync(join(nodeRoot('gw-2'), 'etc/openclaw/tenants/globex'))).toMatch(/^\.\.\/releases\/globex\/[0-9a-f]{16}$/);
    expect((await runCli(['diff', '--repo', repo])).code).toBe(0);
    const rb = await runCli(['rollback', '--repo', repo, '--node', 'gw-2', '--tenant', 'globex']);
    expect(rb.code).toBe(2);
    expect(rb.stderr).toContain('clawops: gw-2: tenant globex has no .prev release to roll back to');
    // a broken fragment (the usual reason to roll back) does not stop a rollback: only the inventory is needed
    writeFileSync(join(repo, 'tenants/acme/gateway.d/20-overrides.yaml'), 'gateway: [oops\n');
    expect((await runCli(['apply', '--repo', repo, '--yes'])).code).toBe(2);
    const broken = await runCli(['rollback', '--repo', repo, '--node', 'gw-2', '--tenant', 'globex']);
    expect(broken.stderr).toContain('clawops: gw-2: tenant globex has no .prev release');
    const unknown = await runCli(['rollback', '--repo', repo, '--node', 'gw-9', '--tenant', 'globex']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^clawops: --node gw-9: not in nodes\.yaml/);
  }, 60_000);

  it('reports a tenant the repo no longer assigns, keeps it, and removes it only with --prune', async () => {
    expect((await runCli(['apply', '--repo', repo, '--yes'])).code).toBe(0);
    writeFileSync(
      join(repo, 'nodes.yaml'),
      `nodes:\n  - { name: gw-1, host: localhost, transport: local, root: ${nodeRoot('gw-1')}, role: gateway, canary: true, tenants: [acme] }\n  - { name: gw-2, host: localhost, transport: local, root: ${nodeRoot('gw-2')}, role: gateway, tenants: [acme] }\n`,
    );
    const d = await runCli(['diff', '--repo', repo]);
    expect(d.code).toBe(1);
    expect(d.stdout).toContain('gw-2/globex: no longer assigned to this node (kept; pass --prune to remove)');
    const keep = await runCli(['apply', '--repo', repo, '--yes']);
    expect(keep.code).toBe(0);
    expect(keep.stdout).toContain('Nothing to apply.');
    expect(existsSync(join(nodeRoot('gw-2'), 'etc/openclaw/tenants/globex'))).toBe(true);
    const prune = await runCli(['apply', '--repo', repo, '--yes', '--prune']);
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stdout).toMatch(/gw-2 +applied +removed globex/);
    expect(existsSync(join(nodeRoot('gw-2'), 'etc/openclaw/tenants/globex'))).toBe(false);
    expect(existsSync(join(nodeRoot('gw-2'), 'etc/openclaw/releases/globex'))).toBe(false);
    expect((await runCli(['diff', '--repo', repo])).code).toBe(0);
  }, 60_000);

  it('^C (abort) stops each node before its next step, removes its staging and releases its lock', async () => {
    const r = await observeAndPlan({ repo }, {}, true);
    const abort = new AbortController();
    const res = await applyFleet(r.plan, r.desired, r.fleet.transports, {
      ...runContext('test-abort-1'),
      signal: abort.signal,
      onEvent: (e) => {
        if (e.node === 'gw-1' && e.step === 'stage' && e.state === 'start') abort.abort();
      },
    }, 10);
    await Promise.all([...r.fleet.transports.values()].map((t) => t.close()));
    r.source.cleanup();
    expect(res.ok).toBe(false);
    expect(res.results.map((x) => [x.node, x.outcome])).toEqual([['gw-1', 'skipped'], ['gw-2', 'skipped']]);
    expect(res.results[0]!.message).toBe('gw-1: interrupted before validate; nothing of this step was done');
    expect(res.halted).toBe('interrupted');
    expect(readdirSync(join(nodeRoot('gw-1'), 'etc/openclaw/releases/acme'))).toEqual([]);
    expect(existsSync(join(nodeRoot('gw-1'), 'etc/openclaw/tenants/acme'))).toBe(false);
    expect(existsSync(join(nodeRoot('gw-1'), 'var/db/openclaw/clawops/node.lock'))).toBe(false);
    expect(existsSync(join(nodeRoot('gw-2'), 'etc/openclaw'))).toBe(false);
  }, 60_000);

  it('the guard\'s confirmation runs beside the record and unlock: one that cannot be sent fails the node, the swap is recorded, the lock released, the guard left to revert', async () => {
    const r = await observeAndPlan({ repo }, {}, true);
    let guardPid = 0;
    try {
      const res = await applyFleet(r.plan, r.desired, r.fleet.transports, {
        ...runContext('test-confirm-1'),
        onEvent: (e) => {
          const m = /dead-man guard pid (\d+)/.exec(e.message ?? '');
          if (e.node === 'gw-1' && m) guardPid = Number(m[1]);
        },
        // the new connection the confirmation needs cannot be opened
        reconnect: async (node) => Promise.reject(new Error(`${node}: connect ECONNREFUSED`)),
      }, 10);
      const g1 = res.results.find((x) => x.node === 'gw-1')!;
      expect(g1.outcome).toBe('failed');
      expect(g1.message).toContain('ECONNREFUSED');
      expect(g1.swapped.map((x) => x.tenant)).toEqual(['acme']);
      const d = join(nodeRoot('gw-1'), 'var/db/openclaw/clawops');
      // FINISH ran beside it: the swap and its reload are in the log, the lock is released
      const log = readFileSync(join(d, 'reload.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; tenant: string });
      expect(log.filter((l) => l.tenant === 'acme').map((l) => l.action)).toEqual(['apply', 'reload']);
      expect(existsSync(join(d, 'node.lock'))).toBe(false);
      // nobody stood the guard down: it is still there to put the old state back
      expect(guardPid).toBeGreaterThan(0);
      expect(existsSync(join(d, 'guard.test-confirm-1'))).toBe(true);
    } finally {
      if (guardPid) try { process.kill(guardPid, 'SIGKILL'); } catch { /* gone */ }
      await Promise.all([...r.fleet.transports.values()].map((t) => t.close()));
      r.source.cleanup();
    }
  }, 60_000);

  it('an actor with quotes and backslashes: the lock holds, the manifest records it, observe still parses', async () => {
    const before = process.env.CLAWOPS_ACTOR;
    process.env.CLAWOPS_ACTOR = 'CORP\\alice "ops"';
    try {
      const r = await runCli(['apply', '--repo', repo, '--yes']);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      if (before === undefined) delete process.env.CLAWOPS_ACTOR;
      else process.env.CLAWOPS_ACTOR = before;
    }
    const d = await runCli(['diff', '--repo', repo, '--json']);
    expect(d.code, d.stderr + d.stdout).toBe(0);
    const log = readFileSync(join(nodeRoot('gw-1'), 'var/db/openclaw/clawops/reload.log'), 'utf8');
    expect(JSON.parse(log.split('\n')[0]!)).toMatchObject({ actor: 'CORP\\alice "ops"' });
  }, 60_000);

  it('rollback refuses a .prev that no longer resolves and changes nothing', async () => {
    expect((await runCli(['apply', '--repo', repo, '--yes'])).code).toBe(0);
    const tenants = join(nodeRoot('gw-1'), 'etc/openclaw/tenants');
    symlinkSync('../releases/acme/0000000000000000', join(tenants, 'acme.prev'));
    const cur = readlinkSync(join(tenants, 'acme'));
    const r = await runCli(['rollback', '--repo', repo, '--node', 'gw-1', '--tenant', 'acme']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('clawops: gw-1: ' + join(nodeRoot('gw-1'), 'etc/openclaw/tenants/acme') + '.prev points at release 0000000000000000, which is missing or incomplete; nothing was changed');
    expect(readlinkSync(join(tenants, 'acme'))).toBe(cur);
    expect(existsSync(join(nodeRoot('gw-1'), 'var/db/openclaw/clawops/node.lock'))).toBe(false);
  }, 60_000);
  it('an intent file larger than observe reads (64 KiB): diff names it and shows what its first 64 KiB hold, the next apply records the whole file', async () => {
    expect((await runCli(['apply', '--repo', repo, '--yes'])).code).toBe(0);
    const d = join(nodeRoot('gw-1'), 'var/db/openclaw/clawops');
    const id = readlinkSync(join(nodeRoot('gw-1'), 'etc/openclaw/tenants/acme')).split('/').pop()!;
    const rec = (run: string): string => JSON.stringify({ time: '2026-11-29T00:00:00Z', action: 'apply', node: 'gw-1', tenant: 'acme', release_id: id, actor: 'x', run });
    // a swap record of a dead run to what runs now, ~70 KiB of lines no journal form admits, then a second record
    // whose line lies wholly past the first 64 KiB
    const filler = Array.from({ length: 700 }, (_, i) => `filler ${String(i).padStart(4, '0')} ${'x'.repeat(88)}`);
    writeFileSync(join(d, 'intent.r20261129t000000-dead01'), [rec('r20261129t000000-dead01'), ...filler, rec('r20261129t000000-dead02'), ''].join('\n'));
    const diff = await runCli(['diff', '--repo', repo, '--node', 'gw-1']);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toContain('intent.r20261129t000000-dead01 is larger than 64 KiB: diff shows the records of its first 64 KiB only; the next apply records the whole file');
    // the first record is seen, the one past 64 KiB is not (diff does not read the whole file)
    expect(diff.stdout).toContain('run r20261129t000000-dead01 swapped to release');
    expect(diff.stdout).not.toContain('run r20261129t000000-dead02');
    const a = await runCli(['apply', '--repo', repo, '--yes', '--node', 'gw-1']);
    expect(a.code, a.stderr).toBe(0);
    const runs = readFileSync(join(d, 'reload.log'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { run: string }).run);
    // settled whole: of two unmarked swaps of acme to what runs, the last one stands (the rule diff applied to the part
    // it read, where dead01 was the last)
    expect(runs.filter((r) => r.endsWith('-dead01') || r.endsWith('-dead02'))).toEqual(['r20261129t000000-dead02']);
    expect(readdirSync(d).filter((f) => f.startsWith('intent.'))).toEqual([]);
    expect((await runCli(['diff', '--repo', repo, '--node', 'gw-1'])).code).toBe(0);
  }, 60_000);
});
