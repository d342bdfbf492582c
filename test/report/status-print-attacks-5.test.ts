/**
 * Adversarial tests of one promise: the status views never print what clawops did not write. Strings that come from a
 * node (a notifier's digest, launchctl words, lock owners, guard runs) or from the repo (tags, refs) are fed through
 * the functions the controller uses (digestSummary → digestRecord → the store → buildStatusView) and every view is
 * checked: the text on a terminal (no raw control characters, nothing forges a line), the JSON (`clawops status
 * --json`, `GET /` as JSON, `GET /status`: nothing raw a terminal acts on), the page (data only in the escaped JSON
 * block; the HTML shell never depends on data), the Prometheus text (labels escaped, no injected line) and secrets.
 */
import { mkdtempSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { statusCommand } from '../../reconciler/commands/status.js';
import { digestRecord } from '../../reconciler/controller/derive.js';
import { GitMirror } from '../../reconciler/controller/git-mirror.js';
import { digestSummary } from '../../reconciler/controller/health-stage.js';
import { handler } from '../../reconciler/controller/server.js';
import { recordPass, type StatusDoc, type WebhookDigestSummary } from '../../reconciler/controller/status.js';
import { oneLine } from '../../reconciler/errors.js';
import { buildStatusView, type NoteView, type StatusView } from '../../reconciler/report/status-model.js';
import { StatusMetrics } from '../../reconciler/report/status-metrics.js';
import { renderStatusPage } from '../../reconciler/report/status-page.js';
import { renderStatusJson, renderStatusText } from '../../reconciler/report/status-text.js';
import { parsePrometheusText, sampleValue } from '../status/prom-text.js';
import { at, C1, C2, closedPort, fleetStatus, NOW, rec, silentLog, stateDir, tenant } from '../status/fixtures.js';

/** what a terminal acts on, in a text line: C0 (LF aside, which splits lines), DEL, C1, U+2028/2029 */
const RAW_TERM = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/;
/** what JSON.stringify leaves raw that a terminal acts on (it escapes C0 itself) */
const RAW_JSON = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const where = { kind: 'state-dir' as const, where: '/var/db/clawops-controller' };
const view = (doc: StatusDoc, notes?: Map<string, NoteView[]>): StatusView =>
  buildStatusView(doc, { now: new Date(NOW), from: notes ? { kind: 'observe', where: 'infra' } : where, ...(notes ? { notes } : {}) });
const rawLines = (text: string, re: RegExp = RAW_TERM): string[] => text.split('\n').filter((l) => re.test(l)).map((l) => JSON.stringify(l));

/** A notifier node's digest as the health stage reads it off the node (its body is the notifier's JSON). */
function notifierDigest(top: Record<string, unknown>[]): WebhookDigestSummary {
  const read = digestSummary(JSON.stringify({ window_sec: 300, total: 7, dropped: 0, overflow: 0, keys: top.length, top }), at(29));
  const d = digestRecord(read, undefined);
  if (!d) throw new Error('no digest');
  return d;
}

/** A tag git accepts (check-ref-format allows any byte >= 0x80): the 8-bit CSI and a line separator. */
const EVIL_TAG = 'release/2\u009b2J\u2028FORGED';

function taggedFleet(): StatusDoc {
  const d = fleetStatus();
  d.source.fleet = { ...d.source.fleet, tag: EVIL_TAG, ref: `refs/tags/${EVIL_TAG}` };
  d.source.canary = { ...d.source.canary, spec: 'refs/heads/main\u0085x', ref: 'refs/heads/main\u0085x' };
  d.commits[C2]!.tag = EVIL_TAG;
  const gw5 = d.nodes['gw-5']!;
  gw5.sync = { ...gw5.sync!, target: { ref: `refs/tags/${EVIL_TAG}`, commit: C2, tag: EVIL_TAG }, running: [{ commit: C1, tag: `release/1\u2029FORGED` }] };
  gw5.tenants['acme']!.sync = { ...gw5.tenants['acme']!.sync!, tag: EVIL_TAG };
  return d;
}

describe('the status views never print what clawops did not write', () => {
  it('text on a terminal: a notifier digest row whose first_seen/last_seen carry ESC, CR and LF inside a date V8 accepts ("2026-11-28 (…)") prints no raw control character and forges no line', () => {
    const d = fleetStatus();
    d.nodes['nw-1'] = rec('nw-1', {
      role: 'notifier',
      tenants: {},
      webhookDigest: notifierDigest([
        { tenant: 'acme', endpoint: 'https://hooks.example.com/x', family: '5xx', count: 7, statuses: { '503': 7 }, first_seen: '2026-11-28 (\r\nFORGED \u001b[2J)', last_seen: '2026-11-28(\n\u001b]0;pwned\u0007)' },
      ]),
    });
    const text = renderStatusText(view(d));
    expect(text).toContain('Webhook failures (notifier digests)');
    expect(rawLines(text)).toEqual([]);
    expect(text.split('\n').filter((l) => l.startsWith('FORGED'))).toEqual([]);
  });

  it('text on a terminal: tags and refs holding C1 (CSI, NEL) and U+2028/2029 stay escaped in every place a revision is printed (gate, wants, runs, held back, source pins)', () => {
    const text = renderStatusText(view(taggedFleet()));
    expect(rawLines(text)).toEqual([]);
    expect(text.split('\n').filter((l) => l.startsWith('FORGED'))).toEqual([]);
    expect(text).toContain('release/2\\x9b2J\\u2028FORGED');
    expect(text).toMatch(/\n {4}wants {3}release\/2\\x9b2J\\u2028FORGED/);
    expect(text).toMatch(/\n {4}runs {4}release\/1\\u2029FORGED/);
  });

  it('text on a terminal: lock owners, guard runs, launchctl words, token notes and pass ids with BEL, CR, NEL, CSI and U+2028/2029 each stay on their one line', () => {
    const d = fleetStatus();
    const evil = (s: string): string => `${s}\u0007\r\u0085\u009b2J\u2028\u2029FORGED`;
    d.nodes['gw-9'] = rec('gw-9', {
      state: 'Locked',
      reason: 'NodeLocked',
      message: `gw-9: locked by ${evil('bob@laptop')} (run ${evil('r1')}): an apply is running`,
      health: { status: 'degraded', message: `acme: ai.openclaw.acme is ${evil('spawn scheduled')}` },
      tenants: {
        acme: tenant('acme', { state: 'Degraded', reason: 'NotReloaded', message: `run ${evil('r0')} swapped to release ${evil('r9')} without recording it`, health: { status: 'degraded', service: evil('spawn scheduled'), pid: 7 } }),
      },
      lastError: { time: at(29), reason: 'NodeLocked', message: `locked by ${evil('bob')}` },
    });
    d.lastPass = { ...d.lastPass!, id: evil('r20261128'), outcome: 'ok' };
    const notes = new Map<string, NoteView[]>([
      ['gw-9', [
        { category: 'probe', severity: 'info', reason: 'PendingGuard', message: `dead-man guard of run ${evil('r7')} pending for acme: reverts in 30 s unless confirmed` },
        { category: 'token', severity: 'warning', reason: 'TokenMode', tenant: 'acme', message: `token.next has mode ${evil('644')}` },
      ]],
    ]);
    for (const v of [view(d), view(d, notes)]) {
      const text = renderStatusText(v);
      expect(rawLines(text)).toEqual([]);
      expect(text.split('\n').filter((l) => l.startsWith('FORGED') || l.startsWith('\u2028'))).toEqual([]);
    }
    const text = renderStatusText(view(d, notes));
    expect(text).toContain('    probe   dead-man guard of run r7\\x07\\r\\x85\\x9b2J\\u2028\\u2029FORGED pending');
    expect(text).toContain('    token   acme: token.next has mode 644\\x07');
  });

  it('JSON (clawops status --json, renderStatusJson): a digest tenant (C0 stripped, C1 kept by the health stage), a git tag and a lock owner note leave no raw DEL, C1 or U+2028/2029 a terminal acts on', () => {
    const d = taggedFleet();
    d.nodes['nw-1'] = rec('nw-1', {
      role: 'notifier',
      tenants: {},
      webhookDigest: notifierDigest([{ tenant: 'acme\u009b2J\u2028x\u007f', endpoint: 'https://hooks.example.com', family: 'timeout', count: 3, statuses: { timeout: 3 }, first_seen: at(20), last_seen: at(28) }]),
    });
    const notes = new Map<string, NoteView[]>([['gw-1', [{ category: 'drift', severity: 'info', reason: 'Locked', message: 'locked by mallory\u009b]0;pwned\u009c (run r1): an apply is running' }]]]);
    for (const v of [view(d), view(d, notes)]) {
      const json = renderStatusJson(v);
      expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(v)));
      expect(rawLines(json, RAW_JSON)).toEqual([]);
    }
  });

  it('JSON (the CLI itself: clawops status --state-dir DIR --json): a store holding a node-supplied digest tenant and a tag with C1 CSI and U+2028 writes nothing raw to stdout', async () => {
    const d = taggedFleet();
    d.nodes['nw-1'] = rec('nw-1', {
      role: 'notifier',
      tenants: {},
      webhookDigest: notifierDigest([{ tenant: 'acme\u009b2J\u2029', endpoint: 'https://hooks.example.com', family: '5xx', count: 1, statuses: { '500': 1 }, first_seen: at(20), last_seen: at(28) }]),
    });
    const dir = await stateDir(d);
    let out = '';
    let code = -1;
    await statusCommand({ stdout: (s) => (out += s), stderr: () => undefined }, (c) => (code = c), () => new Date(NOW)).parseAsync(['--state-dir', dir, '--json'], { from: 'user' });
    expect(code).toBe(1);
    expect((JSON.parse(out) as StatusView).kind).toBe('clawops.status');
    expect(rawLines(out, RAW_JSON)).toEqual([]);
  });

  it("JSON (GET / with Accept: application/json, what the page polls and curl prints): node data with C1 CSI and U+2028 is sent with nothing raw a terminal acts on", () => {
    const d = taggedFleet();
    d.nodes['gw-7']!.tenants['acme']!.health = { status: 'failed', service: 'exited\u009b2J\u2028', message: 'ai.openclaw.acme is exited\u009b2J' };
    const r = fakeGet(d, '/', 'application/json');
    expect(r.code).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect((JSON.parse(r.body) as StatusView).kind).toBe('clawops.status');
    expect(rawLines(r.body, RAW_JSON)).toEqual([]);
  });

  it('JSON (GET /status, the store as curl prints it): a tag and a launchctl word with C1 CSI and U+2028 are sent with nothing raw a terminal acts on', () => {
    const d = taggedFleet();
    d.nodes['gw-7']!.tenants['acme']!.health = { status: 'failed', service: 'exited\u009b2J\u2028', message: 'ai.openclaw.acme is exited' };
    const r = fakeGet(d, '/status', 'application/json');
    expect(r.code).toBe(200);
    expect(rawLines(r.body, RAW_JSON)).toEqual([]);
  });

  it('HTML page: hostile strings in every field the page draws (tenants, launchctl words, tags, pass changes, gate failure, digest rows, notes, source error) never reach the HTML outside the escaped data block, which parses back to the model', () => {
    const H = (s: string): string => `${s}</script><script>alert(1)</script><!--<img src=x onerror=alert(2)>" onmouseover="alert(3)' javascript:alert(4) </SCRIPT\t> <![CDATA[ \u2028\u2029 \ud800 \uff1cscript\uff1e &amp;`;
    const d = taggedFleet();
    d.source.fleet.tag = H('release/2');
    d.commits[C2]!.tag = H('release/2');
    d.source = { ...d.source, reason: 'SourceUnavailable', failures: 2, lastError: { time: at(29), reason: 'SourceUnavailable', message: H('cannot fetch') } };
    d.commits[C2]!.verdict = 'failed';
    d.commits[C2]!.failure = { time: at(29), reason: 'HealthCheckFailed', message: H('acme not ready'), node: H('gw-1') };
    d.nodes['gw-7']!.tenants = { [H('acme')]: tenant(H('acme'), { state: 'Degraded', reason: 'ServiceNotRunning', message: H('exited'), health: { status: 'failed', service: H('exited'), message: H('exited') }, probe: { source: 'probe', status: 'fail', code: 503, checks: [H('doctor:red')], error: H('refused'), at: at(29) }, tokens: { overlap: 'overlap', current: { present: true, mode: H('600'), mtime: H(at(1)) }, next: { present: true, mode: '600', mtime: at(2) } } }) };
    d.nodes['nw-1'] = rec('nw-1', { role: 'notifier', tenants: {}, webhookDigest: { at: at(29), error: H('not read'), errorAt: at(29), windowSec: 300, total: 1, dropped: 0, overflow: 0, keys: 1, rows: [{ tenant: H('acme'), endpoint: H('https://x'), family: H('5xx'), count: 1, statuses: { [H('503')]: 1 }, firstSeen: H(at(1)), lastSeen: H(at(2)) }] } });
    d.history = [{ id: H('r1'), startedAt: at(1), finishedAt: at(2), outcome: H('PassFailed'), message: H('boom'), durationMs: 1, nodes: [{ node: H('gw-3'), to: 'Failed', reason: H('ApplyFailed'), message: H('commit message') }], fannedOut: { commit: C1, tag: H('release/1') }, verdicts: [] }];
    const notes = new Map<string, NoteView[]>([['gw-7', [{ category: 'probe', severity: 'info', reason: 'PendingGuard', message: H('guard of run r7') }, { category: 'token', severity: 'warning', reason: 'TokenMode', tenant: H('acme'), message: H('mode 644') }]]]);
    const shell = (html: string): string => html.replace(/(<script type="application\/json" id="clawops-data">)[^<]*(<\/script>)/, '$1$2');
    const plain = shell(renderStatusPage(view(fleetStatus()), { refreshMs: 2000 }));
    for (const v of [view(d), view(d, notes)]) {
      const html = renderStatusPage(v, { refreshMs: 2000 });
      expect(shell(html)).toBe(plain);
      const block = /<script type="application\/json" id="clawops-data">([^<]*)<\/script>/.exec(html);
      expect(block).not.toBeNull();
      expect(block![1]).not.toMatch(/[<>&\u2028\u2029]/);
      expect(JSON.parse(block![1]!)).toEqual({ view: JSON.parse(JSON.stringify(v)), refreshMs: 2000 });
      expect(html.match(/<script\b/gi)).toHaveLength(2);
    }
  });

  it('Prometheus text: node and tenant names holding ", \\ and LF (and two names that differ only by a backslash) are escaped so nothing injects a label, a line or a series; node text (messages, tags, unknown digest tenants with ESC/C1) never reaches a label', async () => {
    const N1 = 'gw-"} 1\nclawops_forged{x="y';
    const N2 = 'gw-a\\nb';
    const N3 = 'gw-a\nb';
    const T = 'ac"me\\x';
    const T2 = 'ac"me\n';
    const d = taggedFleet();
    d.nodes[N1] = rec(N1, { state: 'Failed', reason: 'ApplyFailed', message: 'SECRETMSG \u001b[2J', tenants: { [T]: tenant(T, { probe: { source: 'probe', status: 'degraded', code: 200, checks: ['doctor:yellow'], at: at(29) } }), [T2]: tenant(T2, { probe: { source: 'gateway', status: 'fail', code: 503, checks: [], at: at(29) } }) } });
    d.nodes[N2] = rec(N2);
    d.nodes[N3] = rec(N3, { state: 'Degraded', reason: 'ServiceNotRunning' });
    d.nodes['nw-1'] = rec('nw-1', {
      role: 'notifier',
      tenants: {},
      webhookDigest: notifierDigest([
        { tenant: T, endpoint: 'https://hooks.example.com', family: '5xx', count: 5, statuses: { '503': 5 }, first_seen: at(20), last_seen: at(28) },
        { tenant: 'evil\u009b2J\u2028\u001b]0;x', endpoint: 'https://hooks.example.com', family: '5xx', count: 2, statuses: { '503': 2 }, first_seen: at(20), last_seen: at(28) },
      ]),
    });
    recordPass(d);
    const text = await new StatusMetrics(() => new Date(NOW)).render(d);
    expect(rawLines(text)).toEqual([]);
    const fams = parsePrometheusText(text);
    expect([...fams.keys()].filter((k) => !k.startsWith('clawops_') || k.startsWith('clawops_forged'))).toEqual([]);
    expect(sampleValue(fams, 'clawops_node_state', { node: N1, state: 'Failed' })).toBe(1);
    expect(sampleValue(fams, 'clawops_node_state', { node: N2, state: 'Synced' })).toBe(1);
    expect(sampleValue(fams, 'clawops_node_state', { node: N3, state: 'Degraded' })).toBe(1);
    expect(sampleValue(fams, 'clawops_tenant_probe', { node: N1, tenant: T, status: 'degraded' })).toBe(1);
    expect(sampleValue(fams, 'clawops_tenant_probe', { node: N1, tenant: T2, status: 'fail' })).toBe(1);
    expect(sampleValue(fams, 'clawops_webhook_failures', { node: 'nw-1', tenant: T })).toBe(5);
    expect(sampleValue(fams, 'clawops_webhook_failures', { node: 'nw-1', tenant: 'other' })).toBe(2);
    expect(text).not.toMatch(/SECRETMSG|FORGED|evil|release\/2/);
  });

  it('secrets: a fetch of an infra repo URL carrying a password or a GitHub token fails, and no status view (text, JSON, page, metrics) prints the secret', async () => {
    const port = await closedPort();
    const base = mkdtempSync(join(tmpdir(), 'clawops-attack5-'));
    const urls = [`http://alice:hunter2-S3CRET-pw@127.0.0.1:${port}/infra.git`, `https://ghp_AAAAbbbbCCCCdddd1234567890SECRET@127.0.0.1:${port}/infra.git`];
    for (const [i, url] of urls.entries()) {
      const mirror = new GitMirror(url, join(base, `m${i}`));
      let err: unknown;
      await mirror.fetch().then(() => undefined, (e: unknown) => (err = e));
      expect(err).toBeDefined();
      // as pass.ts fetchSource and loop.ts record it
      const d = fleetStatus();
      d.controller.repo = mirror.origin;
      const message = oneLine(err);
      d.source = { ...d.source, origin: mirror.origin, reason: 'SourceUnavailable', failures: 1, lastError: { time: at(29), reason: 'SourceUnavailable', message } };
      d.lastPass = { ...d.lastPass!, outcome: 'SourceUnavailable', message };
      const v = view(d);
      const views = [renderStatusText(v), renderStatusJson(v), renderStatusPage(v), await new StatusMetrics(() => new Date(NOW)).render(d), fakeGet(d, '/status', 'application/json').body];
      for (const s of views) expect(s).not.toMatch(/hunter2|S3CRET|ghp_AAAA/);
      expect(renderStatusText(v)).toContain('SourceUnavailable');
    }
  }, 60_000);
});

/** One GET through the controller's HTTP handler, in process. */
function fakeGet(doc: StatusDoc, path: string, accept?: string): { code: number; headers: Record<string, string>; body: string } {
  const r = { code: 0, headers: {} as Record<string, string>, body: '' };
  const req = { url: path, method: 'GET', headers: accept ? { accept } : {} } as unknown as IncomingMessage;
  const res = {
    setHeader: () => undefined,
    writeHead: (code: number, headers: Record<string, string>) => {
      r.code = code;
      r.headers = headers;
    },
    end: (text: string) => {
      r.body = text;
    },
  } as unknown as ServerResponse;
  handler({ status: () => doc, alive: () => true, trigger: () => undefined, log: silentLog(), now: () => new Date(NOW) })(req, res);
  return r;
}
