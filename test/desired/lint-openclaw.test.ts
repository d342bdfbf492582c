/** `lint --openclaw` runs the real OpenClaw validator (the cached install) and maps its issues onto fragments. */
import { describe, expect, it } from 'vitest';
import { openclawWrapper } from '../helpers/openclaw.js';
import { exampleRepo, findingLines, runCli } from '../helpers/repo.js';

const bin = openclawWrapper();
const CI = process.env.CI === 'true';

describe.skipIf(!bin && !CI)('lint --openclaw (real openclaw CLI)', () => {
  it('the example repo validates, and an invalid value is reported at the fragment that set it', async () => {
    expect(bin, 'scripts/install-openclaw-cache.sh must have run (CI does it)').toBeDefined();
    const ok = await runCli(['lint', exampleRepo(), '--tenant', 'acme', '--openclaw', bin!]);
    expect(ok.stdout).toContain('ok: 1 tenant(s)');
    expect(ok.code).toBe(0);

    // schema-valid for clawops (logging is a free-form map) but not for OpenClaw
    const repo = exampleRepo({ 'tenants/acme/gateway.d/20-overrides.yaml': 'gateway:\n  port: 18809\nlogging:\n  level: loud\n' });
    const bad = await runCli(['lint', repo, '--tenant', 'acme', '--openclaw', bin!]);
    expect(bad.code).toBe(1);
    const lines = findingLines(bad.stdout);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tenants\/acme\/gateway.d\/20-overrides.yaml:4:10: error: logging.level: .+ \(openclaw config validate\) \[openclaw\/validate\]$/);
  }, 60_000);
});

describe('lint --openclaw: what openclaw gets of the operator', () => {
  it('runs it in a temp dir with PATH, TMPDIR, a temp HOME and state dir, and nothing else of the environment', async () => {
    const { chmodSync, mkdtempSync, readFileSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { lintWithOpenclaw } = await import('../../reconciler/desired/lint-openclaw.js');
    const { buildDesired } = await import('../../reconciler/desired/build-desired.js');
    const { readTreeSync } = await import('../../reconciler/source/read-tree.js');
    const d = mkdtempSync(join(tmpdir(), 'lint-env-'));
    const seen = join(d, 'seen');
    // a stand-in openclaw that writes down where it runs and what it was given, then says the config is valid
    const fake = join(d, 'openclaw');
    writeFileSync(fake, `#!/bin/sh\n{ pwd; env | sort; } > ${seen}\necho '{"valid":true,"path":"x","warnings":[]}'\n`);
    chmodSync(fake, 0o755);
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_SECRET_ACCESS_KEY: 'AKIA-not-for-openclaw', OPENCLAW_STATE_DIR: '/home/op/.openclaw', OPENCLAW_INCLUDE_ROOTS: '/', NODE_OPTIONS: '--require /tmp/evil.js' });
    try {
      const tenant = buildDesired(readTreeSync(exampleRepo())).tenants.get('acme')!;
      expect(await lintWithOpenclaw(tenant, fake)).toEqual([]);
    } finally {
      for (const k of ['AWS_SECRET_ACCESS_KEY', 'OPENCLAW_STATE_DIR', 'OPENCLAW_INCLUDE_ROOTS', 'NODE_OPTIONS']) if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    const [cwd, ...env] = readFileSync(seen, 'utf8').trim().split('\n');
    expect(cwd).not.toBe(process.cwd());
    expect(cwd).toMatch(/clawops-validate-acme-/);
    const names = env.map((l) => l.split('=')[0]).filter((k) => k !== 'PWD' && k !== 'SHLVL' && k !== '_');
    expect(names.sort()).toEqual(['HOME', 'OPENCLAW_CONFIG_PATH', 'OPENCLAW_NO_RESPAWN', 'OPENCLAW_STATE_DIR', 'PATH', ...(process.env.TMPDIR ? ['TMPDIR'] : [])].sort());
    // one Node start, not two (the CLI's respawn only hides Node's experimental warnings)
    expect(env).toContain('OPENCLAW_NO_RESPAWN=1');
    expect(env.find((l) => l.startsWith('OPENCLAW_STATE_DIR='))).toMatch(/clawops-validate-acme-.*\/state$/);
  });
});
