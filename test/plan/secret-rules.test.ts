/**
 * One secret-key rule and one list of secret shapes (desired/secret-scan.ts) serve lint and the diff redaction alike:
 * what lint refuses in git, a diff never shows from a node.
 */
import { describe, expect, it } from 'vitest';
import { holdsSecret, looksLikeToken, SECRET_PATTERNS, scanForSecrets, secretKeyRule } from '../../reconciler/desired/secret-scan.js';
import { redactText } from '../../reconciler/plan/redact.js';

const HEX64 = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';

/** one example per entry of SECRET_PATTERNS, in order */
const SHAPES: [string, string][] = [
  ['a Bearer credential', 'Bearer abcdefghijk'],
  ['a Bearer credential', 'curl -H "Authorization: Bearer abc123def456ghi"'],
  ['an API key (sk-…)', 'sk-proj-4f9a8b7c6d5e4f3a2b1c'],
  ['a Stripe key', 'rk_live_4f9a8b7c6d5e4f3a2b1c'],
  ['a Slack token (xox?-…)', 'xoxb-1234567890-abcdefghij'],
  ['a private key', '-----BEGIN EC PRIVATE KEY-----'],
  ['a GitHub token', 'ghs_abcdefghijklmnopqrstuvwxyz0123456789'],
  ['an AWS access key id', 'AKIAIOSFODNN7EXAMPLE'],
  ['a Google API key', 'AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q'],
  ['a JSON web token', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMifQ.sig'],
  ['a URL with a password in it', 'https://deploy:pa55w0rd-x@git.example.com/x.git'],
  ['a URL with a token in it', 'https://0123456789abcdef0123456789abcdef01234567@github.com/acme/infra.git'],
  ['a URL with a secret query parameter', 'https://hooks.example.internal/in?sig=0123456789abcdef'],
  ['a Slack incoming-webhook URL', 'https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/cccccccccccccccc'],
  ['a Discord webhook URL', 'https://discord.com/api/webhooks/123456789012345678/abcdefghijklmnopqrstuv'],
];

describe('SECRET_PATTERNS: one list for lint and redaction', () => {
  it('every pattern has an example here', () => {
    expect(SHAPES.map(([why]) => why)).toEqual(SECRET_PATTERNS.map((p) => p.why));
  });

  it.each(SHAPES.map(([why, s], i) => [i, why, s] as const))('#%i %s: lint reports it, a diff hides it', (i, why, s) => {
    expect(SECRET_PATTERNS[i]!.test(s)).toBe(true);
    expect(scanForSecrets({ agents: { note: s } })).toEqual([{ path: ['agents', 'note'], why: expect.stringContaining('value looks like') }]);
    expect(scanForSecrets({ agents: { note: s } })[0]!.why).toContain(why);
    const out = redactText(`note: ${s}`).text;
    expect(out).toBe('note: (secret)');
  });
});

describe('secretKeyRule / holdsSecret: one key rule for lint and redaction', () => {
  it.each([
    ['token', 'any'],
    ['hooks_token', 'any'],
    ['webhookToken', 'any'],
    ['X-Api-Key', 'any'],
    ['apikey', 'any'],
    ['apiSecret', 'any'],
    ['client_secret', 'any'],
    ['sessionCookie', 'any'],
    ['Set-Cookie', 'any'],
    ['pass', 'any'],
    ['db_passwd', 'any'],
    ['passphrase', 'any'],
    ['Authorization', 'any'],
    ['bearer', 'any'],
    ['credential', 'any'],
    ['private_key', 'any'],
    ['signingKey', 'any'],
    ['accessKey', 'any'],
    ['AWS_SECRET_ACCESS_KEY', 'any'],
    ['auth', 'token'],
    ['basicAuth', 'token'],
    ['session', 'token'],
    ['key', 'token'],
    ['mainKey', 'token'],
    ['clientKey', 'token'],
    ['sig', 'token'],
    ['signature', 'token'],
    ['credentials', 'token'],
    ['publicKey', undefined],
    ['maxTokens', undefined],
    ['tokens_per_minute', undefined],
    ['secret_ref', undefined],
    ['secretRef', undefined],
    ['sha256', undefined],
    ['release_id', undefined],
    ['oauth', undefined],
    ['bypass', undefined],
    ['max_keys', undefined],
    ['note', undefined],
  ])('%s → %s', (key, rule) => {
    expect(secretKeyRule(key)).toBe(rule);
  });

  it.each([
    ['auth', HEX64, true],
    ['auth', 'oauth', false],
    ['session', '0123456789abcdef0123456789abcdef', true],
    ['key', 'default_tools_approval_mode', false],
    ['mainKey', 'main', false],
    ['clientKey', '/etc/ssl/client.key', false],
    ['token', 'x', true],
    ['token', '${CLAWOPS_SECRET_X}', false],
    ['password', '<redacted>', false],
    ['note', HEX64, false],
    ['sha256', HEX64, false],
  ])('holdsSecret(%s, %s) = %s, and lint and redaction agree', (key, value, want) => {
    expect(holdsSecret(key, value)).toBe(want);
    expect(scanForSecrets({ [key]: value }).length > 0).toBe(want);
    expect(redactText(`${key}: ${value}`).text !== `${key}: ${value}`).toBe(want);
  });
});

describe('lint: stricter only where clearly right', () => {
  it('hex digests, release ids, placeholders and SecretRefs are not secrets', () => {
    const doc = {
      daemon: { sha256: HEX64 },
      release_id: '8a5173f4dfe4c912',
      commit: HEX64.slice(0, 40),
      note: HEX64,
      hooks: { token: '${CLAWOPS_SECRET_HOOKS_TOKEN}', defaultSessionKey: 'hook:ingress', allowRequestSessionKey: false },
      gateway: { auth: { mode: 'token', token: { secret_ref: 'token.current' } } },
      url: 'https://ingest.acme.example/v2/openclaw?tenant=acme',
      upstream: 'https://deploy:${GIT_PASSWORD}@git.example.com/x.git',
      callback: 'https://x.example/cb?token=${CLAWOPS_SECRET_CB}',
      description: 'the gateway accepts Bearer authentication',
    };
    expect(scanForSecrets(doc)).toEqual([]);
  });

  it('hex tokens under secret-looking keys and query parameters are', () => {
    const hits = scanForSecrets({ a: { auth: HEX64 }, b: { sessionCookie: 'sid=1' }, c: { url: `https://x.example/in?token=${HEX64}` } });
    expect(hits.map((h) => h.path.join('.'))).toEqual(['a.auth', 'b.sessionCookie', 'c.url']);
    for (const h of hits) expect(h.why).not.toContain(HEX64);
  });
});

describe('looksLikeToken (redaction only)', () => {
  it.each(['Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sA', '/Kx9aB3dE5fG7hJ9kL1mN3pQ5rS7tU8wYz2', 'k3j9x0a8m2q7w1e4r5t6y7u8i9o0p1a2', 'K3J9X0A8M2Q7W1E4R5T6Y7U8I9O0P1A2'])('token: %s', (w) => {
    expect(looksLikeToken(w)).toBe(true);
  });
  it.each([HEX64, '550e8400-e29b-41d4-a716-446655440000', `sha256-${HEX64.slice(0, 32)}`, 'anthropic/claude-sonnet-4-5-20250929', 'openclaw-2026.9.6-darwin-arm64', 'maxAttemptsPerWindow60000', '/var/db/openclaw/secrets/acme/token.current', 'tenants/acme/gateway.d/10-base.yaml'])('not a token: %s', (w) => {
    expect(looksLikeToken(w)).toBe(false);
  });
});
