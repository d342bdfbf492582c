/** Files named by command-line flags: unreadable ones are usage errors naming the flag (exit 2), checked up front. */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import ssh2 from 'ssh2';
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

/**
 * --identity: a readable file holding a private key ssh2 can use without a passphrase, checked once before any login
 * (read per node, a directory, a public key or an encrypted key would make every node "Unreachable", as if the fleet
 * were down). ssh2's reason is given; never the key.
 */
export function requireIdentity(flag: string, file: string | undefined): void {
  if (file === undefined) return;
  requireReadable([[flag, file]]);
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new UsageError(`${flag} ${file}: not a file`);
    if (st.size > 64 * 1024) throw new UsageError(`${flag} ${file}: ${st.size} bytes, too large for an ssh key`);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${flag} ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const parsed = ssh2.utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key instanceof Error || key === undefined) {
    const why = key instanceof Error ? key.message.split('\n')[0] : 'no key';
    throw new UsageError(`${flag} ${file}: not a private key clawops can use (${why}; an encrypted key needs ssh-agent: leave --identity out)`);
  }
  if (!key.isPrivateKey()) throw new UsageError(`${flag} ${file}: a public key; give the private key`);
}
