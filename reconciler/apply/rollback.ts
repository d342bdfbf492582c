/** Swap a tenant's current and `.prev` links on one node (a second rollback goes forward again). */
import type { Settings } from '../desired/types.js';
import { ClawopsError } from '../errors.js';
import { shQuote, type Transport } from '../transport/transport.js';
import { journalLine, lockOwner, type RunContext } from './apply-node.js';
import { describeHolder, isStale, parseHolder, parseRecords } from './records.js';
import { BEGIN_SCRIPT, FINISH_SCRIPT, LINKS_SCRIPT, TAKEOVER_SCRIPT, UNLOCK_SCRIPT } from './remote-scripts.js';

export interface RollbackResult {
  node: string;
  tenant: string;
  from: string;
  to: string;
}

async function sh(t: Transport, script: string, args: string[], stdin = ''): Promise<string[][]> {
  const r = await t.exec(`sh -c ${shQuote(script)} clawops ${args.map(shQuote).join(' ')}`, { stdin });
  if (r.code !== 0) throw new ClawopsError('RemoteFailed', `${t.node}: remote step exited ${String(r.code ?? r.signal)}: ${r.stderr.trim().split('\n')[0] ?? ''}`);
  return parseRecords(r.stdout);
}

const id = (target: string): string => target.split('/').filter(Boolean).pop() ?? target;

export async function rollbackTenant(t: Transport, tenant: string, settings: Settings, ctx: RunContext): Promise<RollbackResult> {
  const p = t.paths(settings.paths);
  const lockArgs = [ctx.run, lockOwner(ctx.actor), String(ctx.pid), String(ctx.lockTtlSec)];
  const emit = (step: 'lock' | 'swap' | 'record', state: 'start' | 'done' | 'warn' | 'fail', message?: string): void =>
    ctx.onEvent({ node: t.node, step, state, ...(message !== undefined ? { message } : {}) });
  let recs = await sh(t, BEGIN_SCRIPT, [p.etc, p.varDb, ...lockArgs, 'lock-only']);
  const now = Number(recs.find((r) => r[0] === 'now')?.[1] ?? 0);
  const lock = recs.find((r) => r[0] === 'lock');
  if (lock?.[1] === 'held') {
    const holder = parseHolder(lock[2] ?? '');
    if (!isStale(holder, now)) throw new ClawopsError('NodeLocked', `${t.node}: locked by ${describeHolder(holder, now)}`);
    const took = await sh(t, TAKEOVER_SCRIPT, [p.varDb, ...lockArgs], holder.raw);
    if (took.find((r) => r[0] === 'lock')?.[1] !== 'taken') throw new ClawopsError('NodeLocked', `${t.node}: lost the race for a stale lock`);
    emit('lock', 'warn', `took over a stale lock held by ${describeHolder(holder, now)}`);
    recs = await sh(t, BEGIN_SCRIPT, [p.etc, p.varDb, ...lockArgs, 'lock-only']);
  }
  emit('lock', 'done');
  try {
    const links = new Map((await sh(t, LINKS_SCRIPT, [p.etc, tenant])).map((r) => [r[0]!, r[1] ?? '']));
    const cur = links.get('current') ?? '';
    const prev = links.get('prev') ?? '';
    if (cur === '') throw new ClawopsError('NoPrevRelease', `${t.node}: tenant ${tenant} is not deployed (no ${settingsPath(p.etc, tenant)} link)`);
    if (prev === '') throw new ClawopsError('NoPrevRelease', `${t.node}: tenant ${tenant} has no .prev release to roll back to`);
    if (links.get('prevok') !== '1') throw new ClawopsError('NoPrevRelease', `${t.node}: ${settingsPath(p.etc, tenant)}.prev points at ${prev}, which does not exist; nothing was changed`);
    const base = `${p.etc}/tenants`;
    // .prev first, like apply: if the second rename fails the node still runs what it ran (both links on it)
    await t.files.symlink(cur, `${base}/.clawops-${ctx.run}-${tenant}.prev`);
    await t.files.rename(`${base}/.clawops-${ctx.run}-${tenant}.prev`, `${base}/${tenant}.prev`);
    await t.files.symlink(prev, `${base}/.clawops-${ctx.run}-${tenant}`);
    await t.files.rename(`${base}/.clawops-${ctx.run}-${tenant}`, `${base}/${tenant}`);
    emit('swap', 'done', `${tenant}: ${id(cur)} → ${id(prev)}`);
    const rec = journalLine(ctx, t.node, 'rollback', tenant, id(prev), id(cur));
    await sh(t, FINISH_SCRIPT, [p.etc, p.varDb, ctx.run, String(settings.releases.keep)], `J\t${rec}\n`);
    emit('record', 'done');
    return { node: t.node, tenant, from: id(cur), to: id(prev) };
  } catch (e) {
    await t.exec(`sh -c ${shQuote(UNLOCK_SCRIPT)} clawops ${shQuote(p.etc)} ${shQuote(p.varDb)} ${shQuote(ctx.run)}`, { stdin: '', timeoutMs: 10_000 }).catch(() => undefined);
    throw e;
  }
}

function settingsPath(etc: string, tenant: string): string {
  return `${etc}/tenants/${tenant}`;
}
