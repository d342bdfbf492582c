/** Hot reload or restart: pure decisions from the old and new rendered configs. */
import { describe, expect, it } from 'vitest';
import { changedPaths, decideReload, isHotPath, expectedValues } from '../../reconciler/apply/reload-plan.js';

const base = {
  gateway: { port: 18809, bind: 'loopback', auth: { mode: 'token', token: { source: 'file', provider: 'clawops_token_current', id: 'value' }, rateLimit: { maxAttempts: 10 } } },
  hooks: { enabled: true, path: '/hooks', token: '${CLAWOPS_SECRET_HOOKS_TOKEN}' },
  logging: { level: 'info' },
};
const edit = (f: (c: typeof base) => void): typeof base => {
  const c = structuredClone(base);
  f(c);
  return c;
};

describe('decideReload', () => {
  it.each([
    ['logging level', edit((c) => (c.logging.level = 'warn')), 'hot', ['logging.level']],
    ['hooks path', edit((c) => (c.hooks.path = '/hooks2')), 'hot', ['hooks.path']],
    ['auth rate limit', edit((c) => (c.gateway.auth.rateLimit.maxAttempts = 5)), 'hot', ['gateway.auth.rateLimit.maxAttempts']],
    ['port', edit((c) => (c.gateway.port = 18929)), 'restart', ['gateway.port']],
    ['bind', edit((c) => (c.gateway.bind = 'lan')), 'restart', ['gateway.bind']],
    ['auth mode', edit((c) => (c.gateway.auth.mode = 'password')), 'restart', ['gateway.auth.mode']],
    ['a hot and a cold key together', edit((c) => ((c.logging.level = 'warn'), (c.gateway.port = 1))), 'restart', ['gateway.port', 'logging.level']],
    ['an unknown key (no rule: OpenClaw restarts)', { ...base, somethingNew: { x: 1 } }, 'restart', ['somethingNew']],
  ])('%s → %s', (_name, next, method, changed) => {
    const d = decideReload(base, next, true);
    expect(d.method).toBe(method);
    expect(d.changed).toEqual(changed);
  });

  it('restarts when the unit, secrets.list or the wrapper changed, or the running config is unknown, or nothing in it changed', () => {
    const warn = edit((c) => (c.logging.level = 'warn'));
    expect(decideReload(base, warn, false)).toMatchObject({ method: 'restart', why: expect.stringContaining('unit') });
    expect(decideReload(undefined, warn, true)).toMatchObject({ method: 'restart' });
    expect(decideReload(base, structuredClone(base), true)).toMatchObject({ method: 'restart', changed: [] });
  });

  it('a SecretRef object is compared whole, never walked', () => {
    const moved = edit((c) => (c.gateway.auth.token.provider = 'clawops_token_next'));
    expect(changedPaths(base, moved)).toEqual(['gateway.auth.token']);
    expect(isHotPath('gateway.auth.token')).toBe(true);
    expect(isHotPath('gateway.authx')).toBe(false);
  });
});

describe('what the gateway must show once it applied a change', () => {
  it('the desired values of the changed paths, removed keys as null, secret values never', () => {
    const warn = edit((c) => (c.logging.level = 'warn'));
    expect(expectedValues(warn, ['logging.level', 'hooks.token', 'gateway.auth.token', 'hooks.gone'])).toEqual([
      ['logging.level', 'warn'],
      ['hooks.gone', null],
    ]);
    expect(expectedValues(warn, ['hooks'])).toEqual([['hooks', warn.hooks]]);
  });
});
