/**
 * Fixture replay as canary evidence (issue 10, specs/controller.md "Gating"): with the controller's defaults and a repo
 * that records fixtures, the fleet waits until every fixture the tenants' endpoints name was replayed from the canary
 * (replayNode over the controller's connection, curl on the node) with its recorded status; once per commit and
 * canary. A replay answered otherwise fails the commit, naming the fixture; the next commit is judged afresh.
 * Local nodes, the real openclaw CLI, a real loopback receiver playing the tenants' endpoints (test/replay).
 */
import { readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { replayTries } from '../../reconciler/controller/gating.js';
import { readStatus } from '../../reconciler/controller/store.js';
import { localController, type LocalController } from '../helpers/local-controller.js';
import { openclawCache } from '../helpers/openclaw.js';
import { secretValue } from '../helpers/secrets.js';
import { startReceiver, type Receiver } from '../replay/receiver.js';
import { ACME_FIXTURE, ACME_PATH, GLOBEX_FIXTURE, GLOBEX_PATH, receiverEdits, routeAsRecorded } from '../replay/setup.js';
import { ACME, acmeLevel, node } from './helpers.js';


/**
 * gw-1 (canary) and gw-2, both running acme and globex, whose endpoints are the receiver; the controller's gating
 * defaults (two green passes, replay required since the repo records fixtures).
 */
function replaySetup(rcv: Receiver): LocalController & { link(n: string): string | undefined } {
  const lc = localController({
    nodes: [
      { name: 'gw-1', canary: true, tenants: ['acme', 'globex'] },
      { name: 'gw-2', tenants: ['acme', 'globex'] },
    ],
    secretsFor: ['acme', 'globex'],
    gating: {},
    edits: receiverEdits(rcv),
    prefix: 'clawops-ctl-replay-',
  });
  // acme's crm endpoint signs with webhook.crm (provisioned out of band like every secret)
  for (const n of ['gw-1', 'gw-2']) writeFileSync(join(lc.nodes.root(n), 'var/db/openclaw/secrets/acme/webhook.crm'), `${secretValue(n, 'acme', 'webhook.crm')}\n`, { mode: 0o600 });
  const link = (n: string): string | undefined => {
    try {
      return readlinkSync(join(lc.nodes.root(n), 'etc/openclaw/tenants/acme'));
    } catch {
      return undefined;
    }
  };
  return Object.assign(lc, { link });
}

describe.skipIf(!openclawCache())('controller: fixture replay from the canary gates the fleet', () => {
  let rcv: Receiver;
  let lc: LocalController | undefined;
  beforeAll(async () => {
    rcv = await startReceiver();
  });
  afterEach(async () => {
    await lc?.close();
    rcv.received.length = 0;
    rcv.routes.clear();
  });
  afterAll(async () => {
    await rcv?.close();
  });

  it('answered as recorded: fan-out after the green passes; answered 500: Gated naming the fixture, never fanned out; the fix is judged afresh', async () => {
    const setup = replaySetup(rcv);
    lc = setup;
    const { origin, stateDir, link } = setup;
    const c1 = origin.head();
    origin.tag('release/1', c1, { date: '2026-11-01T00:00:00Z' });
    const { c, log } = await setup.start();
    routeAsRecorded(rcv, 'gw-1');

    // pass 1: the canary gets c1, and replays both fixtures from the node right after (the health gate did not fail)
    await c.runPass();
    let s = c.status();
    expect(node(s, 'gw-1')).toMatchObject({ state: 'Progressing', sync: { target: { commit: c1 } } });
    expect(s.commits[c1]).toMatchObject({ verdict: 'pending', replay: 'passed', replayDetail: { fixtures: [ACME_FIXTURE, GLOBEX_FIXTURE], required: [ACME_FIXTURE, GLOBEX_FIXTURE] } });
    const r1 = s.commits[c1]!.replayDetail!.canaries['gw-1']!;
    expect(r1).toMatchObject({ ok: true, tenants: ['acme', 'globex'] });
    expect(r1.deliveries.map((x) => [x.tenant, x.fixture, x.expected, x.got, x.outcome])).toEqual([
      ['acme', ACME_FIXTURE, 200, 200, 'matched'],
      ['globex', GLOBEX_FIXTURE, 503, 503, 'matched'],
    ]);
    // sent by curl on the node with the node's secrets (the receiver checked signature and token)
    expect(rcv.received.map((x) => [x.path, x.auth.ok, x.status])).toEqual([
      [ACME_PATH, true, 200],
      ['/api/openclaw-webhook', true, 503],
    ]);
    expect(rcv.received.every((x) => String(x.headers['x-clawops-replay']).startsWith(`replay-${r1.run}-dlv_`))).toBe(true);
    expect(node(s, 'gw-2')).toMatchObject({ state: 'Gated' });
    expect(node(s, 'gw-2').message).toBe(`release/1 gated: canary gw-1 has been green on ${c1.slice(0, 7)} for 0 of 2 passes (applied ${c1.slice(0, 7)} this pass; green passes count from the next one)`);
    expect(log.lines().some((l) => l.stage === 'replay' && l.node === 'gw-1' && /2 of 2 fixture deliveries matched/.test(String(l.msg)))).toBe(true);

    // once per commit and canary, not every pass
    await c.runPass();
    await c.runPass();
    s = c.status();
    expect(rcv.received).toHaveLength(2);
    expect(s.commits[c1]).toMatchObject({ verdict: 'proven', replay: 'passed' });
    expect(s.fleetCommit).toMatchObject({ commit: c1, tag: 'release/1' });
    expect(link('gw-2')).toBe(link('gw-1'));
    const good = link('gw-2');

    // the endpoint now answers 500 to acme's fixture: the commit fails on the replay and never fans out
    routeAsRecorded(rcv, 'gw-1', 'current', { acme: 500 });
    const c2 = origin.commit({ [ACME]: acmeLevel('warn') }, 'acme: warn');
    origin.push();
    origin.tag('release/2', c2, { date: '2026-11-02T00:00:00Z' });
    await c.runPass();
    s = c.status();
    const why = `replay of ${ACME_FIXTURE} on gw-1 answered 500, recorded 200`;
    expect(s.commits[c2]).toMatchObject({ verdict: 'failed', replay: 'failed', failure: { reason: 'ReplayFailed', node: 'gw-1', message: why }, replayDetail: { message: why } });
    expect(node(s, 'gw-2')).toMatchObject({ state: 'Gated', reason: 'Gated', sync: { target: { commit: c1, tag: 'release/1' } } });
    expect(node(s, 'gw-2').message).toBe(`release/2 gated: ${why}: commit ${c2.slice(0, 7)} never fans out; push a new commit`);
    expect(log.lines().some((l) => l.stage === 'replay' && l.reason === 'ReplayFailed' && l.msg === why)).toBe(true);
    // the mismatch was also meant for the node's notifier (there is none on this node: said so, not a crash)
    expect(s.commits[c2]!.replayDetail!.canaries['gw-1']!.notifier).toMatch(/^no notifier socket at .*notifier\.sock on gw-1$/);
    await c.runPass();
    await c.runPass();
    s = c.status();
    expect(rcv.received).toHaveLength(4);
    expect(s.commits[c2]?.verdict).toBe('failed');
    expect(link('gw-2')).toBe(good);
    expect((await readStatus(stateDir))?.commits[c2]).toMatchObject({ verdict: 'failed', failure: { reason: 'ReplayFailed' } });

    // the endpoint is fixed and a new commit lands: judged afresh, replayed once, fanned out
    routeAsRecorded(rcv, 'gw-1');
    const c3 = origin.commit({ [ACME]: acmeLevel('error') }, 'acme: error');
    origin.push();
    origin.tag('release/3', c3, { date: '2026-11-03T00:00:00Z' });
    for (let i = 0; i < 3; i++) await c.runPass();
    s = c.status();
    expect(rcv.received).toHaveLength(6);
    expect(s.commits[c3]).toMatchObject({ verdict: 'proven', replay: 'passed' });
    expect(s.fleetCommit).toMatchObject({ commit: c3, tag: 'release/3' });
    expect(link('gw-2')).toBe(link('gw-1'));
    expect(link('gw-2')).not.toBe(good);
  }, 300_000);

  it('no answer from the endpoint: the commit stays pending (replay retried next pass), passes once it answers; 3 tries without an answer in a row fail it naming the fixture', async () => {
    const setup = replaySetup(rcv);
    lc = setup;
    const { origin, link } = setup;
    const c1 = origin.head();
    origin.tag('release/1', c1, { date: '2026-11-01T00:00:00Z' });
    const { c, log } = await setup.start();
    // acme's endpoint is mid-restart: it closes every connection without an answer
    routeAsRecorded(rcv, 'gw-1');
    const dropAcme = (drop: boolean): void => {
      rcv.routes.set(ACME_PATH, { ...rcv.routes.get(ACME_PATH)!, drop });
    };
    dropAcme(true);
    const noAnswer = new RegExp(`^replay of ${ACME_FIXTURE} on gw-1 got no answer \\(Empty reply from server\\), recorded 200$`);

    for (let i = 1; i <= 2; i++) {
      await c.runPass();
      const s = c.status();
      const ev = s.commits[c1]!;
      expect(ev).toMatchObject({ verdict: 'pending', replay: 'pending', replayDetail: { tries: { 'gw-1': { tries: i, last: { reason: 'ReplayInconclusive' } } } } });
      // a try that did not complete is no record of the canary's: nothing is judged on it yet
      expect(ev.replayDetail!.canaries['gw-1']).toBeUndefined();
      const last = replayTries(ev.replayDetail)['gw-1']!.last.message;
      expect(last).toMatch(noAnswer);
      expect(node(s, 'gw-2')).toMatchObject({ state: 'Gated' });
      expect(node(s, 'gw-2').message).toContain(`waiting for fixture replay on gw-1 (try ${i} of 3 on gw-1 did not complete: ${last}; replay will be retried next pass)`);
      expect(rcv.received.map((x) => x.path)).toHaveLength(2 * i);
    }
    expect(log.lines().filter((l) => l.stage === 'replay' && l.reason === 'ReplayInconclusive' && /replay will be retried next pass$/.test(String(l.msg)))).toHaveLength(2);
    expect(link('gw-2')).toBeUndefined();

    // the endpoint answers again: the next pass's replay is conclusive, the count is cleared, the commit fans out
    dropAcme(false);
    await c.runPass();
    let s = c.status();
    expect(s.commits[c1]).toMatchObject({ verdict: 'proven', replay: 'passed' });
    expect(replayTries(s.commits[c1]!.replayDetail)).toEqual({});
    expect(s.commits[c1]!.replayDetail!.canaries['gw-1']).toMatchObject({ ok: true });
    expect(s.fleetCommit).toMatchObject({ commit: c1, tag: 'release/1' });
    expect(link('gw-2')).toBe(link('gw-1'));
    const good = link('gw-2');

    // a commit whose endpoint never answers: tries 1 and 2 keep it pending, the 3rd in a row fails it
    dropAcme(true);
    const c2 = origin.commit({ [ACME]: acmeLevel('warn') }, 'acme: warn');
    origin.push();
    origin.tag('release/2', c2, { date: '2026-11-02T00:00:00Z' });
    const sent = rcv.received.length;
    await c.runPass();
    await c.runPass();
    expect(c.status().commits[c2]).toMatchObject({ verdict: 'pending', replay: 'pending' });
    await c.runPass();
    s = c.status();
    const ev = s.commits[c2]!;
    expect(ev).toMatchObject({ verdict: 'failed', replay: 'failed', failure: { reason: 'ReplayFailed', node: 'gw-1' } });
    expect(ev.failure!.message).toMatch(new RegExp(`^replay of ${ACME_FIXTURE} on gw-1 got no answer \\(.*\\), recorded 200 \\(no conclusive replay on gw-1 in 3 tries\\)$`));
    expect(node(s, 'gw-2')).toMatchObject({ state: 'Gated', sync: { target: { commit: c1, tag: 'release/1' } } });
    expect(node(s, 'gw-2').message).toBe(`release/2 gated: ${ev.failure!.message}: commit ${c2.slice(0, 7)} never fans out; push a new commit`);
    expect(rcv.received.slice(sent).map((x) => x.path)).toEqual([ACME_PATH, GLOBEX_PATH, ACME_PATH, GLOBEX_PATH, ACME_PATH, GLOBEX_PATH]);
    // final: no 4th try, and gw-2 never got c2
    await c.runPass();
    expect(rcv.received.length - sent).toBe(6);
    expect(link('gw-2')).toBe(good);
    expect(log.lines().some((l) => l.stage === 'replay' && l.reason === 'ReplayFailed' && l.tries === 3)).toBe(true);
  }, 300_000);
});
