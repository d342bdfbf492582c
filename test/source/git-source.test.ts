/** Where desired state comes from: local checkouts read in place, refs cloned into a temp dir, and their errors. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitError, IoError, UsageError, ValidationError } from '../../reconciler/errors.js';
import { gitReason, isGitUrl, openSource, redactUrl, type Source } from '../../reconciler/source/git-source.js';
import { loadDesired, selectNodes } from '../../reconciler/source/load.js';
import { exampleRepo } from '../helpers/repo.js';

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com', GIT_CONFIG_NOSYSTEM: '1' };
const git = (dir: string, ...args: string[]): string => execFileSync('git', args, { cwd: dir, env: GIT_ENV, encoding: 'utf8' }).trim();

let savedTmp: string | undefined;
let scratch: string;
/** temp clones this file's code left behind */
const leftovers = (): string[] => readdirSync(scratch).filter((n) => n.startsWith('clawops-src-'));

/** tenants-example committed on main (tag v1), a commit on `feature` changing acme's log level, and a lightweight tag */
let repo: string;
let c1: string;
let c2: string;

async function expectError<T extends Error>(p: Promise<unknown>, type: new (...a: never[]) => T): Promise<T> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(type);
  return err as T;
}

beforeAll(() => {
  savedTmp = process.env.TMPDIR;
  scratch = mkdtempSync(join(tmpdir(), 'clawops-source-test-'));
  process.env.TMPDIR = scratch; // os.tmpdir() follows it: temp clones land where we can count them
  repo = exampleRepo();
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'initial');
  git(repo, 'tag', '-a', '-m', 'v1', 'v1');
  c1 = git(repo, 'rev-parse', 'HEAD');
  git(repo, 'checkout', '-q', '-b', 'feature');
  const f = join(repo, 'tenants/acme/gateway.d/20-overrides.yaml');
  writeFileSync(f, readFileSync(f, 'utf8').replace('level: debug', 'level: warn'));
  git(repo, 'commit', '-q', '-a', '-m', 'acme: warn');
  git(repo, 'tag', 'light');
  c2 = git(repo, 'rev-parse', 'HEAD');
  git(repo, 'checkout', '-q', 'main');
});

afterAll(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  rmSync(scratch, { recursive: true, force: true });
});

const acmeLevel = (s: Source): string => /level: (\w+)/.exec(readFileSync(join(s.dir, 'tenants/acme/gateway.d/20-overrides.yaml'), 'utf8'))![1]!;

describe('openSource: a local directory without --ref is read in place', () => {
  it('records commit and tag, clean', async () => {
    const s = await openSource(repo);
    expect(s).toMatchObject({ origin: repo, dir: repo, commit: c1, tag: 'v1', dirty: false });
    expect(s.ref).toBeUndefined();
    s.cleanup();
    expect(existsSync(join(repo, 'nodes.yaml'))).toBe(true); // never deletes the user's checkout
    expect(leftovers()).toEqual([]);
  });

  it('flags uncommitted and untracked changes as dirty', async () => {
    const f = join(repo, 'tenants/acme/doctor.d/10-base.yaml');
    const before = readFileSync(f);
    try {
      writeFileSync(f, `${before.toString()}# local edit\n`);
      expect((await openSource(repo)).dirty).toBe(true);
    } finally {
      writeFileSync(f, before);
    }
    expect((await openSource(repo)).dirty).toBe(false);
    const extra = join(repo, 'tenants/globex/doctor.d/90-new.yaml');
    try {
      writeFileSync(extra, 'doctor: {}\n');
      expect((await openSource(repo)).dirty).toBe(true);
    } finally {
      rmSync(extra);
    }
  });

  it('a commit without a tag has no tag; a subdirectory of a work tree takes the repo commit', async () => {
    git(repo, 'checkout', '-q', 'feature');
    try {
      const s = await openSource(repo);
      expect(s.commit).toBe(c2);
      expect(s.tag).toBe('light');
      const sub = await openSource(join(repo, 'tenants'));
      expect(sub).toMatchObject({ dir: join(repo, 'tenants'), commit: c2, dirty: false });
    } finally {
      git(repo, 'checkout', '-q', 'main');
    }
  });

  it('a plain directory (not git) has no commit and is not dirty', async () => {
    const plain = exampleRepo();
    try {
      const s = await openSource(plain);
      expect(s).toMatchObject({ dir: plain, dirty: false });
      expect(s.commit).toBeUndefined();
    } finally {
      rmSync(plain, { recursive: true, force: true });
    }
  });
});

describe('openSource: --ref clones into a temp dir and checks the ref out', () => {
  it.each([
    ['main', () => c1, 'debug', 'v1'],
    ['feature', () => c2, 'warn', 'light'],
    ['v1', () => c1, 'debug', 'v1'],
    ['refs/tags/v1', () => c1, 'debug', 'v1'],
    ['refs/heads/feature', () => c2, 'warn', 'light'],
    ['light', () => c2, 'warn', 'light'],
    ['<full commit>', () => c2, 'warn', 'light'],
    ['<short commit>', () => c1, 'debug', 'v1'],
  ])('--ref %s', async (label, commit, level, tag) => {
    const ref = label === '<full commit>' ? c2 : label === '<short commit>' ? c1.slice(0, 8) : label;
    const s = await openSource(repo, ref);
    try {
      expect(s.dir).not.toBe(repo);
      expect(s.dir.startsWith(join(scratch, 'clawops-src-'))).toBe(true);
      expect(s).toMatchObject({ origin: repo, ref, commit: commit(), tag, dirty: false });
      expect(acmeLevel(s)).toBe(level);
      expect(git(s.dir, 'status', '--porcelain')).toBe('');
    } finally {
      s.cleanup();
    }
    expect(existsSync(s.dir)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('a file:// URL without --ref clones the default branch', async () => {
    const url = `file://${repo}`;
    expect(isGitUrl(url)).toBe(true);
    const s = await openSource(url);
    try {
      expect(s).toMatchObject({ origin: url, commit: c1, tag: 'v1', dirty: false });
      expect(s.ref).toBeUndefined();
      expect(acmeLevel(s)).toBe('debug');
    } finally {
      s.cleanup();
    }
    expect(leftovers()).toEqual([]);
  });

  it('an uncommitted edit in the source is not in the clone', async () => {
    const f = join(repo, 'tenants/acme/gateway.d/20-overrides.yaml');
    const before = readFileSync(f);
    writeFileSync(f, before.toString().replace('level: debug', 'level: error'));
    try {
      const s = await openSource(repo, 'main');
      expect(acmeLevel(s)).toBe('debug');
      expect(s.dirty).toBe(false);
      s.cleanup();
    } finally {
      writeFileSync(f, before);
    }
  });
});

describe('openSource: errors are one line, exit code 2, and leave nothing behind', () => {
  it.each(['nope', 'origin/nope', 'refs/heads/nope', 'deadbeef', '--upload-pack=touch /tmp/clawops-pwned', '-h'])('unknown ref %s', async (ref) => {
    const e = await expectError(openSource(repo, ref), GitError);
    expect(e.exitCode).toBe(2);
    expect(e.reason).toBe('SourceFailed');
    expect(e.message).toBe(`${repo}: unknown ref "${ref}" (no such branch, tag or commit)`);
    expect(leftovers()).toEqual([]);
    expect(existsSync('/tmp/clawops-pwned')).toBe(false);
  });

  it('a path that does not exist, or is a file', async () => {
    const e = await expectError(openSource(join(scratch, 'no-such-repo')), IoError);
    expect(e.message).toBe(`${join(scratch, 'no-such-repo')}: no such repo directory (and not a git URL)`);
    expect(e.exitCode).toBe(2);
    const file = join(repo, 'nodes.yaml');
    expect((await expectError(openSource(file), IoError)).message).toBe(`${file}: not a directory`);
    expect((await expectError(openSource(join(scratch, 'no-such-repo'), 'main'), IoError)).exitCode).toBe(2);
  });

  it('a file:// URL that does not exist', async () => {
    const url = `file://${join(scratch, 'no-such-repo')}`;
    const e = await expectError(openSource(url, 'main'), GitError);
    expect(e.message).toMatch(new RegExp(`^cannot clone ${url}: .+`));
    expect(e.message).not.toContain('\n');
    expect(e.exitCode).toBe(2);
    expect(leftovers()).toEqual([]);
  });

  it('a local directory that is not a repo, with --ref', async () => {
    const plain = mkdtempSync(join(scratch, 'plain-'));
    const e = await expectError(openSource(plain, 'main'), GitError);
    expect(e.message).toMatch(/^cannot clone .*plain-.*: .+/);
    expect(e.message).not.toContain('\n');
    expect(leftovers()).toEqual([]);
  });

  it('credentials in a URL never reach the error message', async () => {
    // port 1 on loopback: refused at once, no network needed
    for (const [url, shown] of [
      ['https://clawops:s3cr3t-Pa55@127.0.0.1:1/infra.git', 'https://clawops:***@127.0.0.1:1/infra.git'],
      ['https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@127.0.0.1:1/infra.git', 'https://***@127.0.0.1:1/infra.git'],
      ['https://x-access-token:ghs_0123456789abcdef@127.0.0.1:1/infra.git', 'https://***@127.0.0.1:1/infra.git'],
    ] as const) {
      const e = await expectError(openSource(url), GitError);
      expect(e.message.startsWith(`cannot clone ${shown}: `)).toBe(true);
      expect(e.message).not.toMatch(/s3cr3t|Pa55|ghp_|ghs_/);
      expect(e.message).not.toContain('\n');
      expect(leftovers()).toEqual([]);
    }
  });
});

describe('redactUrl, isGitUrl, gitReason', () => {
  it.each([
    ['https://user:s3cr3t@host/x.git', 'https://user:***@host/x.git'],
    ['https://user:p@ss@host/x.git', 'https://user:***@host/x.git'],
    ['https://user:@host/x', 'https://user:***@host/x'],
    ['https://oauth2:glpat-abcdef@gitlab.example/x', 'https://oauth2:***@gitlab.example/x'],
    ['https://x-access-token:ghs_abc@github.com/o/r', 'https://***@github.com/o/r'],
    ['https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/o/r', 'https://***@github.com/o/r'],
    ['https://abcdefghijklmnopqrstuvwxyz@host/x', 'https://***@host/x'],
    ['ssh://git@host:2222/infra.git', 'ssh://git:***@host:2222/infra.git'],
    ["fatal: unable to access 'https://u:pw@h/x/': 403", "fatal: unable to access 'https://u:***@h/x/': 403"],
    ['https://a:b@h/x and https://c:d@k/y', 'https://a:***@h/x and https://c:***@k/y'],
    ['https://host/x?q=a@b', 'https://host/x?q=a@b'],
    ['https://host/x', 'https://host/x'],
    ['git@github.com:org/infra.git', 'git@github.com:org/infra.git'],
    ['/srv/infra', '/srv/infra'],
  ])('redactUrl(%s)', (input, want) => {
    expect(redactUrl(input)).toBe(want);
  });

  it.each([
    ['https://github.com/org/infra.git', true],
    ['ssh://git@host/infra.git', true],
    ['file:///srv/infra', true],
    ['git@github.com:org/infra.git', true],
    ['/srv/infra', false],
    ['infra', false],
    ['./infra', false],
    ['tenants-example', false],
  ])('isGitUrl(%s) = %s', (input, want) => {
    expect(isGitUrl(input)).toBe(want);
  });

  it('gitReason picks the fatal line, drops hints, redacts', () => {
    const msg = "Cloning into '/tmp/x'...\nhint: use --foo\nremote: Invalid username or password.\nfatal: Authentication failed for 'https://bob:hunter2@git.example/infra.git/'\n";
    expect(gitReason(new Error(msg))).toBe("Authentication failed for 'https://bob:***@git.example/infra.git/'");
    expect(gitReason('error: something broke\nmore')).toBe('something broke');
    expect(gitReason(new Error('just one line'))).toBe('just one line');
    expect(gitReason(new Error(''))).toBe('git failed');
  });
});

describe('loadDesired and selectNodes', () => {
  it('loads a clean repo, local or by ref, and cleans the clone up on request', async () => {
    const local = await loadDesired(repo);
    expect([...local.desired.tenants.keys()]).toEqual(['acme', 'globex', 'initech']);
    expect(local.source.commit).toBe(c1);
    const byRef = await loadDesired(repo, 'feature');
    expect(byRef.source.commit).toBe(c2);
    expect(byRef.desired.tenants.get('acme')!.releaseId).not.toBe(local.desired.tenants.get('acme')!.releaseId);
    byRef.source.cleanup();
    expect(leftovers()).toEqual([]);
  });

  it('a repo with lint errors is a ValidationError naming file:line:col, and its clone is removed', async () => {
    const bad = exampleRepo({ 'tenants/globex/gateway.d/20-agents.yaml': 'agents:\n  defaults:\n    timeoutSeconds: [unclosed\n' });
    try {
      const e = await expectError(loadDesired(bad), ValidationError);
      expect(e.exitCode).toBe(2);
      expect(e.reason).toBe('ValidationFailed');
      expect(e.message).toMatch(new RegExp(`^${bad} has \\d+ error\\(s\\), first: tenants/globex/gateway\\.d/20-agents\\.yaml:\\d+:\\d+: error: .+; run clawops lint$`));
      expect(e.message).not.toContain('\n');
      expect(e.findings.length).toBeGreaterThan(0);
      expect(e.findings[0]).toMatchObject({ file: 'tenants/globex/gateway.d/20-agents.yaml' });

      git(bad, 'init', '-q', '-b', 'main');
      git(bad, 'add', '-A');
      git(bad, 'commit', '-q', '-m', 'broken');
      const e2 = await expectError(loadDesired(bad, 'main'), ValidationError);
      expect(e2.message).toMatch(new RegExp(`^${bad}@main has \\d+ error\\(s\\), first: tenants/globex/gateway\\.d/20-agents\\.yaml:\\d+:\\d+: `));
      expect(leftovers()).toEqual([]);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });

  it('a repo with a literal secret names where it is, never the value', async () => {
    const bad = exampleRepo({ 'tenants/initech/doctor.d/30-oops.yaml': 'doctor:\n  api_key: sk-live0123456789abcdefghij\n' });
    try {
      const e = await expectError(loadDesired(bad), ValidationError);
      expect(e.message).toContain('tenants/initech/doctor.d/30-oops.yaml:2:');
      expect(e.message).not.toContain('sk-live0123456789');
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });

  it('selectNodes: all by default, the named ones in the order given without repeats, unknown names refused', async () => {
    const { desired } = await loadDesired(repo);
    expect(selectNodes(desired, undefined).map((n) => n.name)).toEqual(['notifier-1', 'gw-1', 'gw-2']);
    expect(selectNodes(desired, []).map((n) => n.name)).toEqual(['notifier-1', 'gw-1', 'gw-2']);
    expect(selectNodes(desired, ['gw-2', 'gw-1', 'gw-2']).map((n) => n.name)).toEqual(['gw-2', 'gw-1']);
    let err: unknown;
    try {
      selectNodes(desired, ['gw-1', 'gw-9', 'mac-3']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as UsageError).message).toBe('--node gw-9, mac-3: not in nodes.yaml (known: notifier-1, gw-1, gw-2)');
  });
});

describe('hygiene', () => {
  it('no test above left a temp clone behind', () => {
    mkdirSync(scratch, { recursive: true });
    expect(leftovers()).toEqual([]);
  });
});
