/** Probe test rig: a fake `openclaw` script, a policy file, a fake gateway, and a digest source. */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fakeHttp, json, type FakeHttp } from '../notifier/helpers.js';

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
/** `openclaw --profile acme doctor --json` from the real CLI (2026.9.6): ok:false, two warnings. */
export const REAL_DOCTOR_JSON = readFileSync(join(FIXTURE_DIR, 'doctor-real-2026.9.6.json'), 'utf8');

export const GREEN_DOCTOR_JSON = JSON.stringify({ schemaVersion: 1, ok: true, checksRun: 35, checksSkipped: 30, findings: [] });
export const RED_DOCTOR_JSON = JSON.stringify({
  schemaVersion: 1,
  ok: false,
  checksRun: 35,
  checksSkipped: 30,
  findings: [{ checkId: 'core/doctor/gateway-config', severity: 'error', message: 'gateway.mode is invalid', path: 'gateway.mode' }],
});

/**
 * A stand-in `openclaw` in `dir`: records each call (pid, args, whether VITEST* reached it, OPENCLAW_* vars), then
 * prints `dir/doctor.json` and exits with `dir/exit` (default 0). With `dir/hang` present it sleeps in a child
 * first, recording both pids, so a test can check the whole process group was killed.
 */
export function fakeOpenclaw(dir: string, doctorJson = REAL_DOCTOR_JSON): { bin: string; setOutput(s: string): void; calls(): string[] } {
  const bin = join(dir, 'openclaw');
  writeFileSync(
    bin,
    `#!/bin/sh
d='${dir}'
echo "$$ $*" >> "$d/calls"
env | grep -c '^VITEST' > "$d/vitest-env"
echo "config=\${OPENCLAW_CONFIG_PATH:-} state=\${OPENCLAW_STATE_DIR:-}" > "$d/openclaw-env"
if [ -f "$d/hang" ]; then
  echo $$ > "$d/hang-pid"
  sleep 60 &
  echo $! > "$d/sleep-pid"
  wait
fi
if [ -f "$d/stderr" ]; then cat "$d/stderr" >&2; fi
cat "$d/doctor.json"
exit "$(cat "$d/exit" 2>/dev/null || echo 0)"
`,
  );
  chmodSync(bin, 0o755);
  const setOutput = (s: string): void => writeFileSync(join(dir, 'doctor.json'), s);
  setOutput(doctorJson);
  return {
    bin,
    setOutput,
    calls: () => {
      try {
        return readFileSync(join(dir, 'calls'), 'utf8').split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
  };
}

/** A rendered doctor policy (doctor.json). Disk thresholds default to 0 so the test machine's disk never matters. */
export function writePolicy(dir: string, policy: Record<string, unknown> = {}, tenant = 'acme'): string {
  mkdirSync(join(dir, 'policy'), { recursive: true });
  const file = join(dir, 'policy', 'doctor.json');
  const doc = {
    tenant,
    doctor: { interval_sec: 3600, timeout_sec: 20 },
    disk: { path: dir, warn_free_pct: 0, critical_free_pct: 0 },
    ...policy,
  };
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

/** A gateway stand-in: GET /readyz answers `state.status` with `state.body`. */
export async function fakeGateway(): Promise<FakeHttp & { setReady(ready: boolean): void }> {
  let ready = true;
  const g = await fakeHttp((req, _body, res) => {
    if (req.url !== '/readyz') return json(res, 404, { error: 'not found' });
    if (ready) json(res, 200, { ready: true, failing: [], uptimeMs: 1234 });
    else json(res, 503, { ready: false, failing: ['channels', 'agents'] });
  });
  return Object.assign(g, { setReady: (r: boolean) => void (ready = r) });
}

/** A digest stand-in answering a fixed document (for stale/odd answers a real notifier would not give). */
export async function fakeDigest(doc: Record<string, unknown>): Promise<FakeHttp & { doc: Record<string, unknown> }> {
  const state = { doc };
  const d = await fakeHttp((_req, _body, res) => json(res, 200, state.doc));
  return Object.assign(d, state);
}
