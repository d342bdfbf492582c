/**
 * The controller's status page in a real browser: Debian's headless Chromium driven by playwright-core (.ci/run
 * installs both). The page renders the fleet worst first with the Gated node's reason, updates itself when a node
 * changes state (no reload), shows a node name and an error holding `<script>` as text (no script runs, no dialog),
 * and reads on a phone. Skipped when /usr/bin/chromium is missing.
 *
 * CLAWOPS_STATUS_SCREENSHOT=docs/status-page.png saves a screenshot of the page (the README links it).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type ServerHandle } from '../../reconciler/controller/server.js';
import type { StatusDoc } from '../../reconciler/controller/status.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { C2, GATE_MSG, pageFleetStatus, rec, silentLog, stored } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];
const INJECT = '<script>window.__pwned=1;alert(1)</script><img src=x onerror="window.__pwned=2;alert(2)">';

describe.skipIf(!existsSync(CHROMIUM))('the status page in headless Chromium', () => {
  let browser: Browser;
  let server: ServerHandle;
  let doc: StatusDoc;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    server = await startServer({ host: '127.0.0.1', port: 0 }, { status: () => doc, alive: () => true, trigger: () => undefined, log: silentLog() });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });
  beforeEach(async () => {
    doc = pageFleetStatus();
    problems = [];
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(`http://127.0.0.1:${server.address.port}/`) && !r.url().startsWith('data:')) problems.push(`request elsewhere: ${r.url()}`);
    });
  });
  afterEach(async () => {
    await page?.close();
  });

  const url = (): string => `http://127.0.0.1:${server.address.port}/?refresh=1`;
  const rowState = (node: string): Promise<string | null> => page.locator(`#nodes-body tr[data-node="${node}"]`).getAttribute('data-state');

  it('renders the fleet worst first, the Gated node with its reason and next step, the canary gate and the last pass', async () => {
    await page.goto(url());
    await page.waitForSelector('#nodes-body tr[data-node="gw-2"]');
    expect(await page.locator('#nodes-body tr').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-node')}:${r.getAttribute('data-state')}`))).toEqual([
      'gw-3:RolledBack', 'gw-4:Unreachable', 'gw-5:Blocked', 'gw-7:Degraded', 'gw-2:Gated', 'gw-6:Progressing', 'gw-1:Synced', 'gw-8:Synced',
    ]);
    const gated = page.locator('#nodes-body tr[data-node="gw-2"]');
    expect(await gated.locator('td[data-label="State"]').innerText()).toBe('Gated');
    const reason = await gated.locator('td[data-label="Reason"]').innerText();
    expect(reason).toContain(GATE_MSG);
    expect(reason).toContain(`next: gated: waiting for canary gw-1 green 1/2 on ${C2.slice(0, 7)}`);
    expect(await gated.locator('td[data-label="Running vs desired"]').innerText()).toContain(`holding back release/2 ${C2.slice(0, 7)}`);
    const tokens = gated.locator('td[data-label="Token overlap"]');
    expect(await tokens.locator('[data-token]').evaluateAll((ls) => ls.map((l) => l.getAttribute('data-token')))).toEqual(['overlap', 'single']);
    expect(await tokens.innerText()).toMatch(/^acme: rotation in progress: token\.next \(.*\) staged beside token\.current/);
    expect(await page.locator('#nodes-body tr[data-node="gw-4"] td[data-label="Token overlap"]').innerText()).toBe('not observed yet');
    expect(await page.locator('#gate').innerText()).toContain(`waiting for canary gw-1 green 1/2 on ${C2.slice(0, 7)}`);
    expect(await page.locator('#gate tr[data-canary="gw-1"] td[data-label="Green passes"]').innerText()).toBe('1 / 2');
    // the last passes the store keeps, newest first, each with its duration and what it changed
    expect(await page.locator('#passes-body tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-pass')))).toEqual(['r20261128t123000-aaaaaa', 'r20261128t122750-dddddd', 'r20261128t121950-bbbbbb', 'r20261128t120950-cccccc']);
    expect(await page.locator('#passes-body tr[data-pass="r20261128t123000-aaaaaa"] td[data-label="Duration"]').innerText()).toBe('4.2 s');
    expect(await page.locator('#passes-body tr[data-pass="r20261128t122750-dddddd"] td[data-label="Changed"]').innerText()).toMatch(/^gw-3: Progressing → RolledBack \(.*\) · rolled back, previous release ready again\ngw-7: Synced → Degraded/);
    expect(await page.locator('#verdict').innerText()).toBe('Not all green: 6 node(s) need attention');
    expect(await page.locator('#summary .chip[data-state="Synced"]').innerText()).toBe('2 Synced');
    expect(await page.title()).toBe('RolledBack - clawops status');
    expect(problems).toEqual([]);

    const shot = process.env.CLAWOPS_STATUS_SCREENSHOT;
    if (shot) {
      const file = resolve(REPO_ROOT, shot);
      mkdirSync(dirname(file), { recursive: true });
      await page.screenshot({ path: file, fullPage: true });
    }
  });

  it('updates itself when a node changes state, without reloading the page', async () => {
    await page.goto(url());
    await page.waitForSelector('#nodes-body tr[data-node="gw-2"]');
    await page.evaluate(() => ((window as unknown as { __same: number }).__same = 42));
    // the canary was green twice: the fleet commit fans out, gw-2 is applied; gw-4 comes back
    const next = structuredClone(doc);
    next.nodes['gw-2'] = { ...rec('gw-2'), state: 'Progressing', reason: 'Applied', message: `applied ${C2.slice(0, 7)}: acme → r2-1111111111111; confirming on the next pass`, lastTransition: new Date().toISOString() };
    next.nodes['gw-4'] = rec('gw-4', { lastTransition: new Date().toISOString() });
    next.commits[C2] = { ...next.commits[C2]!, verdict: 'proven', verdictAt: new Date().toISOString() };
    next.lastPass = { id: 'r-next-pass', startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), outcome: 'ok', durationMs: 3100 };
    for (const n of Object.values(next.nodes)) n.lastPass = 'r-next-pass';
    next.passes++;
    doc = stored(next);
    await page.waitForFunction(() => document.querySelector('#nodes-body tr[data-node="gw-2"]')?.getAttribute('data-state') === 'Progressing', undefined, { timeout: 15_000 });
    expect(await rowState('gw-4')).toBe('Synced');
    expect(await page.locator('#gate').innerText()).toContain('proven on the canaries');
    expect(await page.locator('#passes-body tr[data-pass="r-next-pass"]').innerText()).toContain('3.1 s');
    expect(await page.locator('#passes-body tr[data-pass="r-next-pass"]').innerText()).toMatch(/gw-2: Gated → Progressing \(applied .*\) · applied\n/);
    expect(await page.locator('#passes-body tr[data-pass="r-next-pass"]').innerText()).toMatch(/gw-4: Unreachable → Synced/);
    // the pass before stays listed below it
    expect((await page.locator('#passes-body tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-pass')))).slice(0, 2)).toEqual(['r-next-pass', 'r20261128t123000-aaaaaa']);
    expect(await page.evaluate(() => (window as unknown as { __same?: number }).__same)).toBe(42);
    expect(await page.locator('#conn').innerText()).toMatch(/^live · updated \d+ s ago/);
    expect(problems).toEqual([]);
  });

  it('shows a node name and an error holding <script> as text: nothing runs, no dialog (served and polled)', async () => {
    const evil = `gw-9${INJECT}`;
    doc.nodes[evil] = rec(evil, { state: 'Failed', reason: 'ApplyFailed', message: `apply failed: ${INJECT}`, lastError: { time: new Date().toISOString(), reason: 'ApplyFailed', message: INJECT } });
    await page.goto(url());
    const row = page.locator('#nodes-body tr').first();
    await row.waitFor();
    expect(await row.getAttribute('data-node')).toBe(evil);
    expect(await row.locator('td[data-label="Node"] .node-name').innerText()).toBe(evil);
    expect(await row.locator('td[data-label="Reason"]').innerText()).toContain(`apply failed: ${INJECT}`);
    // a later poll brings another one in through the script's own rendering
    const later = structuredClone(doc);
    later.nodes['gw-2']!.message = `release/2 gated: ${INJECT}`;
    later.lastPass = { ...later.lastPass!, id: 'r-evil' };
    later.nodes['gw-2']!.lastPass = 'r-evil';
    later.nodes['gw-2']!.tenants['acme']!.tokens = { overlap: 'overlap', current: { present: true, mode: INJECT }, next: { present: true } };
    later.nodes[evil] = { ...later.nodes[evil]!, lastPass: 'r-evil', lastTransition: new Date().toISOString() };
    doc = stored(later);
    await page.waitForFunction(() => (document.querySelector('#nodes-body tr[data-node="gw-2"] td[data-label="Reason"]')?.textContent ?? '').includes('<img src=x'), undefined, { timeout: 15_000 });
    await page.waitForTimeout(300);
    // the pass list and the token cell carry it as text too
    expect(await page.locator('#passes-body tr[data-pass="r-evil"]').innerText()).toContain(`${evil}: Failed (apply failed: ${INJECT})`);
    expect(await page.locator('#nodes-body tr[data-node="gw-2"] td[data-label="Token overlap"]').innerText()).toContain(`token.current has mode ${INJECT}`);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.evaluate(() => document.querySelectorAll('script').length)).toBe(2);
    expect(await page.evaluate(() => document.querySelectorAll('#nodes-body img, #nodes-body script, #passes-body img, #passes-body script').length)).toBe(0);
    expect(problems).toEqual([]);
  });

  it('shows bidi overrides and zero-width characters of a node\'s text as visible \\u escapes (served and polled)', async () => {
    doc.nodes['gw-2']!.message = `release/2 gated: \u202eevil\u202c \u2066x\u2069 \u200bz`;
    await page.goto(url());
    const reason = page.locator('#nodes-body tr[data-node="gw-2"] td[data-label="Reason"]');
    await reason.waitFor();
    expect(await reason.innerText()).toContain('release/2 gated: \\u202eevil\\u202c \\u2066x\\u2069 \\u200bz');
    const later = structuredClone(doc);
    later.nodes['gw-2']!.message = `release/3 gated: \ufeff\u202dlater`;
    later.lastPass = { ...later.lastPass!, id: 'r-bidi' };
    later.nodes['gw-2']!.lastPass = 'r-bidi';
    doc = stored(later);
    await page.waitForFunction(() => (document.querySelector('#nodes-body tr[data-node="gw-2"] td[data-label="Reason"]')?.textContent ?? '').includes('release/3'), undefined, { timeout: 15_000 });
    expect(await reason.innerText()).toContain('release/3 gated: \\ufeff\\u202dlater');
    expect(await page.evaluate(() => /[\u202a-\u202e\u2066-\u2069\u200b\ufeff]/.test(document.body.innerText))).toBe(false);
    expect(problems).toEqual([]);
  });

  it("shows each tenant's readiness answer in the probe column and the notifier digest rows in their own section, as text", async () => {
    const now = new Date().toISOString();
    doc.nodes['gw-2']!.tenants['acme']!.probe = { source: 'probe', status: 'degraded', code: 200, checks: ['doctor:yellow'], at: now };
    doc.nodes['nw-1'] = rec('nw-1', {
      role: 'notifier',
      webhookDigest: {
        at: now,
        windowSec: 300,
        total: 503,
        dropped: 0,
        overflow: 0,
        keys: 2,
        rows: [
          { tenant: 'acme', endpoint: 'https://canary.example.com', family: '5xx', count: 500, statuses: { '503': 500 }, firstSeen: now, lastSeen: now },
          { tenant: INJECT, endpoint: 'https://x.example.com', family: 'timeout', count: 3, statuses: { timeout: 3 }, firstSeen: now, lastSeen: now },
        ],
      },
    });
    await page.goto(url());
    await page.locator('#webhooks-body tr').first().waitFor();
    const probe = page.locator('#nodes-body tr[data-node="gw-2"] td[data-label="Probe"]');
    expect(await probe.locator('[data-probe]').getAttribute('data-probe')).toBe('degraded');
    expect(await probe.innerText()).toContain('acme probe degraded (HTTP 200): doctor:yellow');
    expect(await probe.innerText()).toContain('acme: 500 webhook failure(s) in 1 digest row(s)');
    const rows = page.locator('#webhooks-body tr');
    expect(await rows.count()).toBe(2);
    expect(await rows.first().innerText()).toContain('https://canary.example.com');
    expect(await rows.nth(1).locator('td[data-label="Tenant"]').innerText()).toBe(INJECT);
    expect(await page.locator('#webhooks-meta').innerText()).toContain('nw-1: 503 failure(s) in the last 300 s');
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.evaluate(() => document.querySelectorAll('#webhooks img, #webhooks script').length)).toBe(0);
    expect(problems).toEqual([]);
  });

  it('reads on a phone: the table becomes labelled cards, nothing scrolls sideways', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(url());
    await page.waitForSelector('#nodes-body tr[data-node="gw-2"]');
    expect(await page.locator('#fleet thead').evaluate((e) => getComputedStyle(e).display)).toBe('none');
    expect(await page.locator('#nodes-body tr[data-node="gw-2"] td[data-label="Reason"]').evaluate((e) => getComputedStyle(e, '::before').content)).toBe('"Reason"');
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1)).toBe(true);
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(await page.locator('#fleet thead').evaluate((e) => getComputedStyle(e).display)).toBe('table-header-group');
  });
});
