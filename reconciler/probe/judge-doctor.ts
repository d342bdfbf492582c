/**
 * Doctor's findings judged by the tenant's policy. Pure.
 *   1. Findings of ignored checks are dropped — unless the check is also required (required wins).
 *   2. Any finding at or above fail_on → red; otherwise any at or above warn_on → yellow; otherwise green.
 *      A required check's finding at or above fail_on is red and says "required" in the reason.
 *   3. `ok` is read only when doctor reported no findings at all: ok:false with an empty list is yellow
 *      (doctor says something is off but not what). Findings that were all ignored are green whatever `ok` says,
 *      since doctor sets ok:false for plain warnings.
 * Doctor does not list the checks that passed, so a required check that did not run cannot be detected here.
 */
import { SEVERITY_ORDER, type DoctorPolicy, type Severity } from '../desired/types.js';
import type { DoctorReport } from './openclaw-doctor.js';
import { clip } from '../safe-text.js';

export type DoctorVerdict = 'green' | 'yellow' | 'red';

export interface JudgedFinding {
  checkId: string;
  severity: Severity;
  message: string;
  required: boolean;
}

export interface DoctorJudgement {
  verdict: DoctorVerdict;
  /** one line per finding that made the verdict, worst first (at most MAX_REASONS plus a "more" line) */
  reasons: string[];
  /** the findings that were not ignored, worst first */
  findings: JudgedFinding[];
  ignored: number;
}

const MAX_REASONS = 5;
const MAX_MESSAGE = 240;

function at(sev: Severity, threshold: Severity): boolean {
  return SEVERITY_ORDER[sev] >= SEVERITY_ORDER[threshold];
}

const MAX_CHECK_ID = 80;

function line(f: JudgedFinding): string {
  const msg = clip(f.message, MAX_MESSAGE);
  const id = clip(f.checkId, MAX_CHECK_ID);
  return `doctor: ${f.required ? 'required check ' : ''}${id} (${f.severity})${msg ? `: ${msg}` : ''}`;
}

export function judgeDoctor(report: DoctorReport, policy: Pick<DoctorPolicy['doctor'], 'required_checks' | 'ignored_checks' | 'warn_on' | 'fail_on'>): DoctorJudgement {
  const required = new Set(policy.required_checks);
  const ignored = new Set(policy.ignored_checks.filter((c) => !required.has(c)));
  const kept: JudgedFinding[] = report.findings
    .filter((f) => !ignored.has(f.checkId))
    .map((f) => ({ checkId: f.checkId, severity: f.severity, message: f.message, required: required.has(f.checkId) }))
    .sort((a, b) => SEVERITY_ORDER[b.severity] - SEVERITY_ORDER[a.severity] || Number(b.required) - Number(a.required) || (a.checkId < b.checkId ? -1 : a.checkId > b.checkId ? 1 : 0));
  const result = (verdict: DoctorVerdict, culprits: JudgedFinding[], extra: string[] = []): DoctorJudgement => {
    const reasons = [...extra, ...culprits.slice(0, MAX_REASONS).map(line)];
    if (culprits.length > MAX_REASONS) reasons.push(`doctor: and ${culprits.length - MAX_REASONS} more finding(s)`);
    return { verdict, reasons, findings: kept, ignored: report.findings.length - kept.length };
  };
  if (report.findings.length === 0) {
    return report.ok ? result('green', []) : result('yellow', [], ['doctor: reported ok:false without findings']);
  }
  const red = kept.filter((f) => at(f.severity, policy.fail_on));
  if (red.length > 0) return result('red', red);
  const yellow = kept.filter((f) => at(f.severity, policy.warn_on));
  if (yellow.length > 0) return result('yellow', yellow);
  return result('green', []);
}
