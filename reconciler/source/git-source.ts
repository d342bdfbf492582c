/**
 * Where the desired state comes from: a local checkout read in place, or a git URL / a ref cloned into a
 * temporary directory with simple-git. The only git I/O of the pipeline; everything after it reads a plain tree.
 *
 *  - `--repo <dir>` without `--ref`: the working tree as it is (commit recorded when it is a git work tree; a
 *    dirty tree is flagged so apply can refuse it or record it honestly).
 *  - `--repo <url|dir> --ref R`: clone, resolve R (branch, tag, `refs/…` or commit), check it out detached.
 *
 * Credentials in URLs (`https://user:token@host/…`) never reach an error message or a log.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { GitError, IoError } from '../errors.js';

export interface Source {
  /** what the user passed, credentials redacted */
  origin: string;
  /** the tree to read */
  dir: string;
  ref?: string;
  /** the commit the tree is, when known */
  commit?: string;
  /** a tag pointing exactly at the commit */
  tag?: string;
  /** a local working tree with uncommitted changes */
  dirty: boolean;
  /** remove the temporary clone, if any */
  cleanup(): void;
}

const URL_LIKE = /^(?:[a-z][a-z0-9+.-]*:\/\/|[^/\s:@]+@[^/\s:]+:)/i;

export function isGitUrl(repo: string): boolean {
  return URL_LIKE.test(repo);
}

/** `https://user:secret@host/x` → `https://user:***@host/x`; a bare `https://token@host` loses the token too. */
export function redactUrl(s: string): string {
  // the userinfo runs to the last `@` before the path: a password may itself contain `@`
  return s.replace(/([a-z][a-z0-9+.-]*:\/\/)([^/?#\s'"]*)@/gi, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    const user = colon < 0 ? userinfo : userinfo.slice(0, colon);
    const looksLikeToken = user.length >= 20 || user.includes('@') || /^(gh[pousr]_|glpat-|x-access-token)/.test(user);
    return looksLikeToken ? `${scheme}***@` : `${scheme}${user}:***@`;
  });
}

const GIT_TIMEOUT_MS = 120_000;
/**
 * editors, pagers and config redirections a clone never needs (simple-git refuses to pass them on), and where a repo
 * is (`git rev-parse --local-env-vars`: what git exports to every hook it runs, so an apply started from a hook would
 * read, check out and detach ANOTHER repo than the one it was given)
 */
const NOT_FOR_GIT = /^(EDITOR|VISUAL|PAGER|PREFIX|GIT_(EDITOR|SEQUENCE_EDITOR|PAGER|EXTERNAL_DIFF|EXEC_PATH|TEMPLATE_DIR|PROXY_COMMAND|CONFIG.*|DIR|WORK_TREE|IMPLICIT_WORK_TREE|INDEX_FILE|OBJECT_DIRECTORY|ALTERNATE_OBJECT_DIRECTORIES|COMMON_DIR|GRAFT_FILE|SHALLOW_FILE|NO_REPLACE_OBJECTS|REPLACE_REF_BASE|PREFIX|NAMESPACE|QUARANTINE_PATH|INTERNAL_SUPER_PREFIX))$/i;

/**
 * config every git clawops runs gets on top of the operator's (as `-c` would, above the global file): no hook and no
 * fsmonitor program named by ~/.gitconfig runs inside clawops' own clones, mirror or checks
 */
const OWN_CONFIG: [string, string][] = [
  ['core.hooksPath', '/dev/null'],
  ['core.fsmonitor', 'false'],
];

/**
 * The environment every git clawops runs gets (source/ and the controller's mirror alike): the operator's own
 * (GIT_SSL_CAINFO, proxies, GIT_SSH_COMMAND) minus editors, pagers and config redirections; never a prompt (a fetch
 * at 3 a.m. fails rather than waits); C locale (git's messages are matched in English).
 */
export function hardenedGitEnv(from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(from)) if (v !== undefined && !NOT_FOR_GIT.test(k)) env[k] = v;
  env.GIT_CONFIG_COUNT = String(OWN_CONFIG.length);
  for (const [i, [k, v]] of OWN_CONFIG.entries()) {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  }
  env.GIT_TERMINAL_PROMPT = '0';
  env.GIT_ASKPASS = 'true';
  env.GIT_SSH_COMMAND ??= 'ssh -o BatchMode=yes';
  env.LC_ALL = 'C';
  return env;
}

/** simple-git in `baseDir` with the hardened environment (hardenedGitEnv) and a 2 min block timeout. */
export function hardenedGit(baseDir: string): SimpleGit {
  const env = hardenedGitEnv();
  // simple-git strips GIT_* variables unless allowed; the operator's own must work
  const allowEnvironment = Object.keys(env).filter((k) => k.toLowerCase().startsWith('git_'));
  // (the GIT_CONFIG_COUNT entries, their core.hooksPath and core.fsmonitor, are clawops' own, OWN_CONFIG: the operator's are stripped)
  return simpleGit({ baseDir, timeout: { block: GIT_TIMEOUT_MS }, allowEnvironment, unsafe: { allowUnsafeAskPass: true, allowUnsafeSshCommand: true, allowUnsafeConfigEnvCount: true, allowUnsafeHooksPath: true, allowUnsafeFsMonitor: true } }).env(env);
}

/** The first line git printed that says what went wrong, credentials redacted. */
export function gitReason(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('hint:') && !/^Cloning into/.test(l));
  const fatal = lines.find((l) => /^(fatal|error):/.test(l)) ?? lines[0] ?? 'git failed';
  return redactUrl(fatal.replace(/^(fatal|error):\s*/, ''));
}

async function describe(g: SimpleGit): Promise<{ commit?: string; tag?: string }> {
  let commit: string;
  try {
    commit = (await g.revparse(['--verify', '--quiet', 'HEAD^{commit}'])).trim();
  } catch {
    return {}; // a repo with no commits yet
  }
  let tag: string | undefined;
  try {
    const t = (await g.raw(['tag', '--points-at', commit, '--sort=-creatordate'])).trim().split('\n')[0];
    if (t) tag = t;
  } catch {
    /* no tags */
  }
  return tag ? { commit, tag } : { commit };
}

async function resolveRef(g: SimpleGit, ref: string): Promise<string | undefined> {
  if (ref.startsWith('-')) return undefined;
  const candidates = [ref, `origin/${ref}`, `refs/tags/${ref}`];
  // a clone has only its default branch locally: refs/heads/<b> of the source is refs/remotes/origin/<b> here
  if (ref.startsWith('refs/heads/')) candidates.push(`refs/remotes/origin/${ref.slice('refs/heads/'.length)}`);
  for (const candidate of candidates) {
    try {
      const c = (await g.raw(['rev-parse', '--verify', '--quiet', '--end-of-options', `${candidate}^{commit}`])).trim();
      if (/^[0-9a-f]{40,64}$/.test(c)) return c;
    } catch {
      /* try the next spelling */
    }
  }
  return undefined;
}

export async function openSource(repo: string, ref?: string): Promise<Source> {
  const origin = redactUrl(repo);
  const url = isGitUrl(repo);
  if (!url && !existsSync(repo)) throw new IoError(`${origin}: no such repo directory (and not a git URL)`);
  if (!url && !statSync(repo).isDirectory()) throw new IoError(`${origin}: not a directory`);

  if (!url && ref === undefined) {
    // every question at once (one git process each, in parallel: ~30 ms instead of ~120 ms of four in a row, and
    // the caller builds the desired state meanwhile); the tag is asked of HEAD, the commit is HEAD's
    const g = hardenedGit(repo);
    const [inWorkTree, commit, tags, status] = await Promise.all([
      // not a repo at all: a plain directory; any other refusal (a checkout of another user, "dubious ownership";
      // a broken .git) is the operator's to fix, never a tree read as clean and commit-less
      g.revparse(['--is-inside-work-tree']).then((s) => s.trim() === 'true', (e: unknown) => {
        const why = gitReason(e);
        if (/not a git repository/i.test(why)) return false;
        throw new GitError(`${origin}: git refuses to read this checkout: ${why}${/dubious ownership/i.test(why) ? ' (run as its owner, or add it to git\'s safe.directory)' : ''}`);
      }),
      g.revparse(['--verify', '--quiet', 'HEAD^{commit}']).then((s) => s.trim(), () => ''),
      g.raw(['tag', '--points-at', 'HEAD', '--sort=-creatordate', '--format=%(objectname) %(*objectname) %(refname:strip=2)']).catch(() => ''),
      g.raw(['status', '--porcelain', '--untracked-files=normal', '--', '.']).catch(() => ''),
    ]);
    if (!inWorkTree) return { origin, dir: repo, dirty: false, cleanup: () => undefined };
    // only a tag of exactly that commit (HEAD may move between the two processes): lightweight → its object,
    // annotated → the object it peels to
    const tag = tags
      .split('\n')
      .map((l) => /^(\S+) (\S*) (.+)$/.exec(l))
      .find((m) => m !== null && (m[2] === '' ? m[1] : m[2]) === commit)?.[3];
    const d = commit === '' ? {} : tag ? { commit, tag } : { commit };
    return { origin, dir: repo, ...d, dirty: status.trim() !== '', cleanup: () => undefined };
  }

  const dir = mkdtempSync(join(tmpdir(), 'clawops-src-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    try {
      await hardenedGit(dir).clone(url ? repo : resolve(repo), dir, ['--quiet', '--no-checkout']);
    } catch (e) {
      throw new GitError(`cannot clone ${origin}: ${gitReason(e)}`);
    }
    const g = hardenedGit(dir);
    const want = ref ?? 'HEAD';
    const commit = await resolveRef(g, want);
    if (!commit) throw new GitError(`${origin}: unknown ref "${want}" (no such branch, tag or commit)`);
    try {
      // the commit's own bytes, whatever its .gitattributes ask (eol=crlf, ident, filter=, working-tree-encoding):
      // $GIT_DIR/info/attributes outranks every .gitattributes of the tree, and git runs no filter it unsets
      mkdirSync(join(dir, '.git', 'info'), { recursive: true });
      writeFileSync(join(dir, '.git', 'info', 'attributes'), '* -text !eol -ident -filter -working-tree-encoding\n');
      await g.raw(['checkout', '--quiet', '--detach', commit]);
    } catch (e) {
      throw new GitError(`${origin}: cannot check out ${want}: ${gitReason(e)}`);
    }
    const d = await describe(g);
    return { origin, dir, ...(ref !== undefined ? { ref } : {}), ...d, dirty: false, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}
