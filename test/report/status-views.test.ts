/**
 * The views of the status model, pure: the text on-call reads, the JSON (stable field names, specs/status.md), the
 * page's HTML shell (data only in an escaped JSON block, CSP hashes that match) and the Prometheus text.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CONTROLLER_STATES, recordPass, type StatusDoc } from '../../reconciler/controller/status.js';
import { buildStatusView, type StatusView } from '../../reconciler/report/status-model.js';
import { StatusMetrics } from '../../reconciler/report/status-metrics.js';
import { jsonForHtml, PAGE_CSP, renderStatusPage } from '../../reconciler/report/status-page.js';
import { renderStatusJson, renderStatusText, summaryLine } from '../../reconciler/report/status-text.js';
import { parsePrometheusText, sampleValue } from '../status/prom-text.js';
import { at, C1, C2, fleetStatus, NOW, rec } from '../status/fixtures.js';

const view = (doc: StatusDoc = fleetStatus(), now = NOW): StatusView => buildStatusView(doc, { now: new Date(now), from: { kind: 'state-dir', where: '/var/db/clawops-controller' } });
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const EVIL = '\x1b]0;pwned\x07\x1b[2J\u009b1A\r\nFORGED line';

describe('renderStatusText', () => {
  const text = renderStatusText(view());
  const lines = text.split('\n');

  it('starts with the source and a summary line of counts per state, worst first', () => {
    expect(lines[0]).toBe('clawops status  state-dir /var/db/clawops-controller · auto · repo git@git.example.internal:infra.git');
    expect(lines[1]).toBe('last pass r20261128t123000-aaaaaa ok in 4.2 s, 0 s ago');
    expect(text).toContain(`\ngate release/2 ${C2.slice(0, 7)}: pending; waiting for canary gw-1 green 1/2 on ${C2.slice(0, 7)}\n`);
    expect(text).toContain('\n8 node(s): 1 RolledBack, 1 Unreachable, 1 Blocked, 1 Degraded, 1 Gated, 1 Progressing, 2 Synced\n');
    expect(summaryLine(view())).toBe('8 node(s): 1 RolledBack, 1 Unreachable, 1 Blocked, 1 Degraded, 1 Gated, 1 Progressing, 2 Synced');
  });

  it('one block per node that is not Synced, under triage headings in order; Synced nodes fold into one line', () => {
    const headings = lines.filter((l) => /^[A-Z]/.test(l) && !/^(Synced|Not all|All nodes)/.test(l)).slice(-5);
    expect(headings).toEqual(['Unreachable', 'Directory drift', 'Version skew', 'Probe', 'Rollout (apply, gating, config)']);
    expect(lines.filter((l) => /^ {2}gw-\d/.test(l)).map((l) => l.split(' ')[2])).toEqual(['gw-4', 'gw-6', 'gw-5', 'gw-3', 'gw-7', 'gw-2']);
    expect(text).toContain('\nSynced: gw-1, gw-8\n');
    expect(text).not.toMatch(/^ {2}gw-[18] /m);
    expect(text.trimEnd().split('\n').pop()).toBe('Not all green: 6 node(s) need attention');
  });

  it('a block says why, since when, what runs against what is wanted, and the next step', () => {
    const block = text.slice(text.indexOf('  gw-2 '), text.indexOf('\n\n', text.indexOf('  gw-2 ')));
    expect(block.split('\n')).toEqual([
      `  gw-2 [gateway] Gated: Gated since 2026-11-28 12:20:00Z (10 min ago)`,
      `    why     release/2 gated: canary gw-1 has been green on ${C2.slice(0, 7)} for 1 of 2 passes`,
      `    runs    release/1 ${C1.slice(0, 7)} · openclaw 2026.9.6`,
      `    wants   release/1 ${C1.slice(0, 7)} · holding back release/2 ${C2.slice(0, 7)}`,
      `    next    gated: waiting for canary gw-1 green 1/2 on ${C2.slice(0, 7)}`,
    ]);
    const rb = text.slice(text.indexOf('  gw-3 '), text.indexOf('  gw-7 '));
    expect(rb).toContain('    runs    release/0 c0ffee0 · openclaw 2026.9.6\n');
    expect(rb).toContain('    tenant  acme RolledBack Changed release r0-9999999999999 → r1-0000000000000 health ok running pid 4242: acme: release r1-0000000000000 not ready within 60 s: HTTP 503\n');
    expect(rb).toContain('    backoff 1 failure(s) (apply); next attempt after 2026-11-28 12:30:30Z\n');
    expect(rb).toMatch(/ {4}next {4}acme is back on its previous release/);
  });

  it('says token overlap per tenant: in the block of a node that is not Synced, under the Synced line for the others', () => {
    const d = fleetStatus();
    d.nodes['gw-7']!.tenants['acme']!.tokens = { overlap: 'not-rotated', current: { present: true, mode: '644', mtime: at(1) }, next: { present: true, mode: '600', mtime: at(2) } };
    d.nodes['gw-8']!.tenants['acme']!.tokens = { overlap: 'overlap', current: { present: true, mode: '600', mtime: at(1) }, next: { present: true, mode: '600', mtime: at(2) } };
    d.nodes['gw-1']!.tenants['acme']!.tokens = { overlap: 'single', current: { present: true, mode: '600', mtime: at(1) }, next: { present: false } };
    const t = renderStatusText(view(d));
    expect(t).toContain('\n    token   acme: token.next equals token.current: nothing to rotate; token.current has mode 644\n');
    expect(t).toContain('\nSynced: gw-1, gw-8\n  gw-8 token acme: rotation in progress: token.next (2026-11-28 12:02Z) staged beside token.current (2026-11-28 12:01Z)\n');
    expect(t).not.toMatch(/gw-1 token/);
  });

  it('all green: the summary, the folded line and the verdict', () => {
    const d = fleetStatus();
    d.nodes = { 'gw-1': rec('gw-1'), 'gw-2': rec('gw-2') };
    const t = renderStatusText(view(d));
    expect(t).toContain('\n2 node(s): 2 Synced\n\nSynced: gw-1, gw-2\n\nAll nodes Synced and healthy\n');
  });

  it('escapes control characters in every string from a node, the repo or an error: nothing forges a line', () => {
    const d = fleetStatus();
    const evil = `gw-9${EVIL}`;
    d.nodes[evil] = rec(evil, { state: 'Failed', reason: `ApplyFailed${EVIL}`, message: `boom${EVIL}`, role: `gateway${EVIL}`, openclaw: `2026${EVIL}`, lastError: { time: NOW, reason: 'X', message: `err${EVIL}` } });
    d.controller.repo = `https://git.example.internal/${EVIL}`;
    d.lastPass = { ...d.lastPass!, outcome: `PassFailed${EVIL}`, message: `m${EVIL}` };
    const t = renderStatusText(view(d));
    expect(RAW_CONTROL.test(t), JSON.stringify(t)).toBe(false);
    expect(t.split('\n').filter((l) => l.startsWith('FORGED'))).toEqual([]);
    expect(t).toContain('gw-9\\e]0;pwned\\x07\\e[2J\\x9b1A\\r\\nFORGED line [gateway\\e]0;pwned');
    expect(t).toContain('    why     boom\\e]0;pwned');
  });
});

describe('renderStatusJson: the model, stable field names (specs/status.md)', () => {
  it('round-trips and keeps its documented keys', () => {
    const v = view();
    const j = JSON.parse(renderStatusJson(v)) as StatusView;
    expect(j).toEqual(JSON.parse(JSON.stringify(v)));
    expect(Object.keys(j)).toEqual(['kind', 'version', 'generatedAt', 'from', 'controller', 'source', 'lastPass', 'stale', 'summary', 'ok', 'problems', 'nodes', 'triage', 'synced', 'gate', 'webhookFailures', 'passes']);
    expect(j).toMatchObject({ kind: 'clawops.status', version: 1 });
    expect(Object.keys(j.nodes.find((n) => n.node === 'gw-3')!)).toEqual([
      'node', 'role', 'canary', 'follows', 'state', 'reason', 'message', 'triage', 'categories', 'since', 'syncStatus', 'differences', 'health', 'desired', 'running', 'suspended', 'backoff', 'lastError', 'tenants', 'tokens', 'notes', 'next',
    ]);
    expect(Object.keys(j.nodes.find((n) => n.node === 'gw-3')!.tenants[0]!)).toEqual(['tenant', 'state', 'reason', 'message', 'sync', 'desiredRelease', 'currentRelease', 'commit', 'tag', 'health', 'service', 'pid', 'since']);
    expect(Object.keys(j.gate!)).toEqual(['commit', 'ref', 'tag', 'verdict', 'required', 'open', 'fannedOut', 'canaries', 'summary']);
  });
});

describe('renderStatusPage', () => {
  const hostile = (): StatusView => {
    const d = fleetStatus();
    const name = 'gw-9</script><script>alert(1)</script>';
    d.nodes[name] = rec(name, { state: 'Failed', reason: 'ApplyFailed', message: '<img src=x onerror=alert(2)> & </SCRIPT > <!--', lastError: { time: NOW, reason: 'ApplyFailed', message: '<script>alert(3)</script>' } });
    return view(d);
  };

  it('puts data only in the JSON block, with <, > and & escaped, so nothing closes it', () => {
    const v = hostile();
    const html = renderStatusPage(v, { refreshMs: 2000 });
    expect(html.match(/<script\b/gi)).toHaveLength(2);
    expect(html.match(/<\/script/gi)).toHaveLength(2);
    expect(html).not.toContain('alert(1)</');
    expect(html).not.toContain('<img');
    const block = /<script type="application\/json" id="clawops-data">([^<]*)<\/script>/.exec(html);
    expect(block).not.toBeNull();
    expect(JSON.parse(block![1]!)).toEqual({ view: JSON.parse(JSON.stringify(v)), refreshMs: 2000 });
    expect(jsonForHtml({ s: '<>&\u2028\u2029' })).toBe('{"s":"\\u003c\\u003e\\u0026\\u2028\\u2029"}');
  });

  it('its CSP allows exactly its own inline script and style (by hash), and connections only to the controller', () => {
    const html = renderStatusPage(view());
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    const h = (s: string): string => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
    expect(PAGE_CSP).toContain(`script-src ${h(script)};`);
    expect(PAGE_CSP).toContain(`style-src ${h(style)};`);
    expect(PAGE_CSP).toMatch(/^default-src 'none'; .*connect-src 'self';/);
    // the script never writes HTML: no innerHTML, outerHTML, insertAdjacentHTML or document.write
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    // nothing from elsewhere
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).toContain('@media (max-width: 760px)');
  });
});

describe('StatusMetrics: Prometheus text from the status model', () => {
  it('is valid exposition text with a gauge per state, bounded labels, counters from the store and a histogram of the passes it saw', async () => {
    const m = new StatusMetrics(() => new Date(NOW));
    const d0 = fleetStatus();
    recordPass(d0); // as the store does when it is written
    let fams = parsePrometheusText(await m.render(d0));
    for (const s of CONTROLLER_STATES) expect(sampleValue(fams, 'clawops_nodes', { state: s }), s).toBe(d0 && view(d0).summary.counts[s]);
    expect(fams.get('clawops_nodes')?.type).toBe('gauge');
    expect(sampleValue(fams, 'clawops_node_state', { node: 'gw-3', state: 'RolledBack' })).toBe(1);
    expect(sampleValue(fams, 'clawops_tenants_drifted')).toBe(1);
    expect(sampleValue(fams, 'clawops_node_last_sync_timestamp_seconds', { node: 'gw-1' })).toBe(Date.parse(NOW) / 1000);
    expect(sampleValue(fams, 'clawops_node_last_sync_timestamp_seconds', { node: 'gw-3' })).toBeUndefined();
    expect(sampleValue(fams, 'clawops_canary_green_passes', { node: 'gw-1' })).toBe(1);
    expect(sampleValue(fams, 'clawops_canary_green_passes_required')).toBe(2);
    expect(sampleValue(fams, 'clawops_canary_gate_open')).toBe(0);
    expect(sampleValue(fams, 'clawops_fleet_candidate_info', { commit: C2, verdict: 'pending' })).toBe(1);
    // counters are the store's (whatever happened before this reader started); the histogram starts with the reader
    expect(sampleValue(fams, 'clawops_passes_total', { result: 'ok' })).toBe(1);
    expect(sampleValue(fams, 'clawops_source_fetch_errors_total')).toBe(0);
    expect(sampleValue(fams, 'clawops_applies_total', { node: 'gw-6', result: 'repaired' })).toBe(1);
    expect(sampleValue(fams, 'clawops_applies_total', { node: 'gw-3', result: 'rolled_back' })).toBe(0);
    expect(sampleValue(fams, 'clawops_applies_total', { node: 'gw-8', result: 'repaired' })).toBe(0);
    expect(sampleValue(fams, 'clawops_pass_duration_seconds_count')).toBe(0);
    expect(fams.get('clawops_pass_duration_seconds')?.type).toBe('histogram');
    expect(sampleValue(fams, 'clawops_tenants_token_overlap', { node: 'gw-1' })).toBe(0);

    const d1 = structuredClone(d0);
    d1.passes = 32;
    d1.lastPass = { id: 'p2', startedAt: at(31), finishedAt: at(31.1), outcome: 'ok', durationMs: 6000 };
    for (const n of Object.values(d1.nodes)) n.lastPass = 'p2';
    d1.nodes['gw-3']!.lastError = { time: at(31.05), reason: 'RolledBack', message: 'gw-3: acme: not ready; rolled back to r0, and that is not ready either: HTTP 503' };
    d1.source = { ...d1.source, reason: 'SourceUnavailable', failures: 1, lastError: { time: at(31), reason: 'SourceUnavailable', message: 'fetch: secret-token-in-url@host unreachable' } };
    d1.nodes['gw-1']!.tenants['acme']!.tokens = { overlap: 'overlap', current: { present: true, mode: '600' }, next: { present: true, mode: '600' } };
    recordPass(d1);
    const text = await m.render(d1);
    fams = parsePrometheusText(text);
    expect(sampleValue(fams, 'clawops_tenants_token_overlap', { node: 'gw-1' })).toBe(1);
    expect(sampleValue(fams, 'clawops_passes_total', { result: 'ok' })).toBe(2);
    expect(sampleValue(fams, 'clawops_pass_duration_seconds_count')).toBe(1);
    expect(sampleValue(fams, 'clawops_pass_duration_seconds_sum')).toBe(6);
    expect(sampleValue(fams, 'clawops_pass_duration_seconds_bucket', { le: '10' })).toBe(1);
    expect(sampleValue(fams, 'clawops_pass_duration_seconds_bucket', { le: '5' })).toBe(0);
    expect(sampleValue(fams, 'clawops_applies_total', { node: 'gw-3', result: 'rolled_back' })).toBe(1);
    expect(sampleValue(fams, 'clawops_rollbacks_total', { node: 'gw-3', result: 'not_ready' })).toBe(1);
    expect(sampleValue(fams, 'clawops_applies_total', { node: 'gw-6', result: 'applied' })).toBe(0);
    expect(sampleValue(fams, 'clawops_applies_total', { node: 'gw-6', result: 'repaired' })).toBe(2); // its tree was drifted
    expect(sampleValue(fams, 'clawops_source_fetch_errors_total')).toBe(1);
    // scraping again without a pass changes no counter
    const again = parsePrometheusText(await m.render(d1));
    for (const name of ['clawops_passes_total', 'clawops_applies_total', 'clawops_rollbacks_total', 'clawops_source_fetch_errors_total', 'clawops_pass_duration_seconds_count']) {
      expect(again.get(name)?.samples, name).toEqual(fams.get(name)?.samples);
    }
    // a restarted controller (a new listener over the same store) goes on from the stored counts; its histogram is new
    const restarted = parsePrometheusText(await new StatusMetrics(() => new Date(NOW)).render(structuredClone(d1)));
    expect(sampleValue(restarted, 'clawops_passes_total', { result: 'ok' })).toBe(2);
    expect(sampleValue(restarted, 'clawops_applies_total', { node: 'gw-3', result: 'rolled_back' })).toBe(1);
    expect(sampleValue(restarted, 'clawops_pass_duration_seconds_count')).toBe(0);
    expect(sampleValue(fams, 'clawops_source_up')).toBe(0);
    // no error text, no message, no secret in any label
    expect(text).not.toMatch(/secret-token|not ready|ECONNREFUSED|HTTP 503/);
    const labelNames = new Set([...fams.values()].flatMap((f) => f.samples.flatMap((s) => Object.keys(s.labels))));
    expect([...labelNames].sort()).toEqual(['commit', 'le', 'node', 'result', 'state', 'verdict']);
    for (const f of fams.values()) {
      expect(f.name).toMatch(/^clawops_/);
      if (f.type === 'counter') expect(f.name).toMatch(/_total$/);
    }
  });

  it('keeps series of the current fleet candidate only', async () => {
    const m = new StatusMetrics(() => new Date(NOW));
    await m.render(fleetStatus());
    const d = fleetStatus();
    d.source.fleet = { spec: 'release/*', ref: 'refs/tags/release/1', commit: C1, tag: 'release/1' };
    d.nodes['gw-2'] = rec('gw-2');
    const fams = parsePrometheusText(await m.render(d));
    expect(fams.get('clawops_fleet_candidate_info')?.samples.map((s) => s.labels)).toEqual([{ commit: C1, verdict: 'proven' }]);
    expect(sampleValue(fams, 'clawops_canary_gate_open')).toBe(1);
    expect(sampleValue(fams, 'clawops_canary_green_passes', { node: 'gw-1' })).toBe(2);
  });
});

describe('the strict Prometheus parser refuses what Prometheus refuses', () => {
  it.each([
    ['an undeclared family', 'x 1\n'],
    ['a bad value', '# TYPE x gauge\nx one\n'],
    ['a bad escape', '# TYPE x gauge\nx{a="\\q"} 1\n'],
    ['a duplicate series', '# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n'],
    ['a negative counter', '# TYPE x_total counter\nx_total -1\n'],
    ['no final newline', '# TYPE x gauge\nx 1'],
    ['buckets that shrink', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
  ])('%s', (_n, text) => {
    expect(() => parsePrometheusText(text)).toThrow();
  });
});

describe('probe answers and webhook digest rows (health stage) in every view', () => {
  const doc = (): StatusDoc => {
    const d = fleetStatus();
    d.nodes['nw-1'] = rec('nw-1', {
      role: 'notifier',
      webhookDigest: {
        at: at(29),
        windowSec: 300,
        total: 503,
        dropped: 1,
        overflow: 0,
        keys: 2,
        rows: [
          { tenant: 'acme', endpoint: 'https://canary.example.com', family: '5xx', count: 500, statuses: { '502': 100, '503': 400 }, firstSeen: at(20), lastSeen: at(29) },
          { tenant: '<script>alert(1)</script>', endpoint: `https://x.example.com${EVIL}`, family: 'timeout', count: 3, statuses: { timeout: 3 }, firstSeen: at(21), lastSeen: at(28) },
        ],
      },
    });
    const gw3 = d.nodes['gw-3']!;
    const t = Object.values(gw3.tenants)[0]!;
    t.tenant = 'acme';
    t.probe = { source: 'probe', status: 'degraded', code: 200, checks: ['doctor:yellow'], at: at(29) };
    gw3.tenants = { acme: t };
    return d;
  };

  it('model: a tenant carries its probe answer in one line and its digest counts; the block lists every notifier and its rows worst first', () => {
    const v = view(doc());
    const acme = v.nodes.find((n) => n.node === 'gw-3')!.tenants[0]!;
    expect(acme.probe).toMatchObject({ status: 'degraded', summary: 'probe degraded (HTTP 200): doctor:yellow' });
    expect(acme.webhookFailures).toEqual({ rows: 1, count: 500 });
    expect(v.webhookFailures.notifiers).toEqual([{ node: 'nw-1', at: at(29), windowSec: 300, total: 503, dropped: 1, overflow: 0, keys: 2, rows: 2 }]);
    expect(v.webhookFailures.rows.map((r) => r.count)).toEqual([500, 3]);
    expect(view(fleetStatus()).webhookFailures).toEqual({ notifiers: [], rows: [] });
  });

  it('text: a webhook failures block, escaped to one line per row', () => {
    const text = renderStatusText(view(doc()));
    expect(text).toContain('\nWebhook failures (notifier digests)\n  nw-1: 503 failure(s), 1 dropped, 2 key(s) (last 300 s, read ');
    expect(text).toContain('  acme https://canary.example.com 5xx ×500 (502:100 503:400) first ');
    // a tenant runs on many nodes: its rows are said once, in the block, not in every node's
    expect(text).not.toContain('    webhook ');
    expect(text.split('\n').some((l) => RAW_CONTROL.test(l))).toBe(false);
    expect(text).not.toContain('FORGED line\n');
  });

  it('page: the rows travel only inside the escaped JSON block; metrics: a bounded gauge per notifier and known tenant', async () => {
    const html = renderStatusPage(view(doc()));
    expect(html).toContain('<h2>Webhook failures</h2>');
    expect(html).not.toContain('<script>alert(1)');
    const text = await new StatusMetrics(() => new Date(NOW)).render(doc());
    const m = parsePrometheusText(text);
    expect(sampleValue(m, 'clawops_webhook_failures', { node: 'nw-1', tenant: 'acme' })).toBe(500);
    expect(sampleValue(m, 'clawops_webhook_failures', { node: 'nw-1', tenant: 'other' })).toBe(3);
    expect(text).not.toContain('script');
    expect(sampleValue(m, 'clawops_tenant_probe', { node: 'gw-3', tenant: 'acme', status: 'degraded' })).toBe(1);
  });
});
