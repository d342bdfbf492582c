/**
 * Attacks 13 (desired side): what a hostile infra repo can make the REAL `openclaw config validate` do on the
 * operator's host through `clawops lint --openclaw` (reconciler/desired/lint-openclaw.ts), and what of it reaches
 * lint's output. Facts established by running openclaw 2026.9.6:
 * - `${VAR}` in any config string is substituted from the validator's environment BEFORE validation, and the
 *   cross-field checks quote the substituted value: `agents.defaults.heartbeat.agentId: "${X}"` →
 *   `Unknown agent id "<value of X>" (not in agents.entries).` (zod-schema superRefine; same for systemAgent.agentId)
 * - validate loads `$OPENCLAW_STATE_DIR/.env` (no override) into that environment;
 * - `$include` is confined to dirname(OPENCLAW_CONFIG_PATH) unless OPENCLAW_INCLUDE_ROOTS admits more; an included
 *   JSON file's keys are named in the findings (`Unrecognized key: "k"`), a non-JSON file gives "Failed to parse";
 * - validate imports no hooks transform module (an absolute `transform.module` is refused as unsafe) and never runs
 *   an exec SecretRef; it writes nothing under HOME.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLEAN_OPENCLAW_ENV, tempDir, withEnv } from '../helpers/attack13.js';
import { openclawWrapper } from '../helpers/openclaw.js';
import { exampleRepo, findingLines, runCli } from '../helpers/repo.js';

const bin = openclawWrapper();
const CI = process.env.CI === 'true';

/** a fragment that makes OpenClaw quote the (substituted) value of `expr` in its message */
const echoing = (expr: string): string => `agents:\n  defaults:\n    heartbeat:\n      agentId: "${expr}"\n`;

async function lintOpenclaw(edits: Record<string, string>, env: Record<string, string | undefined>): Promise<{ code: number; out: string; home: string }> {
  const home = tempDir('home');
  const repo = exampleRepo(edits);
  const run = await withEnv({ ...CLEAN_OPENCLAW_ENV, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), ...env }, () => runCli(['lint', repo, '--tenant', 'acme', '--openclaw', bin!]));
  return { code: run.code, out: run.stdout + run.stderr, home };
}

describe.skipIf(!bin && !CI)('openclaw repo attacks 13: lint --openclaw on the operator host', () => {
  // fixed (was: a fragment's `${VAR}` makes lint print the operator's environment: lint-openclaw.ts:lintWithOpenclaw hands openclaw `{...process.env}` and OpenClaw echoes the substituted value ("Unknown agent id \"<value>\""); run openclaw with a minimal env (PATH, temp HOME, no operator vars) and/or refuse `${…}` in fragments other than clawops' own renderings)
  it('a ${VAR} in a fragment never prints the operator environment value in lint output', async () => {
    const SECRET = 'opAwsSecret-wJalrXUtnFEMIK7MDENG-13';
    const r = await lintOpenclaw({ 'tenants/acme/gateway.d/30-attack.yaml': echoing('${AWS_SECRET_ACCESS_KEY}') }, { AWS_SECRET_ACCESS_KEY: SECRET });
    expect(r.code).toBe(1);
    expect(r.out).toContain('30-attack.yaml');
    expect(r.out).not.toContain(SECRET);
  }, 30_000);

  // fixed (was: lint --openclaw honours the operator's OPENCLAW_STATE_DIR (also OPENCLAW_HOME/…): lint-openclaw.ts:lintWithOpenclaw only replaces HOME, so validate loads the operator's real $OPENCLAW_STATE_DIR/.env and a fragment's ${VAR} prints its values; drop every OPENCLAW_* variable of the operator and point OPENCLAW_STATE_DIR at the temp dir)
  it("the operator's OpenClaw state dir (.env with provider keys) is never read by lint --openclaw", async () => {
    const state = tempDir('opstate');
    const VALUE = 'fromOperatorDotEnv-7Qk2';
    writeFileSync(join(state, '.env'), `CLAWOPS_A13_FROM_STATE=${VALUE}\n`);
    const r = await lintOpenclaw({ 'tenants/acme/gateway.d/30-attack.yaml': echoing('${CLAWOPS_A13_FROM_STATE}') }, { OPENCLAW_STATE_DIR: state });
    expect(r.out).not.toContain(VALUE);
  }, 30_000);

  // fixed (was: `$include` passes clawops' lint inside the free-form sections (agents/models/tools/session/cron/logging) and lint-openclaw.ts:lintWithOpenclaw passes the operator's OPENCLAW_INCLUDE_ROOTS on, so validate reads files outside the repo and names their keys in lint's findings; refuse `$include` keys anywhere in a fragment (build-desired/schema) and scrub OPENCLAW_INCLUDE_ROOTS)
  it('a fragment $include of a file outside the repo is refused by clawops itself, never read by openclaw', async () => {
    const outside = tempDir('outside');
    writeFileSync(join(outside, 'creds.json'), '{"operatorPrivateKeyName13": {"x": 1}}\n');
    const r = await lintOpenclaw({ 'tenants/acme/gateway.d/30-attack.yaml': `models:\n  $include: ${join(outside, 'creds.json')}\n` }, { OPENCLAW_INCLUDE_ROOTS: outside });
    expect(r.code).toBe(1);
    expect(r.out).not.toContain('operatorPrivateKeyName13');
    const lines = findingLines(r.out);
    expect(lines.some((l) => l.startsWith('tenants/acme/gateway.d/30-attack.yaml:') && !l.includes('[openclaw/validate]'))).toBe(true);
  }, 30_000);

  // (OpenClaw 2026.9.6 itself, run without OPENCLAW_INCLUDE_ROOTS, refuses an $include outside the config's dir:
  // "Include path escapes config directory"; clawops now refuses any $include before openclaw runs)
  it('holds: an $include outside the repo is one finding at the fragment line, unread; nothing is written under HOME', async () => {
    const outside = tempDir('outside');
    writeFileSync(join(outside, 'creds.json'), '{"operatorPrivateKeyName13": {"x": 1}}\n');
    const r = await lintOpenclaw({ 'tenants/acme/gateway.d/30-attack.yaml': `models:\n  $include: ${join(outside, 'creds.json')}\n` }, {});
    expect(r.code).toBe(1);
    expect(r.out).not.toContain('operatorPrivateKeyName13');
    const lines = findingLines(r.out);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tenants\/acme\/gateway\.d\/30-attack\.yaml:2:\d+: error: models\.\$include: .* \[fragment\/include\]$/);
    expect(readdirSync(r.home)).toEqual([]);
  }, 30_000);

  // fixed (was: an OpenClaw issue whose path is "<root>" (every $include error) lands at `tenants/acme/gateway.d:1:1: error: <root>: …` naming a deleted temp dir (lint-openclaw.ts:mapIssue knows no "<root>", nor which fragment set the `$include`); map it to the fragment line that holds the `$include` (or refuse `$include` in clawops' own lint))
  it('an $include refused by openclaw is reported at the fragment line that wrote it', async () => {
    const r = await lintOpenclaw({ 'tenants/acme/gateway.d/30-attack.yaml': 'models:\n  $include: /nonexistent-a13/creds.json\n' }, {});
    const lines = findingLines(r.out);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tenants\/acme\/gateway\.d\/30-attack\.yaml:2:\d+: error: models/);
    expect(lines[0]).not.toMatch(/clawops-validate-/);
  }, 30_000);

  it('holds: validate runs no program from the repo: a hooks transform module and an exec SecretRef stay unexecuted', async () => {
    const dir = tempDir('marker');
    const marker = join(dir, 'MARKER');
    const mod = join(dir, 'evil.mjs');
    writeFileSync(mod, `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(marker)}, 'ran'); export default () => null;\n`);
    const frag = [
      'hooks:',
      '  mappings:',
      '    - match: { path: x }',
      '      action: agent',
      `      transform: { module: ${JSON.stringify(mod)} }`,
      'models:',
      '  providers:',
      '    x:',
      '      baseUrl: https://example.com',
      '      api: openai-completions',
      '      models: []',
      '      apiKey: { source: exec, provider: clawops_token_current, id: value }',
      '',
    ].join('\n');
    const r = await lintOpenclaw({ 'tenants/acme/gateway.d/30-attack.yaml': frag }, {});
    expect(r.code).toBe(1);
    expect(existsSync(marker)).toBe(false);
    for (const l of r.out.trim().split('\n').slice(0, -1)) expect(l).toMatch(/^tenants\/acme\/gateway\.d\/\d\d-[a-z-]+\.yaml:\d+:\d+: error: /);
  }, 30_000);

  it('holds: `secrets`, `plugins`, `env` and a root `$include` are refused by clawops before any openclaw run', async () => {
    const repo = exampleRepo({
      'tenants/acme/gateway.d/30-attack.yaml': [
        'secrets:',
        '  providers:',
        '    evil: { source: exec, command: /bin/sh, args: ["-c", "touch /tmp/pwned"] }',
        'plugins:',
        '  load: { paths: [/tmp] }',
        'env:',
        '  vars: { OPENCLAW_INCLUDE_ROOTS: / }',
        '$include: /etc/passwd',
        '',
      ].join('\n'),
    });
    const r = await runCli(['lint', repo, '--tenant', 'acme']);
    expect(r.code).toBe(1);
    const lines = findingLines(r.stdout).filter((l) => l.startsWith('tenants/acme/gateway.d/30-attack.yaml:'));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(lines.every((l) => l.includes('[schema/'))).toBe(true);
  });
});
