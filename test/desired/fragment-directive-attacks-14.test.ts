/**
 * Attacks 14 on build-desired.ts:openclawDirectives (a gateway fragment may hold no `$include` key and no `${VAR}`
 * in a string). Facts (openclaw 2026.9.6, read in dist/ and run):
 * - substitution (redact-*.mjs parseEnvTokenAt) takes only `${NAME}` with NAME = /^[A-Z_][A-Z0-9_]*$/, in string
 *   VALUES only (keys are copied as they are), one pass; `$${NAME}` is an escape for a literal `${NAME}`;
 * - `$include` is the exact key "$include" (includes-*.mjs INCLUDE_KEY), looked for with `in` at every object.
 * So `${ X }`, `${X:-d}`, `$X`, `${x}`, `${{X}}` and a `${X}` in a key are inert; proved below by running openclaw.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { openclawCache } from '../helpers/openclaw.js';
import { exampleRepo } from '../helpers/repo.js';

const FRAG = 'tenants/acme/gateway.d/30-attack.yaml';

function build(text: string, extra: Record<string, string> = {}) {
  const d = buildDesired(readTreeSync(exampleRepo({ [FRAG]: text, ...extra })));
  const errors = d.findings.filter((f) => f.severity === 'error');
  const acme = d.tenants.get('acme');
  const json = acme?.files.find((f) => f.path === 'openclaw.json')?.content.toString() ?? '';
  return { errors, acme, json };
}

describe('fragment directive attacks 14: $include spelled through YAML', () => {
  const spellings: [string, string][] = [
    ['double-quoted key', 'models:\n  "$include": /etc/passwd\n'],
    ['single-quoted key', "models:\n  '$include': /etc/passwd\n"],
    ['escaped in a double-quoted key', 'models:\n  "\\x24include": /etc/passwd\n'],
    ['unicode escape in a key', 'models:\n  "\\u0024include": /etc/passwd\n'],
    ['flow mapping', 'models: { "$include": /etc/passwd }\n'],
    ['explicit key', 'models:\n  ? $include\n  : /etc/passwd\n'],
    ['inside an array of objects', 'agents:\n  list:\n    - id: main\n      $include: /etc/passwd\n'],
    ['nested array in array', 'bindings:\n  - - { $include: /etc/passwd }\n'],
    ['through an alias', 'x-base: &b { $include: /etc/passwd }\nmodels: *b\n'],
    ['through a merge key', 'models:\n  <<: { $include: /etc/passwd }\n'],
    ['anchored at the root key', 'agents:\n  defaults: &d\n    $include: /etc/passwd\n'],
  ];
  for (const [name, text] of spellings) {
    it(`holds: ${name} — refused, no release renders a "$include" key`, () => {
      const r = build(text);
      expect(r.errors.length).toBeGreaterThan(0);
      expect(r.errors.some((f) => f.file === FRAG)).toBe(true);
      expect(r.json).not.toContain('"$include"');
    });
  }

  it('holds: __proto__ with an $include under it renders no $include (and does not crash)', () => {
    const r = build('models:\n  __proto__: { $include: /etc/passwd }\n');
    expect(r.json).not.toContain('$include');
  });
});

describe('fragment directive attacks 14: ${VAR} in strings', () => {
  const cases: [string, string][] = [
    ['a block scalar', 'agents:\n  defaults:\n    heartbeat:\n      agentId: |\n        line\n        ${AWS_SECRET_ACCESS_KEY}\n'],
    ['an array element', 'agents:\n  list:\n    - id: main\n      name: "${AWS_SECRET_ACCESS_KEY}"\n'],
    ['an alias of an anchored string', 'agents:\n  list:\n    - id: &v "${AWS_SECRET_ACCESS_KEY}"\n  defaults:\n    heartbeat:\n      agentId: *v\n'],
    ['an escaped $ in YAML', 'agents:\n  defaults:\n    heartbeat:\n      agentId: "\\x24{AWS_SECRET_ACCESS_KEY}"\n'],
    ['a lowercase-led name (clawops refuses more than OpenClaw takes)', 'agents:\n  defaults:\n    heartbeat:\n      agentId: "${_X}"\n'],
  ];
  for (const [name, text] of cases) {
    it(`holds: ${name} — fragment/env-placeholder, value not quoted`, () => {
      const r = build(text);
      expect(r.errors.some((f) => f.rule === 'fragment/env-placeholder' && f.file === FRAG)).toBe(true);
      expect(r.errors.map((f) => f.message).join('\n')).not.toContain('AWS_SECRET_ACCESS_KEY}');
    });
  }

  it('holds: ${VAR} assembled across two fragments is impossible (strings are replaced, never joined); each part alone is inert', () => {
    const r = build('agents:\n  defaults:\n    heartbeat:\n      agentId: "${AWS_SECRET_"\n', { 'tenants/acme/gateway.d/31-attack.yaml': 'agents:\n  defaults:\n    heartbeat:\n      agentId: "ACCESS_KEY}"\n' });
    expect(r.json).not.toContain('${AWS_SECRET_ACCESS_KEY}');
  });
});

// the forms clawops lets through, run through the real OpenClaw with the variable set: none is substituted
const cache = openclawCache();
describe.skipIf(!cache)('fragment directive attacks 14: what OpenClaw 2026.9.6 substitutes', () => {
  it('holds: ${ X }, ${X:-d}, $X, ${x}, ${{X}}, $${X} and a ${X} key are never substituted (the value is never printed)', () => {
    const VALUE = 'opSecretValue-A14-Zq8vN3xL';
    const dir = mkdtempSync(join(tmpdir(), 'clawops-a14-oc-'));
    const inert = ['${ A14_SECRET }', '${A14_SECRET:-d}', '$A14_SECRET', '${a14_secret}', '${{A14_SECRET}}', '$${A14_SECRET}'];
    const config = {
      agents: { defaults: { heartbeat: { agentId: inert.join('|') } } },
      broadcast: { 'x:${A14_SECRET}': ['${ A14_SECRET }'] },
    };
    const file = join(dir, 'openclaw.json');
    writeFileSync(file, JSON.stringify(config));
    const r = spawnSync(cache!.node, [cache!.mjs, '--profile', 'acme', 'config', 'validate', '--json'], {
      cwd: dir,
      env: { PATH: '/usr/bin:/bin', HOME: dir, OPENCLAW_STATE_DIR: join(dir, 'state'), OPENCLAW_CONFIG_PATH: file, A14_SECRET: VALUE, a14_secret: VALUE },
      encoding: 'utf8',
      timeout: 30_000,
    });
    const out = r.stdout + r.stderr;
    // control: openclaw did run and quote the agent id as written
    expect(out).toContain('Unknown agent id');
    expect(out).toContain('A14_SECRET:-d');
    expect(out).not.toContain(VALUE);
    // control 2: the one form clawops refuses IS substituted
    writeFileSync(file, JSON.stringify({ agents: { defaults: { heartbeat: { agentId: '${A14_SECRET}' } } } }));
    const r2 = spawnSync(cache!.node, [cache!.mjs, '--profile', 'acme', 'config', 'validate', '--json'], {
      cwd: dir,
      env: { PATH: '/usr/bin:/bin', HOME: dir, OPENCLAW_STATE_DIR: join(dir, 'state'), OPENCLAW_CONFIG_PATH: file, A14_SECRET: VALUE },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r2.stdout).toContain(VALUE);
  }, 60_000);
});
