/**
 * A node's kept answer parsed again without parsing it again. An unchanged node answers with its kept answer
 * (observe-script.ts): the live records first (now, answer, daemon, version, disk, launchd-list when launchctl
 * failed), then the records of its last full answer, byte for byte the same pass after pass, then the services (svc)
 * last. When that middle part and the stdin it answered are what they were last pass for the node, what they say is
 * what they said then: only the live records are parsed, the rest is last pass's (a base kept per node), and the
 * observation is deep-equal to parseObservation's of the whole answer. The base is kept in share.ts copies, each
 * tenant shared with the last base that has the same one (2,000 simulated nodes: < 1 MB for all bases). Scale bench,
 * 500 nodes: peak RSS ~180 → ~166 MB, steady pass CPU ~0.40 → ~0.32 s (medians of several noisy runs).
 *
 * Nothing handed out is ever written to by the parse: each observation gets tenant objects of its own (the pass
 * slims them in place) and arrays of its own; what they hold (files, manifests, tokens…) is the base's, read only,
 * as the pass treats observations (share.ts).
 */
import { createHash } from 'node:crypto';
import { share } from '../share.js';
import { LIVE_KINDS } from './observe-script.js';
import { checkRecords, collectRecords, finishObservation, newObservation, parseObservation, type LaunchdRecords } from './parse-observation.js';
import type { NodeObservation, TenantObservation } from './types.js';

const PREFIX = '{"v":1,"records":[';
/** every kind a kept answer sends afresh: none may be in the kept middle */
const LIVE: ReadonlySet<string> = new Set(LIVE_KINDS);
/** the live records of the head of a kept answer (FRESH in observe-script.ts): all of them but svc, sent last */
const HEAD: ReadonlySet<string> = new Set(LIVE_KINDS.filter((k) => k !== 'svc'));
const SVC = '["svc","';

interface Split {
  /** where the middle starts (after the head's last comma) and ends (before the comma before the tail, or `]}`) */
  mid: number;
  midEnd: number;
  /** the tail's text (svc records, comma-separated; '' when none) */
  tail: string;
  /** the head's text (comma-separated records) */
  head: string;
}

/** End (exclusive) of the JSON array that starts at i (a record: strings only), or -1. */
function recordEnd(s: string, i: number): number {
  if (s.charCodeAt(i) !== 91 /* [ */) return -1;
  let inStr = false;
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (inStr) {
      if (c === 92 /* \ */) j++;
      else if (c === 34 /* " */) inStr = false;
    } else if (c === 34) inStr = true;
    else if (c === 93 /* ] */) return j + 1;
    else if (c === 91) return -1;
  }
  return -1;
}

/** the kind of the record at i when it is one of `kinds` */
function kindAt(s: string, i: number, kinds: ReadonlySet<string>): boolean {
  if (s.charCodeAt(i + 1) !== 34) return false;
  const e = s.indexOf('"', i + 2);
  return e > 0 && kinds.has(s.slice(i + 2, e));
}

/** Where the live head, the kept middle and the svc tail of an answer are; undefined when it is not laid out so. */
export function splitAnswer(s: string): Split | undefined {
  if (!s.startsWith(PREFIX)) return undefined;
  let i = PREFIX.length;
  while (kindAt(s, i, HEAD)) {
    const e = recordEnd(s, i);
    if (e < 0 || s.charCodeAt(e) !== 44 /* , */) return undefined;
    i = e + 1;
  }
  if (i === PREFIX.length) return undefined;
  // the end: `]}` and blanks
  let end = s.length;
  while (end > 0 && /\s/.test(s[end - 1]!)) end--;
  if (!s.endsWith(']}', end)) return undefined;
  end -= 2;
  // the first svc record after the head: `["svc","` is always a record's start in a JSON document (a `"` after `[` in
  // a string would end it); a middle that is not well formed is refused by the checks of the callers
  const t = s.indexOf(SVC, i);
  const midEnd = t < 0 || t >= end ? end : t - 1;
  if (midEnd <= i) return undefined;
  if (t >= 0 && t < end && s.charCodeAt(midEnd) !== 44) return undefined;
  return { mid: i, midEnd, head: s.slice(PREFIX.length, i - 1), tail: t >= 0 && t < end ? s.slice(t, end) : '' };
}

/** What last pass's kept middle of a node said (its records' observation but launchd), and what identifies it. */
interface Base {
  expected: string | undefined;
  hash: string;
  length: number;
  obs: NodeObservation;
}

const digest = (s: string): string => createHash('sha256').update(s).digest('base64');

export class Reparser {
  private readonly bases = new Map<string, Base>();
  /** the last base made, shared with (share.ts): the nodes of a fleet mostly keep the same releases */
  private lastBase: NodeObservation | undefined;
  /** and each tenant's last base, by tenant */
  private readonly lastTenant = new Map<string, TenantObservation>();
  /** answers parsed in full and from a base (diagnostics, tests) */
  readonly counts = { full: 0, reused: 0 };

  forget(node: string): void {
    this.bases.delete(node);
  }

  retain(names: ReadonlySet<string>): void {
    for (const n of [...this.bases.keys()]) if (!names.has(n)) this.bases.delete(n);
  }

  /** parseObservation(node, stdout, meta, expected), reusing last pass's parse of a kept middle that is unchanged */
  parse(node: string, stdout: string, meta: { commands: number; durationMs: number }, expected: string | undefined): NodeObservation {
    const sp = splitAnswer(stdout);
    const live = sp && liveRecords(sp);
    if (!sp || !live) {
      // not laid out as a kept answer (a full one), or not well formed: parseObservation's verdict
      this.bases.delete(node);
      this.counts.full++;
      return parseObservation(node, stdout, meta, expected);
    }
    const have = this.bases.get(node);
    const text = stdout.slice(sp.mid, sp.midEnd);
    const hash = digest(text);
    if (have && have.length === text.length && have.expected === expected && have.hash === hash) {
      this.counts.reused++;
      return fromBase(node, meta, have.obs, live);
    }
    // another middle: parsed on its own (the answer is its head, this list of records and its tail, each valid: the
    // very records JSON.parse of the whole answer gives), made the node's base unless it holds a live record
    this.counts.full++;
    let middle: unknown[];
    try {
      middle = JSON.parse(`[${text}]`) as unknown[];
      checkRecords(middle);
    } catch {
      this.bases.delete(node);
      return parseObservation(node, stdout, meta, expected);
    }
    if (middle.some((r) => LIVE.has(r[0]!))) {
      this.bases.delete(node);
      return parseObservation(node, stdout, meta, expected);
    }
    const raw = newObservation(node, { commands: 0, durationMs: 0 });
    collectRecords(raw, middle, expected);
    // kept in copies of its own (share.ts: the parser's objects die young), shared with the last node's where equal;
    // the desired file lists an insync summary stands for are shared by every observation already: not copied
    const own = new Set<object>();
    for (const t of Object.values(raw.tenants)) if (t.manifest && !('invalid' in t.manifest) && Object.isFrozen(t.manifest.files)) own.add(t.manifest.files);
    // each tenant shared with the last base that has it (the last node's may not: another tenant list)
    const tenants: Record<string, TenantObservation> = {};
    for (const id in raw.tenants) {
      if (!Object.hasOwn(raw.tenants, id)) continue;
      const t = share(undefined, raw.tenants[id]!, this.lastTenant.get(id), own);
      tenants[id] = t;
      if (this.lastTenant.size >= 10_000) this.lastTenant.clear();
      this.lastTenant.set(id, t);
    }
    const base = share(undefined, { ...raw, tenants: {} }, this.lastBase, own);
    base.tenants = tenants;
    this.lastBase = base;
    this.bases.set(node, { expected, hash, length: text.length, obs: base });
    return fromBase(node, meta, base, live);
  }
}

/** the head's and tail's records, checked (head: live kinds only; tail: svc only); undefined when they are not so */
function liveRecords(sp: Split): { head: string[][]; tail: string[][] } | undefined {
  try {
    const head = JSON.parse(`[${sp.head}]`) as unknown[];
    const tail = (sp.tail === '' ? [] : JSON.parse(`[${sp.tail}]`)) as unknown[];
    checkRecords(head);
    checkRecords(tail);
    if (head.some((r) => !HEAD.has(r[0]!)) || tail.some((r) => r[0] !== 'svc')) return undefined;
    return { head, tail };
  } catch {
    return undefined;
  }
}

/** the observation of base's middle with these live records: parseObservation's of the whole answer */
function fromBase(node: string, meta: { commands: number; durationMs: number }, base: NodeObservation, live: { head: string[][]; tail: string[][] }): NodeObservation {
  const obs = newObservation(node, meta);
  // the live records first, as the answer has them (they touch none of what the base holds)
  const launchd: LaunchdRecords = collectRecords(obs, live.head, undefined);
  collectRecords(obs, live.tail, undefined, launchd);
  obs.errors.push(...base.errors);
  obs.leftovers.push(...base.leftovers);
  obs.intents.push(...base.intents);
  if (base.intentsCut) obs.intentsCut = [...base.intentsCut];
  obs.guards.push(...base.guards);
  Object.assign(obs.nodeUnits, base.nodeUnits);
  if (base.lock !== undefined) obs.lock = base.lock;
  for (const id in base.tenants) {
    if (!Object.hasOwn(base.tenants, id)) continue;
    // a tenant object of its own (the pass slims it in place; its launchd state is this answer's)
    obs.tenants[id] = { ...base.tenants[id]! };
  }
  finishObservation(obs, launchd);
  return obs;
}
