/**
 * Valid verdicts kept across runs (reconciler/apply/verdict-cache.ts): a later run's memo takes an earlier run's valid
 * verdict for the same build + tenant + release as a 'check'; only valid verdicts of a known build are kept; and the
 * store uses only what this user alone could have written (a file that would skip a validation is trusted no further).
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ValidationMemo, validatedBy, verdictKey, type Decision, type Pending } from '../../reconciler/apply/validation-memo.js';
import { defaultVerdictDir, dirVerdictStore } from '../../reconciler/apply/verdict-cache.js';

// a build: the entry point's sha256, dist/build-info.json's, the version line
const SHA = `${'a'.repeat(64)} ${'b'.repeat(64)}`;
const K1 = verdictKey(`${SHA} OpenClaw 2026.9.6`, 'acme', '0123456789abcdef');
const K2 = verdictKey(`${SHA} OpenClaw 2026.9.6`, 'globex', 'fedcba9876543210');
const fresh = (): string => join(mkdtempSync(join(tmpdir(), 'verdicts-')), 'verdicts');
const fileOf = (dir: string, key: string): string => join(dir, `${createHash('sha256').update(key).digest('hex')}.json`);
const kinds = (m: Map<string, Decision | Pending>): string[] => [...m.values()].map((d) => d.kind);
const settle = (m: Map<string, Decision | Pending>, k: string, v: Parameters<Extract<Decision, { kind: 'validate' }>['claim']['settle']>[0]): void => {
  const d = m.get(k)!;
  if (d.kind !== 'validate') throw new Error(`expected a claim, got ${d.kind}`);
  d.claim.settle(v);
};

describe('verdicts kept across runs', () => {
  it('a release one run found valid is a check in the next run, naming the node and run that validated it', () => {
    const dir = fresh();
    const run1 = new ValidationMemo({ store: dirVerdictStore(dir), run: 'run-1' });
    const a = run1.decideNow('gw-1', [K1]);
    expect(kinds(a)).toEqual(['validate']);
    settle(a, K1, { valid: true, node: 'gw-1' });
    // the store dir is private, its file too
    expect(existsSync(fileOf(dir, K1))).toBe(true);

    const run2 = new ValidationMemo({ store: dirVerdictStore(dir), run: 'run-2' });
    const b = run2.decideNow('gw-2', [K1, K2]);
    expect(kinds(b)).toEqual(['check', 'validate']);
    const d = b.get(K1)!;
    expect(d).toMatchObject({ kind: 'check', verdict: { valid: true, node: 'gw-1', earlier: 'run-1' } });
    if (d.kind === 'check') expect(validatedBy(d.verdict)).toBe('gw-1 in run run-1');
    expect(validatedBy({ valid: true, node: 'gw-3' })).toBe('gw-3 this run');
    expect(run2.claims).toBe(1);
    expect(run2.kept).toBe(1);
  });

  it('keeps no invalid verdict, no verdict of an unknown build, nothing without a store; --revalidate reads none but keeps new ones', () => {
    const dir = fresh();
    const unknown = verdictKey('- - OpenClaw 2026.9.6', 'acme', '0123456789abcdef');
    // (an entry point known, its build id not: no dist/build-info.json)
    const noBuildId = verdictKey(`${'a'.repeat(64)} - OpenClaw 2026.9.6`, 'acme', '0123456789abcdef');
    const run1 = new ValidationMemo({ store: dirVerdictStore(dir), run: 'run-1' });
    const a = run1.decideNow('gw-1', [K1, unknown, noBuildId]);
    settle(a, K1, { valid: false, node: 'gw-1', why: 'logging.level: bad' });
    settle(a, unknown, { valid: true, node: 'gw-1' });
    settle(a, noBuildId, { valid: true, node: 'gw-1' });
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
    const run2 = new ValidationMemo({ store: dirVerdictStore(dir), run: 'run-2' });
    expect(kinds(run2.decideNow('gw-1', [K1, unknown, noBuildId]))).toEqual(['validate', 'validate', 'validate']);

    const b = new ValidationMemo({ store: dirVerdictStore(dir), run: 'run-3' }).decideNow('gw-1', [K2]);
    settle(b, K2, { valid: true, node: 'gw-1' });
    expect(kinds(new ValidationMemo().decideNow('gw-1', [K2]))).toEqual(['validate']);
    expect(kinds(new ValidationMemo({ store: dirVerdictStore(dir, { read: false }), run: 'run-4' }).decideNow('gw-1', [K2]))).toEqual(['validate']);
    expect(kinds(new ValidationMemo({ store: dirVerdictStore(dir), run: 'run-5' }).decideNow('gw-1', [K2]))).toEqual(['check']);
  });

  it('trusts no file another user could have written: group/other-writable files or dir, links, FIFOs, a file naming another key, garbage', () => {
    const dir = fresh();
    const keep = (k: string): void => settle(new ValidationMemo({ store: dirVerdictStore(dir), run: 'r' }).decideNow('gw-1', [k]), k, { valid: true, node: 'gw-1' });
    const hit = (k: string): boolean => dirVerdictStore(dir).get(k) !== undefined;
    keep(K1);
    keep(K2);
    expect(hit(K1) && hit(K2)).toBe(true);
    // a group-writable file
    chmodSync(fileOf(dir, K1), 0o620);
    expect(hit(K1)).toBe(false);
    chmodSync(fileOf(dir, K1), 0o600);
    expect(hit(K1)).toBe(true);
    // K2's file copied under K1's name: it names another key
    writeFileSync(fileOf(dir, K1), readFileSync(fileOf(dir, K2)), { mode: 0o600 });
    expect(hit(K1)).toBe(false);
    // a symlink to a good verdict, garbage, a valid:false document
    const other = fresh();
    mkdirSync(other, { recursive: true });
    writeFileSync(join(other, 'v.json'), readFileSync(fileOf(dir, K2)));
    const k3 = verdictKey(`${SHA} x`, 'initech', '1111111111111111');
    symlinkSync(join(other, 'v.json'), fileOf(dir, k3));
    expect(hit(k3)).toBe(false);
    const k4 = verdictKey(`${SHA} x`, 'initech', '2222222222222222');
    writeFileSync(fileOf(dir, k4), '{"v":1,', { mode: 0o600 });
    expect(hit(k4)).toBe(false);
    writeFileSync(fileOf(dir, k4), `${JSON.stringify({ v: 1, key: k4, valid: false, node: 'n', run: 'r', at: 'a' })}\n`, { mode: 0o600 });
    expect(hit(k4)).toBe(false);
    // a dir others may write: nothing in it is used, nothing kept
    expect(hit(K2)).toBe(true);
    chmodSync(dir, 0o777);
    expect(hit(K2)).toBe(false);
    const before = readdirSync(dir).length;
    keep(verdictKey(`${SHA} x`, 'initech', '3333333333333333'));
    expect(readdirSync(dir).length).toBe(before);
  });

  it('a store it cannot make or write is no store: the run validates, nothing fails', () => {
    const base = mkdtempSync(join(tmpdir(), 'verdicts-'));
    writeFileSync(join(base, 'file'), 'x');
    const store = dirVerdictStore(join(base, 'file', 'verdicts'));
    const m = new ValidationMemo({ store, run: 'r' });
    const a = m.decideNow('gw-1', [K1]);
    expect(() => settle(a, K1, { valid: true, node: 'gw-1' })).not.toThrow();
    expect(kinds(new ValidationMemo({ store, run: 'r2' }).decideNow('gw-1', [K1]))).toEqual(['validate']);
  });

  it('drops verdicts older than 30 days when it keeps a new one', () => {
    const dir = fresh();
    const keep = (k: string): void => settle(new ValidationMemo({ store: dirVerdictStore(dir), run: 'r' }).decideNow('gw-1', [k]), k, { valid: true, node: 'gw-1' });
    keep(K1);
    const old = new Date(Date.now() - 31 * 24 * 3600 * 1000);
    utimesSync(fileOf(dir, K1), old, old);
    keep(K2);
    expect(existsSync(fileOf(dir, K1))).toBe(false);
    expect(existsSync(fileOf(dir, K2))).toBe(true);
  });

  it('the CLI keeps them under $XDG_CACHE_HOME/clawops/verdicts (an absolute one), else ~/.cache/clawops/verdicts', () => {
    expect(defaultVerdictDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/clawops/verdicts');
    expect(defaultVerdictDir({ XDG_CACHE_HOME: 'relative' })).toMatch(/\/\.cache\/clawops\/verdicts$/);
    expect(defaultVerdictDir({})).toMatch(/\/\.cache\/clawops\/verdicts$/);
  });
});

describe('the key a kept verdict is filed under', () => {
  it("is the release's whole digest, whose first 16 hex are its id", async () => {
    const { buildDesired } = await import('../../reconciler/desired/build-desired.js');
    const { readTreeSync } = await import('../../reconciler/source/read-tree.js');
    const { releaseDigestOf } = await import('../../reconciler/release-manifest.js');
    const { EXAMPLE } = await import('../helpers/repo.js');
    const d = buildDesired(readTreeSync(EXAMPLE));
    expect(d.tenants.size).toBeGreaterThan(0);
    for (const t of d.tenants.values()) {
      const digest = releaseDigestOf(t.files);
      expect(digest).toMatch(/^[0-9a-f]{64}$/);
      expect(digest.slice(0, 16)).toBe(t.releaseId);
    }
  });
});

describe('a kept verdict and the clawops that judged it', () => {
  it('names the judge version in its key: a verdict kept under another judge is not taken', async () => {
    const { JUDGE_VERSION } = await import('../../reconciler/apply/validation-memo.js');
    expect(K1.endsWith(`\t${JUDGE_VERSION}`)).toBe(true);
    const dir = fresh();
    // a verdict an older clawops kept: the same build, tenant and release, another judge
    const older = K1.replace(/\t[^\t]+$/, '\tjudge/0');
    const a = new ValidationMemo({ store: dirVerdictStore(dir), run: 'old' }).decideNow('gw-1', [older]);
    settle(a, older, { valid: true, node: 'gw-1' });
    expect(kinds(new ValidationMemo({ store: dirVerdictStore(dir), run: 'old-2' }).decideNow('gw-1', [older]))).toEqual(['check']);
    expect(kinds(new ValidationMemo({ store: dirVerdictStore(dir), run: 'new' }).decideNow('gw-1', [K1]))).toEqual(['validate']);
  });
});
