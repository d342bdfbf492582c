/**
 * The status model → what on-call reads in a terminal (`clawops status`). Pure. A summary line (nodes per state,
 * worst first), what is wrong with the controller, then one block per node that is not Synced, grouped in triage
 * order, and the Synced nodes folded into one line. Every string from a node, the repo or an error is escaped to one
 * line (escapeInline): nothing it carries can move the cursor or forge a line.
 */
import { CONTROLLER_STATES } from '../controller/status.js';
import { escapeInline, safeJson } from '../safe-text.js';
import { durationAgo, revLabel, shortCommit, type NodeView, type StatusView } from './status-model.js';

const e = escapeInline;

/** `2026-11-28 12:00:00Z` */
function when(iso: string | undefined): string {
  // (escaped like every other string here: a notifier's dates reach this)
  return iso ? e(iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')) : '?';
}

export function summaryLine(v: StatusView): string {
  const parts = CONTROLLER_STATES.filter((s) => v.summary.counts[s] > 0).map((s) => `${v.summary.counts[s]} ${s}`);
  return `${v.summary.total} node(s): ${parts.length ? parts.join(', ') : 'none'}`;
}

function wants(n: NodeView): string {
  const d = n.desired;
  const ref = d.ref && !(d.tag && d.ref === `refs/tags/${d.tag}`) ? ` (${e(d.ref)})` : '';
  const r = d.commit ? `${e(revLabel(d))}${ref}` : '(no target)';
  return `${r}${d.openclaw ? ` · openclaw ${e(d.openclaw)}` : ''}${n.held ? ` · holding back ${e(revLabel(n.held))}` : ''}`;
}

function runs(n: NodeView): string {
  const revs = n.running.revisions.map((r) => e(revLabel(r))).filter((x) => x);
  return `${revs.length ? revs.join(', ') : '(nothing deployed)'}${n.running.openclaw ? ` · openclaw ${e(n.running.openclaw)}` : ''}`;
}

function tenantLine(t: NodeView['tenants'][number]): string {
  const rel = t.currentRelease === t.desiredRelease ? (t.currentRelease ?? '-') : `${t.currentRelease ?? '(none)'} → ${t.desiredRelease ?? '?'}`;
  const svc = t.service ? ` ${t.service}${t.pid !== undefined ? ` pid ${t.pid}` : ''}` : '';
  const why = t.state !== 'Synced' && t.message ? `: ${t.message}` : '';
  const probe = t.probe && t.probe.status !== 'ok' && !(t.message ?? '').includes(t.probe.summary) ? ` (${t.probe.summary})` : '';
  return e(`${t.tenant} ${t.state} ${t.sync} release ${rel} health ${t.health}${svc}${probe}${why}`);
}

/** The webhook failures block: each notifier node's digest read, then its rows worst first. */
export function webhookFailuresBlock(v: StatusView): string[] {
  const w = v.webhookFailures;
  if (!w || w.notifiers.length === 0) return [];
  const out = ['', 'Webhook failures (notifier digests)'];
  for (const n of w.notifiers) {
    const window = n.windowSec !== undefined ? `last ${n.windowSec} s` : 'window ?';
    const read = n.at ? `read ${when(n.at)}` : 'never read';
    const counts = `${n.total} failure(s)${n.dropped ? `, ${n.dropped} dropped` : ''}${n.overflow ? `, ${n.overflow} overflow` : ''}, ${n.keys} key(s)`;
    out.push(`  ${e(n.node)}: ${counts} (${window}, ${read})${n.error ? `; last read failed ${when(n.errorAt)}: ${e(n.error)}` : ''}`);
  }
  if (w.rows.length === 0) out.push('  no failures');
  for (const r of w.rows) {
    const st = Object.entries(r.statuses).map(([k, c]) => `${k}:${c}`).join(' ');
    out.push(`  ${e(r.tenant)} ${e(r.endpoint)} ${e(r.family)} ×${r.count}${st ? ` (${e(st)})` : ''} first ${when(r.firstSeen)} last ${when(r.lastSeen)} [${e(r.node)}]`);
  }
  return out;
}

function block(n: NodeView, now: Date): string[] {
  const head = `  ${e(n.node)} [${e(n.role)}${n.canary ? ', canary' : ''}] ${n.state}: ${e(n.reason)} since ${when(n.since)} (${durationAgo(n.since, now)} ago)`;
  const out = [head];
  if (n.message) out.push(`    why     ${e(n.message)}`);
  out.push(`    runs    ${runs(n)}`);
  out.push(`    wants   ${wants(n)}`);
  if (n.health.status !== 'ok') out.push(`    health  ${n.health.status}${n.health.message ? `: ${e(n.health.message)}` : ''}`);
  // a tenant says more than its node only when it is in another state or says something else
  for (const t of n.tenants) if ((t.state !== 'Synced' || t.health !== 'ok') && !(t.state === n.state && t.message === n.message)) out.push(`    tenant  ${tenantLine(t)}`);
  // token overlap: every tenant whose rotation says more than "token.current only"
  for (const t of n.tenants) if (t.token && t.token.overlap !== 'single') out.push(`    token   ${e(`${t.tenant}: ${t.token.summary}`)}`);
  for (const x of n.notes.filter((x) => x.category === 'probe' || (x.category === 'token' && x.reason !== 'TokenOverlap'))) out.push(`    ${x.category.padEnd(7)} ${e(`${x.tenant ? `${x.tenant}: ` : ''}${x.message}`)}`);
  if (n.backoff) out.push(`    backoff ${n.backoff.failures} failure(s) (${n.backoff.kind}); next attempt after ${when(n.backoff.until)}`);
  if (n.lastError && n.lastError.message !== n.message) out.push(`    error   ${when(n.lastError.time)} ${e(n.lastError.reason)}: ${e(n.lastError.message)}`);
  out.push(`    next    ${e(n.next)}`);
  return out;
}

export function renderStatusText(v: StatusView): string {
  const now = new Date(v.generatedAt);
  const out: string[] = [];
  const c = v.controller;
  const from = v.from.kind === 'observe' ? `observed now from ${e(v.from.where)}` : `${v.from.kind} ${e(v.from.where)}${c ? ` · ${c.mode} · repo ${e(c.repo)}` : ''}`;
  out.push(`clawops status  ${from}`);
  const lp = v.lastPass;
  if (lp) out.push(`last pass ${e(lp.id)} ${e(lp.outcome)}${lp.durationMs !== undefined ? ` in ${(lp.durationMs / 1000).toFixed(1)} s` : ''}${lp.finishedAt ? `, ${durationAgo(lp.finishedAt, now)} ago` : ''}`);
  const pins = (['canary', 'fleet'] as const).map((k) => {
    const p = v.source[k];
    return p.commit ? `${k} ${e(p.ref ?? p.spec)} @ ${shortCommit(p.commit)}` : p.spec || p.error ? `${k} ${e(p.spec)}${p.error ? `: ${e(p.error)}` : ''}` : '';
  }).filter((x) => x);
  if (pins.length) out.push(`source ${pins.join(' · ')}`);
  if (v.gate) out.push(`gate ${e(revLabel(v.gate))}: ${v.gate.verdict}; ${e(v.gate.summary)}`);
  out.push(summaryLine(v));
  for (const p of v.problems) out.push(`! ${e(p)}`);
  for (const g of v.triage) {
    out.push('', g.title);
    for (const name of g.nodes) out.push(...block(v.nodes.find((n) => n.node === name)!, now));
  }
  if (v.synced.length > 0) out.push('', `Synced: ${v.synced.map(e).join(', ')}`);
  // token overlap on Synced nodes (the blocks above say it for the others): a rotation in progress is worth knowing
  for (const n of v.nodes) if (n.state === 'Synced') for (const t of n.tenants) if (t.token && t.token.overlap !== 'single') out.push(`  ${e(n.node)} token ${e(`${t.tenant}: ${t.token.summary}`)}`);
  out.push(...webhookFailuresBlock(v));
  out.push('', v.ok ? 'All nodes Synced and healthy' : `Not all green: ${v.nodes.length - v.synced.length} node(s) need attention${v.problems.length ? `, ${v.problems.length} controller problem(s)` : ''}`);
  return `${out.join('\n')}\n`;
}

/** `--json`: the model itself; its field names are documented in specs/status.md. */
export function renderStatusJson(v: StatusView): string {
  // (safeJson: C1, DEL and U+2028/2029 that tags, refs and digest tenants may hold are escaped too)
  return `${safeJson(v, 2)}\n`;
}
