/**
 * Where a tenant's release answers readiness on its node: one formula for the controller's health stage
 * (health-stage.ts, from what observe saw of the current release) and apply's health gate (apply/release-health.ts,
 * from the release it swapped in). Pure; in units/ beside the probe port it reads, so neither the controller nor apply imports the other.
 */
import { DEFAULT_GATEWAY_PORT } from '../desired/build-desired.js';
import { PROBE_PORT_OFFSET } from './render-units.js';

export interface ReleaseReadiness {
  /** the release ships a probe unit (launchd/ai.openclaw.<tenant>.probe.plist): the composite probe answers */
  probe: boolean;
  /** gateway.port of the release's own openclaw.json (undefined: none there, the OpenClaw default) */
  gatewayPort?: number;
}

/**
 * The readiness URL: the composite probe on gateway.port + 115 (`clawops probe serve` adds the node's port offset to
 * nothing: the probe unit is rendered with its final port), else the gateway's own /readyz on gateway.port + the
 * node's port offset (the offset `gateway run --port` adds at run time).
 */
export function readinessUrl(r: ReleaseReadiness, portOffset: number): { source: 'probe' | 'gateway'; url: string } {
  const port = r.gatewayPort ?? DEFAULT_GATEWAY_PORT;
  return r.probe ? { source: 'probe', url: `http://127.0.0.1:${port + PROBE_PORT_OFFSET}/readyz` } : { source: 'gateway', url: `http://127.0.0.1:${port + portOffset}/readyz` };
}

/** gateway.port of an openclaw.json's text; undefined when it is not JSON or names no numeric port (the default then) */
export function gatewayPortIn(openclawJson: string): number | undefined {
  try {
    const cfg = JSON.parse(openclawJson) as { gateway?: { port?: unknown } } | null;
    const p = cfg?.gateway?.port;
    return typeof p === 'number' && Number.isInteger(p) && p > 0 && p < 65536 ? p : undefined;
  } catch {
    return undefined;
  }
}

/** What a release about to be swapped in says of its readiness: a probe unit among its files, its gateway port. */
export function releaseReadiness(tenant: string, files: readonly { path: string }[], gatewayPort: number): ReleaseReadiness {
  return { probe: files.some((f) => f.path === `launchd/ai.openclaw.${tenant}.probe.plist`), gatewayPort };
}
