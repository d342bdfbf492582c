/**
 * The probe process. Background checkers, each on its own schedule (the next run is scheduled when the previous
 * one finished, so a slow check never overlaps itself), write into last-result cells; every write and a 1 s tick
 * recompute the composite and pre-serialise the answer. `GET /readyz` only copies that string out: it never runs
 * a check, so its latency does not depend on doctor, disks or the notifier.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { oneLine } from '../errors.js';
import { safeJson } from '../safe-text.js';
import type { ListenAddress } from '../notifier/listen-address.js';
import { listenHttp, type HttpHandle } from '../notifier/server.js';
import { checkDigest, DIGEST_PENDING, type DigestFetch } from './check-digest.js';
import { checkGateway, GATEWAY_PENDING, type GatewayResult } from './check-gateway.js';
import { checkDisk, checkQueue, type DiskResult, type QueueResult } from './check-resources.js';
import { compose, DOCTOR_PENDING, type DoctorCell, type Readiness } from './compose.js';
import { judgeDoctor } from './judge-doctor.js';
import { activeMaintenanceWindow } from './maintenance.js';
import { runDoctor, type DoctorReport } from './openclaw-doctor.js';
import { PolicySource } from './policy.js';
import { HTTP_STATUS } from './state.js';

export interface ProbeOptions {
  tenant: string;
  listen: ListenAddress;
  policyFile: string;
  gatewayUrl: string;
  digestUrl: string;
  /** the openclaw executable */
  openclaw: string;
  /** OPENCLAW_CONFIG_PATH for doctor */
  configPath?: string;
  /** profile state dir: queue paths are relative to it */
  stateDir: string;
  /** also pass stateDir to doctor as OPENCLAW_STATE_DIR */
  exportStateDir?: boolean;
  logger: Logger;
  /** check cadences in ms (doctor's comes from the policy) */
  intervals?: Partial<{ gateway: number; disk: number; queue: number; digest: number; tick: number; policy: number }>;
  gatewayTimeoutMs?: number;
  /** base environment for the doctor run (default process.env; test-runner markers are always stripped) */
  doctorEnv?: NodeJS.ProcessEnv;
  /** the clock (ms since epoch) for maintenance windows, digest age and timestamps; default Date.now */
  now?: () => number;
}

export interface ProbeHandle {
  readonly http: HttpHandle;
  /** the last composed answer */
  readiness(): Readiness;
  close(): Promise<void>;
}

const DEFAULT_INTERVALS = { gateway: 2000, disk: 10_000, queue: 5000, digest: 5000, tick: 1000, policy: 5000 };

function pendingDisk(path: string): DiskResult {
  return { state: 'pending', checked_at: null, path, free_pct: null, reason: null };
}
const QUEUE_PENDING: QueueResult = { state: 'pending', checked_at: null, bytes: null, files: [], reason: null };

export async function startProbe(opts: ProbeOptions): Promise<ProbeHandle> {
  const log = opts.logger;
  const clock = opts.now ?? Date.now;
  const iv = { ...DEFAULT_INTERVALS, ...opts.intervals };
  const policy = new PolicySource(opts.policyFile, opts.tenant);

  let doctor: DoctorCell = DOCTOR_PENDING;
  let gateway: GatewayResult = GATEWAY_PENDING;
  let disk: DiskResult = pendingDisk(policy.policy.disk.path);
  let queue: QueueResult = QUEUE_PENDING;
  let digest: DigestFetch = DIGEST_PENDING;

  let current: Readiness;
  let body = '';
  let code: 200 | 503 = 503;
  const recompute = (): void => {
    const now = clock();
    const p = policy.policy;
    const next = compose({
      tenant: opts.tenant,
      nowMs: now,
      doctor,
      maintenanceWindow: activeMaintenanceWindow(p.maintenance_windows, new Date(now)),
      gateway,
      disk,
      queue,
      digest,
      digestSloSec: p.digest.slo_sec,
      notes: policy.error ? [policy.error] : [],
    });
    if (current === undefined || next.status !== current.status) {
      const fields = { tenant: opts.tenant, status: next.status, from: current?.status ?? null, reasons: next.reasons };
      if (next.status === 'ok') log.info(fields, 'readiness changed');
      else log.warn(fields, 'readiness changed');
    }
    current = next;
    // (escaped as the controller's answers are: bidi, C1 and U+2028 from what doctor or a gateway said)
    body = `${safeJson(next)}\n`;
    code = HTTP_STATUS[next.status];
  };
  recompute();

  let stopped = false;
  const abort = new AbortController();
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  /**
   * Run `job` now and again `interval()` ms after each run finishes. The returned `rearm` re-reads the interval
   * for the wait in progress (a policy that shortens doctor's interval takes effect now, not after the old wait).
   */
  const schedule = (name: string, interval: () => number, job: () => Promise<void>): { rearm(): void } => {
    let pending: NodeJS.Timeout | undefined;
    let finishedAt = 0;
    const wait = (ms: number): void => {
      const t = setTimeout(() => {
        timers.delete(t);
        pending = undefined;
        once();
      }, Math.max(0, ms));
      pending = t;
      timers.add(t);
    };
    const once = (): void => {
      if (stopped) return;
      const p = job()
        .catch((e: unknown) => log.error({ check: name, err: oneLine(e) }, 'check crashed'))
        .then(() => {
          recompute();
          if (stopped) return;
          finishedAt = Date.now();
          wait(interval());
        })
        .finally(() => running.delete(p));
      running.add(p);
    };
    once();
    return {
      rearm: () => {
        if (pending === undefined || stopped) return;
        clearTimeout(pending);
        timers.delete(pending);
        wait(finishedAt + interval() - Date.now());
      },
    };
  };

  /** the last report doctor printed, kept so a new policy re-judges it at once instead of at the next run */
  let lastReport: { report: DoctorReport; checkedAt: string; durationMs: number } | undefined;
  const judgeLastReport = (): void => {
    if (!lastReport) return;
    const j = judgeDoctor(lastReport.report, policy.policy.doctor);
    doctor = { state: j.verdict, checked_at: lastReport.checkedAt, duration_ms: lastReport.durationMs, findings: j.findings, ignored: j.ignored, reasons: j.reasons };
  };

  const doctorSchedule = schedule(
    'doctor',
    () => policy.policy.doctor.interval_sec * 1000,
    async () => {
      const p = policy.policy;
      const run = await runDoctor({
        openclaw: opts.openclaw,
        profile: opts.tenant,
        timeoutMs: p.doctor.timeout_sec * 1000,
        ...(opts.configPath !== undefined ? { configPath: opts.configPath } : {}),
        ...(opts.exportStateDir ? { stateDir: opts.stateDir } : {}),
        ...(opts.doctorEnv !== undefined ? { env: opts.doctorEnv } : {}),
        signal: abort.signal,
      });
      if (stopped) return;
      const checkedAt = new Date(clock()).toISOString();
      if (run.kind === 'report') {
        // judged by the policy in force now (it may have changed during a run of several seconds)
        lastReport = { report: run.report, checkedAt, durationMs: run.durationMs };
        judgeLastReport();
      } else {
        lastReport = undefined;
        doctor = { state: 'red', checked_at: checkedAt, duration_ms: run.durationMs, findings: [], ignored: 0, reasons: [`doctor: ${run.reason}`] };
      }
      log.debug({ check: 'doctor', state: doctor.state, duration_ms: run.durationMs, reasons: doctor.reasons }, 'doctor run finished');
    },
  );
  schedule(
    'gateway',
    () => iv.gateway,
    async () => {
      gateway = await checkGateway(opts.gatewayUrl, opts.gatewayTimeoutMs ?? 2000, clock);
    },
  );
  schedule(
    'disk',
    () => iv.disk,
    async () => {
      disk = await checkDisk(policy.policy.disk, clock);
    },
  );
  schedule(
    'queue',
    () => iv.queue,
    async () => {
      queue = await checkQueue(policy.policy.queue, opts.stateDir, clock);
    },
  );
  schedule(
    'digest',
    () => iv.digest,
    async () => {
      digest = await checkDigest(opts.digestUrl, opts.tenant, policy.policy.digest.timeout_ms, digest, clock);
    },
  );
  schedule(
    'policy',
    () => iv.policy,
    async () => {
      if (policy.refresh()) {
        log.info({ policy: opts.policyFile }, 'doctor policy reloaded');
        judgeLastReport();
        doctorSchedule.rearm();
      }
    },
  );
  // the composite also changes with time alone (maintenance windows open and close, digest data ages)
  const tick = setInterval(recompute, iv.tick);

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const head = req.method === 'HEAD';
    const path = (req.url ?? '/').split('?')[0];
    let status: number;
    let text: string;
    if (req.method !== 'GET' && !head) [status, text] = [405, '{"error":"method not allowed"}\n'];
    else if (path === '/readyz') [status, text] = [code, body];
    else if (path === '/healthz') [status, text] = [200, '{"ok":true,"status":"live"}\n'];
    else [status, text] = [404, '{"error":"not found"}\n'];
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
    res.end(head ? undefined : text);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  let http: HttpHandle;
  try {
    http = await listenHttp(server, opts.listen);
  } catch (e) {
    stopped = true;
    clearInterval(tick);
    for (const t of timers) clearTimeout(t);
    throw e;
  }
  log.info(
    { tenant: opts.tenant, listen: http.url, policy: opts.policyFile, gateway: opts.gatewayUrl, digest: opts.digestUrl, openclaw: opts.openclaw, state_dir: opts.stateDir },
    'probe listening',
  );

  let closing: Promise<void> | undefined;
  return {
    http,
    readiness: () => current,
    close: () => {
      closing ??= (async () => {
        stopped = true;
        clearInterval(tick);
        for (const t of timers) clearTimeout(t);
        abort.abort();
        await http.close();
        // in-flight checks end quickly now (doctor is killed, HTTP checks have short timeouts)
        await Promise.allSettled([...running]);
        for (const t of timers) clearTimeout(t);
        log.info({ tenant: opts.tenant }, 'probe stopped');
      })();
      return closing;
    },
  };
}
