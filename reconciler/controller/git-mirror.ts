/**
 * The controller's copy of the infra repo: a bare mirror in the state dir, cloned once and fetched every pass
 * (`+refs/*:refs/*`, pruned), so force-pushed branches and moved tags are followed like any other change — and
 * reported as such. Desired state per commit is then built by the usual source/load path from this mirror.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GitError, UsageError } from '../errors.js';
import { gitReason, hardenedGit, isGitUrl, redactUrl } from '../source/git-source.js';
import { refChanges, type RefChange, type RefInfo } from './gating.js';
import { MAX_FILE_BYTES } from '../desired/snapshot.js';

export interface FetchResult {
  refs: RefInfo[];
  changes: RefChange[];
}

export class GitMirror {
  readonly origin: string;
  private readonly url: string;
  private cloned = false;
  /** the refs after the last fetch (what the next fetch's changes are measured against) */
  private last: RefInfo[] | undefined;
  /** files read at a commit: a commit's content never changes, so a steady pass starts no git process for them */
  private readonly shown = new Map<string, string | undefined>();

  constructor(repo: string, readonly dir: string) {
    this.url = isGitUrl(repo) ? repo : resolve(repo);
    this.origin = redactUrl(repo);
    if (!isGitUrl(repo) && !existsSync(repo)) throw new UsageError(`--repo ${this.origin}: no such directory (and not a git URL)`);
  }

  /** The mirror exists and is of this repo; a state dir used for another repo is refused. */
  async checkExisting(): Promise<void> {
    if (!existsSync(this.dir)) return;
    let url: string;
    try {
      url = (await hardenedGit(this.dir).raw(['config', '--get', 'remote.origin.url'])).trim();
    } catch (e) {
      throw new UsageError(`${this.dir}: not a clawops mirror (${gitReason(e)}); remove it or use another --state-dir`);
    }
    if (url !== this.url) throw new UsageError(`${this.dir} mirrors ${redactUrl(url)}, not ${this.origin}; use another --state-dir`);
    this.cloned = true;
  }

  /** Clone once (first call), then fetch: every branch and tag, forced and pruned, like the remote has them. */
  async fetch(): Promise<FetchResult> {
    if (!this.cloned) {
      await this.checkExisting();
      if (!this.cloned) {
        try {
          await hardenedGit(resolve(this.dir, '..')).clone(this.url, this.dir, ['--quiet', '--mirror']);
        } catch (e) {
          throw new GitError(`cannot clone ${this.origin}: ${gitReason(e)}`);
        }
        this.cloned = true;
        this.last = await this.refs();
        return { refs: this.last, changes: [] };
      }
    }
    const before = new Map((this.last ?? (await this.refs())).map((r) => [r.name, r.commit]));
    try {
      await hardenedGit(this.dir).raw(['fetch', '--quiet', '--prune', '--force', 'origin', '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*']);
    } catch (e) {
      throw new GitError(`cannot fetch ${this.origin}: ${gitReason(e)}`);
    }
    const refs = await this.refs();
    this.last = refs;
    const after = new Map(refs.map((r) => [r.name, r.commit]));
    const ancestry = new Map<string, boolean>();
    for (const [name, to] of after) {
      const from = before.get(name);
      if (from !== undefined && from !== to && name.startsWith('refs/heads/')) ancestry.set(`${from}..${to}`, await this.isAncestor(from, to));
    }
    return { refs, changes: refChanges(before, after, (a, b) => ancestry.get(`${a}..${b}`) ?? false) };
  }

  /** Branches and tags with their (peeled) commits and dates. */
  async refs(): Promise<RefInfo[]> {
    const git = hardenedGit(this.dir);
    const out = await git.raw(['for-each-ref', '--format=%(refname)%09%(objectname)%09%(objecttype)%09%(*objectname)%09%(*objecttype)%09%(creatordate:unix)', 'refs/heads', 'refs/tags']);
    const refs: RefInfo[] = [];
    for (const l of out.split('\n')) {
      if (l === '') continue;
      const [name, obj, type, peeled, peeledType, date] = l.split('\t');
      let commit: string | undefined = type === 'commit' ? obj : peeledType === 'commit' ? peeled : undefined;
      // a tag of a tag (peeled once, still a tag): peeled to the end; a ref that ends at no commit (a tree, a blob)
      // is no ref the controller follows
      if (commit === undefined && type === 'tag' && peeledType === 'tag') {
        commit = (await git.raw(['rev-parse', '--verify', '--quiet', `${name!}^{commit}`]).catch(() => '')).trim() || undefined;
      }
      if (commit === undefined || !/^[0-9a-f]{40,64}$/.test(commit)) continue;
      refs.push({ name: name!, commit, date: Number(date) || 0 });
    }
    return refs;
  }

  async isAncestor(a: string, b: string): Promise<boolean> {
    // the merge base is `a` exactly when a is an ancestor of b (simple-git does not fail on --is-ancestor's exit 1)
    try {
      return (await hardenedGit(this.dir).raw(['merge-base', a, b])).trim() === a;
    } catch {
      return false;
    }
  }

  /** A file at a commit, or undefined when the commit has no such file (remembered: the bytes of a commit are fixed). */
  async show(commit: string, path: string): Promise<string | undefined> {
    const key = `${commit}:${path}`;
    if (/^[0-9a-f]{40,64}$/.test(commit) && this.shown.has(key)) return this.shown.get(key);
    let text: string | undefined;
    let known = true;
    try {
      // at most MAX_FILE_BYTES, as lint reads a file: a bigger one (a compressible blob of GBs) is never buffered
      const git = hardenedGit(this.dir);
      const size = Number((await git.raw(['cat-file', '-s', key])).trim());
      if (size > MAX_FILE_BYTES) throw new GitError(`${path} at ${commit.slice(0, 12)} is ${size} bytes, more than ${MAX_FILE_BYTES}: not read`);
      text = await git.raw(['show', key]);
    } catch (e) {
      if (e instanceof GitError) throw e;
      text = undefined;
      // only "the commit has no such path" is a fact about the commit; anything else (a broken mirror) is asked again
      known = /does not exist in|exists on disk, but not in/.test(gitReason(e));
    }
    if (known && /^[0-9a-f]{40,64}$/.test(commit)) {
      if (this.shown.size >= SHOWN_MAX) this.shown.delete(this.shown.keys().next().value as string);
      this.shown.set(key, text);
    }
    return text;
  }

  /**
   * The commit the mirror's HEAD (the remote's default branch) points at: the symbolic ref in the mirror's HEAD file
   * looked up in the refs of the last fetch (no git process on a steady pass), else `git rev-parse`.
   */
  async head(): Promise<string | undefined> {
    const sym = headRef(this.dir);
    const hit = sym !== undefined ? this.last?.find((r) => r.name === sym) : undefined;
    if (hit) return hit.commit;
    try {
      return (await hardenedGit(this.dir).revparse(['--verify', '--quiet', 'HEAD^{commit}'])).trim() || undefined;
    } catch {
      return undefined;
    }
  }
}

const SHOWN_MAX = 64;

/** `ref: refs/heads/main` in a bare repo's HEAD file → `refs/heads/main`; undefined when detached or unreadable. */
export function headRef(dir: string): string | undefined {
  try {
    const m = /^ref: (refs\/heads\/\S+)\s*$/.exec(readFileSync(join(dir, 'HEAD'), 'utf8'));
    return m?.[1];
  } catch {
    return undefined;
  }
}
