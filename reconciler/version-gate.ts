/**
 * Does a node's openclaw match openclaw.lock? One decision for the planner (version skew in a diff) and for apply
 * (the gate before anything is touched). Pure; callers word the result for their audience.
 */
import { escapeInline } from './safe-text.js';
import type { Lock } from './desired/types.js';

export interface OpenclawFacts {
  /** an `openclaw` command exists on the node */
  found: boolean;
  version?: string;
  commit?: string;
  /** the first line `openclaw --version` printed */
  raw: string;
  /** the entry point `openclaw` resolves to and its sha256, when known */
  daemon?: { path: string; sha256: string };
}

export type LockMismatch =
  | { reason: 'OpenclawMissing' }
  | { reason: 'VersionSkew'; found: string }
  | { reason: 'DaemonHashMismatch'; path: string; sha256: string };

export function lockMismatches(lock: Lock, f: OpenclawFacts): LockMismatch[] {
  if (!f.found) return [{ reason: 'OpenclawMissing' }];
  const out: LockMismatch[] = [];
  // commits match when one is a prefix of the other (the CLI prints a short hash, the lock may hold either)
  const commitMatches = f.commit !== undefined && (lock.openclaw.commit.startsWith(f.commit) || f.commit.startsWith(lock.openclaw.commit));
  if (f.version !== lock.openclaw.version || !commitMatches) {
    out.push({ reason: 'VersionSkew', found: f.version ? `${f.version} (${f.commit ?? '?'})` : `unparseable "${escapeInline(f.raw)}"` });
  }
  if (f.daemon && f.daemon.sha256 !== lock.daemon.sha256) out.push({ reason: 'DaemonHashMismatch', path: f.daemon.path, sha256: f.daemon.sha256 });
  return out;
}

/** One line for a mismatch; `lockName` and `where` let the diff and the gate keep their own wording. */
export function describeMismatch(lock: Lock, m: LockMismatch, wording: { lockName: string; where: string }): string {
  const expected = `${lock.openclaw.version} (${lock.openclaw.commit})`;
  switch (m.reason) {
    case 'OpenclawMissing':
      return `openclaw not found ${wording.where}; expected ${expected}`;
    case 'VersionSkew':
      return `openclaw ${m.found} does not match ${wording.lockName}: expected ${expected}`;
    case 'DaemonHashMismatch':
      return `daemon ${m.path} sha256 ${m.sha256.slice(0, 12)}… does not match ${wording.lockName}: expected ${lock.daemon.sha256.slice(0, 12)}…`;
  }
}
