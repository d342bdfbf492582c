/**
 * Broadcasts against real local receivers: an HTTP server speaking the Slack incoming-webhook protocol and an SMTP
 * server (smtp-server). The notifier's clock is injected and ticks are driven with refresh(), so "at most once per
 * window" and "only when changed" are checked exactly.
 */
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { decideBroadcast, formatSummary, NEVER_SENT, redact, type ChannelState } from '../../reconciler/notifier/broadcast.js';
import { FailureDigest } from '../../reconciler/notifier/digest.js';
import { startNotifier, type NotifierHandle, type NotifierOptions } from '../../reconciler/notifier/service.js';
import { fakeHttp, failureLine, json, memLogger, sendLines, tmp, waitFor, type FakeHttp } from './helpers.js';

const T0 = Date.parse('2026-11-25T12:00:00.000Z'); // on a 30 s slot boundary
const SLACK_SECRET_PATH = '/services/T0SECRET/B0SECRET/XyzSlackToken9876';
const SMTP_PASSWORD = 'hunter2-Smtp-Password-42';

interface Mail {
  from: string;
  to: string[];
  user: string | undefined;
  raw: string;
}

interface FakeSmtp {
  port: number;
  mails: Mail[];
  authAttempts: number;
  close(): Promise<void>;
}

async function fakeSmtp(opts: { password?: string } = {}): Promise<FakeSmtp> {
  const fake: FakeSmtp = { port: 0, mails: [], authAttempts: 0, close: () => Promise.resolve() };
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: opts.password === undefined,
    logger: false,
    onAuth(auth, _session, cb) {
      fake.authAttempts++;
      if (auth.username === 'clawops' && auth.password === opts.password) cb(null, { user: auth.username });
      else cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      const parts: Buffer[] = [];
      stream.on('data', (d: Buffer) => parts.push(d));
      stream.on('end', () => {
        fake.mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user as string | undefined,
          raw: Buffer.concat(parts).toString('utf8'),
        });
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  fake.port = (server.server.address() as AddressInfo).port;
  fake.close = () => new Promise<void>((r) => server.close(() => r()));
  return fake;
}

/** The text body of a simple nodemailer message (quoted-printable or 7bit). */
function mailBody(raw: string): string {
  const [head, ...rest] = raw.split(/\r?\n\r?\n/);
  const body = rest.join('\n\n');
  if (!/quoted-printable/i.test(head ?? '')) return body;
  const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function subject(raw: string): string {
  return /^Subject: (.*)$/m.exec(raw)?.[1] ?? '';
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(over: Partial<NotifierOptions> & { slackStatus?: number; smtpPassword?: string; clock?: { t: number } } = {}) {
  const clock = over.clock ?? { t: T0 };
  const slack = await fakeHttp((_req, _body, res) => json(res, over.slackStatus ?? 200, { ok: true }));
  cleanup.push(() => slack.close());
  const smtp = await fakeSmtp(over.smtpPassword !== undefined ? { password: over.smtpPassword } : {});
  cleanup.push(() => smtp.close());
  const dir = tmp('bc');
  const log = memLogger();
  const opts: NotifierOptions = {
    socketPath: join(dir, 'n.sock'),
    listen: { host: '127.0.0.1', port: 0 },
    windowSec: 300,
    maxKeys: 100,
    logger: log.logger,
    tickMs: 3_600_000, // ticks only when the test says so
    now: () => clock.t,
    slackUrl: `${slack.url}${SLACK_SECRET_PATH}`,
    smtp: {
      host: '127.0.0.1',
      port: smtp.port,
      secure: false,
      from: 'clawops@fleet.example',
      to: ['oncall@example.com', 'ops@example.com'],
      ...(over.smtpPassword !== undefined ? { user: 'clawops', password: SMTP_PASSWORD } : {}),
    },
    ...over,
  };
  const n = await startNotifier(opts);
  let closed = false;
  cleanup.push(async () => {
    if (!closed) await n.close();
  });
  return {
    n,
    slack,
    smtp,
    log,
    clock,
    opts,
    close: async () => {
      closed = true;
      await n.close();
    },
  };
}

/** Send lines and tick until the digest holds `total`. */
async function ingest(n: NotifierHandle, lines: string[], total: number): Promise<void> {
  await sendLines(n.socketPath, lines);
  await waitFor(async () => {
    await n.refresh();
    return n.snapshot().total === total;
  }, `total ${total}`);
}

const slackTexts = (s: FakeHttp): string[] => s.requests.map((r) => (JSON.parse(r.body) as { text: string }).text);

describe('broadcast decisions (pure)', () => {
  const opts = { windowMs: 300_000, retryMs: 60_000 };
  const sent = (at: number, fp: string): ChannelState => ({ last_sent_at: at, last_fingerprint: fp, last_attempt_at: at });
  it.each([
    ['nothing to say yet', NEVER_SENT, 'a', true, T0, { send: false, reason: 'quiet' }],
    ['first failures', NEVER_SENT, 'a', false, T0, { send: true, reason: 'first' }],
    ['unchanged', sent(T0, 'a'), 'a', false, T0 + 10 * 300_000, { send: false, reason: 'unchanged' }],
    ['changed inside the window', sent(T0, 'a'), 'b', false, T0 + 299_999, { send: false, reason: 'window' }],
    ['changed after the window', sent(T0, 'a'), 'b', false, T0 + 300_000, { send: true, reason: 'changed' }],
    ['went quiet after the window', sent(T0, 'a'), 'q', true, T0 + 300_000, { send: true, reason: 'cleared' }],
    ['failed recently', { ...sent(T0, 'a'), last_attempt_at: T0 + 300_000 }, 'b', false, T0 + 359_999, { send: false, reason: 'backoff' }],
    ['failed a while ago', { ...sent(T0, 'a'), last_attempt_at: T0 + 300_000 }, 'b', false, T0 + 360_000, { send: true, reason: 'changed' }],
    ['never sent, failed recently', { ...NEVER_SENT, last_attempt_at: T0 }, 'a', false, T0 + 1, { send: false, reason: 'backoff' }],
  ] as const)('%s', (_name, state, fp, quiet, now, want) => {
    expect(decideBroadcast(state, fp, quiet, now, opts)).toEqual(want);
  });

  it('summaries name rows and counters; redact() removes secrets', () => {
    const d = new FailureDigest({ windowSec: 300, maxKeys: 10 });
    for (let i = 0; i < 3; i++) d.add({ tenant: 'acme', origin: 'https://canary.example.com', status: 503, timeMs: T0 }, T0);
    d.addDropped(T0, 2);
    const s = formatSummary(d.snapshot(T0));
    expect(s.subject).toBe('[clawops] 3 webhook failure(s) in the last 5m');
    expect(s.text).toContain('acme https://canary.example.com 5xx ×3 (503×3)');
    expect(s.text).toContain('2 malformed line(s) dropped');
    expect(redact(`POST ${SLACK_SECRET_PATH} failed`, [SLACK_SECRET_PATH, undefined])).toBe('POST [redacted] failed');
  });
});

describe('broadcast to real receivers', () => {
  it('Slack JSON and SMTP mail: at most once per window, only when the digest changed, "cleared" once', async () => {
    const { n, slack, smtp, clock } = await setup();

    // nothing to say: nothing sent
    await n.refresh();
    expect(slack.requests).toHaveLength(0);
    expect(smtp.mails).toHaveLength(0);

    // first failures: one message on each channel
    await ingest(n, [failureLine(), failureLine(), failureLine({ status: 502 })], 3);
    expect(slack.requests).toHaveLength(1);
    const post = slack.requests[0]!;
    expect(post.method).toBe('POST');
    expect(post.url).toBe(SLACK_SECRET_PATH);
    expect(post.headers['content-type']).toBe('application/json');
    expect(Object.keys(JSON.parse(post.body) as object)).toEqual(['text']);
    expect(slackTexts(slack)[0]).toContain('acme https://canary.example.com 5xx ×3 (502×1, 503×2)');
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0]!.from).toBe('clawops@fleet.example');
    expect(smtp.mails[0]!.to).toEqual(['oncall@example.com', 'ops@example.com']);
    expect(subject(smtp.mails[0]!.raw)).toBe('[clawops] 3 webhook failure(s) in the last 5m');
    expect(mailBody(smtp.mails[0]!.raw)).toContain('acme https://canary.example.com 5xx ×3 (502×1, 503×2)');

    // unchanged: nothing, however many ticks
    for (let i = 0; i < 5; i++) {
      clock.t += 1000;
      await n.refresh();
    }
    expect([slack.requests.length, smtp.mails.length]).toEqual([1, 1]);

    // changed inside the window: held back
    clock.t = T0 + 150_000;
    await ingest(n, [failureLine({ endpoint: 'https://other.example/x', status: 'timeout' }), failureLine({ endpoint: 'https://other.example/x', status: 'timeout' })], 5);
    clock.t = T0 + 299_999;
    await n.refresh();
    expect([slack.requests.length, smtp.mails.length]).toEqual([1, 1]);

    // the window has passed since the last send: the current digest goes out (the first three have expired)
    clock.t = T0 + 300_000;
    await n.refresh();
    expect([slack.requests.length, smtp.mails.length]).toEqual([2, 2]);
    expect(slackTexts(slack)[1]).toContain('2 failure(s) on 1 endpoint/family row(s)');
    expect(slackTexts(slack)[1]).toContain('https://other.example timeout ×2');
    expect(subject(smtp.mails[1]!.raw)).toBe('[clawops] 2 webhook failure(s) in the last 5m');

    clock.t = T0 + 301_000;
    await n.refresh();
    expect([slack.requests.length, smtp.mails.length]).toEqual([2, 2]);

    // everything expired: "cleared" is said once
    clock.t = T0 + 600_000;
    await n.refresh();
    expect([slack.requests.length, smtp.mails.length]).toEqual([3, 3]);
    expect(slackTexts(slack)[2]).toMatch(/^clawops webhook failures: none in the last 5m/);
    expect(subject(smtp.mails[2]!.raw)).toBe('[clawops] webhook failures cleared');
    clock.t = T0 + 2_000_000;
    await n.refresh();
    expect([slack.requests.length, smtp.mails.length]).toEqual([3, 3]);
  });

  it('the broadcast state survives a restart: an unchanged digest is not announced again', async () => {
    const dir = tmp('bc');
    const stateFile = join(dir, 'state.json');
    const clock = { t: T0 };
    const first = await setup({ stateFile, clock });
    await ingest(first.n, [failureLine()], 1);
    expect([first.slack.requests.length, first.smtp.mails.length]).toEqual([1, 1]);
    await first.close();

    clock.t = T0 + 60_000;
    const second = await setup({ stateFile, clock });
    await second.n.refresh();
    expect(second.n.snapshot().total).toBe(1);
    expect([second.slack.requests.length, second.smtp.mails.length]).toEqual([0, 0]);
  });

  it('SMTP AUTH works; failed sends are logged without secrets and retried only after the back-off', async () => {
    const { n, slack, smtp, log, clock } = await setup({ slackStatus: 500, smtpPassword: 'not-the-password', broadcastRetryMs: 60_000 });
    await ingest(n, [failureLine()], 1);
    expect(slack.requests).toHaveLength(1);
    expect(smtp.authAttempts).toBe(1);
    expect(smtp.mails).toHaveLength(0);
    const failed = log.lines.filter((l) => l.msg === 'broadcast failed');
    expect(failed.map((l) => l.channel).sort()).toEqual(['email', 'slack']);
    expect(failed.find((l) => l.channel === 'slack')!.err).toBe('slack webhook: HTTP 500');
    expect(String(failed.find((l) => l.channel === 'email')!.err)).toMatch(/^smtp: EAUTH/);

    // inside the back-off: no retry
    clock.t += 59_000;
    await n.refresh();
    expect(slack.requests).toHaveLength(1);
    expect(smtp.authAttempts).toBe(1);

    // after it: retried; the receiver has recovered
    slack.handler = (_req, _body, res) => json(res, 200, { ok: true });
    clock.t += 1000;
    await n.refresh();
    expect(slack.requests).toHaveLength(2);
    expect(log.lines.filter((l) => l.msg === 'broadcast sent').map((l) => l.channel)).toEqual(['slack']);

    const text = log.text();
    expect(text).not.toContain('XyzSlackToken9876');
    expect(text).not.toContain('T0SECRET');
    expect(text).not.toContain('not-the-password');
    expect(text).not.toContain(SMTP_PASSWORD);
  });

  it('authenticated SMTP delivers, and an unreachable Slack URL is reported by error code, not by URL', async () => {
    const gone = await fakeHttp(() => undefined);
    await gone.close(); // a port nobody listens on any more
    const { n, smtp, log } = await setup({ smtpPassword: SMTP_PASSWORD, slackUrl: `${gone.url}${SLACK_SECRET_PATH}` });
    await ingest(n, [failureLine()], 1);
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0]!.user).toBe('clawops');
    const slackFail = log.lines.find((l) => l.msg === 'broadcast failed' && l.channel === 'slack')!;
    expect(slackFail.err).toBe('slack webhook: ECONNREFUSED');
    const text = log.text();
    expect(text).not.toContain('XyzSlackToken9876');
    expect(text).not.toContain(SMTP_PASSWORD);
  });
});
