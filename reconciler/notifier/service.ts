/**
 * The notifier process: socket ingest → digest → (tick) snapshot → HTTP + broadcasts, with the state persisted.
 * One tick (default 1 s) recomputes the snapshot when the digest changed or its window advanced, decides the
 * broadcasts and marks the state dirty; everything else reacts to I/O.
 */
import { lstat, rename } from 'node:fs/promises';
import type { Logger } from 'pino';
import { IoError, oneLine } from '../errors.js';
import {
  afterAttempt,
  createMailer,
  clampChannel,
  decideBroadcast,
  digestFingerprint,
  formatSummary,
  isChannelState,
  isQuiet,
  NEVER_SENT,
  postSlack,
  redact,
  type ChannelState,
  type Mailer,
  type SmtpConfig,
} from './broadcast.js';
import { FailureDigest, type DigestSnapshot, type PersistedDigest } from './digest.js';
import { parseFailureLine } from './failure-line.js';
import { startIngest, type IngestHandle } from './ingest.js';
import type { ListenAddress } from './listen-address.js';
import { DebouncedSaver, readStateFile } from './persist.js';
import { startDigestServer, type HttpHandle } from './server.js';

export interface NotifierOptions {
  socketPath: string;
  listen: ListenAddress;
  windowSec: number;
  maxKeys: number;
  /** where the digest survives restarts; without it a restart starts empty */
  stateFile?: string;
  /** secret: never logged */
  slackUrl?: string;
  smtp?: Omit<SmtpConfig, 'timeoutMs'> & { timeoutMs?: number };
  logger: Logger;
  /** snapshot/broadcast cadence, default 1000 ms */
  tickMs?: number;
  persistDebounceMs?: number;
  maxLineBytes?: number;
  /** close ingest connections silent this long (default 10 min) */
  idleTimeoutMs?: number;
  /** wait after a failed send before trying that channel again, default 60 s */
  broadcastRetryMs?: number;
  broadcastTimeoutMs?: number;
  /** the clock (ms since epoch) for windows, ages and the broadcast cadence; default Date.now (tests inject one) */
  now?: () => number;
}

export interface NotifierHandle {
  readonly socketPath: string;
  readonly http: HttpHandle;
  /** the last computed snapshot */
  snapshot(): DigestSnapshot;
  /**
   * Run one tick now (recompute the snapshot, decide broadcasts) and resolve when the sends it started have
   * finished. The timer does the same every tickMs; this is for callers that need to know it happened.
   */
  refresh(): Promise<void>;
  /** Persist, stop listening, wait for in-flight broadcasts. Idempotent. */
  close(): Promise<void>;
}

type ChannelName = 'slack' | 'email';

interface PersistedState {
  format: 'clawops-notifier-state/v1';
  saved_at: string;
  digest: PersistedDigest;
  broadcast: Record<ChannelName, ChannelState>;
}

/** Log bursts (malformed lines, overflow) at most once per interval, with the count since the last line. */
class BurstLog {
  private count = 0;
  private lastAt = 0;
  private lastDetail = '';
  constructor(
    private readonly log: (count: number, detail: string) => void,
    private readonly everyMs = 10_000,
  ) {}
  hit(detail: string, nowMs: number): void {
    this.count++;
    this.lastDetail = detail;
    this.maybeFlush(nowMs);
  }
  maybeFlush(nowMs: number): void {
    if (nowMs - this.lastAt >= this.everyMs) this.flush(nowMs);
  }
  flush(nowMs: number): void {
    if (this.count === 0) return;
    this.log(this.count, this.lastDetail);
    this.count = 0;
    this.lastAt = nowMs;
  }
}

async function loadState(opts: NotifierOptions, nowMs: number): Promise<{ digest: FailureDigest; broadcast: Record<ChannelName, ChannelState> }> {
  const fresh = { digest: new FailureDigest({ windowSec: opts.windowSec, maxKeys: opts.maxKeys }), broadcast: { slack: NEVER_SENT, email: NEVER_SENT } };
  if (!opts.stateFile) return fresh;
  try {
    const raw = await readStateFile(opts.stateFile);
    if (raw === undefined) {
      opts.logger.info({ state: opts.stateFile }, 'no saved digest; starting empty');
      return fresh;
    }
    const st = raw as Partial<PersistedState>;
    if (st.format !== 'clawops-notifier-state/v1') throw new Error('unknown state format');
    const digest = FailureDigest.restore(st.digest, { windowSec: opts.windowSec, maxKeys: opts.maxKeys }, nowMs);
    const b = st.broadcast ?? {};
    const broadcast = {
      slack: isChannelState((b as Record<string, unknown>).slack) ? (b as Record<ChannelName, ChannelState>).slack : NEVER_SENT,
      email: isChannelState((b as Record<string, unknown>).email) ? (b as Record<ChannelName, ChannelState>).email : NEVER_SENT,
    };
    opts.logger.info({ state: opts.stateFile, keys: digest.size(nowMs), saved_at: st.saved_at }, 'digest restored');
    return { digest, broadcast };
  } catch (e) {
    // a bad state file must not keep the notifier down; keep it for a human (never over an earlier one) and start
    // empty. One that cannot be moved aside would fail every save: the notifier does not start, saying so.
    const file = opts.stateFile;
    const moveTo = async (to: string): Promise<string | undefined> => ((await lstat(to).then(() => true, () => false)) ? undefined : rename(file, to).then(() => to, () => undefined));
    const aside = (await moveTo(`${file}.corrupt`)) ?? (await moveTo(`${file}.corrupt.${Date.now()}`));
    if (aside === undefined) throw new IoError(`--state ${file}: unreadable (${oneLine(e)}) and cannot be moved aside; move it away by hand`);
    opts.logger.warn({ state: file, moved_to: aside, err: oneLine(e) }, 'saved digest unreadable; starting empty');
    return fresh;
  }
}

export async function startNotifier(opts: NotifierOptions): Promise<NotifierHandle> {
  const log = opts.logger;
  const now = opts.now ?? Date.now;
  const tickMs = opts.tickMs ?? 1000;
  const retryMs = opts.broadcastRetryMs ?? 60_000;
  const sendTimeoutMs = opts.broadcastTimeoutMs ?? 10_000;
  const secrets = [opts.slackUrl, opts.smtp?.password];

  const loaded = await loadState(opts, now());
  const digest = loaded.digest;
  const channels = loaded.broadcast;

  let computedAtMs = now();
  let snapshot = digest.snapshot(computedAtMs);
  let fingerprint = digestFingerprint(snapshot);
  let seenVersion = digest.version;
  let seenSlot = digest.slotIndex(computedAtMs);

  const saver = opts.stateFile
    ? new DebouncedSaver(
        opts.stateFile,
        (): PersistedState => ({ format: 'clawops-notifier-state/v1', saved_at: new Date(now()).toISOString(), digest: digest.toJSON(), broadcast: channels }),
        opts.persistDebounceMs ?? 1000,
        (err) => log.error({ err: oneLine(err) }, 'saving digest failed'),
      )
    : undefined;

  const malformed = new BurstLog((count, detail) => log.warn({ count, last_error: detail }, 'dropped malformed webhook-failure lines'));
  const overflowed = new BurstLog((count) => log.warn({ count, max_keys: opts.maxKeys }, 'digest key cap reached; failures for new keys counted as overflow'));

  const onLine = (line: string): void => {
    const t = now();
    const parsed = parseFailureLine(line);
    if (!parsed.ok) {
      digest.addDropped(t);
      malformed.hit(parsed.error, t);
      return;
    }
    const f = parsed.failure;
    if (digest.add({ tenant: f.tenant, origin: parsed.origin, status: f.status, timeMs: parsed.timeMs }, t) === 'overflow') overflowed.hit('', t);
  };

  const ingest: IngestHandle = await startIngest({
    socketPath: opts.socketPath,
    ...(opts.maxLineBytes !== undefined ? { maxLineBytes: opts.maxLineBytes } : {}),
    ...(opts.idleTimeoutMs !== undefined ? { idleTimeoutMs: opts.idleTimeoutMs } : {}),
    onLine,
    onOversize: () => {
      const t = now();
      digest.addDropped(t);
      malformed.hit('line too long', t);
    },
    onConnectionError: (err) => log.debug({ err: oneLine(err) }, 'ingest connection error'),
  });

  let http: HttpHandle;
  try {
    http = await startDigestServer({ listen: opts.listen, current: () => ({ snapshot, computedAtMs }), now });
  } catch (e) {
    await ingest.close();
    throw e;
  }

  const mailer: Mailer | undefined = opts.smtp ? createMailer({ ...opts.smtp, timeoutMs: opts.smtp.timeoutMs ?? sendTimeoutMs }) : undefined;
  const senders: Partial<Record<ChannelName, (subject: string, text: string) => Promise<void>>> = {};
  // the service stopping cuts every send off (each is recorded as a failed attempt, and saved), never waits it out
  const stopping = new AbortController();
  if (opts.slackUrl) {
    const url = opts.slackUrl;
    senders.slack = (_subject, text) => postSlack(url, text, sendTimeoutMs, stopping.signal);
  }
  if (mailer) senders.email = (subject, text) => mailer.send(subject, text);
  const inFlight = new Map<ChannelName, Promise<void>>();

  const broadcast = (t: number): void => {
    const quiet = isQuiet(snapshot);
    for (const name of Object.keys(senders) as ChannelName[]) {
      const sender = senders[name];
      if (!sender || inFlight.has(name)) continue;
      channels[name] = clampChannel(channels[name], t);
      const decision = decideBroadcast(channels[name], fingerprint, quiet, t, { windowMs: digest.windowSec * 1000, retryMs });
      if (!decision.send) continue;
      const { subject, text } = formatSummary(snapshot);
      const fp = fingerprint;
      const total = snapshot.total;
      const p = sender(subject, text)
        .then(
          () => {
            channels[name] = afterAttempt(channels[name], fp, t, true);
            log.info({ channel: name, reason: decision.reason, total }, 'broadcast sent');
          },
          (e: unknown) => {
            channels[name] = afterAttempt(channels[name], fp, t, false);
            log.warn({ channel: name, reason: decision.reason, err: redact(oneLine(e), secrets) }, 'broadcast failed');
          },
        )
        .finally(() => {
          inFlight.delete(name);
          saver?.markDirty();
        });
      inFlight.set(name, p);
    }
  };

  const tick = (): void => {
    const t = now();
    const slot = digest.slotIndex(t);
    if (digest.version !== seenVersion || slot !== seenSlot) {
      if (digest.version !== seenVersion) saver?.markDirty();
      snapshot = digest.snapshot(t);
      fingerprint = digestFingerprint(snapshot);
      seenVersion = digest.version;
      seenSlot = slot;
    } else {
      snapshot = { ...snapshot, generated_at: new Date(t).toISOString() };
    }
    computedAtMs = t;
    malformed.maybeFlush(t);
    overflowed.maybeFlush(t);
    broadcast(t);
  };
  const timer = setInterval(() => {
    try {
      tick();
    } catch (e) {
      log.error({ err: oneLine(e) }, 'notifier tick failed');
    }
  }, tickMs);
  tick();

  log.info(
    { socket: opts.socketPath, listen: http.url, window_sec: opts.windowSec, max_keys: opts.maxKeys, state: opts.stateFile ?? null, slack: opts.slackUrl !== undefined, email: mailer !== undefined },
    'notifier listening',
  );

  let closing: Promise<void> | undefined;
  return {
    socketPath: opts.socketPath,
    http,
    snapshot: () => snapshot,
    refresh: async () => {
      if (closing) return;
      tick();
      await Promise.allSettled([...inFlight.values()]);
    },
    close: () => {
      closing ??= (async () => {
        clearInterval(timer);
        await ingest.close();
        await http.close();
        stopping.abort();
        mailer?.close();
        await Promise.allSettled([...inFlight.values()]);
        if (saver) {
          saver.markDirty();
          await saver.close();
        }
        malformed.flush(now());
        overflowed.flush(now());
        log.info({ state: opts.stateFile ?? null }, 'notifier stopped');
      })();
      return closing;
    },
  };
}
