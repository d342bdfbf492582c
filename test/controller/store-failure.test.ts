/**
 * Evidence that is not on disk never drives an apply (issue 10: the status store survives kill -9 and a restarted
 * controller does not forget a failed commit). When status.json cannot be written (disk full, read-only: here a
 * directory stands where the file goes, since root ignores modes), the pass says StatusWriteFailed and every later
 * pass observes and reports only — no apply, no fan-out — until a write succeeds, then it applies again.
 */
import { mkdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { openclawCache } from '../helpers/openclaw.js';
import { ACME, acmeLevel } from './helpers.js';


describe.skipIf(!openclawCache())('the status store cannot be written', () => {
  let lc: LocalController | undefined;
  afterEach(async () => {
    await lc?.close();
  });

  it('the controller applies nothing until it can write status.json again', async () => {
    lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }, { name: 'gw-2', tenants: ['acme'] }] });
    const { nodes, origin, stateDir } = lc;
    const link = (n: string): string => readlinkSync(join(nodes.root(n), 'etc/openclaw/tenants/acme'));
    const { c, log } = await lc.start();
    await c.runPass();
    const before = link('gw-1');
    const file = join(stateDir, 'status.json');
    rmSync(file);
    mkdirSync(join(file, 'x'), { recursive: true });

    // the pass whose write fails says so
    const r1 = await c.runPass();
    expect(r1.outcome).toBe('StatusWriteFailed');
    expect(c.status().lastPass).toMatchObject({ outcome: 'StatusWriteFailed', message: expect.stringMatching(/status store cannot be written .*nothing is applied until it can/) });

    // a change merged meanwhile is observed, not applied, while the store stays unwritable
    origin.commit({ [ACME]: acmeLevel('warn') }, 'acme: warn');
    origin.push();
    const r2 = await c.runPass();
    expect(r2.outcome).toBe('StatusWriteFailed');
    expect(link('gw-1')).toBe(before);
    expect(log.lines().some((l) => l.reason === 'StatusWriteFailed' && /observes and applies nothing/.test(String(l.msg)))).toBe(true);

    // writable again: the store is written first, then the pass applies
    rmSync(file, { recursive: true });
    const r3 = await c.runPass();
    expect(r3.outcome).toBe('ok');
    expect(link('gw-1')).not.toBe(before);
    expect(log.lines().some((l) => l.reason === 'StatusWriteRecovered')).toBe(true);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ lastPass: { outcome: 'ok' } });
  }, 240_000);
});
