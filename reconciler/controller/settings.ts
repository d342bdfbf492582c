/**
 * The controller's own settings from `clawops.yaml` (`refs:` and `gating:`, schemas/clawops.schema.json), read from
 * the raw file of the default branch so the loop can decide which commits to pin before any commit's desired state is
 * built (the same keys are checked again, by the schema, when a commit is built). Defaults (desired/defaults.ts):
 *   refs.canary  refs/heads/main         (a merged PR goes to the canaries)
 *   refs.fleet   refs/tags/release/*     (the newest release/ tag by tag date; a branch or tag name works too)
 *   gating.green_passes 2, gating.allow_degraded false
 *   gating.require_replay: unset → required for a commit whose tree has recorded fixtures (fixtures/webhooks/*.json,
 *                          issue 10: "every recorded fixture … was replayed from a canary node"); true → always
 *                          (a commit without fixtures passes with nothing to replay); false → off
 * (desired/defaults.ts turns an unset require_replay into false for everyone else; the controller reads the raw
 * file, so it can tell "unset" from "false".)
 */
import { parse } from 'yaml';
import { settingsWithDefaults } from '../desired/defaults.js';
import type { Settings } from '../desired/types.js';
import { ValidationError } from '../errors.js';

/** The bar one commit is judged by: require_replay resolved for that commit (gatingFor). */
export type GatingSettings = Settings['gating'];

export interface ControllerSettings {
  refs: Settings['refs'];
  /** as written: require_replay absent means "when the commit has recorded fixtures" */
  gating: Omit<GatingSettings, 'require_replay'> & { require_replay?: boolean };
}

/** the defaults clawops.yaml has everywhere (desired/defaults.ts); require_replay left unset */
export const CONTROLLER_DEFAULTS: ControllerSettings = (() => {
  const d = settingsWithDefaults({});
  return { refs: d.refs, gating: { green_passes: d.gating.green_passes, allow_degraded: d.gating.allow_degraded } };
})();

/** Pure: the bar for one commit. Replay is required when set so, or when unset and the commit records fixtures. */
export function gatingFor(g: ControllerSettings['gating'], commitHasFixtures: boolean): GatingSettings {
  return { green_passes: g.green_passes, allow_degraded: g.allow_degraded, require_replay: g.require_replay ?? commitHasFixtures };
}

/** Pure: settings from the text of clawops.yaml (undefined: no such file → defaults). Bad values are refused. */
export function controllerSettings(text: string | undefined, file = 'clawops.yaml'): ControllerSettings {
  if (text === undefined) return structuredClone(CONTROLLER_DEFAULTS);
  let doc: unknown;
  try {
    doc = parse(text, { maxAliasCount: 100 });
  } catch (e) {
    throw new ValidationError(`${file}: not valid YAML: ${(e as Error).message.split('\n')[0] ?? ''}`);
  }
  const root = doc !== null && typeof doc === 'object' ? (doc as Record<string, unknown>) : {};
  const out = structuredClone(CONTROLLER_DEFAULTS);
  const bad = (key: string, want: string): never => {
    throw new ValidationError(`${file}: ${key}: ${want}`);
  };
  const section = (name: string): Record<string, unknown> => {
    const v = root[name];
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) return bad(name, 'must be a mapping');
    return v as Record<string, unknown>;
  };
  const refs = section('refs');
  for (const k of ['canary', 'fleet'] as const) {
    const v = refs[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.trim() === '' || /\s|\.\.|^-/.test(v)) bad(`refs.${k}`, 'must be a ref name (refs/heads/main, main, release/*)');
    out.refs[k] = v as string;
  }
  const gating = section('gating');
  if (gating.green_passes !== undefined) {
    const n = gating.green_passes;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 100) bad('gating.green_passes', 'must be a whole number from 1 to 100');
    out.gating.green_passes = n as number;
  }
  for (const k of ['allow_degraded', 'require_replay'] as const) {
    const v = gating[k];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') bad(`gating.${k}`, 'must be true or false');
    out.gating[k] = v as boolean;
  }
  return out;
}
