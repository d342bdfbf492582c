/** Secret redaction in patches: no secret value ever reaches a diff, a report or JSON. */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { unifiedDiff } from '../../reconciler/plan/file-diff.js';
import { plan } from '../../reconciler/plan/plan.js';
import { redactText, secretChanges } from '../../reconciler/plan/redact.js';
import { planJson, renderText } from '../../reconciler/report/plan-report.js';
import { exampleDesired, nodeObservation, ok, sha, tenantOf } from './fixtures.js';

const red = (s: string): string => redactText(s).text;
const diff = (a: string | undefined, b: string | undefined, label = 'acme/gateway.d/10-base.yaml'): string =>
  unifiedDiff(label, a === undefined ? undefined : Buffer.from(a), b === undefined ? undefined : Buffer.from(b));

describe('redactText: secret-looking keys', () => {
  it.each([
    ['token: hunter2', 'token: (secret)'],
    ['  password: "correct horse battery staple"', '  password: (secret)'],
    ['    "token": "abc123",', '    "token": (secret),'],
    ['"api_key": "k1"', '"api_key": (secret)'],
    ['X-Api-Key: k1', 'X-Api-Key: (secret)'],
    ['apikey=k1', 'apikey=(secret)'],
    ['Authorization: Basic dXNlcjpwYXNz', 'Authorization: (secret)'],
    ['  signing_secret: whsec_short', '  signing_secret: (secret)'],
    ['private_key: abc', 'private_key: (secret)'],
    ['- hooks_token: abc', '- hooks_token: (secret)'],
    ['db_passwd: x', 'db_passwd: (secret)'],
  ])('%s', (line, want) => {
    expect(red(line)).toBe(want);
  });

  it.each([
    'token: { secret_ref: token.current }',
    '  signing_secret: { secret_ref: webhook.crm }',
    '    "token": "${CLAWOPS_SECRET_HOOKS_TOKEN}"',
    'token: ${CLAWOPS_SECRET_HOOKS_TOKEN}',
    "token: '${CLAWOPS_SECRET_HOOKS_TOKEN}'",
    '      "token": {',
    '        "secret_ref": "webhook.crm"',
    '        "provider": "clawops_token_current",',
    '        "path": "/var/db/openclaw/secrets/acme/token.current",',
    'password: null',
    'password: ""',
    'token:',
    'maxTokens: 100',
    'tokens_per_minute: 100',
    'mode: token',
    'daemon_sha256: 4dd36d2ed0cb154456c4a09a951a2e8f2508a5dd6ff2fe0688d4e1c8f773fcb5',
    'url: https://hooks.acme.example/openclaw/events',
    'path: /var/db/openclaw/secrets/acme/token.current',
    '  "release_id": "8a5173f4dfe4c912",',
  ])('not a secret: %s', (line) => {
    expect(red(line)).toBe(line);
    expect(redactText(line).secrets.size).toBe(0);
  });
});

describe('redactText: secret-looking values under any key', () => {
  it.each([
    ['header: Bearer abcdefghijk', 'header: (secret)'],
    ['  "Authorization-Header": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x",', '  "Authorization-Header": (secret),'],
    ['note: uses sk-abcdefghijklmnopqrstuv inside', 'note: (secret)'],
    ['- xoxb-1234567890-abcdefghij', '(secret)'],
    ['    -----BEGIN OPENSSH PRIVATE KEY-----', '(secret)'],
    ['value: Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sA', 'value: (secret)'],
    ['  "x": "prefix Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sA suffix"', '  "x": (secret)'],
  ])('%s', (line, want) => {
    expect(red(line)).toBe(want);
  });

  it('rendered tenants-example files are shown unchanged (SecretRefs and placeholders are not secrets)', () => {
    const d = exampleDesired();
    for (const t of d.tenants.values()) {
      for (const f of t.files) {
        const text = f.content.toString();
        expect(red(text), `${t.id}/${f.path}`).toBe(text);
      }
    }
    expect(tenantOf(d, 'acme').files.find((f) => f.path === 'openclaw.json')!.content.toString()).toContain('"token": "${CLAWOPS_SECRET_HOOKS_TOKEN}"');
  });

  it('records secrets by key, numbering repeats, and never changes line count', () => {
    const text = 'a: 1\ntoken: one\nb:\n  token: two\nsk-abcdefghijklmnopqrstuvwx\n';
    const r = redactText(text);
    expect([...r.secrets.keys()]).toEqual(['token', 'token#2', '(line)']);
    expect(r.text.split('\n')).toHaveLength(text.split('\n').length);
    expect(r.text).toBe('a: 1\ntoken: (secret)\nb:\n  token: (secret)\n(secret)\n');
  });
});

describe('redactText: inline and multi-line forms', () => {
  it('secret keys inside YAML flow maps and compact JSON', () => {
    expect(red('  auth: { mode: token, token: hunter2 }')).toBe('  auth: { mode: token, token: (secret) }');
    expect(red("remote: {password: 'p', url: wss://gw.example}")).toBe('remote: {password: (secret), url: wss://gw.example}');
    expect(red('{"gateway":{"auth":{"mode":"token","token":"hunter2"}},"n":1}')).toBe('{"gateway":{"auth":{"mode":"token","token":(secret)}},"n":1}');
    expect(red('list: [a, {token: "x, y"}]')).toBe('list: [a, {token: (secret)}]');
    // SecretRef objects and placeholders inline are left alone
    const refs = 'auth: {"token": {"source": "file", "provider": "clawops_token_current", "id": "value"}, "password": "${CLAWOPS_SECRET_X}"}';
    expect(red(refs)).toBe(refs);
    expect(red('token: {secret_ref: token.current}')).toBe('token: {secret_ref: token.current}');
  });

  it('YAML block scalars and multi-line plain scalars under a secret key', () => {
    expect(red('auth:\n  token: |\n    line1\n\n    line2\n  mode: local\n')).toBe('auth:\n  token: |\n    (secret)\n\n    (secret)\n  mode: local\n');
    expect(red('password: >-\n  abc\nnext: 1')).toBe('password: >-\n  (secret)\nnext: 1');
    expect(red('token:\n  hunter2\nmode: 1')).toBe('token:\n  (secret)\nmode: 1');
    // a nested map under a secret-looking key is not a value
    expect(red('token:\n  secret_ref: token.current\nmode: 1')).toBe('token:\n  secret_ref: token.current\nmode: 1');
    expect(secretChanges(redactText('token: |\n  a\n  b\n'), redactText('token: |\n  a\n  c\n'))).toEqual(['~ token: (secret changed)']);
  });

  it('URLs with a password or a high-entropy path segment', () => {
    expect(red('url: https://clawops:pw@gw.example/ws')).toBe('url: (secret)');
    expect(red('url: https://hooks.slack.com/services/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')).toBe('url: (secret)');
    expect(red('url: https://clawops@gw.example/ws')).toBe('url: https://clawops@gw.example/ws');
  });
});

describe('secretChanges', () => {
  it('reports changed, added and removed secrets by key; equal ones not at all', () => {
    const a = redactText('token: one\npassword: same\napi_key: gone\n');
    const b = redactText('token: two\npassword: same\nsigning_secret: new\n');
    expect(secretChanges(a, b)).toEqual(['- api_key: (secret removed)', '+ signing_secret: (secret added)', '~ token: (secret changed)']);
    expect(secretChanges(a, a)).toEqual([]);
  });
});

describe('unifiedDiff', () => {
  it('is a diff -u style patch without the Index/=== header', () => {
    const p = diff('a: 1\nb: 2\n', 'a: 1\nb: 3\n');
    expect(p).toMatch(/^--- a\/acme\/gateway\.d\/10-base\.yaml\t?\n\+\+\+ b\/acme\/gateway\.d\/10-base\.yaml\t?\n@@ -1,2 \+1,2 @@\n a: 1\n-b: 2\n\+b: 3\n$/);
  });

  it('a changed secret shows as `~ key: (secret changed)` and never by value', () => {
    const p = diff('gateway:\n  auth:\n    token: oldvalue-1\n', 'gateway:\n  auth:\n    token: newvalue-2\n');
    expect(p).toContain('~ token: (secret changed)');
    expect(p).not.toContain('oldvalue-1');
    expect(p).not.toContain('newvalue-2');
    expect(p).not.toContain('@@'); // the redacted lines are equal: no hunk, only the note
  });

  it('a changed secret beside other changes: the hunk plus the note', () => {
    const p = diff('level: info\ntoken: oldvalue-1\n', 'level: debug\ntoken: newvalue-2\n');
    expect(p).toContain('-level: info\n+level: debug\n token: (secret)\n');
    expect(p.trimEnd().split('\n').at(-1)).toBe('~ token: (secret changed)');
  });

  it('added and removed secrets, and whole files added or removed', () => {
    expect(diff('a: 1\n', 'a: 1\npassword: p4ss\n')).toContain('+password: (secret)\n+ password: (secret added)\n');
    expect(diff('a: 1\npassword: p4ss\n', 'a: 1\n')).toContain('-password: (secret)\n- password: (secret removed)\n');
    const added = diff(undefined, 'token: abc\n');
    expect(added).toMatch(/^--- \/dev\/null/);
    expect(added).toContain('+token: (secret)');
    expect(added).not.toContain('abc');
    const removed = diff('token: abc\n', undefined);
    expect(removed).toMatch(/\+\+\+ \/dev\/null/);
    expect(removed).not.toContain('abc');
  });

  it('binary files are never printed', () => {
    const bin = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x73, 0x6b, 0x2d]);
    expect(unifiedDiff('acme/x.png', bin, Buffer.from('text\n'))).toBe('Binary files a/acme/x.png and b/acme/x.png differ\n');
    expect(unifiedDiff('acme/x.png', Buffer.from('text\n'), bin)).toBe('Binary files a/acme/x.png and b/acme/x.png differ\n');
    expect(unifiedDiff('acme/x.png', undefined, bin)).toBe('Binary files a/acme/x.png and b/acme/x.png differ\n');
  });
});

/** Secrets in every shape a hand edit could leave them in; none may appear in any patch. */
const SECRETS = {
  bearer: 'Bearer eyJhbGciOiJIUzI1NiJ9LeakedJwtPayload',
  openai: 'sk-proj-LeakedOpenAiKey0123456789abcdef',
  slack: 'xoxb-123456789012-LeakedSlackBot',
  entropy: 'Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sA',
  short: 'hunter2hunter2',
  urlpass: 'LeakedUrlPass99',
  slackpath: 'aB3dE5fG7hJ9kL1mN3pQ5rS7',
};
const NEEDLES = ['eyJhbGciOiJIUzI1NiJ9', 'LeakedJwtPayload', 'LeakedOpenAiKey', 'LeakedSlackBot', SECRETS.entropy, SECRETS.short, SECRETS.urlpass, SECRETS.slackpath];

const FORMS: Record<string, string> = {
  'yaml by key': `gateway:\n  auth:\n    token: ${SECRETS.short}\n    password: "${SECRETS.entropy}"\n`,
  'yaml by value': `headers:\n  Auth: ${SECRETS.bearer}\nnotes:\n  - ${SECRETS.openai}\n  - slack ${SECRETS.slack}\n  - key ${SECRETS.entropy}\n`,
  'json pretty': `{\n  "gateway": {\n    "auth": {\n      "token": "${SECRETS.short}",\n      "header": "${SECRETS.bearer}"\n    }\n  },\n  "k": "${SECRETS.openai}"\n}\n`,
  'json compact': `{"gateway":{"auth":{"mode":"token","token":"${SECRETS.short}"}},"n":1}\n`,
  'json compact with a value secret': `{"gateway":{"auth":{"mode":"token"}},"x":"${SECRETS.slack}"}\n`,
  'json compact nested line': `{\n  "auth": {"mode": "token", "password": "${SECRETS.short}"},\n  "n": 1\n}\n`,
  'yaml flow map': `gateway:\n  auth: { mode: token, token: ${SECRETS.short} }\n  remote: {password: '${SECRETS.short}', url: wss://gw.example}\n`,
  'yaml block scalar': `gateway:\n  auth:\n    token: |\n      ${SECRETS.short}\n    password: >-\n      ${SECRETS.short}\n      ${SECRETS.urlpass}\n  mode: local\n`,
  'yaml multi-line plain scalar': `gateway:\n  auth:\n    token:\n      ${SECRETS.short}\n  mode: local\n`,
  'url with credentials': `remote:\n  url: https://clawops:${SECRETS.urlpass}@gw.example/ws\n`,
  'webhook url with a secret path': `slack:\n  url: https://hooks.slack.com/services/T0123ABCD/B0123ABCD/${SECRETS.slackpath}\n`,
};

describe('no secret value ever appears in a patch', () => {
  it.each(Object.entries(FORMS))('%s', (_name, withSecrets) => {
    const without = withSecrets.replace(/./g, (c) => c).split('\n').filter((l) => !NEEDLES.some((n) => l.includes(n))).join('\n');
    const rotated = NEEDLES.reduce((s, n) => s.split(n).join(`${n.slice(0, 3)}Rotated${n.slice(3)}`), withSecrets);
    const patches = [diff(undefined, withSecrets), diff(withSecrets, undefined), diff(without, withSecrets), diff(withSecrets, without), diff(withSecrets, rotated), diff(rotated, withSecrets)];
    for (const p of patches) {
      for (const n of NEEDLES) expect(p, p).not.toContain(n);
      expect(p).not.toContain('Rotated');
    }
    // a rotation is visible as a change even though no value is shown
    expect(diff(withSecrets, rotated)).toMatch(/^~ \S+: \(secret changed\)$/m);
  });

  it('through plan, the text report and the JSON report', () => {
    const desired = exampleDesired();
    const acme = tenantOf(desired, 'acme');
    const rendered = acme.files.find((f) => f.path === 'openclaw.json')!;
    const doc = JSON.parse(rendered.content.toString()) as Record<string, Record<string, unknown>>;
    doc.gateway!.auth = { mode: 'token', token: SECRETS.short };
    doc.hooks!.token = SECRETS.openai;
    doc.hand_edit = { compact: `{"token":"${SECRETS.entropy}"}`, header: SECRETS.bearer };
    const edited = Buffer.from(JSON.stringify(doc, null, 2));
    const observed = desired.nodes.map((n) => {
      const o = nodeObservation(desired, n.name, n.tenants);
      if (n.name === 'gw-1') {
        o.tenants.acme!.files['openclaw.json'] = sha(edited);
        o.tenants.acme!.contents['openclaw.json'] = edited;
      }
      return ok(o);
    });
    const p = plan(desired, observed);
    expect(p.nodes.find((n) => n.node === 'gw-1')!.diffs).toHaveLength(1);
    const meta = { source: { origin: 'x', dirty: false }, lock: desired.lock };
    const outputs = [renderText(p, meta), JSON.stringify(planJson(p, meta))];
    for (const out of outputs) {
      for (const n of NEEDLES) expect(out).not.toContain(n);
      expect(out).toContain('(secret');
    }
    // the node's literal tokens go away (git has a SecretRef and a placeholder there)
    expect(outputs[0]).toMatch(/^- token: \(secret removed\)$/m);
  });
});

/** A hex secret of `n` chars: what `openssl rand -hex` writes (hex is not secret by shape, only by key). */
const hexOf = (n: number, seed = 'a'): string => createHash('sha512').update(seed).digest('hex').repeat(2).slice(0, n);

describe('redactText: literal tokens under keys that are not secret-looking', () => {
  const TOKENS: [string, string][] = [
    ['base62', 'Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sA'],
    ['base64 with / + =', 'q3Z/Kx9+aB3dE5fG7hJ9kL1mN3pQ5rS7tU8w=='],
    ['base64 starting with /', '/Kx9aB3dE5fG7hJ9kL1mN3pQ5rS7tU8wYz2'],
    ['base64url', 'pR7tY5wK9mB4cJ6h-G1dF0sA_Zq8vN3xL2'],
    ['[a-z0-9] only', 'k3j9x0a8m2q7w1e4r5t6y7u8i9o0p1a2'],
    ['[A-Z0-9] only', 'K3J9X0A8M2Q7W1E4R5T6Y7U8I9O0P1A2'],
    ['a JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMifQ.c2lnbmF0dXJlMTIzNDU2Nzg5'],
  ];
  const FORMS: [string, (t: string) => string][] = [
    ['yaml', (t) => `note: ${t}`],
    ['yaml quoted', (t) => `  description: "${t}"`],
    ['yaml list item', (t) => `  - ${t}`],
    ['json', (t) => `    "note": "${t}",`],
    ['json compact', (t) => `{"agents":{"note":"${t}","n":1}}`],
    ['yaml flow map', (t) => `meta: { note: ${t}, n: 1 }`],
    ['prose', (t) => `# rotated on 2026-11-20, the old one was ${t}.`],
    ['env file', (t) => `export NOTE=${t}`],
    ['inside a longer value', (t) => `description: "copy ${t} into the console"`],
    ['in a URL path', (t) => `url: https://hooks.example.internal/in/${t}`],
  ];
  it.each(TOKENS.flatMap(([tn, t]) => FORMS.map(([fn, f]) => [`${tn} as ${fn}`, f(t), t] as const)))('%s', (_name, line, token) => {
    const r = redactText(line);
    expect(r.text).not.toContain(token);
    expect(r.text).toContain('(secret)');
    expect(r.secrets.size).toBeGreaterThan(0);
  });

  it('a literal token under description: keeps the key, hides the value', () => {
    expect(red('description: Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sA')).toBe('description: (secret)');
    expect(red('  "note": "q3Z/Kx9+aB3dE5fG7hJ9kL1mN3pQ5rS7tU8w==",')).toBe('  "note": (secret),');
  });
});

describe('redactText: one secret-key rule (broader than token/secret/password)', () => {
  const KEYS = ['pass', 'auth', 'accessKey', 'credential', 'credentials', 'bearer', 'cookie', 'session', 'sessionid', 'key', 'hmacKey', 'sig', 'signature', 'apiSecret', 'client_secret', 'sessionCookie', 'AWS_SECRET_ACCESS_KEY', 'X-Auth-Token', 'encryption_key', 'webhookSecret', 'Set-Cookie'];
  it.each(KEYS.flatMap((k) => [32, 40, 64].map((n) => [k, n] as const)))('%s with %i hex chars', (key, n) => {
    const hex = hexOf(n, key);
    for (const line of [`${key}: ${hex}`, `  "${key}": "${hex}",`, `${key}=${hex}`, `x: { ${key}: ${hex} }`, `{"x":{"${key}":"${hex}"}}`]) {
      const out = red(line);
      expect(out, line).not.toContain(hex);
      expect(out, line).toContain('(secret)');
    }
  });

  it.each([
    ['apiSecret: s3cr3t', 'apiSecret: (secret)'],
    ['client_secret: "abc"', 'client_secret: (secret)'],
    ['sessionCookie: sid=abc', 'sessionCookie: (secret)'],
    ['pass: hunter2', 'pass: (secret)'],
    ['passphrase: correct horse', 'passphrase: (secret)'],
    ['Cookie: session=abc; theme=dark', 'Cookie: (secret)'],
    ['bearer: abc', 'bearer: (secret)'],
    ['private-key: abc', 'private-key: (secret)'],
    ['SECRET_KEY=abc', 'SECRET_KEY=(secret)'],
    ["'token': abc", "'token': (secret)"],
    ['password:hunter2', 'password:(secret)'],
  ])('any literal under an always-secret key: %s', (line, want) => {
    expect(red(line)).toBe(want);
  });

  it.each([
    'auth: oauth',
    'auth: { mode: token }',
    'mainKey: main',
    'session: { scope: per-sender }',
    'defaultSessionKey: hook:ingress',
    'allowRequestSessionKey: true',
    'dangerouslyDisableDeviceAuth: false',
    'allowLegacyAuth: true',
    'key: default_tools_approval_mode',
    'cacheKey: agent-main-2026-q4',
    'clientKey: /etc/ssl/private/client.key',
    'publicKey: ssh-ed25519',
    'credentials: include',
    'max_keys: 10000',
    'maxTokens: 4096',
    'secret_ref: token.current',
    'signature: v1',
  ])('names, modes and templates under token-shaped keys stay visible: %s', (line) => {
    expect(red(line)).toBe(line);
  });

  it('a rotated hex secret under auth is reported as changed', () => {
    const p = diff(`auth: ${hexOf(64, 'old')}\n`, `auth: ${hexOf(64, 'new')}\n`);
    expect(p).toContain('~ auth: (secret changed)');
    expect(p).not.toContain(hexOf(64, 'old'));
    expect(p).not.toContain(hexOf(64, 'new'));
  });
});

describe('redactText: secret query parameters', () => {
  const hex = hexOf(40, 'q');
  it.each([
    `https://hooks.example.internal/in?token=${hex}`,
    `https://hooks.example.internal/in?sig=${hex}&v=1`,
    `https://api.example.com/x?a=1&access_token=${hex}`,
    `https://api.example.com/x?key=${hex}`,
    `https://blob.example.net/c/f?sv=2024-01-01&se=2026-12-01&sig=${hex}`,
    `https://s3.example.com/b/o?X-Amz-Credential=x&X-Amz-Signature=${hex}`,
    `https://api.example.com/cb?client_secret=${hex}`,
    `https://api.example.com/cb?password=${hex}`,
    `https://api.example.com/cb?auth=${hex}#frag`,
    `https://api.example.com/cb?signature=${hex}`,
    `https://api.example.com/cb;secret=${hex}`,
  ])('%s', (url) => {
    for (const line of [`url: ${url}`, `  "url": "${url}",`, `curl -fsS '${url}'`, `{"endpoints":{"x":{"url":"${url}"}}}`]) {
      const out = red(line);
      expect(out, line).not.toContain(hex);
      expect(out, line).toContain('(secret)');
    }
  });

  it.each(['url: https://api.example.com/x?page=2&sort=name', 'url: https://api.example.com/x?token=${CLAWOPS_SECRET_X}', 'url: https://ingest.acme.example/v2/openclaw?tenant=acme&v=2'])('ordinary query strings stay: %s', (line) => {
    expect(red(line)).toBe(line);
  });
});

describe('redactText: known secret shapes (the list lint uses)', () => {
  it.each([
    ['Slack incoming webhook', 'https://hooks.slack.com/services/T0123ABCD/B0123ABCD/xxxxxxxxxxxxxxxxxxxxxxxx', 'xxxxxxxxxxxxxxxxxxxxxxxx'],
    ['Slack workflow webhook', 'https://hooks.slack.com/workflows/T0123ABCD/A0123ABCD/123456789012345678/abcdefghijklmnop', 'abcdefghijklmnop'],
    ['Discord webhook', 'https://discord.com/api/webhooks/123456789012345678/abcdefghijklmnopqrstuvwxyzABCDEF', 'abcdefghijklmnopqrstuvwxyzABCDEF'],
    ['Discord webhook (discordapp.com)', 'https://discordapp.com/api/webhooks/123456789012345678/aaaaaaaaaaaaaaaaaaaaaaaa', 'aaaaaaaaaaaaaaaaaaaaaaaa'],
    ['AWS access key id', 'AKIAIOSFODNN7EXAMPLE', 'IOSFODNN7EXAMPLE'],
    ['AWS temporary key id', 'ASIAIOSFODNN7EXAMPLE', 'IOSFODNN7EXAMPLE'],
    ['GitHub token', 'ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'],
    ['GitHub OAuth token', 'gho_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'],
    ['GitHub fine-grained token', 'github_pat_11AAAAAAA0aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbb', 'aaaaaaaaaaaa_bbbbbbbb'],
    ['Stripe key', 'sk_live_aaaaaaaaaaaaaaaaaaaaaaaa', 'aaaaaaaaaaaaaaaaaaaaaaaa'],
    ['OpenAI-style key', 'sk-proj-aaaaaaaaaaaaaaaaaaaaaaaa', 'aaaaaaaaaaaaaaaaaaaaaaaa'],
    ['Slack app token', 'xapp-1-A0123456789-abcdefabcdef', 'abcdefabcdef'],
    ['Bearer inside a header string', 'curl -H "Authorization: Bearer abc123def456ghi"', 'abc123def456ghi'],
    ['URL password', 'https://deploy:hunter2hunter2@git.example.com/infra.git', 'hunter2hunter2'],
  ])('%s', (_name, value, needle) => {
    for (const line of [`note: ${value}`, `  "note": "${value}",`, `  - ${value}`, value, `{"a":{"note":"${value}"}}`]) {
      const out = red(line);
      expect(out, line).not.toContain(needle);
      expect(out, line).toContain('(secret)');
    }
  });

  it('prose that mentions Bearer is not a credential', () => {
    const line = 'description: the gateway accepts Bearer authentication';
    expect(red(line)).toBe(line);
  });
});

/** A private key as a file on disk holds it: PEM or OpenSSH armour, base64 body lines of 64 or 70 columns. */
function pemOf(type: 'rsa' | 'ec' | 'pkcs8'): string {
  if (type === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
  if (type === 'ec') return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }) as string;
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}
function openSshKey(): string {
  const str = (b: Buffer | string): Buffer => {
    const buf = Buffer.from(b);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(buf.length);
    return Buffer.concat([len, buf]);
  };
  const pub = Buffer.concat([str('ssh-ed25519'), str(randomBytes(32))]);
  const priv = Buffer.concat([randomBytes(8), str('ssh-ed25519'), str(randomBytes(32)), str(randomBytes(64)), str('ops@gw-1'), Buffer.from([1, 2, 3, 4, 5])]);
  const body = Buffer.concat([Buffer.from('openssh-key-v1\0'), str('none'), str('none'), str(''), Buffer.from([0, 0, 0, 1]), str(pub), str(priv)]).toString('base64');
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${body.match(/.{1,70}/g)!.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}
const bodyLines = (key: string): string[] => key.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));

describe('redactText: private key blocks, BEGIN to END, in any file', () => {
  const KEYS: [string, () => string][] = [
    ['PEM RSA', () => pemOf('rsa')],
    ['PEM EC', () => pemOf('ec')],
    ['PKCS#8', () => pemOf('pkcs8')],
    ['OpenSSH', openSshKey],
    ['encrypted PEM with headers', () => `-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,${hexOf(32, 'iv').toUpperCase()}\n\n${bodyLines(pemOf('rsa')).join('\n')}\n-----END RSA PRIVATE KEY-----\n`],
  ];
  it.each(KEYS)('%s as a stray key file (not YAML)', (_name, make) => {
    const key = make();
    const out = diff(undefined, key, 'acme/keys/id_gateway');
    for (const l of bodyLines(key)) expect(out, l).not.toContain(l);
    expect(out).not.toContain('-----BEGIN');
    expect(out).toMatch(/^\+\(secret\)$/m);
    const r = redactText(key);
    expect(r.text.split('\n').filter((l) => l !== '').every((l) => l === '(secret)')).toBe(true);
  });

  it.each(KEYS)('%s under a key that is not secret-looking, then ordinary lines again', (_name, make) => {
    const key = make();
    const yaml = `tls:\n  note: |\n${key.trimEnd().split('\n').map((l) => `    ${l}`).join('\n')}\n  port: 8443\n`;
    const out = red(yaml);
    for (const l of bodyLines(key)) expect(out, l).not.toContain(l.trim());
    expect(out).toContain('  port: 8443');
    expect(out.startsWith('tls:\n  note: |\n')).toBe(true);
  });

  it('in JSON, the whole key is one string value', () => {
    const key = pemOf('ec');
    const out = red(JSON.stringify({ tls: { material: key }, port: 8443 }, null, 2));
    for (const l of bodyLines(key)) expect(out).not.toContain(l);
    expect(out).toContain('"material": (secret)');
    expect(out).toContain('"port": 8443');
  });

  it('a block without its END line hides everything after BEGIN', () => {
    const key = bodyLines(pemOf('rsa'));
    const out = red(`a: 1\n-----BEGIN RSA PRIVATE KEY-----\n${key.slice(0, 5).join('\n')}\nb: 2\n`);
    expect(out).toBe('a: 1\n(secret)\n(secret)\n(secret)\n(secret)\n(secret)\n(secret)\n(secret)\n');
  });

  it('a changed key is reported, not shown', () => {
    const p = diff(`note: x\n${pemOf('ec')}`, `note: x\n${pemOf('ec')}`, 'acme/keys/k.pem');
    expect(p).toContain('~ (private key): (secret changed)');
    expect(p).not.toContain('@@');
  });

  it('a certificate is not a private key', () => {
    const cert = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUAbc\n-----END CERTIFICATE-----';
    expect(red(cert)).toBe(cert);
  });
});

describe('redactText: fingerprints of the node secret files', () => {
  const TOKEN = 'tok_3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c'; // not random-looking on its own: only the fingerprint finds it
  const fp = (content: string): string => createHash('sha256').update(content).digest('hex').slice(0, 12);

  it.each([
    ['file written without a newline', fp(TOKEN)],
    ['file written with a newline', fp(`${TOKEN}\n`)],
    ['fingerprint in upper case', fp(TOKEN).toUpperCase()],
  ])('%s', (_name, f) => {
    const text = [
      `note: ${TOKEN}`,
      `  "description": "old token ${TOKEN}, rotated",`,
      `url: https://hooks.example.internal/in/${TOKEN}?v=1`,
      `auth_header=x-token:${TOKEN}`,
      `# pasted ${TOKEN}.`,
      `{"a":["${TOKEN}"]}`,
      `\x1b]0;${TOKEN}\x07`,
    ].join('\n');
    expect(red(text)).toContain(TOKEN); // the heuristics alone do not see it
    const out = redactText(text, { fingerprints: ['0123456789ab', f] }).text;
    expect(out).not.toContain(TOKEN);
    expect(out.split('\n')).toHaveLength(7);
    expect(out).toContain('note: (secret)');
    expect(out).toContain('https://hooks.example.internal/in/(secret)?v=1');
  });

  it('base64 tokens keep their / + = inside the word', () => {
    const b64 = 'YWJj/ZGVm+Z2hp==';
    const out = redactText(`a: "${b64}"\nb: x=${b64}\nc: https://x.example/${b64}`, { fingerprints: [fp(`${b64}\n`)] }).text;
    expect(out).not.toContain('YWJj');
  });

  it('only words of 8 to 512 characters are hashed; other words and other fingerprints change nothing', () => {
    const short = 'abc1234';
    expect(redactText(`note: ${short}`, { fingerprints: [fp(short)] }).text).toBe(`note: ${short}`);
    const long = 'a'.repeat(513);
    expect(redactText(`note: ${long}`, { fingerprints: [fp(long)] }).text).toBe(`note: ${long}`);
    const plain = 'port: 18789\nhost: gw-1.example.internal\nrelease: 8a5173f4dfe4c912\n';
    expect(redactText(plain, { fingerprints: ['a1b2c3d4e5f6', fp('something-else')] }).text).toBe(plain);
    // a prefix too short to be a fingerprint would match words by chance: ignored
    expect(redactText(plain, { fingerprints: ['', '0', fp('gw-1.example.internal').slice(0, 4)] }).text).toBe(plain);
    expect(redactText('host: gw-1.example.internal', { fingerprints: [fp('gw-1.example.internal')] }).text).toBe('host: (secret)');
  });

  it('unifiedDiff passes them on: a hand-pasted node token never shows', () => {
    const before = `{\n  "hooks": {\n    "token": "\${CLAWOPS_SECRET_HOOKS_TOKEN}"\n  }\n}\n`;
    const after = `{\n  "hooks": {\n    "token": "\${CLAWOPS_SECRET_HOOKS_TOKEN}",\n    "note": "${TOKEN}"\n  }\n}\n`;
    expect(unifiedDiff('acme/openclaw.json', Buffer.from(before), Buffer.from(after))).toContain(TOKEN);
    const p = unifiedDiff('acme/openclaw.json', Buffer.from(before), Buffer.from(after), { fingerprints: [fp(`${TOKEN}\n`)] });
    expect(p).not.toContain(TOKEN);
    expect(p).toContain('+    "note": "(secret)"');
  });
});

describe('redactText: ordinary content stays visible', () => {
  it.each([
    'port: 18789',
    '  "port": 18809,',
    'host: gw-1.example.internal',
    'bind: 127.0.0.1:18789',
    '  "release_id": "8a5173f4dfe4c912",',
    'release: 9e7b08c6686ce641',
    `commit: ${hexOf(40, 'c')}`,
    `  "commit": "${hexOf(12, 'c')}",`,
    `sha256: ${hexOf(64, 's')}`,
    `  "sha256": "${hexOf(64, 's')}",`,
    `daemon_sha256: ${hexOf(64, 'd')}`,
    `  "gateway.d/10-base.yaml": "${hexOf(64, 'f')}",`,
    `note: ${hexOf(64, 'n')}`,
    `note: ${hexOf(32, 'n')}`,
    `id: 550e8400-e29b-41d4-a716-446655440000`,
    'token: ${CLAWOPS_SECRET_X}',
    '    "token": "${CLAWOPS_SECRET_HOOKS_TOKEN}"',
    'token: { source: file, path: /var/db/openclaw/secrets/acme/token.current }',
    'token: {source: file, provider: clawops_token_current, id: value}',
    '  "token": { "source": "file", "provider": "clawops_token_current", "id": "value" },',
    'password: { secret_ref: smtp.password }',
    'path: /var/db/openclaw/secrets/acme/token.current',
    'url: https://ingest.acme.example/v2/openclaw',
    'model: anthropic/claude-sonnet-4-5-20250929',
    'image: ghcr.io/openclaw/gateway:2026.9.6',
    'openclaw: 2026.9.6 (eb377ac)',
    'recorded_at: "2026-11-20T14:03:11Z"',
    '  - core/doctor/node-hosting-preconditions   # by design',
    'warn_bytes: 268435456',
    'description: the gateway uses a token from /var/db/openclaw/secrets',
  ])('%s', (line) => {
    expect(red(line)).toBe(line);
    expect(redactText(line).secrets.size).toBe(0);
  });
});
