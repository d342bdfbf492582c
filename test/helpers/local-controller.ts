/**
 * One controller on local nodes, the set-up the controller and status tests share: local nodes (directories standing
 * for Macs with the real openclaw CLI and the tenants' secrets), a real bare git origin holding tenants-example with
 * their nodes.yaml and a controller clawops.yaml, a state dir, and controllers started on it (a restart is another
 * start on the same state dir) that `close()` stops.
 *
 *   const lc = localController({ nodes: [{ name: 'gw-1', canary: true, tenants: ['acme'] }, { name: 'gw-2', tenants: ['acme'] }] });
 *   const { c, log } = await lc.start();
 *   …
 *   await lc.close(); // in afterEach
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Controller, ControllerOptions } from '../../reconciler/controller/loop.js';
import { clawopsYaml, fakeClock, makeLocalNodes, makeOrigin, memLogger, newController, type FakeClock, type LocalNodes, type MemLog, type Origin } from '../controller/helpers.js';
import { fleetUnitEdits } from './fleet-repo.js';
import { EXAMPLE, type Edit } from './repo.js';

export interface LocalNodeSpec {
  name: string;
  canary?: boolean;
  tenants: string[];
}

export interface LocalControllerOptions {
  /** the inventory: every node is a local node */
  nodes: LocalNodeSpec[];
  /** tenants whose secrets are provisioned on every node (default: makeLocalNodes' acme, globex, initech) */
  secretsFor?: string[];
  /**
   * the launchctl stand-in and the fake gateway on the nodes, and the repo's gateway unit running it with the short
   * health settings of fleetUnitEdits (default false: releases declare no units, health is "ok once deployed")
   */
  services?: boolean;
  /** clawops.yaml `gating:` keys (default { require_replay: false }; `{}`: the controller's defaults) */
  gating?: Record<string, number | boolean>;
  /** a last change to the generated clawops.yaml (a shorter health deadline…) */
  clawops?: (yaml: string) => string;
  /** more edits to tenants-example (applied before clawops.yaml and nodes.yaml, which these options write) */
  edits?: Record<string, Edit>;
  /** appended to the generated nodes.yaml (nodes that are not local: an ssh node that is down…) */
  extraNodes?: string;
  /** the state dir's temp name prefix (default clawops-ctl-) */
  prefix?: string;
}

export interface StartedController {
  c: Controller;
  log: MemLog;
  clock: FakeClock;
}

export interface LocalController {
  nodes: LocalNodes;
  origin: Origin;
  stateDir: string;
  /** start a controller on the state dir (options as newController's; the log and clock are new unless given) */
  start(o?: Partial<ControllerOptions>, log?: MemLog, clock?: FakeClock): Promise<StartedController>;
  /** close every controller started, then (with services) boot out the nodes' units (idempotent) */
  close(): Promise<void>;
}

export function localController(opts: LocalControllerOptions): LocalController {
  const services = opts.services ?? false;
  const nodes = makeLocalNodes(opts.nodes.map((n) => n.name), opts.secretsFor, { services });
  const units = services ? fleetUnitEdits() : {};
  const base = typeof units['clawops.yaml'] === 'string' ? units['clawops.yaml'] : readFileSync(join(EXAMPLE, 'clawops.yaml'), 'utf8');
  const yaml = clawopsYaml(base, opts.gating);
  const origin = makeOrigin(
    {
      ...units,
      ...opts.edits,
      'clawops.yaml': opts.clawops ? opts.clawops(yaml) : yaml,
      'nodes.yaml': `${nodes.nodesYaml(opts.nodes)}${opts.extraNodes ?? ''}`,
    },
    { units: services },
  );
  const stateDir = mkdtempSync(join(tmpdir(), opts.prefix ?? 'clawops-ctl-'));
  const started: Controller[] = [];
  return {
    nodes,
    origin,
    stateDir,
    async start(o = {}, log = memLogger(), clock = fakeClock()) {
      const r = newController({ repo: origin.bare, stateDir, ...o }, log, clock);
      started.push(r.c);
      await r.c.start();
      return r;
    },
    async close() {
      for (const c of started.splice(0)) await c.close();
      // after the controllers: no pending dead-man guard or gateway outlives the test
      if (services) nodes.stopServices();
    },
  };
}
