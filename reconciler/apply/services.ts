/**
 * Services after a swap (issue 9): reload the tenant's launchd units so the new release really runs, gate on its
 * readiness route asked on the node, put the old release back by itself when it is not ready, and the dead-man
 * guard that does the same on the node when clawops disappears before confirming.
 */
import { ClawopsError } from '../errors.js';
import { shQuote, type NodePaths, type Transport } from '../transport/transport.js';
import { runScript } from './remote.js';
import { notYetApplied, runtimeConfigOf } from './reload-plan.js';
import { CONFIRM_SCRIPT, GATE_SCRIPT, GUARD_BODY, GUARD_START_SCRIPT, HOT_SCRIPT, NODE_UNIT_SCRIPT, PASSED_SCRIPT, RELOAD_SCRIPT, UNDO_SCRIPT } from './services-sh.js';
import { PROBE_PORT_OFFSET } from '../units/render-units.js';

export interface UnitReload {
  label: string;
  method: 'bootstrap' | 'restart' | 'hot';
  oldPid: number;
  newPid: number;
}

export interface ReloadOutcome {
  ok: boolean;
  reloads: UnitReload[];
  /** launchctl's own words when a unit could not be (re)started */
  error?: string;
}

export interface GateOutcome {
  ready: boolean;
  seconds?: number;
  /** why not: the last HTTP status, the body's failing checks, the service's state */
  reason?: string;
}

export interface HealthSettings {
  deadline_sec: number;
  confirm_sec: number;
  allow_degraded: boolean;
  poll_ms: number;
}

export const DEFAULT_HEALTH: HealthSettings = { deadline_sec: 180, confirm_sec: 300, allow_degraded: false, poll_ms: 1000 };

/** clawops.yaml `health:` over its defaults (older settings objects have none). */
export function healthSettings(settings: object): HealthSettings {
  const h = (settings as { health?: Partial<HealthSettings> }).health;
  return { ...DEFAULT_HEALTH, ...(h ?? {}) };
}

/** Where a tenant's readiness is asked on the node: its composite probe when the release ships one, else the gateway. */
export function readinessUrl(tenant: string, gatewayPort: number, files: readonly { path: string }[]): string {
  const probe = files.some((f) => f.path === `launchd/ai.openclaw.${tenant}.probe.plist`);
  return `http://127.0.0.1:${probe ? gatewayPort + PROBE_PORT_OFFSET : gatewayPort}/readyz`;
}

/** seconds a reloaded unit gets to show a new running process */
export const RELOAD_WAIT_SEC = 30;

function parseReloads(recs: string[][]): ReloadOutcome {
  const reloads = recs.filter((r) => r[0] === 'reloaded').map((r) => ({ label: r[1]!, method: (r[2] === 'bootstrap' ? 'bootstrap' : 'restart') as UnitReload['method'], oldPid: Number(r[3] ?? 0), newPid: Number(r[4] ?? 0) }));
  const failed = recs.find((r) => r[0] === 'reload-failed' || r[0] === 'undo-failed');
  return { ok: failed === undefined, reloads, ...(failed ? { error: `${failed[1]}: ${failed[2] ?? ''}` } : {}) };
}

/** Install and reload the units of releases/<tenant>/<id> on the node. */
export async function reloadUnits(t: Transport, p: NodePaths, tenant: string, id: string, guardRun?: string): Promise<ReloadOutcome> {
  return parseReloads(await runScript(t, RELOAD_SCRIPT, [p.etc, p.launchDaemons, tenant, id, String(RELOAD_WAIT_SEC), p.varDb, beatFile(p, guardRun)], '', (RELOAD_WAIT_SEC + 30) * 1000));
}

/** Install and (re)start a node-level unit (the notifier) from its rendered plist. */
export async function installNodeUnit(t: Transport, p: NodePaths, label: string, plist: Buffer): Promise<ReloadOutcome> {
  return parseReloads(await runScript(t, NODE_UNIT_SCRIPT, [p.launchDaemons, label, String(RELOAD_WAIT_SEC), p.varDb], plist.toString('utf8'), (RELOAD_WAIT_SEC + 30) * 1000));
}

/** Summarise a readiness body without echoing anything secret-shaped: status fields and failing check names only. */
export function readinessReason(code: string, body: string): string {
  let detail = '';
  try {
    const j = JSON.parse(body) as Record<string, unknown>;
    const bits: string[] = [];
    if (typeof j.status === 'string') bits.push(`status ${j.status}`);
    if (j.ready === false) bits.push('ready false');
    for (const k of ['failing', 'reasons']) {
      const v = j[k];
      if (Array.isArray(v)) bits.push(`${k}: ${v.map((x) => (typeof x === 'string' ? x : typeof x === 'object' && x !== null && 'name' in x ? String((x as { name: unknown }).name) : '?')).join(', ')}`);
    }
    const checks = j.checks;
    if (checks && typeof checks === 'object') {
      const bad = Object.entries(checks as Record<string, unknown>).filter(([, v]) => typeof v === 'object' && v !== null && 'status' in v && (v as { status: unknown }).status !== 'ok').map(([k, v]) => `${k} ${String((v as { status: unknown }).status)}`);
      if (bad.length > 0) bits.push(`checks: ${bad.join(', ')}`);
    }
    detail = bits.join('; ');
  } catch {
    detail = '';
  }
  const http = code === '000' ? 'no answer' : `HTTP ${code}`;
  return detail ? `${http} (${detail})` : http;
}

/** The file the reload and gate scripts write while a guarded run works (its guard measures silence from it). */
function beatFile(p: NodePaths, run: string | undefined): string {
  return run ? `${p.varDb}/clawops/guard.${run}.beat` : '';
}

/** Ask the tenant's readiness route on the node until ready or the deadline. */
export async function gate(t: Transport, url: string, label: string, health: { deadline_sec: number; poll_ms: number; allow_degraded: boolean }, beat?: { paths: NodePaths; run: string }): Promise<GateOutcome> {
  const recs = await runScript(t, GATE_SCRIPT, [url, String(health.deadline_sec), String(health.poll_ms), health.allow_degraded ? '1' : '0', label, beat ? beatFile(beat.paths, beat.run) : ''], '', (health.deadline_sec + 30) * 1000);
  const ready = recs.find((r) => r[0] === 'ready');
  if (ready) return { ready: true, seconds: Number(ready[1] ?? 0) };
  const nr = recs.find((r) => r[0] === 'not-ready');
  if (!nr) throw new ClawopsError('HealthCheckFailed', `${t.node}: the health gate printed nothing`);
  const body = Buffer.from(nr[2] ?? '', 'base64').toString('utf8');
  return { ready: false, seconds: Number(nr[4] ?? health.deadline_sec), reason: `${url}: ${readinessReason(nr[1] ?? '000', body)}; ${label}: ${nr[3] ?? '?'}` };
}

/** Put a tenant back on release `to` (empty: a first deploy, units removed and link dropped) and reload it. */
export async function undoTenant(t: Transport, p: NodePaths, tenant: string, to: string | undefined, prev: string | undefined): Promise<ReloadOutcome> {
  return parseReloads(await runScript(t, UNDO_SCRIPT, [p.etc, p.launchDaemons, tenant, to ?? '', prev ?? '', String(RELOAD_WAIT_SEC), p.varDb], '', (RELOAD_WAIT_SEC + 30) * 1000));
}

export interface GuardRow {
  tenant: string;
  to: string;
  from?: string;
  prevBefore?: string;
}

/** Start the detached dead-man guard on the node before any swap. Returns its pid. */
export async function startGuard(t: Transport, p: NodePaths, run: string, seconds: number, confirmSec: number, rows: readonly GuardRow[]): Promise<number> {
  const stdin = rows.map((r) => `${r.tenant}\t${r.to}\t${r.from ?? '-'}\t${r.prevBefore ?? '-'}\n`).join('');
  const recs = await runScript(t, GUARD_START_SCRIPT, [p.etc, p.varDb, p.launchDaemons, run, String(seconds), String(confirmSec), GUARD_BODY], stdin);
  const g = recs.find((r) => r[0] === 'guard');
  if (!g) throw new ClawopsError('ApplyFailed', `${t.node}: the dead-man guard did not start; nothing was swapped`);
  return Number(g[1]);
}

/** The gate passed: the guard now waits confirm_sec for the confirmation. */
export async function markPassed(t: Transport, p: NodePaths, run: string): Promise<void> {
  await t.exec(`sh -c ${shQuote(PASSED_SCRIPT)} clawops ${shQuote(p.varDb)} ${shQuote(run)}`, { timeoutMs: 15_000 });
}

/** Stand the guard down; meant to run over a new connection (proof that clawops can still reach the node). */
export async function confirmGuard(t: Transport, p: NodePaths, run: string): Promise<boolean> {
  const r = await t.exec(`sh -c ${shQuote(CONFIRM_SCRIPT)} clawops ${shQuote(p.varDb)} ${shQuote(run)}`, { timeoutMs: 15_000 });
  return r.code === 0 && r.stdout.trim() === 'confirmed';
}

/** Mark a release id as quarantined on the node: apply will not make it current again until its content changes. */
export async function quarantine(t: Transport, p: NodePaths, tenant: string, id: string, record: string): Promise<void> {
  const script = 'd="$1/clawops/quarantine/$2"; mkdir -p "$d" && printf "%s\\n" "$4" > "$d/$3.tmp" && mv -f "$d/$3.tmp" "$d/$3"';
  await t.exec(`sh -c ${shQuote(script)} clawops ${shQuote(p.varDb)} ${shQuote(tenant)} ${shQuote(id)} ${shQuote(record)}`, { timeoutMs: 15_000 });
}

export interface HotOutcome {
  ok: boolean;
  pid?: number;
  /** why the hot path did not take (then the caller restarts) */
  why?: string;
}

/** how many times the applied config is asked after the touch (one `openclaw gateway call` costs ~1.5 s) */
export const HOT_VERIFY_TRIES = 6;

/**
 * Hot reload: touch the config the gateway watches, then ask the running gateway (`gateway call config.get`
 * through the release's wrapper, same environment) until every changed key shows the new value. Not verified
 * (no RPC answer, or still old after the tries) → `ok: false`: the caller restarts instead.
 */
export async function hotReload(
  t: Transport,
  p: NodePaths,
  tenant: string,
  desired: unknown,
  changed: readonly string[],
  record: { releaseId: string; commit?: string; tag?: string; guardRun?: string },
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<HotOutcome> {
  const touched = await runScript(t, HOT_SCRIPT, [p.etc, tenant]);
  const pid = Number(touched.find((r) => r[0] === 'pid')?.[1] ?? 0);
  if (!pid) return { ok: false, why: 'the service is not running' };
  // each question also beats for the dead-man guard (the run is alive)
  const beat = beatFile(p, record.guardRun);
  const cmd = `sh -c ${shQuote('[ -n "$1" ] && date +%s > "$1"; shift; exec "$@"')} x ${shQuote(beat)} sh ${shQuote(`${p.etc}/tenants/${tenant}/bin/gateway-run`)} ${shQuote(tenant)} ${shQuote(p.etc)} ${shQuote(p.varDb)} --config-get`;
  let pending: string[] = [...changed];
  for (let i = 0; i < HOT_VERIFY_TRIES; i++) {
    await sleep(i === 0 ? 700 : 1000);
    const r = await t.exec(cmd, { timeoutMs: 30_000 });
    if (r.code !== 0) return { ok: false, pid, why: `the gateway did not answer config.get (exit ${String(r.code)})` };
    let doc: unknown;
    try {
      doc = JSON.parse(r.stdout);
    } catch {
      return { ok: false, pid, why: 'config.get printed no JSON' };
    }
    pending = notYetApplied(runtimeConfigOf(doc), desired, changed);
    if (pending.length === 0) {
      // the process now runs the new release: its run record says so (observe would call it NotReloaded otherwise)
      const rec = JSON.stringify({ pid, release_id: record.releaseId, commit: record.commit ?? '', tag: record.tag ?? '', started_epoch: Math.floor(Date.now() / 1000), hot: true });
      await t.exec(`sh -c ${shQuote('d="$1/clawops/run"; mkdir -p "$d" && printf "%s\\n" "$3" > "$d/$2.json.hot" && mv -f "$d/$2.json.hot" "$d/$2.json"')} x ${shQuote(p.varDb)} ${shQuote(tenant)} ${shQuote(rec)}`, { timeoutMs: 15_000 });
      return { ok: true, pid };
    }
  }
  return { ok: false, pid, why: `still not applied after ${HOT_VERIFY_TRIES} checks: ${pending.join(', ')}` };
}
