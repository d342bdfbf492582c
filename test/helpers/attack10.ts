/**
 * Shared by the adversarial run 10 and 11 files (test/report/status-node-attacks-10.test.ts,
 * test/source/repo-variants-attacks-10.test.ts, test/source/source-attacks-11.test.ts): one local node (transport `local`: a directory stands for the Mac's
 * /, with the real openclaw CLI and acme's secrets) and a committed infra repo deploying acme to it, so that
 * `clawops status --repo` / `clawops diff --repo` observe a node whose files the test plants; and the character
 * classes the views must never print raw.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { exampleRepo, type Edit } from './repo.js';
import { makeLocalNodes, makeOrigin, type LocalNodes, type Origin } from '../controller/helpers.js';

/** C0 (LF aside), DEL, C1, U+2028/2029: what a terminal acts on (safe-text.ts escapes these) */
export const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/;
/**
 * Unicode bidi embeddings/overrides/isolates and zero-width characters: invisible, yet they reorder or hide what is
 * printed next to them ("Trojan Source"): a node's text holding U+202E shows `mallory‮gnp.exe` as `malloryexe.png`.
 */
export const BIDI_ZW = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;

export interface OneNode {
  nodes: LocalNodes;
  origin: Origin;
  /** the infra repo checkout (committed; `--repo` reads it in place) */
  repo: string;
  /** the node's /etc/openclaw */
  etc: string;
  /** the node's /var/db/openclaw/clawops (created) */
  clawops: string;
}

/** gw-1 (canary) with acme, and the repo deploying it (no launchd units: nothing runs on the node). */
export function oneLocalNode(edits: Parameters<typeof makeOrigin>[0] = {}): OneNode {
  const nodes = makeLocalNodes(['gw-1'], ['acme']);
  const origin = makeOrigin({ ...edits, 'nodes.yaml': nodes.nodesYaml([{ name: 'gw-1', canary: true, tenants: ['acme'] }]) });
  const etc = join(nodes.root('gw-1'), 'etc/openclaw');
  const clawops = join(nodes.root('gw-1'), 'var/db/openclaw/clawops');
  mkdirSync(clawops, { recursive: true });
  return { nodes, origin, repo: origin.work, etc, clawops };
}

/** the lines of a text that hold a raw control, bidi or zero-width character (JSON-quoted, first 200 chars) */
export function rawLines(text: string, re: RegExp = new RegExp(`${RAW_CONTROL.source}|${BIDI_ZW.source}`)): string[] {
  return text.split('\n').filter((l) => re.test(l)).map((l) => JSON.stringify(l.slice(0, 200)));
}

/** the longest line of a text */
export const longestLine = (text: string): number => text.split('\n').reduce((m, l) => Math.max(m, l.length), 0);

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com', GIT_CONFIG_NOSYSTEM: '1', HOME: '/nonexistent' };
/** git with no global or system config of the machine (the test's own, whatever HOME the test set) */
export const git = (dir: string, ...args: string[]): string => execFileSync('git', args, { cwd: dir, env: GIT_ENV, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).trim();

/** run `fn` with HOME (hence the global git config ~/.gitconfig) pointing at `home`; restored after */
export async function withHome<T>(home: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.HOME;
  process.env.HOME = home;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.HOME;
    else process.env.HOME = saved;
  }
}

/**
 * A scratch TMPDIR for a test file's block (clawops' temp clones land there and go with it): call at describe level or
 * top level; returns the dir's getter.
 */
export function useScratchTmp(prefix: string): () => string {
  let scratch = '';
  let savedTmp: string | undefined;
  beforeAll(() => {
    savedTmp = process.env.TMPDIR;
    scratch = mkdtempSync(join(tmpdir(), prefix));
    process.env.TMPDIR = scratch;
  });
  afterAll(() => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    rmSync(scratch, { recursive: true, force: true });
  });
  return () => scratch;
}

/** tenants-example with edits, committed on main */
export function committed(edits: Record<string, Edit> = {}): { dir: string; commit: string } {
  const dir = exampleRepo(edits);
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'init');
  return { dir, commit: git(dir, 'rev-parse', 'HEAD') };
}
