/**
 * `clawops status`, `/metrics` and `/` on a real controller over a local fleet (directories standing for Macs, the
 * real openclaw CLI, the real observe/plan/apply) against a real git origin: two canaries, a fleet node held at the
 * gate, an ssh node that is down (Unreachable), and a commit the canary rolls back (RolledBack; apply reports the
 * rollback as a rolled-back node does, as in test/controller/rollback-gating.test.ts, since these nodes run no
 * gateways). The CLI reads the state dir the controller wrote and its listener; /metrics is parsed strictly. Then
 * the pass history and counters: they move exactly once per pass, survive a restart of the controller, and a
 * schema-1 store is taken over; a staged token.next shows as a token overlap.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { controllerHttp } from '../../reconciler/commands/controller.js';
import type { Controller } from '../../reconciler/controller/loop.js';
import { startServer, type ServerHandle } from '../../reconciler/controller/server.js';
import { readStatus, statusPath } from '../../reconciler/controller/store.js';
import type { StatusView } from '../../reconciler/report/status-model.js';
import { ACME, acmeLevel, fakeClock, memLogger, node } from '../controller/helpers.js';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { openclawCache } from '../helpers/openclaw.js';
import { runCli } from '../helpers/repo.js';
import { closedPort, get, schema1, silentLog } from './fixtures.js';
import { parsePrometheusText, sampleValue, type Family } from './prom-text.js';

const bad = vi.hoisted(() => ({ commit: '' }));
vi.mock('../../reconciler/apply/apply-fleet.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../reconciler/apply/apply-fleet.js')>();
  const { rolledBackResult: rolledBack } = await import('../controller/rolled-back.js');
  return {
    ...real,
    // the bad commit fails readiness on gw-1 only; every other apply is the real one
    applyFleet: (async (plan, desired, transports, ctx, concurrency) => {
      if (ctx.commit !== bad.commit || !plan.nodes.some((n) => n.node === 'gw-1')) return real.applyFleet(plan, desired, transports, ctx, concurrency);
      const rest = plan.nodes.filter((n) => n.node !== 'gw-1');
      const r = rest.length > 0 ? await real.applyFleet({ ...plan, nodes: rest }, desired, transports, ctx, concurrency) : { results: [], ok: true };
      return { ...r, results: [rolledBack('gw-1'), ...r.results], ok: false };
    }) as typeof real.applyFleet,
  };
});

const GW4_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILLRNkHFWGgimBPCH6VSg+wCNY3YEwbcp+Ei/8iL3rSe gw-4';

const sum = (fams: Map<string, Family>, name: string): number => (fams.get(name)?.samples ?? []).filter((x) => x.name === name).reduce((k, x) => k + x.value, 0);

describe.skipIf(!openclawCache())('clawops status, /metrics and / on a real controller', () => {
  let c: Controller | undefined;
  let lc: LocalController | undefined;
  let http: ServerHandle | undefined;
  afterEach(async () => {
    await http?.close();
    await lc?.close();
  });

  it('Synced, Gated, Unreachable and RolledBack nodes: exit codes, text, metrics and the page data agree', async () => {
    const down = await closedPort();
    lc = localController({
      nodes: [
        { name: 'gw-1', canary: true, tenants: ['acme'] },
        { name: 'gw-3', canary: true, tenants: ['acme'] },
        { name: 'gw-2', tenants: ['acme', 'globex'] },
      ],
      secretsFor: ['acme', 'globex'],
      extraNodes: `  - { name: gw-4, host: 127.0.0.1, port: ${down}, user: clawops, host_key: "${GW4_KEY}", role: gateway, tenants: [acme] }\n`,
      prefix: 'clawops-status-ctl-',
    });
    const { nodes, origin, stateDir } = lc;
    const c1 = origin.head();
    const s1 = c1.slice(0, 7);
    origin.tag('release/1', c1, { date: '2026-11-01T00:00:00Z' });
    // the controller's clock is now (the CLI reads the real one) and stands still: gw-4 stays in its backoff
    const clock = fakeClock(Date.now());
    ({ c } = await lc.start({}, memLogger(), clock));
    const ctl = c;
    // the listener as `clawops controller run --listen` wires it (onPass: it hears of every finished pass)
    http = await startServer({ host: '127.0.0.1', port: 0 }, { ...controllerHttp(ctl, silentLog()), now: () => clock.now() });
    const port = http.address.port;
    const status = (...args: string[]) => runCli(['status', '--state-dir', stateDir, ...args]);

    // two passes: the canaries run release/1 and were green once; gw-2 is gated; gw-4 is down
    expect((await c.runPass()).outcome, c.status().lastPass?.message).toBe('ok');
    expect((await c.runPass()).outcome, c.status().lastPass?.message).toBe('ok');
    expect(Object.fromEntries(Object.values(c.status().nodes).map((n) => [n.node, n.state]))).toEqual({ 'gw-1': 'Synced', 'gw-3': 'Synced', 'gw-2': 'Gated', 'gw-4': 'Unreachable' });
    let r = await status();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('\n4 node(s): 1 Unreachable, 1 Gated, 2 Synced\n');
    expect(r.stdout).toMatch(/\nUnreachable\n {2}gw-4 \[gateway\] Unreachable: BackingOff since .*\n {4}why {5}gw-4: connect to 127\.0\.0\.1:\d+ failed: connection refused; next attempt after/);
    expect(r.stdout).toContain(`\nRollout (apply, gating, config)\n  gw-2 [gateway] Gated: Gated since `);
    expect(r.stdout).toContain(`    next    gated: waiting for canary gw-1 green 1/2 on ${s1}; waiting for canary gw-3 green 1/2 on ${s1}\n`);
    expect(r.stdout).toContain('\nSynced: gw-1, gw-3\n');
    expect((await status('--node', 'gw-1', '--node', 'gw-3')).code).toBe(0);

    let fams = parsePrometheusText((await get(port, '/metrics')).body);
    expect(sampleValue(fams, 'clawops_nodes', { state: 'Gated' })).toBe(1);
    expect(sampleValue(fams, 'clawops_nodes', { state: 'Unreachable' })).toBe(1);
    expect(sampleValue(fams, 'clawops_nodes', { state: 'Synced' })).toBe(2);
    expect(sampleValue(fams, 'clawops_nodes', { state: 'RolledBack' })).toBe(0);
    expect(sampleValue(fams, 'clawops_canary_green_passes', { node: 'gw-1' })).toBe(1);
    expect(sampleValue(fams, 'clawops_canary_green_passes_required')).toBe(2);
    expect(sampleValue(fams, 'clawops_passes_total', { result: 'ok' })).toBe(2);
    expect(sampleValue(fams, 'clawops_applies_total', { node: 'gw-1', result: 'applied' })).toBe(1);

    // fan-out after the second green pass; one more pass confirms it
    await c.runPass();
    await c.runPass();
    expect(node(c.status(), 'gw-2').state).toBe('Synced');
    expect((await status('--node', 'gw-1', '--node', 'gw-2', '--node', 'gw-3')).code).toBe(0);
    expect((await status()).code).toBe(1);

    // a commit the canary gw-1 rolls back: failed for good, the fleet stays gated on release/1
    bad.commit = origin.commit({ [ACME]: acmeLevel('warn') }, 'acme: warn (breaks readiness)');
    origin.push();
    origin.tag('release/2', bad.commit, { date: '2026-11-02T00:00:00Z' });
    const s2 = bad.commit.slice(0, 7);
    await c.runPass();
    expect(Object.fromEntries(Object.values(c.status().nodes).map((n) => [n.node, n.state]))).toEqual({ 'gw-1': 'RolledBack', 'gw-3': 'Progressing', 'gw-2': 'Gated', 'gw-4': 'Unreachable' });
    r = await status();
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('\n4 node(s): 1 RolledBack, 1 Unreachable, 1 Gated, 1 Progressing\n');
    expect(r.stdout).toContain(`\ngate release/2 ${s2}: failed; ${s2} failed on canary gw-1 (RolledBack): it never fans out; push a fix and tag it\n`);
    expect(r.stdout).toMatch(/\nProbe\n {2}gw-1 \[gateway, canary\] RolledBack: RolledBack since .*\n {4}why {5}gw-1: acme: release x not ready within 60 s: HTTP 503; rolled back to y, ready again after 1 s/);
    expect(r.stdout).toMatch(/ {4}next {4}acme is back on its previous release and the new one is quarantined/);
    expect(r.stdout).toContain(`    next    gated: ${s2} failed on canary gw-1 (RolledBack): it never fans out; push a fix and tag it\n`);
    expect(r.stdout).toMatch(new RegExp(`\n {4}wants {3}release/1 ${s1}( \\(.*\\))? · holding back release/2 ${s2}\n`));

    // the same through the listener: --controller reads /status
    const viaHttp = await runCli(['status', '--controller', `http://127.0.0.1:${port}`]);
    expect(viaHttp.code).toBe(1);
    const body = (s: string): string => s.split('\n').slice(1).join('\n').replace(/\d+ (s|min) ago/g, 'T ago');
    expect(body(viaHttp.stdout)).toBe(body(r.stdout));

    fams = parsePrometheusText((await get(port, '/metrics')).body);
    expect(sampleValue(fams, 'clawops_nodes', { state: 'RolledBack' })).toBe(1);
    expect(sampleValue(fams, 'clawops_nodes', { state: 'Gated' })).toBe(1);
    expect(sampleValue(fams, 'clawops_nodes', { state: 'Unreachable' })).toBe(1);
    expect(sampleValue(fams, 'clawops_nodes', { state: 'Progressing' })).toBe(1);
    expect(sampleValue(fams, 'clawops_nodes', { state: 'Synced' })).toBe(0);
    expect(sampleValue(fams, 'clawops_node_state', { node: 'gw-1', state: 'RolledBack' })).toBe(1);
    expect(sampleValue(fams, 'clawops_passes_total', { result: 'ok' })).toBe(5);
    expect(sampleValue(fams, 'clawops_pass_duration_seconds_count')).toBe(5);
    expect(sampleValue(fams, 'clawops_applies_total', { node: 'gw-1', result: 'rolled_back' })).toBe(1);
    expect(sampleValue(fams, 'clawops_rollbacks_total', { node: 'gw-1', result: 'ready' })).toBe(1);
    expect(sampleValue(fams, 'clawops_applies_total', { node: 'gw-3', result: 'applied' })).toBe(2);
    expect(sampleValue(fams, 'clawops_applies_total', { node: 'gw-2', result: 'applied' })).toBe(1);
    expect(sampleValue(fams, 'clawops_fleet_candidate_info', { commit: bad.commit, verdict: 'failed' })).toBe(1);
    expect(sampleValue(fams, 'clawops_canary_gate_open')).toBe(0);
    expect(sampleValue(fams, 'clawops_node_last_sync_timestamp_seconds', { node: 'gw-2' })).toBeGreaterThan(0);
    expect(sampleValue(fams, 'clawops_node_last_sync_timestamp_seconds', { node: 'gw-4' })).toBeUndefined();

    // the page and its data: the same model, with the passes the store keeps
    const page = await get(port, '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'sha256-/);
    const data = await get(port, '/', 'application/json');
    const v = JSON.parse(data.body) as StatusView;
    const cli = JSON.parse((await status('--json')).stdout) as StatusView;
    expect(v.nodes.map((n) => [n.node, n.state, n.next])).toEqual(cli.nodes.map((n) => [n.node, n.state, n.next]));
    expect(v.passes).toHaveLength(5);
    expect(v.passes[0]!.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^gw-1: Synced → RolledBack \(gw-1: acme: release x not ready.*\) · rolled back, previous release ready again$/), expect.stringMatching(/^gw-3: Synced → Progressing .* · applied$/)]));
    expect(v.passes[0]!.nodes?.find((n) => n.node === 'gw-1')).toMatchObject({ from: 'Synced', to: 'RolledBack', apply: 'rolled_back', rollback: 'ready' });
    // the state dir has the same history (it is the store's, not the listener's)
    expect(cli.passes).toEqual(v.passes);
    expect((await get(port, '/metrics', undefined)).headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status).toBe(405);

    // token overlap: a token.next staged beside acme's token.current on gw-3 shows at the next pass (never its value)
    const staged = join(nodes.root('gw-3'), 'var/db/openclaw/secrets/acme/token.next');
    writeFileSync(staged, 'next-token-value-never-shown\n', { mode: 0o600 });

    // exactly once per pass: counters, histogram and history move by one each; scraping again moves nothing
    const before = parsePrometheusText((await get(port, '/metrics')).body);
    await c.runPass();
    const after = parsePrometheusText((await get(port, '/metrics')).body);
    expect(sum(after, 'clawops_passes_total')).toBe(sum(before, 'clawops_passes_total') + 1);
    expect(sampleValue(after, 'clawops_pass_duration_seconds_count')).toBe(sampleValue(before, 'clawops_pass_duration_seconds_count')! + 1);
    expect(parsePrometheusText((await get(port, '/metrics')).body).get('clawops_passes_total')).toEqual(after.get('clawops_passes_total'));
    expect(sampleValue(after, 'clawops_tenants_token_overlap', { node: 'gw-3' })).toBe(1);
    const v6 = JSON.parse((await get(port, '/', 'application/json')).body) as StatusView;
    expect(v6.passes).toHaveLength(6);
    expect(v6.passes[0]!.id).toBe(c.status().lastPass!.id);
    const acme3 = v6.nodes.find((n) => n.node === 'gw-3')!.tenants.find((t) => t.tenant === 'acme')!;
    expect(acme3.token).toMatchObject({ overlap: 'overlap', current: { present: true, mode: '600' }, next: { present: true, mode: '600' }, summary: expect.stringMatching(/^rotation in progress/) });
    expect(readFileSync(statusPath(stateDir), 'utf8')).not.toMatch(/next-token-value|fingerprint/);
    expect((await status('--node', 'gw-3')).stdout).toMatch(/\nSynced: gw-3\n {2}gw-3 token acme: rotation in progress: token\.next \(/);

    // a restart: a new controller (and listener) on the same state dir goes on counting from the store
    await http.close();
    await c.close();
    ({ c } = await lc.start({}, memLogger(), clock));
    const ctl2 = c;
    http = await startServer({ host: '127.0.0.1', port: 0 }, { ...controllerHttp(ctl2, silentLog()), now: () => clock.now() });
    const restarted = parsePrometheusText((await get(http.address.port, '/metrics')).body);
    for (const name of ['clawops_passes_total', 'clawops_applies_total', 'clawops_rollbacks_total', 'clawops_source_fetch_errors_total']) expect(restarted.get(name)?.samples, name).toEqual(after.get(name)?.samples);
    expect(sampleValue(restarted, 'clawops_pass_duration_seconds_count')).toBe(0);
    await c.runPass();
    const next = parsePrometheusText((await get(http.address.port, '/metrics')).body);
    expect(sum(next, 'clawops_passes_total')).toBe(sum(after, 'clawops_passes_total') + 1);
    expect(sampleValue(next, 'clawops_pass_duration_seconds_count')).toBe(1);
    expect((JSON.parse((await get(http.address.port, '/', 'application/json')).body) as StatusView).passes).toHaveLength(7);

    // a store a schema-1 clawops wrote: the controller takes it over (its last pass is history, counting starts anew)
    await http.close();
    http = undefined;
    await c.close();
    const old = (await readStatus(stateDir))!;
    writeFileSync(statusPath(stateDir), schema1(old));
    ({ c } = await lc.start({}, memLogger(), clock));
    expect(c.status().history.map((h) => [h.id, h.baseline])).toEqual([[old.lastPass!.id, true]]);
    await c.runPass();
    const taken = (await readStatus(stateDir))!;
    expect(taken.schemaVersion).toBe(2);
    expect(taken.history).toHaveLength(2);
    expect(taken.counters.passes).toEqual({ ok: 1 });
    expect(taken.nodes['gw-3']!.tenants['acme']!.tokens?.overlap).toBe('overlap');
  }, 300_000);
});
