/**
 * Replay without a fleet: fixture checks, and `replayNode` over the local transport (a node as a directory; the
 * script runs under this machine's /bin/sh and, as macOS's sh, bash --posix) against a real loopback receiver.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import type { DesiredState, NodeSpec } from '../../reconciler/desired/types.js';
import { parseFailureLine } from '../../reconciler/notifier/failure-line.js';
import { fixturesFromDir, fixturesFromSet, parseFixture, readFixture } from '../../reconciler/replay/fixtures.js';
import { replayNode, secretFor, type ReplayOptions, type ReplayReport } from '../../reconciler/replay/replay.js';
import { renderReplayText, replayJson } from '../../reconciler/replay/report.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { LocalTransport } from '../../reconciler/transport/local-transport.js';
import type { ExecOptions, ExecResult } from '../../reconciler/transport/transport.js';
import { layRelease } from '../helpers/release.js';
import { exampleRepo, type Edit } from '../helpers/repo.js';
import { secretValue } from '../helpers/secrets.js';
import { startReceiver, type Receiver } from './receiver.js';
import { ACME_FIXTURE, ACME_PATH, allSecretValues, GLOBEX_FIXTURE, GLOBEX_PATH, receiverEdits, REPLAY_SECRETS, routeAsRecorded } from './setup.js';

describe('fixtures', () => {
  it('reads a recorded delivery: method, headers (computed and auth ones dropped), the exact body bytes, the status', () => {
    const e = parseFixture('x.json', JSON.stringify({ delivery_id: 'dlv_1', request: { method: 'POST', path: '/a?b=1', headers: { 'Content-Type': 'application/json', 'X-Event': 'e', Host: 'h', 'Content-Length': '9', Authorization: 'Bearer x' }, body: { b: 1, a: [2] } }, response: { status: 202 } }));
    expect(e.ok).toBe(true);
    if (!e.ok) return;
    expect(e.fixture).toMatchObject({ deliveryId: 'dlv_1', method: 'POST', path: '/a?b=1', expectedStatus: 202, headers: [['content-type', 'application/json'], ['x-event', 'e']] });
    expect(e.fixture.body.toString()).toBe('{"b":1,"a":[2]}');
    const raw = parseFixture('y.json', JSON.stringify({ request: { body: 'a=1&b=2' }, response: { status: 200 } }));
    expect(raw.ok && raw.fixture.body.toString()).toBe('a=1&b=2');
    expect(raw.ok && raw.fixture.method).toBe('POST');
    expect(raw.ok && raw.fixture.deliveryId).toBe('y');
  });

  it.each([
    ['{', 'not valid JSON'],
    ['[]', 'not a JSON object'],
    ['{"response":{"status":200}}', 'request: missing'],
    ['{"request":{},"response":{"status":99}}', 'response.status'],
    ['{"request":{"method":"post"},"response":{"status":200}}', 'request.method'],
    ['{"request":{"path":"no-slash"},"response":{"status":200}}', 'request.path'],
    ['{"request":{"headers":{"x-a":"b\\r\\nx-injected: 1"}},"response":{"status":200}}', 'request.headers.x-a'],
    ['{"request":{"headers":{"bad name":"v"}},"response":{"status":200}}', 'not a header name'],
  ])('refuses %s (%s)', (text, why) => {
    const e = parseFixture('f.json', text);
    expect(e.ok).toBe(false);
    if (!e.ok) expect(e.error).toContain(why);
  });

  it('reads only regular files under fixtures/webhooks/ by a safe name', () => {
    const repo = exampleRepo({ 'fixtures/webhooks/link.json': { symlink: ACME_FIXTURE }, 'fixtures/webhooks/sub/ok.json': '{"request":{},"response":{"status":204}}' });
    expect(readFixture(repo, ACME_FIXTURE).ok).toBe(true);
    expect(readFixture(repo, 'sub/ok.json').ok).toBe(true);
    for (const [name, why] of [
      ['link.json', 'is a symlink'],
      ['../../clawops.yaml', 'not a fixture name'],
      ['/etc/passwd.json', 'not a fixture name'],
      ['sub/../x.json', 'not a fixture name'],
      ['nope.json', 'does not exist'],
    ] as const) {
      const e = readFixture(repo, name);
      expect(e.ok, name).toBe(false);
      if (!e.ok) expect(e.error).toContain(why);
    }
    const src = fixturesFromDir(repo);
    expect(src(ACME_FIXTURE)).toBe(src(ACME_FIXTURE));
    expect(fixturesFromSet(new Map())('x.json').ok).toBe(false);
  });

  it('picks the secret: the signing secret (HMAC) or token.current (bearer); next is the rotation twin', () => {
    expect(secretFor({ signing_secret: { secret_ref: 'webhook.crm' } }, 'current')).toEqual({ name: 'webhook.crm', auth: 'hmac-sha256' });
    expect(secretFor({ signing_secret: { secret_ref: 'webhook.crm' } }, 'next')).toEqual({ name: 'token.next', auth: 'hmac-sha256' });
    expect(secretFor({ signing_secret: { secret_ref: 'crm.current' } }, 'next')).toEqual({ name: 'crm.next', auth: 'hmac-sha256' });
    expect(secretFor({}, 'current')).toEqual({ name: 'token.current', auth: 'bearer' });
    expect(secretFor({}, 'next')).toEqual({ name: 'token.next', auth: 'bearer' });
  });
});

/** The local transport with the node's commands run by `bash --posix` instead of /bin/sh (macOS's sh is bash). */
class BashTransport extends LocalTransport {
  override exec(command: string, opts?: ExecOptions): Promise<ExecResult> {
    return super.exec(command.replace(/^sh -c /, 'bash --posix -c '), opts);
  }
}

const hasBash = spawnSync('bash', ['-c', 'true']).status === 0;

describe('replayNode over the local transport', () => {
  let rcv: Receiver;
  let root: string;
  let repo: string;
  let desired: DesiredState;
  let node: NodeSpec;
  let sock: { server: Server; lines: string[] } | undefined;
  const NODE = 'gw-1';

  const setup = (edits: Record<string, Edit> = {}): void => {
    repo = exampleRepo({ ...receiverEdits(rcv), ...edits });
    desired = buildDesired(readTreeSync(repo));
    expect(desired.findings.filter((f) => f.severity === 'error')).toEqual([]);
    node = desired.nodes.find((n) => n.name === NODE)!;
    root = mkdtempSync(join(tmpdir(), 'co-rp-'));
    for (const t of node.tenants) {
      layRelease(join(root, 'etc/openclaw'), desired, t);
      mkdirSync(join(root, 'var/db/openclaw/secrets', t), { recursive: true, mode: 0o700 });
      for (const n of REPLAY_SECRETS) writeFileSync(join(root, 'var/db/openclaw/secrets', t, n), `${secretValue(NODE, t, n)}\n`, { mode: 0o600 });
    }
    mkdirSync(join(root, 'var/db/openclaw/clawops'), { recursive: true });
  };
  const listenNotifier = async (): Promise<{ server: Server; lines: string[] }> => {
    const lines: string[] = [];
    const server = createServer((c) => {
      let buf = '';
      c.on('data', (d: Buffer) => (buf += d.toString()));
      c.on('end', () => lines.push(...buf.split('\n').filter((l) => l !== '')));
    });
    await new Promise<void>((resolve) => server.listen(join(root, 'var/db/openclaw/clawops/notifier.sock'), resolve));
    sock = { server, lines };
    return sock;
  };
  const replay = (opts: Partial<ReplayOptions> = {}, transport = new LocalTransport(NODE, root)): Promise<ReplayReport> =>
    replayNode(transport, desired, node, { fixtures: fixturesFromDir(repo), run: 'test', ...opts });
  const noSecrets = (rep: ReplayReport): void => {
    const text = renderReplayText(rep) + replayJson(rep);
    for (const v of allSecretValues(NODE)) expect(text).not.toContain(v);
  };

  beforeAll(async () => {
    rcv = await startReceiver();
  });
  afterAll(async () => {
    await rcv?.close();
  });
  afterEach(async () => {
    rcv.received.length = 0;
    rcv.routes.clear();
    if (sock) await new Promise<void>((resolve) => sock!.server.close(() => resolve()));
    sock = undefined;
    rmSync(root, { recursive: true, force: true });
  });

  it('delivers each fixture to its endpoint, signed (HMAC of the exact body) or with the bearer token, and matches the recorded statuses', async () => {
    setup();
    routeAsRecorded(rcv, NODE);
    const rep = await replay();
    expect(rep.results.map((r) => [r.tenant, r.fixture, r.endpoint, r.auth, r.secret, r.expected, r.got, r.outcome])).toEqual([
      ['acme', ACME_FIXTURE, 'crm', 'hmac-sha256', 'webhook.crm', 200, 200, 'matched'],
      ['globex', GLOBEX_FIXTURE, 'tickets', 'bearer', 'token.current', 503, 503, 'matched'],
    ]);
    expect(rep.ok).toBe(true);
    expect(rep.notifier).toMatchObject({ attempted: 0, sent: 0 });
    const acme = rcv.received.find((r) => r.path === ACME_PATH)!;
    expect(acme.auth).toEqual({ ok: true, scheme: 'hmac', secret: 'current' });
    expect(acme.method).toBe('POST');
    expect(acme.body.toString()).toBe('{"event":"agent.completed","tenant":"acme","runId":"run_7f3a","status":"ok"}');
    expect(acme.headers).toMatchObject({ 'content-type': 'application/json', 'x-openclaw-event': 'agent.completed', 'x-clawops-replay': 'replay-test-dlv_01JD3Q7W8K2M' });
    expect(acme.headers.authorization).toBeUndefined();
    expect(rcv.received.find((r) => r.path === GLOBEX_PATH)!.auth).toEqual({ ok: true, scheme: 'bearer', secret: 'current' });
    expect(rep.results[0]!.host).toBe(`127.0.0.1:${rcv.port}`);
    expect(rep.results[0]!.release_id).toBe(desired.tenants.get('acme')!.releaseId);
    expect(Date.parse(rep.results[0]!.time)).not.toBeNaN();
    noSecrets(rep);
  });

  it.skipIf(!hasBash)('signs identically under bash --posix (macOS sh), keys with "6", "\\\\" and "%" included', async () => {
    setup();
    const awkward = '66\\%s%%6\\\\x6ünï';
    writeFileSync(join(root, 'var/db/openclaw/secrets/acme/webhook.crm'), `${awkward}\n`);
    routeAsRecorded(rcv, NODE);
    rcv.routes.set(ACME_PATH, { status: 200, auth: 'hmac', secrets: { awkward } });
    for (const t of [new LocalTransport(NODE, root), new BashTransport(NODE, root)]) {
      const rep = await replay({ tenants: ['acme'] }, t);
      expect(rep.results[0]!.outcome, JSON.stringify(rep.results[0])).toBe('matched');
    }
    // a key longer than the block size is hashed first
    const long = 'k'.repeat(65) + '6'.repeat(70);
    writeFileSync(join(root, 'var/db/openclaw/secrets/acme/webhook.crm'), long);
    rcv.routes.set(ACME_PATH, { status: 200, auth: 'hmac', secrets: { long } });
    expect((await replay({ tenants: ['acme'] }, new BashTransport(NODE, root))).results[0]!.outcome).toBe('matched');
    expect(rcv.received.every((r) => r.auth.ok)).toBe(true);
  });

  it('a mismatch is reported with what came back and written to the notifier socket as a valid failure line', async () => {
    setup();
    routeAsRecorded(rcv, NODE, 'current', { acme: 500 });
    const n = await listenNotifier();
    const rep = await replay();
    expect(rep.ok).toBe(false);
    expect(rep.results.map((r) => [r.fixture, r.got, r.outcome])).toEqual([
      [ACME_FIXTURE, 500, 'mismatch'],
      [GLOBEX_FIXTURE, 503, 'matched'],
    ]);
    expect(rep.notifier).toMatchObject({ attempted: 1, sent: 1 });
    await expect.poll(() => n.lines.length).toBe(1);
    const parsed = parseFailureLine(n.lines[0]!);
    expect(parsed.ok).toBe(true);
    expect(JSON.parse(n.lines[0]!)).toEqual({ tenant: 'acme', endpoint: rcv.url(ACME_PATH), status: 500, time: rep.results[0]!.time, delivery_id: 'replay-test-dlv_01JD3Q7W8K2M' });
    const text = renderReplayText(rep);
    if (process.env.SHOW) console.log(text);
    expect(text).toMatch(new RegExp(`acme +${ACME_FIXTURE.replace(/\./g, '\\.')} +127\\.0\\.0\\.1:${rcv.port} +expected 200 +got 500 +FAILED`));
    expect(text).toContain('Notifier: 1 failure line(s) written to');
  });

  it('--secret next authenticates with token.next (and the twin of a *.current signing secret)', async () => {
    setup();
    routeAsRecorded(rcv, NODE, 'next');
    const rep = await replay({ secret: 'next' });
    expect(rep.results.map((r) => [r.secret, r.outcome])).toEqual([
      ['token.next', 'matched'],
      ['token.next', 'matched'],
    ]);
    expect(rcv.received.map((r) => r.auth.ok && r.auth.secret)).toEqual(['next', 'next']);
    // the current secrets are now refused by this receiver: 401, not the recorded status
    const cur = await replay({ secret: 'current' });
    expect(cur.results.map((r) => r.got)).toEqual([401, 401]);
    expect(cur.notifier.error).toMatch(/no notifier socket at .*notifier\.sock on gw-1/);
    noSecrets(cur);
  });

  it('per-fixture trouble is an error result naming the secret or the endpoint, never the value; timeouts and refused connections are statuses', async () => {
    setup({ 'tenants/acme/webhook.d/10-base.yaml': null, 'tenants/acme/webhook.d/15-crm.yaml': `endpoints:\n  crm:\n    url: ${rcv.url(ACME_PATH)}\n    events: [agent.completed]\n    timeout_ms: 300\n    signing_secret: { secret_ref: webhook.crm }\n    fixture: ${ACME_FIXTURE}\n` });
    routeAsRecorded(rcv, NODE);
    rcv.routes.get(ACME_PATH)!.delayMs = 2000;
    rmSync(join(root, 'var/db/openclaw/secrets/globex/token.current'));
    const rep = await replay();
    expect(rep.results.map((r) => [r.tenant, r.got, r.outcome])).toEqual([
      ['acme', 'timeout', 'mismatch'],
      ['globex', null, 'error'],
    ]);
    expect(rep.results[1]!.message).toBe('secret token.current: missing or unreadable on the node');
    expect(rcv.received.filter((r) => r.path === GLOBEX_PATH)).toEqual([]);

    // a closed port: a network failure, reported with curl's words
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    rmSync(root, { recursive: true, force: true });
    setup(receiverEdits(rcv, { globex: `http://127.0.0.1:${port}${GLOBEX_PATH}` }));
    routeAsRecorded(rcv, NODE);
    const net = await replay({ tenants: ['globex'] });
    expect(net.results[0]).toMatchObject({ got: 'network', outcome: 'mismatch' });
    expect(net.results[0]!.message).toMatch(/connect/i);
  });

  it('replays what the node runs: a tenant without a release, an endpoint the node lacks, a disabled or canary-only endpoint', async () => {
    setup();
    routeAsRecorded(rcv, NODE);
    rmSync(join(root, 'etc/openclaw/tenants/globex'));
    // the repo now also names a fixture the node's release does not have
    const repo2 = exampleRepo({ ...receiverEdits(rcv), 'tenants/acme/webhook.d/30-more.yaml': `endpoints:\n  audit:\n    url: ${rcv.url('/audit')}\n    fixture: ${GLOBEX_FIXTURE}\n  canon:\n    url: ${rcv.url('/canon')}\n    canary: true\n    fixture: ${ACME_FIXTURE}\n  off:\n    url: ${rcv.url('/off')}\n    enabled: false\n    fixture: ${ACME_FIXTURE}\n` });
    const d2 = buildDesired(readTreeSync(repo2));
    const rep = await replayNode(new LocalTransport(NODE, root), d2, node, { fixtures: fixturesFromDir(repo2) });
    expect(rep.results.map((r) => [r.tenant, r.endpoint, r.outcome])).toEqual([
      ['acme', 'audit', 'error'],
      ['acme', 'canon', 'error'],
      ['acme', 'crm', 'matched'],
      ['globex', null, 'error'],
    ]);
    expect(rep.results[0]!.message).toMatch(/release [0-9a-f]{16} has no endpoint audit with this fixture: apply the repo first/);
    expect(rep.results[3]!.message).toBe('no current release: apply the tenant first');

    // lay out the release with a disabled and a canary-only fixture endpoint, replay from a non-canary node
    layRelease(join(root, 'etc/openclaw'), d2, 'acme');
    const rep2 = await replayNode(new LocalTransport(NODE, root), d2, { ...node, canary: false }, { fixtures: fixturesFromDir(repo2), tenants: ['acme'] });
    expect(rep2.results.map((r) => [r.endpoint, r.outcome, r.message])).toEqual([
      ['audit', 'mismatch', undefined],
      ['canon', 'skipped', 'canary-only endpoint and this node is not a canary'],
      ['crm', 'matched', undefined],
      ['off', 'skipped', 'endpoint disabled'],
    ]);
    expect(rep2.results[0]!.got).toBe(404);
  });

  it('refuses a tenant the node does not run, and a bearer token over plain http to another host', async () => {
    setup(receiverEdits(rcv, { globex: 'http://globex.invalid/api/openclaw-webhook' }));
    await expect(replay({ tenants: ['initech'] })).rejects.toThrow(/--tenant initech: not a tenant of node gw-1 \(it runs: acme, globex\)/);
    const rep = await replay({ tenants: ['globex'] });
    expect(rep.results[0]).toMatchObject({ outcome: 'error', message: 'refusing to send token.current as a bearer token over plain http to globex.invalid' });
  });
});
