/** Secret redaction in patches: no secret value ever reaches a diff, a report or JSON. */
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
