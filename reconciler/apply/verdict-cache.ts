/**
 * Valid verdicts kept across runs (issue 12): a release's `openclaw config validate` verdict depends only on its bytes
 * (the release's whole sha256 over every file) and the OpenClaw build that judged it (the sha256 of the entry point
 * and of dist/build-info.json, and the version line, as the node reported them), and on how clawops reads a
 * validation (JUDGE_VERSION): the key (validation-memo.ts verdictKey) names all of them. So a release one run found
 * valid need not be validated again by the next run (the fan-out after its canary, a re-apply after a network blip,
 * the same release on a node added later). Per-node checks (the wrapper's secret check, the staged bytes) still run
 * on every node; only the one openclaw run is saved.
 *
 * Only VALID verdicts are kept: an invalid release is validated again (its message comes from the validator, and a
 * refusal costs nothing to repeat). A verdict of an unknown build (either hash missing: validation-memo.ts keepable)
 * is never kept.
 *
 * One small file a verdict, named by the sha256 of its key, in a directory of the user running clawops (the CLI:
 * $XDG_CACHE_HOME/clawops/verdicts, else ~/.cache/clawops/verdicts; the controller: STATE_DIR/verdicts). A file
 * skips a validation, so the store trusts only what the user alone could have written: the directory and each file
 * owned by this user, neither writable by group or others, each file a regular file (no link, FIFO or device), small,
 * naming its own key in full. Anything else is not used (validated again); a store that cannot be written is no store
 * (validated every time), never an error of the apply.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** A verdict taken from an earlier run: who validated it, in which run, when. */
export interface KeptVerdict {
  node: string;
  run: string;
  at: string;
}

export interface VerdictStore {
  /** a valid verdict an earlier run kept for this key, or undefined */
  get(key: string): KeptVerdict | undefined;
  /** keep a valid verdict (best effort: a store that cannot be written keeps nothing) */
  put(key: string, v: KeptVerdict): void;
}

const MAX_FILE = 4096;
/** verdicts older than this are dropped when a new one is kept (the store stays small) */
const MAX_AGE_MS = 30 * 24 * 3600 * 1000;
const MAX_FILES = 5000;

/** The CLI's default store dir: $XDG_CACHE_HOME/clawops/verdicts, else ~/.cache/clawops/verdicts. */
export function defaultVerdictDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'clawops', 'verdicts');
}

const fileOf = (key: string): string => `${createHash('sha256').update(key).digest('hex')}.json`;

/** only this user's, and nobody else may write it */
function ownPrivate(mode: number, uid: number): boolean {
  const me = typeof process.getuid === 'function' ? process.getuid() : uid;
  return uid === me && (mode & 0o022) === 0;
}

/** A store in `dir` (made 0700 when missing). `read: false` keeps new verdicts but uses none (--revalidate). */
export function dirVerdictStore(dir: string, opts: { read?: boolean } = {}): VerdictStore {
  // checked at every use, never once for the store's life (the controller's lasts for months): a dir made
  // group-writable or swapped for a link since is no store from then on
  const dirOk = (): boolean => {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const st = lstatSync(dir);
      return st.isDirectory() && ownPrivate(st.mode, st.uid);
    } catch {
      return false;
    }
  };
  return {
    get(key) {
      if (opts.read === false || !dirOk()) return undefined;
      let fd: number;
      try {
        fd = openSync(join(dir, fileOf(key)), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch {
        return undefined;
      }
      try {
        const st = fstatSync(fd);
        if (!st.isFile() || st.size > MAX_FILE || !ownPrivate(st.mode, st.uid)) return undefined;
        const doc = JSON.parse(readFileSync(fd, 'utf8')) as Record<string, unknown>;
        if (doc.v !== 1 || doc.key !== key || doc.valid !== true) return undefined;
        const { node, run, at } = doc;
        if (typeof node !== 'string' || typeof run !== 'string' || typeof at !== 'string') return undefined;
        return { node, run, at };
      } catch {
        return undefined;
      } finally {
        closeSync(fd);
      }
    },
    put(key, v) {
      if (!dirOk()) return;
      const name = fileOf(key);
      const tmp = join(dir, `.${name}.${process.pid}.tmp`);
      try {
        writeFileSync(tmp, `${JSON.stringify({ v: 1, key, valid: true, node: v.node, run: v.run, at: v.at })}\n`, { flag: 'wx', mode: 0o600 });
        renameSync(tmp, join(dir, name));
      } catch {
        try {
          unlinkSync(tmp);
        } catch {
          /* never made */
        }
        return;
      }
      trim(dir);
    },
  };
}

/** drop verdicts past MAX_AGE_MS, and the oldest beyond MAX_FILES (best effort) */
function trim(dir: string): void {
  try {
    const names = readdirSync(dir).filter((n) => /^[0-9a-f]{64}\.json$/.test(n));
    const now = Date.now();
    const aged = names.map((n) => {
      try {
        return { n, t: lstatSync(join(dir, n)).mtimeMs };
      } catch {
        return { n, t: 0 };
      }
    });
    aged.sort((a, b) => b.t - a.t);
    for (const [i, e] of aged.entries()) if (i >= MAX_FILES || now - e.t > MAX_AGE_MS) unlinkSync(join(dir, e.n));
  } catch {
    /* a store that cannot be trimmed is still a store */
  }
}

/** no store: every run validates (tests that count validations; --verdict-cache off) */
export const NO_STORE: VerdictStore = { get: () => undefined, put: () => undefined };
