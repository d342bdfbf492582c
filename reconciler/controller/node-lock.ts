/**
 * A node lock left by a previous life of this controller. apply/ takes over a node lock only once its ttl has passed
 * on the node's clock (the controller's is 15 min), because it cannot know whether the holder on another machine is
 * still alive. The controller can, for its own locks: a lock whose owner is this controller's (`controller:user@host`,
 * naming this host) and whose pid is not alive here, or is this very process outside the pass in flight, was left
 * by a controller that died (kill -9, a crash, a reboot) — as the state dir lock treats its holder (state-lock.ts).
 * Such a lock is taken over and released at once with apply's own TAKEOVER and UNLOCK scripts (TAKEOVER replaces only
 * those exact bytes), so the pass's apply takes the lock as usual and records what the dead run left behind.
 */
import { hostname } from 'node:os';
import { lockOwner } from '../apply/apply-node.js';
import { runScript } from '../apply/remote.js';
import { TAKEOVER_SCRIPT, UNLOCK_SCRIPT } from '../apply/remote-scripts.js';
import type { Settings } from '../desired/types.js';
import { shQuote, type Transport } from '../transport/transport.js';

export interface DeadLock {
  run: string;
  pid: number;
  owner: string;
}

/** whether process `pid` exists on this machine (signal 0; EPERM: it exists, owned by someone else) */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The node lock `raw` (as observed) when it was left by a dead life of this controller, else undefined. `self`:
 * this process's pid and the reconcile id in flight (a lock of this pid from another pass is a leftover too).
 */
export function deadOwnLock(raw: string | undefined, actor: string, self: { pid: number; run: string }, isAlive: (pid: number) => boolean = alive, host = hostname()): DeadLock | undefined {
  if (raw === undefined) return undefined;
  const owner = lockOwner(actor);
  // only an owner that names this host says whose pid namespace the pid is in
  if (!owner.endsWith(`@${lockOwner(host)}`)) return undefined;
  let j: { run?: unknown; owner?: unknown; pid?: unknown };
  try {
    j = JSON.parse(raw) as typeof j;
  } catch {
    return undefined;
  }
  if (j.owner !== owner || typeof j.run !== 'string' || typeof j.pid !== 'number' || !Number.isInteger(j.pid) || j.pid <= 0) return undefined;
  if (j.pid === self.pid ? j.run === self.run : isAlive(j.pid)) return undefined;
  return { run: j.run, pid: j.pid, owner };
}

/** Take the dead lock over (only if it still holds exactly `raw`) and release it. True when the node is unlocked. */
export async function releaseDeadLock(t: Transport, settings: Settings, raw: string, req: { run: string; owner: string; pid: number }): Promise<boolean> {
  const p = t.paths(settings.paths);
  const run = `${req.run}-reclaim`;
  const took = (await runScript(t, TAKEOVER_SCRIPT, [p.varDb, run, req.owner, String(req.pid), '60'], raw)).find((r) => r[0] === 'lock');
  if (took?.[1] !== 'taken') return false;
  const r = await t.exec(`sh -c ${shQuote(UNLOCK_SCRIPT)} clawops ${shQuote(p.etc)} ${shQuote(p.varDb)} ${shQuote(run)}`, { timeoutMs: 15_000 });
  return r.stdout.split('\n').includes('unlocked');
}
