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
