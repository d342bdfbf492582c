/**
 * Attribution only (diff-bench, controller-bench): a sh front end put before a fleet node's launchctl stand-in
 * (scripts/launchctl-standin.mjs, a Node script: ~30 ms CPU a start, where macOS' launchctl is native) that answers
 * what observe asks when the answer needs no Node:
 *   - `launchctl print system` while the stand-in's state holds no service and no enable/disable override: the empty
 *     domain, byte for byte what the stand-in prints for that state;
 *   - `launchctl print system/<label>` of a label that has no service dir: the stand-in's message, exit 113.
 * Anything else (a service dir, even a stale one the stand-in would sweep; disabled.json; any other subcommand or
 * label) goes to the stand-in itself, so the answer is the stand-in's on every state. test/bench/launchctl-print-sh.test.ts
 * compares the two on the same states.
 */
import { chmodSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** the stand-in's `print system` for a state without services or overrides (formatDomain with no labels) */
export const EMPTY_PRINT_SYSTEM = 'system = {\n\ttype = system\n\thandle = 0\n\tactive count = 0\n\tservice count = 0\n\n\tservices = {\n\t}\n\n\tdisabled services = {\n\t}\n}\n';

/**
 * The front end, installed as `launchctl` beside the stand-in renamed `launchctl-standin`. Its state dir is the
 * stand-in's: LAUNCHD_STANDIN_ROOT, else /var/run/launchd-standin (where the stand-in at /usr/local/bin finds it).
 * printf, not cat: no program is started for the common answer.
 */
export const LAUNCHCTL_PRINT_SH = [
  '#!/bin/sh',
  'R=${LAUNCHD_STANDIN_ROOT:-/var/run/launchd-standin}',
  'S=${0%/*}/launchctl-standin',
  'if [ $# -eq 2 ] && [ "$1" = print ]; then',
  '  case $2 in',
  '    system)',
  '      for s in "$R"/services/* "$R"/services/.[!.]* "$R"/disabled.json; do [ -e "$s" ] && exec "$S" "$@"; done',
  `      printf '${EMPTY_PRINT_SYSTEM.replace(/\t/g, '\\t').replace(/\n/g, '\\n')}'`,
  '      exit 0 ;;',
  '    system/*[!A-Za-z0-9._-]*|system/|system/.|system/..) ;;',
  '    system/*) l=${2#system/}',
  '      if [ ! -e "$R/services/$l" ]; then printf \'Could not find service "%s" in domain for system\\n\' "$l" >&2; exit 113; fi ;;',
  '  esac',
  'fi',
  'exec "$S" "$@"',
  '',
].join('\n');

/**
 * Put the front end before `launchctl` in each bin dir, the stand-in moved to `launchctl-standin` (no dot: Node runs an
 * extensionless file as the module it is, but refuses one named `launchctl.standin`, an unknown extension). Returns
 * the undo.
 */
export function installLaunchctlPrintSh(binDirs: readonly string[]): () => void {
  const undo: (() => void)[] = [];
  const undoAll = (): void => {
    for (const f of undo.splice(0).reverse()) f();
  };
  try {
    for (const bin of binDirs) {
      const real = join(bin, 'launchctl');
      const moved = join(bin, 'launchctl-standin');
      renameSync(real, moved);
      undo.push(() => renameSync(moved, real));
      writeFileSync(real, LAUNCHCTL_PRINT_SH, { mode: 0o755 });
      chmodSync(real, 0o755);
    }
  } catch (e) {
    undoAll();
    throw e;
  }
  return undoAll;
}
