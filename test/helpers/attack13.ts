/** Helpers for the openclaw-*-attacks-13 tests: a temp HOME, and process.env set for one call (restored after). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `clawops-a13-${prefix}-`));
}

/** Run `fn` with these variables set in process.env (undefined deletes), then put the old values back. */
export async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const old: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    old[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(old)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Variables an operator's shell may export that point OpenClaw at their own profile: unset for a clean baseline. */
export const OPENCLAW_OPERATOR_VARS = ['OPENCLAW_HOME', 'OPENCLAW_STATE_DIR', 'OPENCLAW_INCLUDE_ROOTS', 'OPENCLAW_PROFILE', 'OPENCLAW_CONFIG_PATH'];
export const CLEAN_OPENCLAW_ENV: Record<string, undefined> = Object.fromEntries(OPENCLAW_OPERATOR_VARS.map((k) => [k, undefined]));
