/**
 * Every bad input a user can put in an infra repo: one clear line naming file, line and key, exit 1, no stack trace.
 * specs/infra-repo.md lists the rules these tests cite.
 */
import { describe, expect, it } from 'vitest';
import { exampleRepo, findingLines, runCli, type Edit } from '../helpers/repo.js';

async function lint(edits: Record<string, Edit>, extra: string[] = []): Promise<{ code: number; lines: string[]; all: string }> {
  const repo = exampleRepo(edits);
  const r = await runCli(['lint', repo, ...extra]);
  const all = r.stdout + r.stderr;
  expect(all).not.toMatch(/^\s+at /m); // never a stack trace
  return { code: r.code, lines: findingLines(r.stdout), all };
}

const ACME_GW = 'tenants/acme/gateway.d';

describe('lint: bad input', () => {
  it('the example repo is clean', async () => {
    const r = await lint({});
    expect(r.code).toBe(0);
    expect(r.lines).toEqual([]);
  });

  it('malformed YAML names file, line and column', async () => {
    const r = await lint({ [`${ACME_GW}/30-broken.yaml`]: 'gateway:\n  port: 18809\n  bind: [loopback\n' });
    expect(r.code).toBe(1);
    expect(r.lines[0]).toMatch(new RegExp(`^${ACME_GW}/30-broken.yaml:\\d+:\\d+: error: .+\\[yaml-syntax\\]$`));
  });

  it('a duplicate key in one map', async () => {
    const r = await lint({ [`${ACME_GW}/30-dup.yaml`]: 'logging:\n  level: info\n  level: warn\n' });
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(new RegExp(`^${ACME_GW}/30-dup.yaml:3:3: error: .*level.*\\[duplicate-key\\]$`));
  });

  it('a wrong type names the key', async () => {
    const r = await lint({ [`${ACME_GW}/30-port.yaml`]: 'gateway:\n  port: "eighteen"\n' });
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([`${ACME_GW}/30-port.yaml:2:9: error: gateway.port: must be integer [schema/type]`]);
  });

  it('an unknown key points at the key', async () => {
    const r = await lint({ [`${ACME_GW}/30-typo.yaml`]: 'gateway:\n  bnid: loopback\n' });
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([`${ACME_GW}/30-typo.yaml:2:3: error: gateway.bnid: unknown key "bnid" [schema/additionalProperties]`]);
  });

  it('an unknown top-level key in a fragment, and `secrets`, which clawops owns', async () => {
    const r = await lint({ [`${ACME_GW}/30-sec.yaml`]: 'secrets:\n  providers: {}\n' });
    expect(r.code).toBe(1);
    expect(r.lines[0]).toContain('unknown key "secrets"');
  });

  it('a fragment without a numeric prefix', async () => {
    const r = await lint({ [`${ACME_GW}/overrides.yaml`]: 'logging:\n  level: warn\n' });
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([
      `${ACME_GW}/overrides.yaml:1:1: error: "overrides.yaml" has no numeric prefix: name fragments NN-name.yaml (e.g. 10-base.yaml) [layout/unnumbered]`,
    ]);
  });

  it('two fragments with the same number setting the same key name both files', async () => {
    const r = await lint({ [`${ACME_GW}/20-other.yaml`]: 'logging:\n  level: warn\n' });
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toContain('key "logging.level"');
    expect(r.lines[0]).toContain(`${ACME_GW}/20-other.yaml`);
    expect(r.lines[0]).toContain(`${ACME_GW}/20-overrides.yaml`);
    expect(r.lines[0]).toMatch(/\[merge\/conflict\]$/);
  });

  it('the same number setting different keys is fine', async () => {
    const r = await lint({ [`${ACME_GW}/20-other.yaml`]: 'agents:\n  defaults:\n    timeoutSeconds: 30\n' });
    expect(r.code).toBe(0);
  });

  it('an invalid tenant id', async () => {
    const r = await lint({ 'tenants/Acme_Corp/gateway.d/10-base.yaml': 'gateway:\n  port: 19000\n' });
    expect(r.code).toBe(1);
    expect(r.lines[0]).toMatch(/^tenants\/Acme_Corp:1:1: error: invalid tenant id "Acme_Corp".*\[tenant\/invalid-id\]$/);
  });

  it('the reserved tenant id "clawops" (the node\'s own units are ai.openclaw.clawops.*)', async () => {
    const r = await lint({ 'tenants/clawops/gateway.d/10-base.yaml': 'gateway:\n  port: 19000\n' });
    expect(r.code).toBe(1);
    expect(r.lines[0]).toMatch(/^tenants\/clawops:1:1: error: tenant id "clawops" is reserved.*\[tenant\/invalid-id\]$/);
  });

  it('a tenant id that is too long', async () => {
    const id = `a${'b'.repeat(40)}`;
    const r = await lint({ [`tenants/${id}/gateway.d/10-base.yaml`]: 'gateway:\n  port: 19000\n' });
    expect(r.code).toBe(1);
    expect(r.lines[0]).toContain('[tenant/invalid-id]');
  });

  it('".." and absolute paths inside fragments', async () => {
    const r = await lint({
      'tenants/acme/doctor.d/30-queue.yaml': 'queue:\n  paths:\n    - ../../etc/master.passwd\n    - /var/db/other.sqlite-wal\n',
    });
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(2);
    expect(r.lines[0]).toMatch(/^tenants\/acme\/doctor.d\/30-queue.yaml:3:7: error: queue.paths\[0\]: "..\/..\/etc\/master.passwd" must be relative.*\[path-traversal\]$/);
    expect(r.lines[1]).toContain('queue.paths[1]');
  });

  it('a webhook fixture outside fixtures/webhooks', async () => {
    const r = await lint({ 'tenants/globex/webhook.d/20-fix.yaml': 'endpoints:\n  tickets:\n    fixture: ../../nodes.yaml\n' });
    expect(r.code).toBe(1);
    expect(r.lines[0]).toMatch(/^tenants\/globex\/webhook.d\/20-fix.yaml:3:14: error: endpoints.tickets.fixture: .*\[path-traversal\]$/);
  });

  it('symlinks inside a tenant dir: a fragment, a kind dir and a tenant dir', async () => {
    const r = await lint({
      [`${ACME_GW}/30-link.yaml`]: { symlink: '../../globex/gateway.d/10-base.yaml' },
      'tenants/globex/doctor.d': null,
      'tenants/globex/doctor.d ': null,
      'tenants/hooli': { symlink: 'acme' },
    });
    expect(r.code).toBe(1);
    expect(r.lines.some((l) => l.startsWith(`${ACME_GW}/30-link.yaml:1:1: error: is a symlink (to ../../globex/gateway.d/10-base.yaml)`))).toBe(true);
    expect(r.lines.some((l) => l.startsWith('tenants/hooli:1:1: error: tenant directory is a symlink'))).toBe(true);
  });

  it('a SQLite file anywhere in the repo', async () => {
    const r = await lint({ 'tenants/acme/state.sqlite': 'SQLite format 3\0', 'tenants/acme/gateway.d/openclaw.sqlite-wal': 'x' });
    expect(r.code).toBe(1);
    expect(r.lines.filter((l) => l.includes('[layout/sqlite]'))).toHaveLength(2);
  });

  it.each([
    ['a key named token with a literal value', 'hooks:\n  token: hunter2-but-longer\n', 'hooks.token: key "token" holds a literal value', 'hunter2-but-longer'],
    ['a Bearer credential', 'agents:\n  defaults:\n    header: "Bearer abcdef123456"\n', 'looks like a Bearer credential', 'abcdef123456'],
    ['an sk- key', 'models:\n  providers:\n    openai:\n      key_hint: sk-proj-4f9a8b7c6d5e4f3a2b1c\n', 'looks like an API key (sk-…)', 'sk-proj-4f9a8b7c6d5e4f3a2b1c'],
    ['a Slack token', 'agents:\n  notes: "xoxb-1234567890-abcdefghij"\n', 'looks like a Slack token', 'xoxb-1234567890-abcdefghij'],
    ['a high-entropy string', 'agents:\n  opaque: Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZg7Hq\n', 'high-entropy secret', 'Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZg7Hq'],
    ['an apiKey', 'models:\n  providers:\n    anthropic:\n      apiKey: not-a-ref\n', 'key "apiKey" holds a literal value', 'not-a-ref'],
    ['a password in a URL', 'agents:\n  upstream: https://deploy:pa55w0rd-x@git.example.com/x.git\n', 'looks like a URL with a password in it', 'pa55w0rd-x'],
    ['a Slack webhook URL', 'agents:\n  notify: https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/cccccccccccccccc\n', 'looks like a Slack incoming-webhook URL', 'cccccccccccccccc'],
  ])('a literal secret (%s) is reported without echoing it', async (_name, body, message, secret) => {
    const r = await lint({ [`${ACME_GW}/30-leak.yaml`]: body });
    expect(r.code).toBe(1);
    const leak = r.lines.filter((l) => l.includes('[secret/literal]'));
    expect(leak).toHaveLength(1);
    expect(leak[0]).toMatch(new RegExp(`^${ACME_GW}/30-leak.yaml:\\d+:\\d+: error: `));
    expect(leak[0]).toContain(message);
    expect(r.all).not.toContain(secret);
  });

  it('a secret in a recorded webhook fixture is reported too', async () => {
    const r = await lint({
      'fixtures/webhooks/leaky.json': '{"request": {"headers": {"authorization": "Bearer s3cr3tT0kenValue"}}}\n',
    });
    expect(r.code).toBe(1);
    expect(r.lines[0]).toMatch(/^fixtures\/webhooks\/leaky.json:1:\d+: error: request.headers.authorization: .*\[secret\/literal\]$/);
    expect(r.all).not.toContain('s3cr3tT0kenValue');
  });

  it('hex digests, URLs and ${VAR} placeholders are not secrets (a ${VAR} is refused for what OpenClaw does with it)', async () => {
    const r = await lint({
      [`${ACME_GW}/30-ok.yaml`]: 'agents:\n  note: 4dd36d2ed0cb154456c4a09a951a2e8f2508a5dd6ff2fe0688d4e1c8f773fcb5\n  url: https://example.com/a/very/long/path/segment/ABCdef123456\n  mirror: https://deploy:${GIT_PASSWORD}@git.example.com/x.git\n  user: https://deploy@git.example.com/x.git\n',
    });
    // not a secret/literal: the one finding is that OpenClaw would substitute it from its environment
    expect(r.lines).toEqual([`${ACME_GW}/30-ok.yaml:4:11: error: agents.mirror: a \${VAR} in a fragment is substituted by OpenClaw from its environment; reference a secret with {secret_ref: name} (value not shown) [fragment/env-placeholder]`]);
  });

  it('an empty kind dir', async () => {
    const r = await lint({ 'tenants/globex/doctor.d/10-base.yaml': null });
    expect(r.code).toBe(1);
    expect(r.lines).toEqual(['tenants/globex/doctor.d:1:1: error: doctor.d is empty; delete it or add a fragment [layout/empty-kind]']);
  });

  it('an unknown kind dir and a stray file in a tenant', async () => {
    const r = await lint({ 'tenants/acme/routes.d/10-x.yaml': 'a: 1\n', 'tenants/acme/notes.txt': 'hi\n' });
    expect(r.code).toBe(1);
    expect(r.lines).toContain('tenants/acme/routes.d:1:1: error: unknown kind "routes.d": expected one of gateway.d, doctor.d, webhook.d [layout/unknown-kind]');
    expect(r.lines.some((l) => l.startsWith('tenants/acme/notes.txt:1:1: error: unexpected file'))).toBe(true);
  });

  it('a file over 1 MiB is refused unread', async () => {
    const big = `# ${'x'.repeat(1024 * 1024)}\nlogging:\n  level: info\n`;
    const r = await lint({ [`${ACME_GW}/30-big.yaml`]: big });
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([`${ACME_GW}/30-big.yaml:1:1: error: is ${Buffer.byteLength(big)} bytes, over the 1048576-byte limit [layout/too-large]`]);
  });

  it('CRLF line endings and a UTF-8 BOM are accepted and normalised', async () => {
    const body = '\uFEFFgateway:\r\n  port: 18809\r\n  controlUi:\r\n    enabled: true\r\n    basePath: /acme\r\nlogging:\r\n  level: debug\r\n';
    const plain = await runCli(['render', exampleRepo(), '--tenant', 'acme']);
    const crlf = await runCli(['render', exampleRepo({ [`${ACME_GW}/20-overrides.yaml`]: body }), '--tenant', 'acme']);
    expect(crlf.code).toBe(0);
    expect(crlf.stdout).toBe(plain.stdout);
    const r = await lint({ [`${ACME_GW}/20-overrides.yaml`]: body });
    expect(r.code).toBe(0);
  });

  it('a lockfile missing a field', async () => {
    const r = await lint({
      'openclaw.lock': 'openclaw:\n  version: 2026.9.6\ndaemon:\n  sha256: 4dd36d2ed0cb154456c4a09a951a2e8f2508a5dd6ff2fe0688d4e1c8f773fcb5\nswift_runtime:\n  build: x\ncompanion_agent:\n  version: "1"\n',
    });
    expect(r.code).toBe(1);
    expect(r.lines).toEqual(['openclaw.lock:1:1: error: openclaw: missing required key "commit" [schema/required]']);
  });

  it('a lockfile missing a whole section', async () => {
    const r = await lint({ 'openclaw.lock': 'openclaw:\n  version: 2026.9.6\n  commit: eb377ac\n' });
    expect(r.code).toBe(1);
    expect(r.lines.map((l) => /missing required key "(\w+)"/.exec(l)?.[1])).toEqual(['daemon', 'swift_runtime', 'companion_agent']);
  });

  it('a node assigned a tenant that does not exist', async () => {
    const r = await lint({ 'tenants/initech': null });
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([
      'nodes.yaml:21:29: error: node "gw-2" is assigned tenant "initech", which has no directory under tenants/ [nodes/unknown-tenant]',
    ]);
  });

  it('two tenants on one node with gateway ports too close together', async () => {
    const r = await lint({ 'tenants/globex/gateway.d/30-port.yaml': 'gateway:\n  port: 18815\n' });
    expect(r.code).toBe(1);
    expect(r.lines.filter((l) => l.includes('[nodes/port-overlap]'))).toHaveLength(2);
    expect(r.lines[0]).toContain('tenants "acme" (port 18809) and "globex" (port 18815)');
  });

  it('a missing repo-root file', async () => {
    const r = await lint({ 'nodes.yaml': null });
    expect(r.code).toBe(1);
    expect(r.lines).toEqual(['nodes.yaml:1:1: error: is missing from the repo root [layout/missing-file]']);
  });

  it('a node listed twice and a bad host key', async () => {
    const nodes = 'nodes:\n  - name: gw-1\n    host: a\n    role: gateway\n  - name: gw-1\n    host: b\n    role: gateway\n    host_key: "not a key"\n';
    const r = await lint({ 'nodes.yaml': nodes });
    expect(r.code).toBe(1);
    expect(r.lines.some((l) => l.startsWith('nodes.yaml:8:15: error: nodes.4.host_key') || l.includes('host_key: does not match'))).toBe(true);
  });
});

describe('lint: control characters in file names', () => {
  // Real files whose names hold a newline or an ESC: each finding stays on one line and names the file visibly.
  const NL = `${ACME_GW}/10-x\nfoo.yaml`;
  const NL_SHOWN = `${ACME_GW}/10-x\\nfoo.yaml`;
  const ESC = `${ACME_GW}/30-\u001b[2Jbar.yaml`;
  const NL_FINDING = `${NL_SHOWN}:1:1: error: "10-x\\nfoo.yaml" has no numeric prefix: name fragments NN-name.yaml (e.g. 10-base.yaml) [layout/unnumbered]`;

  it('every finding is exactly one line, the name escaped in the path and in the message', async () => {
    const r = await runCli(['lint', exampleRepo({ [NL]: 'gateway:\n  port: 18809\n', [ESC]: 'logging:\n  level: warn\n' })]);
    expect(r.code).toBe(1);
    const out = r.stdout.trimEnd().split('\n');
    expect(out).toHaveLength(3); // two findings and the summary, nothing split
    expect(out[2]).toBe('2 error(s)');
    expect(findingLines(r.stdout)).toEqual(out.slice(0, 2));
    expect(out).toContain(NL_FINDING);
    expect(out.some((l) => l.startsWith(`${ACME_GW}/30-\\e[2Jbar.yaml:1:1: error: "30-\\e[2Jbar.yaml" has no numeric prefix`))).toBe(true);
    expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
  });

  it('a tenant directory with a newline in its name', async () => {
    const r = await runCli(['lint', exampleRepo({ 'tenants/ac\nme/gateway.d/10-base.yaml': 'gateway:\n  port: 19000\n' })]);
    expect(r.code).toBe(1);
    const out = r.stdout.trimEnd().split('\n');
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/^tenants\/ac\\nme:1:1: error: invalid tenant id "ac\\nme": .*\[tenant\/invalid-id\]$/);
  });

  it('--json keeps the real name (JSON escapes it)', async () => {
    const r = await runCli(['lint', exampleRepo({ [NL]: 'gateway:\n  port: 18809\n' }), '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { findings: { file: string }[] };
    expect(doc.findings.map((f) => f.file)).toEqual([NL]);
  });

  it('diff and render refuse the repo naming the file visibly, without split lines', async () => {
    const repo = exampleRepo({ [NL]: 'gateway:\n  port: 18809\n' });
    const diff = await runCli(['diff', '--repo', repo]);
    expect(diff.code).toBe(2);
    expect(diff.stderr).toMatch(/^clawops: .* 1 error\(s\), first: .*; run clawops lint\n$/);
    expect(diff.stderr).toContain(NL_FINDING);
    const render = await runCli(['render', repo, '--tenant', 'acme']);
    expect(render.code).toBe(2);
    expect(render.stderr.split('\n')[0]).toBe(NL_FINDING);
    expect(render.stderr.trimEnd().split('\n')).toHaveLength(2);
  });
});

describe('lint: CLI contract', () => {
  it('--json gives machine output with the same findings', async () => {
    const repo = exampleRepo({ [`${ACME_GW}/30-port.yaml`]: 'gateway:\n  port: "x"\n' });
    const r = await runCli(['lint', repo, '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { ok: boolean; errors: number; findings: { file: string; line: number; rule: string }[] };
    expect(doc.ok).toBe(false);
    expect(doc.errors).toBe(1);
    expect(doc.findings[0]).toMatchObject({ file: `${ACME_GW}/30-port.yaml`, line: 2, rule: 'schema/type' });
  });

  it('--tenant limits the tenant checks', async () => {
    const repo = exampleRepo({ 'tenants/globex/gateway.d/30-port.yaml': 'gateway:\n  port: "x"\n' });
    expect((await runCli(['lint', repo, '--tenant', 'acme'])).code).toBe(0);
    expect((await runCli(['lint', repo, '--tenant', 'globex'])).code).toBe(1);
  });

  it('exit 2 with one line for a repo that does not exist, an unknown tenant, bad usage', async () => {
    const missing = await runCli(['lint', '/nonexistent/clawops-repo']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('clawops: /nonexistent/clawops-repo: cannot read repo (ENOENT)\n');
    const unknown = await runCli(['lint', exampleRepo(), '--tenant', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^clawops: tenant "nope" not found/);
    expect((await runCli(['lint'])).code).toBe(2);
    expect((await runCli(['frobnicate'])).code).toBe(2);
    expect((await runCli(['render', exampleRepo(), '--tenant', 'acme', '--kind', 'bogus'])).code).toBe(2);
  });

  it('render refuses a repo with errors (exit 2) and names them on stderr', async () => {
    const repo = exampleRepo({ [`${ACME_GW}/30-port.yaml`]: 'gateway:\n  port: "x"\n' });
    const r = await runCli(['render', repo, '--tenant', 'acme']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${ACME_GW}/30-port.yaml:2:9: error: gateway.port: must be integer`);
  });
});
