/** `clawops lint --openclaw`: run the real `openclaw config validate` on each rendered config, report against fragments. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isExpectedWarning, parseValidateOutput, runOpenclaw, validateArgs } from '../openclaw-cli.js';
import { RENDERED_FILES, type Finding, type TenantDesired } from './types.js';

export async function lintWithOpenclaw(tenant: TenantDesired, openclawBin: string): Promise<Finding[]> {
  const dir = await mkdtemp(join(tmpdir(), `clawops-validate-${tenant.id}-`));
  try {
    const configPath = join(dir, RENDERED_FILES.gateway);
    const file = tenant.files.find((f) => f.path === RENDERED_FILES.gateway);
    await writeFile(configPath, file ? file.content : '{}\n');
    // Nothing of the operator's environment but PATH (to find openclaw's node) and TMPDIR: OpenClaw substitutes
    // `${VAR}` from its environment before it validates, and some of its refusals quote the value (`Unknown agent id
    // "<value>"`), so a fragment naming ${AWS_SECRET_ACCESS_KEY} would print the operator's key; OPENCLAW_STATE_DIR,
    // OPENCLAW_HOME and OPENCLAW_INCLUDE_ROOTS would point it at the operator's own profile (its .env of provider
    // keys) or let an $include read outside the release; NODE_OPTIONS could load code. HOME and the state dir are the
    // temp dir's. OPENCLAW_NO_RESPAWN: one Node start, not two (the second only hides Node's experimental warnings).
    const env: NodeJS.ProcessEnv = { HOME: dir, OPENCLAW_STATE_DIR: join(dir, 'state'), OPENCLAW_CONFIG_PATH: configPath, OPENCLAW_NO_RESPAWN: '1' };
    for (const k of ['PATH', 'TMPDIR'] as const) if (process.env[k] !== undefined) env[k] = process.env[k];
    // (in the temp dir: OpenClaw loads a .env from its working directory, which is the operator's, often the repo)
    const run = await runOpenclaw(openclawBin, validateArgs(tenant.id), { env, timeoutMs: 60_000, cwd: dir });
    const where = `tenants/${tenant.id}/gateway.d`;
    if (run.timedOut) return [finding(where, 1, 1, 'error', 'openclaw config validate timed out after 60 s', 'openclaw/validate')];
    const result = parseValidateOutput(run.stdout, run.code);
    const out: Finding[] = [];
    if (result.error) out.push(finding(where, 1, 1, 'error', result.error, 'openclaw/validate'));
    for (const issue of result.issues) out.push(mapIssue(tenant, issue.path, issue.message, 'error'));
    for (const w of result.warnings.filter((x) => !isExpectedWarning(x))) out.push(mapIssue(tenant, w.path, w.message, 'warning'));
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Point an openclaw.json key path at the fragment that set it (or its nearest parent that a fragment set). */
function mapIssue(tenant: TenantDesired, path: string, message: string, severity: Finding['severity']): Finding {
  const parts = path.split('.');
  for (let n = parts.length; n > 0; n--) {
    const key = parts.slice(0, n).join('.');
    const exact = tenant.provenance[key];
    const child = exact ?? Object.entries(tenant.provenance).find(([k]) => k.startsWith(`${key}.`))?.[1];
    if (child) return finding(child.file, child.line, child.col, severity, `${path}: ${message} (openclaw config validate)`, 'openclaw/validate');
  }
  return finding(`tenants/${tenant.id}/gateway.d`, 1, 1, severity, `${path || '(config)'}: ${message} (openclaw config validate)`, 'openclaw/validate');
}

function finding(file: string, line: number, col: number, severity: Finding['severity'], message: string, rule: string): Finding {
  return { file, line, col, severity, message, rule };
}
