/** Swap a tenant's current and `.prev` links on one node (a second rollback goes forward again). */
import type { Settings } from '../desired/types.js';
import { ClawopsError } from '../errors.js';
import type { Transport } from '../transport/transport.js';
import { journalLine, lockRequest, reloadLine, type RunContext } from './apply-node.js';
import { keptNote } from './records.js';
import { gate, healthSettings, reloadUnits, undoTenant } from './services.js';
import type { NodePaths } from '../transport/transport.js';
import { releaseHealth } from './release-health.js';
import { planSwap, runScript, swapLinks, takeNodeLock, unlockAfterFailure, writeIntent, type LinkFact } from './remote.js';
import { FINISH_SCRIPT, LINKS_SCRIPT } from './remote-scripts.js';

export interface RollbackResult {
  node: string;
  tenant: string;
  from: string;
  to: string;
}

export async function rollbackTenant(t: Transport, tenant: string, settings: Settings, ctx: RunContext, opts: { portOffset?: number } = {}): Promise<RollbackResult> {
  const p = t.paths(settings.paths);
  const emit = (step: 'lock' | 'swap' | 'reload' | 'health' | 'record', state: 'start' | 'done' | 'warn' | 'fail', message?: string): void =>
    ctx.onEvent({ node: t.node, step, state, ...(message !== undefined ? { message } : {}) });
  // lock only: rollback must work whatever else is wrong on the node, so BEGIN stops right after the lock
  const begin = await takeNodeLock(t, p, { ...lockRequest(ctx), daemonSha: 'lock-only', want: '', onTakeover: (m) => emit('lock', 'warn', m) });
  emit('lock', 'done');
  try {
    const recordFailed = begin.find((r) => r[0] === 'record-failed');
    if (recordFailed) throw new ClawopsError('RecordFailed', `${t.node}: cannot write the reload log (${recordFailed[1] ?? '?'}): a swap of an earlier run is not recorded yet; nothing was changed`);
    const recs = await runScript(t, LINKS_SCRIPT, [p.etc, tenant]);
    const refused = recs.find((r) => r[0] === 'refused');
    if (refused) throw new ClawopsError('UnexpectedEntry', `${t.node}/${tenant}: refused: ${refused[1] ?? 'not clawops-owned'}; nothing was changed`);
    const fact = (slot: string): LinkFact | undefined => {
      const r = recs.find((x) => x[0] === 'link' && x[1] === slot);
      return r ? { id: r[2] ?? '', complete: r[3] === '1' } : undefined;
    };
    const cur = fact('current');
    const prev = fact('prev');
    if (!cur) throw new ClawopsError('NoPrevRelease', `${t.node}: tenant ${tenant} is not deployed (no ${settingsPath(p.etc, tenant)} link)`);
    if (!prev) throw new ClawopsError('NoPrevRelease', `${t.node}: tenant ${tenant} has no .prev release to roll back to`);
    if (!prev.complete) throw new ClawopsError('NoPrevRelease', `${t.node}: ${settingsPath(p.etc, tenant)}.prev points at release ${prev.id}, which is missing or incomplete; nothing was changed`);
    const sw = planSwap(tenant, prev.id, { current: cur, prev });
    if (!sw) throw new ClawopsError('NoPrevRelease', `${t.node}: ${tenant}'s current and .prev are the same release ${cur.id}; nothing to roll back to`);
    const base = `${p.etc}/tenants`;
    await writeIntent(t, p, ctx.run, `${journalLine(ctx, t.node, 'rollback', tenant, sw.to, sw.from)}\n`);
    // .prev first, like apply; put back if current certainly did not move (swapLinks)
    await swapLinks(t, base, sw, prev.id, ctx.run);
    emit('swap', 'done', `${tenant}: ${cur.id} → ${sw.to}`);
    if (sw.note) emit('swap', 'warn', `${tenant}: ${sw.note}`);
    // the service must run what the link now points at, and be ready, like after an apply
    const journal: string[] = [];
    let failure: ClawopsError | undefined;
    const facts = await releaseHealth(t, p.etc, tenant, sw.to, opts.portOffset ?? 0);
    if (facts) {
      const why = await reloadAndGateOne(t, p, tenant, sw.to, facts.url, settings, ctx, journal, emit);
      if (why) {
        // put back, journalled in the intent as it happens (the rollback marked done, the put-back's record, its mark
        // once relinked): both swaps recorded however this run ends; not put back: no swap back is claimed
        const putBack = journalLine(ctx, t.node, 'rollback', tenant, cur.id, sw.to);
        const undo = await undoTenant(t, p, tenant, cur.id, prev.id, { run: ctx.run, record: putBack, from: sw.to });
        const noted = undo.noted ?? 0;
        if (undo.relinked && noted === 0) journal.push(journalLine(ctx, t.node, 'rollback', tenant, sw.to, sw.from));
        if (undo.relinked && noted !== 2) journal.push(putBack);
        for (const u of undo.reloads) journal.push(reloadLine(ctx, t.node, tenant, cur.id, u));
        failure = new ClawopsError('RolledBack', `${t.node}/${tenant}: ${why}; put back on ${cur.id}${undo.ok ? '' : ` (but: ${undo.error ?? '?'})`}`, 1);
      }
    }
    const fin = await runScript(t, FINISH_SCRIPT, [p.etc, p.varDb, ctx.run, String(settings.releases.keep)], `${journal.map((j) => `J\t${j}`).join('\n')}\n`);
    const notRecorded = fin.find((r) => r[0] === 'record-failed');
    if (notRecorded) throw new ClawopsError('RecordFailed', `${t.node}/${tenant}: rolled back to ${sw.to}${failure ? ` and put back on ${cur.id}` : ' (now running)'} but could not write the reload log: ${notRecorded[1] ?? '?'}; ${keptNote(fin)}`);
    if (failure) throw failure;
    emit('record', 'done');
    return { node: t.node, tenant, from: cur.id, to: sw.to };
  } catch (e) {
    await unlockAfterFailure(t, p, ctx.run);
    throw e;
  }
}

function settingsPath(etc: string, tenant: string): string {
  return `${etc}/tenants/${tenant}`;
}

async function reloadAndGateOne(
  t: Transport,
  p: NodePaths,
  tenant: string,
  id: string,
  url: string,
  settings: Settings,
  ctx: RunContext,
  journal: string[],
  emit: (step: 'reload' | 'health', state: 'start' | 'done' | 'warn' | 'fail', message?: string) => void,
): Promise<string | undefined> {
  emit('reload', 'start', `${tenant}: launchd units of ${id}`);
  const rl = await reloadUnits(t, p, tenant, id);
  for (const u of rl.reloads) journal.push(reloadLine(ctx, t.node, tenant, id, u));
  if (!rl.ok) return `the service did not run release ${id}: ${rl.error ?? '?'}`;
  emit('reload', 'done', rl.reloads.map((u) => `${u.label} ${u.method} pid ${u.oldPid || '-'} → ${u.newPid}`).join(', '));
  const health = healthSettings(settings);
  const g = await gate(t, url, `ai.openclaw.${tenant}`, health);
  if (!g.ready) return `release ${id} not ready within ${health.deadline_sec} s: ${g.reason ?? '?'}`;
  emit('health', 'done', `${tenant}: ready after ${g.seconds ?? 0} s`);
  return undefined;
}
