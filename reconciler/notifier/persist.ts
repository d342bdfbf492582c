/**
 * Digest state on disk: written atomically (temp file in the same directory, fsync, rename(2)) so a crash leaves
 * either the old or the new file, never half of one; saved on a debounce while events arrive and once more on
 * shutdown.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FileRefused, MAX_STATE_BYTES, readRegularFile } from '../bounded-read.js';
import { IoError } from '../errors.js';

/**
 * `content` a string, or a text made in pieces (the controller's status.json): written as they come, ~64 KiB at a
 * time, never held whole.
 */
export async function writeFileAtomic(file: string, content: string | Iterable<string>, mode = 0o600): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      if (typeof content === 'string') await fh.writeFile(content, 'utf8');
      else {
        let batch: string[] = [];
        let size = 0;
        for (const c of content) {
          batch.push(c);
          size += c.length;
          if (size >= 65_536) {
            await fh.write(batch.join(''), null, 'utf8');
            batch = [];
            size = 0;
          }
        }
        if (batch.length > 0) await fh.write(batch.join(''), null, 'utf8');
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw new IoError(`state ${file}: ${(e as Error).message}`);
  }
  // make the rename itself durable; best effort (not every filesystem lets a directory be fsynced)
  try {
    const fd = openSync(dirname(file), 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* ignore */
  }
}

/** The parsed state file, or undefined when there is none yet. Throws IoError when it exists but is not JSON. */
export async function readStateFile(file: string): Promise<unknown> {
  // never through a link, never a FIFO or device, bounded (readRegularFile)
  let bytes: Buffer | undefined;
  try {
    bytes = readRegularFile(file, MAX_STATE_BYTES);
  } catch (e) {
    if (!(e instanceof FileRefused)) throw new IoError(`state ${file}: ${(e as Error).message}`);
    throw new IoError(
      e.why === 'symlink' ? `state ${file}: a symlink; never read through one` : e.why === 'not-regular' ? `state ${file}: not a regular file; never read` : `state ${file}: ${e.size ?? '?'} bytes, more than a state file holds (${MAX_STATE_BYTES})`,
    );
  }
  if (bytes === undefined) return undefined;
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new IoError(`state ${file}: not valid JSON`);
  }
}

/**
 * Saves `produce()` at most once per `debounceMs` after `markDirty()`, one write at a time; `flush()` writes now
 * if anything is pending (used on shutdown).
 */
export class DebouncedSaver {
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly produce: () => unknown,
    private readonly debounceMs: number,
    private readonly onError: (err: Error) => void,
  ) {}

  markDirty(): void {
    this.dirty = true;
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.save();
    }, this.debounceMs);
    this.timer.unref();
  }

  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    await this.save();
  }

  /** Flush and stop scheduling further saves. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private async save(): Promise<void> {
    // one writer at a time; a save requested during a write runs after it
    while (this.writing) await this.writing;
    if (!this.dirty) return;
    this.dirty = false;
    const content = `${JSON.stringify(this.produce())}\n`;
    this.writing = writeFileAtomic(this.file, content).catch((e: unknown) => {
      this.dirty = true;
      this.onError(e as Error);
    });
    try {
      await this.writing;
    } finally {
      this.writing = undefined;
    }
  }
}
