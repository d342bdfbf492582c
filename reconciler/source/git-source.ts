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
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { GitError, IoError, UsageError } from '../errors.js';
import { redactUrl } from '../safe-text.js';
import { MAX_TREE_BYTES } from './read-tree.js';

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

// (redactUrl lives in safe-text.ts, beside the other text rules; re-exported for git-source's callers)
export { redactUrl };

const GIT_TIMEOUT_MS = 120_000;
/**
 * editors, pagers and config redirections a clone never needs (simple-git refuses to pass them on), and where a repo
 * is (`git rev-parse --local-env-vars`: what git exports to every hook it runs, so an apply started from a hook would
 * read, check out and detach ANOTHER repo than the one it was given)
 */
const NOT_FOR_GIT = /^(EDITOR|VISUAL|PAGER|PREFIX|SSH_ASKPASS.*|GIT_(EDITOR|SEQUENCE_EDITOR|PAGER|EXTERNAL_DIFF|EXEC_PATH|TEMPLATE_DIR|PROXY_COMMAND|CONFIG.*|DIR|WORK_TREE|IMPLICIT_WORK_TREE|INDEX_FILE|OBJECT_DIRECTORY|ALTERNATE_OBJECT_DIRECTORIES|COMMON_DIR|GRAFT_FILE|SHALLOW_FILE|NO_REPLACE_OBJECTS|REPLACE_REF_BASE|PREFIX|NAMESPACE|QUARANTINE_PATH|INTERNAL_SUPER_PREFIX))$/i;

/**
 * config every git clawops runs gets on top of what it carries over from the operator's (command scope): no hook and
 * no fsmonitor program runs inside clawops' own clones, mirror or checks
 */
const OWN_CONFIG: [string, string][] = [
  ['core.hooksPath', '/dev/null'],
  ['core.fsmonitor', 'false'],
];

/**
 * What of the operator's git config (system and global files, includes followed) clawops' git still gets: how to
 * reach and authenticate to the infra repo (credential helpers, http settings and proxies, url rewrites to another
 * place git reaches by itself, ssh), which checkouts the operator trusts (safe.directory) and what counts as
 * untracked. Nothing else: a global uploadpack.packObjectsHook, remote.<name>.uploadpack or .url, core.gitProxy,
 * core.alternateRefsCommand, filter.<x>.clean, core.attributesFile, protocol.ext.allow would otherwise run a program
 * or read another repo inside clawops' own clones, mirror and checks. Git itself reads neither file
 * (GIT_CONFIG_NOSYSTEM, GIT_CONFIG_GLOBAL=/dev/null); the entries carried are passed as command-scope config.
 */
const CARRIED = /^(credential\..+|http\..+|url\..+\.insteadof|core\.sshcommand|core\.excludesfile|safe\.directory)$/i;
/** transports clawops' git may use (GIT_ALLOW_PROTOCOL): never ext:: or fd::, which run or read what a URL names */
const PROTOCOLS = 'file:git:http:https:ssh';

let carried: { key: string; entries: [string, string][] } | undefined;

/** the operator's config entries clawops' git carries over (CARRIED), read once per set of config files (by mtime) */
export function carriedGitConfig(env: Record<string, string>): [string, string][] {
  const home = env.HOME ?? '';
  const files = [join(home, '.gitconfig'), join(env.XDG_CONFIG_HOME || join(home, '.config'), 'git', 'config'), '/etc/gitconfig'];
  const key = files.map((f) => {
    try {
      return `${f}:${statSync(f).mtimeMs}`;
    } catch {
      return `${f}:-`;
    }
  }).join('\0');
  if (carried?.key === key) return carried.entries;
  const r = spawnSync('git', ['config', '--includes', '--show-scope', '--list', '-z'], { cwd: '/', env, encoding: 'utf8', timeout: 10_000, maxBuffer: 4 * 1024 * 1024 });
  const entries: [string, string][] = [];
  const parts = r.status === 0 ? r.stdout.split('\0') : [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const scope = parts[i]!;
    const kv = parts[i + 1]!;
    const nl = kv.indexOf('\n');
    const k = nl < 0 ? kv : kv.slice(0, nl);
    const v = nl < 0 ? 'true' : kv.slice(nl + 1);
    if ((scope !== 'system' && scope !== 'global') || !CARRIED.test(k)) continue;
    // a rewrite only to a place git reaches by itself (ext::/fd:: are refused by GIT_ALLOW_PROTOCOL anyway)
    if (/^url\.(ext|fd)::/i.test(k)) continue;
    entries.push([k, v]);
  }
  carried = { key, entries };
  return entries;
}

/**
 * The environment every git clawops runs gets (source/ and the controller's mirror alike): the operator's own
 * (GIT_SSL_CAINFO, proxies, GIT_SSH_COMMAND) minus editors, pagers and config redirections; never a prompt (a fetch
 * at 3 a.m. fails rather than waits); C locale (git's messages are matched in English).
 */
export function hardenedGitEnv(from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(from)) if (v !== undefined && !NOT_FOR_GIT.test(k)) env[k] = v;
  const config = [...carriedGitConfig(env), ...OWN_CONFIG];
  env.GIT_CONFIG_NOSYSTEM = '1';
  env.GIT_CONFIG_GLOBAL = '/dev/null';
  env.GIT_CONFIG_COUNT = String(config.length);
  for (const [i, [k, v]] of config.entries()) {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  }
  env.GIT_ALLOW_PROTOCOL = PROTOCOLS;
  env.GIT_TERMINAL_PROMPT = '0';
  env.GIT_ASKPASS = 'true';
  // the operator's ssh: $GIT_SSH_COMMAND, else their core.sshCommand (carried), else ssh that never prompts
  if (env.GIT_SSH_COMMAND === undefined && !config.some(([k]) => k.toLowerCase() === 'core.sshcommand')) env.GIT_SSH_COMMAND = 'ssh -o BatchMode=yes';
  env.LC_ALL = 'C';
  return env;
}

/** simple-git in `baseDir` with the hardened environment (hardenedGitEnv) and a 2 min block timeout. */
export function hardenedGit(baseDir: string): SimpleGit {
  const env = hardenedGitEnv();
  // simple-git strips GIT_* variables unless allowed; the operator's own must work
  const allowEnvironment = Object.keys(env).filter((k) => k.toLowerCase().startsWith('git_'));
  // simple-git's guard refuses config that names a program or a path unless allowed: every such entry here is set by
  // clawops itself (OWN_CONFIG, GIT_CONFIG_GLOBAL=/dev/null, GIT_ALLOW_PROTOCOL) or carried over from the operator's
  // own files (CARRIED: credential helpers, url rewrites, core.sshCommand); the operator's GIT_CONFIG* are stripped,
  // and no argument clawops passes comes from a repo
  const unsafe = { allowUnsafeAskPass: true, allowUnsafeSshCommand: true, allowUnsafeConfigEnvCount: true, allowUnsafeHooksPath: true, allowUnsafeFsMonitor: true, allowUnsafeConfigPaths: true, allowUnsafeCredentialHelper: true, allowUnsafeUrlRewrite: true, allowUnsafeProtocolOverride: true };
  return simpleGit({ baseDir, timeout: { block: GIT_TIMEOUT_MS }, allowEnvironment, unsafe }).env(env);
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
  const commitOf = async (spelling: string): Promise<string | undefined> => {
    try {
      const c = (await g.raw(['rev-parse', '--verify', '--quiet', '--end-of-options', `${spelling}^{commit}`])).trim();
      return /^[0-9a-f]{40,64}$/.test(c) ? c : undefined;
    } catch {
      return undefined;
    }
  };
  // a plain name that is a tag and a branch of different commits: git would take the tag, silently; the operator says
  if (!ref.startsWith('refs/') && !/^[0-9a-f]{7,64}$/.test(ref)) {
    const [tag, branch] = await Promise.all([commitOf(`refs/tags/${ref}`), commitOf(`refs/remotes/origin/${ref}`).then(async (c) => c ?? (await commitOf(`refs/heads/${ref}`)))]);
    if (tag !== undefined && branch !== undefined && tag !== branch) {
      throw new UsageError(`--ref ${ref}: ambiguous: a tag (${tag.slice(0, 12)}) and a branch (${branch.slice(0, 12)}) of that name; say refs/tags/${ref} or refs/heads/${ref}`);
    }
  }
  const candidates = [ref, `origin/${ref}`, `refs/tags/${ref}`];
  // a clone has only its default branch locally: refs/heads/<b> of the source is refs/remotes/origin/<b> here
  if (ref.startsWith('refs/heads/')) candidates.push(`refs/remotes/origin/${ref.slice('refs/heads/'.length)}`);
  for (const candidate of candidates) {
    const c = await commitOf(candidate);
    if (c !== undefined) return c;
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
      g.raw(['status', '--porcelain', '--untracked-files=normal', '--', '.']).then((s) => ({ s }), (e: unknown) => ({ failed: gitReason(e) })),
    ]);
    if (!inWorkTree) return { origin, dir: repo, dirty: false, cleanup: () => undefined };
    // a work tree whose state git cannot tell (a corrupt index) is not called clean: apply would record a commit it
    // is not deploying, without the uncommitted-changes warning
    if ('failed' in status) throw new GitError(`${origin}: git cannot tell whether this checkout has uncommitted changes: ${status.failed}`);
    // only a tag of exactly that commit (HEAD may move between the two processes): lightweight → its object,
    // annotated → the object it peels to
    const tag = tags
      .split('\n')
      .map((l) => /^(\S+) (\S*) (.+)$/.exec(l))
      .find((m) => m !== null && (m[2] === '' ? m[1] : m[2]) === commit)?.[3];
    const d = commit === '' ? {} : tag ? { commit, tag } : { commit };
    return { origin, dir: repo, ...d, dirty: status.s.trim() !== '', cleanup: () => undefined };
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
    // what the checkout would write, before it writes anything (a commit of a few KB can hold gigabytes of zeros):
    // every blob of the commit, read or not, within the bound on what clawops reads
    let total = 0;
    try {
      for (const e of (await g.raw(['ls-tree', '-r', '-l', '-z', '--end-of-options', commit])).split('\0')) {
        const m = /^\d+ blob [0-9a-f]+ +(\d+)\t/.exec(e);
        if (m) total += Number(m[1]);
      }
    } catch (e) {
      throw new GitError(`${origin}: cannot list ${want}: ${gitReason(e)}`);
    }
    if (total > MAX_TREE_BYTES) throw new IoError(`${origin}: the files of ${want} add up to ${Math.ceil(total / 1024 / 1024)} MiB, more than ${MAX_TREE_BYTES / 1024 / 1024} MiB; refusing to check it out`);
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
