/** Where a release answers readiness on a node, read from the release itself (its port may differ from the repo's). */
import { shQuote, type Transport } from '../transport/transport.js';
import { DEFAULT_GATEWAY_PORT } from '../desired/build-desired.js';
import { PROBE_PORT_OFFSET } from '../units/render-units.js';

/**
 * Where release `id` of `tenant` answers readiness on the node: its gateway port from the release's own
 * openclaw.json, or the composite probe (port + 115) when the release ships a probe unit. Undefined: the release
 * has no launchd units (rendered before services existed), so there is nothing to reload.
 */
export async function releaseHealth(t: Transport, etc: string, tenant: string, id: string, portOffset = 0): Promise<{ url: string } | undefined> {
  const script = 'R="$1/releases/$2/$3"; [ -d "$R/launchd" ] || exit 0; [ -f "$R/launchd/ai.openclaw.$2.probe.plist" ] && echo probe; cat "$R/openclaw.json"';
  const r = await t.exec(`sh -c ${shQuote(script)} clawops ${shQuote(etc)} ${shQuote(tenant)} ${shQuote(id)}`, { timeoutMs: 15_000 });
  if (r.code !== 0 || r.stdout.trim() === '') return undefined;
  const probe = r.stdout.startsWith('probe\n');
  let port = 0;
  try {
    const cfg = JSON.parse(probe ? r.stdout.slice(6) : r.stdout) as { gateway?: { port?: unknown } };
    port = typeof cfg.gateway?.port === 'number' ? cfg.gateway.port : DEFAULT_GATEWAY_PORT;
  } catch {
    port = DEFAULT_GATEWAY_PORT;
  }
  return { url: `http://127.0.0.1:${probe ? port + PROBE_PORT_OFFSET : port + portOffset}/readyz` };
}

