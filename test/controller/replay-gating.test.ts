/**
 * Fixture replay as canary evidence (issue 10, specs/controller.md "Gating"): with the controller's defaults and a repo
 * that records fixtures, the fleet waits until every fixture the tenants' endpoints name was replayed from the canary
 * (replayNode over the controller's connection, curl on the node) with its recorded status; once per commit and
 * canary. A replay answered otherwise fails the commit, naming the fixture; the next commit is judged afresh.
 * Local nodes, the real openclaw CLI, a real loopback receiver playing the tenants' endpoints (test/replay).
 */
import { mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Controller } from '../../reconciler/controller/loop.js';
import { readStatus } from '../../reconciler/controller/store.js';
import { openclawCache } from '../helpers/openclaw.js';
import { EXAMPLE } from '../helpers/repo.js';
import { secretValue } from '../helpers/secrets.js';
import { startReceiver, type Receiver } from '../replay/receiver.js';
import { ACME_FIXTURE, ACME_PATH, GLOBEX_FIXTURE, receiverEdits, routeAsRecorded } from '../replay/setup.js';
import { clawopsYaml, makeLocalNodes, makeOrigin, newController, node } from './helpers.js';

const ACME = 'tenants/acme/gateway.d/20-overrides.yaml';
const acmeLevel = (level: string): string => readFileSync(join(EXAMPLE, ACME), 'utf8').replace(/level: \w+/, `level: ${level}`);

describe.skipIf(!openclawCache())('controller: fixture replay from the canary gates the fleet', () => {
  let rcv: Receiver;
  const controllers: Controller[] = [];
  beforeAll(async () => {
    rcv = await startReceiver();
  });
  afterAll(async () => {
    for (const c of controllers) await c.close();
    await rcv?.close();
  });

  it('answered as recorded: fan-out after the green passes; answered 500: Gated naming the fixture, never fanned out; the fix is judged afresh', async () => {
    const nodes = makeLocalNodes(['gw-1', 'gw-2'], ['acme', 'globex']);
    // acme's crm endpoint signs with webhook.crm (provisioned out of band like every secret)
    for (const n of ['gw-1', 'gw-2']) writeFileSync(join(nodes.root(n), 'var/db/openclaw/secrets/acme/webhook.crm'), `${secretValue(n, 'acme', 'webhook.crm')}\n`, { mode: 0o600 });
    const origin = makeOrigin({
      ...receiverEdits(rcv),
      // the controller's defaults: two green passes, and replay required since the repo records fixtures
      'clawops.yaml': clawopsYaml(readFileSync(join(EXAMPLE, 'clawops.yaml'), 'utf8'), {}),
      'nodes.yaml': nodes.nodesYaml([
        { name: 'gw-1', canary: true, tenants: ['acme', 'globex'] },
        { name: 'gw-2', tenants: ['acme', 'globex'] },
      ]),
    });
    const link = (n: string): string | undefined => {
      try {
        return readlinkSync(join(nodes.root(n), 'etc/openclaw/tenants/acme'));
      } catch {
        return undefined;
      }
    };
    const stateDir = mkdtempSync(join(tmpdir(), 'clawops-ctl-replay-'));
    const c1 = origin.head();
    origin.tag('release/1', c1, { date: '2026-11-01T00:00:00Z' });
    const { c, log } = newController({ repo: origin.bare, stateDir });
    await c.start();
    controllers.push(c);
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
});
