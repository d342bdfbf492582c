/**
 * plan() shares work across the nodes of one call (per-tenant secret lists and paths, patches of nodes that differ
 * the same way): over simulated nodes with every drift, one plan() of all nodes is exactly the nodes planned one by
 * one, and equal patches are one string only where the redaction was the same.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { DesiredState, NodeSpec } from '../../reconciler/desired/types.js';
import { parseObservation } from '../../reconciler/observe/parse-observation.js';
import type { ObserveResult } from '../../reconciler/observe/types.js';
import { plan } from '../../reconciler/plan/plan.js';
import { simStdout, type ObserveTemplate, type SimDrift } from '../../bench/lib/sim-node.js';
import { captureTemplate } from '../../bench/lib/sim-template.js';
import { exampleDesired } from '../plan/fixtures.js';

let desired: DesiredState;
let tpl: ObserveTemplate;
const tenants = ['acme', 'globex', 'initech'];
const spec = (name: string): NodeSpec => ({ name, host: `${name}.sim.invalid`, port: 22, user: 'clawops', role: 'gateway', canary: false, transport: 'ssh', tenants });

beforeAll(async () => {
  desired = exampleDesired();
  tpl = await captureTemplate(desired, tenants, { commit: 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00' });
});

describe('plan over many nodes', () => {
  it('is the nodes planned one by one, drifts and redaction included', () => {
    const drifts: SimDrift[][] = [[], ['hand-edited'], ['not-deployed'], ['hand-edited'], ['not-deployed'], ['service-stopped', 'token-rotation'], ['hand-edited', 'token-rotation']];
    const nodes = drifts.map((_, i) => spec(`n${i}`));
    const observed: ObserveResult[] = drifts.map((drift, i) => {
      const o = parseObservation(`n${i}`, simStdout(tpl, desired, tenants, drift), { commands: 1, durationMs: 0 });
      // node 3 holds other secrets than node 1 (different fingerprints: its patches are redacted for its own)
      if (i === 3) o.tenants.acme!.tokens['token.current'] = { present: true, mode: '600', mtime: 1, fingerprint: '0123456789ab' };
      return { node: `n${i}`, ok: true, observation: o };
    });
    const all = plan(desired, observed, nodes);
    const one = nodes.map((n) => plan(desired, observed, [n]).nodes[0]);
    expect(all.nodes).toEqual(one);
    const patch = (i: number): string => all.nodes[i]!.diffs.find((x) => x.path === 'openclaw.json')!.patch;
    expect(patch(1)).toMatch(/^--- a\/acme\/openclaw.json/m);
    // nodes 2 and 4 (not deployed, same secrets) share patches; node 3's are made for its own fingerprints (no word
    // of openclaw.json matches them, so the text is the same)
    expect(all.nodes[2]!.diffs.length).toBeGreaterThan(0);
    expect(all.nodes[2]!.diffs).toEqual(all.nodes[4]!.diffs);
    expect(patch(1)).toBe(patch(3));
  });
});
