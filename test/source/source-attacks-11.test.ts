/**
 * Adversarial run 11, part B: where the desired state comes from (reconciler/source/git-source.ts, read-tree.ts, the
 * controller's GitMirror) and repo text in human output. The operator's GLOBAL git config (HOME and XDG_CONFIG_HOME
 * pointed at a temp dir; never the machine's own): which keys beyond core.hooksPath/core.fsmonitor make git run a
 * program inside clawops' own git (the in-place questions, the `--ref` clone, the controller's mirror clone/fetch/show)
 * — each proven by a marker file the program writes —, which do not; a checkout git cannot read (a broken index);
 * MAX_TREE_BYTES on every path that builds a desired state, and what the clone writes before any bound; `lint --json`
 * and repo file names. Real git repos in temp dirs; no sshd, no controller process.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GitMirror } from '../../reconciler/controller/git-mirror.js';
import { MAX_FILE_BYTES } from '../../reconciler/desired/snapshot.js';
import { openSource, type Source } from '../../reconciler/source/git-source.js';
import { loadDesired } from '../../reconciler/source/load.js';
import { MAX_TREE_BYTES } from '../../reconciler/source/read-tree.js';
import { BIDI_ZW, committed, git, useScratchTmp } from '../helpers/attack10.js';
import { exampleRepo, runCli } from '../helpers/repo.js';

// clawops' temp clones land in a scratch TMPDIR of this file's (and go with it)
const scratchDir = useScratchTmp('clawops-att11-');

/** one more commit on main */
function commitMore(dir: string): string {
  const f = join(dir, 'tenants/acme/gateway.d/20-overrides.yaml');
  writeFileSync(f, `${readFileSync(f, 'utf8')}# more\n`);
  git(dir, 'commit', '-qam', 'more');
  return git(dir, 'rev-parse', 'HEAD');
}

function script(path: string, body: string): string {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

interface Home {
  home: string;
  marker: string;
  fired: () => string;
  /** a script that appends `name $*` to the marker, then runs `then` */
  prog: (name: string, then?: string) => string;
}

/** a HOME (and XDG_CONFIG_HOME) of its own whose ~/.gitconfig is `gitconfig(home)`; a marker programs append to */
function home(gitconfig: (h: Home) => string): Home {
  const dir = mkdtempSync(join(scratchDir(), 'home-'));
  const marker = join(dir, 'MARKER');
  const h: Home = {
    home: dir,
    marker,
    fired: () => (existsSync(marker) ? readFileSync(marker, 'utf8') : ''),
    prog: (name, then = 'exit 1') => script(join(dir, name), `echo "${name} $*" >> ${marker}\n${then}`),
  };
  writeFileSync(join(dir, '.gitconfig'), gitconfig(h));
  return h;
}

/** run `fn` with these environment variables (undefined: unset), restored after */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
/** HOME and XDG_CONFIG_HOME at `h`, no operator GIT_SSH_COMMAND (clawops' default applies) */
const inHome = <T>(h: Home, fn: () => Promise<T>, extra: Record<string, string | undefined> = {}): Promise<T> =>
  withEnv({ HOME: h.home, XDG_CONFIG_HOME: join(h.home, '.config'), GIT_SSH_COMMAND: undefined, ...extra }, fn);

async function caught(p: Promise<unknown>): Promise<Error | undefined> {
  try {
    const v = await p;
    (v as Source | undefined)?.cleanup?.();
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

/** the controller's mirror of `repo`: cloned, then fetched after one more commit; a file shown, HEAD asked */
async function mirrorPasses(repo: string, dir?: string): Promise<GitMirror> {
  const m = new GitMirror(repo, join(mkdtempSync(join(scratchDir(), 'state-')), 'repo.git'));
  await m.fetch();
  if (dir) commitMore(dir);
  await m.fetch();
  const head = await m.head();
  if (head) await m.show(head, 'clawops.yaml');
  return m;
}

describe("programs the operator's global git config names, inside clawops' own git (adversarial run 11)", () => {
  // fixed (was: hardenedGit (reconciler/source/git-source.ts) neutralises only core.hooksPath and core.fsmonitor; `uploadpack.packObjectsHook` from ~/.gitconfig (a hook git honours only from global/system config) runs on every controller pass (GitMirror.fetch of a local repo path: git spawns upload-pack, which runs the hook) and on `--ref` reads of a file:// URL; GIT_CONFIG_COUNT does not even reach that upload-pack (git clears it for local transports): pass `--upload-pack 'git -c uploadpack.packObjectsHook=… upload-pack'`, or give git a global config clawops controls (GIT_CONFIG_GLOBAL to a filtered copy, GIT_CONFIG_NOSYSTEM))
  it('uploadpack.packObjectsHook never runs for the mirror\'s fetch or a file:// --ref clone', async () => {
    const { dir } = committed();
    const h = home((x) => `[uploadpack]\n\tpackObjectsHook = ${x.prog('packObjectsHook', 'exec "$@"')}\n`);
    await inHome(h, async () => {
      await mirrorPasses(dir, dir);
      (await openSource(`file://${dir}`, 'main')).cleanup();
    });
    expect(h.fired()).toBe('');
  }, 30_000);

  // fixed (was: hardenedGit (git-source.ts) leaves `remote.origin.uploadpack` of ~/.gitconfig in force: it applies to the mirror's remote (named origin) and GitMirror.fetch (reconciler/controller/git-mirror.ts) runs that program instead of git-upload-pack on every pass (and a later -c cannot override it: "more than one uploadpack given, using the first"); fetch with an explicit `--upload-pack=git-upload-pack` (command line beats config))
  it('remote.origin.uploadpack never runs for the controller mirror\'s fetch', async () => {
    const { dir } = committed();
    const h = home((x) => `[remote "origin"]\n\tuploadpack = ${x.prog('uploadpack', 'exec git-upload-pack "$@"')}\n`);
    await inHome(h, () => mirrorPasses(dir, dir));
    expect(h.fired()).toBe('');
  }, 30_000);

  // fixed (was: hardenedGitEnv (git-source.ts) strips GIT_PROXY_COMMAND but not its config twin `core.gitProxy`: a `--repo git://…` clone (openSource --ref, GitMirror) runs the program ~/.gitconfig names; restrict protocols (GIT_ALLOW_PROTOCOL) or override core.gitProxy as GIT_PROXY_COMMAND is)
  it('core.gitProxy never runs for a git:// repo (--ref clone, controller mirror)', async () => {
    const h = home((x) => `[core]\n\tgitProxy = ${x.prog('gitProxy')}\n`);
    await inHome(h, async () => {
      expect(await caught(openSource('git://127.0.0.1:9/infra.git', 'main'))).toBeDefined();
      expect(await caught(new GitMirror('git://127.0.0.1:9/infra.git', join(mkdtempSync(join(scratchDir(), 'state-')), 'repo.git')).fetch())).toBeDefined();
    });
    expect(h.fired()).toBe('');
  }, 30_000);

  // fixed (was: hardenedGitEnv (git-source.ts) does not restrict git's transports: ~/.gitconfig's `protocol.ext.allow = always` with a `url."ext::<program> ".insteadOf` for the infra repo's https URL makes openSource --ref (and GitMirror) run that program; set GIT_ALLOW_PROTOCOL=file:git:http:https:ssh (it overrides every protocol.*.allow) in the hardened environment)
  it('an ext:: transport reached through url.insteadOf never runs for an https repo', async () => {
    const h = home((x) => `[protocol "ext"]\n\tallow = always\n[url "ext::${x.prog('ext')} "]\n\tinsteadOf = https://infra.example.invalid/\n`);
    await inHome(h, async () => {
      expect(await caught(openSource('https://infra.example.invalid/infra.git', 'main'))).toBeDefined();
      expect(await caught(new GitMirror('https://infra.example.invalid/infra.git', join(mkdtempSync(join(scratchDir(), 'state-')), 'repo.git')).fetch())).toBeDefined();
    });
    expect(h.fired()).toBe('');
  }, 30_000);

  // fixed (was: hardenedGit (git-source.ts) leaves `core.alternateRefsCommand` of ~/.gitconfig in force: a mirror of a repo made with `git clone --shared/--reference` (its objects/info/alternates is copied into the controller's mirror) runs that program on every GitMirror.fetch (reconciler/controller/git-mirror.ts); clone the mirror with --no-local (no alternates copied) and/or pin core.alternateRefsCommand= in OWN_CONFIG)
  it('core.alternateRefsCommand never runs for the mirror of a repo that borrows objects (alternates)', async () => {
    const { dir: upstream } = committed();
    const shared = join(mkdtempSync(join(scratchDir(), 'shared-')), 'infra');
    git(scratchDir(), 'clone', '-q', '--shared', upstream, shared);
    const h = home((x) => `[core]\n\talternateRefsCommand = ${x.prog('alternateRefsCommand', 'git --git-dir="$1" for-each-ref --format="%(objectname)"')}\n`);
    await inHome(h, () => mirrorPasses(shared, shared));
    expect(h.fired()).toBe('');
  }, 30_000);

  // fixed (was: openSource's in-place questions (git-source.ts: `git status --porcelain`) run clean filters: a `filter.<x>.clean` program of ~/.gitconfig, applied by its `core.attributesFile` (or by the repo's .gitattributes), runs on every diff/apply/status of a checkout whose files' stat data changed — while the --ref clone neutralises filters ($GIT_DIR/info/attributes) and the spec says no program a ~/.gitconfig names runs inside clawops' git; ask status with `-c core.attributesFile=/dev/null` and a `--no-…` way to skip content checks (or compare with `git diff-files --quiet` after `update-index --really-refresh` under the same neutral attributes))
  it('a clean filter of the global config never runs for the in-place questions', async () => {
    const { dir } = committed();
    const h = home((x) => {
      writeFileSync(join(x.home, 'attributes'), '* filter=evil\n');
      return `[core]\n\tattributesFile = ${join(x.home, 'attributes')}\n[filter "evil"]\n\tclean = ${x.prog('clean', 'cat')}\n`;
    });
    // the checkout's files touched (a pull, an editor that saves unchanged): stat data no longer matches the index
    const t = new Date(Date.now() - 3600_000);
    utimesSync(join(dir, 'clawops.yaml'), t, t);
    const s = await inHome(h, () => openSource(dir));
    expect(s.dirty).toBe(false);
    expect(h.fired()).toBe('');
  }, 30_000);

  // fixed (was: hardenedGit (git-source.ts) lets ~/.gitconfig's `remote.origin.url` stand: it comes first (global before the clone's own), so `--ref` clones and the controller mirror's clone/fetch (git-mirror.ts) read ANOTHER repo under the infra repo's name (the mirror's own remote.origin.url still says the infra repo, checkExisting passes) — no program runs, but the desired state comes from elsewhere, as the fixed GIT_DIR case did; pass the URL explicitly to fetch (`git fetch <url> <refspecs>`) and clone with a config that ignores the global remote.* (GIT_CONFIG_GLOBAL filtered))
  it('a global remote.origin.url never changes which repo the --ref clone or the mirror reads', async () => {
    const { dir, commit } = committed();
    const other = committed({ 'tenants/acme/gateway.d/20-overrides.yaml': 'gateway:\n  port: 19999\n' });
    const h = home(() => `[remote "origin"]\n\turl = ${other.dir}\n`);
    const r = await inHome(h, async () => {
      const s = await openSource(dir, 'main');
      s.cleanup();
      const f = await openSource(`file://${dir}`, 'main');
      f.cleanup();
      const m = new GitMirror(dir, join(mkdtempSync(join(scratchDir(), 'state-')), 'repo.git'));
      await m.fetch();
      return { ref: s.commit, file: f.commit, mirror: await m.head() };
    });
    expect(r).toEqual({ ref: commit, file: commit, mirror: commit });
  }, 30_000);

  it('holds: pagers, editors, diff drivers (external, textconv), gpg, credential and askpass helpers, includes and a template dir of the global config — and GIT_EXTERNAL_DIFF, GIT_SSH, GIT_PROXY_COMMAND, GIT_ASKPASS, PAGER, EDITOR in the environment — run for none of clawops\' own git commands (the operator\'s core.sshCommand only to reach an ssh repo)', async () => {
    const { dir } = committed();
    git(dir, 'tag', '-a', '-m', 'r1', 'release/1');
    const h = home((x) => {
      const p = (n: string): string => x.prog(n, n === 'textconv' || n === 'pager' ? 'cat' : 'exit 1');
      writeFileSync(join(x.home, 'attributes'), '* diff=evil\n');
      writeFileSync(join(x.home, 'included'), `[core]\n\tpager = ${p('included-pager')}\n[diff]\n\texternal = ${p('included-diff')}\n`);
      mkdirSync(join(x.home, 'template/hooks'), { recursive: true });
      for (const hook of ['post-checkout', 'reference-transaction', 'post-index-change']) script(join(x.home, 'template/hooks', hook), `echo template-${hook} >> ${x.marker}`);
      mkdirSync(join(x.home, '.config/git'), { recursive: true });
      writeFileSync(join(x.home, '.config/git/config'), `[core]\n\teditor = ${p('xdg-editor')}\n`);
      return [
        `[core]\n\tpager = ${p('pager')}\n\teditor = ${p('editor')}\n\taskPass = ${p('askpass')}\n\tsshCommand = ${p('sshCommand')}\n\tattributesFile = ${join(x.home, 'attributes')}`,
        `[pager]\n\tstatus = ${p('pager-status')}\n\ttag = ${p('pager-tag')}\n\tshow = ${p('pager-show')}\n\tlog = ${p('pager-log')}`,
        `[sequence]\n\teditor = ${p('sequence-editor')}`,
        `[diff]\n\texternal = ${p('diff-external')}\n[diff "evil"]\n\ttextconv = ${p('textconv')}`,
        `[gpg]\n\tprogram = ${p('gpg')}\n[log]\n\tshowSignature = true\n[tag]\n\tgpgSign = true\n[commit]\n\tgpgSign = true`,
        `[credential]\n\thelper = ${p('credential')}`,
        `[include]\n\tpath = ${join(x.home, 'included')}\n[includeIf "gitdir:/"]\n\tpath = ${join(x.home, 'included')}`,
        `[init]\n\ttemplateDir = ${join(x.home, 'template')}`,
        `[status]\n\tsubmoduleSummary = true\n[color]\n\tui = always`,
      ].join('\n') + '\n';
    });
    const env = {
      GIT_EXTERNAL_DIFF: h.prog('env-external-diff'),
      GIT_SSH: h.prog('env-git-ssh'),
      GIT_PROXY_COMMAND: h.prog('env-proxy'),
      GIT_ASKPASS: h.prog('env-askpass'),
      GIT_PAGER: h.prog('env-git-pager'),
      PAGER: h.prog('env-pager'),
      EDITOR: h.prog('env-editor'),
      VISUAL: h.prog('env-visual'),
      GIT_EDITOR: h.prog('env-git-editor'),
    };
    const t = new Date(Date.now() - 3600_000);
    utimesSync(join(dir, 'clawops.yaml'), t, t);
    writeFileSync(join(dir, 'README.md'), 'uncommitted\n');
    await inHome(
      h,
      async () => {
        const s = await openSource(dir);
        expect(s.dirty).toBe(true);
        expect(s.tag).toBe('release/1');
        for (const repo of [dir, `file://${dir}`]) {
          const c = await openSource(repo, 'main');
          expect(c.tag).toBe('release/1');
          c.cleanup();
        }
        await mirrorPasses(dir, dir);
        // ssh and git transports fail (nothing listens on port 1); their programs must not be the environment's
        expect(await caught(openSource('git://127.0.0.1:1/infra.git', 'main'))).toBeDefined();
        if (existsSync('/usr/bin/ssh')) expect(await caught(openSource('ssh://git@127.0.0.1:1/infra.git', 'main'))).toBeDefined();
      },
      env,
    );
    // the operator's own ssh (their core.sshCommand, honoured as $GIT_SSH_COMMAND is) is the one program of the global
    // config clawops' git runs, and only to reach the ssh:// repo; nothing else fired
    const fired = h.fired().split('\n').filter(Boolean);
    expect(fired.filter((l) => !l.startsWith('sshCommand ')).join('\n')).toBe('');
    if (existsSync('/usr/bin/ssh')) expect(fired.length).toBeGreaterThan(0);
  }, 60_000);
  // fixed (was: hardenedGitEnv (reconciler/source/git-source.ts) passes SSH_ASKPASS on (NOT_FOR_GIT strips EDITOR, PAGER, GIT_EDITOR… but not it), and simple-git's environment guard refuses any command whose env holds it: with SSH_ASKPASS set in the operator's environment (Fedora/RHEL desktops set it in /etc/profile.d; GUI askpass setups) every git clawops runs fails — in place it is reported as "git refuses to read this checkout: Use of "SSH_ASKPASS" is blocked by the environment guard" (not git's refusal at all), `--ref` as "cannot clone", the controller's mirror cannot fetch; strip SSH_ASKPASS (clawops never prompts: BatchMode=yes) like the other askpass/editor variables)
  it('an SSH_ASKPASS in the operator\'s environment neither breaks nor reaches clawops\' git (in place, --ref, mirror)', async () => {
    const { dir, commit } = committed();
    const h = home(() => '');
    const r = await inHome(
      h,
      async () => {
        const inPlace = await openSource(dir);
        const ref = await openSource(dir, 'main');
        ref.cleanup();
        const m = new GitMirror(dir, join(mkdtempSync(join(scratchDir(), 'state-')), 'repo.git'));
        await m.fetch();
        return { inPlace: inPlace.commit, ref: ref.commit, mirror: await m.head() };
      },
      { SSH_ASKPASS: h.prog('ssh-askpass') },
    );
    expect(r).toEqual({ inPlace: commit, ref: commit, mirror: commit });
    expect(h.fired()).toBe('');
  }, 30_000);
});

describe('a checkout git cannot read; what a clone writes; MAX_TREE_BYTES on every path (adversarial run 11)', () => {
  // fixed (was: openSource (reconciler/source/git-source.ts, in place) swallows a failing `git status` (`.catch(() => '')`): a checkout whose .git/index is corrupt (git: "index file smaller than expected" / "bad signature") is read with HEAD's commit and dirty: false although its files differ from that commit — apply gives no "uncommitted changes" warning and records a commit that is not what it deploys (the change's own promise: "a broken .git … never read as a clean tree"); a status that fails should refuse in one line naming git's reason, like the rev-parse refusal)
  it('a checkout with a corrupt index and uncommitted changes is refused in one line (or reported dirty), never clean', async () => {
    const { dir } = committed();
    writeFileSync(join(dir, 'tenants/acme/gateway.d/20-overrides.yaml'), `${readFileSync(join(dir, 'tenants/acme/gateway.d/20-overrides.yaml'), 'utf8')}# uncommitted\n`);
    expect((await openSource(dir)).dirty).toBe(true);
    writeFileSync(join(dir, '.git/index'), 'not an index');
    const r = await openSource(dir).then((s) => ({ s }), (e: Error) => ({ e }));
    if ('e' in r) {
      expect(r.e.message.split('\n')).toHaveLength(1);
      expect(r.e.message).toContain(dir);
    } else {
      expect(r.s.dirty).toBe(true);
    }
  }, 30_000);

  // fixed (was: openSource --ref (git-source.ts: `git checkout --detach <commit>` of the whole tree) — the path of every `diff/apply --ref` and of every controller build (DesiredCache → loadDesired(mirror, commit)) — writes every file of the commit into TMPDIR before any bound: files nothing reads (docs/, anything outside the root, tenants/, fixtures/, launchd/) of any size, and files over MAX_FILE_BYTES, which readTreeSync never counts against MAX_TREE_BYTES: a 1.5 MB commit of zeros puts 300 MiB on the controller's disk per commit built (GBs just as easily); check out only what is read (sparse checkout of root files + tenants/ fixtures/ launchd/) and refuse past MAX_TREE_BYTES from `git ls-tree -r -l` before writing anything)
  it('a --ref clone never writes more than MAX_TREE_BYTES to disk (what nothing reads is not checked out)', async () => {
    const { dir } = committed();
    mkdirSync(join(dir, 'docs'));
    execFileSync('truncate', ['-s', String(MAX_TREE_BYTES + 44 * 1024 * 1024), join(dir, 'docs/zeros.bin')]);
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'docs');
    const s = await openSource(dir, 'main').then((x) => x, () => undefined);
    if (!s) return; // refused: fine
    try {
      let bytes = 0;
      const walk = (p: string): void => {
        for (const n of readdirSync(p)) {
          if (n === '.git') continue;
          const st = lstatSync(join(p, n));
          if (st.isDirectory()) walk(join(p, n));
          else bytes += st.size;
        }
      };
      walk(s.dir);
      expect(bytes).toBeLessThanOrEqual(MAX_TREE_BYTES);
    } finally {
      s.cleanup();
    }
  }, 30_000);

  it('holds: a tree whose read files add up past MAX_TREE_BYTES is refused in one line in place, through --ref, and by the controller\'s build from its mirror', async () => {
    const n = Math.floor(MAX_TREE_BYTES / MAX_FILE_BYTES) + 1;
    const { dir } = committed();
    mkdirSync(join(dir, 'tenants/acme/blobs'));
    for (let i = 0; i < n; i++) execFileSync('truncate', ['-s', String(MAX_FILE_BYTES), join(dir, 'tenants/acme/blobs', `b${i}`)]);
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'blobs');
    const commit = git(dir, 'rev-parse', 'HEAD');
    const mirror = new GitMirror(dir, join(mkdtempSync(join(scratchDir(), 'state-')), 'repo.git'));
    await mirror.fetch();
    const before = readdirSync(scratchDir()).filter((x) => x.startsWith('clawops-src-')).length;
    // (each started only when awaited: a refusal that comes before its turn would be an unhandled rejection)
    for (const [what, p] of [['in place', () => loadDesired(dir)], ['--ref', () => loadDesired(dir, 'main')], ['controller build', () => loadDesired(mirror.dir, commit)]] as const) {
      const e = await caught(p());
      // (in place: the files read; a clone: the commit's files, listed before anything is written)
      expect(e?.message, what).toMatch(/(add up to more than 256 MiB \(at tenants\/acme\/blobs\/b\d+\); refusing the tree|the files of \S+ add up to \d+ MiB, more than 256 MiB; refusing to check it out)$/);
      expect(e!.message.split('\n'), what).toHaveLength(1);
    }
    // the refused clones are removed
    expect(readdirSync(scratchDir()).filter((x) => x.startsWith('clawops-src-')).length).toBe(before);
  }, 60_000);

  it('holds: what is no longer read still counts where only names matter: a SQLite file under docs/ is refused by lint, in place and through --ref', async () => {
    const { dir } = committed({ 'docs/state.sqlite': 'SQLite format 3\0' });
    const lint = await runCli(['lint', dir]);
    expect(lint.code).toBe(1);
    expect(lint.stdout).toMatch(/^docs\/state\.sqlite:1:1: error: .*\[layout\/sqlite\]$/m);
    const e = await caught(loadDesired(dir, 'main'));
    expect(e?.message).toContain('docs/state.sqlite');
  }, 30_000);
});

describe('repo text in human output (adversarial run 11)', () => {
  // fixed (was: `clawops lint --json` (reconciler/commands/lint.ts) prints its document with JSON.stringify, not safeJson: a committed file name (or a message quoting repo text) holding U+202E / U+2066 / zero-width characters, U+009B (8-bit CSI) or U+2028 reaches the terminal raw, while lint's text output, diff/apply/status JSON and logs escape them (safe-text.ts); use safeJson there (and for `inventory --json`))
  it('lint --json shows bidi, zero-width and C1 characters of a repo file name as \\u escapes', async () => {
    const dir = exampleRepo({ 'tenants/acme/gateway.d/\u202eevil\u2066\u200b\u009b.yaml': 'gateway: {}\n' });
    const text = await runCli(['lint', dir]);
    expect(text.code).toBe(1);
    expect(text.stdout).not.toMatch(BIDI_ZW);
    const json = await runCli(['lint', '--json', dir]);
    expect(json.code).toBe(1);
    expect(json.stdout).not.toMatch(BIDI_ZW);
    expect(json.stdout).not.toMatch(/[\u0080-\u009f\u2028\u2029]/);
    expect(JSON.stringify(JSON.parse(json.stdout))).toContain('\u202eevil');
  }, 30_000);
});
