/**
 * The observe script's kept answer (observe-script.ts cache_hit / cache_write): an unchanged node answers with its
 * last full observation, the live records (clock, openclaw, disk, launchd) read afresh; any change under the roots,
 * any other stdin, another script, an old or odd cache means a full observe. Every case compares the kept answer with
 * what a full observe of the same node says right then.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OBSERVE_CACHE_MAX_AGE_S, OBSERVE_SCRIPT } from '../../reconciler/observe/observe-script.js';
import { expectations } from '../../reconciler/observe/observe-node.js';
import { parseObservation } from '../../reconciler/observe/parse-observation.js';
import type { NodeObservation } from '../../reconciler/observe/types.js';
import { exampleDesired } from '../plan/fixtures.js';
import { makeLocalNode, placeLocalRelease, writeToken, type LocalNode } from './local-node.js';

const example = exampleDesired();
let desired = example;
const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
const TOKEN = 'tok_Kp3vN8xL2qR7tY5wK9mB4cJ6hG1dF0sA';

/**
 * A change in the second or so before a full answer makes the next answers full ones too (the script cannot tell it
 * from a change after its reading): wait until every change made so far is older than T0 - 1 s of the next answer.
 */
function settle(): void {
  const until = (Math.floor(Date.now() / 1000) + 2) * 1000 + 20;
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.max(0, until - Date.now()));
}

let node: LocalNode;
let scratch: string;

beforeEach(() => {
  node = makeLocalNode();
  scratch = mkdtempSync(join(tmpdir(), 'clawops-obscache-'));
  desired = { ...example, lock: { ...example.lock, daemon: { sha256: sha(readFileSync(node.daemon)) } } };
  mkdirSync(join(node.varDb, 'clawops'), { recursive: true });
  for (const t of ['acme', 'globex']) {
    placeLocalRelease(node, desired, t);
    writeToken(node, t, 'token.current', `${TOKEN}-${t}`);
    node.setRunning(t, true);
  }
  // the first answer makes clawops/observe/ (a change under the roots)
  run();
});
afterEach(() => {
  node.remove();
  rmSync(scratch, { recursive: true, force: true });
});

const LD = (): string => join(node.root, 'Library/LaunchDaemons');
const cacheDir = (): string => join(node.varDb, 'clawops', 'observe');

interface Answer {
  kind: string;
  obs: NodeObservation;
  raw: string;
}

/** one run of the real script with dash, as a node runs it; `mode` its 4th argument */
function run(opts: { tenants?: string[]; full?: boolean; mode?: string; input?: string } = {}): Answer {
  const input = opts.input ?? expectations(desired, opts.tenants ?? ['acme', 'globex'], { full: opts.full ?? false });
  const raw = execFileSync('dash', ['-c', OBSERVE_SCRIPT, 'clawops-observe', node.etc, node.varDb, LD(), ...(opts.mode ? [opts.mode] : [])], {
    input,
    env: { PATH: `${node.bin}:/usr/bin:/bin`, HOME: node.root, TMPDIR: scratch },
    encoding: 'utf8',
  });
  const doc = JSON.parse(raw) as { records: string[][] };
  const kind = doc.records.find((r) => r[0] === 'answer')?.[1] ?? '';
  return { kind, obs: parseObservation('local-1', raw, { commands: 1, durationMs: 0 }, input), raw };
}

/** what may differ between two answers of the same node: the clock, the version cache flag, free disk */
const strip = (o: NodeObservation): unknown => ({ ...o, now: 0, durationMs: 0, openclaw: { ...o.openclaw, cached: false }, disk: o.disk ? { totalKb: o.disk.totalKb } : undefined });

/** a kept answer must say exactly what a full observe says now (the same stdin, the cache bypassed) */
function expectKeptEqualsFull(opts: { tenants?: string[] } = {}): Answer {
  const kept = run(opts);
  expect(kept.kind).toBe('kept');
  const full = run({ ...opts, mode: 'verify' });
  expect(full.kind).toBe('full');
  expect(strip(kept.obs)).toEqual(strip(full.obs));
  return kept;
}

/** after a change: the next answer is a full one, and it shows the change */
function expectFull(opts: { tenants?: string[]; full?: boolean } = {}): Answer {
  const a = run(opts);
  expect(a.kind).toBe('full');
  return a;
}

const acmeRelease = (): string => join(node.etc, 'releases/acme', desired.tenants.get('acme')!.releaseId);

describe('an unchanged node answers with its last full observation', () => {
  it('first a full answer, kept; then kept answers that say what a full one says, the live records read afresh', () => {
    settle();
    const first = expectFull();
    expect(existsSync(join(cacheDir(), 'cache'))).toBe(true);
    expect(first.obs.tenants.acme!.launchd).toMatchObject({ loaded: true });
    expectKeptEqualsFull();
    // launchd is live: a service that stopped shows at once, without a full observe
    node.setRunning('acme', false);
    const kept = run();
    expect(kept.kind).toBe('kept');
    expect(kept.obs.tenants.acme!.launchd).toMatchObject({ loaded: false });
    // the openclaw binary is live too (its hash and version)
    writeFileSync(node.daemon, `${readFileSync(node.daemon, 'utf8')}# changed\n`);
    const runs = node.openclawRuns();
    const again = run();
    expect(again.kind).toBe('kept');
    expect(again.obs.daemon?.sha256).toBe(sha(readFileSync(node.daemon)));
    expect(node.openclawRuns()).toBe(runs + 1);
    // its version line was cached where the walk does not look (observe/): the next answer is kept, openclaw not run
    const next = run();
    expect(next.kind).toBe('kept');
    expect(next.obs.openclaw.cached).toBe(true);
    expect(node.openclawRuns()).toBe(runs + 1);
  });

  it('a hand edit of the same size with its mtime put back is seen (ctime)', () => {
    settle();
    run();
    expect(run().kind).toBe('kept');
    const f = join(acmeRelease(), 'openclaw.json');
    const st = statSync(f);
    const before = readFileSync(f, 'utf8');
    writeFileSync(f, before.replace(/[a-z]/, (c) => (c === 'z' ? 'y' : 'z')));
    utimesSync(f, st.atime, st.mtime);
    const a = expectFull();
    expect(a.obs.tenants.acme!.files['openclaw.json']).toBe(sha(readFileSync(f)));
    expect(a.obs.tenants.acme!.files['openclaw.json']).not.toBe(desired.tenants.get('acme')!.files.find((x) => x.path === 'openclaw.json')!.sha256);
    // answers stay full while the change is too recent to tell from one made after their reading; then kept again
    expectFull();
    settle();
    expectFull();
    expectKeptEqualsFull();
  });

  it.each([
    ['a file added to a release', () => writeFileSync(join(acmeRelease(), 'gateway.d', 'zz-hand.json5'), '{}\n')],
    ['a file removed from a release', () => rmSync(join(acmeRelease(), 'openclaw.json'))],
    ['a link re-pointed (rename over it)', () => {
      const tmp = join(node.etc, 'tenants', '.hand');
      symlinkSync(`../releases/globex/${desired.tenants.get('globex')!.releaseId}`, tmp);
      renameSync(tmp, join(node.etc, 'tenants', 'acme'));
    }],
    ['a secret chmod', () => chmodSync(join(node.varDb, 'secrets/acme/token.current'), 0o644)],
    ['a secret rewritten with its mtime put back', () => {
      const s = join(node.varDb, 'secrets/acme/token.current');
      const st = statSync(s);
      writeFileSync(s, `${TOKEN}-rotated`);
      utimesSync(s, st.atime, st.mtime);
    }],
    ['token.next appearing', () => writeToken(node, 'acme', 'token.next', `${TOKEN}-next`)],
    ['a run record written by a gateway start', () => {
      mkdirSync(join(node.varDb, 'clawops/run'), { recursive: true });
      writeFileSync(join(node.varDb, 'clawops/run/acme.json'), JSON.stringify({ pid: 777, release_id: desired.tenants.get('acme')!.releaseId }));
    }],
    ['a pending guard', () => writeFileSync(join(node.varDb, 'clawops/guard.r1'), 'deadline\t9999999999\n')],
    ['a node lock', () => writeFileSync(join(node.varDb, 'clawops/node.lock'), '{"run":"r2"}\n')],
    ['a node unit installed', () => {
      mkdirSync(LD(), { recursive: true });
      writeFileSync(join(LD(), 'ai.openclaw.clawops.notifier.plist'), '<plist/>\n');
    }],
  ])('%s: the next answer is a full one that shows it', (_what, change) => {
    mkdirSync(LD(), { recursive: true });
    settle();
    run();
    expect(run().kind).toBe('kept');
    const before = run({ mode: 'verify' });
    change();
    const after = expectFull();
    expect(strip(after.obs)).not.toEqual(strip(before.obs));
  });

  it('another stdin (other tenants, other desired files, O full) is a full answer for it, kept in turn', () => {
    settle();
    run();
    const one = expectFull({ tenants: ['acme'] });
    expect(Object.keys(one.obs.tenants).sort()).toEqual(['acme', 'globex']); // globex is on the node, not asked about
    expectKeptEqualsFull({ tenants: ['acme'] });
    const full = expectFull({ full: true });
    expect(full.raw).not.toContain('"insync"');
    expect(run({ full: true }).kind).toBe('kept');
    // a desired file that changed: the stdin differs, so the node compares again
    const edited = { ...desired, tenants: new Map(desired.tenants) };
    const acme = edited.tenants.get('acme')!;
    edited.tenants.set('acme', { ...acme, files: acme.files.map((f) => (f.path === 'openclaw.json' ? { ...f, sha256: 'f'.repeat(64) } : f)) });
    const input = expectations(edited, ['acme', 'globex']);
    const a = run({ input });
    expect(a.kind).toBe('full');
    expect(a.raw).not.toContain('"insync","acme"');
  });

  it('a kept answer older than the maximum age, from the future, of another script or other paths is not used', () => {
    settle();
    run();
    const cache = join(cacheDir(), 'cache');
    const [h1, ...rest] = readFileSync(cache, 'utf8').split('\n');
    const [cv, t0] = h1!.split('\t');
    const now = Math.floor(Date.now() / 1000);
    const withHeader = (line: string, refT0: number): void => {
      // a reference file dated in the future: nothing is newer, only the header can refuse (made before the cache:
      // a ref changed after its cache is refused)
      const ref = join(cacheDir(), `ref.${refT0}`);
      writeFileSync(ref, '');
      utimesSync(ref, now + 3600, now + 3600);
      writeFileSync(cache, [line, ...rest].join('\n'));
    };
    expect(Number(t0)).toBeGreaterThan(now - 60);
    withHeader(`${cv}\t${now - OBSERVE_CACHE_MAX_AGE_S - 5}`, now - OBSERVE_CACHE_MAX_AGE_S - 5);
    expectFull();
    withHeader(`${cv}\t${now + 100}`, now + 100);
    expectFull();
    withHeader(`0000000000000000\t${now}`, now);
    expectFull();
    // the same header and reference as a good one: kept (the refusals above were the header's)
    withHeader(`${cv}\t${now - 1}`, now - 1);
    expect(run().kind).toBe('kept');
    // other roots (a secrets dir that did not exist, say) are another key
    const lines = readFileSync(cache, 'utf8').split('\n');
    lines[1] = `${lines[1]}\t/elsewhere`;
    writeFileSync(cache, lines.join('\n'));
    expectFull();
  });

  it('the verify argument always reads everything; a cache that is a link, or in a linked dir, is neither read nor written through', () => {
    settle();
    run();
    expect(run().kind).toBe('kept');
    expect(run({ mode: 'verify' }).kind).toBe('full');
    // the cache dir replaced by a link to a dir someone else controls: nothing written there, nothing read from it
    const elsewhere = join(scratch, 'elsewhere');
    mkdirSync(elsewhere);
    rmSync(cacheDir(), { recursive: true });
    symlinkSync(elsewhere, cacheDir());
    expectFull();
    expectFull();
    expect(readdirSync(elsewhere)).toEqual([]);
    // a cache file that is a link
    rmSync(cacheDir());
    run();
    settle();
    run();
    expect(run().kind).toBe('kept');
    const cache = join(cacheDir(), 'cache');
    renameSync(cache, join(scratch, 'real-cache'));
    symlinkSync(join(scratch, 'real-cache'), cache);
    expectFull();
  });

  it('a read-only state dir: full answers every time, exit 0, nothing left in the scratch dir', () => {
    chmodSync(join(node.varDb, 'clawops'), 0o555);
    try {
      // root ignores modes: make the dir unwritable the way root notices, a file where the cache dir goes
      writeFileSync(join(scratch, 'x'), '');
      rmSync(cacheDir(), { recursive: true });
      if (process.getuid?.() === 0) {
        chmodSync(join(node.varDb, 'clawops'), 0o755);
        writeFileSync(cacheDir(), 'not a dir\n');
      }
      expectFull();
      expectFull();
      expect(readdirSync(scratch).filter((n) => n !== 'x')).toEqual([]);
    } finally {
      chmodSync(join(node.varDb, 'clawops'), 0o755);
    }
  });

  it('a node without a clawops state dir is observed in full and gets none', () => {
    rmSync(join(node.varDb, 'clawops'), { recursive: true });
    expectFull();
    expectFull();
    expect(existsSync(join(node.varDb, 'clawops'))).toBe(false);
  });
});
