/**
 * The controller's files in its state dir:
 *   status.json   the status model (status.ts), rewritten after every pass: temp + fsync + rename, so kill -9 leaves
 *                 the old or the new file, never half of one. Each write first records the finished pass in the
 *                 history and the cumulative counters (recordPass), so they survive a restart
 *   suspend.json  what `clawops controller suspend|resume` set; read at the start of every pass (another process
 *                 writes it, so it is not part of status.json)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IoError } from '../errors.js';
import { validateValue } from '../desired/schema.js';
import { escapeInline } from '../safe-text.js';
import { readStateFile, writeFileAtomic } from '../notifier/persist.js';
import { emptyCounters, recordPass, STATUS_SCHEMA_VERSION, type CommitEvidence, type StatusDoc } from './status.js';

export const STATUS_FILE = 'status.json';
export const SUSPEND_FILE = 'suspend.json';
/** commits kept in the store besides failed ones (those are never forgotten) */
export const KEEP_COMMITS = 50;

export class StoreVersionError extends IoError {}

export function statusPath(stateDir: string): string {
  return join(stateDir, STATUS_FILE);
}

/**
 * The stored status, or undefined when there is none yet. An older schema is migrated (schema 1: no history, no
 * counters, no token state — the history starts with the last pass it names, marked `baseline`, and the counters
 * start at zero from then); a newer one, or a file that is not a controller status, is refused with a message saying
 * what to do. The result always has the current schema's shape (schemaVersion stays what the file said).
 */
export function parseStatus(file: string, raw: unknown): StatusDoc | undefined {
  if (raw === undefined) return undefined;
  const v = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (raw === null || typeof raw !== 'object' || typeof v !== 'number' || !Number.isInteger(v)) {
    throw new StoreVersionError(`${file}: not a clawops controller status file (no schemaVersion); move it away or use another --state-dir`);
  }
  if (v > STATUS_SCHEMA_VERSION) {
    throw new StoreVersionError(`${file}: written by a newer clawops (status schema ${v}, this one reads up to ${STATUS_SCHEMA_VERSION}); upgrade clawops or use another --state-dir`);
  }
  if (v < 1) throw new StoreVersionError(`${file}: status schema ${v} is too old to read; move it away (the controller rebuilds status, but forgets failed commits)`);
  const doc = raw as StatusDoc;
  // a collection that is there but is not one is refused: taking it for empty would forget every failed commit
  for (const k of ['nodes', 'commits'] as const) {
    const v = (raw as Record<string, unknown>)[k];
    if (v !== undefined && (v === null || typeof v !== 'object' || Array.isArray(v))) {
      throw new StoreVersionError(`${file}: "${k}" is not an object (hand-edited?); fix it or move the file away (the controller rebuilds status, but forgets failed commits)`);
    }
  }
  // tolerate missing collections (hand-edited or partially written by an older build)
  doc.nodes ??= {};
  doc.commits ??= {};
  doc.passes ??= 0;
  const migrate = !Array.isArray(doc.history) || doc.counters === null || typeof doc.counters !== 'object';
  if (migrate) {
    // schema 1 (or a hand-edited 2): counting starts now; its last pass is history without counts (recordPass below,
    // once the records are known to have their types)
    doc.history = [];
    const since = doc.lastPass?.finishedAt ?? doc.controller?.startedAt;
    doc.counters = emptyCounters(typeof since === 'string' ? since : new Date(0).toISOString());
  }
  const k = doc.counters;
  k.passes ??= {};
  k.applies ??= {};
  k.rollbacks ??= {};
  k.fetchErrors ??= 0;
  k.lastSynced ??= {};
  k.seen ??= {};
  // every record the views and counters read has its type (a null node, a history entry without nodes, a count that
  // is a string): refused here in one line naming the file, never a view's crash or a counter that throws later
  const wrong = validateValue('controller-status', doc);
  if (wrong.length > 0) {
    const more = wrong.length > 1 ? ` (and ${wrong.length - 1} more)` : '';
    throw new StoreVersionError(`${file}: ${escapeInline(wrong[0]!.slice(0, 200))}${more} (hand-edited, or written by another build?); fix it or move the file away (the controller rebuilds status, but forgets failed commits)`);
  }
  if (migrate) recordPass(doc, { count: false });
  return doc;
}

export async function readStatus(stateDir: string): Promise<StatusDoc | undefined> {
  const file = statusPath(stateDir);
  return parseStatus(file, await readStateFile(file));
}

/** Keep every failed commit and the newest KEEP_COMMITS others. */
export function boundCommits(commits: Record<string, CommitEvidence>, keep = KEEP_COMMITS): Record<string, CommitEvidence> {
  const all = Object.values(commits);
  const others = all.filter((c) => c.verdict !== 'failed').sort((a, b) => (a.firstSeen < b.firstSeen ? 1 : a.firstSeen > b.firstSeen ? -1 : 0));
  const kept = new Set([...all.filter((c) => c.verdict === 'failed'), ...others.slice(0, keep)].map((c) => c.commit));
  return Object.fromEntries(Object.entries(commits).filter(([k]) => kept.has(k)));
}

export async function writeStatus(stateDir: string, doc: StatusDoc): Promise<void> {
  recordPass(doc);
  doc.commits = boundCommits(doc.commits);
  await writeFileAtomic(statusPath(stateDir), statusText(doc), 0o644);
}

/**
 * The store's text, `${JSON.stringify(doc, null, 2)}\n` byte for byte, in pieces: the top-level fields one by one and
 * `nodes` one record at a time. The whole text is ~20 KiB a node (40 MB at 2,000 nodes): made as one string every pass
 * it went straight to V8's large-object space (old generation, freed only by a full GC) together with its UTF-8 copy,
 * and was the largest single piece of garbage a pass left; a record's piece is young garbage, gone at the next scavenge.
 */
export function* statusText(doc: StatusDoc): Generator<string> {
  let first = true;
  for (const k of Object.keys(doc)) {
    const v = (doc as unknown as Record<string, unknown>)[k];
    const head = `${first ? '{\n' : ',\n'}  ${JSON.stringify(k)}: `;
    if (k === 'nodes' && v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { toJSON?: unknown }).toJSON !== 'function') {
      yield head;
      yield* nodesText(v as Record<string, unknown>);
      first = false;
      continue;
    }
    const text = JSON.stringify(v, null, 2) as string | undefined;
    if (text === undefined) continue; // undefined, a function: JSON.stringify leaves the key out
    yield `${head}${text.replaceAll('\n', '\n  ')}`;
    first = false;
  }
  yield first ? '{}\n' : '\n}\n';
}

/** `nodes` as JSON.stringify(doc, null, 2) prints it (two levels deep): each record stringified where it sits */
function* nodesText(nodes: Record<string, unknown>): Generator<string> {
  let first = true;
  for (const name of Object.keys(nodes)) {
    const key = JSON.stringify(name);
    // the record nested as in the doc, so JSON.stringify indents it as there; only its own lines are kept
    const text = JSON.stringify({ nodes: { [name]: nodes[name] } }, null, 2) as string;
    if (text === '{\n  "nodes": {}\n}') continue; // undefined, a function: JSON.stringify leaves the key out
    yield `${first ? '{\n' : ',\n'}    ${key}: ${text.slice(`{\n  "nodes": {\n    ${key}: `.length, text.length - '\n  }\n}'.length)}`;
    first = false;
  }
  yield first ? '{}' : '\n  }';
}


export interface Suspension {
  /** the whole controller: observe and report, apply nothing */
  all: boolean;
  nodes: string[];
}

export function readSuspension(stateDir: string): Suspension {
  const file = join(stateDir, SUSPEND_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { all: false, nodes: [] };
    throw new IoError(`${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  try {
    const j = JSON.parse(text) as { all?: unknown; nodes?: unknown };
    return { all: j.all === true, nodes: Array.isArray(j.nodes) ? j.nodes.filter((n): n is string => typeof n === 'string').sort() : [] };
  } catch {
    throw new IoError(`${file}: not valid JSON; fix or remove it (clawops controller resume rewrites it)`);
  }
}

/** Pure: suspension after `suspend|resume [--node N…]`. */
export function changeSuspension(s: Suspension, action: 'suspend' | 'resume', nodes: readonly string[]): Suspension {
  if (nodes.length === 0) return action === 'suspend' ? { all: true, nodes: s.nodes } : { all: false, nodes: s.nodes };
  const set = new Set(s.nodes);
  for (const n of nodes) {
    if (action === 'suspend') set.add(n);
    else set.delete(n);
  }
  return { all: s.all, nodes: [...set].sort() };
}

export async function writeSuspension(stateDir: string, s: Suspension): Promise<void> {
  await writeFileAtomic(join(stateDir, SUSPEND_FILE), `${JSON.stringify(s, null, 2)}\n`, 0o644);
}

export function isSuspended(s: Suspension, node: string): boolean {
  return s.all || s.nodes.includes(node);
}
