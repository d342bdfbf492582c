/**
 * Attacks on the observe script's kept answer (observe-script.ts cache_fresh / cache_write, the KEPT_IN flow): every
 * case here asserts what must hold — a kept answer says what a full observe (4th argument `verify`) says right then,
 * the observation never breaks (exit 0, valid JSON), nothing is written outside clawops' own dirs, nothing is
 * followed through a link — on a hostile or messy node.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DesiredState } from '../../reconciler/desired/types.js';
import { OBSERVE_SCRIPT } from '../../reconciler/observe/observe-script.js';
import { expectations } from '../../reconciler/observe/observe-node.js';
import { parseObservation } from '../../reconciler/observe/parse-observation.js';
import type { NodeObservation } from '../../reconciler/observe/types.js';
import { exampleDesired } from '../plan/fixtures.js';
import { makeLocalNode, placeLocalRelease, writeToken, type LocalNode } from './local-node.js';

const example = exampleDesired();
const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
const TOKEN = 'tok_Kp3vN8xL2qR7tY5wK9mB4cJ6hG1dF0sA';

/** wait until every change made so far is older than T0 - 1 s of the next answer (as in observe-cache.test.ts) */
function settle(): void {
  const until = (Math.floor(Date.now() / 1000) + 2) * 1000 + 20;
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.max(0, until - Date.now()));
}

interface Ctx {
  node: LocalNode;
  /** TMPDIR of the script */
  scratch: string;
  /** somewhere outside every clawops dir, for links to point at */
  outside: string;
  desired: DesiredState;
  /** the ETC argument (node.etc unless a test reaches it another way) */
  etc: string;
}

const LD = (c: Ctx): string => join(c.node.root, 'Library/LaunchDaemons');
const D = (c: Ctx): string => join(c.node.varDb, 'clawops');
const cacheDir = (c: Ctx): string => join(D(c), 'observe');
const cacheFile = (c: Ctx): string => join(cacheDir(c), 'cache');

function setup(): Ctx {
  const node = makeLocalNode();
  const scratch = mkdtempSync(join(tmpdir(), 'clawops-obsattack-'));
  const outside = mkdtempSync(join(tmpdir(), 'clawops-obsattack-outside-'));
  const desired = { ...example, lock: { ...example.lock, daemon: { sha256: sha(readFileSync(node.daemon)) } } };
  mkdirSync(join(node.varDb, 'clawops'), { recursive: true });
  const c: Ctx = { node, scratch, outside, desired, etc: node.etc };
  mkdirSync(LD(c), { recursive: true });
  for (const t of ['acme', 'globex']) {
    placeLocalRelease(node, desired, t);
    writeToken(node, t, 'token.current', `${TOKEN}-${t}`);
    node.setRunning(t, true);
  }
  // the first answer writes the version cache and the cache dir under clawops/
  exec(c);
  return c;
}

function teardown(c: Ctx): void {
  c.node.remove();
  rmSync(c.scratch, { recursive: true, force: true });
  rmSync(c.outside, { recursive: true, force: true });
}

interface RunOpts {
  input?: string;
  mode?: string;
}

function exec(c: Ctx, o: RunOpts = {}): { code: number | null; stdout: string; stderr: string; input: string } {
  const input = o.input ?? expectations(c.desired, ['acme', 'globex']);
  const r = spawnSync('dash', ['-c', OBSERVE_SCRIPT, 'clawops-observe', c.etc, c.node.varDb, LD(c), ...(o.mode ? [o.mode] : [])], {
    input,
    env: { PATH: `${c.node.bin}:/usr/bin:/bin`, HOME: c.node.root, TMPDIR: c.scratch },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, input };
}

interface Answer {
  kind: string;
  obs: NodeObservation;
  raw: string;
}

/** one observe that must not break: exit 0, one valid JSON document */
function answer(c: Ctx, o: RunOpts = {}): Answer {
  const r = exec(c, o);
  expect(r.code, `exit code (stderr: ${r.stderr})`).toBe(0);
  let doc: { records: string[][] } = { records: [] };
  expect(() => {
    doc = JSON.parse(r.stdout) as { records: string[][] };
  }, `valid JSON: ${r.stdout.slice(0, 300)}`).not.toThrow();
  const kind = doc.records.find((x) => x[0] === 'answer')?.[1] ?? '';
  return { kind, obs: parseObservation('local-1', r.stdout, { commands: 1, durationMs: 0 }, r.input), raw: r.stdout };
}

/** what may differ between two answers of the same node: the clock, the version cache flag, free disk */
const strip = (o: NodeObservation): unknown => ({ ...o, now: 0, durationMs: 0, openclaw: { ...o.openclaw, cached: false }, disk: o.disk ? { totalKb: o.disk.totalKb } : undefined });

/** whatever kind of answer comes, it says what a full observe says right then */
function matchesVerify(c: Ctx, o: RunOpts = {}): Answer {
  const a = answer(c, o);
  const v = answer(c, { ...o, mode: 'verify' });
  expect(v.kind).toBe('full');
  expect(strip(a.obs), `a ${a.kind} answer differs from a full one`).toEqual(strip(v.obs));
  return a;
}

/** the node answers with a kept answer now (precondition of an attack) */
function ensureKept(c: Ctx, o: RunOpts = {}): void {
  answer(c, o);
  expect(answer(c, o).kind).toBe('kept');
}

describe('a settled node (one setup, the cache refreshed by a full observe after each case)', () => {
  let c: Ctx;
  beforeAll(() => {
    c = setup();
    settle();
  });
  afterAll(() => teardown(c));
  afterEach(() => {
    exec(c, { mode: 'verify' });
  });

  it.each([
    ['a final line "--"', (inp: string) => `${inp}--\n`, (inp: string) => inp],
    ['a "--" line between two tenants', () => 'T\tacme\n--\nT\tglobex\n', () => 'T\tacme\n'],
  ])('stdin with %s: another stdin equal to the lines before it gets a valid answer that is its own', (_what, first, second) => {
    ensureKept(c);
    const inp = expectations(c.desired, ['acme', 'globex']);
    answer(c, { input: first(inp) });
    // the cache's stdin section ends at the first "--": the rest of that stdin, the separator and the records
    // are sent to the next observe whose stdin is the part before it, as if they were JSON records
    matchesVerify(c, { input: second(inp) });
  });

  it('a cache cut short (a partial copy, an editor) is not sent as a kept answer', () => {
    ensureKept(c);
    const b = readFileSync(cacheFile(c));
    writeFileSync(cacheFile(c), b.subarray(0, b.length - 7));
    matchesVerify(c);
  });

  it('a cache with a record line removed is not sent as a kept answer', () => {
    ensureKept(c);
    const lines = readFileSync(cacheFile(c), 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('["token","acme","token.current"'));
    expect(i).toBeGreaterThan(0);
    lines.splice(i, 1);
    writeFileSync(cacheFile(c), lines.join('\n'));
    matchesVerify(c);
  });

  it('a cache header whose T0 has a leading zero does not crash the script (dash reads it as octal)', () => {
    ensureKept(c);
    const lines = readFileSync(cacheFile(c), 'utf8').split('\n');
    const [cv, t0] = lines[0]!.split('\t');
    // any digit 8 or 9 makes $((NOW - 0…)) an arithmetic error, which ends a non-interactive dash
    const z = `0${t0!}`;
    expect(z).toMatch(/[89]/);
    lines[0] = `${cv!}\t${z}`;
    writeFileSync(cacheFile(c), lines.join('\n'));
    const ref = join(cacheDir(c), `ref.${z}`);
    writeFileSync(ref, '');
    utimesSync(ref, Number(t0) - 1, Number(t0) - 1);
    matchesVerify(c);
  });

  it('a launchctl domain of 150 KB (under the 256 KiB the script allows in the environment) still gets an answer', () => {
    ensureKept(c);
    const lc = join(c.node.bin, 'launchctl');
    const orig = readFileSync(lc, 'utf8');
    const dom = join(c.outside, 'domain.txt');
    const filler = Array.from({ length: 3500 }, (_, i) => `\t\t${'0'.padStart(8)} ${'-'.padStart(8)} \tcom.example.filler.service.number.${i}\n`).join('');
    writeFileSync(
      dom,
      `system = {\n\ttype = system\n\thandle = 0\n\n\tservices = {\n${filler}\t\t${'4242'.padStart(8)} ${'-'.padStart(8)} \tai.openclaw.acme\n\t\t${'4242'.padStart(8)} ${'-'.padStart(8)} \tai.openclaw.globex\n\t}\n}\n`,
    );
    expect(statSync(dom).size).toBeGreaterThan(140_000);
    expect(statSync(dom).size).toBeLessThan(262_144);
    renameSync(lc, `${lc}.orig`);
    writeFileSync(lc, `#!/bin/sh\nif [ "$1" = print ] && [ "$2" = system ]; then cat '${dom}'; exit 0; fi\nexec '${lc}.orig' "$@"\n`, { mode: 0o755 });
    try {
      const a = matchesVerify(c);
      expect(a.obs.tenants.acme!.launchd).toMatchObject({ loaded: true });
    } finally {
      writeFileSync(lc, orig, { mode: 0o755 });
      rmSync(`${lc}.orig`, { force: true });
    }
  });

  it('the kept answer (token fingerprints, modes and mtimes of secrets) is not readable by other local users', () => {
    ensureKept(c);
    // the secrets dir is 0700; the cache of what was read there must not be world- or group-readable
    expect((statSync(cacheFile(c)).mode & 0o077).toString(8)).toBe('0');
  });
});

describe('what lies outside the roots, or a touched reference, is not hidden behind a kept answer', () => {
  let c: Ctx;
  afterEach(() => teardown(c));

  it('a quarantine dir of a tenant that is a link elsewhere: a file appearing there shows in the next answer', () => {
    c = setup();
    const q = join(c.outside, 'q-acme');
    mkdirSync(q);
    mkdirSync(join(D(c), 'quarantine'));
    symlinkSync(q, join(D(c), 'quarantine', 'acme'));
    settle();
    ensureKept(c);
    // nothing under the roots changes: the file is written where the link points
    writeFileSync(join(q, 'abcdef0123456789'), '{"reason":"health","at":1}\n');
    matchesVerify(c);
  });

  it('ETC reached through a link that is re-pointed at another tree: the next answer describes the new tree', () => {
    c = setup();
    const root = c.node.root;
    // a blue/green copy of /etc: green has no globex
    cpSync(join(root, 'etc'), join(root, 'etc-green'), { recursive: true, verbatimSymlinks: true });
    rmSync(join(root, 'etc-green/openclaw/tenants/globex'));
    symlinkSync('etc', join(root, 'etcl'));
    c.etc = join(root, 'etcl/openclaw');
    exec(c);
    settle();
    ensureKept(c);
    symlinkSync('etc-green', join(root, 'etcl.new'));
    renameSync(join(root, 'etcl.new'), join(root, 'etcl'));
    const a = matchesVerify(c);
    expect(a.raw).not.toContain('["link","globex"');
  });

  it('stdin sent late (early logins): a change after the kept answer was judged but before stdin came is in the answer', async () => {
    c = setup();
    settle();
    ensureKept(c);
    // the kept path asks launchd right after its find and before it reads stdin: the fake launchctl marks that moment
    const lc = join(c.node.bin, 'launchctl');
    renameSync(lc, `${lc}.orig`);
    const mark = join(c.outside, 'asked');
    writeFileSync(lc, `#!/bin/sh\n[ "$2" = system ] && : > '${mark}'\nexec '${lc}.orig' "$@"\n`, { mode: 0o755 });
    const input = expectations(c.desired, ['acme', 'globex']);
    const child = spawn('dash', ['-c', OBSERVE_SCRIPT, 'clawops-observe', c.etc, c.node.varDb, LD(c)], {
      env: { PATH: `${c.node.bin}:/usr/bin:/bin`, HOME: c.node.root, TMPDIR: c.scratch },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const done = new Promise<number | null>((res) => child.on('close', res));
    for (let i = 0; i < 500 && !existsSync(mark); i++) await new Promise((r) => setTimeout(r, 10));
    expect(existsSync(mark)).toBe(true);
    // meanwhile an apply starts: its dead-man guard is written (a full observe reads guards after stdin)
    writeFileSync(join(D(c), 'guard.r9'), 'deadline\t9999999999\n');
    await new Promise((r) => setTimeout(r, 50));
    child.stdin.end(input);
    expect(await done).toBe(0);
    const doc = JSON.parse(out) as { records: string[][] };
    const a = parseObservation('local-1', out, { commands: 1, durationMs: 0 }, input);
    const v = answer(c, { mode: 'verify' });
    expect(v.obs.guards.map((g) => g.run)).toEqual(['r9']);
    expect(a.guards.map((g) => g.run), `a ${doc.records.find((x) => x[0] === 'answer')?.[1] ?? ''} answer`).toEqual(['r9']);
    expect(strip(a)).toEqual(strip(v.obs));
  });

  it('the reference file touched after a change (a cleanup, a backup restore) does not hide the change', () => {
    c = setup();
    settle();
    ensureKept(c);
    const [ref] = readdirSync(cacheDir(c)).filter((n) => n.startsWith('ref.'));
    chmodSync(join(c.node.varDb, 'secrets/acme/token.current'), 0o644);
    execFileSync('touch', [join(cacheDir(c), ref!)]);
    const a = matchesVerify(c);
    expect(a.raw).toContain('"token","acme","token.current","644"');
  });
});

describe('a messy cache dir: nothing written outside it, nothing piling up in it', () => {
  let c: Ctx;
  afterEach(() => teardown(c));

  it('a cache that is a link to a directory elsewhere: nothing is written there', () => {
    c = setup();
    const elsewhere = join(c.outside, 'elsewhere');
    mkdirSync(elsewhere);
    rmSync(cacheFile(c), { force: true });
    symlinkSync(elsewhere, cacheFile(c));
    answer(c);
    answer(c);
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('a cache that is a directory: full answers, and nothing piles up inside it', () => {
    c = setup();
    rmSync(cacheFile(c), { force: true });
    mkdirSync(cacheFile(c));
    expect(answer(c).kind).toBe('full');
    expect(answer(c).kind).toBe('full');
    expect(readdirSync(cacheFile(c))).toEqual([]);
  });

  it('a cache.<pid> left by an observe killed between writing and renaming it does not stay for ever', () => {
    c = setup();
    const left = join(cacheDir(c), 'cache.4242');
    writeFileSync(left, 'half a cache\n');
    utimesSync(left, 1_000_000, 1_000_000);
    answer(c);
    answer(c, { mode: 'verify' });
    expect(readdirSync(cacheDir(c)).filter((n) => n.startsWith('cache.'))).toEqual([]);
  });

  it('ref.<T> names that are links (dangling, or to a file elsewhere): touch does not create or date anything there', () => {
    c = setup();
    const now = Math.floor(Date.now() / 1000);
    const victim = join(c.outside, 'victim');
    writeFileSync(victim, 'not clawops\n');
    utimesSync(victim, 1_000_000, 1_000_000);
    for (const n of readdirSync(cacheDir(c))) if (n.startsWith('ref.')) rmSync(join(cacheDir(c), n));
    for (let t = now - 2; t <= now + 30; t++) {
      symlinkSync(t % 2 ? victim : join(c.outside, `created-${t}`), join(cacheDir(c), `ref.${t}`));
    }
    answer(c);
    expect(readdirSync(c.outside).sort()).toEqual(['victim']);
    expect(statSync(victim).mtimeMs).toBe(1_000_000_000);
    expect(existsSync(cacheDir(c))).toBe(true);
  });
});

/** root, and a mount namespace of our own: a tiny file system can stand for a full disk */
const canMount = ((): boolean => {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('unshare', ['-m', 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=8k tmpfs "$d" && umount "$d" && rmdir "$d"']).status === 0;
})();

describe('a full disk', () => {
  let c: Ctx;
  afterEach(() => teardown(c));

  it.runIf(canMount)('a full TMPDIR: the observe fails or says what a full one says, and leaves no ref.<T> behind', () => {
    c = setup();
    const input = expectations(c.desired, ['acme', 'globex']);
    const full = join(c.outside, 'fulltmp');
    mkdirSync(full);
    // no cache and no reference yet: any reference file after the run that no cache names is left behind
    for (const n of readdirSync(cacheDir(c))) rmSync(join(cacheDir(c), n));
    // TMPDIR on an 8 KiB file system (2 pages): the scratch files do not fit
    const r = spawnSync(
      'unshare',
      ['-m', 'sh', '-c', 'mount -t tmpfs -o size=8k tmpfs "$1" && shift && exec "$@"', 'sh', full, 'dash', '-c', OBSERVE_SCRIPT, 'clawops-observe', c.etc, c.node.varDb, LD(c)],
      { input, env: { PATH: `${c.node.bin}:/usr/bin:/bin`, HOME: c.node.root, TMPDIR: full }, encoding: 'utf8' },
    );
    const refs = readdirSync(cacheDir(c)).filter((n) => n.startsWith('ref.'));
    const kept = existsSync(cacheFile(c)) ? `ref.${readFileSync(cacheFile(c), 'utf8').split('\n')[0]!.split('\t')[1]!}` : '';
    if (r.status === 0) {
      const a = parseObservation('local-1', r.stdout, { commands: 1, durationMs: 0 }, input);
      const v = answer(c, { mode: 'verify' });
      expect(strip(a), `exit 0 with a wrong answer (stderr: ${r.stderr})`).toEqual(strip(v.obs));
    }
    expect(refs.filter((n) => n !== kept), 'reference files left behind').toEqual([]);
  });
});
