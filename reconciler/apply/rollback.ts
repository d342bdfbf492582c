/** Swap a tenant's current and `.prev` links on one node (a second rollback goes forward again). */
import type { Settings } from '../desired/types.js';
import { ClawopsError } from '../errors.js';
import type { Transport } from '../transport/transport.js';
import { journalLine, lockRequest, type RunContext } from './apply-node.js';
import { pointLink, releaseIdOf, runScript, takeNodeLock, unlockAfterFailure } from './remote.js';
import { FINISH_SCRIPT, LINKS_SCRIPT } from './remote-scripts.js';

export interface RollbackResult {
  node: string;
  tenant: string;
  from: string;
  to: string;
}

export async function rollbackTenant(t: Transport, tenant: string, settings: Settings, ctx: RunContext): Promise<RollbackResult> {
  const p = t.paths(settings.paths);
  const emit = (step: 'lock' | 'swap' | 'record', state: 'start' | 'done' | 'warn' | 'fail', message?: string): void =>
    ctx.onEvent({ node: t.node, step, state, ...(message !== undefined ? { message } : {}) });
  // lock only: rollback must work whatever else is wrong on the node, so BEGIN stops right after the lock
  await takeNodeLock(t, p, { ...lockRequest(ctx), daemonSha: 'lock-only', want: '', onTakeover: (m) => emit('lock', 'warn', m) });
  emit('lock', 'done');
  try {
    const links = new Map((await runScript(t, LINKS_SCRIPT, [p.etc, tenant])).map((r) => [r[0]!, r[1] ?? '']));
    const cur = links.get('current') ?? '';
    const prev = links.get('prev') ?? '';
    if (cur === '') throw new ClawopsError('NoPrevRelease', `${t.node}: tenant ${tenant} is not deployed (no ${settingsPath(p.etc, tenant)} link)`);
    if (prev === '') throw new ClawopsError('NoPrevRelease', `${t.node}: tenant ${tenant} has no .prev release to roll back to`);
    if (links.get('prevok') !== '1') throw new ClawopsError('NoPrevRelease', `${t.node}: ${settingsPath(p.etc, tenant)}.prev points at ${prev}, which does not exist; nothing was changed`);
    const base = `${p.etc}/tenants`;
    // .prev first, like apply: if the second rename fails the node still runs what it ran (both links on it)
    await pointLink(t, base, `${tenant}.prev`, cur, ctx.run);
    await pointLink(t, base, tenant, prev, ctx.run);
    emit('swap', 'done', `${tenant}: ${releaseIdOf(cur)} → ${releaseIdOf(prev)}`);
    const rec = journalLine(ctx, t.node, 'rollback', tenant, releaseIdOf(prev), releaseIdOf(cur));
    await runScript(t, FINISH_SCRIPT, [p.etc, p.varDb, ctx.run, String(settings.releases.keep)], `J\t${rec}\n`);
    emit('record', 'done');
    return { node: t.node, tenant, from: releaseIdOf(cur), to: releaseIdOf(prev) };
  } catch (e) {
    await unlockAfterFailure(t, p, ctx.run);
    throw e;
  }
}

function settingsPath(etc: string, tenant: string): string {
  return `${etc}/tenants/${tenant}`;
}
