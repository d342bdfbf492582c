// vitest globalSetup: make sure the default OpenClaw version is in the shared cache before any fleet
// test asks a node for `openclaw`. Idempotent and instant when the cache is complete; ~1 min cold.
// Without root (or without sshd) the fleet tests skip themselves, so there is nothing to install.
import { defaultOpenclawVersion, ensureOpenclawCache, fleetAvailable, openclawCached } from './fleet.js';

export default async function setup(): Promise<void> {
  const avail = fleetAvailable();
  if (!avail.ok) {
    console.warn(`[fleet] not installing OpenClaw: ${avail.reason ?? 'fleet unavailable'}; fleet tests will skip`);
    return;
  }
  const version = defaultOpenclawVersion();
  if (openclawCached(version)) return;
  console.warn(`[fleet] installing OpenClaw ${version} into the cache (scripts/install-openclaw-cache.sh), ~1 min`);
  await ensureOpenclawCache(version);
}
