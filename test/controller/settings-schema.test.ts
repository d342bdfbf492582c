/** clawops.yaml `refs:` and `gating:` as the schema and the defaults see them (what the controller reads). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONTROLLER_DEFAULTS, controllerSettings, gatingFor } from '../../reconciler/controller/settings.js';
import { settingsWithDefaults } from '../../reconciler/desired/defaults.js';
import { EXAMPLE, exampleRepo, findingLines, runCli } from '../helpers/repo.js';

const base = readFileSync(join(EXAMPLE, 'clawops.yaml'), 'utf8').replace(/^(refs|gating):.*\n(?:[ \t]+.*\n)*/gm, '');

describe('refs and gating in clawops.yaml', () => {
  it('default as the issue says, in desired/defaults.ts and the controller alike', () => {
    expect(settingsWithDefaults({})).toMatchObject({ refs: { canary: 'refs/heads/main', fleet: 'refs/tags/release/*' }, gating: { green_passes: 2, allow_degraded: false, require_replay: false } });
    // the controller leaves require_replay unset: replay is then required for a commit that records fixtures
    expect(CONTROLLER_DEFAULTS).toEqual({ refs: { canary: 'refs/heads/main', fleet: 'refs/tags/release/*' }, gating: { green_passes: 2, allow_degraded: false } });
    expect(gatingFor(CONTROLLER_DEFAULTS.gating, true)).toEqual({ green_passes: 2, allow_degraded: false, require_replay: true });
    expect(gatingFor(CONTROLLER_DEFAULTS.gating, false)).toEqual({ green_passes: 2, allow_degraded: false, require_replay: false });
    expect(gatingFor({ ...CONTROLLER_DEFAULTS.gating, require_replay: false }, true).require_replay).toBe(false);
    expect(gatingFor({ ...CONTROLLER_DEFAULTS.gating, require_replay: true }, false).require_replay).toBe(true);
  });

  it('tenants-example sets the controller defaults: refs, two green passes, replay by default (it records fixtures)', () => {
    const text = readFileSync(join(EXAMPLE, 'clawops.yaml'), 'utf8');
    expect(controllerSettings(text)).toEqual({ refs: { canary: 'refs/heads/main', fleet: 'refs/tags/release/*' }, gating: { green_passes: 2, allow_degraded: false } });
    expect(settingsWithDefaults(parse(text) as Parameters<typeof settingsWithDefaults>[0]).refs).toEqual(CONTROLLER_DEFAULTS.refs);
  });

  it('lint accepts them and the controller reads them', async () => {
    const yaml = `${base}refs:\n  canary: refs/heads/next\n  fleet: release/*\ngating:\n  green_passes: 3\n  allow_degraded: true\n  require_replay: true\n`;
    const r = await runCli(['lint', exampleRepo({ 'clawops.yaml': yaml })]);
    expect(r.stdout + r.stderr).not.toMatch(/clawops\.yaml/);
    expect(controllerSettings(yaml)).toEqual({ refs: { canary: 'refs/heads/next', fleet: 'release/*' }, gating: { green_passes: 3, allow_degraded: true, require_replay: true } });
  });

  it('lint refuses bad values with the file, line and key', async () => {
    const yaml = `${base}refs:\n  fleet: "--upload-pack=x"\ngating:\n  green_passes: 0\n  allow_degraded: maybe\n  bogus: 1\n`;
    const r = await runCli(['lint', exampleRepo({ 'clawops.yaml': yaml })]);
    expect(r.code).toBe(1);
    const lines = findingLines(r.stdout).filter((l) => l.startsWith('clawops.yaml:'));
    expect(lines.map((l) => l.replace(/^clawops\.yaml:\d+:\d+: error: /, '').replace(/ \[.*$/, ''))).toEqual([
      'refs.fleet: does not match ^(?!-)(?!.*\\.\\.)\\S+$',
      'gating.green_passes: must be >= 1',
      'gating.allow_degraded: must be boolean',
      'gating.bogus: unknown key "bogus"',
    ]);
  });
});
