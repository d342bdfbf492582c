/** Running the apply scripts on a node, and the node lock's life cycle, shared by apply and rollback. */
import { ClawopsError } from '../errors.js';
import { shQuote, type NodePaths, type Transport } from '../transport/transport.js';
import { describeHolder, isStale, parseHolder, parseRecords } from './records.js';
import { BEGIN_SCRIPT, STAGE_SCRIPT, TAKEOVER_SCRIPT, UNLOCK_SCRIPT } from './remote-scripts.js';

/** Run one of remote-scripts.ts with positional args and stdin; its tab records, or RemoteFailed on a non-zero exit. */
export async function runScript(t: Transport, script: string, args: string[], stdin: string | Buffer = '', timeoutMs?: number): Promise<string[][]> {
  const res = await t.exec(`sh -c ${shQuote(script)} clawops ${args.map(shQuote).join(' ')}`, { stdin, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
  if (res.code !== 0) throw new ClawopsError('RemoteFailed', `${t.node}: remote step exited ${String(res.code ?? res.signal)}: ${res.stderr.trim().split('\n')[0] ?? ''}`);
  return parseRecords(res.stdout);
}

export interface LockRequest {
  run: string;
  /** already made safe with lockOwner() */
  owner: string;
  pid: number;
  ttlSec: number;
  /** the daemon hash BEGIN gates on ('lock-only' for none: BEGIN then stops right after the lock) */
  daemonSha: string;
  /** BEGIN's stdin (the files this pass wants) */
  want: string;
  /** the node's gateway port block (nodes.yaml port_offset) */
  portOffset?: number;
  onTakeover: (message: string) => void;
}

/**
 * Take the node lock with BEGIN; a stale holder is taken over (and reported through onTakeover), a live one is a
 * NodeLocked error naming it. Returns BEGIN's records (version facts, what is already staged).
 */
export async function takeNodeLock(t: Transport, p: NodePaths, req: LockRequest): Promise<string[][]> {
  const lockArgs = [req.run, req.owner, String(req.pid), String(req.ttlSec)];
  const begin = (): Promise<string[][]> => runScript(t, BEGIN_SCRIPT, [p.etc, p.varDb, ...lockArgs, req.daemonSha, String(req.portOffset ?? '')], req.want);
  let recs = await begin();
  const now = Number(recs.find((r) => r[0] === 'now')?.[1] ?? 0);
  const lock = recs.find((r) => r[0] === 'lock');
  if (lock?.[1] === 'held') {
    const holder = parseHolder(lock[2] ?? '');
    if (!isStale(holder, now)) throw new ClawopsError('NodeLocked', `${t.node}: locked by ${describeHolder(holder, now)}`);
    const took = (await runScript(t, TAKEOVER_SCRIPT, [p.varDb, ...lockArgs], holder.raw)).find((r) => r[0] === 'lock');
    if (took?.[1] !== 'taken') throw new ClawopsError('NodeLocked', `${t.node}: locked by ${describeHolder(parseHolder(took?.[2] ?? ''), now)}`);
    req.onTakeover(`took over a stale lock held by ${describeHolder(holder, now)}`);
    recs = await begin();
  }
  if (recs.find((r) => r[0] === 'lock')?.[1] !== 'acquired') throw new ClawopsError('NodeLocked', `${t.node}: could not take the node lock`);
  return recs;
}

/**
 * After a failure: record the swaps that did happen (from this run's intent file), remove this run's staging dirs
 * and temp links, release the lock if it is still ours. Best effort: the connection may be what failed; the next
 * run records and cleans up what is left, under its lock.
 */
export async function unlockAfterFailure(t: Transport, p: NodePaths, run: string): Promise<void> {
  await t.exec(`sh -c ${shQuote(UNLOCK_SCRIPT)} clawops ${shQuote(p.etc)} ${shQuote(p.varDb)} ${shQuote(run)}`, { timeoutMs: 10_000 }).catch(() => undefined);
}

/**
 * Send the files of a release the node does not have into its staging dir releases/<tenant>/<id>.tmp-<run>: one tar
 * over the command's stdin, extracted by STAGE inside the directory the node's shell stands in (never by path, which
 * a link planted at the name would redirect). Mode 0644, as every release file is staged. `prefilled`: BEGIN made the
 * staging dir (its pre-fill); else STAGE makes it and refuses anything already at the name.
 */
export async function stageRelease(t: Transport, p: NodePaths, run: string, tenant: string, id: string, files: readonly { path: string; content: Buffer }[], prefilled: boolean): Promise<void> {
  const res = await t.exec(`sh -c ${shQuote(STAGE_SCRIPT)} clawops ${[p.etc, run, tenant, id, prefilled ? '1' : '0'].map(shQuote).join(' ')}`, { stdin: await tarOf(files) });
  // (STAGE's own one line: the path and why)
  if (res.code !== 0) throw new ClawopsError('StageFailed', `${t.node}: ${res.stderr.trim().split('\n')[0] || `STAGE exited ${String(res.code ?? res.signal)}`}`);
}

/**
 * A ustar archive of `files` (regular files, mode 0644, relative paths as given), each directory on their paths an
 * entry of its own first (mode 0755): tar then makes each a real directory, replacing a link planted at its name
 * (GNU tar; bsdtar never extracts through a link), instead of writing the files through it.
 */
export async function tarOf(files: readonly { path: string; content: Buffer }[]): Promise<Buffer> {
  const { pack } = await import('tar-stream');
  const tar = pack();
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((resolve, reject) => {
    tar.on('data', (c: unknown) => {
      if (c instanceof Uint8Array) chunks.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    });
    tar.on('end', () => resolve());
    tar.on('error', reject);
  });
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  for (const d of [...dirs].sort()) tar.entry({ name: `${d}/`, type: 'directory', mode: 0o755, mtime: new Date(0) });
  for (const f of files) tar.entry({ name: f.path, type: 'file', mode: 0o644, size: f.content.length, mtime: new Date(0) }, f.content);
  tar.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/**
 * The reload-log records of the swaps a run is about to make, written before the first swap (write then rename, so
 * the file is whole or absent). Undos add to it as they happen (UNDO, the dead-man guard: done marks, their records). FINISH moves them into reload.log; a dead run's file is recorded by the next run.
 */
export async function writeIntent(t: Transport, p: NodePaths, run: string, lines: string): Promise<void> {
  const dir = `${p.varDb}/clawops`;
  // created afresh (O_EXCL): a link or file planted under the temp name fails the write, never receives it
  await t.files.writeFile(`${dir}/.intent.${run}.tmp`, Buffer.from(lines), 0o600);
  await t.files.rename(`${dir}/.intent.${run}.tmp`, `${dir}/intent.${run}`);
}

/**
 * Whether the node lock is still run `run`'s, read over SFTP (never through a link, never a FIFO): a run whose lock
 * expired and was taken over (a run stalled past its TTL) must not swap on behind the run that now holds it.
 */
export async function lockStillOurs(t: Transport, p: NodePaths, run: string): Promise<boolean> {
  const b = await t.files.readSmall(`${p.varDb}/clawops/node.lock`, 4096).catch(() => undefined);
  if (b === undefined) return false;
  const h = parseHolder(b.toString('base64'));
  return !('invalid' in h) && h.run === run;
}

/** A tenant link as the node scripts report it: the release id it points at and whether that release is complete. */
export interface LinkFact {
  id: string;
  complete: boolean;
}

export interface SwapPlan {
  tenant: string;
  to: string;
  /** the release id current pointed at (for the record) */
  from?: string;
  /** point .prev here first; absent: .prev is left as it is */
  prev?: string;
  /** why .prev was not moved */
  note?: string;
}

/**
 * Pure: the swaps that make `to` current. The old current becomes .prev only when it is a complete release; else the
 * old .prev stays (a dangling or damaged release is never kept as the rollback target). Undefined: nothing to swap
 * (the link already points at `to`, e.g. a release repaired in place).
 */
export function planSwap(tenant: string, to: string, links: { current?: LinkFact; prev?: LinkFact }): SwapPlan | undefined {
  const cur = links.current;
  if (cur?.id === to) return undefined;
  if (!cur) return { tenant, to };
  if (cur.complete) return { tenant, to, from: cur.id, prev: cur.id };
  const old = links.prev ? `${links.prev.id}${links.prev.complete ? '' : ' (itself incomplete)'}` : '(none)';
  return { tenant, to, from: cur.id, note: `the release it ran, ${cur.id}, is missing or incomplete and is not kept as .prev; .prev stays at ${old}` };
}

/**
 * Point `dir/name` at `target` atomically: a fresh temporary symlink renamed over the old link (rename(2)), so the
 * name resolves at every instant. Never rm-then-ln.
 */
export async function pointLink(t: Transport, dir: string, name: string, target: string, run: string, beforeRename?: () => Promise<void>, notMoved?: (e: unknown) => Promise<void>): Promise<void> {
  const tmp = `${dir}/.clawops-${run}-${name}`;
  try {
    await t.files.symlink(target, tmp);
    // (the last moment before the rename that is the swap: e.g. the lock re-checked; a throw leaves the temp link,
    // which UNLOCK or the next run removes as this run's litter)
    await beforeRename?.();
  } catch (e) {
    // (the link certainly did not move: the rename was never asked for. A failed rename is no such certainty: the
    // node may have done it and lost only the answer)
    await notMoved?.(e);
    throw e;
  }
  await t.files.rename(tmp, `${dir}/${name}`);
}

/**
 * The two renames of a swap in `dir` (the tenants/ dir): `.prev` first, so that if the second rename fails the node
 * still runs what it ran (both links on it), then current. When current certainly did not move (its rename was never
 * asked for: `beforeRename` threw, or the temp link could not be made), `.prev` goes back to `prevBefore`, the release
 * it named (else that rollback target is lost, .prev naming what still runs); best effort, the connection may be what
 * failed. `putBack(e)` false: leave .prev as it is (e.g. the lock is another run's now: nothing more is touched).
 */
export async function swapLinks(t: Transport, dir: string, sw: SwapPlan, prevBefore: string | undefined, run: string, beforeRename?: () => Promise<void>, putBack: (e: unknown) => boolean = () => true): Promise<void> {
  const rel = (id: string): string => `../releases/${sw.tenant}/${id}`;
  if (sw.prev !== undefined) await pointLink(t, dir, `${sw.tenant}.prev`, rel(sw.prev), run);
  await pointLink(t, dir, sw.tenant, rel(sw.to), run, beforeRename, async (e) => {
    if (sw.prev !== undefined && prevBefore !== undefined && putBack(e)) await pointLink(t, dir, `${sw.tenant}.prev`, rel(prevBefore), `${run}-back`).catch(() => undefined);
  });
}

/** The release id a tenant link points at: the last path segment of its target. */
export function releaseIdOf(target: string): string {
  return target.split('/').filter(Boolean).pop() ?? target;
}
