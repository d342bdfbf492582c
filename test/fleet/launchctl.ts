/**
 * The test fleet's launchctl, as every kind of test node gets it (fleet nodes, local nodes, `make demo` does the same
 * in sh): the sh front end (scripts/launchctl.sh) as `launchctl`, answering `print` itself, and the Node stand-in
 * (scripts/launchctl-standin.mjs) beside it as `launchctl-standin`, its shebang pinned to a Node that exists on the node.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts');
export const LAUNCHCTL_SH_SOURCE = path.join(SCRIPTS, 'launchctl.sh');
export const LAUNCHCTL_STANDIN_SOURCE = path.join(SCRIPTS, 'launchctl-standin.mjs');

/** Write `launchctl` and `launchctl-standin` into binDir (a node's /usr/local/bin); `node` runs the stand-in. */
export function installLaunchctl(binDir: string, node: string): void {
  const files: [string, string][] = [
    ['launchctl-standin', readFileSync(LAUNCHCTL_STANDIN_SOURCE, 'utf8').replace(/^#!.*\n/, `#!${node}\n`)],
    ['launchctl', readFileSync(LAUNCHCTL_SH_SOURCE, 'utf8')],
  ];
  for (const [name, text] of files) {
    const file = path.join(binDir, name);
    writeFileSync(file, text, { mode: 0o755 });
    chmodSync(file, 0o755);
  }
}
