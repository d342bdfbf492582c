/**
 * The status model → the on-call page the controller serves on `GET /`. Pure: one self-contained HTML document (no
 * CDN, no framework, nothing fetched from anywhere but the controller itself), its CSS and a small script inline.
 *
 * The page carries the model as JSON in a data block (`<script type="application/json">`, every `<`, `>` and `&`
 * written as \u escapes, so no value can close the block) and the script builds the DOM from it with
 * createElement/textContent only — never innerHTML with data, so a node name or an error holding `<script>` shows as
 * text. It then polls the same URL for the model as JSON (`Accept: application/json`) every few seconds and renders
 * again, without reloading the page. The views do not re-derive anything: order, triage, next steps and the gate
 * summary all come from status-model.ts. PAGE_CSP allows exactly the page's own script and style (by hash) and
 * connections to the controller, so even an injected script tag could not run.
 */
import { createHash } from 'node:crypto';
import { CONTROLLER_STATES } from '../controller/status.js';
import { INVISIBLE_CLASS } from '../safe-text.js';
import { TRIAGE_TITLES, type StatusView } from './status-model.js';

export const DEFAULT_REFRESH_MS = 5000;

const STYLE = String.raw`
:root { --bg: #fff; --fg: #1b1f24; --muted: #5b636e; --line: #d8dde3; --soft: #f4f6f8;
  --bad: #b42318; --bad-bg: #fde8e7; --warn: #9a5b00; --warn-bg: #fff3d6; --info: #1f5fbf; --info-bg: #e3edfc;
  --ok: #1a7f37; --ok-bg: #dcf3e3; --idle: #57606a; --idle-bg: #eceef1; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0f1216; --fg: #e6e9ed; --muted: #9aa4b0; --line: #2c333b; --soft: #171b21;
    --bad: #ff8a80; --bad-bg: #3a1614; --warn: #f5c26b; --warn-bg: #352710; --info: #8db7ff; --info-bg: #142440;
    --ok: #6fdc8c; --ok-bg: #12301c; --idle: #b3bac3; --idle-bg: #252b33; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: .5rem 1rem; padding: .8rem 1.2rem; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.25rem; margin: 0; }
h1 span { color: var(--muted); font-weight: 400; }
h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
main { padding: .4rem 1.2rem 2rem; max-width: 1500px; }
code, .mono, .rev { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .92em; }
.muted { color: var(--muted); }
.conn { margin: 0; color: var(--muted); font-size: .9rem; }
.conn.lost { color: var(--bad); font-weight: 600; }
.chips { display: flex; flex-wrap: wrap; gap: .4rem; margin: .8rem 0 .4rem; }
.chip { padding: .15rem .6rem; border-radius: 999px; border: 1px solid var(--line); }
#verdict { font-size: 1.05rem; font-weight: 600; margin: .4rem 0; }
#verdict.ok { color: var(--ok); } #verdict.bad { color: var(--bad); }
#problems { margin: .3rem 0; padding-left: 1.2rem; color: var(--bad); }
#meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem .8rem; margin: .6rem 0; }
#meta dt { color: var(--muted); } #meta dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .45rem .55rem; border-bottom: 1px solid var(--line); }
th { background: var(--soft); font-weight: 600; white-space: nowrap; position: sticky; top: 0; }
td { overflow-wrap: break-word; }
td.c-role, td.c-canary, td.c-state { white-space: nowrap; }
td.c-reason { min-width: 14rem; }
td.c-rev { min-width: 14rem; }
.node-name { font-weight: 600; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 4px; font-weight: 600; font-size: .85rem; white-space: nowrap; }
.st-Failed, .st-RolledBack { color: var(--bad); background: var(--bad-bg); }
.st-Unreachable, .st-Blocked { color: var(--warn); background: var(--warn-bg); }
.st-Degraded, .st-Locked { color: var(--warn); background: var(--warn-bg); }
.st-Gated, .st-Progressing, .st-OutOfSync { color: var(--info); background: var(--info-bg); }
.st-Suspended, .st-unknown { color: var(--idle); background: var(--idle-bg); }
.st-Synced { color: var(--ok); background: var(--ok-bg); }
tr.row.bad td:first-child { box-shadow: inset 4px 0 var(--bad); }
tr.row.warn td:first-child { box-shadow: inset 4px 0 var(--warn); }
tr.row.info td:first-child { box-shadow: inset 4px 0 var(--info); }
.msg { margin-top: .15rem; }
.err { margin-top: .15rem; color: var(--bad); }
.next { margin-top: .25rem; font-weight: 600; }
.h-failed { color: var(--bad); } .h-degraded { color: var(--warn); } .h-ok { color: var(--ok); } .h-unknown { color: var(--muted); }
.gate-head { margin: .2rem 0 .5rem; }
.gate-summary { font-weight: 600; }
.replay { margin-top: .6rem; }
.tok-overlap { color: var(--info); }
.v-proven { color: var(--ok); } .v-failed { color: var(--bad); } .v-pending, .v-unseen { color: var(--info); }
ul.changes { margin: 0; padding-left: 1.1rem; }
@media (max-width: 760px) {
  main, header { padding-left: .7rem; padding-right: .7rem; }
  table.stack thead { display: none; }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; width: 100%; }
  table.stack tr { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 .7rem; padding: .2rem 0; }
  table.stack td { border: 0; padding: .25rem .7rem; }
  table.stack td::before { content: attr(data-label); display: block; font-size: .75rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
  tr.row td:first-child { box-shadow: none !important; }
  tr.row.bad { border-left: 4px solid var(--bad); }
  tr.row.warn { border-left: 4px solid var(--warn); }
  tr.row.info { border-left: 4px solid var(--info); }
}
`;

/** The page's script: builds everything from the model with textContent; polls for the model as JSON. */
const SCRIPT = String.raw`
(function () {
  'use strict';
  var STATES = __STATES__;
  var TRIAGE = __TRIAGE__;
  // invisible format characters a node's text may carry (bidi overrides and isolates, zero-width ones: they reorder or
  // hide what is around them) shown as \uXXXX, as the text views do (safe-text.ts' INVISIBLE_CLASS), in every string
  // of the model
  var INVISIBLE = new RegExp('[' + __INVISIBLE__ + ']', 'g');
  function visible(x) {
    if (typeof x === 'string') return x.replace(INVISIBLE, function (c) { return '\\u' + ('000' + c.charCodeAt(0).toString(16)).slice(-4); });
    if (Array.isArray(x)) return x.map(visible);
    if (x && typeof x === 'object') { var o = {}; Object.keys(x).forEach(function (k) { Object.defineProperty(o, visible(k), { value: visible(x[k]), enumerable: true, writable: true, configurable: true }); }); return o; }
    return x;
  }
  var boot = JSON.parse(document.getElementById('clawops-data').textContent);
  var view = visible(boot.view);
  var refreshMs = boot.refreshMs;
  var receivedAt = Date.now();
  var lastKey = '';
  var failing = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent, child) { parent.appendChild(child); return child; }
  function line(parent, text, cls) { return add(parent, el('div', cls, text)); }
  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); }
  function short(c) { return c ? String(c).slice(0, 7) : ''; }
  function rev(r) {
    if (!r) return '';
    var p = [];
    if (r.tag) p.push(r.tag);
    if (r.commit) p.push(short(r.commit));
    return p.join(' ');
  }
  function when(iso) { return iso ? String(iso).replace('T', ' ').replace(/\.\d+Z$/, 'Z') : ''; }
  function serverNow() { return Date.parse(view.generatedAt) + (Date.now() - receivedAt); }
  function ago(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return '';
    var s = Math.max(0, Math.round((serverNow() - t) / 1000));
    if (s < 120) return s + ' s ago';
    if (s < 7200) return Math.round(s / 60) + ' min ago';
    if (s < 172800) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }
  function stateClass(s) { return 'st-' + (STATES.indexOf(s) >= 0 ? s : 'unknown'); }
  function severity(s) {
    if (s === 'Failed' || s === 'RolledBack') return 'bad';
    if (s === 'Unreachable' || s === 'Blocked' || s === 'Degraded' || s === 'Locked') return 'warn';
    if (s === 'Gated' || s === 'Progressing' || s === 'OutOfSync') return 'info';
    return 'quiet';
  }
  function healthClass(h) { return 'h-' + (['ok', 'degraded', 'failed'].indexOf(h) >= 0 ? h : 'unknown'); }
  function cell(tr, label, cls) {
    var td = el('td', cls);
    td.setAttribute('data-label', label);
    tr.appendChild(td);
    return td;
  }

  function renderOverview(v) {
    var s = $('summary');
    clear(s);
    STATES.forEach(function (st) {
      var n = v.summary.counts[st];
      if (!n) return;
      var chip = add(s, el('span', 'chip ' + stateClass(st)));
      chip.setAttribute('data-state', st);
      add(chip, el('b', null, n));
      chip.appendChild(document.createTextNode(' ' + st));
    });
    if (v.summary.total === 0) add(s, el('span', 'chip st-unknown', 'no nodes'));
    var verdict = $('verdict');
    var attention = v.nodes.length - v.synced.length;
    verdict.className = v.ok ? 'ok' : 'bad';
    verdict.textContent = v.ok ? 'All nodes Synced and healthy' : 'Not all green: ' + attention + ' node(s) need attention' + (v.problems.length ? ', ' + v.problems.length + ' controller problem(s)' : '');
    document.title = (v.ok ? 'OK' : v.summary.worst) + ' - clawops status';
    var pr = $('problems');
    clear(pr);
    v.problems.forEach(function (p) { add(pr, el('li', null, p)); });
    var meta = $('meta');
    clear(meta);
    function row(k, val) { if (!val) return; add(meta, el('dt', null, k)); add(meta, el('dd', 'mono', val)); }
    if (v.controller) row('controller', v.controller.mode + ' mode, every ' + v.controller.intervalSec + ' s, pid ' + v.controller.pid + ', since ' + when(v.controller.startedAt));
    row('repo', v.source.origin + (v.source.reason === 'SourceUnavailable' ? ' (fetch failing)' : ''));
    ['canary', 'fleet'].forEach(function (k) {
      var p = v.source[k];
      row(k + ' ref', p.commit ? (p.ref || p.spec) + ' @ ' + short(p.commit) : (p.spec || '') + (p.error ? ': ' + p.error : ''));
    });
    if (v.lastPass) row('last pass', v.lastPass.id + ' ' + v.lastPass.outcome + (v.lastPass.durationMs !== undefined ? ' in ' + (v.lastPass.durationMs / 1000).toFixed(1) + ' s' : '') + (v.lastPass.finishedAt ? ', ' + ago(v.lastPass.finishedAt) : ' (running)'));
  }

  function runsText(n) {
    var r = n.running.revisions.map(rev).filter(function (x) { return x; }).join(', ') || '(nothing deployed)';
    return 'runs ' + r + (n.running.openclaw ? ' · openclaw ' + n.running.openclaw : '');
  }
  function wantsText(n) {
    var d = n.desired;
    var ref = d.ref && !(d.tag && d.ref === 'refs/tags/' + d.tag) ? ' (' + d.ref + ')' : '';
    var w = d.commit ? rev(d) + ref : '(no target)';
    return 'wants ' + w + (d.openclaw ? ' · openclaw ' + d.openclaw : '') + (n.held ? ' · holding back ' + rev(n.held) : '');
  }

  function renderNodes(v) {
    var tb = $('nodes-body');
    clear(tb);
    v.nodes.forEach(function (n) {
      var tr = el('tr', 'row ' + severity(n.state));
      tr.setAttribute('data-node', n.node);
      tr.setAttribute('data-state', n.state);
      var c = cell(tr, 'Node', 'c-node');
      line(c, n.node, 'node-name');
      if (n.triage) line(c, TRIAGE[n.triage] || n.triage, 'muted');
      cell(tr, 'Role', 'c-role').textContent = n.role;
      cell(tr, 'Canary', 'c-canary').textContent = n.canary ? 'canary' : '';
      c = cell(tr, 'State', 'c-state');
      add(c, el('span', 'badge ' + stateClass(n.state), n.state));
      if (n.suspended && n.state !== 'Suspended') line(c, 'suspended', 'muted');
      c = cell(tr, 'Reason', 'c-reason');
      line(c, n.reason, 'mono');
      if (n.message) line(c, n.message, 'msg');
      if (n.lastError && n.lastError.message !== n.message) line(c, 'error ' + when(n.lastError.time) + ' ' + n.lastError.reason + ': ' + n.lastError.message, 'err');
      if (n.backoff) line(c, 'backing off (' + n.backoff.kind + ', ' + n.backoff.failures + ' failure(s)) until ' + when(n.backoff.until), 'muted');
      if (n.next) line(c, 'next: ' + n.next, 'next');
      c = cell(tr, 'Running vs desired', 'c-rev');
      line(c, runsText(n), 'rev');
      line(c, wantsText(n), 'rev');
      n.tenants.forEach(function (t) {
        var rel = t.currentRelease === t.desiredRelease ? (t.currentRelease || '-') + ' (current)' : (t.currentRelease || '(none)') + ' → ' + (t.desiredRelease || '?');
        line(c, t.tenant + ': ' + rel + (t.tag || t.commit ? ' [' + rev(t) + ']' : ''), 'muted mono');
      });
      c = cell(tr, 'Last transition', 'c-since');
      line(c, when(n.since));
      line(c, ago(n.since), 'muted');
      c = cell(tr, 'Probe', 'c-probe');
      line(c, n.health.status, healthClass(n.health.status));
      if (n.health.message) line(c, n.health.message, 'msg');
      n.tenants.forEach(function (t) {
        line(c, t.tenant + ': ' + t.health + (t.service ? ' (' + t.service + (t.pid !== undefined ? ', pid ' + t.pid : '') + ')' : ''), 'muted ' + healthClass(t.health));
        if (t.probe) line(c, t.tenant + ' ' + t.probe.summary, 'msg').setAttribute('data-probe', t.probe.status);
        if (t.webhookFailures) line(c, t.tenant + ': ' + t.webhookFailures.count + ' webhook failure(s) in ' + t.webhookFailures.rows + ' digest row(s)', 'err').setAttribute('data-webhook-failures', String(t.webhookFailures.count));
      });
      n.notes.filter(function (x) { return x.category === 'probe'; }).forEach(function (x) { line(c, (x.tenant ? x.tenant + ': ' : '') + x.message, 'msg'); });
      c = cell(tr, 'Token overlap', 'c-token');
      var toks = n.tenants.filter(function (t) { return t.token; });
      toks.forEach(function (t) {
        var l = line(c, t.tenant + ': ' + t.token.summary, t.token.overlap === 'overlap' ? 'tok-overlap' : t.token.overlap === 'single' ? 'muted' : 'err');
        l.setAttribute('data-token', t.token.overlap);
      });
      (n.tokens || []).filter(function (x) { return x.reason !== 'TokenOverlap'; }).forEach(function (x) { line(c, (x.tenant ? x.tenant + ': ' : '') + x.message, x.severity === 'info' ? 'msg' : 'err'); });
      if (!toks.length && !(n.tokens && n.tokens.length)) line(c, n.tokens === null && n.tenants.length ? 'not observed yet' : 'none', 'muted');
      tb.appendChild(tr);
    });
    $('nodes-empty').textContent = v.nodes.length ? '' : 'No node status yet.';
  }

  function renderGate(v) {
    var g = $('gate');
    clear(g);
    var gate = v.gate;
    if (!gate) {
      line(g, 'No fleet commit yet' + (v.source.fleet.error ? ': ' + v.source.fleet.error : '') + '.', 'muted');
      return;
    }
    var head = line(g, null, 'gate-head');
    add(head, el('span', 'mono', rev(gate) + (gate.ref ? ' (' + gate.ref + ')' : '') + ' '));
    add(head, el('span', 'badge v-' + gate.verdict, gate.verdict));
    if (gate.fannedOut) add(head, el('span', 'muted', ' fanned out'));
    line(g, gate.summary, 'gate-summary');
    if (gate.failure) line(g, when(gate.failure.time) + ' ' + gate.failure.reason + ': ' + gate.failure.message, 'err');
    var t = add(g, el('table', 'stack gate-table'));
    var hr = add(add(t, el('thead')), el('tr'));
    ['Canary', 'Runs it', 'Green passes', 'Health gate', 'Health', 'Note'].forEach(function (h) { add(hr, el('th', null, h)); });
    var tb = add(t, el('tbody'));
    gate.canaries.forEach(function (c) {
      var tr = add(tb, el('tr'));
      tr.setAttribute('data-canary', c.node);
      cell(tr, 'Canary').textContent = c.node;
      cell(tr, 'Runs it').textContent = c.running ? 'yes' : 'no';
      cell(tr, 'Green passes').textContent = c.greenPasses + (gate.required !== undefined ? ' / ' + gate.required : '');
      cell(tr, 'Health gate').textContent = c.healthGate;
      add(cell(tr, 'Health'), el('span', healthClass(c.health), c.health));
      cell(tr, 'Note').textContent = c.note || '';
    });
    if (gate.replay) {
      var rp = line(g, null, 'replay');
      rp.setAttribute('data-replay', gate.replay.status);
      add(rp, el('span', null, 'fixture replay: '));
      add(rp, el('span', 'badge v-' + (gate.replay.status === 'passed' ? 'proven' : gate.replay.status), gate.replay.status));
      add(rp, el('span', 'muted', ' ' + gate.replay.required + ' fixture(s) required'));
      if (gate.replay.message) line(g, gate.replay.message, gate.replay.status === 'failed' ? 'err' : 'msg');
      gate.replay.canaries.forEach(function (r) {
        line(g, r.node + ': ' + r.deliveries + ' deliveries, ' + (r.ok ? 'all as recorded' : r.mismatched + ' not as recorded') + ', ' + when(r.at), 'muted');
      });
    }
  }

  function renderWebhooks(v) {
    var w = v.webhookFailures || { notifiers: [], rows: [] };
    var meta = $('webhooks-meta');
    clear(meta);
    w.notifiers.forEach(function (n) {
      line(meta, n.node + ': ' + n.total + ' failure(s)' + (n.dropped ? ', ' + n.dropped + ' dropped' : '') + (n.overflow ? ', ' + n.overflow + ' overflow' : '') +
        (n.windowSec !== undefined ? ' in the last ' + n.windowSec + ' s' : '') + (n.at ? ', read ' + when(n.at) : ', never read'), 'muted');
      if (n.error) line(meta, n.node + ': last read failed ' + when(n.errorAt) + ': ' + n.error, 'err');
    });
    if (!w.notifiers.length) line(meta, 'No notifier digest read (no notifier node, or not read yet).', 'muted');
    var tb = $('webhooks-body');
    clear(tb);
    w.rows.forEach(function (r) {
      var tr = add(tb, el('tr'));
      tr.setAttribute('data-tenant', r.tenant);
      cell(tr, 'Tenant', 'mono').textContent = r.tenant;
      cell(tr, 'Endpoint', 'mono').textContent = r.endpoint;
      cell(tr, 'Failure').textContent = r.family;
      cell(tr, 'Count').textContent = String(r.count);
      cell(tr, 'Statuses', 'mono').textContent = Object.keys(r.statuses).map(function (k) { return k + ':' + r.statuses[k]; }).join(' ');
      var c = cell(tr, 'First / last seen');
      line(c, when(r.firstSeen));
      line(c, when(r.lastSeen), 'muted');
      cell(tr, 'Notifier', 'mono').textContent = r.node;
    });
  }

  function renderPasses(v) {
    var tb = $('passes-body');
    clear(tb);
    v.passes.forEach(function (p) {
      var tr = add(tb, el('tr'));
      tr.setAttribute('data-pass', p.id);
      add(cell(tr, 'Pass', 'mono'), document.createTextNode(p.id));
      var c = cell(tr, 'Finished');
      line(c, p.finishedAt ? when(p.finishedAt) : 'running since ' + when(p.startedAt));
      if (p.finishedAt) line(c, ago(p.finishedAt), 'muted');
      cell(tr, 'Duration').textContent = p.durationMs !== undefined ? (p.durationMs / 1000).toFixed(1) + ' s' : '';
      c = cell(tr, 'Outcome');
      line(c, p.outcome, p.outcome === 'ok' ? 'h-ok' : p.outcome === 'Running' ? 'muted' : 'h-failed');
      if (p.message) line(c, p.message, 'msg');
      c = cell(tr, 'Changed');
      if (p.changes === null) line(c, 'unknown', 'muted');
      else if (p.changes.length === 0) line(c, 'nothing', 'muted');
      else {
        var ul = add(c, el('ul', 'changes'));
        p.changes.forEach(function (x) { add(ul, el('li', null, x)); });
      }
    });
    $('passes-note').textContent = v.passes.length ? 'The last ' + v.passes.length + ' pass(es) the status store keeps (up to 20), newest first.' : 'No pass yet.';
  }

  function render(v) {
    renderOverview(v);
    renderNodes(v);
    renderGate(v);
    renderWebhooks(v);
    renderPasses(v);
    var synced = $('synced');
    synced.textContent = v.synced.length ? 'Synced: ' + v.synced.join(', ') : '';
  }

  function tick() {
    var c = $('conn');
    var secs = Math.round((Date.now() - receivedAt) / 1000);
    c.className = failing ? 'conn lost' : 'conn';
    c.textContent = failing ? 'connection lost (' + failing + '), retrying; data from ' + secs + ' s ago' : 'live · updated ' + secs + ' s ago' + (view.stale ? ' · the status itself is stale' : '');
  }

  function keyOf(v) {
    var copy = {};
    for (var k in v) if (k !== 'generatedAt') copy[k] = v[k];
    return JSON.stringify(copy);
  }

  function poll() {
    fetch(location.pathname + location.search, { headers: { accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then(function (v) {
        if (!v || v.kind !== 'clawops.status') throw new Error('not a status');
        view = visible(v);
        receivedAt = Date.now();
        failing = null;
        var key = keyOf(v);
        if (key !== lastKey) {
          lastKey = key;
          render(view);
        }
        document.body.setAttribute('data-generated', v.generatedAt);
      })
      .catch(function (e) { failing = String((e && e.message) || e); })
      .then(function () {
        tick();
        setTimeout(poll, refreshMs);
      });
  }

  lastKey = keyOf(view);
  render(view);
  tick();
  document.body.setAttribute('data-generated', view.generatedAt);
  setInterval(tick, 1000);
  setTimeout(poll, refreshMs);
})();
`
  .replace('__STATES__', JSON.stringify(CONTROLLER_STATES))
  .replace('__TRIAGE__', JSON.stringify(TRIAGE_TITLES))
  .replace('__INVISIBLE__', JSON.stringify(INVISIBLE_CLASS));

const sha256 = (s: string): string => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

/** Only the page's own script and style run; it may talk to the controller and nothing else. */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers the page is served with. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

/** JSON inside an HTML data block: `<`, `>`, `&` and the JS line separators as \u escapes; still the same JSON. */
export function jsonForHtml(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const FLEET_HEAD = ['Node', 'Role', 'Canary', 'State', 'Reason', 'Running vs desired', 'Last transition', 'Probe', 'Token overlap'];

export function renderStatusPage(v: StatusView, opts: { refreshMs?: number } = {}): string {
  const refreshMs = Math.round(opts.refreshMs ?? DEFAULT_REFRESH_MS);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>clawops status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>clawops <span>fleet status</span></h1>
<p id="conn" class="conn" role="status" aria-live="polite"></p>
</header>
<main>
<section id="overview">
<div id="summary" class="chips"></div>
<p id="verdict"></p>
<ul id="problems"></ul>
<dl id="meta"></dl>
</section>
<section>
<h2>Fleet, worst first</h2>
<table id="fleet" class="fleet stack">
<thead><tr>${FLEET_HEAD.map((h) => `<th>${h}</th>`).join('')}</tr></thead>
<tbody id="nodes-body"></tbody>
</table>
<p id="nodes-empty" class="muted"></p>
<p id="synced" class="muted"></p>
</section>
<section>
<h2>Canary gate of the newest fleet commit</h2>
<div id="gate"></div>
</section>
<section id="webhooks">
<h2>Webhook failures</h2>
<div id="webhooks-meta"></div>
<table id="webhooks-table" class="passes stack">
<thead><tr><th>Tenant</th><th>Endpoint</th><th>Failure</th><th>Count</th><th>Statuses</th><th>First / last seen</th><th>Notifier</th></tr></thead>
<tbody id="webhooks-body"></tbody>
</table>
</section>
<section>
<h2>Last passes</h2>
<table id="passes" class="passes stack">
<thead><tr><th>Pass</th><th>Finished</th><th>Duration</th><th>Outcome</th><th>Changed</th></tr></thead>
<tbody id="passes-body"></tbody>
</table>
<p id="passes-note" class="muted"></p>
</section>
<noscript><p>This page draws itself with a small inline script (nothing is loaded from elsewhere). The same data:
<code>curl -H 'accept: application/json' &lt;controller&gt;/</code> or <code>clawops status --controller &lt;url&gt;</code>.</p></noscript>
</main>
<script type="application/json" id="clawops-data">${jsonForHtml({ view: v, refreshMs })}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
