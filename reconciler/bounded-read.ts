/**
 * Reading a file clawops did not necessarily write (a state file, a repo's settings before lint has seen them) by
 * one rule: a regular file reached without a final symlink (O_NOFOLLOW), never a FIFO or a device that would block
 * or never end (O_NONBLOCK, then fstat on the open file: no window between the look and the read), at most `max`
 * bytes.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';

/** The most a state file may hold (the controller's status.json, the notifier's state), read from disk or a listener. */
export const MAX_STATE_BYTES = 256 * 1024 * 1024;

/** A file that breaks the rule: why, and its size when it is too large. */
export class FileRefused extends Error {
  constructor(readonly file: string, readonly why: 'symlink' | 'not-regular' | 'too-large', readonly size?: number) {
    super(`${file}: ${why === 'symlink' ? 'a symlink' : why === 'not-regular' ? 'not a regular file' : `${size ?? '?'} bytes, too large`}`);
  }
}

/** The file's bytes, or undefined when there is no such file; FileRefused when it breaks the rule (other errors thrown). */
export function readRegularFile(file: string, max: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' || code === 'EMLINK') throw new FileRefused(file, 'symlink');
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileRefused(file, 'not-regular');
    if (st.size > max) throw new FileRefused(file, 'too-large', st.size);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
