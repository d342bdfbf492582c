/**
 * Plan → what on-call reads (text) and what machines read (JSON). Pure.
 * Text is grouped in triage order (unreachable, directory drift, version skew, probe, token overlap), then the
 * unified diffs, each shown once with the nodes it applies to, then one line per node and the verdict.
 */
import type { Lock } from '../desired/types.js';
import { CATEGORIES, CATEGORY_TITLES, type Issue, type NodePlan, type Plan } from '../plan/types.js';
import { escapeControl, escapeInline } from '../safe-text.js';

export interface ReportSource {
  origin: string;
  ref?: string;
  commit?: string;
  tag?: string;
  dirty: boolean;
}

export interface ReportMeta {
  source: ReportSource;
  lock: Lock;
}

const MARK: Record<Issue['severity'], string> = { error: 'x', warning: '~', info: 'i' };

function where(i: Issue): string {
  return escapeInline(i.tenant ? `${i.node}/${i.tenant}` : i.node);
}

/** An issue's message without the node name it may start with, on one line. */
function issueText(i: Issue): string {
  return escapeInline(i.message.startsWith(`${i.node}: `) ? i.message.slice(i.node.length + 2) : i.message);
}

export function sourceLine(s: ReportSource): string {
  const rev = s.commit ? ` @ ${s.commit.slice(0, 12)}${s.tag ? ` (${s.tag})` : ''}` : '';
  return `${s.origin}${s.ref ? ` ref ${s.ref}` : ''}${rev}${s.dirty ? ' (uncommitted changes)' : ''}`;
}

/** Identical patches on several nodes are shown once, with the nodes listed. */
export function groupDiffs(nodes: readonly NodePlan[]): { nodes: string[]; patch: string; tenant: string; path: string; change: string }[] {
  const groups = new Map<string, { nodes: string[]; patch: string; tenant: string; path: string; change: string }>();
  for (const n of nodes) {
    for (const d of n.diffs) {
      const key = `${d.tenant}\0${d.path}\0${d.change}\0${d.patch}`;
      const g = groups.get(key);
      if (g) g.nodes.push(n.node);
      else groups.set(key, { nodes: [n.node], patch: d.patch, tenant: d.tenant, path: d.path, change: d.change });
    }
  }
  return [...groups.values()];
}

/**
 * Names, messages and paths come from nodes, the repo and errors: each is escaped to one line (escapeInline), and
 * patches, already escaped by unifiedDiff, are escaped again (escapeControl is idempotent) so no control character
 * reaches the terminal whoever built the plan.
 */
export function renderText(p: Plan, meta: ReportMeta): string {
  const out: string[] = [];
  const e = escapeInline;
  out.push(`clawops diff  ${e(sourceLine(meta.source))}`);
  out.push(`openclaw.lock ${e(meta.lock.openclaw.version)} (${e(meta.lock.openclaw.commit)}); ${p.nodes.length} node(s)`);
  for (const cat of CATEGORIES) {
    const issues = p.nodes.flatMap((n) => n.issues.filter((i) => i.category === cat));
    if (issues.length === 0) continue;
    out.push('', CATEGORY_TITLES[cat]);
    for (const i of issues) out.push(`  ${MARK[i.severity]} ${where(i)}: ${issueText(i)}`);
  }
  const groups = groupDiffs(p.nodes);
  if (groups.length > 0) {
    out.push('', 'Changes');
    for (const g of groups) {
      out.push(`# ${e(`${g.tenant}/${g.path}`)} (${e(g.change)}) on ${e(g.nodes.join(', '))}`);
      out.push(g.patch === '' ? '  (old content not available)' : escapeControl(g.patch.replace(/\n$/, '')));
    }
  }
  out.push('', 'Nodes');
  for (const n of p.nodes) {
    const acts = n.actions.map((a) => (a.kind === 'deploy' ? `deploy ${a.tenant}@${a.releaseId}` : a.kind === 'prune' ? `prune ${a.tenant}` : a.kind === 'reload' ? `reload ${a.tenant}@${a.releaseId}` : a.kind === 'node-unit' ? `install ${a.label}` : 'record and clean up after a dead run'));
    const tail = n.blocked ? ' (blocked: apply will not touch it)' : acts.length > 0 ? `: would ${acts.join(', ')}` : '';
    out.push(`  ${e(n.node).padEnd(16)} ${e(n.status)}${n.canary ? ' [canary]' : ''}${e(tail)}`);
  }
  const differing = p.nodes.filter((n) => n.issues.some((i) => i.difference)).length;
  out.push('', p.inSync ? `In sync: ${p.nodes.length} node(s)` : `Differences on ${differing} of ${p.nodes.length} node(s)`);
  return `${out.join('\n')}\n`;
}

export interface PlanJson {
  source: ReportSource;
  lock: { openclaw: Lock['openclaw']; daemon: Lock['daemon'] };
  inSync: boolean;
  worst: string;
  nodes: unknown[];
}

/** The plan as JSON: actions name files, never carry their content; diffs are already redacted. */
export function planJson(p: Plan, meta: ReportMeta): PlanJson {
  return {
    source: meta.source,
    lock: { openclaw: meta.lock.openclaw, daemon: meta.lock.daemon },
    inSync: p.inSync,
    worst: p.worst,
    nodes: p.nodes.map((n) => ({
      node: n.node,
      role: n.role,
      canary: n.canary,
      status: n.status,
      blocked: n.blocked,
      tenants: n.tenants,
      actions: n.actions.map((a) => (a.kind === 'deploy' ? { kind: a.kind, tenant: a.tenant, releaseId: a.releaseId, reason: a.reason, files: a.files.map((f) => f.path) } : a)),
      issues: n.issues,
      diffs: n.diffs,
    })),
  };
}
