/**
 * The controller's fixture replay stage (issue 10): once a canary runs the canary commit (its health gate did not
 * fail), every recorded fixture its tenants' endpoints name is delivered from the canary (`replayNode` over the
 * controller's open connection to it, fixtures from the commit's own tree), once per commit and canary. What came
 * back is kept in the commit's evidence, and the fleet gate requires it (gating.ts: needsReplay, judgeReplay,
 * recordReplay hold the rules; this file does the I/O).
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DesiredState, NodeSpec } from '../desired/types.js';
import { oneLine } from '../errors.js';
import { FIXTURE_DIR, fixturesFromSet, readFixture, type FixtureSet } from '../replay/fixtures.js';
import { replayNode, type ReplayReport, type ReplayResult } from '../replay/replay.js';
import type { ConnectionPool } from './connections.js';
import { clearReplayTries, countReplayTry, recordReplay, replayFailures, REPLAY_TRIES } from './gating.js';
import type { GatingSettings } from './settings.js';
import type { CanaryReplay, CommitEvidence, ReplayDelivery, ReplayDetail } from './status.js';

const MAX_FIXTURES = 10_000;

/**
 * Every recorded fixture of a checkout (fixtures/webhooks/**.json), read and checked now: the checkout is a temp
 * dir that goes away once the commit is built. Symlinked directories are not entered; a symlinked or odd file is
 * kept as an entry with its error (readFixture says why).
 */
export function readFixtureSet(repoDir: string): FixtureSet {
  const set: FixtureSet = new Map();
  // fixtures/ and fixtures/webhooks/ real directories of the checkout: never a link (to a directory of this host)
  for (const d of ['fixtures', FIXTURE_DIR]) {
    try {
      if (!lstatSync(join(repoDir, d)).isDirectory()) return set;
    } catch {
      return set;
    }
  }
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(join(repoDir, FIXTURE_DIR, rel)).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (set.size >= MAX_FIXTURES) return;
      const r = rel === '' ? n : `${rel}/${n}`;
      let dir = false;
      try {
        const st = lstatSync(join(repoDir, FIXTURE_DIR, r));
        dir = st.isDirectory();
      } catch {
        continue;
      }
      if (dir) walk(r);
      else if (n.endsWith('.json')) set.set(r, readFixture(repoDir, r));
    }
  };
  walk('');
  return set;
}

/** Fixtures an enabled endpoint of a tenant some node runs names: what the canaries must prove. */
export function requiredFixtures(desired: Pick<DesiredState, 'nodes' | 'tenants'>): string[] {
  const assigned = new Set(desired.nodes.flatMap((n) => n.tenants));
  const out = new Set<string>();
  for (const [id, t] of desired.tenants) {
    if (!assigned.has(id)) continue;
    for (const ep of Object.values(t.webhook.endpoints)) if (ep.fixture !== undefined && ep.enabled) out.add(ep.fixture);
  }
  return [...out].sort();
}

function delivery(r: ReplayResult): ReplayDelivery {
  return {
    tenant: r.tenant,
    fixture: r.fixture,
    endpoint: r.endpoint,
    expected: r.expected,
    got: r.got,
    outcome: r.outcome,
    ...(r.message !== undefined ? { message: r.message } : {}),
  };
}

export interface ReplayStageDeps {
  pool: ConnectionPool;
  log: Logger;
  now: () => Date;
  signal: AbortSignal;
}

/**
 * Replay the commit's fixtures from each of `due` (canaries that need it this pass), then judge the commit with
 * every canary's record so far (specs/controller.md "Gating"):
 *  - conclusive (every delivery matched, skipped, or answered another status / cannot be made as configured): kept
 *    as the canary's record; a mismatch fails the commit
 *  - the node behind the commit (no current release, an endpoint it lacks): not evidence, tried again next pass
 *  - inconclusive (no HTTP answer, the node could not make a delivery, the connection failed): counted, tried again
 *    next pass; the REPLAY_TRIES-th in a row is final (the commit fails naming what failed)
 */
export async function replayStage(
  d: ReplayStageDeps,
  ev: CommitEvidence,
  due: readonly NodeSpec[],
  built: { desired: DesiredState; fixtures: FixtureSet },
  gating: GatingSettings,
  canaries: readonly string[],
  passId: string,
): Promise<CommitEvidence> {
  if (!gating.require_replay || ev.verdict !== 'pending') return ev;
  let detail: ReplayDetail = {
    ...(ev.replayDetail ? structuredClone(ev.replayDetail) : { canaries: {} }),
    fixtures: [...built.fixtures.keys()].sort(),
    required: requiredFixtures(built.desired),
  };
  delete detail.message;
  const short = ev.commit.slice(0, 7);
  /** an attempt that did not complete: counted; retried next pass unless it was the last allowed */
  const inconclusive = (node: string, at: string, reason: 'ReplayFailedToRun' | 'ReplayInconclusive', message: string): void => {
    const c = countReplayTry(detail, node, { time: at, reason, message });
    detail = c.detail;
    // a record it has is for other tenants (needsReplay runs a canary again only then): it no longer counts
    delete detail.canaries[node];
    detail.lastError = { time: at, reason, message, node };
    if (c.final) d.log.error({ stage: 'replay', node, commit: ev.commit, reason: 'ReplayFailed', tries: c.tries }, `${message}: no conclusive replay of ${short} on ${node} in ${c.tries} tries; the commit fails`);
    else d.log.warn({ stage: 'replay', node, commit: ev.commit, reason, tries: c.tries }, `${message}: try ${c.tries} of ${REPLAY_TRIES}; replay will be retried next pass`);
  };
  // the canaries replay side by side; each replaces `detail` without an await between reading and writing it
  const one = async (node: NodeSpec): Promise<void> => {
    if (d.signal.aborted) return;
    const at = d.now().toISOString();
    d.log.info({ stage: 'replay', node: node.name, commit: ev.commit }, `replaying the recorded fixtures of ${short} from ${node.name}`);
    let rep: ReplayReport;
    try {
      const t = await d.pool.get(node, built.desired.settings);
      rep = await replayNode(t, built.desired, node, { fixtures: fixturesFromSet(built.fixtures), secret: 'current', notify: true, now: d.now });
    } catch (e) {
      await d.pool.drop(node.name);
      inconclusive(node.name, at, 'ReplayFailedToRun', `replay on ${node.name} could not run: ${oneLine(e)}`);
      return;
    }
    const deliveries = rep.results.map(delivery);
    const behind = rep.results.filter((r) => r.inconclusive === 'behind');
    if (behind.length > 0) {
      // the node does not have what the commit wants replayed: not evidence either way, not counted; next pass again
      const why = behind.map((x) => `${x.tenant}: ${x.message ?? 'not deployed'}`).join('; ');
      detail.lastError = { time: at, reason: 'ReplayNotReady', message: why, node: node.name };
      d.log.warn({ stage: 'replay', node: node.name, reason: 'ReplayNotReady' }, `replay from ${node.name} not counted: ${why}; trying again next pass`);
      return;
    }
    const rec: CanaryReplay = {
      run: rep.run,
      pass: passId,
      at,
      tenants: [...node.tenants].sort(),
      ok: rep.ok,
      deliveries,
      ...(rep.notifier.attempted > 0 ? { notifier: rep.notifier.error ?? `${rep.notifier.sent} failure line(s) written to ${rep.notifier.socket}` } : {}),
    };
    if (rep.notifier.error !== undefined && rep.notifier.attempted > 0) d.log.warn({ stage: 'replay', node: node.name }, `replay failures not sent to the notifier: ${rep.notifier.error}`);
    // evidence against the commit: a delivery that failed for a reason that is the configuration's
    const conclusive = rep.results.map((r, i) => ({ r, d: deliveries[i]! })).filter(({ r }) => r.inconclusive === undefined).map((x) => x.d);
    const failures = replayFailures(node.name, conclusive);
    if (failures.length === 0 && !rep.ok) {
      inconclusive(node.name, at, 'ReplayInconclusive', replayFailures(node.name, deliveries).join('; '));
      return;
    }
    detail = clearReplayTries(detail, node.name);
    detail.canaries[node.name] = rec;
    if (detail.lastError?.node === node.name) delete detail.lastError;
    const matched = deliveries.filter((x) => x.outcome === 'matched').length;
    if (failures.length > 0) d.log.error({ stage: 'replay', node: node.name, commit: ev.commit, reason: 'ReplayFailed' }, failures.join('; '));
    else d.log.info({ stage: 'replay', node: node.name, commit: ev.commit, matched, deliveries: deliveries.length }, `replay from ${node.name}: ${matched} of ${deliveries.length} fixture deliveries matched their recorded status`);
  };
  await Promise.all(due.map(one));
  return recordReplay(ev, detail, canaries, gating, d.now().toISOString());
}
