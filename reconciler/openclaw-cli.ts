/**
 * The one place that knows OpenClaw's CLI surface (docs: node_modules/openclaw/docs/cli/). A CLI change is one edit here.
 * Facts (openclaw 2026.9.6): `openclaw --version` → `OpenClaw 2026.9.6 (eb377ac)`;
 * `openclaw --profile P config validate --json` → {"valid":true,"path","warnings":[{path,message}]} exit 0, or
 * {"ok":false,"error":{…},"valid":false,"issues":[{path,message}]} exit 1; the file comes from OPENCLAW_CONFIG_PATH.
 */
import { spawn } from 'node:child_process';

export interface OpenclawVersion {
  version: string;
  commit: string;
}

export function parseVersion(stdout: string): OpenclawVersion | undefined {
  // (a version word and commit of sane length: a node's openclaw may print anything)
  const m = /OpenClaw\s+(\S{1,64})\s+\(([0-9a-f]{1,64})\)/.exec(stdout);
  return m ? { version: m[1]!, commit: m[2]! } : undefined;
}

export interface ConfigIssue {
  path: string;
  message: string;
}
export interface ValidateResult {
  valid: boolean;
  issues: ConfigIssue[];
  warnings: ConfigIssue[];
  /** set when the output was not what the CLI documents */
  error?: string;
}

export function validateArgs(profile: string): string[] {
  return ['--profile', profile, 'config', 'validate', '--json'];
}

export function parseValidateOutput(stdout: string, exitCode: number | null): ValidateResult {
  let doc: { valid?: unknown; issues?: unknown; warnings?: unknown; error?: { message?: unknown } };
  try {
    doc = JSON.parse(stdout) as typeof doc;
  } catch {
    return { valid: false, issues: [], warnings: [], error: `openclaw config validate printed no JSON (exit ${String(exitCode)})` };
  }
  const list = (v: unknown): ConfigIssue[] =>
    Array.isArray(v)
      ? v.filter((x): x is { path?: unknown; message?: unknown } => x !== null && typeof x === 'object').map((x) => ({ path: String(x.path ?? ''), message: String(x.message ?? '') }))
      : [];
  const issues = list(doc.issues);
  const result: ValidateResult = { valid: doc.valid === true && exitCode === 0, issues, warnings: list(doc.warnings) };
  if (!result.valid && issues.length === 0) result.error = typeof doc.error?.message === 'string' ? doc.error.message : `openclaw config validate failed (exit ${String(exitCode)})`;
  return result;
}

/** Warnings clawops causes on purpose: secrets substituted at launch time are absent while linting. */
export function isExpectedWarning(w: ConfigIssue): boolean {
  return /Missing env var "CLAWOPS_(SECRET_[A-Z0-9_]+|VAR_DB)"/.test(w.message);
}

/**
 * The environment for an openclaw child. OpenClaw goes silent when it believes it runs under a test runner
 * (VITEST=true makes `config validate --json` print nothing), so those markers never reach it.
 */
export function openclawEnv(base: NodeJS.ProcessEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (!/^VITEST($|_)|^JEST_WORKER_ID$/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
  timedOut: boolean;
}

/** Run the openclaw binary on this machine (lint --openclaw, the probe). Never through a shell. */
export function runOpenclaw(bin: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: openclawEnv(opts.env ?? process.env), stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}) });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            try {
              process.kill(-child.pid!, 'SIGKILL');
            } catch {
              /* already gone */
            }
          }, opts.timeoutMs);
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ stdout, stderr, code, timedOut });
    });
  });
}
