/** The probe's pure parts: doctor output parsing and judgement (real fixture), maintenance windows, compose rules. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { settingsWithDefaults } from '../../reconciler/desired/defaults.js';
import { renderDoctorPolicy } from '../../reconciler/desired/render.js';
import type { DigestFetch } from '../../reconciler/probe/check-digest.js';
import { classifyGateway, GATEWAY_PENDING } from '../../reconciler/probe/check-gateway.js';
import { classifyDisk, classifyQueue, queueFile } from '../../reconciler/probe/check-resources.js';
import { compose, DOCTOR_PENDING, type ComposeInput, type DoctorCell } from '../../reconciler/probe/compose.js';
import { judgeDoctor } from '../../reconciler/probe/judge-doctor.js';
import { activeMaintenanceWindow, inWindow } from '../../reconciler/probe/maintenance.js';
import { parseDoctorOutput, runDoctor, type DoctorReport } from '../../reconciler/probe/openclaw-doctor.js';
import { parseDoctorPolicy } from '../../reconciler/probe/policy.js';
import { tmp } from '../notifier/helpers.js';
import { fakeOpenclaw, GREEN_DOCTOR_JSON, REAL_DOCTOR_JSON } from './helpers.js';

const policy = (frag: Record<string, unknown> = {}) => renderDoctorPolicy(frag, 'acme', settingsWithDefaults({})).doctor;

function real(): DoctorReport {
  const r = parseDoctorOutput(REAL_DOCTOR_JSON);
  if (r instanceof Error) throw r;
  return r;
}

describe('doctor output (real OpenClaw 2026.9.6 JSON)', () => {
  it('parses the real fixture', () => {
    const r = real();
    expect(r).toMatchObject({ schemaVersion: 1, ok: false, checksRun: 35, checksSkipped: 30 });
    expect(r.findings.map((f) => [f.checkId, f.severity])).toEqual([
      ['core/doctor/heartbeat-cadence-migration', 'warning'],
      ['core/doctor/node-hosting-preconditions', 'warning'],
    ]);
    expect(r.findings[0]!.fixHint).toMatch(/doctor --fix/);
  });

  it.each([
    ['', 'doctor printed nothing'],
    ['Doctor: all good', 'doctor output is not JSON'],
    ['[]', 'doctor output is not a JSON object'],
    ['{"findings":[]}', 'doctor output has no boolean "ok"'],
    ['{"ok":true}', 'doctor output has no "findings" list'],
    ['{"ok":false,"findings":[{"severity":"error"}]}', 'doctor output: findings[0] has no checkId'],
    ['{"ok":false,"findings":[{"checkId":"x","severity":"fatal"}]}', 'doctor output: findings[0] (x) has severity "fatal", not info|warning|error'],
  ])('refuses %j', (out, msg) => {
    const r = parseDoctorOutput(out);
    expect(r).toBeInstanceOf(Error);
    expect((r as Error).message).toBe(msg);
  });

  it('judged by the default policy: two warnings → yellow', () => {
    const j = judgeDoctor(real(), policy());
    expect(j.verdict).toBe('yellow');
    expect(j.reasons).toHaveLength(2);
    expect(j.ignored).toBe(0);
  });

  it('ignored checks drop out; fail_on warning turns it red; warn_on error makes it green', () => {
    const ids = real().findings.map((f) => f.checkId);
    expect(judgeDoctor(real(), policy({ doctor: { ignored_checks: ids } }))).toMatchObject({ verdict: 'green', ignored: 2, reasons: [] });
    expect(judgeDoctor(real(), policy({ doctor: { fail_on: 'warning' } })).verdict).toBe('red');
    expect(judgeDoctor(real(), policy({ doctor: { warn_on: 'error' } })).verdict).toBe('green');
  });

  it('a required check wins over ignored and says so', () => {
    const id = 'core/doctor/node-hosting-preconditions';
    const j = judgeDoctor(real(), policy({ doctor: { required_checks: [id], ignored_checks: [id], fail_on: 'warning' } }));
    expect(j.verdict).toBe('red');
    expect(j.reasons[0]).toMatch(/^doctor: required check core\/doctor\/node-hosting-preconditions \(warning\)/);
  });

  it('ok without findings is green; ok:false without findings is yellow', () => {
    expect(judgeDoctor({ schemaVersion: 1, ok: true, checksRun: 1, checksSkipped: 0, findings: [] }, policy()).verdict).toBe('green');
    expect(judgeDoctor({ schemaVersion: 1, ok: false, checksRun: 1, checksSkipped: 0, findings: [] }, policy())).toMatchObject({ verdict: 'yellow', reasons: ['doctor: reported ok:false without findings'] });
  });

  it('runDoctor strips test-runner markers from the environment it is given', async () => {
    const dir = tmp('rd');
    fakeOpenclaw(dir, GREEN_DOCTOR_JSON);
    const run = await runDoctor({ openclaw: join(dir, 'openclaw'), profile: 'acme', timeoutMs: 5000, env: { PATH: process.env.PATH, VITEST: 'true', VITEST_WORKER_ID: '1', JEST_WORKER_ID: '1' }, configPath: '/etc/x/openclaw.json' });
    expect(run.kind).toBe('report');
    expect(readFileSync(join(dir, 'vitest-env'), 'utf8').trim()).toBe('0');
    expect(readFileSync(join(dir, 'openclaw-env'), 'utf8').trim()).toBe('config=/etc/x/openclaw.json state=');
    const missing = await runDoctor({ openclaw: join(dir, 'no-such-openclaw'), profile: 'acme', timeoutMs: 5000 });
    expect(missing).toMatchObject({ kind: 'error', reason: expect.stringMatching(/^cannot run .*no-such-openclaw: ENOENT$/) });
  });
});

describe('maintenance windows', () => {
  const w = (days: string[], start: string, end: string, tz = 'UTC') => ({ days, start, end, tz }) as Parameters<typeof inWindow>[0];
  it('plain, wrapping past midnight, 24:00, empty, and time zones', () => {
    const mon = (hhmm: string) => new Date(`2026-11-23T${hhmm}:00Z`); // a Monday
    expect(inWindow(w(['mon'], '02:00', '03:00'), mon('02:00'))).toBe(true);
    expect(inWindow(w(['mon'], '02:00', '03:00'), mon('03:00'))).toBe(false);
    expect(inWindow(w(['tue'], '02:00', '03:00'), mon('02:30'))).toBe(false);
    // sun 23:00-02:00 covers Monday 01:59 but not Monday 23:30
    expect(inWindow(w(['sun'], '23:00', '02:00'), mon('01:59'))).toBe(true);
    expect(inWindow(w(['sun'], '23:00', '02:00'), mon('23:30'))).toBe(false);
    expect(inWindow(w(['mon'], '00:00', '24:00'), mon('23:59'))).toBe(true);
    expect(inWindow(w(['mon'], '05:00', '05:00'), mon('05:00'))).toBe(false);
    // 02:30 UTC on Monday is 21:30 Sunday in New York
    expect(inWindow(w(['sun'], '21:00', '22:00', 'America/New_York'), mon('02:30'))).toBe(true);
    expect(activeMaintenanceWindow({ b: w(['mon'], '00:00', '24:00'), a: w(['mon'], '00:00', '24:00') }, mon('12:00'))).toBe('a');
    expect(activeMaintenanceWindow({}, mon('12:00'))).toBeNull();
  });

  it('a policy with an unknown zone is refused when loaded', () => {
    expect(() => parseDoctorPolicy({ maintenance_windows: { x: { days: ['mon'], start: '01:00', end: '02:00', tz: 'Mars/Olympus' } } }, 'acme', 'p.json')).toThrow(/unknown time zone "Mars\/Olympus"/);
    expect(() => parseDoctorPolicy({ tenant: 'globex' }, 'acme', 'p.json')).toThrow(/written for tenant "globex"/);
  });
});

describe('compose: the status rules', () => {
  const at = Date.parse('2026-11-25T12:00:00Z');
  const iso = new Date(at).toISOString();
  const doctor = (state: DoctorCell['state']): DoctorCell => ({ ...DOCTOR_PENDING, state, checked_at: iso, reasons: state === 'green' ? [] : [`doctor: ${state}`] });
  const freshDigest: DigestFetch = { fetch: 'ok', fetched_at_ms: at, age_sec_at_fetch: 1, window_sec: 300, rows: [], error: null };
  const base: ComposeInput = {
    tenant: 'acme',
    nowMs: at,
    doctor: doctor('green'),
    maintenanceWindow: null,
    gateway: classifyGateway(200, { ready: true, failing: [] }, iso),
    disk: classifyDisk(50, { path: '/', warn_free_pct: 15, critical_free_pct: 5 }, iso),
    queue: classifyQueue(0, [], { paths: [], warn_bytes: 10, critical_bytes: 20 }, iso),
    digest: freshDigest,
    digestSloSec: 600,
  };
  const status = (over: Partial<ComposeInput>) => compose({ ...base, ...over }).status;

  it('green everything → ok', () => expect(compose(base)).toMatchObject({ status: 'ok', reasons: [], digest_age_sec: 1 }));
  it('doctor pending/yellow → degraded; red → fail; red in a window → degraded', () => {
    expect(status({ doctor: DOCTOR_PENDING })).toBe('degraded');
    expect(status({ doctor: doctor('yellow') })).toBe('degraded');
    expect(status({ doctor: doctor('red') })).toBe('fail');
    expect(status({ doctor: doctor('red'), maintenanceWindow: 'w' })).toBe('degraded');
  });
  it('gateway pending/not ready → fail, even in a window', () => {
    expect(status({ gateway: GATEWAY_PENDING })).toBe('fail');
    expect(status({ gateway: classifyGateway(503, {}, iso), maintenanceWindow: 'w' })).toBe('fail');
    expect(status({ gateway: classifyGateway(200, { ready: false }, iso) })).toBe('fail');
  });
  it('disk/queue: warn → degraded, critical → fail', () => {
    expect(status({ disk: classifyDisk(10, { path: '/', warn_free_pct: 15, critical_free_pct: 5 }, iso) })).toBe('degraded');
    expect(status({ disk: classifyDisk(5, { path: '/', warn_free_pct: 15, critical_free_pct: 5 }, iso) })).toBe('fail');
    expect(status({ queue: classifyQueue(11, [], { paths: [], warn_bytes: 10, critical_bytes: 20 }, iso) })).toBe('degraded');
    expect(status({ queue: classifyQueue(21, [], { paths: [], warn_bytes: 10, critical_bytes: 20 }, iso) })).toBe('fail');
  });
  it('the digest is never worse than degraded: pending, unreachable, stale (also by ageing since the fetch), rows', () => {
    expect(status({ digest: { ...freshDigest, fetch: 'pending' } })).toBe('degraded');
    expect(status({ digest: { ...freshDigest, fetch: 'unreachable', error: 'ECONNREFUSED' } })).toBe('degraded');
    expect(status({ digest: { ...freshDigest, age_sec_at_fetch: 601 } })).toBe('degraded');
    const aged = compose({ ...base, nowMs: at + 600_000 });
    expect([aged.status, aged.digest.state, aged.digest_age_sec]).toEqual(['degraded', 'stale', 601]);
    const rows = [{ tenant: 'acme', endpoint: 'https://h', family: '5xx' as const, count: 2, statuses: { '500': 2 }, first_seen: iso, last_seen: iso }];
    expect(status({ digest: { ...freshDigest, rows } })).toBe('degraded');
    expect(status({ digest: { ...freshDigest, fetch: 'unreachable', error: 'x' }, doctor: doctor('yellow') })).toBe('degraded');
  });
  it('queue paths never escape the state dir', () => {
    expect(queueFile('/s', 'a/b.sqlite')).toBe('/s/a/b.sqlite');
    expect(queueFile('/s', '../etc/passwd')).toBeUndefined();
    expect(queueFile('/s', '/etc/passwd')).toBeUndefined();
  });
});
