/**
 * Attacks 13 (node side): apply's validation on a node runs the release's wrapper `bin/gateway-run … --validate`
 * (PROMOTE, reconciler/apply/remote-scripts.ts), which exports the tenant's `env` secrets and execs the real
 * `openclaw config validate --json`; apply-node.ts:judge turns its first issue into the one-line refusal (also kept
 * by the verdict store). Run here for real: a node laid out in a temp dir (test/helpers/release.ts), the cached
 * OpenClaw CLI. Fact (openclaw 2026.9.6): `${VAR}` is substituted before validation and
 * `agents.defaults.heartbeat.agentId` / `agents.defaults.systemAgent.agentId` that name no agent are refused with
 * `Unknown agent id "<substituted value>"`.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { judge } from '../../reconciler/apply/apply-node.js';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import type { DesiredState } from '../../reconciler/desired/types.js';
import { openclawEnv } from '../../reconciler/openclaw-cli.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { tempDir } from '../helpers/attack13.js';
import { openclawWrapper } from '../helpers/openclaw.js';
import { layRelease } from '../helpers/release.js';
import { exampleRepo } from '../helpers/repo.js';

const bin = openclawWrapper();
const CI = process.env.CI === 'true';

const ACME_HOOKS = 'hk_acmeOwnHooksToken_9fQ2xL7vR3';
const GLOBEX_HOOKS = 'hk_globexHooksToken_4mN8bV1cX6';

// acme's fragment: its own hooks token where OpenClaw echoes the value
const ATTACK = [
  'agents:',
  '  defaults:',
  '    heartbeat:',
  '      agentId: { secret_ref: hooks.token }',
  '',
].join('\n');
// a path into globex's secrets where OpenClaw echoes too: refused by clawops' lint (a ${VAR} in a fragment)
const CROSS = ['agents:', '  defaults:', '    systemAgent:', '      agentId: "${CLAWOPS_VAR_DB}/secrets/globex/hooks.token"', ''].join('\n');

interface Validated {
  desired: DesiredState;
  releaseId: string;
  out: string;
  code: number;
}

describe.skipIf(!bin && !CI)('openclaw node attacks 13: the wrapper --validate and apply refusal line', () => {
  let v: Validated;
  beforeAll(() => {
    const desired = buildDesired(readTreeSync(exampleRepo({ 'tenants/acme/gateway.d/30-attack.yaml': ATTACK })));
    expect(desired.findings.filter((f) => f.severity === 'error')).toEqual([]);
    const root = tempDir('node');
    const etc = join(root, 'etc');
    const varDb = join(root, 'var');
    const { rel, releaseId } = layRelease(etc, desired, 'acme');
    const names = readFileSync(join(rel, 'secrets.list'), 'utf8').split('\n').map((l) => l.split(' ')[2]).filter((n): n is string => !!n);
    for (const [t, list] of [['acme', names], ['globex', ['hooks.token', 'token.current']]] as const) {
      mkdirSync(join(varDb, 'secrets', t), { recursive: true, mode: 0o700 });
      for (const n of list) {
        const f = join(varDb, 'secrets', t, n);
        writeFileSync(f, n === 'hooks.token' ? (t === 'acme' ? ACME_HOOKS : GLOBEX_HOOKS) : `tok_${t}_${n}_Zq8vN3xL2pR7`);
        chmodSync(f, 0o600);
      }
    }
    const home = tempDir('nodehome');
    const r = spawnSync('sh', [join(rel, 'bin', 'gateway-run'), 'acme', etc, varDb, '--validate'], {
      encoding: 'utf8',
      env: openclawEnv(process.env, { CLAWOPS_OPENCLAW_CLI: bin!, HOME: home }),
      timeout: 60_000,
    });
    v = { desired, releaseId, out: r.stdout, code: r.status ?? -1 };
  }, 60_000);

  it("holds: a path into another tenant's secrets is refused by lint, so no release carries it; validation reads no other tenant's file", () => {
    const d = buildDesired(readTreeSync(exampleRepo({ 'tenants/acme/gateway.d/30-cross.yaml': CROSS })));
    const errors = d.findings.filter((f) => f.severity === 'error');
    expect(errors.map((f) => `${f.file}:${f.line} ${f.rule}`)).toEqual(['tenants/acme/gateway.d/30-cross.yaml:4 fragment/env-placeholder']);
    expect(errors[0]!.message).not.toContain('globex');
    expect(v.code).toBe(1);
    expect(v.out).not.toContain(GLOBEX_HOOKS);
  });

  // fixed (was: apply's refusal prints the tenant's own secret: the wrapper (units/gateway-run-sh.ts --validate) exports CLAWOPS_SECRET_HOOKS_TOKEN, OpenClaw echoes the substituted value ("Unknown agent id \"<token>\"") and apply-node.ts:judge copies issues[0].message into the one-line refusal (and the verdict store); judge should redact the values of the tenant's secrets (or never quote OpenClaw's message text past the path), and render/lint should refuse a secret_ref outside the paths that take credentials)
  it("apply's one-line refusal never carries a secret value the wrapper exported", () => {
    const verdict = judge('n1', v.desired, 'acme', v.releaseId, v.out, v.code);
    expect(verdict?.valid).toBe(false);
    expect(verdict!.valid ? '' : verdict!.why).toMatch(/agents\.defaults\.heartbeat\.agentId/);
    expect(verdict!.valid ? '' : verdict!.why).not.toContain(ACME_HOOKS);
  });
});
