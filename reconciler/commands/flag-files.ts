/** Files named by command-line flags: unreadable ones are usage errors naming the flag (exit 2), checked up front. */
import { accessSync, constants } from 'node:fs';
import { UsageError } from '../errors.js';

export function requireReadable(files: readonly (readonly [flag: string, file: string | undefined])[]): void {
  for (const [flag, file] of files) {
    if (file === undefined) continue;
    try {
      accessSync(file, constants.R_OK);
    } catch (e) {
      throw new UsageError(`${flag} ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
}
