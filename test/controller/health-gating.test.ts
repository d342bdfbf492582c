/**
 * The controller's health stage on local nodes with services (the repo's unit runs the fake gateway through the real
 * secret wrapper and the launchctl stand-in): green passes count on what the tenant's readiness route answers ON THE
 * NODE, not on launchd alone. The canary's gateway is made to answer a composite-probe `degraded` (the fake gateway's
 * fake-readyz.json): the canary is Degraded (ProbeDegraded), its green passes stay 0 and the fleet stays Gated with
 * the reason; once it answers ok again, two green passes prove the commit and it fans out. A notifier node (a real
 * digest server of the notifier on its port block) has its digest rows in the store, and `clawops status --state-dir`
 * shows them in text and JSON. specs/controller.md "Health".
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { FailureDigest } from '../../reconciler/notifier/digest.js';
import { startDigestServer, type HttpHandle } from '../../reconciler/notifier/server.js';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { openclawCache } from '../helpers/openclaw.js';
import { makeLocalNodes, node } from './helpers.js';

const CLI = join(process.cwd(), 'bin/clawops');
const NOTIFIER_BASE = 9099; // clawops.yaml notifier.listen 127.0.0.1:9099

/** the notifier's real digest server on a free port above 9099 (the notifier node's port_offset moves it there) */
async function notifierOn(): Promise<{ h: HttpHandle; offset: number; digest: FailureDigest }> {
  const digest = new FailureDigest({ windowSec: 300, maxKeys: 100 });
  for (let i = 0; i < 50; i++) {
    const offset = 20_000 + Math.floor(Math.random() * 19_000);
    try {
      const h = await startDigestServer({ listen: { host: '127.0.0.1', port: NOTIFIER_BASE + offset }, current: () => ({ snapshot: digest.snapshot(Date.now()), computedAtMs: Date.now() }) });
      return { h, offset, digest };
    } catch {
      /* taken: another port */
    }
  }
  throw new Error('no free port for the notifier');
}

describe.skipIf(!openclawCache())('health stage: readiness asked on the node gates green passes; notifier digest rows in status', () => {
  let lc: LocalController | undefined;
  let notifier: HttpHandle | undefined;
  afterEach(async () => {
    await lc?.close();
    await notifier?.close();
  });

  it('a canary whose probe says degraded counts no green pass (fleet Gated, reason named); ok counts and fans out; digest rows in status text and JSON', async () => {
    const n = await notifierOn();
    notifier = n.h;
    const t = Date.now();
    for (let i = 0; i < 3; i++) n.digest.add({ tenant: 'acme', origin: 'https://canary.example.com', status: 503, timeMs: t }, t);
    n.digest.add({ tenant: 'acme', origin: 'https://hooks.example.org', status: 'timeout', timeMs: t }, t);
    const nw = makeLocalNodes(['nw-1'], []);
    lc = localController({
      nodes: [
        { name: 'gw-1', canary: true, tenants: ['acme'] },
        { name: 'gw-2', tenants: ['acme'] },
      ],
      secretsFor: ['acme'],
      services: true,
      extraNodes: `  - { name: nw-1, host: localhost, transport: local, root: ${nw.root('nw-1')}, role: notifier, port_offset: ${n.offset}, tenants: [] }\n`,
      prefix: 'clawops-ctl-health-',
    });
    const { nodes, origin } = lc;
    const c1 = origin.head();
    origin.tag('release/1', c1, { date: '2026-11-01T00:00:00Z' });
    const { c, log } = await lc.start();

    // pass 1: the canary is applied (apply's own health gate); nothing asked there this pass
    await c.runPass();
    let s = c.status();
    expect(node(s, 'gw-1').state).toBe('Progressing');
    expect(node(s, 'gw-1').tenants.acme!.probe).toBeUndefined();

    // the canary's gateway now answers a composite-probe "degraded" (200): launchd still says running
    const forced = join(nodes.root('gw-1'), 'var/db/openclaw/state/acme/fake-readyz.json');
    writeFileSync(forced, JSON.stringify({ code: 200, body: { status: 'degraded', tenant: 'acme', doctor: { state: 'yellow', findings: [{ checkId: 'core/doctor/sessions' }] }, gateway: { state: 'ready' }, disk: { state: 'ok' }, queue: { state: 'ok' }, digest: { state: 'fresh' }, failures: [], reasons: ['doctor: secret-ish text'] } }));
    for (let i = 0; i < 2; i++) await c.runPass();
    s = c.status();
    expect(node(s, 'gw-1')).toMatchObject({ state: 'Degraded', reason: 'ProbeDegraded', health: { status: 'degraded' } });
    expect(node(s, 'gw-1').tenants.acme).toMatchObject({ health: { status: 'degraded', service: 'running' }, probe: { source: 'gateway', status: 'degraded', code: 200, checks: ['doctor:yellow', 'doctor/core/doctor/sessions'] } });
    expect(JSON.stringify(node(s, 'gw-1'))).not.toContain('secret-ish');
    expect(s.commits[c1]?.canaries['gw-1']).toMatchObject({ running: true, greenPasses: 0, health: 'degraded', note: 'health degraded (gating.allow_degraded is false)' });
    expect(node(s, 'gw-2')).toMatchObject({ state: 'Gated' });
    expect(node(s, 'gw-2').message).toContain(`canary gw-1 has been green on ${c1.slice(0, 7)} for 0 of 2 passes (health degraded (gating.allow_degraded is false))`);
    expect(log.lines().some((l) => l.stage === 'health' && l.node === 'gw-1' && String(l.msg).includes('acme gateway degraded'))).toBe(true);

    // the notifier node's digest: rows kept (origins, counts), worst first
    expect(node(s, 'nw-1').webhookDigest).toMatchObject({ windowSec: 300, total: 4, keys: 2, rows: [{ tenant: 'acme', endpoint: 'https://canary.example.com', family: '5xx', count: 3, statuses: { '503': 3 } }, { tenant: 'acme', endpoint: 'https://hooks.example.org', family: 'timeout', count: 1 }] });

    // ok again: two green passes prove c1, and it fans out to gw-2 in the second
    rmSync(forced);
    await c.runPass();
    s = c.status();
    expect(node(s, 'gw-1')).toMatchObject({ state: 'Synced', health: { status: 'ok' }, tenants: { acme: { probe: { status: 'ok', code: 200 } } } });
    expect(s.commits[c1]?.canaries['gw-1']).toMatchObject({ greenPasses: 1 });
    expect(node(s, 'gw-2').state).toBe('Gated');
    await c.runPass();
    s = c.status();
    expect(s.commits[c1]).toMatchObject({ verdict: 'proven', canaries: { 'gw-1': { greenPasses: 2 } } });
    expect(node(s, 'gw-2').state).toBe('Progressing');
    await c.close();

    // clawops status --state-dir: the webhook failures block (text) and the rows (JSON)
    const run = (args: string[]): Promise<{ stdout: string; code: number }> =>
      promisify(execFile)(CLI, args, { env: { ...process.env, NO_COLOR: '1' } }).then(
        (r) => ({ stdout: r.stdout, code: 0 }),
        (e: { stdout?: string; code?: number }) => ({ stdout: e.stdout ?? '', code: e.code ?? -1 }),
      );
    const text = await run(['status', '--state-dir', lc.stateDir]);
    expect(text.stdout).toContain('Webhook failures (notifier digests)');
    expect(text.stdout).toMatch(/nw-1: 4 failure\(s\), 2 key\(s\) \(last 300 s, read /);
    expect(text.stdout).toContain('acme https://canary.example.com 5xx ×3 (503:3)');
    const json = JSON.parse((await run(['status', '--state-dir', lc.stateDir, '--json'])).stdout) as { webhookFailures: { notifiers: { node: string; total: number }[]; rows: { node: string; tenant: string; endpoint: string; count: number }[] }; nodes: { node: string; tenants: { tenant: string; probe?: { status: string }; webhookFailures?: { count: number } }[] }[] };
    expect(json.webhookFailures.notifiers).toMatchObject([{ node: 'nw-1', total: 4 }]);
    expect(json.webhookFailures.rows[0]).toMatchObject({ node: 'nw-1', tenant: 'acme', endpoint: 'https://canary.example.com', count: 3 });
    const gw1 = json.nodes.find((x) => x.node === 'gw-1')!;
    expect(gw1.tenants[0]).toMatchObject({ tenant: 'acme', probe: { status: 'ok' }, webhookFailures: { count: 4 } });
  }, 240_000);
});
