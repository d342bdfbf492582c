/**
 * Free disk (statfs on policy.disk.path) and queue pressure (total size of policy.queue.paths, relative to the
 * profile state dir) against the policy's thresholds. The classifiers are pure; the checks do one syscall each.
 * - Disk: free% = blocks available to unprivileged users / total blocks. free% ≤ critical_free_pct → critical,
 *   ≤ warn_free_pct → warn.
 * - Queue: a missing file counts 0 bytes (a WAL only exists while the database is open). bytes > critical_bytes →
 *   critical, > warn_bytes → warn.
 */
import { stat, statfs } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import type { DoctorPolicy } from '../desired/types.js';
import type { ResourceState } from './state.js';

export interface DiskResult {
  state: ResourceState;
  checked_at: string | null;
  path: string;
  free_pct: number | null;
  reason: string | null;
}

export interface QueueResult {
  state: ResourceState;
  checked_at: string | null;
  bytes: number | null;
  files: { path: string; bytes: number }[];
  reason: string | null;
}

const pct = (v: number): number => Math.round(v * 100) / 100;

export function classifyDisk(freePct: number, disk: DoctorPolicy['disk'], checkedAt: string): DiskResult {
  const base = { checked_at: checkedAt, path: disk.path, free_pct: pct(freePct) };
  if (freePct <= disk.critical_free_pct) return { state: 'critical', ...base, reason: `${pct(freePct)}% free on ${disk.path}, at or below critical ${disk.critical_free_pct}%` };
  if (freePct <= disk.warn_free_pct) return { state: 'warn', ...base, reason: `${pct(freePct)}% free on ${disk.path}, at or below warn ${disk.warn_free_pct}%` };
  return { state: 'ok', ...base, reason: null };
}

export function classifyQueue(bytes: number, files: QueueResult['files'], queue: DoctorPolicy['queue'], checkedAt: string): QueueResult {
  const base = { checked_at: checkedAt, bytes, files };
  if (bytes > queue.critical_bytes) return { state: 'critical', ...base, reason: `${bytes} bytes queued, above critical ${queue.critical_bytes}` };
  if (bytes > queue.warn_bytes) return { state: 'warn', ...base, reason: `${bytes} bytes queued, above warn ${queue.warn_bytes}` };
  return { state: 'ok', ...base, reason: null };
}

export async function checkDisk(disk: DoctorPolicy['disk'], now: () => number = Date.now): Promise<DiskResult> {
  const checkedAt = new Date(now()).toISOString();
  try {
    const s = await statfs(disk.path);
    if (s.blocks <= 0) return { state: 'error', checked_at: checkedAt, path: disk.path, free_pct: null, reason: `statfs ${disk.path}: no blocks reported` };
    return classifyDisk((s.bavail / s.blocks) * 100, disk, checkedAt);
  } catch (e) {
    return { state: 'error', checked_at: checkedAt, path: disk.path, free_pct: null, reason: `statfs ${disk.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
}

/** Resolve a queue path under the state dir; absolute paths and `..` are refused (lint refuses them too). */
export function queueFile(stateDir: string, rel: string): string | undefined {
  if (isAbsolute(rel)) return undefined;
  const n = normalize(rel);
  if (n === '..' || n.startsWith('../') || n.split('/').includes('..')) return undefined;
  return join(stateDir, n);
}

export async function checkQueue(queue: DoctorPolicy['queue'], stateDir: string, now: () => number = Date.now): Promise<QueueResult> {
  const checkedAt = new Date(now()).toISOString();
  const files: QueueResult['files'] = [];
  let total = 0;
  for (const rel of queue.paths) {
    const file = queueFile(stateDir, rel);
    if (!file) return { state: 'error', checked_at: checkedAt, bytes: null, files, reason: `queue path "${rel}" escapes the state dir` };
    try {
      const s = await stat(file);
      files.push({ path: rel, bytes: s.size });
      total += s.size;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        files.push({ path: rel, bytes: 0 });
        continue;
      }
      return { state: 'error', checked_at: checkedAt, bytes: null, files, reason: `stat ${file}: ${code ?? (e as Error).message}` };
    }
  }
  return classifyQueue(total, files, queue, checkedAt);
}
