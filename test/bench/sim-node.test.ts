/**
 * The scale benchmark's simulated nodes (bench/lib/sim-node.ts) answer what a real node prints: checked against the
 * real observe script run over the local transport on a node laid out in sync, and through the real parser, planner
 * and controller connection pool.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { askNode } from '../../reconciler/controller/health-stage.js';
import type { DesiredState, NodeSpec } from '../../reconciler/desired/types.js';
import { expectations } from '../../reconciler/observe/observe-node.js';
import { parseObservation } from '../../reconciler/observe/parse-observation.js';
import { plan } from '../../reconciler/plan/plan.js';
import { driftFor, observeStdout, SimPool, simStdout, SimTransport, templateFromJson, templateToJson, type ObserveTemplate, type SimDrift } from '../../bench/lib/sim-node.js';
import { captureTemplate } from '../../bench/lib/sim-template.js';
import { exampleDesired } from '../plan/fixtures.js';

const COMMIT = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';
let desired: DesiredState;
let tpl: ObserveTemplate;
const spec = (name: string, tenants: string[]): NodeSpec => ({ name, host: `${name}.sim.invalid`, port: 22, user: 'clawops', role: 'gateway', canary: false, transport: 'ssh', tenants });

beforeAll(async () => {
  desired = exampleDesired();
  tpl = await captureTemplate(desired, ['acme', 'globex', 'initech'], { commit: COMMIT });
});

describe('simulated nodes', () => {
  it('answer observe byte for byte as the real script on a node in sync, but for the clock and the locked CLI', () => {
    const real = (JSON.parse(tpl.raw) as { records: string[][] }).records;
    const sim = (JSON.parse(simStdout(tpl, desired, ['acme', 'globex', 'initech'], [], 1_800_000_000)) as { records: string[][] }).records;
    expect(sim.length).toBe(real.length);
    const differ = sim.flatMap((r, i) => (JSON.stringify(r) === JSON.stringify(real[i]) ? [] : [r[0]]));
    expect(differ).toEqual(['now', 'daemon', 'version']);
    expect(sim.find((r) => r[0] === 'daemon')).toEqual(['daemon', '/usr/local/lib/node_modules/openclaw/openclaw.mjs', desired.lock.daemon.sha256]);
    // a subset of tenants is exactly the real records of those tenants
    const one = (JSON.parse(simStdout(tpl, desired, ['globex'])) as { records: string[][] }).records;
    expect(one.filter((r) => ['link', 'file', 'manifestj', 'run', 'token'].includes(r[0]!)).every((r) => r[1] === 'globex')).toBe(true);
    expect(one.filter((r) => r[0] === 'svc').map((r) => r[1])).toEqual(['ai.openclaw.globex']);
    // what the transport sends (rendered once per tenants and drift, then only the clock changes) is the same bytes
    for (const drift of [[], ['hand-edited'], ['not-deployed', 'token-rotation']] as SimDrift[][]) {
      for (const now of [1_800_000_000, 1_800_000_042]) {
        expect(observeStdout(tpl, expectations(desired, ['acme', 'globex']), drift, now)).toBe(simStdout(tpl, desired, ['acme', 'globex'], drift, now));
      }
    }
  });

  it('in sync plans InSync; each drift is what the planner finds', () => {
    const tenants = ['acme', 'globex'];
    const cases: [SimDrift[], string, string | undefined][] = [
      [[], 'InSync', undefined],
      [['hand-edited'], 'Drifted', 'Drifted'],
      [['not-deployed'], 'OutOfSync', 'NotDeployed'],
      [['service-stopped'], 'InSync', 'ServiceNotRunning'],
      [['token-rotation'], 'InSync', 'TokenOverlap'],
    ];
    const observed = cases.map(([drift], i) => ({ node: `n${i}`, ok: true as const, observation: parseObservation(`n${i}`, simStdout(tpl, desired, tenants, drift), { commands: 1, durationMs: 0 }, expectations(desired, tenants)) }));
    const p = plan(desired, observed, cases.map((_, i) => spec(`n${i}`, tenants)));
    cases.forEach(([drift, status, reason], i) => {
      const np = p.nodes[i]!;
      expect(np.status, drift.join()).toBe(status);
      expect(np.issues.map((x) => x.reason), drift.join()).toEqual(reason ? [reason] : []);
      if (reason) expect(np.issues[0]!.tenant).toBe('acme');
    });
    // the hand-edited file's old content came with the observation: the diff is a real unified diff
    expect(p.nodes[1]!.diffs[0]!.patch).toMatch(/^--- /m);
  });

  it('work through the controller pool: one observe command a node, the health command answered, nothing else', async () => {
    const pool = new SimPool((n) => new SimTransport(n.name, tpl, driftFor(0)));
    const r = await pool.observe(spec('gw-1', ['acme']), desired);
    expect(r.ok).toBe(true);
    const t = (await pool.get(spec('gw-1', ['acme']), desired.settings)) as SimTransport;
    const health = await askNode(t, desired.settings.paths.etc, 0, { tenants: ['acme'] }, () => new Date());
    expect(health.probes.acme?.status).toBe('ok');
    const other = await t.exec('sh -c true');
    expect(other.code).toBe(127);
    await expect(t.files.mkdirp('/etc/openclaw/x')).rejects.toThrow(/not simulated/);
    expect(pool.totals()).toMatchObject({ commands: 3, observes: 1, healthChecks: 1 });
  });

  it('a template survives JSON with its commit rebased', () => {
    const back = templateFromJson(templateToJson(tpl), { from: COMMIT, to: 'f'.repeat(40) });
    expect(back.records.length).toBe(tpl.records.length);
    expect(JSON.stringify(back.records)).not.toContain(COMMIT);
    expect(back.records.some((r) => r[0] === 'run' && r[2]!.includes('f'.repeat(40)))).toBe(true);
  });
});
