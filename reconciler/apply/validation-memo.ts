/**
 * Validate each distinct release once per run (issue 12). A release's `openclaw config validate` verdict depends only
 * on its bytes (the release id is a hash over every file's sha256 and path) and on the OpenClaw build that judges it;
 * what differs per node (its secret files: present, regular, non-empty, 0600/0400) is checked on every node by the
 * release's own wrapper (`bin/gateway-run … --check`), and the staged bytes are still verified per node by PROMOTE.
 *
 * The fleet run owns one memo and hands it to every node's apply. The first node to need a release claims it and
 * validates it in full (wrapper + openclaw), as before; a node needing a release another node is validating does not
 * run openclaw again: it does its own part (verify and place the staged bytes, its secret check) while that
 * validation runs (decideNow: 'pending'), and waits for the verdict only before its swap. A node waits only after it
 * has settled or given back every claim of its own, so two nodes can never wait on each other.
 *
 * A claim that ends without a verdict about the release (the node's own secret check refused, its connection dropped,
 * the lock was lost) is given back, and the next node that needs the release validates it.
 *
 * With a VerdictStore (verdict-cache.ts) valid verdicts outlive the run: a release an earlier run found valid with the
 * same build is a 'check' at once (its `earlier` says which run), and each valid verdict of this run is kept.
 */
import type { VerdictStore } from './verdict-cache.js';

/** What one full validation said about a release: valid, or refused with the reason (one line, no secrets). */
export type ReleaseVerdict = { valid: true; node: string; earlier?: string } | { valid: false; node: string; why: string };

/** Identity of a verdict: the OpenClaw build (the daemon's sha256 the node reported), tenant and release id. */
export function verdictKey(build: string, tenant: string, releaseId: string): string {
  return `${build}\t${tenant}\t${releaseId}\t${JUDGE_VERSION}`;
}

/**
 * How clawops reads a validation's output (apply-node.ts judge: which exit codes, JSON and warnings make a release
 * valid). Part of every key: bump it whenever judge() would call something valid it did not before, or the other
 * way round, so that no verdict kept by an older clawops outlives the upgrade.
 */
export const JUDGE_VERSION = 'judge/1';

/** a key whose build is known (the entry point's sha256, then dist/build-info.json's): only such verdicts are kept across runs */
export const keepable = (key: string): boolean => /^[0-9a-f]{64} [0-9a-f]{64} /.test(key);

/** who found a valid release valid, for a message: `gw-1 this run` or `gw-1 in run R` */
export const validatedBy = (v: Extract<ReleaseVerdict, { valid: true }>): string => (v.earlier ? `${v.node} in run ${v.earlier}` : `${v.node} this run`);

interface Entry {
  verdict?: ReleaseVerdict;
  /** settled with the verdict, or undefined when the claim was given back */
  done: Promise<ReleaseVerdict | undefined>;
  settle: (v: ReleaseVerdict | undefined) => void;
  owner: string;
}

export interface Claim {
  key: string;
  /** record the verdict for every node of this run */
  settle(verdict: ReleaseVerdict): void;
  /** no verdict (this node could not validate it): the next node that needs the release validates it */
  giveBack(): void;
}

export type Decision =
  /** this node validates the release in full */
  | { kind: 'validate'; key: string; claim: Claim }
  /** another node of this run validated it: this node runs its per-node checks only */
  | { kind: 'check'; key: string; verdict: Extract<ReleaseVerdict, { valid: true }> }
  /** another node of this run found it invalid: refused here too */
  | { kind: 'refuse'; key: string; verdict: Extract<ReleaseVerdict, { valid: false }> };

/** decideNow: another node of this run is validating the release right now; its verdict (undefined: given back) */
export type Pending = { kind: 'pending'; key: string; node: string; verdict: Promise<ReleaseVerdict | undefined> };

export class ValidationMemo {
  private readonly entries = new Map<string, Entry>();
  /** full validations started (claims taken), for tests and reports */
  claims = 0;
  /** verdicts taken from the store (earlier runs) */
  kept = 0;

  /** `keep`: the store valid verdicts are read from and kept in, and this run's id (recorded with each) */
  constructor(private readonly keep?: { store: VerdictStore; run: string }) {}

  /** the entry for `key`, or one made from an earlier run's valid verdict (settled: a 'check') */
  private entry(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e || !this.keep || !keepable(key)) return e;
    const kept = this.keep.store.get(key);
    if (!kept) return undefined;
    const verdict: ReleaseVerdict = { valid: true, node: kept.node, earlier: kept.run };
    const made: Entry = { verdict, done: Promise.resolve(verdict), settle: () => undefined, owner: kept.node };
    this.entries.set(key, made);
    this.kept++;
    return made;
  }

  /**
   * For each key a node needs: reuse a verdict, or claim the validation. Waits while another node holds a claim on a
   * key this node needs (holding none of its own meanwhile); then claims every unclaimed key at once. Interrupted
   * (signal) while waiting: an empty map, nothing claimed.
   */
  async decide(node: string, keys: readonly string[], signal?: AbortSignal): Promise<Map<string, Decision>> {
    for (;;) {
      const pending = [...new Set(keys)].map((k) => this.entry(k)).filter((e): e is Entry => e !== undefined && e.verdict === undefined);
      if (pending.length === 0) break;
      await Promise.race([Promise.all(pending.map((e) => e.done)), ...(signal ? [aborted(signal)] : [])]);
      // interrupted while waiting: nothing claimed (the node stops before validating)
      if (signal?.aborted) return new Map();
    }
    const out = new Map<string, Decision>();
    for (const key of keys) {
      if (out.has(key)) continue;
      const e = this.entry(key);
      if (e?.verdict?.valid === true) out.set(key, { kind: 'check', key, verdict: e.verdict });
      else if (e?.verdict?.valid === false) out.set(key, { kind: 'refuse', key, verdict: e.verdict });
      else out.set(key, { kind: 'validate', key, claim: this.claim(key, node) });
    }
    return out;
  }

  /**
   * For each key a node needs, without waiting: a verdict to reuse, a claim (nothing known yet: this node validates),
   * or 'pending' (another node holds the claim) with the promise of that node's verdict. The caller settles or gives
   * back its own claims before it awaits any pending verdict (then nobody waits on a node that waits).
   */
  decideNow(node: string, keys: readonly string[]): Map<string, Decision | Pending> {
    const out = new Map<string, Decision | Pending>();
    for (const key of keys) {
      if (out.has(key)) continue;
      const e = this.entry(key);
      if (e?.verdict?.valid === true) out.set(key, { kind: 'check', key, verdict: e.verdict });
      else if (e?.verdict?.valid === false) out.set(key, { kind: 'refuse', key, verdict: e.verdict });
      else if (e) out.set(key, { kind: 'pending', key, node: e.owner, verdict: e.done });
      else out.set(key, { kind: 'validate', key, claim: this.claim(key, node) });
    }
    return out;
  }

  private claim(key: string, node: string): Claim {
    let settle!: (v: ReleaseVerdict | undefined) => void;
    const done = new Promise<ReleaseVerdict | undefined>((resolve) => (settle = resolve));
    const entry: Entry = { done, settle, owner: node };
    this.entries.set(key, entry);
    this.claims++;
    let open = true;
    return {
      key,
      settle: (verdict) => {
        if (!open) return;
        open = false;
        entry.verdict = verdict;
        entry.settle(verdict);
        if (verdict.valid && this.keep && keepable(key)) this.keep.store.put(key, { node: verdict.node, run: this.keep.run, at: new Date().toISOString() });
      },
      giveBack: () => {
        if (!open) return;
        open = false;
        if (this.entries.get(key) === entry) this.entries.delete(key);
        entry.settle(undefined);
      },
    };
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}
