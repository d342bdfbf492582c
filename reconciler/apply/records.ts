/** Parsing what the apply scripts print, and the facts apply decides on. Pure. */
import { escapeInline } from '../safe-text.js';
import type { Lock } from '../desired/types.js';
import { parseVersion } from '../openclaw-cli.js';
import { describeMismatch, lockMismatches, type OpenclawFacts } from '../version-gate.js';

export type Record_ = string[];

export function parseRecords(stdout: string): Record_[] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

export interface LockHolder {
  run: string;
  owner: string;
  pid: number;
  host: string;
  ttl_sec: number;
  acquired_epoch: number;
  /** the exact bytes on the node (for compare-and-swap takeover) */
  raw: string;
}

export function parseHolder(b64: string): LockHolder | { raw: string; invalid: true } {
  const raw = Buffer.from(b64, 'base64').toString('utf8');
  try {
    const j = JSON.parse(raw) as Partial<LockHolder>;
    if (typeof j.run === 'string' && typeof j.owner === 'string' && typeof j.acquired_epoch === 'number' && typeof j.ttl_sec === 'number') {
      return { run: j.run, owner: j.owner, pid: Number(j.pid ?? 0), host: String(j.host ?? '?'), ttl_sec: j.ttl_sec, acquired_epoch: j.acquired_epoch, raw };
    }
  } catch {
    /* fall through */
  }
  return { raw, invalid: true };
}

/**
 * A lock is stale once its ttl has passed on the node's own clock. An unreadable lock file is never taken over
 * automatically: it may be a live run's lock written by something else; on-call removes it by hand.
 */
export function isStale(h: LockHolder | { invalid: true }, nodeNow: number): boolean {
  return !('invalid' in h) && nodeNow >= h.acquired_epoch + h.ttl_sec;
}

export function describeHolder(h: LockHolder | { invalid: true; raw: string }, nodeNow: number): string {
  if ('invalid' in h) return 'an unreadable lock file (if no apply is running, remove /var/db/openclaw/clawops/node.lock on the node)';
  const age = Math.max(0, nodeNow - h.acquired_epoch);
  // the lock file is the node's: its strings are shown escaped
  return `${escapeInline(String(h.owner))} (pid ${escapeInline(String(h.pid))} on ${escapeInline(String(h.host))}, run ${escapeInline(String(h.run))}, for ${age} s, expires in ${Math.max(0, h.acquired_epoch + h.ttl_sec - nodeNow)} s)`;
}

export interface VersionFacts {
  exitCode: number;
  line: string;
  daemonPath?: string;
  daemonSha?: string;
}

/** Why this node's openclaw does not match the lock, worded for the apply gate; empty when it does. */
export function versionMismatches(lock: Lock, f: VersionFacts): string[] {
  const v = parseVersion(f.line);
  const facts: OpenclawFacts = {
    found: !(f.exitCode === 127 && f.daemonPath === undefined),
    raw: f.line,
    ...(v ? { version: v.version, commit: v.commit } : {}),
    ...(f.daemonPath !== undefined ? { daemon: { path: f.daemonPath, sha256: f.daemonSha ?? '' } } : {}),
  };
  return lockMismatches(lock, facts).map((m) => describeMismatch(lock, m, { lockName: 'openclaw.lock', where: 'on the node' }));
}

/**
 * Pure: where FINISH says a failure to record left this run's records (its `kept` and `records-lost` lines), for the
 * RecordFailed message: never "kept" for what is not on the node.
 */
export function keptNote(fin: readonly string[][]): string {
  const kept = fin.filter((r) => r[0] === 'kept').map((r) => r[1] ?? '?');
  const lost = fin.find((r) => r[0] === 'records-lost');
  const where = kept.length === 1 ? `the record stays in ${kept[0]!} on the node for the next run` : kept.length > 1 ? `the records stay in ${kept.join(' and ')} on the node for the next run` : 'no record of it could be kept on the node either';
  return lost ? `${where}; ${lost[1] ?? 'some'} more could not be kept (lost)` : where;
}
