/**
 * The one place the probe talks to OpenClaw: `openclaw --profile <tenant> doctor --json`.
 * Facts (openclaw 2026.9.6, see test/probe/fixtures/doctor-real-2026.9.6.json): exit 0, stdout is one JSON object
 * {"schemaVersion":1,"ok":bool,"checksRun":N,"checksSkipped":N,"findings":[{checkId,severity,message,path?,
 * fixHint?,…}]}, severity ∈ info|warning|error. `ok` is false as soon as there is any warning, so the probe judges
 * by the findings and reads `ok` only when there are none. A run takes ~7-8 s.
 *
 * The child runs in its own process group; on timeout the whole group gets SIGKILL (doctor spawns helpers, and
 * a hung helper must not outlive the run). Stdout is capped so a runaway child cannot eat the probe's memory.
 */
import { spawn } from 'node:child_process';
import { SEVERITY_ORDER, type Severity } from '../desired/types.js';
import { openclawEnv } from '../openclaw-cli.js';

export interface DoctorFinding {
  checkId: string;
  severity: Severity;
  message: string;
  path?: string;
  fixHint?: string;
}

export interface DoctorReport {
  schemaVersion: number;
  ok: boolean;
  checksRun: number | null;
  checksSkipped: number | null;
  findings: DoctorFinding[];
}

export type DoctorRun =
  | { kind: 'report'; report: DoctorReport; durationMs: number }
  | { kind: 'timeout'; reason: string; durationMs: number }
  | { kind: 'error'; reason: string; durationMs: number };

export interface DoctorRunOptions {
  /** the openclaw executable (default `openclaw` on PATH) */
  openclaw: string;
  /** the OpenClaw profile, i.e. the tenant id */
  profile: string;
  timeoutMs: number;
  /** OPENCLAW_CONFIG_PATH for the run */
  configPath?: string;
  /** OPENCLAW_STATE_DIR for the run */
  stateDir?: string;
  /** base environment (default process.env) */
  env?: NodeJS.ProcessEnv;
  maxOutputBytes?: number;
  /** abort kills the run's process group (probe shutdown) */
  signal?: AbortSignal;
}

export function doctorArgs(profile: string): string[] {
  return ['--profile', profile, 'doctor', '--json'];
}

function seconds(ms: number): string {
  return `${Number.isInteger(ms / 1000) ? ms / 1000 : (ms / 1000).toFixed(1)}s`;
}

/** Parse doctor's stdout; an Error value (not a throw) for anything that is not the documented shape. */
export function parseDoctorOutput(stdout: string): DoctorReport | Error {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    return new Error(stdout.trim() === '' ? 'doctor printed nothing' : 'doctor output is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return new Error('doctor output is not a JSON object');
  const d = doc as Record<string, unknown>;
  if (typeof d.ok !== 'boolean') return new Error('doctor output has no boolean "ok"');
  if (!Array.isArray(d.findings)) return new Error('doctor output has no "findings" list');
  const findings: DoctorFinding[] = [];
  for (const [i, f] of d.findings.entries()) {
    if (typeof f !== 'object' || f === null) return new Error(`doctor output: findings[${i}] is not an object`);
    const r = f as Record<string, unknown>;
    if (typeof r.checkId !== 'string' || r.checkId === '') return new Error(`doctor output: findings[${i}] has no checkId`);
    if (typeof r.severity !== 'string' || !(r.severity in SEVERITY_ORDER)) {
      return new Error(`doctor output: findings[${i}] (${r.checkId}) has severity ${JSON.stringify(r.severity)}, not info|warning|error`);
    }
    const finding: DoctorFinding = { checkId: r.checkId, severity: r.severity as Severity, message: typeof r.message === 'string' ? r.message : '' };
    if (typeof r.path === 'string') finding.path = r.path;
    if (typeof r.fixHint === 'string') finding.fixHint = r.fixHint;
    findings.push(finding);
  }
  return {
    schemaVersion: typeof d.schemaVersion === 'number' ? d.schemaVersion : 0,
    ok: d.ok,
    checksRun: typeof d.checksRun === 'number' ? d.checksRun : null,
    checksSkipped: typeof d.checksSkipped === 'number' ? d.checksSkipped : null,
    findings,
  };
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** Run doctor once. Never throws: every outcome is a DoctorRun. */
export function runDoctor(opts: DoctorRunOptions): Promise<DoctorRun> {
  const started = Date.now();
  const maxOut = opts.maxOutputBytes ?? 8 * 1024 * 1024;
  // openclawEnv: OpenClaw prints nothing when it sees a test runner's markers (VITEST…), so they never reach it
  const extra: Record<string, string> = {};
  if (opts.configPath !== undefined) extra.OPENCLAW_CONFIG_PATH = opts.configPath;
  if (opts.stateDir !== undefined) extra.OPENCLAW_STATE_DIR = opts.stateDir;
  const env = openclawEnv(opts.env ?? process.env, extra);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (run: DoctorRun): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(run);
    };
    const elapsed = (): number => Date.now() - started;
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(opts.openclaw, doctorArgs(opts.profile), { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    } catch (e) {
      resolve({ kind: 'error', reason: `cannot run ${opts.openclaw}: ${(e as Error).message}`, durationMs: 0 });
      return;
    }
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let overflow = false;
    let timedOut = false;
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
      // a grandchild that escaped the group could keep our pipes open: do not wait on it for long
      grace = setTimeout(() => finish({ kind: 'timeout', reason: `doctor timed out after ${seconds(opts.timeoutMs)}`, durationMs: elapsed() }), 1000);
    }, opts.timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > maxOut) {
        if (!overflow) {
          overflow = true;
          killGroup(child.pid);
        }
        return;
      }
      out.push(d);
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < 4096) err += d;
    });
    const onAbort = (): void => {
      killGroup(child.pid);
      finish({ kind: 'error', reason: 'doctor run cancelled', durationMs: elapsed() });
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e: NodeJS.ErrnoException) => finish({ kind: 'error', reason: `cannot run ${opts.openclaw}: ${e.code ?? e.message}`, durationMs: elapsed() }));
    child.on('close', (code, signal) => {
      const durationMs = elapsed();
      if (timedOut) return finish({ kind: 'timeout', reason: `doctor timed out after ${seconds(opts.timeoutMs)}`, durationMs });
      if (overflow) return finish({ kind: 'error', reason: `doctor printed more than ${maxOut} bytes`, durationMs });
      if (signal !== null) return finish({ kind: 'error', reason: `doctor was killed by ${signal}`, durationMs });
      if (code !== 0) {
        const first = err.trim().split('\n')[0]?.slice(0, 200) ?? '';
        return finish({ kind: 'error', reason: `doctor exited with code ${String(code)}${first ? `: ${first}` : ''}`, durationMs });
      }
      const report = parseDoctorOutput(Buffer.concat(out).toString('utf8'));
      if (report instanceof Error) return finish({ kind: 'error', reason: report.message, durationMs });
      finish({ kind: 'report', report, durationMs });
    });
  });
}
