/**
 * The cheap hot-reload check (gateway-rpc.ts), its pure parts: where the gateway's shared secret is on the node, what
 * is expected, and the verdict on a config.get answer (the JavaScript that runs on the node, run here). The whole
 * path against the fleet's fake gateway is in services-fleet.test.ts, against the real gateway in
 * services-real-gateway.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { gatewayAuthOf, hotCheckOf, VERDICT_JS } from '../../reconciler/apply/gateway-rpc.js';

const verdict = new Function(`${VERDICT_JS}; return verdict;`)() as (p: unknown, want: unknown) => string;
const cfg = (auth: unknown, providers: unknown = { clawops_token_current: { source: 'file', mode: 'singleValue', path: '${CLAWOPS_VAR_DB}/secrets/acme/token.current' } }) => ({ gateway: { port: 18809, auth }, secrets: { providers }, logging: { level: 'warn' } });

describe('gatewayAuthOf: the file the node-side client reads the secret from', () => {
  it('a file SecretRef through its single-value provider, ${CLAWOPS_VAR_DB} being this node\'s var_db', () => {
    expect(gatewayAuthOf(cfg({ mode: 'token', token: { source: 'file', provider: 'clawops_token_current', id: 'value' } }), '', '/var/db/openclaw', 'acme')).toEqual({ kind: 'token', file: '/var/db/openclaw/secrets/acme/token.current' });
  });
  it('a ${CLAWOPS_SECRET_*} string through secrets.list; a password the same way', () => {
    const list = 'file - token.current\nenv CLAWOPS_SECRET_GW_PASS gw.pass\n';
    expect(gatewayAuthOf(cfg({ mode: 'password', password: '${CLAWOPS_SECRET_GW_PASS}' }), list, '/v', 'acme')).toEqual({ kind: 'password', file: '/v/secrets/acme/gw.pass' });
    expect(gatewayAuthOf(cfg({ mode: 'token', token: '${CLAWOPS_SECRET_OTHER}' }), list, '/v', 'acme')).toEqual({ why: 'CLAWOPS_SECRET_OTHER is not in secrets.list' });
  });
  it('no auth or mode none: nothing to send; anything clawops cannot resolve says why (and the caller restarts)', () => {
    expect(gatewayAuthOf({ gateway: { port: 1 } }, '', '/v', 'a')).toEqual({ kind: 'none' });
    expect(gatewayAuthOf(cfg({ mode: 'none' }), '', '/v', 'a')).toEqual({ kind: 'none' });
    expect(gatewayAuthOf(cfg({ mode: 'token', token: 'literal-in-git' }), '', '/v', 'a')).toHaveProperty('why');
    expect(gatewayAuthOf(cfg({ mode: 'trusted-proxy' }), '', '/v', 'a')).toHaveProperty('why');
    expect(gatewayAuthOf(cfg({ mode: 'token', token: { source: 'file', provider: 'p', id: 'value' } }, { p: { source: 'file', path: '${HOME}/t' } }), '', '/v', 'a')).toHaveProperty('why');
    expect(gatewayAuthOf(cfg({ mode: 'token', token: { source: 'exec', provider: 'clawops_token_current', id: 'x' } }), '', '/v', 'a')).toHaveProperty('why');
  });
});

describe('hotCheckOf', () => {
  it('expects the non-secret changed values; a change of secret values only is not verifiable, so not hot', () => {
    const d = { openclaw: cfg({ mode: 'token', token: { source: 'file', provider: 'clawops_token_current', id: 'value' } }), files: [] };
    expect(hotCheckOf(d, ['logging.level'], '/v', 'acme')).toEqual({ auth: { kind: 'token', file: '/v/secrets/acme/token.current' }, expect: [['logging.level', 'warn']] });
    expect(hotCheckOf(d, ['gateway.auth.token'], '/v', 'acme')).toHaveProperty('why');
  });
});

describe('the verdict on a config.get answer (runs on the node)', () => {
  const want = [['logging.level', 'warn'], ['agents.defaults', { timeoutSeconds: 60, model: 'x' }]];
  const snap = (level: string, applied: string, revision: string) => ({ runtimeConfig: { logging: { level }, agents: { defaults: { model: 'x', timeoutSeconds: 60 } } }, appliedConfigHash: applied, configRevisionHash: revision });
  it('applied: the new values (key order aside) AND the applied revision is the file\'s', () => {
    expect(verdict(snap('warn', 'h2', 'h2'), want)).toBe('');
  });
  it('the watcher has not noticed yet: the cached OLD snapshot with equal hashes is not applied', () => {
    expect(verdict(snap('info', 'h1', 'h1'), want)).toBe('not yet seen: logging.level');
  });
  it('noticed but not active yet (or needing a restart): new values, another applied revision', () => {
    expect(verdict(snap('warn', 'h1', 'h2'), want)).toMatch(/not yet active/);
    expect(verdict({ ...snap('warn', '', ''), appliedConfigHash: null, configRevisionHash: null }, want)).toMatch(/not yet active/);
  });
  it('the source view (the file, what configRevisionHash is the revision of) wins over the runtime view with defaults', () => {
    const p = { sourceConfig: { agents: { defaults: {} } }, runtimeConfig: { agents: { defaults: { maxConcurrent: 8 } } }, appliedConfigHash: 'h', configRevisionHash: 'h' };
    expect(verdict(p, [['agents.defaults.maxConcurrent', null]])).toBe('');
    expect(verdict(p, [['agents.defaults.maxConcurrent', 8]])).toMatch(/not yet seen/);
  });
  it('keys with dots are walked by the segments sent along; a secret reference inside a value matches its redaction', () => {
    const p = { sourceConfig: { m: { 'claude-4.5': { alias: 'b' } }, hooks: { path: '/h', token: '__OPENCLAW_REDACTED__' } }, appliedConfigHash: 'h', configRevisionHash: 'h' };
    expect(verdict(p, [['m.claude-4\\.5.alias', 'b', ['m', 'claude-4.5', 'alias']]])).toBe('');
    expect(verdict(p, [['m.claude-4\\.5.alias', 'a', ['m', 'claude-4.5', 'alias']]])).toMatch(/not yet seen/);
    expect(verdict(p, [['hooks', { path: '/h', token: '${CLAWOPS_SECRET_HOOKS_TOKEN}' }]])).toBe('');
    expect(verdict(p, [['hooks', { path: '/x', token: '${CLAWOPS_SECRET_HOOKS_TOKEN}' }]])).toMatch(/not yet seen/);
  });
  it('nothing to compare or no snapshot is never "applied"; a removed key is expected absent', () => {
    expect(verdict(snap('warn', 'h', 'h'), [])).not.toBe('');
    expect(verdict(null, want)).not.toBe('');
    expect(verdict({ runtimeConfig: { logging: {} }, appliedConfigHash: 'h', configRevisionHash: 'h' }, [['logging.level', null]])).toBe('');
  });
});
