/**
 * Pure: which records of a left-over intent file the next apply will record (the rule of settle_intent,
 * apply/remote-scripts.ts), so that `clawops diff` reports as unrecorded only swaps that happened: a record marked
 * done, or the tenant's last record when its link points at that release; the dead-man guard's and reload records as
 * they are. A line not in clawops' forms, or a mark, is no record. (The shell keeps the exact byte-level forms; this
 * judges what diff says, never what is written.)
 */
export interface IntentRecord {
  action: string;
  tenant: string;
  /** the release the record says the tenant went to ('' for a first deploy undone) */
  release: string;
  run?: string;
}

function parse(line: string): IntentRecord | undefined {
  if (!line.startsWith('{"time":"')) return undefined;
  try {
    const j = JSON.parse(line) as Record<string, unknown>;
    if (typeof j.action !== 'string' || typeof j.tenant !== 'string' || typeof j.release_id !== 'string') return undefined;
    return { action: j.action, tenant: j.tenant, release: j.release_id, ...(typeof j.run === 'string' ? { run: j.run } : {}) };
  } catch {
    return undefined;
  }
}

/** The records of one intent file (its lines in order) that settle_intent would record, given the tenants' links. */
export function pendingRecords(lines: readonly string[], linkOf: (tenant: string) => string | undefined): IntentRecord[] {
  const recs: { r: IntentRecord; swap: boolean; marked: boolean }[] = [];
  const open = new Map<string, number>();
  const last = new Map<string, number>();
  for (const line of lines) {
    const m = /^done ([A-Za-z0-9._-]+) ([0-9a-f]*)$/.exec(line);
    if (m) {
      const k = `${m[1]} ${m[2]}`;
      const i = open.get(k);
      if (i !== undefined) {
        recs[i]!.marked = true;
        open.delete(k);
      }
      continue;
    }
    const r = parse(line);
    if (!r) continue;
    const swap = r.action === 'apply' || r.action === 'rollback';
    recs.push({ r, swap, marked: false });
    if (swap) {
      open.set(`${r.tenant} ${r.release}`, recs.length - 1);
      last.set(r.tenant, recs.length - 1);
    }
  }
  return recs.filter((x, i) => !x.swap || x.marked || (last.get(x.r.tenant) === i && x.r.release !== '' && linkOf(x.r.tenant) === x.r.release)).map((x) => x.r);
}
