/**
 * `clawops probe` in-process with real HTTP everywhere: a fake gateway, a real notifier (or a digest stand-in for
 * answers a real one would not give), and a stand-in `openclaw` script fed the real doctor JSON.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Readiness } from '../../reconciler/probe/compose.js';
import { startProbe, type ProbeHandle, type ProbeOptions } from '../../reconciler/probe/service.js';
import { startNotifier, type NotifierHandle } from '../../reconciler/notifier/service.js';
import { fakeHttp, failureLine, memLogger, sendLines, tmp, waitFor } from '../notifier/helpers.js';
import { fakeDigest, fakeGateway, fakeOpenclaw, GREEN_DOCTOR_JSON, REAL_DOCTOR_JSON, RED_DOCTOR_JSON, writePolicy } from './helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface RigOptions {
  policy?: Record<string, unknown>;
  doctorJson?: string;
  /** a digest URL to use instead of a real in-process notifier */
  digestUrl?: string;
  hang?: boolean;
  intervals?: ProbeOptions['intervals'];
  now?: () => number;
}

async function rig(o: RigOptions = {}) {
  const dir = tmp('prb');
  const oc = fakeOpenclaw(dir, o.doctorJson ?? REAL_DOCTOR_JSON);
  if (o.hang) writeFileSync(join(dir, 'hang'), '');
  const gateway = await fakeGateway();
  cleanup.push(() => gateway.close());
  let notifier: NotifierHandle | undefined;
  let digestUrl = o.digestUrl;
  if (digestUrl === undefined) {
    notifier = await startNotifier({ socketPath: join(dir, 'n.sock'), listen: { host: '127.0.0.1', port: 0 }, windowSec: 300, maxKeys: 100, logger: memLogger().logger, tickMs: 20 });
    const n = notifier;
    cleanup.push(() => n.close());
    digestUrl = `${n.http.url}/v1/webhook-digest`;
  }
  const policyFile = writePolicy(dir, o.policy);
  const log = memLogger();
  const probe = await startProbe({
    tenant: 'acme',
    listen: { host: '127.0.0.1', port: 0 },
    policyFile,
    gatewayUrl: gateway.url,
    digestUrl,
    openclaw: oc.bin,
    stateDir: dir,
    exportStateDir: true,
    logger: log.logger,
    intervals: { gateway: 30, disk: 30, queue: 30, digest: 30, tick: 30, policy: 30, ...o.intervals },
    ...(o.now ? { now: o.now } : {}),
  });
  cleanup.push(() => probe.close());
  return { dir, oc, gateway, notifier, probe, log, policyFile };
}

/** Running (a zombie waiting for a non-reaping init is dead for our purpose). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    if (existsSync('/proc/self')) return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function readyz(p: ProbeHandle): Promise<{ code: number; body: Readiness }> {
  const res = await fetch(`${p.http.url}/readyz`);
  return { code: res.status, body: (await res.json()) as Readiness };
}

/** Wait until every checker has reported at least once (and `extra` holds). */
function settled(p: ProbeHandle, extra: (r: Readiness) => boolean = () => true): Promise<Readiness> {
  return waitFor(
    () => {
      const r = p.readiness();
      const done = r.doctor.state !== 'pending' && r.gateway.state !== 'pending' && r.disk.state !== 'pending' && r.queue.state !== 'pending' && r.digest.state !== 'pending';
      return done && extra(r) ? r : undefined;
    },
    'the probe to settle',
    8000,
  );
}

describe('probe: status rules over real HTTP', () => {
  it('real doctor JSON (yellow) + ready gateway + clean webhooks → 200 degraded, with the reasons', async () => {
    const { probe, oc, dir } = await rig();
    await settled(probe);
    const { code, body } = await readyz(probe);
    expect(code).toBe(200);
    expect(body.status).toBe('degraded');
    expect(Object.keys(body).sort()).toEqual(['digest', 'digest_age_sec', 'disk', 'doctor', 'failures', 'gateway', 'generated_at', 'queue', 'reasons', 'status', 'tenant']);
    expect(body.doctor).toMatchObject({ state: 'yellow', maintenance_window: null, ignored: 0 });
    expect(body.doctor.findings.map((f) => f.checkId)).toEqual(['core/doctor/heartbeat-cadence-migration', 'core/doctor/node-hosting-preconditions']);
    expect(body.reasons).toEqual([
      'doctor: core/doctor/heartbeat-cadence-migration (warning): Create heartbeat monitor for agent "main" at 30m.',
      'doctor: core/doctor/node-hosting-preconditions (warning): Gateway is only bound to loopback. Set gateway.bind=lan, enable tailscale serve, or configure plugins.entries.device-pair.config.publicUrl.',
    ]);
    expect(body.gateway.state).toBe('ready');
    expect(body.disk.state).toBe('ok');
    expect(body.queue.state).toBe('ok');
    expect(body.digest.state).toBe('fresh');
    expect(body.failures).toEqual([]);
    expect(typeof body.digest_age_sec).toBe('number');
    // doctor was asked the documented way, without the test runner's markers, with the state dir exported
    expect(oc.calls()[0]).toMatch(/^\d+ --profile acme doctor --json$/);
    expect(readFileSync(join(dir, 'vitest-env'), 'utf8').trim()).toBe('0');
    expect(readFileSync(join(dir, 'openclaw-env'), 'utf8')).toContain(`state=${dir}`);
    expect(process.env.VITEST).toBeDefined(); // so the check above means something
  });

  it('doctor green, everything clean → 200 ok with no reasons; HEAD and /healthz work', async () => {
    const { probe } = await rig({ doctorJson: GREEN_DOCTOR_JSON });
    await settled(probe);
    const { code, body } = await readyz(probe);
    expect([code, body.status, body.reasons]).toEqual([200, 'ok', []]);
    expect((await fetch(`${probe.http.url}/readyz`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${probe.http.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${probe.http.url}/nope`)).status).toBe(404);
    expect((await fetch(`${probe.http.url}/readyz`, { method: 'POST' })).status).toBe(405);
  });

  it('doctor red → 503 fail with the finding as the reason', async () => {
    const { probe } = await rig({ doctorJson: RED_DOCTOR_JSON });
    await settled(probe);
    const { code, body } = await readyz(probe);
    expect([code, body.status]).toEqual([503, 'fail']);
    expect(body.reasons).toEqual(['doctor: core/doctor/gateway-config (error): gateway.mode is invalid']);
  });

  it('doctor red inside a maintenance window → 200 degraded; when the window closes → 503', async () => {
    const clock = { t: Date.parse('2026-11-23T02:30:00Z') }; // a Monday
    const { probe } = await rig({
      doctorJson: RED_DOCTOR_JSON,
      policy: { maintenance_windows: { 'monday-patch': { days: ['mon'], start: '02:00', end: '03:00', tz: 'UTC' } } },
      now: () => clock.t,
    });
    await settled(probe);
    let r = await readyz(probe);
    expect([r.code, r.body.status, r.body.doctor.state, r.body.doctor.maintenance_window]).toEqual([200, 'degraded', 'red', 'monday-patch']);
    expect(r.body.reasons).toContain('doctor: red tolerated during maintenance window "monday-patch"');
    clock.t = Date.parse('2026-11-23T03:00:00Z');
    await waitFor(() => probe.readiness().status === 'fail', 'the window to close');
    r = await readyz(probe);
    expect([r.code, r.body.doctor.maintenance_window]).toEqual([503, null]);
  });

  it('notifier down → degraded, never fail', async () => {
    const gone = await fakeHttp(() => undefined);
    await gone.close();
    const { probe } = await rig({ doctorJson: GREEN_DOCTOR_JSON, digestUrl: `${gone.url}/v1/webhook-digest` });
    const r0 = await settled(probe);
    expect(r0.digest.state).toBe('unreachable');
    const { code, body } = await readyz(probe);
    expect([code, body.status]).toEqual([200, 'degraded']);
    expect(body.digest_age_sec).toBeNull();
    expect(body.reasons).toEqual([expect.stringMatching(/^digest: unreachable \(ECONNREFUSED; no data yet\)$/)]);
  });

  it('a notifier that hangs is cut off by the digest timeout and is degraded, never fail', async () => {
    const hung = await fakeHttp(() => undefined); // accepts, never answers
    cleanup.push(() => hung.close());
    const { probe } = await rig({ doctorJson: GREEN_DOCTOR_JSON, digestUrl: `${hung.url}/v1/webhook-digest`, policy: { digest: { timeout_ms: 100 } } });
    const r = await settled(probe);
    expect(r.status).toBe('degraded');
    expect(r.reasons).toEqual(['digest: unreachable (timed out after 100 ms; no data yet)']);
  });

  it('stale digest → degraded; this tenant’s rows only are reported', async () => {
    const row = (tenant: string, count: number) => ({ tenant, endpoint: 'https://hooks.example', family: '5xx', count, statuses: { '502': count }, first_seen: '2026-11-25T11:00:00.000Z', last_seen: '2026-11-25T11:01:00.000Z' });
    const digest = await fakeDigest({ generated_at: '2026-11-25T11:01:00.000Z', age_sec: 4000, window_sec: 300, total: 9, dropped: 0, overflow: 0, keys: 2, top: [row('acme', 4), row('globex', 5)] });
    cleanup.push(() => digest.close());
    const { probe } = await rig({ doctorJson: GREEN_DOCTOR_JSON, digestUrl: `${digest.url}/v1/webhook-digest`, policy: { digest: { slo_sec: 600 } } });
    await settled(probe);
    const { code, body } = await readyz(probe);
    expect([code, body.status, body.digest.state]).toEqual([200, 'degraded', 'stale']);
    expect(body.digest_age_sec).toBeGreaterThanOrEqual(4000);
    expect(body.reasons).toEqual([expect.stringMatching(/^digest: stale \(data 400\d(\.\d+)?s old, SLO 600s\)$/)]);
    expect(body.failures.map((r) => r.tenant)).toEqual(['acme']);
    expect(digest.requests[0]!.url).toBe('/v1/webhook-digest?tenant=acme&limit=50');
  });

  it("this tenant's webhook failures in a fresh digest → degraded with the rows (doctor green)", async () => {
    const { probe, notifier } = await rig({ doctorJson: GREEN_DOCTOR_JSON });
    await sendLines(notifier!.socketPath, [
      ...Array.from({ length: 500 }, () => failureLine({ tenant: 'acme' })),
      failureLine({ tenant: 'globex', status: 'timeout' }),
    ]);
    const r = await settled(probe, (x) => x.failures.length > 0);
    expect(r.status).toBe('degraded');
    expect(r.failures).toEqual([expect.objectContaining({ tenant: 'acme', endpoint: 'https://canary.example.com', family: '5xx', count: 500 })]);
    expect(r.reasons).toEqual(['webhooks: 500 failed deliveries in the last 300s: https://canary.example.com 5xx ×500']);
  });

  it('doctor hanging → timeout reported as red with the reason; the whole process group is killed', async () => {
    const { probe, dir } = await rig({ hang: true, doctorJson: GREEN_DOCTOR_JSON, policy: { doctor: { interval_sec: 3600, timeout_sec: 1 } } });
    expect(probe.readiness().doctor.state).toBe('pending');
    const r = await settled(probe);
    expect(r.doctor.state).toBe('red');
    expect(r.doctor.reasons).toEqual(['doctor: doctor timed out after 1s']);
    expect(r.doctor.duration_ms).toBeGreaterThanOrEqual(1000);
    expect(r.doctor.duration_ms).toBeLessThan(3000);
    const { code, body } = await readyz(probe);
    expect([code, body.status]).toEqual([503, 'fail']);
    expect(body.reasons).toContain('doctor: doctor timed out after 1s');
    for (const f of ['hang-pid', 'sleep-pid']) {
      const pid = Number(readFileSync(join(dir, f), 'utf8'));
      expect(alive(pid), `${f} ${pid} still alive`).toBe(false);
    }
  });

  it('doctor failing to run properly → red with the reason', async () => {
    const { probe, dir, oc } = await rig({ doctorJson: 'Error: something broke', policy: { doctor: { interval_sec: 1, timeout_sec: 5 } } });
    let r = await settled(probe);
    expect(r.doctor.reasons).toEqual(['doctor: doctor output is not JSON']);
    writeFileSync(join(dir, 'exit'), '3');
    writeFileSync(join(dir, 'stderr'), 'config file is broken\nsecond line\n');
    oc.setOutput('');
    r = await waitFor(() => (probe.readiness().doctor.reasons[0]?.includes('code 3') ? probe.readiness() : undefined), 'the exit code reason', 5000);
    expect(r.doctor.reasons).toEqual(['doctor: doctor exited with code 3: config file is broken']);
    expect(r.status).toBe('fail');
  });

  it('disk critical → 503; disk warn → degraded', async () => {
    const crit = await rig({ doctorJson: GREEN_DOCTOR_JSON, policy: { disk: { path: '/', warn_free_pct: 100, critical_free_pct: 100 } } });
    await settled(crit.probe);
    const r = await readyz(crit.probe);
    expect([r.code, r.body.status, r.body.disk.state]).toEqual([503, 'fail', 'critical']);
    expect(r.body.reasons).toEqual([expect.stringMatching(/^disk: [\d.]+% free on \/, at or below critical 100%$/)]);
    const warn = await rig({ doctorJson: GREEN_DOCTOR_JSON, policy: { disk: { path: '/', warn_free_pct: 100, critical_free_pct: 0 } } });
    const w = await settled(warn.probe);
    expect([w.status, w.disk.state]).toEqual(['degraded', 'warn']);
  });

  it('queue pressure: over warn → degraded, over critical → 503; missing files count 0', async () => {
    const { probe, dir } = await rig({ doctorJson: GREEN_DOCTOR_JSON, policy: { queue: { paths: ['state.sqlite', 'state.sqlite-wal'], warn_bytes: 1000, critical_bytes: 5000 } } });
    let r = await settled(probe);
    expect([r.status, r.queue.state, r.queue.bytes]).toEqual(['ok', 'ok', 0]);
    writeFileSync(join(dir, 'state.sqlite'), Buffer.alloc(2000));
    r = await waitFor(() => (probe.readiness().queue.state === 'warn' ? probe.readiness() : undefined), 'queue warn');
    expect(r.status).toBe('degraded');
    writeFileSync(join(dir, 'state.sqlite-wal'), Buffer.alloc(4000));
    r = await waitFor(() => (probe.readiness().queue.state === 'critical' ? probe.readiness() : undefined), 'queue critical');
    expect(r.status).toBe('fail');
    expect(r.reasons).toEqual(['queue: 6000 bytes queued, above critical 5000']);
    expect((await readyz(probe)).code).toBe(503);
  });

  it('gateway not ready or unreachable → 503', async () => {
    const { probe, gateway } = await rig({ doctorJson: GREEN_DOCTOR_JSON });
    await settled(probe);
    gateway.setReady(false);
    const r = await waitFor(() => (probe.readiness().gateway.state === 'not_ready' ? probe.readiness() : undefined), 'gateway not ready');
    expect(r.reasons).toEqual(['gateway: not ready (HTTP 503, starting or unhealthy); failing: channels, agents']);
    expect((await readyz(probe)).code).toBe(503);
    await gateway.close();
    await waitFor(() => probe.readiness().gateway.state === 'unreachable', 'gateway unreachable');
    expect((await readyz(probe)).code).toBe(503);
  });

  it('answers come from the last computed result, never from a check run per request', async () => {
    const { probe, oc, gateway, notifier } = await rig({ intervals: { gateway: 60_000, digest: 60_000, disk: 60_000, queue: 60_000, tick: 60_000, policy: 60_000 } });
    await settled(probe);
    const gatewayBefore = gateway.requests.length;
    const first = await readyz(probe);
    const bodies = new Set<string>();
    for (let round = 0; round < 6; round++) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => fetch(`${probe.http.url}/readyz`).then(async (r) => [r.status, await r.text()] as const)));
      for (const [status, text] of answers) {
        expect(status).toBe(200);
        bodies.add(text);
      }
    }
    expect(bodies.size).toBe(1);
    expect(JSON.parse([...bodies][0]!)).toEqual(first.body);
    expect(oc.calls()).toHaveLength(1);
    expect(gateway.requests.length).toBe(gatewayBefore);
    // the gateway goes down: the answer does not change until the gateway check runs again
    gateway.setReady(false);
    expect((await readyz(probe)).code).toBe(200);
    expect(notifier).toBeDefined();
  });

  it('a new policy takes effect without a restart; a bad one keeps the last good policy and says so', async () => {
    const { probe, policyFile, dir, oc } = await rig();
    await settled(probe, (r) => r.doctor.state === 'yellow');
    expect(oc.calls()).toHaveLength(1);
    const ignoreBoth = {
      tenant: 'acme',
      doctor: { interval_sec: 1, timeout_sec: 20, ignored_checks: ['core/doctor/heartbeat-cadence-migration', 'core/doctor/node-hosting-preconditions'] },
      disk: { path: dir, warn_free_pct: 0, critical_free_pct: 0 },
    };
    writeFileSync(policyFile, JSON.stringify(ignoreBoth));
    // the last report is re-judged at once: no doctor run needed
    const r = await waitFor(() => (probe.readiness().doctor.state === 'green' ? probe.readiness() : undefined), 'the new policy to apply', 2000);
    expect(r.status).toBe('ok');
    expect(r.doctor.ignored).toBe(2);
    // and the shorter interval applies to the wait in progress (the old one was an hour)
    await waitFor(() => oc.calls().length >= 2, 'a doctor run on the new interval', 4000);
    writeFileSync(policyFile, '{"tenant":"acme","doctor":{"warn_on":"loud"}}');
    const bad = await waitFor(() => (probe.readiness().reasons.some((x) => x.startsWith('policy:')) ? probe.readiness() : undefined), 'the reload error');
    expect(bad.status).toBe('degraded');
    expect(bad.doctor.state).toBe('green');
    expect(existsSync(policyFile)).toBe(true);
  });
});
