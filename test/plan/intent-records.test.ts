/**
 * pendingRecords mirrors settle_intent's rule (test/apply/swap-journal.test.ts runs the shell's): diff reports as
 * unrecorded only what the next apply will record.
 */
import { describe, expect, it } from 'vitest';
import { pendingRecords } from '../../reconciler/plan/intent-records.js';

const V1 = '1111111111111111';
const V2 = '2222222222222222';
const rec = (action: string, tenant: string, to: string, from?: string): string =>
  `{"time":"2026-11-29T20:00:00.000Z","action":"${action}","node":"gw-1","tenant":"${tenant}","release_id":"${to}",${from ? `"prev_release_id":"${from}",` : ''}"actor":"t","run":"r1"}`;
const links = (m: Record<string, string>) => (t: string): string | undefined => m[t];

describe('pendingRecords', () => {
  it('a swap that never happened (unmarked, the link elsewhere): nothing to report', () => {
    expect(pendingRecords([rec('apply', 'acme', V2, V1)], links({ acme: V1 }))).toEqual([]);
  });

  it('a swap that stands (its link), or undone later (marked): reported, with the undo', () => {
    expect(pendingRecords([rec('apply', 'acme', V2, V1)], links({ acme: V2 })).map((r) => r.release)).toEqual([V2]);
    const undone = [rec('apply', 'acme', V2, V1), `done acme ${V2}`, rec('rollback', 'acme', V1, V2), `done acme ${V1}`];
    expect(pendingRecords(undone, links({ acme: V1 })).map((r) => `${r.action} ${r.release}`)).toEqual([`apply ${V2}`, `rollback ${V1}`]);
  });

  it('only the tenant\'s last record is judged by its link; a mark before its record, or for another release, counts for nothing', () => {
    const lines = [`done acme ${V2}`, rec('apply', 'acme', V2, V1), `done acme ${V1}`, rec('rollback', 'acme', V1, V2)];
    expect(pendingRecords(lines, links({ acme: V2 }))).toEqual([]);
    expect(pendingRecords(lines, links({ acme: V1 })).map((r) => r.action)).toEqual(['rollback']);
  });

  it('the guard\'s and reload records as they are; lines not clawops\' are no records', () => {
    const dmr = `{"time":"2026-11-29T20:00:09Z","action":"DeadManRollback","tenant":"acme","release_id":"${V1}","prev_release_id":"${V2}","run":"r1","detail":""}`;
    expect(pendingRecords([dmr, 'garbage', '{"not":"ours"}', `done acme`], links({})).map((r) => r.action)).toEqual(['DeadManRollback']);
  });
});
