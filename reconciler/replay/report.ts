/** `clawops replay` output: one line per fixture for people, the report as JSON for machines. */
import { escapeInline, safeJson } from '../safe-text.js';
import type { ReplayReport, ReplayResult } from './replay.js';

const MARK: Record<ReplayResult['outcome'], string> = { matched: 'ok', mismatch: 'FAILED', error: 'ERROR', skipped: 'skipped' };

function cells(r: ReplayResult): string[] {
  const expected = r.expected === null ? '-' : String(r.expected);
  const got = r.got === null ? '-' : String(r.got);
  const time = r.duration_ms === null ? r.time : `${r.duration_ms} ms  ${r.time}`;
  return [r.tenant, r.fixture ?? '-', r.host ?? '-', `expected ${expected}`, `got ${got}`, MARK[r.outcome], r.outcome === 'matched' || r.outcome === 'mismatch' ? time : ''].map(escapeInline);
}

export function renderReplayText(rep: ReplayReport): string {
  const out: string[] = [`Replay from ${escapeInline(rep.node)} (secret: ${rep.secret}, run ${rep.run})`];
  const rows = rep.results.map(cells);
  const widths = rows.reduce<number[]>((w, row) => row.map((c, i) => Math.max(w[i] ?? 0, c.length)), []);
  rep.results.forEach((r, i) => {
    const row = rows[i]!;
    const line = row.map((c, j) => (j === row.length - 1 ? c : c.padEnd(widths[j] ?? 0))).join('  ').trimEnd();
    out.push(`  ${line}${r.message ? `  (${escapeInline(r.message)})` : ''}`);
  });
  if (rep.results.length === 0) out.push('  nothing to replay: no endpoint on this node names a fixture');
  const n = (o: ReplayResult['outcome']): number => rep.results.filter((r) => r.outcome === o).length;
  const delivered = rep.results.filter((r) => r.fixture !== null).length;
  out.push(`${delivered} fixture(s): ${n('matched')} matched, ${n('mismatch')} failed, ${n('error')} error(s), ${n('skipped')} skipped.`);
  if (rep.notifier.attempted > 0) {
    out.push(
      rep.notifier.error === undefined
        ? `Notifier: ${rep.notifier.sent} failure line(s) written to ${escapeInline(rep.notifier.socket)}.`
        : `Notifier: ${rep.notifier.attempted} failure line(s) not written: ${escapeInline(rep.notifier.error)}.`,
    );
  }
  return `${out.join('\n')}\n`;
}

export function replayJson(rep: ReplayReport): string {
  return `${safeJson(rep, 2)}\n`;
}
