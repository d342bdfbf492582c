/**
 * Services after a swap (issue 9): reload the tenant's launchd units so the new release really runs, gate on its
 * readiness route asked on the node, put the old release back by itself when it is not ready, and the dead-man
 * guard that does the same on the node when clawops disappears before confirming.
 */
import { ClawopsError } from '../errors.js';
import { shQuote, type NodePaths, type Transport } from '../transport/transport.js';
import { runScript } from './remote.js';
import { GATEWAY_RPC_JS, type GatewayAuth } from './gateway-rpc.js';
import { pathSegments } from './reload-plan.js';
import { looksSecret } from '../plan/redact.js';
import { CONFIRM_SCRIPT, GATE_SCRIPT, GUARD_BODY, GUARD_START_SCRIPT, HOT_SCRIPT, NODE_UNIT_SCRIPT, PASSED_SCRIPT, PRUNE_SCRIPT, RELOAD_SCRIPT, UNDO_SCRIPT } from './services-sh.js';

export interface UnitReload {
  label: string;
  method: 'bootstrap' | 'restart' | 'hot';
  oldPid: number;
  newPid: number;
}

export interface ReloadOutcome {
  ok: boolean;
  reloads: UnitReload[];
  /** (an undo) the tenant's link was put back (relinked), or a first deploy's link removed (unlinked) */
  relinked?: boolean;
  /**
   * (an undo journalled in a run's intent) what the intent took: 2 the mark of the swap undone and the undo's own
   * record, 1 the mark only, 0 nothing; the caller records the rest itself. 'gone': the intent was no longer there
   * (a run that took the lock over recorded it, the swap included): the caller records only the undo
   */
  noted?: 0 | 1 | 2 | 'gone';
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

/** seconds a reloaded unit gets to show a new running process */
export const RELOAD_WAIT_SEC = 30;

function parseReloads(recs: string[][]): ReloadOutcome {
  const reloads = recs.filter((r) => r[0] === 'reloaded').map((r) => ({ label: r[1]!, method: (r[2] === 'bootstrap' ? 'bootstrap' : 'restart') as UnitReload['method'], oldPid: Number(r[3] ?? 0), newPid: Number(r[4] ?? 0) }));
  const skipped = recs.find((r) => r[0] === 'undo-skipped');
  const failed = recs.find((r) => r[0] === 'reload-failed' || r[0] === 'undo-failed' || r[0] === 'remove-failed') ?? (skipped ? ['undo-skipped', skipped[1] ?? '?', `its link had already moved on to ${skipped[2] ?? '?'} (put back by the dead-man guard?): left as it is`] : undefined);
  const relinked = recs.some((r) => r[0] === 'relinked' || r[0] === 'unlinked');
  const n = recs.find((r) => r[0] === 'noted')?.[1];
  const noted = n === '2' ? 2 : n === '1' ? 1 : n === '0' ? 0 : n === 'gone' ? 'gone' : undefined;
  return { ok: failed === undefined, reloads, ...(relinked ? { relinked } : {}), ...(noted !== undefined ? { noted } : {}), ...(failed ? { error: `${failed[1]}: ${failed[2] ?? ''}` } : {}) };
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
  // the body is the gateway's (or whatever answers on its port): only short plain words of it are quoted, and never
  // one that looks like a secret
  const word = (x: unknown): string => (typeof x === 'string' && /^[A-Za-z0-9_.:/@+-]{1,64}$/.test(x) && !looksSecret(x) ? x : '?');
  let detail = '';
  try {
    const j = JSON.parse(body) as Record<string, unknown>;
    const bits: string[] = [];
    if (typeof j.status === 'string') bits.push(`status ${word(j.status)}`);
    if (j.ready === false) bits.push('ready false');
    for (const k of ['failing', 'reasons']) {
      const v = j[k];
      if (Array.isArray(v)) bits.push(`${k}: ${v.slice(0, 20).map((x) => word(typeof x === 'object' && x !== null && 'name' in x ? (x as { name: unknown }).name : x)).join(', ')}`);
    }
    const checks = j.checks;
    if (checks && typeof checks === 'object') {
      const bad = Object.entries(checks as Record<string, unknown>).filter(([, v]) => typeof v === 'object' && v !== null && 'status' in v && (v as { status: unknown }).status !== 'ok').slice(0, 20).map(([k, v]) => `${word(k)} ${word((v as { status: unknown }).status)}`);
      if (bad.length > 0) bits.push(`checks: ${bad.join(', ')}`);
    }
    detail = bits.join('; ');
  } catch {
    detail = '';
  }
  const http = code === '000' ? 'no answer' : `HTTP ${/^[0-9]{3}$/.test(code) ? code : '?'}`;
  return detail ? `${http} (${detail})` : http;
}

/** The file the reload and gate scripts write while a guarded run works (its guard measures silence from it). */
/** the dead-man guard's file of run `run` (GUARD_START writes it; PASSED and CONFIRM, as shell, name it the same way) */
function guardFile(p: NodePaths, run: string): string {
  return `${p.varDb}/clawops/guard.${run}`;
}

function beatFile(p: NodePaths, run: string | undefined): string {
  return run ? `${guardFile(p, run)}.beat` : '';
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

/**
 * Put a tenant back on release `to` (empty: a first deploy, units removed and link dropped) and reload it. With
 * `journal`, the undo is journalled in that run's intent file: the swap it undoes marked done, then `record` (the
 * reload-log record of the undo's own swap) and its mark (see UNDO_SCRIPT; `noted` says what the intent took); and
 * only while the link still points at `from` (the release the run swapped to).
 */
export async function undoTenant(t: Transport, p: NodePaths, tenant: string, to: string | undefined, prev: string | undefined, journal?: { run: string; record: string; from: string }): Promise<ReloadOutcome> {
  const args = [p.etc, p.launchDaemons, tenant, to ?? '', prev ?? '', String(RELOAD_WAIT_SEC), p.varDb, ...(journal ? [journal.run, journal.record, journal.from] : [])];
  return parseReloads(await runScript(t, UNDO_SCRIPT, args, '', (RELOAD_WAIT_SEC + 30) * 1000));
}

/**
 * `apply --prune`'s node half before FINISH (PRUNE_SCRIPT): each tenant checked whole, journalled in the run's intent
 * (`record`, its reload-log line to no release), its units stopped and removed, its links removed. `unlinked`: FINISH
 * removes their trees; `refused`: nothing of the tenant was changed, with why (one line, paths shown escaped).
 */
export async function pruneTenants(t: Transport, p: NodePaths, run: string, rows: readonly { tenant: string; record: string }[]): Promise<{ unlinked: string[]; refused: { tenant: string; why: string }[] }> {
  const recs = await runScript(t, PRUNE_SCRIPT, [p.etc, p.launchDaemons, p.varDb, run], rows.map((r) => `${r.tenant}\t${r.record}\n`).join(''), (RELOAD_WAIT_SEC + 30) * 1000);
  return {
    unlinked: recs.filter((r) => r[0] === 'unlinked').map((r) => r[1]!),
    refused: recs.filter((r) => r[0] === 'prune-refused').map((r) => ({ tenant: r[1] ?? '?', why: r[2] || 'refused' })),
  };
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
  // never through a link: not the dirs (refused), not a temp name planted as a link (removed, then created O_EXCL)
  const script = 'q="$1/clawops/quarantine"; d="$q/$2"; for x in "$1/clawops" "$q" "$d"; do [ -L "$x" ] && exit 3; done; mkdir -p "$d" && rm -f "$d/$3.tmp" && (set -C; printf "%s\\n" "$4" > "$d/$3.tmp") && mv -f "$d/$3.tmp" "$d/$3"';
  await t.exec(`sh -c ${shQuote(script)} clawops ${shQuote(p.varDb)} ${shQuote(tenant)} ${shQuote(id)} ${shQuote(record)}`, { timeoutMs: 15_000 });
}

export interface HotOutcome {
  ok: boolean;
  pid?: number;
  /** why the hot path did not take (then the caller restarts) */
  why?: string;
  /** ms from the touch until the gateway showed the new config as applied */
  ms?: number;
  /** the health gate's first question, asked in the same command, was answered ready (no gate command needed) */
  ready?: boolean;
  /** and the dead-man guard was marked passed in the same command (markPassed asked for; no PASSED command needed) */
  passed?: boolean;
}

/**
 * how long the node asks the gateway (every 50 ms) before giving up on the hot path: the real gateway applies a
 * touched config within ~0.3 s (its watcher's debounce); a restart is the answer past this
 */
export const HOT_VERIFY_MS = 15_000;

/**
 * Hot reload, one command: touch the config the gateway watches, then ask the running gateway over its own RPC
 * (gateway-rpc.ts: a few lines of JavaScript on the node, not the OpenClaw CLI) until every changed key shows the new
 * value AND its applied revision is the file's; then the run record names the new release. Not verified (the gateway
 * cannot be asked, refuses, restarted by itself, or has not applied it in HOT_VERIFY_MS) → `ok: false`: the caller
 * restarts instead.
 */
export async function hotReload(
  t: Transport,
  p: NodePaths,
  tenant: string,
  check: { port: number; auth: Exclude<GatewayAuth, { why: string }>; expect: readonly [string, unknown][]; readiness?: { url: string; allowDegraded: boolean } },
  record: { releaseId: string; commit?: string; tag?: string; guardRun?: string; markPassed?: boolean },
  verifyMs = HOT_VERIFY_MS,
): Promise<HotOutcome> {
  const runRec = JSON.stringify({ release_id: record.releaseId, commit: record.commit ?? '', tag: record.tag ?? '' }).slice(1, -1);
  const kind = check.auth.kind;
  const file = 'file' in check.auth ? check.auth.file : '';
  // what the client does once the gateway applied it (gateway-rpc.ts afterApply)
  const after = {
    run: { dir: `${p.varDb}/clawops/run`, tenant, fields: runRec },
    ...(check.readiness ? { ready: { url: check.readiness.url, allow: check.readiness.allowDegraded } } : {}),
    ...(check.readiness && record.markPassed && record.guardRun ? { passed: guardFile(p, record.guardRun) } : {}),
  };
  const args = [p.etc, tenant, p.varDb, String(check.port), kind, file, String(verifyMs), beatFile(p, record.guardRun), JSON.stringify(after), GATEWAY_RPC_JS];
  // each expectation with its path's keys: a key may hold dots (the node-side verdict walks the keys, not the string)
  const want = check.expect.map(([path, v]) => [path, v ?? null, pathSegments(path)]);
  const recs = await runScript(t, HOT_SCRIPT, args, JSON.stringify(want), verifyMs + 30_000);
  const applied = recs.find((r) => r[0] === 'hot-applied');
  if (applied) return { ok: true, pid: Number(applied[1]), ms: Number(applied[2] ?? 0), ready: recs.some((r) => r[0] === 'ready'), passed: recs.some((r) => r[0] === 'passed') };
  const pending = recs.find((r) => r[0] === 'hot-pending');
  if (pending) return { ok: false, pid: Number(pending[1]), why: pending[2] ?? '?' };
  return { ok: false, why: 'the service is not running' };
}
