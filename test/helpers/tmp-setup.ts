// vitest globalSetup: every temp dir the tests make (mkdtemp under os.tmpdir(): repos, fleet roots, local nodes, state
// dirs — a few thousand a run, most never removed by their test) goes under ONE dir of this run, removed at the end.
// Workers start after this and inherit TMPDIR; the dir is world-writable and sticky like /tmp, for the fleet's user.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'clawops-tests-'));
  chmodSync(dir, 0o1777);
  process.env.TMPDIR = dir;
  return () => {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      console.warn(`[tmp] could not remove ${dir}: ${(e as Error).message}`);
    }
  };
}
