/**
 * Adversarial run 8: `replayNode` (the library behind `clawops replay` and the controller's replay stage) on a hostile
 * node, over the local transport (a node is a directory; `<root>/usr/local/bin` is first on the node's PATH, so a
 * shim there stands for a node whose curl/openssl misbehaves). Each test asserts one promise on one variant:
 *  P1 nothing outside clawops' tree is followed (tenants/<t> links, secrets dirs and files, the notifier socket);
 *  P2 a refusal is one result/line, no hang;
 *  P4 nothing the node says is printed raw, no secret value appears in any output.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import type { DesiredState, NodeSpec } from '../../reconciler/desired/types.js';
import { fixturesFromDir } from '../../reconciler/replay/fixtures.js';
import { replayNode, type ReplayOptions, type ReplayReport } from '../../reconciler/replay/replay.js';
import { renderReplayText, replayJson } from '../../reconciler/replay/report.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { LocalTransport } from '../../reconciler/transport/local-transport.js';
import { layRelease } from '../helpers/release.js';
import { exampleRepo, type Edit } from '../helpers/repo.js';
import { secretValue } from '../helpers/secrets.js';
import { startReceiver, type Receiver } from './receiver.js';
import { ACME_FIXTURE, ACME_PATH, allSecretValues, GLOBEX_PATH, receiverEdits, REPLAY_SECRETS, routeAsRecorded } from './setup.js';

const NODE = 'gw-1';
// C0 (but tab/newline), DEL, C1: a terminal may act on any of them
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe('replay on a hostile node (adversarial run 8)', () => {
  let rcv: Receiver;
  let root: string;
  let outside: string;
  let repo: string;
  let desired: DesiredState;
  let node: NodeSpec;
  const servers: Server[] = [];

  const setup = (edits: Record<string, Edit> = {}): void => {
    repo = exampleRepo({ ...receiverEdits(rcv), ...edits });
    desired = buildDesired(readTreeSync(repo));
    expect(desired.findings.filter((f) => f.severity === 'error')).toEqual([]);
    node = desired.nodes.find((n) => n.name === NODE)!;
    root = mkdtempSync(join(tmpdir(), 'co-rp8-'));
    outside = mkdtempSync(join(tmpdir(), 'co-rp8-outside-'));
    for (const t of node.tenants) {
      layRelease(join(root, 'etc/openclaw'), desired, t);
      mkdirSync(join(root, 'var/db/openclaw/secrets', t), { recursive: true, mode: 0o700 });
      for (const n of REPLAY_SECRETS) writeFileSync(join(root, 'var/db/openclaw/secrets', t, n), `${secretValue(NODE, t, n)}\n`, { mode: 0o600 });
    }
    mkdirSync(join(root, 'var/db/openclaw/clawops'), { recursive: true });
    mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
  };
  const secrets = (t: string): string => join(root, 'var/db/openclaw/secrets', t);
  const shim = (name: string, body: string): void => {
    const f = join(root, 'usr/local/bin', name);
    writeFileSync(f, `#!/bin/sh\n${body}\n`);
    chmodSync(f, 0o755);
  };
  const listen = async (path: string, onConn?: (c: import('node:net').Socket) => void): Promise<string[]> => {
    const lines: string[] = [];
    const server = createServer((c) => {
      let buf = '';
      onConn?.(c);
      c.on('data', (d: Buffer) => (buf += d.toString()));
      c.on('end', () => lines.push(...buf.split('\n').filter((l) => l !== '')));
      c.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    servers.push(server);
    return lines;
  };
  const replay = (opts: Partial<ReplayOptions> = {}): Promise<ReplayReport> =>
    replayNode(new LocalTransport(NODE, root), desired, node, { fixtures: fixturesFromDir(repo), run: 'rp8', ...opts });
  const allOutput = (rep: ReplayReport): string => renderReplayText(rep) + replayJson(rep);

  beforeAll(async () => {
    rcv = await startReceiver();
  });
  afterAll(async () => {
    await rcv?.close();
  });
  afterEach(async () => {
    rcv.received.length = 0;
    rcv.routes.clear();
    for (const s of servers.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
    if (root) rmSync(root, { recursive: true, force: true });
    if (outside) rmSync(outside, { recursive: true, force: true });
  });

  // ---------------------------------------------------------------- P1: secrets reached through links

  // fixed (was: DELIVER_SCRIPT reads the secret with `[ -f "$sf" ]` + `cat`, following a symlinked secrets/<t> dir: globex's endpoint gets acme's bearer token)
  it('P1 a symlinked secrets/<t> (another tenant\'s secrets) is not read through: no delivery carries the other tenant\'s token', async () => {
    setup();
    routeAsRecorded(rcv, NODE);
    rmSync(secrets('globex'), { recursive: true, force: true });
    symlinkSync('acme', secrets('globex'));
    const rep = await replay({ tenants: ['globex'] });
    const acmeToken = secretValue(NODE, 'acme', 'token.current');
    const leaked = rcv.received.filter((r) => r.headers.authorization === `Bearer ${acmeToken}`);
    expect(leaked, 'acme\'s token.current was sent to globex\'s endpoint').toEqual([]);
    expect(rep.results[0]).toMatchObject({ tenant: 'globex', outcome: 'error', inconclusive: 'node' });
    expect(rep.results[0]!.message).toContain('token.current');
  });

  // fixed (was: DELIVER_SCRIPT follows a secret file that is a symlink to a file outside /var/db/openclaw/secrets and sends its content as the bearer token)
  it('P1 a secret file that is a symlink to a file outside the secrets tree is not read: nothing is sent with its content', async () => {
    setup();
    routeAsRecorded(rcv, NODE);
    const foreign = join(outside, 'someone-elses-credential');
    writeFileSync(foreign, 'outside-value-9f8e7d6c5b4a\n', { mode: 0o600 });
    rmSync(join(secrets('globex'), 'token.current'));
    symlinkSync(foreign, join(secrets('globex'), 'token.current'));
    const rep = await replay({ tenants: ['globex'] });
    expect(rcv.received.filter((r) => String(r.headers.authorization ?? '').includes('outside-value-9f8e7d6c5b4a')), 'an outside file was read and sent').toEqual([]);
    expect(rep.results[0]).toMatchObject({ outcome: 'error', inconclusive: 'node' });
  });

  it('P2 a secret file that is a FIFO is an error result naming the secret, at once (no hang)', async () => {
    setup();
    routeAsRecorded(rcv, NODE);
    rmSync(join(secrets('globex'), 'token.current'));
    expect(spawnSync('mkfifo', [join(secrets('globex'), 'token.current')]).status).toBe(0);
    const t0 = Date.now();
    const rep = await replay({ tenants: ['globex'] });
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(rep.results[0]).toMatchObject({ outcome: 'error', inconclusive: 'node', message: 'secret token.current: missing or unreadable on the node' });
    expect(rcv.received).toEqual([]);
  }, 20_000);

  it('P2 a secret file that is a symlink to /dev/zero is an error result, no hang', async () => {
    setup();
    routeAsRecorded(rcv, NODE);
    rmSync(join(secrets('globex'), 'token.current'));
    symlinkSync('/dev/zero', join(secrets('globex'), 'token.current'));
    const t0 = Date.now();
    const rep = await replay({ tenants: ['globex'] });
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(rep.results[0]).toMatchObject({ outcome: 'error', inconclusive: 'node' });
    expect(rcv.received).toEqual([]);
  }, 20_000);

  it('P2 an empty secret file is an error result naming the secret; nothing is sent', async () => {
    setup();
    routeAsRecorded(rcv, NODE);
    writeFileSync(join(secrets('acme'), 'webhook.crm'), '');
    const rep = await replay({ tenants: ['acme'] });
    expect(rep.results[0]).toMatchObject({ outcome: 'error', inconclusive: 'node', message: 'secret webhook.crm: empty' });
    expect(rcv.received).toEqual([]);
  });

  // fixed (was: DELIVER_SCRIPT reads the whole secret (`key=$(cat "$sf")`, no bound): a 64 MiB secret file holds the delivery until the command times out and replayNode throws instead of a per-fixture error)
  it('P2 a huge secret file (64 MiB, one line) is refused as an error result naming the secret, quickly', async () => {
    setup();
    routeAsRecorded(rcv, NODE);
    writeFileSync(join(secrets('acme'), 'webhook.crm'), Buffer.alloc(64 * 1024 * 1024, 0x61));
    const t0 = Date.now();
    const rep = await replay({ tenants: ['acme'] }).catch((e: unknown) => e as Error);
    const took = Date.now() - t0;
    expect(rep instanceof Error ? `threw: ${rep.message}` : 'a report').toBe('a report');
    expect(took, `a 64 MiB secret was read whole: ${JSON.stringify((rep as ReplayReport).results[0])}`).toBeLessThan(3000);
    expect((rep as ReplayReport).results[0]).toMatchObject({ outcome: 'error', inconclusive: 'node' });
    expect((rep as ReplayReport).results[0]!.message).toContain('webhook.crm');
  }, 90_000);

  it('P4 a secret holding terminal escapes (no newline) signs correctly and its value appears nowhere in the output', async () => {
    setup();
    const awful = '\u001b]0;owned\u0007\u001b[2Jk3y';
    writeFileSync(join(secrets('acme'), 'webhook.crm'), awful);
    rcv.routes.set(ACME_PATH, { status: 200, auth: 'hmac', secrets: { awful } });
    const rep = await replay({ tenants: ['acme'] });
    expect(rep.results[0]!.outcome, JSON.stringify(rep.results[0])).toBe('matched');
    const out = allOutput(rep);
    expect(out).not.toContain('k3y');
    expect(out).not.toMatch(RAW_CONTROL);
  });

  // ---------------------------------------------------------------- P1: the release link pointing elsewhere

  // fixed (was: READ_WEBHOOKS_SCRIPT follows tenants/<t> wherever it points (only `[ -d ]`), so a link to a directory outside /etc/openclaw/releases is read and its endpoints get deliveries)
  it('P1 tenants/<t> linking to a directory outside releases/ is not read: no delivery, an error result', async () => {
    setup();
    routeAsRecorded(rcv, NODE);
    const etc = join(root, 'etc/openclaw');
    const rel = readFileSync(join(etc, 'tenants/globex', 'webhook.json'), 'utf8');
    const elsewhere = join(outside, 'not-a-release');
    cpSync(join(etc, 'tenants/globex/'), elsewhere, { recursive: true, dereference: true });
    writeFileSync(join(elsewhere, 'webhook.json'), rel);
    rmSync(join(etc, 'tenants/globex'));
    symlinkSync(elsewhere, join(etc, 'tenants/globex'));
    const rep = await replay({ tenants: ['globex'] });
    expect(rcv.received.map((r) => r.path), 'a delivery was made from a webhook.json outside the tree').toEqual([]);
    expect(rep.results[0]).toMatchObject({ tenant: 'globex', outcome: 'error' });
  });

  // ---------------------------------------------------------------- P1: the notifier socket

  // fixed (was: NOTIFY_SCRIPT's `[ -S "$s" ]` and perl's connect follow a notifier.sock that is a symlink to a socket outside the tree, and write the failure lines there)
  it('P1 a notifier.sock that is a symlink to a socket outside the tree gets no failure lines', async () => {
    setup();
    routeAsRecorded(rcv, NODE, 'current', { acme: 500 });
    const foreignSock = join(outside, 'foreign.sock');
    const got = await listen(foreignSock);
    symlinkSync(foreignSock, join(root, 'var/db/openclaw/clawops/notifier.sock'));
    const rep = await replay({ tenants: ['acme'] });
    expect(rep.results[0]!.outcome).toBe('mismatch');
    await new Promise((r) => setTimeout(r, 300));
    expect(got, 'failure lines were written through the link').toEqual([]);
    expect(rep.notifier.sent).toBe(0);
    expect(rep.notifier.error).toBeDefined();
  });

  // fixed (was: NOTIFY_SCRIPT writes to VARDB/clawops/notifier.sock through a symlinked clawops dir (specs/on-node-layout.md: clawops' own dir must be a real directory))
  it('P1 a clawops dir that is a symlink to a directory outside the tree: no failure line is written through it', async () => {
    setup();
    routeAsRecorded(rcv, NODE, 'current', { acme: 500 });
    const dir = join(outside, 'elsewhere');
    mkdirSync(dir);
    const got = await listen(join(dir, 'notifier.sock'));
    rmSync(join(root, 'var/db/openclaw/clawops'), { recursive: true });
    symlinkSync(dir, join(root, 'var/db/openclaw/clawops'));
    const rep = await replay({ tenants: ['acme'] });
    expect(rep.results[0]!.outcome).toBe('mismatch');
    await new Promise((r) => setTimeout(r, 300));
    expect(got, 'failure lines were written through the linked clawops dir').toEqual([]);
    expect(rep.notifier.sent).toBe(0);
  });

  it('P4 a notifier socket held by something that echoes what it gets: the run ends, nothing it says reaches the output', async () => {
    setup();
    routeAsRecorded(rcv, NODE, 'current', { acme: 500 });
    await listen(join(root, 'var/db/openclaw/clawops/notifier.sock'), (c) => {
      c.write('\u001b[2J\u001b]0;pwned\u0007 hello\n');
      c.on('data', (d: Buffer) => c.write(d));
    });
    const rep = await replay({ tenants: ['acme'] });
    expect(rep.notifier).toMatchObject({ attempted: 1, sent: 1 });
    const out = allOutput(rep);
    expect(out).not.toContain('pwned');
    expect(out).not.toMatch(RAW_CONTROL);
  });

  // ---------------------------------------------------------------- the node's programs

  // fixed (was: a hanging openssl (or curl shim) makes runScript time out; deliver() does not catch the SshError, so replayNode throws and the other tenants' fixtures are never delivered)
  it('P2 an openssl that hangs on the node is one error result (inconclusive node) and the other fixtures are still delivered', async () => {
    setup({
      'tenants/acme/webhook.d/10-base.yaml': null,
      'tenants/acme/webhook.d/15-crm.yaml': `endpoints:\n  crm:\n    url: ${rcv.url(ACME_PATH)}\n    events: [agent.completed]\n    timeout_ms: 300\n    signing_secret: { secret_ref: webhook.crm }\n    fixture: ${ACME_FIXTURE}\n`,
    });
    routeAsRecorded(rcv, NODE);
    shim('openssl', 'exec sleep 600');
    const rep = await replay().catch((e: unknown) => e as Error);
    expect(rep instanceof Error ? `threw: ${rep.message}` : 'a report').toBe('a report');
    const r = rep as ReplayReport;
    expect(r.results.map((x) => [x.tenant, x.outcome, x.inconclusive])).toEqual([
      ['acme', 'error', 'node'],
      ['globex', 'matched', undefined],
    ]);
    expect(rcv.received.map((x) => x.path)).toEqual([GLOBEX_PATH]);
  }, 60_000);

  // fixed (was: replayJson (and the controller's status.json) use JSON.stringify, which leaves C1 controls (U+009B CSI) raw; curl's error text from the node reaches `message` unescaped)
  it('P4 curl\'s error words holding C1 controls (CSI) are not printed raw, in the text or the --json report', async () => {
    setup();
    routeAsRecorded(rcv, NODE);
    // a curl that fails with exit 7 and a message holding ESC and the 8-bit CSI (U+009B as UTF-8)
    shim('curl', `printf 'curl: (7) Failed \\033]0;pwned\\007 \\302\\2332J to connect\\n' >&2\nprintf '000 0.001'\nexit 7`);
    const rep = await replay({ tenants: ['globex'] });
    expect(rep.results[0]).toMatchObject({ got: 'network', outcome: 'mismatch', inconclusive: 'no-answer' });
    expect(renderReplayText(rep)).not.toMatch(RAW_CONTROL);
    expect(replayJson(rep)).not.toMatch(RAW_CONTROL);
  });

  it('P4 no secret value is on curl\'s command line: a curl that prints its argv in its error leaks none', async () => {
    setup();
    routeAsRecorded(rcv, NODE);
    // a curl wrapper that logs its whole command line on failure: the secret is never on it
    shim('curl', `echo "curl: (6) Could not resolve host; argv: $*" >&2; exit 6`);
    const rep = await replay();
    expect(rep.results.every((r) => r.outcome === 'mismatch'), JSON.stringify(rep.results)).toBe(true);
    const out = allOutput(rep);
    for (const v of allSecretValues(NODE)) expect(out).not.toContain(v);
  });
});
