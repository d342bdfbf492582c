/** Where a release answers readiness on a node, read from the release itself (its port may differ from the repo's). */
import { shQuote, type Transport } from '../transport/transport.js';
import { gatewayPortIn, readinessUrl } from '../units/readiness.js';

/**
 * Where release `id` of `tenant` answers readiness on the node: its gateway port from the release's own
 * openclaw.json, or the composite probe (port + 115) when the release ships a probe unit. Undefined: the release
 * has no launchd units (rendered before services existed), so there is nothing to reload.
 */
export async function releaseHealth(t: Transport, etc: string, tenant: string, id: string, portOffset = 0): Promise<{ url: string } | undefined> {
  // (never through a link: a launchd/ or a plist planted as one is not the release's, as unit_reload judges it; the
  // config read with a bound, only when it is a regular file)
  const script = 'R="$1/releases/$2/$3"; [ -d "$R/launchd" ] && [ ! -L "$R/launchd" ] || exit 0; P="$R/launchd/ai.openclaw.$2.probe.plist"; [ -f "$P" ] && [ ! -L "$P" ] && echo probe; [ -f "$R/openclaw.json" ] && [ ! -L "$R/openclaw.json" ] && head -c 1048576 "$R/openclaw.json"';
  const r = await t.exec(`sh -c ${shQuote(script)} clawops ${shQuote(etc)} ${shQuote(tenant)} ${shQuote(id)}`, { timeoutMs: 15_000 });
  if (r.code !== 0 || r.stdout.trim() === '') return undefined;
  const probe = r.stdout.startsWith('probe\n');
  const gatewayPort = gatewayPortIn(probe ? r.stdout.slice(6) : r.stdout);
  return { url: readinessUrl({ probe, ...(gatewayPort !== undefined ? { gatewayPort } : {}) }, portOffset).url };
}

