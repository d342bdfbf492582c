/**
 * Typed errors. Library code throws these; only the CLI entry maps them to exit codes and prints one line.
 * Messages never contain secret values: callers pass names and locations, not content.
 */

/** Exit codes follow diff(1): 0 in sync / clean, 1 changes or findings, 2 trouble. */
export const EXIT_OK = 0;
export const EXIT_CHANGES = 1;
export const EXIT_ERROR = 2;

/** Flux-style machine-readable reasons, one per stage that can fail. */
export type FailureReason =
  | 'UsageError'
  | 'SourceFailed'
  | 'ValidationFailed'
  | 'ObserveFailed'
  | 'PlanFailed'
  | 'ApplyFailed'
  | 'HealthCheckFailed'
  | 'RolledBack'
  | 'IoFailed'
  | 'RemoteFailed'
  | 'NodeLocked'
  | 'VersionSkew'
  | 'StageFailed'
  | 'InvalidConfig'
  | 'SwapFailed'
  | 'RecordFailed'
  | 'NoPrevRelease'
  | 'UnexpectedEntry'
  | 'Interrupted';

export class ClawopsError extends Error {
  readonly reason: FailureReason;
  readonly exitCode: number;
  constructor(reason: FailureReason, message: string, exitCode: number = EXIT_ERROR) {
    super(message);
    this.name = new.target.name;
    this.reason = reason;
    this.exitCode = exitCode;
  }
}

/** Bad command-line usage. */
export class UsageError extends ClawopsError {
  constructor(message: string) {
    super('UsageError', message);
  }
}

/** A file could not be read or written (the path is in the message). */
export class IoError extends ClawopsError {
  constructor(message: string) {
    super('IoFailed', message);
  }
}

/** The infra repo does not validate; `findings` holds every problem found, the message is the first. */
export class ValidationError extends ClawopsError {
  readonly findings: readonly { file: string; line: number; col: number; message: string; rule: string }[];
  constructor(message: string, findings: ValidationError['findings'] = []) {
    super('ValidationFailed', message);
    this.findings = findings;
  }
}

/** git clone/fetch/resolve failed. */
export class GitError extends ClawopsError {
  constructor(message: string) {
    super('SourceFailed', message);
  }
}

/** A remote command or connection failed; carries what the remote side reported. */
export class SshError extends ClawopsError {
  readonly node: string;
  readonly code: number | null;
  readonly signal: string | null;
  readonly stderr: string;
  constructor(node: string, message: string, opts: { code?: number | null; signal?: string | null; stderr?: string } = {}) {
    super('ObserveFailed', `${node}: ${message}`);
    this.node = node;
    this.code = opts.code ?? null;
    this.signal = opts.signal ?? null;
    this.stderr = opts.stderr ?? '';
  }
}

/** The node presented a host key that is not the pinned one. Never skippable. */
export class HostKeyError extends ClawopsError {
  readonly node: string;
  constructor(node: string, expected: string, found: string) {
    super('ObserveFailed', `${node}: host key mismatch: expected ${expected}, found ${found}; refusing to connect`);
    this.node = node;
  }
}

/** Turn anything thrown into one line, without a stack trace. */
export function oneLine(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.name;
  return String(err).split('\n')[0] ?? 'unknown error';
}
