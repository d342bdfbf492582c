/**
 * Where readiness is asked: one formula for apply's health gate (from the release it swaps in) and the controller's
 * health stage. The probe unit is rendered per tenant, not per node: it listens on base + 115 whatever the node's
 * port_offset; the gateway runs on base + offset (`gateway run --port` adds it at start).
 */
import { describe, expect, it } from 'vitest';
import { gatewayPortIn, readinessUrl, releaseReadiness } from '../../reconciler/units/readiness.js';

const files = (...paths: string[]): { path: string }[] => paths.map((path) => ({ path }));

describe('readiness URL', () => {
  it('a release with a probe unit is asked on base + 115, without the node offset', () => {
    const r = releaseReadiness('acme', files('openclaw.json', 'launchd/ai.openclaw.acme.plist', 'launchd/ai.openclaw.acme.probe.plist'), 18800);
    expect(r).toEqual({ probe: true, gatewayPort: 18800 });
    expect(readinessUrl(r, 200)).toEqual({ source: 'probe', url: 'http://127.0.0.1:18915/readyz' });
  });

  it('without a probe unit the gateway is asked on base + offset', () => {
    const r = releaseReadiness('acme', files('openclaw.json', 'launchd/ai.openclaw.acme.plist'), 18800);
    expect(readinessUrl(r, 200)).toEqual({ source: 'gateway', url: 'http://127.0.0.1:19000/readyz' });
  });

  it("another tenant's probe plist is not this tenant's probe", () => {
    expect(releaseReadiness('acme', files('launchd/ai.openclaw.globex.probe.plist'), 18800).probe).toBe(false);
  });

  it('gateway.port of openclaw.json, the default when absent or not a port', () => {
    expect(gatewayPortIn('{"gateway":{"port":19000}}')).toBe(19000);
    expect(gatewayPortIn('{"gateway":{}}')).toBeUndefined();
    expect(gatewayPortIn('{"gateway":{"port":"19000"}}')).toBeUndefined();
    expect(gatewayPortIn('not json')).toBeUndefined();
    expect(readinessUrl({ probe: false }, 0).url).toBe('http://127.0.0.1:18789/readyz');
  });
});
