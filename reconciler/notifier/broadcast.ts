/**
 * Summaries of the digest to humans: a Slack-compatible incoming webhook and email. Only the notifier broadcasts.
 * The decision is a pure function of the channel's last state and the current digest:
 *   - never more than once per window (window_sec after the last successful send),
 *   - only when the digest changed since the last successful send (fingerprint of rows, counts and counters),
 *   - nothing is said while there is nothing to say (quiet digest and nothing ever sent), but a digest that went
 *     quiet after failures is a change and is announced once ("cleared"),
 *   - a failed send is retried no sooner than `retryMs` later.
 * The senders are thin and never put the webhook URL or the SMTP password into an error message.
 */
import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { DigestRow, DigestSnapshot } from './digest.js';

export interface ChannelState {
  last_sent_at: number | null;
  last_fingerprint: string | null;
  last_attempt_at: number | null;
}

export const NEVER_SENT: ChannelState = { last_sent_at: null, last_fingerprint: null, last_attempt_at: null };

export type BroadcastDecision =
  | { send: true; reason: 'first' | 'changed' | 'cleared' }
  | { send: false; reason: 'unchanged' | 'quiet' | 'window' | 'backoff' };

export function isQuiet(s: Pick<DigestSnapshot, 'total' | 'dropped' | 'overflow'>): boolean {
  return s.total === 0 && s.dropped === 0 && s.overflow === 0;
}

/** What "changed" compares: rows (who, where, which family, how many) and the counters; not timestamps. */
export function digestFingerprint(s: DigestSnapshot): string {
  const rows = s.top.map((r) => [r.tenant, r.endpoint, r.family, r.count]);
  return createHash('sha256')
    .update(JSON.stringify([s.window_sec, s.total, s.dropped, s.overflow, rows]))
    .digest('hex')
    .slice(0, 32);
}

export function decideBroadcast(
  state: ChannelState,
  fingerprint: string,
  quiet: boolean,
  nowMs: number,
  opts: { windowMs: number; retryMs: number },
): BroadcastDecision {
  if (state.last_fingerprint === fingerprint) return { send: false, reason: 'unchanged' };
  if (state.last_fingerprint === null && quiet) return { send: false, reason: 'quiet' };
  if (state.last_sent_at !== null && nowMs - state.last_sent_at < opts.windowMs) return { send: false, reason: 'window' };
  const failedSinceSuccess = state.last_attempt_at !== null && (state.last_sent_at === null || state.last_attempt_at > state.last_sent_at);
  if (failedSinceSuccess && nowMs - state.last_attempt_at! < opts.retryMs) return { send: false, reason: 'backoff' };
  if (state.last_fingerprint === null) return { send: true, reason: 'first' };
  return { send: true, reason: quiet ? 'cleared' : 'changed' };
}

/**
 * The channel's times no later than now: a state saved under a clock that ran ahead (or a clock stepped back since)
 * would otherwise read as "sent moments ago" until the clock caught up, and keep the channel silent that long.
 */
export function clampChannel(state: ChannelState, nowMs: number): ChannelState {
  const c = (x: number | null): number | null => (x !== null && x > nowMs ? nowMs : x);
  const sent = c(state.last_sent_at);
  const tried = c(state.last_attempt_at);
  return sent === state.last_sent_at && tried === state.last_attempt_at ? state : { ...state, last_sent_at: sent, last_attempt_at: tried };
}

/** The channel's state after an attempt. */
export function afterAttempt(state: ChannelState, fingerprint: string, nowMs: number, ok: boolean): ChannelState {
  return ok ? { last_sent_at: nowMs, last_fingerprint: fingerprint, last_attempt_at: nowMs } : { ...state, last_attempt_at: nowMs };
}

export function isChannelState(v: unknown): v is ChannelState {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const numOrNull = (x: unknown): boolean => x === null || (typeof x === 'number' && Number.isFinite(x));
  return numOrNull(o.last_sent_at) && numOrNull(o.last_attempt_at) && (o.last_fingerprint === null || typeof o.last_fingerprint === 'string');
}

function span(sec: number): string {
  if (sec % 3600 === 0) return `${sec / 3600}h`;
  if (sec % 60 === 0) return `${sec / 60}m`;
  return `${sec}s`;
}

function rowLine(r: DigestRow): string {
  const statuses = Object.entries(r.statuses)
    .map(([k, v]) => `${k}×${v}`)
    .join(', ');
  return `• ${r.tenant} ${r.endpoint} ${r.family} ×${r.count} (${statuses}), last ${r.last_seen}`;
}

export function formatSummary(s: DigestSnapshot, maxRows = 10): { subject: string; text: string } {
  const w = span(s.window_sec);
  if (isQuiet(s)) {
    return { subject: `[clawops] webhook failures cleared`, text: `clawops webhook failures: none in the last ${w} (as of ${s.generated_at})` };
  }
  const extras: string[] = [];
  if (s.dropped > 0) extras.push(`${s.dropped} malformed line(s) dropped`);
  if (s.overflow > 0) extras.push(`${s.overflow} failure(s) over the key cap`);
  const head = `clawops webhook failures, last ${w} (as of ${s.generated_at}): ${s.total} failure(s) on ${s.top.length} endpoint/family row(s)${extras.length ? `; ${extras.join('; ')}` : ''}`;
  const lines = s.top.slice(0, maxRows).map(rowLine);
  if (s.top.length > maxRows) lines.push(`…and ${s.top.length - maxRows} more`);
  return { subject: `[clawops] ${s.total} webhook failure(s) in the last ${w}`, text: [head, ...lines].join('\n') };
}

/** Replace every occurrence of a secret in a message; a last line of defence for error texts we did not write. */
export function redact(message: string, secrets: readonly (string | undefined)[]): string {
  let out = message;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

export class BroadcastError extends Error {}

function errCode(e: unknown): string {
  const err = e as { name?: string; code?: unknown; cause?: { code?: unknown } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timed out';
  const code = err.cause?.code ?? err.code;
  return typeof code === 'string' ? code : 'network error';
}

/** read at most `max` bytes of a response body, then let the rest go (the connection is closed, not drained) */
async function drain(res: Response, max: number): Promise<void> {
  const body = res.body;
  if (!body) return;
  const reader = body.getReader();
  let n = 0;
  try {
    while (n <= max) {
      const { done, value } = await reader.read();
      if (done) return;
      n += value.byteLength;
    }
    await reader.cancel();
  } catch {
    /* a body cut off: the status is what counts */
  }
}

/**
 * POST {text} to a Slack-compatible incoming webhook. Errors name the failure, never the URL. `stop` cuts the post off
 * (the service stopping) as its deadline does.
 */
export async function postSlack(url: string, text: string, timeoutMs: number, stop?: AbortSignal): Promise<void> {
  let res: Response;
  try {
    const deadline = AbortSignal.timeout(timeoutMs);
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
      signal: stop ? AbortSignal.any([deadline, stop]) : deadline,
      redirect: 'error',
    });
  } catch (e) {
    throw new BroadcastError(`slack webhook: ${errCode(e)}`);
  }
  // (its answer: a few bytes at most are wanted; a webhook answering 48 MB is read no further than 64 KiB)
  await drain(res, 64 * 1024);
  if (!res.ok) throw new BroadcastError(`slack webhook: HTTP ${res.status}`);
}

export interface SmtpConfig {
  host: string;
  port: number;
  /** implicit TLS (465); otherwise STARTTLS is used when the server offers it */
  secure: boolean;
  from: string;
  to: string[];
  user?: string;
  password?: string;
  timeoutMs: number;
}

export interface Mailer {
  send(subject: string, text: string): Promise<void>;
  /** ends every connection, a delivery in flight too (its send fails): the service stops */
  close(): void;
}

export function createMailer(cfg: SmtpConfig): Mailer {
  // a pool of one connection, whose close({ force: true }) ends a connection in the middle of a delivery (a plain
  // close() lets it finish, and a server that answers late would still get the mail the retry sends again): a send
  // past its deadline is cut off, and so is one in flight when the service stops
  const make = (): ReturnType<typeof nodemailer.createTransport> =>
    nodemailer.createTransport({
      pool: true,
      maxConnections: 1,
      host: cfg.host,
      port: cfg.port,
      secure: cfg.secure,
      ...(cfg.user !== undefined ? { auth: { user: cfg.user, pass: cfg.password ?? '' } } : {}),
      connectionTimeout: cfg.timeoutMs,
      greetingTimeout: cfg.timeoutMs,
      socketTimeout: cfg.timeoutMs,
      disableFileAccess: true,
      disableUrlAccess: true,
      logger: false,
    });
  let transport = make();
  // the whole send, not each read: a server that trickles a line every 150 ms never trips the socket's idle timeout
  const deadlineMs = cfg.timeoutMs * 3;
  return {
    async send(subject, text) {
      let timer: NodeJS.Timeout | undefined;
      const t = transport;
      try {
        await Promise.race([
          t.sendMail({ from: cfg.from, to: cfg.to, subject, text }),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              // this transport is given up (its connection ended); the next send gets a new one
              if (transport === t) transport = make();
              t.close({ force: true });
              reject(Object.assign(new Error(`no answer within ${deadlineMs} ms`), { code: 'ETIMEDOUT' }));
            }, deadlineMs);
          }),
        ]);
      } catch (e) {
        const err = e as { code?: unknown; message?: unknown };
        const msg = typeof err.message === 'string' ? (err.message.split('\n')[0] ?? '') : 'failed';
        throw new BroadcastError(redact(`smtp: ${typeof err.code === 'string' ? `${err.code}: ` : ''}${msg}`, [cfg.password]));
      } finally {
        clearTimeout(timer);
      }
    },
    close() {
      transport.close({ force: true });
    },
  };
}
