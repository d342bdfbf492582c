/**
 * Pure: which records of a left-over intent file the next apply will record (the rule of settle_intent,
 * apply/remote-scripts.ts), so that `clawops diff` reports as unrecorded only swaps that happened: a record marked
 * done, or the tenant's last record when its link points at that release (a record to no release: when the tenant
 * has no link); the dead-man guard's and reload records as they are. Only lines in clawops' exact forms count, the
 * same forms the shell copies (journal-forms.ts): any other line, a mark included, is no record.
 */
import { JOURNAL_BAD_CHARS, JOURNAL_FORMS } from '../journal-forms.js';

export interface IntentRecord {
  action: string;
  tenant: string;
  /** the release the record says the tenant went to ('' for a first deploy undone) */
  release: string;
  run?: string;
}

const FORM = { done: new RegExp(JOURNAL_FORMS.done), deadMan: new RegExp(JOURNAL_FORMS.deadMan), reload: new RegExp(JOURNAL_FORMS.reload), swap: new RegExp(JOURNAL_FORMS.swap) };

function parse(line: string): IntentRecord | undefined {
  try {
    const j = JSON.parse(line) as Record<string, unknown>;
    if (typeof j.action !== 'string' || typeof j.tenant !== 'string' || typeof j.release_id !== 'string') return undefined;
    return { action: j.action, tenant: j.tenant, release: j.release_id, ...(typeof j.run === 'string' ? { run: j.run } : {}) };
  } catch {
    return undefined;
  }
}

/**
 * The records of one intent file (its lines in order, as observe decoded them: a line that was not UTF-8 holds
 * U+FFFD) that settle_intent would record, given the tenants' current links (undefined: no link).
 */
export function pendingRecords(lines: readonly string[], linkOf: (tenant: string) => string | undefined): IntentRecord[] {
  const recs: { r: IntentRecord; swap: boolean; marked: boolean }[] = [];
  const open = new Map<string, number>();
  const last = new Map<string, number>();
  for (const line of lines) {
    if (JOURNAL_BAD_CHARS.test(line)) continue;
    if (FORM.done.test(line)) {
      const [, tenant = '', id = ''] = line.split(' ');
      const i = open.get(`${tenant} ${id}`);
      if (i !== undefined) {
        recs[i]!.marked = true;
        open.delete(`${tenant} ${id}`);
      }
      continue;
    }
    const swap = FORM.swap.test(line);
    if (!swap && !FORM.deadMan.test(line) && !FORM.reload.test(line)) continue;
    const r = parse(line);
    if (!r) continue;
    recs.push({ r, swap, marked: false });
    if (swap) {
      open.set(`${r.tenant} ${r.release}`, recs.length - 1);
      last.set(r.tenant, recs.length - 1);
    }
  }
  const stands = (r: IntentRecord): boolean => (r.release === '' ? linkOf(r.tenant) === undefined : linkOf(r.tenant) === r.release);
  return recs.filter((x, i) => !x.swap || x.marked || (last.get(x.r.tenant) === i && stands(x.r))).map((x) => x.r);
}
