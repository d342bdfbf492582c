/** Which node locks the controller may release before its ttl: only its own, left by a life of it that is gone. */
import { describe, expect, it } from 'vitest';
import { deadOwnLock } from '../../reconciler/controller/node-lock.js';

const ACTOR = 'controller:ops@ctl-1';
const lock = (o: Record<string, unknown>): string => `${JSON.stringify({ run: 'r20261128t120000-aaaaaa', owner: 'controller_ops@ctl-1', pid: 4242, ttl_sec: 900, acquired_epoch: 1, host: 'gw-1', ...o })}\n`;
const self = { pid: 100, run: 'r20261128t130000-bbbbbb' };
const dead = (): boolean => false;
const live = (): boolean => true;

describe('deadOwnLock', () => {
  it.each<[string, string | undefined, string, boolean, string, boolean]>([
    ['our owner, pid gone: released', lock({}), ACTOR, false, 'ctl-1', true],
    ['our owner, pid alive (another controller of ours, another state dir): kept', lock({}), ACTOR, true, 'ctl-1', false],
    ['our pid from an earlier pass (a previous life with the same pid): released', lock({ pid: 100 }), ACTOR, true, 'ctl-1', true],
    ['our pid and this very pass: kept', lock({ pid: 100, run: self.run }), ACTOR, true, 'ctl-1', false],
    ['someone else (a person applying by hand): kept', lock({ owner: 'alice@laptop' }), ACTOR, false, 'ctl-1', false],
    ['an owner that does not name this host (CLAWOPS_ACTOR=ci): the pid means nothing here, kept', lock({ owner: 'controller_ci' }), 'controller:ci', false, 'ctl-1', false],
    ['the same owner string from another host: kept', lock({}), ACTOR, false, 'ctl-2', false],
    ['no lock', undefined, ACTOR, false, 'ctl-1', false],
    ['an unreadable lock: kept (on-call removes it by hand)', 'garbage', ACTOR, false, 'ctl-1', false],
    ['no pid: kept', lock({ pid: 'x' }), ACTOR, false, 'ctl-1', false],
  ])('%s', (_n, raw, actor, alive, host, want) => {
    const r = deadOwnLock(raw, actor, self, alive ? live : dead, host);
    expect(r !== undefined).toBe(want);
    if (want) expect(r).toMatchObject({ owner: 'controller_ops@ctl-1', run: JSON.parse(raw!).run });
  });
});
