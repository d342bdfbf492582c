/**
 * The controller's health stage, pure parts and the node command (specs/controller.md "Health"): readiness answers
 * → bounded summaries, health = worst of launchd and the answer, the digest rows the store keeps; and HEALTH_SCRIPT
 * run by sh against real sockets (a probe-shaped answer, a gateway /readyz, a refused port, a release without units,
 * the notifier's digest) in one command.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { combineHealth, digestRecord, healthReason, probeHealth } from '../../reconciler/controller/derive.js';
import { digestSummary, HEALTH_SCRIPT, parseHealthOutput, probeSummary } from '../../reconciler/controller/health-stage.js';
import { green } from '../../reconciler/controller/gating.js';
import { gatewayPortIn, readinessUrl } from '../../reconciler/units/readiness.js';

const AT = '2026-11-29T05:00:00.000Z';
const probeBody = (status: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ status, tenant: 'acme', doctor: { state: status === 'ok' ? 'green' : 'yellow', findings: status === 'ok' ? [] : [{ checkId: 'core/doctor/sessions', severity: 'warning', message: 'token sk-SECRET in a message', required: false }] }, gateway: { state: 'ready' }, disk: { state: 'ok' }, queue: { state: 'ok' }, digest: { state: 'fresh' }, failures: [], reasons: ['doctor: core/doctor/sessions (warning): token sk-SECRET'], ...extra });

describe('probeSummary (pure)', () => {
  it('takes the probe word and names the parts that were not ok, never a reason text', () => {
    const s = probeSummary('probe', 200, 0, probeBody('degraded'), AT);
    expect(s).toEqual({ source: 'probe', status: 'degraded', code: 200, checks: ['doctor:yellow', 'doctor/core/doctor/sessions'], at: AT });
    expect(JSON.stringify(s)).not.toContain('SECRET');
    expect(probeSummary('probe', 200, 0, probeBody('ok'), AT)).toMatchObject({ status: 'ok', checks: [] });
    expect(probeSummary('probe', 503, 0, probeBody('fail', { gateway: { state: 'unreachable' } }), AT)).toMatchObject({ status: 'fail', code: 503, checks: expect.arrayContaining(['gateway:unreachable']) });
    // a word better than its code takes the code's fail
    expect(probeSummary('probe', 503, 0, probeBody('ok'), AT).status).toBe('fail');
    expect(probeSummary('probe', 200, 0, probeBody('degraded', { failures: [{ tenant: 'acme' }] }), AT).checks).toContain('digest:rows');
  });

  it('reads a gateway /readyz by ready and the code; no answer is unreachable with why', () => {
    expect(probeSummary('gateway', 200, 0, '{"ready":true,"failing":[]}', AT)).toMatchObject({ status: 'ok', checks: [] });
    expect(probeSummary('gateway', 503, 0, '{"ready":false,"failing":["startup-sidecars"]}', AT)).toMatchObject({ status: 'fail', checks: ['gateway/startup-sidecars'] });
    expect(probeSummary('gateway', 0, 7, '', AT)).toMatchObject({ status: 'unreachable', code: 0, error: 'connection refused' });
    expect(probeSummary('probe', 0, 28, '', AT)).toMatchObject({ status: 'unreachable', error: 'timed out' });
    expect(probeSummary('gateway', 500, 0, '<html>', AT)).toMatchObject({ status: 'fail', checks: ['http:500'] });
    expect(probeSummary('probe', 200, 0, 'not json', AT)).toMatchObject({ status: 'degraded', checks: ['probe:unparseable'] });
  });

  it('caps what it keeps: at most 8 checks, safe names only', () => {
    const findings = Array.from({ length: 20 }, (_, i) => ({ checkId: `c${i}` })).concat([{ checkId: '<script>' }]);
    const s = probeSummary('probe', 200, 0, probeBody('degraded', { doctor: { state: 'yellow', findings } }), AT);
    expect(s.checks).toHaveLength(8);
    expect(s.checks.join()).not.toContain('<');
  });
});

describe('health = worst of launchd and the readiness answer (pure)', () => {
  const running = { status: 'ok' as const, service: 'running', pid: 42 };
  it('degraded probe on a running service: degraded, not green unless allow_degraded', () => {
    const h = combineHealth(running, probeSummary('probe', 200, 0, probeBody('degraded'), AT));
    expect(h).toMatchObject({ status: 'degraded', service: 'running', pid: 42 });
    expect(h.message).toMatch(/^probe degraded \(HTTP 200\): doctor:yellow/);
    expect(green(h.status, { allow_degraded: false })).toBe(false);
    expect(green(h.status, { allow_degraded: true })).toBe(true);
    expect(healthReason(running, probeSummary('probe', 200, 0, probeBody('degraded'), AT))).toBe('ProbeDegraded');
  });
  it('ok probe keeps launchd ok; no answer on a running service is failed (ProbeUnreachable); a stage that could not ask is unknown', () => {
    expect(combineHealth(running, probeSummary('probe', 200, 0, probeBody('ok'), AT))).toEqual(running);
    const refused = probeSummary('gateway', 0, 7, '', AT);
    expect(combineHealth(running, refused)).toMatchObject({ status: 'failed', message: 'readyz unreachable: connection refused' });
    expect(healthReason(running, refused)).toBe('ProbeUnreachable');
    expect(probeHealth({ source: 'gateway', status: 'unknown', code: 0, checks: [], error: 'health command exited 3', at: AT }).status).toBe('unknown');
    expect(green('unknown', { allow_degraded: true })).toBe(false);
  });
  it('a service that is not running stays ServiceNotRunning whatever the probe says', () => {
    const down = { status: 'failed' as const, service: 'waiting', message: 'ai.openclaw.acme is waiting (last exit 1)' };
    const refused = probeSummary('gateway', 0, 7, '', AT);
    expect(healthReason(down, refused)).toBe('ServiceNotRunning');
    expect(combineHealth(down, refused).message).toBe('ai.openclaw.acme is waiting (last exit 1); readyz unreachable: connection refused');
  });
});

describe('digest rows (pure)', () => {
  const row = (i: number) => ({ tenant: `t${i}`, endpoint: `https://user:pw@h${i}.example.com/secret/path?q=token`, family: '5xx', count: 100 - i, statuses: { '502': 1, '503': 99 - i }, first_seen: AT, last_seen: AT, extra: 'payload' });
  it('keeps the top 20 rows by the notifier order, origins only, no payload', () => {
    const body = JSON.stringify({ generated_at: AT, age_sec: 0.4, window_sec: 300, total: 5000, dropped: 1, overflow: 0, keys: 30, top: Array.from({ length: 30 }, (_, i) => row(i)) });
    const d = digestSummary(body, AT);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d).toMatchObject({ windowSec: 300, total: 5000, dropped: 1, keys: 30 });
    expect(d.rows).toHaveLength(20);
    expect(d.rows[0]).toEqual({ tenant: 't0', endpoint: 'https://h0.example.com', family: '5xx', count: 100, statuses: { '502': 1, '503': 99 }, firstSeen: AT, lastSeen: AT });
    expect(JSON.stringify(d)).not.toMatch(/pw|secret|token|payload/);
  });
  it('a failed read keeps the last good rows beside the error', () => {
    const good = digestSummary(JSON.stringify({ window_sec: 300, total: 1, dropped: 0, overflow: 0, keys: 1, top: [row(0)] }), AT);
    const rec = digestRecord(good, undefined)!;
    expect(rec.rows).toHaveLength(1);
    const after = digestRecord({ ok: false, at: '2026-11-29T05:01:00.000Z', error: 'the notifier did not answer: connection refused' }, rec)!;
    expect(after).toMatchObject({ at: AT, error: 'the notifier did not answer: connection refused', errorAt: '2026-11-29T05:01:00.000Z', rows: [{ tenant: 't0' }] });
    expect(digestSummary('nope', AT)).toEqual({ ok: false, at: AT, error: 'the digest is not JSON' });
  });
});

describe('HEALTH_SCRIPT on real sockets (one sh command)', () => {
  let dir = '';
  const servers: http.Server[] = [];
  const listen = async (answer: (url: string) => [number, string]): Promise<number> => {
    const s = http.createServer((req, res) => {
      const [code, body] = answer(req.url ?? '');
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(body);
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as AddressInfo).port;
  };
  const release = (tenant: string, port: number, probe: boolean, units = true): void => {
    const r = join(dir, 'etc/tenants', tenant);
    mkdirSync(join(r, units ? 'launchd' : '.'), { recursive: true });
    writeFileSync(join(r, 'openclaw.json'), `{\n  "gateway": {\n    "auth": {\n      "port": 1\n    },\n    "port": ${port}\n  }\n}\n`);
    if (probe) writeFileSync(join(r, `launchd/ai.openclaw.${tenant}.probe.plist`), '<plist/>');
  };
  let probePort = 0;
  let gwPort = 0;
  let digestPort = 0;
  let deadPort = 0;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'clawops-health-'));
    probePort = await listen(() => [200, probeBody('degraded')]);
    gwPort = await listen(() => [200, '{"ready":true,"failing":[]}']);
    digestPort = await listen((u) => [u.startsWith('/v1/webhook-digest?limit=20') ? 200 : 404, JSON.stringify({ window_sec: 300, total: 3, dropped: 0, overflow: 0, keys: 1, top: [{ tenant: 'acme', endpoint: 'https://canary.example.com', family: '5xx', count: 3, statuses: { '503': 3 }, first_seen: AT, last_seen: AT }] })]);
    const d = await listen(() => [200, '']);
    deadPort = d;
    await new Promise<void>((r) => servers.pop()!.close(() => r()));
    release('acme', probePort - 115, true); // the probe on base + 115
    release('globex', gwPort - 7, false); // the gateway on base + the node's offset (7)
    release('initech', deadPort - 7, false);
    release('hooli', 1, false, false); // no launchd units: not asked
  });
  afterAll(async () => {
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('asks every tenant and the digest in one command and parses each answer', async () => {
    // the URLs as the stage works them out (readinessUrl of each release's probe unit and openclaw.json port), on stdin
    const url = (tenant: string, probe: boolean): string => {
      const text = readFileSync(join(dir, 'etc/tenants', tenant, 'openclaw.json'), 'utf8');
      const u = readinessUrl({ probe, ...(gatewayPortIn(text) !== undefined ? { gatewayPort: gatewayPortIn(text)! } : {}) }, 7);
      return `U\t${tenant}\t${u.source}\t${u.url}\n`;
    };
    const input = url('acme', true) + url('globex', false) + url('initech', false); // hooli: no units, given no URL
    const t0 = performance.now();
    const r = await new Promise<{ stdout: string }>((res, rej) => {
      const c = execFile('sh', ['-c', HEALTH_SCRIPT, 'clawops', join(dir, 'etc'), '7', `http://127.0.0.1:${digestPort}/v1/webhook-digest?limit=20`, 'acme', 'globex', 'initech', 'hooli'], (e, stdout) => (e ? rej(e) : res({ stdout })));
      c.stdin?.end(input);
    });
    const ms = performance.now() - t0;
    const h = parseHealthOutput(r.stdout, AT);
    expect(h.probes.acme).toMatchObject({ source: 'probe', status: 'degraded', code: 200, checks: ['doctor:yellow', 'doctor/core/doctor/sessions'] });
    expect(h.probes.globex).toMatchObject({ source: 'gateway', status: 'ok', code: 200 });
    expect(h.probes.initech).toMatchObject({ source: 'gateway', status: 'unreachable', error: 'connection refused' });
    expect(h.probes.hooli).toBeUndefined();
    expect(h.noUnits).toEqual(['hooli']);
    expect(h.digest).toMatchObject({ ok: true, total: 3, rows: [{ tenant: 'acme', endpoint: 'https://canary.example.com', count: 3 }] });
    expect(ms).toBeLessThan(5000);
  });
});

describe('what the stage asks on a node (pure)', () => {
  it('each tenant is asked where its CURRENT release answers: the probe on port + 115, else the gateway on port + the node offset; the port of the openclaw.json it runs', async () => {
    const { deployedTenant, exampleDesired, tenantOf } = await import('../plan/fixtures.js');
    const { currentReadiness } = await import('../../reconciler/controller/health-stage.js');
    const d = exampleDesired();
    const acme = tenantOf(d, 'acme');
    const o = deployedTenant(acme, {});
    delete o.files['launchd/ai.openclaw.acme.probe.plist']; // a release with the gateway unit only
    // in sync: the desired openclaw.json, so the desired port
    expect(currentReadiness('acme', o, acme)).toEqual({ probe: false, gatewayPort: acme.port });
    expect(readinessUrl(currentReadiness('acme', o, acme), 7)).toEqual({ source: 'gateway', url: `http://127.0.0.1:${acme.port + 7}/readyz` });
    // the release ships a probe unit: the composite probe, on port + 115 (no node offset)
    o.files['launchd/ai.openclaw.acme.probe.plist'] = '0'.repeat(64);
    expect(readinessUrl(currentReadiness('acme', o, acme), 7)).toEqual({ source: 'probe', url: `http://127.0.0.1:${acme.port + 115}/readyz` });
    // another openclaw.json runs (an older release, a hand edit): observe sent its content, whose port counts
    o.files['openclaw.json'] = 'f'.repeat(64);
    o.contents['openclaw.json'] = Buffer.from('{\n  "gateway": {\n    "port": 20001\n  }\n}\n');
    expect(currentReadiness('acme', o, acme)).toEqual({ probe: true, gatewayPort: 20001 });
    // content that names no port, or no openclaw.json at all: the OpenClaw default, as the gateway itself takes it
    o.contents['openclaw.json'] = Buffer.from('not json');
    expect(readinessUrl(currentReadiness('acme', o, acme), 7).url).toBe('http://127.0.0.1:18904/readyz');
    delete o.files['openclaw.json'];
    delete o.contents['openclaw.json'];
    expect(currentReadiness('acme', o, acme)).toEqual({ probe: true });
    expect(gatewayPortIn('{"gateway":{"port":"18789"}}')).toBeUndefined();
  });

  it('deployed, assigned tenants whose current release has units; nothing on a node applied this pass; the digest on a notifier node, on its port block', async () => {
    const { deployedTenant, exampleDesired, nodeObservation, ok, tenantOf } = await import('../plan/fixtures.js');
    const { plan } = await import('../../reconciler/plan/plan.js');
    const { digestUrl, healthTargets } = await import('../../reconciler/controller/health-stage.js');
    const d = exampleDesired();
    const gw1 = d.nodes.find((n) => n.name === 'gw-1')!;
    const o = nodeObservation(d, 'gw-1', gw1.tenants);
    const [first, ...rest] = gw1.tenants;
    o.tenants[first!] = deployedTenant(tenantOf(d, first!), {});
    o.tenants[first!]!.files = { ...o.tenants[first!]!.files, [`launchd/ai.openclaw.${first}.plist`]: '0'.repeat(64) };
    // the others run releases without launchd units (rendered before services existed)
    for (const t of rest) o.tenants[t]!.files = Object.fromEntries(Object.entries(o.tenants[t]!.files).filter(([k]) => !k.startsWith('launchd/')));
    const observed = ok(o);
    const p = plan(d, [observed], [gw1]).nodes[0]!;
    const facts = { node: 'gw-1', role: 'gateway', canary: true, follows: 'canary' as const, observed, plan: p, desired: d, suspended: false, mode: 'auto' as const };
    expect(healthTargets(facts, gw1, d)).toEqual({ tenants: [first] });
    expect(rest.length).toBeGreaterThan(0); // the others ship no units: not asked
    expect(healthTargets({ ...facts, apply: { outcome: 'applied' } as never }, gw1, d)).toBeUndefined();
    expect(healthTargets({ ...facts, observed: { node: 'gw-1', ok: false, reason: 'Unreachable', message: 'down' } }, gw1, d)).toBeUndefined();
    const nw = { ...gw1, name: 'nw-1', role: 'notifier' as const, tenants: [], port_offset: 200 };
    expect(healthTargets({ ...facts, node: 'nw-1', plan: { ...p, tenants: [] } }, nw, d)).toEqual({ tenants: [], digest: `http://127.0.0.1:${9099 + 200}/v1/webhook-digest?limit=20` });
    expect(digestUrl(d, { port_offset: 0 })).toBe('http://127.0.0.1:9099/v1/webhook-digest?limit=20');
  });
});
