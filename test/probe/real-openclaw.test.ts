/**
 * The probe running the REAL `openclaw --profile <t> doctor --json` from the fleet's cached install (Node 24 +
 * openclaw 2026.9.6). Skipped when the cache is absent (scripts/install-openclaw-cache.sh makes it).
 * The probe strips vitest's VITEST* markers before running OpenClaw (some OpenClaw commands go silent under a
 * test runner; service.test.ts checks the stripping with a stand-in script); here they are present in the env
 * handed to the probe, as they would be in any test.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startProbe, type ProbeHandle } from '../../reconciler/probe/service.js';
import { fakeHttp, json, memLogger, tmp, waitFor } from '../notifier/helpers.js';
import { openclawWrapper } from '../helpers/openclaw.js';
import { writePolicy } from './helpers.js';

const bin = openclawWrapper();
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('probe with the real OpenClaw CLI', () => {
  it.skipIf(!bin)(
    'runs the real doctor in the background and judges its findings (yellow → 200 degraded)',
    async () => {
      const dir = tmp('real');
      const gateway = await fakeHttp((_req, _body, res) => json(res, 200, { ready: true, failing: [] }));
      cleanup.push(() => gateway.close());
      const digest = await fakeHttp((_req, _body, res) => json(res, 200, { generated_at: new Date().toISOString(), age_sec: 0, window_sec: 300, total: 0, dropped: 0, top: [] }));
      cleanup.push(() => digest.close());
      const probe: ProbeHandle = await startProbe({
        tenant: 'acme',
        listen: { host: '127.0.0.1', port: 0 },
        policyFile: writePolicy(dir, { doctor: { interval_sec: 3600, timeout_sec: 50 } }),
        gatewayUrl: gateway.url,
        digestUrl: `${digest.url}/v1/webhook-digest`,
        openclaw: bin!,
        stateDir: join(dir, 'state'),
        exportStateDir: true,
        // a throwaway home: doctor reads (and may write) ~/.openclaw-<profile>; VITEST* stay in and must be stripped
        doctorEnv: { ...process.env, HOME: dir },
        logger: memLogger().logger,
        intervals: { gateway: 200, digest: 200, disk: 200, queue: 200, tick: 200 },
      });
      cleanup.push(() => probe.close());
      expect(process.env.VITEST).toBeDefined();
      const r = await waitFor(() => (probe.readiness().doctor.state !== 'pending' ? probe.readiness() : undefined), 'the real doctor run', 55_000, 100);
      expect(r.doctor.reasons.join('\n')).not.toMatch(/printed nothing|not JSON|exited|timed out/);
      // a fresh profile has warnings (no gateway token, loopback only, …) and nothing at error level
      expect(r.doctor.state).toBe('yellow');
      expect(r.doctor.findings.length).toBeGreaterThan(0);
      expect(r.doctor.findings.every((f) => f.checkId.length > 0 && ['info', 'warning', 'error'].includes(f.severity))).toBe(true);
      const res = await waitFor(async () => {
        const x = await fetch(`${probe.http.url}/readyz`);
        const body = (await x.json()) as { status: string; gateway: { state: string }; digest: { state: string } };
        return body.gateway.state === 'ready' && body.digest.state === 'fresh' ? { code: x.status, body } : undefined;
      }, 'gateway and digest checked');
      expect([res.code, res.body.status]).toEqual([200, 'degraded']);
    },
    60_000,
  );
});
