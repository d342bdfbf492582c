/**
 * What the fleet tests share to drive clawops as an operator does: `apply --yes --json` with its parsed result, the
 * small repo edits they make (fleetRepo's example tenants), and a one-node fleet started once a describe block.
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { NodeApplyResult } from '../../reconciler/apply/apply-node.js';
import { startFleet, type Fleet, type FleetNodeHandle } from '../fleet/fleet.js';
import { runCli, type CliRun } from './repo.js';

/** `clawops apply --json`'s output */
export interface ApplyJson {
  ok: boolean;
  run?: string;
  blocked?: string[];
  halted?: string;
  results: NodeApplyResult[];
}

/** `clawops apply --repo REPO --identity KEY --yes --json ARGS…`, its JSON parsed when it printed some */
export async function applyJson(repo: string, identity: string, ...args: string[]): Promise<CliRun & { json?: ApplyJson }> {
  const r = await runCli(['apply', '--repo', repo, '--identity', identity, '--yes', '--json', ...args]);
  return { ...r, json: r.stdout.trim().startsWith('{') ? (JSON.parse(r.stdout) as ApplyJson) : undefined };
}

/** a repo edit that drops the gateway's launchd unit: no services, reloads, gates or guards */
export const NO_UNITS = { 'launchd/gateway.plist': null };
/** acme's overrides fragment */
export const ACME = 'tenants/acme/gateway.d/20-overrides.yaml';
/** acme's overrides with logging.level `l` (a change that keeps its port) */
export const acmeLevel = (l: string): Record<string, string> => ({ [ACME]: `gateway:\n  port: 18809\n  controlUi:\n    enabled: true\n    basePath: /acme\nlogging:\n  level: ${l}\n` });
/** one more fragment for tenant `t` setting logging.level `l` */
export const extraLevel = (t: string, l: string): Record<string, string> => ({ [`tenants/${t}/gateway.d/30-x.yaml`]: `logging:\n  level: ${l}\n` });

/** the clean slate most one-node tests start from: no release, no clawops state, no secrets on gw-1 */
export const CLEAN_NODE = 'chmod -R u+w /etc/openclaw /var/db/openclaw 2>/dev/null; rm -rf /etc/openclaw/* /etc/openclaw/.[!.]* /var/db/openclaw/clawops /var/db/openclaw/secrets/*; true';

/**
 * A fleet of one node, gw-1 (the real OpenClaw CLI), started before the block's tests and stopped after them; with
 * `reset`, before each test the node is started again if a test stopped it and `reset` runs on it (as its user).
 */
export function useOneNodeFleet(reset?: string): { readonly fleet: Fleet; readonly gw: FleetNodeHandle } {
  let fleet: Fleet | undefined;
  beforeAll(async () => {
    fleet = await startFleet({ names: ['gw-1'], openclaw: true });
  }, 120_000);
  afterAll(async () => {
    await fleet?.stop();
  });
  if (reset !== undefined) {
    beforeEach(async () => {
      const gw = fleet!.node('gw-1');
      if (!gw.running()) await gw.start();
      const r = await gw.exec(reset);
      if (r.code !== 0) throw new Error(`gw-1: ${reset}: ${r.stderr}`);
    });
  }
  return {
    get fleet(): Fleet {
      return fleet!;
    },
    get gw(): FleetNodeHandle {
      return fleet!.node('gw-1');
    },
  };
}

/**
 * Kill a node at once (sshd, the sftp session, everything in its namespace) and wait until its namespace is gone, so
 * not one more request of a run in flight reaches it. `pause` sleeps between looks (a busy wait without it).
 */
export async function killNodeNow(n: FleetNodeHandle, pause?: (ms: number) => Promise<void>): Promise<void> {
  const init = n.sshdPid();
  (n as unknown as { killNow(): void }).killNow();
  if (init === undefined) return;
  for (const until = Date.now() + 5000; Date.now() < until; ) {
    try {
      process.kill(init, 0);
    } catch {
      break;
    }
    if (pause) await pause(20);
  }
}
