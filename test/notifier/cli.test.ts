/** `./bin/clawops notifier serve` as a real process: socket in, HTTP out, broadcasts, SIGTERM, restart, bad flags. */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeHttp, failureLine, getJson, json, expectUsageErrors, sendLines, spawnCli, tmp, waitFor, type CliProc } from './helpers.js';

const SLACK_TOKEN = 'XoxbCliSlackToken31337';
const SMTP_PASSWORD = 'cli-Smtp-Passw0rd-secret';

const procs: CliProc[] = [];
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const c of cleanup.splice(0)) await c();
});

/** The non-JSON lines of stderr (pino lines are JSON). */
function plainLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{'));
}

describe('clawops notifier serve (real process)', () => {
  it('ingests, serves the digest, broadcasts, exits 0 on SIGTERM and keeps the digest across a restart', async () => {
    const dir = tmp('ncli');
    const slack = await fakeHttp((_req, _body, res) => json(res, 200, { ok: true }));
    cleanup.push(() => slack.close());
    const mails: string[] = [];
    const smtp = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      logger: false,
      onAuth: (auth, _s, cb) => (auth.password === SMTP_PASSWORD ? cb(null, { user: auth.username }) : cb(new Error('bad auth'))),
      onData: (stream, _s, cb) => {
        let raw = '';
        stream.on('data', (d: Buffer) => (raw += d.toString('utf8')));
        stream.on('end', () => {
          mails.push(raw);
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise<void>((r) => smtp.close(() => r())));
    const smtpPort = (smtp.server.address() as AddressInfo).port;
    writeFileSync(join(dir, 'slack-url'), `${slack.url}/services/${SLACK_TOKEN}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'smtp-pass'), `${SMTP_PASSWORD}\n`, { mode: 0o600 });

    const socket = join(dir, 'n.sock');
    const state = join(dir, 'digest.json');
    const args = [
      'notifier',
      'serve',
      '--socket',
      socket,
      '--listen',
      '127.0.0.1:0',
      '--state',
      state,
      '--window',
      '300',
      '--slack-url-file',
      join(dir, 'slack-url'),
      '--smtp',
      `127.0.0.1:${smtpPort}`,
      '--smtp-user',
      'clawops',
      '--smtp-password-file',
      join(dir, 'smtp-pass'),
      '--mail-from',
      'clawops@fleet.example',
      '--mail-to',
      'oncall@example.com,ops@example.com',
    ];
    const p = spawnCli(args);
    procs.push(p);
    const url = await p.listening();
    expect(statSync(socket).mode & 0o777).toBe(0o660);

    await sendLines(socket, [...Array.from({ length: 500 }, (_, i) => failureLine({ delivery_id: `x-${i}` })), 'not json']);
    const d = await waitFor(async () => {
      const r = await getJson(`${url}/v1/webhook-digest`);
      return (r.body.total as number) === 500 ? r.body : undefined;
    }, 'the digest to count 500');
    expect(d.dropped).toBe(1);
    expect(d.top).toEqual([expect.objectContaining({ tenant: 'acme', endpoint: 'https://canary.example.com', family: '5xx', count: 500 })]);
    await waitFor(() => slack.requests.length === 1 && mails.length === 1, 'one Slack post and one mail');
    expect(slack.requests[0]!.url).toBe(`/services/${SLACK_TOKEN}`);

    p.child.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(state)).toBe(true);
    const logs = p.stderr();
    expect(plainLines(logs)).toEqual([]);
    expect(logs).toContain('"msg":"notifier stopped"');
    expect(logs).not.toContain(SLACK_TOKEN);
    expect(logs).not.toContain(SMTP_PASSWORD);
    expect(p.stdout()).toBe('');

    // restart: the digest is back before any new line arrives, and the same digest is not announced again
    const again = spawnCli(args);
    procs.push(again);
    const url2 = await again.listening();
    const d2 = (await getJson(`${url2}/v1/webhook-digest`)).body;
    expect(d2.total).toBe(500);
    expect(d2.top).toEqual(d.top);
    await new Promise((r) => setTimeout(r, 1200)); // at least one tick
    expect(slack.requests).toHaveLength(1);
    again.child.kill('SIGINT');
    expect((await again.exited).code).toBe(0);
    expect(again.stderr()).not.toContain(SLACK_TOKEN);
  }, 30_000);

  it('bad flags: exit 2 with one line on stderr that never echoes a secret', async () => {
    const dir = tmp('ncli');
    const base = ['notifier', 'serve', '--socket', join(dir, 'n.sock'), '--listen', '127.0.0.1:0', '--no-state'];
    const cases: [string[], RegExp][] = [
      [[...base, '--bogus'], /unknown option '--bogus'/],
      [[...base, '--window', '0'], /--window "0": expected a positive integer/],
      [[...base, '--max-keys', 'lots'], /--max-keys "lots"/],
      [['notifier', 'serve', '--listen', 'nope', '--no-state'], /--listen "nope": expected host:port/],
      [[...base, '--slack-url', 'ftp://hooks.example/SECRETPATH123'], /--slack-url: not an http\(s\) URL/],
      [[...base, '--slack-url-file', join(dir, 'missing')], /--slack-url-file .*missing: ENOENT/],
      [[...base, '--smtp', '127.0.0.1:2525'], /--smtp needs --mail-from and --mail-to/],
      // (the message names the flag given without --smtp, round 16)
      [[...base, '--mail-to', 'a@b'], /--mail-to needs --smtp/],
      [['notifier', 'serve', '--socket', join(dir, 'no-such-dir', 'n.sock'), '--listen', '127.0.0.1:0', '--no-state'], /socket .*n\.sock/],
    ];
    // a few as real processes (process exit code), all through main() (same code path, no process start-up)
    await expectUsageErrors(cases, [0, 1, 8], 'SECRETPATH123');
  }, 30_000);
});
