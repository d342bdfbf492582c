/** `./bin/clawops probe serve` as a real process, next to a real `notifier serve` process. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_GATEWAY_PORT, probeOptionsFromFlags } from '../../reconciler/probe/cli.js';
import { failureLine, memLogger, expectUsageErrors, sendLines, spawnCli, tmp, waitFor, type CliProc } from '../notifier/helpers.js';
import { fakeGateway, fakeOpenclaw, writePolicy } from './helpers.js';

const procs: CliProc[] = [];
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const c of cleanup.splice(0)) await c();
});

type Body = { status: string; doctor: { state: string; reasons: string[] }; failures: { count: number }[]; reasons: string[] };

describe('clawops probe serve (real process)', () => {
  it('serves /readyz from its checks, sees the notifier go down, and exits 0 on SIGTERM killing a doctor in flight', async () => {
    const dir = tmp('pcli');
    const oc = fakeOpenclaw(dir); // the real doctor JSON: two warnings → yellow
    const gateway = await fakeGateway();
    cleanup.push(() => gateway.close());
    const notifier = spawnCli(['notifier', 'serve', '--socket', join(dir, 'n.sock'), '--listen', '127.0.0.1:0', '--no-state']);
    procs.push(notifier);
    const digestBase = await notifier.listening();
    // this tenant's failures are in the digest before the probe starts
    await sendLines(join(dir, 'n.sock'), Array.from({ length: 500 }, () => failureLine()));
    await waitFor(async () => ((await (await fetch(`${digestBase}/v1/webhook-digest`)).json()) as { total: number }).total === 500, 'the notifier to count 500');
    const policy = writePolicy(dir, { doctor: { interval_sec: 1, timeout_sec: 5 } });
    const probe = spawnCli([
      'probe',
      'serve',
      '--tenant',
      'acme',
      '--listen',
      '127.0.0.1:0',
      '--policy',
      policy,
      '--gateway-url',
      gateway.url,
      '--digest-url',
      `${digestBase}/v1/webhook-digest`,
      '--openclaw',
      oc.bin,
      '--state-dir',
      dir,
    ]);
    procs.push(probe);
    const url = await probe.listening();
    const get = async (): Promise<{ code: number; body: Body }> => {
      const r = await fetch(`${url}/readyz`);
      return { code: r.status, body: (await r.json()) as Body };
    };

    // yellow doctor (the real doctor JSON), webhook failures for acme → 200 degraded with the row
    let r = await waitFor(async () => {
      const x = await get();
      return x.body.doctor.state === 'yellow' && !x.body.reasons.some((s) => /not (checked|fetched) yet/.test(s)) ? x : undefined;
    }, 'the first results', 10_000);
    expect([r.code, r.body.status, r.body.failures.map((f) => f.count)]).toEqual([200, 'degraded', [500]]);
    expect(r.body.reasons).toContain('webhooks: 500 failed deliveries in the last 300s: https://canary.example.com 5xx ×500');

    // the notifier goes away: degraded, never fail
    notifier.child.kill('SIGTERM');
    expect((await notifier.exited).code).toBe(0);
    r = await waitFor(async () => {
      const x = await get();
      return x.body.reasons.some((s) => s.startsWith('digest: unreachable')) ? x : undefined;
    }, 'digest unreachable', 15_000, 100);
    expect([r.code, r.body.status]).toEqual([200, 'degraded']);

    // a doctor run that hangs is killed on shutdown, and the probe exits promptly
    writeFileSync(join(dir, 'hang'), '');
    await waitFor(() => {
      try {
        return readFileSync(join(dir, 'sleep-pid'), 'utf8') !== '';
      } catch {
        return false;
      }
    }, 'a hanging doctor run', 5000);
    const t = Date.now();
    probe.child.kill('SIGTERM');
    expect(await probe.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - t).toBeLessThan(3000);
    expect(probe.stderr()).toContain('"msg":"probe stopped"');
    expect(probe.stderr().split('\n').filter((l) => l !== '' && !l.startsWith('{'))).toEqual([]);
  }, 45_000);

  it('bad flags and a missing policy: exit 2 with one line on stderr', async () => {
    const dir = tmp('pcli');
    const policy = writePolicy(dir);
    const ok = ['probe', 'serve', '--tenant', 'acme', '--listen', '127.0.0.1:0', '--policy', policy];
    const cases: [string[], RegExp][] = [
      [['probe', 'serve', '--listen', '127.0.0.1:0'], /required option '--tenant <id>' not specified/],
      [['probe', 'serve', '--tenant', 'acme'], /required option '--listen <host:port>' not specified/],
      [[...ok, '--bogus'], /unknown option '--bogus'/],
      [['probe', 'serve', '--tenant', 'Not_A_Tenant', '--listen', '127.0.0.1:0', '--policy', policy], /--tenant "Not_A_Tenant": not a tenant id/],
      [['probe', 'serve', '--tenant', 'acme', '--listen', 'localhost', '--policy', policy], /--listen "localhost": expected host:port/],
      [[...ok, '--gateway-url', 'ftp://x'], /--gateway-url "ftp:\/\/x": expected an http\(s\) URL/],
      [['probe', 'serve', '--tenant', 'acme', '--listen', '127.0.0.1:0', '--policy', join(dir, 'missing.json')], /policy .*missing\.json: ENOENT/],
      [['probe', 'serve', '--tenant', 'globex', '--listen', '127.0.0.1:0', '--policy', policy], /written for tenant "acme", not "globex"/],
    ];
    // a few as real processes (process exit code), all through main() (same code path, no process start-up)
    await expectUsageErrors(cases, [0, 3, 6]);
  }, 30_000);

  it('without --gateway-url the port comes from the openclaw.json beside the policy', () => {
    const dir = tmp('pcli');
    const policy = writePolicy(dir);
    const base = { tenant: 'acme', listen: '127.0.0.1:0', policy, digestUrl: 'http://127.0.0.1:9099/v1/webhook-digest', openclaw: 'openclaw' };
    expect(probeOptionsFromFlags(base, memLogger().logger).gatewayUrl).toBe(`http://127.0.0.1:${DEFAULT_GATEWAY_PORT}`);
    writeFileSync(join(dir, 'policy', 'openclaw.json'), JSON.stringify({ gateway: { port: 18809 } }));
    const o = probeOptionsFromFlags(base, memLogger().logger);
    expect(o.gatewayUrl).toBe('http://127.0.0.1:18809');
    expect(o.configPath).toBe(join(dir, 'policy', 'openclaw.json'));
    expect(o.exportStateDir).toBe(false);
  });
});
