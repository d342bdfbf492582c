/**
 * Status stores as the controller writes them (shapes and messages as derive.ts and gating.ts make them), for the
 * pure tests of the status model and its views, and for the page. `fleetStatus()` has one node per interesting
 * state: a Synced canary, a Gated fleet node waiting on the canary's green passes, a RolledBack, an Unreachable, a
 * version-skewed, a drifted and a degraded node. Also the set-up the test/status files share: a state dir holding a
 * store, a closed port, an HTTP GET, a silent logger, a schema-1 store.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { emptyStatus, recordPass, type NodeStatusRecord, type PassHistoryEntry, type StatusDoc, type TenantStatus } from '../../reconciler/controller/status.js';
import { writeStatus } from '../../reconciler/controller/store.js';

export const C1 = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
export const C2 = '3f2a9c1e8d7b6a5948372615f0e1d2c3b4a59687';
export const T0 = '2026-11-28T12:00:00.000Z';
export const at = (min: number): string => new Date(Date.parse(T0) + min * 60_000).toISOString();
/** the time the fixture's last pass finished */
export const NOW = at(30);

export function tenant(t: string, over: Partial<TenantStatus> = {}): TenantStatus {
  return {
    tenant: t,
    state: 'Synced',
    reason: 'Synced',
    sync: { state: 'InSync', desiredRelease: 'r1-0000000000000', currentRelease: 'r1-0000000000000', commit: C1, tag: 'release/1' },
    health: { status: 'ok', service: 'running', pid: 4242 },
    lastTransition: T0,
    ...over,
  };
}

export function rec(node: string, over: Partial<NodeStatusRecord> = {}): NodeStatusRecord {
  return {
    node,
    role: 'gateway',
    canary: false,
    follows: 'fleet',
    state: 'Synced',
    reason: 'Synced',
    message: 'runs release/1',
    sync: { status: 'InSync', target: { ref: 'refs/tags/release/1', commit: C1, tag: 'release/1' }, running: [{ commit: C1, tag: 'release/1' }], differences: 0 },
    health: { status: 'ok' },
    openclaw: '2026.9.6',
    suspended: false,
    lastTransition: T0,
    lastPass: 'r20261128t123000-aaaaaa',
    tenants: { acme: tenant('acme') },
    ...over,
  };
}

export const GATE_MSG = `release/2 gated: canary gw-1 has been green on ${C2.slice(0, 7)} for 1 of 2 passes`;

export function fleetStatus(): StatusDoc {
  const doc = emptyStatus({ pid: 4100, startedAt: T0, mode: 'auto', repo: 'git@git.example.internal:infra.git', intervalSec: 60 });
  doc.source = {
    origin: 'git@git.example.internal:infra.git',
    lastFetch: NOW,
    reason: 'SourceAvailable',
    failures: 0,
    canary: { spec: 'refs/heads/main', ref: 'refs/heads/main', commit: C2 },
    fleet: { spec: 'release/*', ref: 'refs/tags/release/2', commit: C2, tag: 'release/2' },
  };
  doc.passes = 31;
  doc.lastPass = { id: 'r20261128t123000-aaaaaa', startedAt: at(29.9), finishedAt: NOW, outcome: 'ok', durationMs: 4200 };
  doc.fleetCommit = { commit: C1, tag: 'release/1', since: at(5) };
  doc.commits = {
    [C1]: { commit: C1, tag: 'release/1', firstSeen: T0, verdict: 'proven', verdictAt: at(4), canaries: { 'gw-1': { running: true, healthGate: 'passed', greenPasses: 2, health: 'ok' } } },
    [C2]: { commit: C2, tag: 'release/2', firstSeen: at(20), verdict: 'pending', canaries: { 'gw-1': { running: true, healthGate: 'passed', greenPasses: 1, health: 'ok', lastPass: 'r20261128t123000-aaaaaa' } } },
  };
  const c2Tenant = tenant('acme', { sync: { state: 'InSync', desiredRelease: 'r2-1111111111111', currentRelease: 'r2-1111111111111', commit: C2 } });
  doc.nodes = {
    'gw-1': rec('gw-1', {
      canary: true,
      follows: 'canary',
      message: `runs ${C2.slice(0, 7)}`,
      sync: { status: 'InSync', target: { ref: 'refs/heads/main', commit: C2 }, running: [{ commit: C2 }], differences: 0 },
      tenants: { acme: c2Tenant },
      lastTransition: at(25),
    }),
    'gw-2': rec('gw-2', {
      state: 'Gated',
      reason: 'Gated',
      message: GATE_MSG,
      tenants: { acme: tenant('acme', { state: 'Gated', reason: 'Gated', message: GATE_MSG }), globex: tenant('globex', { state: 'Gated', reason: 'Gated', message: GATE_MSG }) },
      lastTransition: at(20),
    }),
    'gw-3': rec('gw-3', {
      state: 'RolledBack',
      reason: 'RolledBack',
      message: 'gw-3: acme: release r1-0000000000000 not ready within 60 s: HTTP 503; rolled back to r0-9999999999999, ready again after 2 s; release r1-0000000000000 quarantined (a new commit, or --retry-quarantined, tries again)',
      sync: { status: 'OutOfSync', target: { ref: 'refs/tags/release/1', commit: C1, tag: 'release/1' }, running: [{ commit: 'c0ffee0000000000000000000000000000000000', tag: 'release/0' }], differences: 1 },
      tenants: {
        acme: tenant('acme', {
          state: 'RolledBack',
          reason: 'RolledBack',
          message: 'acme: release r1-0000000000000 not ready within 60 s: HTTP 503',
          sync: { state: 'Changed', desiredRelease: 'r1-0000000000000', currentRelease: 'r0-9999999999999', commit: 'c0ffee0000000000000000000000000000000000', tag: 'release/0' },
          lastTransition: at(28),
          lastError: { time: at(28), reason: 'RolledBack', message: 'acme: release r1-0000000000000 not ready within 60 s: HTTP 503' },
        }),
      },
      backoff: { failures: 1, kind: 'apply', until: at(30.5) },
      lastTransition: at(28),
      lastError: { time: at(28), reason: 'RolledBack', message: 'gw-3: acme: release r1-0000000000000 not ready within 60 s: HTTP 503; rolled back to r0-9999999999999, ready again after 2 s' },
    }),
    'gw-4': rec('gw-4', {
      state: 'Unreachable',
      reason: 'Unreachable',
      message: 'gw-4: connect ECONNREFUSED 10.0.0.4:22',
      sync: { status: 'Unreachable', target: { ref: 'refs/tags/release/1', commit: C1, tag: 'release/1' }, running: [{ commit: C1, tag: 'release/1' }], differences: 0 },
      health: { status: 'unknown' },
      backoff: { failures: 3, kind: 'observe', until: at(32) },
      lastTransition: at(10),
      lastError: { time: at(29.9), reason: 'Unreachable', message: 'gw-4: connect ECONNREFUSED 10.0.0.4:22' },
    }),
    'gw-5': rec('gw-5', {
      state: 'Blocked',
      reason: 'VersionSkew',
      message: 'gw-5: openclaw 2026.8.1 (0badc0d) does not match the lock: expected 2026.9.6 (eb377ac)',
      sync: { status: 'VersionSkew', target: { ref: 'refs/tags/release/1', commit: C1, tag: 'release/1' }, running: [{ commit: C1, tag: 'release/1' }], differences: 1 },
      openclaw: '2026.8.1',
      lastTransition: at(15),
    }),
    'gw-6': rec('gw-6', {
      state: 'Progressing',
      reason: 'Applied',
      message: `applied ${C1.slice(0, 7)}: globex → r1-2222222222222; confirming on the next pass`,
      sync: { status: 'Drifted', target: { ref: 'refs/tags/release/1', commit: C1, tag: 'release/1' }, running: [{ commit: C1, tag: 'release/1' }], differences: 1 },
      tenants: { globex: tenant('globex', { state: 'Progressing', reason: 'Applied', message: 'now r1-2222222222222', sync: { state: 'Drifted', desiredRelease: 'r1-2222222222222', currentRelease: 'r1-2222222222222', commit: C1, tag: 'release/1' } }) },
      lastTransition: NOW,
    }),
    'gw-7': rec('gw-7', {
      state: 'Degraded',
      reason: 'ServiceNotRunning',
      message: 'acme: ai.openclaw.acme is exited (last exit 78)',
      health: { status: 'failed', message: 'acme: ai.openclaw.acme is exited (last exit 78)' },
      tenants: { acme: tenant('acme', { state: 'Degraded', reason: 'ServiceNotRunning', message: 'ai.openclaw.acme is exited (last exit 78)', health: { status: 'failed', service: 'exited', message: 'ai.openclaw.acme is exited (last exit 78)' } }) },
      lastTransition: at(27),
    }),
    'gw-8': rec('gw-8', { lastTransition: at(2) }),
  };
  doc.state = 'RolledBack';
  return doc;
}

/** Every ISO time in `doc` moved by `ms` (a fixture "as of now", for commands that read the real clock). */
export function shiftTimes<T>(doc: T, ms: number): T {
  const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return iso.test(v) ? new Date(Date.parse(v) + ms).toISOString() : v;
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(doc) as T;
}

/** fleetStatus() as if its last pass had just finished. */
export function freshFleetStatus(): StatusDoc {
  return shiftTimes(fleetStatus(), Date.now() - Date.parse(NOW));
}

/** `doc` as the store keeps it: its finished last pass recorded in the history and the counters. */
export function stored(doc: StatusDoc): StatusDoc {
  recordPass(doc);
  return doc;
}

/** A fresh state dir holding `doc` (written by the store module), a raw status.json (a string), or nothing. */
export async function stateDir(doc?: StatusDoc | string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'clawops-status-'));
  if (typeof doc === 'string') writeFileSync(join(dir, 'status.json'), doc);
  else if (doc) await writeStatus(dir, doc);
  return dir;
}

/** `doc` as a schema-1 controller wrote it: no history, no counters, no token state. */
export function schema1(doc: StatusDoc): string {
  const old = structuredClone(doc) as Partial<StatusDoc>;
  delete old.history;
  delete old.counters;
  for (const n of Object.values(old.nodes ?? {})) for (const t of Object.values(n.tenants)) delete t.tokens;
  return JSON.stringify({ ...old, schemaVersion: 1 }, null, 2);
}

/** A loopback port nothing listens on. */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function get(port: number, path: string, accept?: string): Promise<{ status: number; headers: Headers; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, accept ? { headers: { accept } } : {});
  return { status: r.status, headers: r.headers, body: await r.text() };
}

export const silentLog = (): Logger => pino({ level: 'silent' });

/** The passes before fleetStatus()'s last one, newest first, as the store's history keeps them. */
export function earlierPasses(): PassHistoryEntry[] {
  const d = fleetStatus();
  const msg = (n: string): string => d.nodes[n]!.message!;
  return [
    { id: 'r20261128t122750-dddddd', startedAt: at(27.8), finishedAt: at(28.05), outcome: 'ok', durationMs: 15_200, nodes: [{ node: 'gw-3', from: 'Progressing', to: 'RolledBack', reason: 'RolledBack', message: msg('gw-3'), apply: 'rolled_back', rollback: 'ready' }, { node: 'gw-7', from: 'Synced', to: 'Degraded', reason: 'ServiceNotRunning', message: msg('gw-7') }], verdicts: [] },
    { id: 'r20261128t121950-bbbbbb', startedAt: at(19.9), finishedAt: at(20), outcome: 'ok', durationMs: 3900, nodes: [{ node: 'gw-2', from: 'Synced', to: 'Gated', reason: 'Gated', message: GATE_MSG }], verdicts: [] },
    { id: 'r20261128t120950-cccccc', startedAt: at(9.9), finishedAt: at(10), outcome: 'ok', durationMs: 5100, nodes: [{ node: 'gw-4', from: 'Synced', to: 'Unreachable', reason: 'Unreachable', message: msg('gw-4') }], verdicts: [] },
  ];
}

/**
 * fleetStatus() as a controller's store has it now (the page's fixture): the earlier passes in its history, its last
 * pass recorded, token state on every observed tenant (gw-2's acme mid-rotation; gw-4 was never reached).
 */
export function pageFleetStatus(): StatusDoc {
  const d = fleetStatus();
  for (const n of Object.values(d.nodes)) {
    if (n.node === 'gw-4') continue;
    for (const t of Object.values(n.tenants)) t.tokens = { overlap: 'single', current: { present: true, mode: '600', mtime: at(-20 * 24 * 60) }, next: { present: false } };
  }
  d.nodes['gw-2']!.tenants['acme']!.tokens = { overlap: 'overlap', current: { present: true, mode: '600', mtime: at(-20 * 24 * 60) }, next: { present: true, mode: '600', mtime: at(-90) } };
  d.history = earlierPasses();
  // what the store saw after the pass before: gw-6 was Synced (its drifted tenant is what the last pass applied)
  d.counters.seen = Object.fromEntries(Object.values(d.nodes).map((n) => [n.node, { state: n.node === 'gw-6' ? 'Synced' : n.state, applyFailures: n.backoff?.kind === 'apply' ? n.backoff.failures : 0, drifted: false }]));
  return stored(shiftTimes(d, Date.now() - Date.parse(NOW)));
}
