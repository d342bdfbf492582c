/**
 * Attacks (round 15) on the state-dir lock (controller.lock, state-lock.ts): a lock file that is not a regular file,
 * a symlink, and a stale lock whose pid was given to another process since (a reboot). Real files in temp dirs; the
 * cases that could block run in a child process with a deadline. Each `// fixed (was: …)` test reproduced a defect
 * this round found (now fixed); each other `it` is behaviour that held.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, uptime } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireStateLock, LOCK_FILE, StateDirLockedError } from '../../reconciler/controller/state-lock.js';
import { REPO_ROOT } from '../helpers/repo.js';

const dir = (): string => mkdtempSync(join(tmpdir(), 'clawops-a15-lock-'));
const deadPid = (): number => Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);

/** Run `code` (ESM, the repo's TypeScript through tsx) in a child node with a deadline: did it finish, and what it printed. */
function child(code: string, ms: number): { finished: boolean; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO_ROOT, encoding: 'utf8', timeout: ms, killSignal: 'SIGKILL' });
  return { finished: r.signal === null && r.status !== null, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

describe('controller.lock that is not a lock file', () => {
  it('a symlink to a stale lock record elsewhere: the link is taken over, the file it points at is left alone', () => {
    const d = dir();
    const other = join(dir(), 'someone-elses-file');
    const content = JSON.stringify({ pid: deadPid(), host: hostname(), started: 'x' });
    writeFileSync(other, content);
    symlinkSync(other, join(d, LOCK_FILE));
    const l = acquireStateLock(d);
    expect(JSON.parse(readFileSync(join(d, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    expect(readFileSync(other, 'utf8')).toBe(content);
    l.release();
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
  });

  it('a directory: refused at once with an error (no loop, no takeover)', () => {
    const d = dir();
    mkdirSync(join(d, LOCK_FILE));
    const t0 = Date.now();
    expect(() => acquireStateLock(d)).toThrow();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(existsSync(join(d, LOCK_FILE))).toBe(true);
  });

  // fixed (was: acquireStateLock and lockHolder read the lock with readFileSync (state-lock.ts:54-61, readText) which follows symlinks and opens FIFOs blocking, so a controller.lock that is a FIFO (or a symlink to one) hangs `clawops controller` start and `clawops controller suspend|resume` for ever, with no message; it should be read as status.json is (readRegularFile: O_NOFOLLOW|O_NONBLOCK, regular files only, bounded).)
  it('a FIFO: controller start and lockHolder answer within a second (refused or taken over), never block', () => {
    const d = dir();
    execFileSync('mkfifo', [join(d, LOCK_FILE)]);
    const r = child(
      `const m = await import(${JSON.stringify(join(REPO_ROOT, 'reconciler/controller/state-lock.ts'))});
       try { const l = m.acquireStateLock(${JSON.stringify(d)}); console.log('took'); l.release(); } catch (e) { console.log('refused: ' + e.message); }
       console.log('holder: ' + JSON.stringify(m.lockHolder(${JSON.stringify(d)}) ?? null));`,
      3000,
    );
    expect(r.finished).toBe(true);
    expect(r.stdout).toMatch(/^(took|refused: .*controller\.lock.*)\nholder: /);
  });
});

describe('a stale lock whose pid is alive again', () => {
  // fixed (was: acquireStateLock (state-lock.ts:88) takes any live pid on this host for the holder, though the lock says when it was taken: after a reboot the dead controller's pid, reused by some other process, keeps the state dir "in use by controller pid N" and the controller never comes back until someone removes controller.lock by hand (a lock older than the boot cannot be held).)
  it('a lock taken before this host booted, naming a pid some other process has now: stale, taken over', async () => {
    const d = dir();
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise<void>((r) => other.once('spawn', () => r()));
      const beforeBoot = new Date(Date.now() - uptime() * 1000 - 86_400_000).toISOString();
      writeFileSync(join(d, LOCK_FILE), `${JSON.stringify({ pid: other.pid, host: hostname(), started: beforeBoot })}\n`);
      let err: unknown;
      let l: ReturnType<typeof acquireStateLock> | undefined;
      try {
        l = acquireStateLock(d);
      } catch (e) {
        err = e;
      }
      expect(err).toBeUndefined();
      expect(JSON.parse(readFileSync(join(d, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
      l?.release();
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('a lock taken after boot by a pid that is alive: refused, naming it (the guard the case above must keep)', async () => {
    const d = dir();
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise<void>((r) => other.once('spawn', () => r()));
      writeFileSync(join(d, LOCK_FILE), `${JSON.stringify({ pid: other.pid, host: hostname(), started: new Date().toISOString() })}\n`);
      expect(() => acquireStateLock(d)).toThrow(StateDirLockedError);
      expect(() => acquireStateLock(d)).toThrow(new RegExp(`in use by controller pid ${other.pid} `));
    } finally {
      other.kill('SIGKILL');
    }
  });
});
