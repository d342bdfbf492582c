/** The compiled CLI (dist/) the benchmarks time: bin/clawops runs it while it is fresh, else the sources through tsx. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** bin/clawops' own test: dist/ is used while nothing in reconciler/ (or the lock file) is newer than dist/.stamp. */
export function distFresh(root: string): boolean {
  const stamp = join(root, 'dist', '.stamp');
  if (!existsSync(stamp) || !existsSync(join(root, 'dist', 'reconciler', 'cli.js'))) return false;
  const r = spawnSync('sh', ['-c', 'find reconciler package-lock.json -newer "$1" 2>/dev/null | head -n 1', 'sh', stamp], { cwd: root, encoding: 'utf8' });
  return r.stdout.trim() === '';
}

/**
 * Compile dist/ when it is stale (as `make build` does) so that bin/clawops runs the compiled CLI. Returns what
 * bin/clawops will run: 'compiled dist/', or 'tsx (dist/ stale)' when the build failed (logged).
 */
export function ensureDist(root: string, log: (s: string) => void): string {
  if (!distFresh(root)) {
    log('dist/ is older than reconciler/: npx tsc -p tsconfig.build.json …');
    const b = spawnSync('npx', ['--no-install', 'tsc', '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
    if (b.status === 0) spawnSync('touch', [join(root, 'dist', '.stamp')]);
    else log(`build failed, bin/clawops falls back to tsx (slower start-up):\n${b.stdout}${b.stderr}`);
  }
  return distFresh(root) ? 'compiled dist/' : 'tsx (dist/ stale)';
}
