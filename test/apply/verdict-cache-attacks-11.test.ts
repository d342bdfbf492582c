/**
 * Adversarial run 11, part A: the verdict store (reconciler/apply/verdict-cache.ts, ValidationMemo's `keep` in
 * validation-memo.ts, apply-node's build key). A kept `openclaw config validate` verdict lets a later run skip
 * validation, so: it must bind the release's bytes and the OpenClaw build that judged them, and a file is trusted only
 * when this user alone could have written it (the test runs as root; "another user" is uid 65534, nobody).
 * Pure harnesses: no sshd, no controller. The node's facts are produced by the real `oc_facts` shell (openclaw-sh.ts)
 * run here against a fake openclaw package.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ValidationMemo, verdictKey, type Decision, type Pending } from '../../reconciler/apply/validation-memo.js';
import { defaultVerdictDir, dirVerdictStore } from '../../reconciler/apply/verdict-cache.js';
import { OPENCLAW_FACTS_SH } from '../../reconciler/openclaw-sh.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;
const SHA = 'a'.repeat(64);
const SHA2 = 'b'.repeat(64);
// (a build is the entry point's sha256, then dist/build-info.json's, then the version line: apply-node.ts)
const BI = 'c'.repeat(64);
const LINE = 'OpenClaw 2026.9.6 (abc1234)';
const REL = '0123456789abcdef';
const K = verdictKey(`${SHA} ${BI} ${LINE}`, 'acme', REL);
const fresh = (): string => join(mkdtempSync(join(tmpdir(), 'verdicts11-')), 'verdicts');
const fileOf = (dir: string, key: string): string => join(dir, `${createHash('sha256').update(key).digest('hex')}.json`);
const kinds = (m: Map<string, Decision | Pending>): string[] => [...m.values()].map((d) => d.kind);
/** one run that validates `key` on gw-1 and finds it valid (kept in `dir`'s store) */
function keep(dir: string, key: string, run = 'run-1'): void {
  const d = new ValidationMemo({ store: dirVerdictStore(dir), run }).decideNow('gw-1', [key]).get(key)!;
  if (d.kind !== 'validate') throw new Error(`expected a claim, got ${d.kind}`);
  d.claim.settle({ valid: true, node: 'gw-1' });
}
/** what the next run decides for `keys` with a fresh store on `dir` */
const next = (dir: string, keys: string[]): string[] => kinds(new ValidationMemo({ store: dirVerdictStore(dir), run: 'run-2' }).decideNow('gw-2', keys));
const doc = (key: string, extra: Record<string, unknown> = {}): string => `${JSON.stringify({ v: 1, key, valid: true, node: 'gw-1', run: 'forged', at: new Date().toISOString(), ...extra })}\n`;

describe('verdict keys bind bytes and build (adversarial run 11)', () => {
  it('holds: a kept verdict is a check only for the same daemon sha, version line, tenant and release id; an unknown or malformed build is never kept', () => {
    const dir = fresh();
    keep(dir, K);
    expect(next(dir, [K])).toEqual(['check']);
    const others = [
      verdictKey(`${SHA2} ${BI} ${LINE}`, 'acme', REL), // another daemon binary
      verdictKey(`${SHA} ${SHA2} ${LINE}`, 'acme', REL), // another build of the same launcher (build-info.json)
      verdictKey(`${SHA} ${BI} OpenClaw 2026.9.7 (abc1234)`, 'acme', REL), // another version line
      verdictKey(`${SHA} ${BI} ${LINE} `, 'acme', REL), // a trailing space
      verdictKey(`${SHA} ${BI} ${LINE}`, 'acme2', REL), // the tenant renamed
      verdictKey(`${SHA} ${BI} ${LINE}`, 'acme', '0123456789abcdee'), // other bytes
      verdictKey(`${SHA} ${BI} ${LINE}`, 'acme', REL.slice(0, 15)), // a prefix of the id
    ];
    expect(next(dir, others)).toEqual(others.map(() => 'validate'));
    // builds that name no daemon hash (no openclaw on PATH, a hash the node could not compute) or not in its form
    for (const build of [`- ${LINE}`, ` ${LINE}`, `${SHA.toUpperCase()} ${BI} ${LINE}`, `${SHA.slice(1)} ${BI} ${LINE}`, `${SHA}\t${BI} ${LINE}`, `${SHA} ${LINE}`, `${SHA} - ${LINE}`]) {
      const k = verdictKey(build, 'acme', REL);
      const d = new ValidationMemo({ store: dirVerdictStore(dir), run: 'r' }).decideNow('gw-1', [k]).get(k)!;
      expect(d.kind, build).toBe('validate');
      if (d.kind === 'validate') d.claim.settle({ valid: true, node: 'gw-1' });
      expect(existsSync(fileOf(dir, k)), build).toBe(false);
      expect(next(dir, [k]), build).toEqual(['validate']);
    }
    // an invalid verdict is never kept, and an earlier valid one does not outlive... nothing: invalid is validated again
    const bad = verdictKey(`${SHA} ${BI} ${LINE}`, 'globex', REL);
    const d = new ValidationMemo({ store: dirVerdictStore(dir), run: 'r' }).decideNow('gw-1', [bad]).get(bad)!;
    if (d.kind === 'validate') d.claim.settle({ valid: false, node: 'gw-1', why: 'x' });
    expect(existsSync(fileOf(dir, bad))).toBe(false);
  });

  // fixed (was: the build half of the verdict key (apply-node.ts applyNode: `${facts.daemonSha} ${facts.line}`, from openclaw-sh.ts oc_facts) hashes only openclaw's entry point (openclaw.mjs, a 25 KB launcher of a 7,000-file dist/) and takes the version line from the node's openclaw-version.cache keyed by that hash and package.json's: a node whose openclaw code changed (dist/ rebuilt, now printing another commit and judging configs differently) yields the same key, so a verdict kept from the old build skips validation across runs; the build should cover what judges (e.g. a hash of the package tree or its lockfile/dist manifest, and a freshly asked version line when the verdict store is consulted), or kept verdicts should be keyed by more than the launcher)
  it('the verdict key changes when the node\'s openclaw code (and what `openclaw --version` prints) changes', () => {
    const base = mkdtempSync(join(tmpdir(), 'oc11-'));
    const pkg = join(base, 'lib/node_modules/openclaw');
    mkdirSync(join(pkg, 'dist'), { recursive: true });
    mkdirSync(join(base, 'bin'));
    mkdirSync(join(base, 'cache'));
    // the launcher never changes; the code it runs (dist/) does
    writeFileSync(join(pkg, 'openclaw.mjs'), '#!/bin/sh\nexec sh "$(dirname "$(readlink -f "$0")")/dist/cli.sh" "$@"\n', { mode: 0o755 });
    writeFileSync(join(pkg, 'package.json'), '{"name":"openclaw","version":"2026.9.6"}\n');
    // (a build writes its id into dist/build-info.json, as OpenClaw's does: version, commit, builtAt, buildId)
    const dist = (commit: string, accepts: boolean): void => {
      writeFileSync(join(pkg, 'dist/cli.sh'), `case $1 in --version) echo "OpenClaw 2026.9.6 (${commit})" ;; *) ${accepts ? 'echo \'{"valid":true}\'' : 'echo \'{"valid":false}\'; exit 1'} ;; esac\n`);
      writeFileSync(join(pkg, 'dist/build-info.json'), `${JSON.stringify({ version: '2026.9.6', commit, buildId: `2026.9.6-${commit}` })}\n`);
    };
    symlinkSync(join(pkg, 'openclaw.mjs'), join(base, 'bin/openclaw'));
    const build = (): string => {
      const sh = `SHA=sha256sum\nrec() { printf '%s' "$1"; shift; for f in "$@"; do printf '\\t%s' "$f"; done; printf '\\n'; }\n${OPENCLAW_FACTS_SH}\noc_facts "$1"\n`;
      const out = execFileSync('sh', ['-c', sh, 'sh', join(base, 'cache')], { env: { PATH: `${join(base, 'bin')}:/usr/bin:/bin` }, encoding: 'utf8' });
      const recs = out.trim().split('\n').map((l) => l.split('\t'));
      const d = recs.find((r) => r[0] === 'daemon');
      const v = recs.find((r) => r[0] === 'version');
      return `${d?.[2] ?? '-'} ${d?.[3] || '-'} ${v?.[2] ?? ''}`; // as apply-node.ts builds it
    };
    dist('abc1234', true);
    const before = build();
    expect(before).toMatch(/^[0-9a-f]{64} [0-9a-f]{64} OpenClaw 2026\.9\.6 \(abc1234\)$/);
    const dir = fresh();
    keep(dir, verdictKey(before, 'acme', REL));
    // openclaw rebuilt: another commit, and it now refuses what the old one accepted
    dist('def5678', false);
    expect(execFileSync(join(base, 'bin/openclaw'), ['--version'], { encoding: 'utf8' }).trim()).toBe('OpenClaw 2026.9.6 (def5678)');
    const after = build();
    expect(after).not.toBe(before);
    expect(next(dir, [verdictKey(after, 'acme', REL)])).toEqual(['validate']);
  });
});

describe('only what this user alone could have written (adversarial run 11)', () => {
  it.skipIf(!asRoot)("holds: a verdict file or a store dir of another user is never used, and nothing is written into another user's dir; a leaf link to a good store is not followed", () => {
    const dir = fresh();
    keep(dir, K);
    expect(next(dir, [K])).toEqual(['check']);
    chownSync(fileOf(dir, K), NOBODY, NOBODY);
    expect(next(dir, [K])).toEqual(['validate']);
    chownSync(fileOf(dir, K), 0, 0);
    expect(next(dir, [K])).toEqual(['check']);
    // a dir nobody made (0700, its own), holding a file of ours naming the key
    const theirs = fresh();
    mkdirSync(theirs, { mode: 0o700 });
    copyFileSync(fileOf(dir, K), fileOf(theirs, K));
    chownSync(theirs, NOBODY, NOBODY);
    expect(next(theirs, [K])).toEqual(['validate']);
    const k2 = verdictKey(`${SHA} ${BI} ${LINE}`, 'globex', REL);
    keep(theirs, k2);
    expect(readdirSync(theirs)).toEqual([`${createHash('sha256').update(K).digest('hex')}.json`]);
    // the leaf a symlink to our own good store
    const link = fresh();
    symlinkSync(dir, link);
    expect(next(link, [K])).toEqual(['validate']);
  });

  it.skipIf(!asRoot)('holds: XDG_CACHE_HOME at a sticky world-writable dir: whatever another user plants there (the clawops dir, the verdicts dir, a link, files) never yields a verdict', () => {
    const sticky = mkdtempSync(join(tmpdir(), 'sticky11-'));
    chmodSync(sticky, 0o1777);
    const ours = fresh();
    keep(ours, K);
    const good = readFileSync(fileOf(ours, K));
    const store = (): string => defaultVerdictDir({ XDG_CACHE_HOME: sticky });
    expect(store()).toBe(join(sticky, 'clawops/verdicts'));
    // 1. nobody made clawops/verdicts first (theirs, private to them), with a forged verdict (theirs)
    mkdirSync(store(), { recursive: true, mode: 0o700 });
    writeFileSync(fileOf(store(), K), doc(K), { mode: 0o600 });
    for (const p of [fileOf(store(), K), store(), dirname(store())]) chownSync(p, NOBODY, NOBODY);
    expect(next(store(), [K])).toEqual(['validate']);
    // 2. clawops/verdicts a link to our own good store (a dir of ours)
    rmSync(store(), { recursive: true });
    symlinkSync(ours, store());
    expect(next(store(), [K])).toEqual(['validate']);
    rmSync(store());
    // 3. clawops is theirs (they can rename in it), the leaf ours: what they plant in it is theirs, or ours naming another key
    mkdirSync(store(), { mode: 0o700 });
    writeFileSync(fileOf(store(), K), doc(K), { mode: 0o600 });
    chownSync(fileOf(store(), K), NOBODY, NOBODY);
    expect(next(store(), [K])).toEqual(['validate']);
    const k2 = verdictKey(`${SHA2} ${BI} ${LINE}`, 'acme', REL);
    writeFileSync(fileOf(store(), k2), good, { mode: 0o600 }); // our genuine verdict for K under k2's name
    expect(next(store(), [k2])).toEqual(['validate']);
    // a group-writable file of ours, a file beyond the size bound, a document naming another key
    const ourFile = (body: string, mode = 0o600): void => {
      rmSync(fileOf(store(), K), { force: true });
      writeFileSync(fileOf(store(), K), body, { mode });
      chmodSync(fileOf(store(), K), mode);
    };
    ourFile(doc(K), 0o660);
    expect(next(store(), [K])).toEqual(['validate']);
    ourFile(doc(K, { pad: 'x'.repeat(5000) }));
    expect(next(store(), [K])).toEqual(['validate']);
    ourFile(doc(`${K} `));
    expect(next(store(), [K])).toEqual(['validate']);
    // (the control: a private file of ours naming the key is a verdict: only we can make one)
    ourFile(doc(K));
    expect(next(store(), [K])).toEqual(['check']);
  });

  it('holds: a FIFO (no writer) at the verdict\'s name never blocks: validated, promptly', () => {
    const dir = fresh();
    keep(dir, verdictKey(`${SHA} ${BI} ${LINE}`, 'globex', REL)); // the dir exists, ours
    execFileSync('mkfifo', ['-m', '600', fileOf(dir, K)]);
    const t0 = Date.now();
    expect(next(dir, [K])).toEqual(['validate']);
    expect(Date.now() - t0).toBeLessThan(1000);
    // and keeping a verdict over it replaces the FIFO (rename), never writes into it
    keep(dir, K);
    expect(next(dir, [K])).toEqual(['check']);
  });

  // fixed (was: dirVerdictStore (reconciler/apply/verdict-cache.ts, dirOk) checks the store dir once and caches the answer for the store's lifetime — the controller's store (loop.ts: one dirVerdictStore for the whole process) — and then opens files by path: a store dir that later becomes writable by others, or is replaced by a symlink to another user's dir, is still used (no forged verdict shown: files must still be ours and name their key, but the stated rule "the directory … neither writable by group or others … anything else is not used" no longer holds); check the dir (lstat: a real dir, ours, 0700-ish) on every get/put, or open the file and compare its parent's dev/ino with the checked dir's)
  it('a long-lived store (the controller\'s) stops using its dir once that dir becomes writable by others or is swapped for a link', () => {
    const dir = fresh();
    keep(dir, K);
    const store = dirVerdictStore(dir); // as the controller holds it across passes
    expect(store.get(K)).toBeDefined();
    chmodSync(dir, 0o777);
    expect(store.get(K)).toBeUndefined();
    chmodSync(dir, 0o700);
    // swapped for a link to a dir another user owns and others may write, holding a file of ours naming the key
    const elsewhere = fresh();
    mkdirSync(elsewhere, { mode: 0o777 });
    chmodSync(elsewhere, 0o777);
    copyFileSync(fileOf(dir, K), fileOf(elsewhere, K));
    if (asRoot) chownSync(elsewhere, NOBODY, NOBODY);
    renameSync(dir, `${dir}.old`);
    symlinkSync(elsewhere, dir);
    expect(store.get(K)).toBeUndefined();
  });
});

describe('a store under load or broken (adversarial run 11)', () => {
  it('holds: 6,000 verdict files and 5,000 stray names: keeping one more trims to 5,000 (the newest kept), quickly, and reads still work', () => {
    const dir = fresh();
    keep(dir, K);
    const now = Date.now() / 1000;
    for (let i = 0; i < 6000; i++) {
      const p = join(dir, `${createHash('sha256').update(`old-${i}`).digest('hex')}.json`);
      writeFileSync(p, '{}\n', { mode: 0o600 });
      utimesSync(p, now - 86400 - i, now - 86400 - i); // a day old, older and older
    }
    for (let i = 0; i < 5000; i++) writeFileSync(join(dir, `stray-${i}`), '');
    const k2 = verdictKey(`${SHA} ${BI} ${LINE}`, 'globex', REL);
    const t0 = Date.now();
    keep(dir, k2);
    // (loose: 11,000 files listed and stat'ed on a machine the fleet tests of other files share)
    expect(Date.now() - t0).toBeLessThan(10_000);
    const kept = readdirSync(dir).filter((n) => /^[0-9a-f]{64}\.json$/.test(n));
    expect(kept.length).toBeLessThanOrEqual(5000);
    expect(existsSync(fileOf(dir, k2))).toBe(true);
    expect(existsSync(fileOf(dir, K))).toBe(true); // newer than the day-old ones
    expect(next(dir, [K, k2])).toEqual(['check', 'check']);
  }, 30_000);

  it('holds: two processes keeping the same key over and over while a third reads: every read is no verdict or a whole one, no temp file left', async () => {
    const dir = fresh();
    keep(dir, verdictKey(`${SHA} ${BI} ${LINE}`, 'globex', REL));
    const w = join(dirname(dir), 'writer.ts');
    writeFileSync(w, `import { dirVerdictStore } from ${JSON.stringify(join(ROOT, 'reconciler/apply/verdict-cache.ts'))};\nconst s = dirVerdictStore(process.argv[2]!);\nfor (let i = 0; i < 400; i++) s.put(process.argv[3]!, { node: 'gw-' + process.argv[4], run: 'r' + i, at: new Date().toISOString() });\n`);
    const run = (n: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const c = spawn(process.execPath, ['--import', 'tsx', w, dir, K, n], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        c.stderr.on('data', (b: Buffer) => (err += b.toString()));
        c.on('error', reject);
        c.on('exit', (code) => (code === 0 ? resolve(0) : reject(new Error(`writer ${n} exit ${code}: ${err}`))));
      });
    const writers = Promise.all([run('1'), run('2')]);
    let done = false;
    void writers.finally(() => (done = true)).catch(() => undefined);
    const store = dirVerdictStore(dir);
    const seen = new Set<string>();
    while (!done) {
      for (let i = 0; i < 50; i++) {
        const v = store.get(K);
        if (v) {
          expect(v.node).toMatch(/^gw-[12]$/);
          expect(v.run).toMatch(/^r\d+$/);
          seen.add(v.node);
        }
      }
      await new Promise((r) => setImmediate(r));
    }
    await writers;
    expect(store.get(K)).toBeDefined();
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  }, 30_000);

  it.skipIf(!asRoot)('holds: a store on a read-only filesystem (and one it cannot make) is no store: verdicts already there are used, none kept, nothing fails', () => {
    const mnt = mkdtempSync(join(tmpdir(), 'romnt11-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mnt], { stdio: 'ignore' });
    } catch {
      return; // no mount here: nothing to show
    }
    try {
      const dir = join(mnt, 'clawops/verdicts');
      keep(dir, K);
      execFileSync('mount', ['-o', 'remount,ro', mnt], { stdio: 'ignore' });
      expect(next(dir, [K])).toEqual(['check']);
      const k2 = verdictKey(`${SHA} ${BI} ${LINE}`, 'globex', REL);
      expect(() => keep(dir, k2)).not.toThrow();
      expect(next(dir, [k2])).toEqual(['validate']);
      // never made: a store below it
      expect(() => keep(join(mnt, 'missing/verdicts'), k2)).not.toThrow();
      expect(next(join(mnt, 'missing/verdicts'), [k2])).toEqual(['validate']);
    } finally {
      execFileSync('umount', [mnt], { stdio: 'ignore' });
    }
  });
});
