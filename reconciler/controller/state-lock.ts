/**
 * One controller per state dir: `controller.lock` holds the pid (and host, start time) of the controller using it.
 * Taken with link(2) of a fully written temp file, so the lock file is never seen half written and exactly one
 * of two racing starters wins. A lock whose pid is dead (same host) is stale and taken over: renamed aside first
 * (one rename wins), checked to still be the stale one, then replaced.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, lstatSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname, uptime } from 'node:os';
import { FileRefused, readRegularFile } from '../bounded-read.js';
import { join } from 'node:path';
import { ClawopsError, EXIT_ERROR } from '../errors.js';

export const LOCK_FILE = 'controller.lock';

export interface LockRecord {
  pid: number;
  host: string;
  started: string;
}

export class StateDirLockedError extends ClawopsError {
  constructor(message: string, readonly holder?: LockRecord) {
    super('UsageError', message, EXIT_ERROR);
  }
}

export interface StateLock {
  file: string;
  record: LockRecord;
  release(): void;
}

/** Is a process with this pid alive on this host? EPERM means it exists but is not ours: alive. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseRecord(text: string): LockRecord | undefined {
  try {
    const j = JSON.parse(text) as Partial<LockRecord>;
    if (typeof j.pid === 'number' && typeof j.host === 'string') return { pid: j.pid, host: j.host, started: String(j.started ?? '') };
  } catch {
    /* fall through */
  }
  return undefined;
}

/**
 * The lock file's text, undefined when there is none. Read by the state files' rule (bounded-read.ts): a lock that is
 * a FIFO, a device, a symlink or large is not read (it would block, or show what is behind it) and is no lock of a
 * controller's: it reads as garbage, which is taken over like a stale lock.
 */
function readText(file: string): string | undefined {
  try {
    return readRegularFile(file, 4096)?.toString('utf8');
  } catch (e) {
    // (a directory is no garbage to move aside: someone made it; said, and left alone)
    if (e instanceof FileRefused && e.why === 'not-regular' && lstatSync(file, { throwIfNoEntry: false })?.isDirectory()) {
      throw new StateDirLockedError(`${file} is a directory, not a controller's lock: remove it`);
    }
    if (e instanceof FileRefused) return `\0refused: ${e.why}`;
    throw e;
  }
}

/** When this host booted, less a minute of clock slack (ms since the epoch). */
function bootedAt(now: Date): number {
  return now.getTime() - uptime() * 1000 - 60_000;
}

export function acquireStateLock(stateDir: string, opts: { pid?: number; now?: () => Date; alive?: (pid: number) => boolean } = {}): StateLock {
  const file = join(stateDir, LOCK_FILE);
  const now = (opts.now ?? (() => new Date()))();
  const record: LockRecord = { pid: opts.pid ?? process.pid, host: hostname(), started: now.toISOString() };
  const alive = opts.alive ?? pidAlive;
  const text = `${JSON.stringify(record)}\n`;
  const tmp = join(stateDir, `.${LOCK_FILE}.${record.pid}.${randomBytes(4).toString('hex')}`);
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(tmp, file);
        return { file, record, release: () => releaseLock(file, text) };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const held = readText(file);
      if (held === undefined) continue; // released between our link and our read
      const holder = parseRecord(held);
      // our own pid in the file is a previous life of this pid (a container's pid 1 restarted): stale; so is a lock
      // taken before this host booted, whatever process has its pid now
      const beforeBoot = holder !== undefined && Date.parse(holder.started) < bootedAt(now);
      if (holder && (holder.host !== record.host || (holder.pid !== record.pid && !beforeBoot && alive(holder.pid)))) {
        const where = holder.host !== record.host ? ` on ${holder.host}` : '';
        throw new StateDirLockedError(`state dir ${stateDir} is in use by controller pid ${holder.pid}${where} (since ${holder.started || '?'}; lock ${file})`, holder);
      }
      // stale (dead pid) or unreadable garbage: move it aside; only one racing starter's rename finds it
      const aside = `${file}.stale.${randomBytes(4).toString('hex')}`;
      try {
        renameSync(file, aside);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      const moved = readText(aside);
      if (moved !== held) {
        // we moved a lock someone took over in between: put it back if we can, and look again
        try {
          linkSync(aside, file);
        } catch {
          /* someone else holds it now; the next look decides */
        }
      }
      unlinkSync(aside);
    }
    throw new StateDirLockedError(`state dir ${stateDir}: could not take ${file} (contended); try again`);
  } finally {
    unlinkSync(tmp);
  }
}

/** Remove the lock only while it is still ours. */
function releaseLock(file: string, text: string): void {
  try {
    if (readText(file) === text) unlinkSync(file);
  } catch {
    /* already gone */
  }
}

/** Who holds the lock now, if anyone alive does (for `suspend`/`resume` messages). */
export function lockHolder(stateDir: string): LockRecord | undefined {
  const text = readText(join(stateDir, LOCK_FILE));
  const r = text !== undefined ? parseRecord(text) : undefined;
  return r && r.host === hostname() && !(Date.parse(r.started) < bootedAt(new Date())) && pidAlive(r.pid) ? r : undefined;
}
