/**
 * Adversarial run 16: the CLI surface as an operator meets it at 3 a.m. (specs/cli.md): argument parsing, flag
 * combinations, exit codes, the one-line `clawops: <message>` error contract, secrets in errors, output hygiene.
 * No sshd fleet: every node sits on a loopback port this file holds (test/helpers/attack16-cli.ts), and every case
 * fails or finishes before a login could succeed. A test with `// fixed (was: …)` reproduced a defect found here (fixed
 * since) and asserts the behaviour the contract asks for; the others are guards that held.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE, exampleRepo, runCli, type CliRun } from '../helpers/repo.js';
import { commitAll, errLines, git, heldPort, loopbackRepo, runBin } from '../helpers/attack16-cli.js';

const tmp = (prefix: string): string => mkdtempSync(join(tmpdir(), `clawops-a16-${prefix}-`));

/** exit 2, exactly one stderr line matching `want`, nothing on stdout */
function expectUsage(r: CliRun, want: RegExp, what = ''): void {
  expect(r.code, `${what} ${r.stderr}`).toBe(2);
  const lines = errLines(r.stderr);
  expect(lines, what).toHaveLength(1);
  expect(lines[0], what).toMatch(want);
  expect(lines[0], what).not.toMatch(/internal error|\n\s+at /);
  expect(r.stdout, what).toBe('');
}

// a node that is down (every connection dropped at once) and one that accepts and never speaks
let down: Awaited<ReturnType<typeof heldPort>>;
let silent: Awaited<ReturnType<typeof heldPort>>;
beforeAll(async () => {
  down = await heldPort('reset');
  silent = await heldPort('hang');
});
afterAll(async () => {
  await down.close();
  await silent.close();
});

describe('usage errors from the argument parser (commander)', () => {
  it('a misspelt flag is ONE line on stderr, not the error plus a "(Did you mean …?)" line', async () => {
    // fixed (was: commander's suggestion is printed as a second stderr line (reconciler/cli.ts buildProgram never sets showSuggestionAfterError(false) or an outputError that folds it in): `clawops diff --nodes gw-1` prints "error: unknown option '--nodes'" and "(Did you mean --node?)".)
    for (const args of [
      ['diff', '--repo', EXAMPLE, '--nodes', 'gw-1'],
      ['lint', EXAMPLE, '--jsn'],
      ['apply', '--repo', EXAMPLE, '--dryrun'],
    ]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(errLines(r.stderr), args.join(' ')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
  });

  it("commander's errors escape control characters from argv like every other error", async () => {
    // fixed (was: commander's messages go to stderr raw (reconciler/cli.ts configureOutput writeErr: io.stderr, no escapeInline), so `clawops render … --kind $'\e]0;pwned\a'` or an unknown option/command with an ESC sequence retitles or clears the operator's terminal.)
    const esc = '\u001b]0;pwned\u0007\u001b[2J';
    for (const args of [
      ['render', EXAMPLE, '--tenant', 'acme', '--kind', esc],
      ['lint', EXAMPLE, `--x${esc}`],
      [`bo${esc}gus`],
    ]) {
      const r = await runCli(args);
      expect(r.code, JSON.stringify(args)).toBe(2);
      expect(r.stderr, JSON.stringify(args)).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
      expect(errLines(r.stderr)).toHaveLength(1);
    }
  });

  it('`clawops help <unknown>` is a usage error (exit 2 naming the command), not the program help with exit 0', async () => {
    // fixed (was: main() rewrites `help bogus` to `bogus --help` (reconciler/cli.ts main, the `argv[0] === 'help'` line) and commander answers the program's --help before it looks for the command, so a typo in `clawops help aply` prints the full help and exits 0 (and `clawops bogus --help` likewise).)
    for (const args of [['help', 'bogus'], ['bogus', '--help']]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/unknown command 'bogus'/);
      expect(r.stdout).toBe('');
    }
  });

  it('no subcommand is exit 2; --help, help <cmd> and -V are exit 0 with nothing on stderr', async () => {
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    for (const args of [['--help'], ['-h'], ['help', 'lint'], ['help', 'notifier', 'serve'], ['status', '--help'], ['-V']]) {
      const r = await runCli(args);
      expect([r.code, r.stderr], args.join(' ')).toEqual([0, '']);
      expect(r.stdout.length).toBeGreaterThan(0);
    }
  });
});

describe('the one-line error: the whole message, naming what the operator typed', () => {
  it('a path with a newline is escaped in the error, not cut off at the newline', async () => {
    // fixed (was: main() takes oneLine(e) BEFORE escaping (reconciler/cli.ts, the ClawopsError branch: escapeInline(oneLine(e))), so a user value with a newline truncates the message: `clawops lint $'/tmp/no\nsuch'` prints only "clawops: /tmp/no" — no cause, half the path; same for `--tenant`, `--node`, `--repo`.)
    const r = await runCli(['lint', '/nonexistent-a16/no\nsuch dir']);
    expectUsage(r, /^clawops: \/nonexistent-a16\/no\\nsuch dir: cannot read repo \(ENOENT\)$/);
    const t = await runCli(['lint', EXAMPLE, '--tenant', 'a\nb']);
    expectUsage(t, /^clawops: tenant "a\\nb" not found under /);
  });

  it('--repo that is a FIFO, a file, missing, empty or starts with a dash: exit 2, one line naming it', async () => {
    const d = tmp('paths');
    const fifo = join(d, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const file = join(d, 'file');
    writeFileSync(file, 'x');
    symlinkSync(join(d, 'loop-b'), join(d, 'loop-a'));
    symlinkSync(join(d, 'loop-a'), join(d, 'loop-b'));
    for (const p of [fifo, file, join(d, 'missing'), join(d, 'loop-a'), '', '-x']) {
      expectUsage(await runCli(['lint', '--', p]), new RegExp(`^clawops: ${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `), `lint ${p}`);
      expectUsage(await runCli(['diff', '--repo', p, '--json']), /^clawops: /, `diff --repo ${p}`);
      expectUsage(await runCli(['inventory', '--json', '--', p]), /^clawops: /, `inventory ${p}`);
    }
    // an empty directory is a repo with findings (lint exit 1), and a repo with errors for diff (exit 2, one line)
    const empty = join(d, 'empty');
    mkdirSync(empty);
    expect((await runCli(['lint', empty])).code).toBe(1);
    expectUsage(await runCli(['diff', '--repo', empty]), /^clawops: .*empty has 3 error\(s\), first: clawops\.yaml/);
  });

  it('a --repo that is a symlink to a checkout is read through the link', async () => {
    // fixed (was: readTreeSync checks the root with lstatSync (reconciler/source/read-tree.ts, `isDir = lstatSync(root).isDirectory()`), so `clawops lint ~/infra` where ~/infra is a symlink to the checkout says "not a directory" (exit 2) for lint, render, inventory, diff and apply alike.)
    const repo = exampleRepo();
    const link = join(tmp('link'), 'infra');
    symlinkSync(repo, link);
    const lint = await runCli(['lint', link]);
    expect([lint.code, lint.stderr]).toEqual([0, '']);
    expect((await runCli(['inventory', link])).code).toBe(0);
    expect((await runCli(['render', link, '--tenant', 'acme'])).code).toBe(0);
  });
});

describe('numbers and repeated flags', () => {
  it('--concurrency 0, -1, 3.5, NaN or empty: exit 2 before any node is contacted', async () => {
    const repo = loopbackRepo(down.port);
    const cases = [
      ...['0', '-1', '3.5', 'NaN', ''].map((v) => ['diff', '--repo', repo, '--concurrency', v, '--json']),
      ...['0', 'abc'].map((v) => ['apply', '--repo', repo, '--yes', `--concurrency=${v}`]),
    ];
    const runs = await Promise.all(cases.map((args) => runCli(args)));
    runs.forEach((r, i) => expectUsage(r, /^clawops: --concurrency .*: want a whole number ≥ 1$/, cases[i]!.join(' ')));
    // the last of two is the one checked
    expectUsage(await runCli(['diff', '--repo', repo, '--concurrency', '2', '--concurrency', 'x']), /^clawops: --concurrency x: /);
  });

  it('status: --timeout 0 / 1e9 / -5, no source, two sources, a repo-only flag: exit 2, one line', async () => {
    const sd = tmp('sd');
    for (const v of ['0', '1e9', '-5', 'soon']) expectUsage(await runCli(['status', '--state-dir', sd, '--timeout', v, '--json']), /^clawops: --timeout .*: want seconds, 1 to 600$/, v);
    expectUsage(await runCli(['status', '--json']), /^clawops: where is the status\?/);
    expectUsage(await runCli(['status', '--state-dir', sd, '--controller', 'http://127.0.0.1:1']), /^clawops: give one of /);
    expectUsage(await runCli(['status', '--state-dir', sd, '--identity', '/x']), /^clawops: --identity goes with --repo$/);
    expectUsage(await runCli(['status', '--state-dir', join(sd, 'nope')]), /^clawops: --state-dir \S+nope: no such directory$/);
  });

  it('a single-valued flag given twice is refused, not silently the last one (rollback --node, --tenant; lint/render --tenant)', async () => {
    // fixed (was: commander keeps the last value of a non-variadic option (reconciler/commands/apply.ts rollbackCommand `--node <name>`/`--tenant <id>`, lint.ts/render.ts `--tenant <id>`), so `clawops rollback --node gw-1 --node gw-2 --tenant acme` rolls back gw-2 only, and `lint --tenant acme --tenant globex` lints only globex and says "ok".)
    const repo = loopbackRepo(down.port);
    const rb = await runCli(['rollback', '--repo', repo, '--node', 'gw-1', '--node', 'gw-2', '--tenant', 'acme']);
    expectUsage(rb, /--node/);
    expectUsage(await runCli(['rollback', '--repo', repo, '--node', 'gw-1', '--tenant', 'acme', '--tenant', 'globex']), /--tenant/);
    expectUsage(await runCli(['lint', EXAMPLE, '--tenant', 'acme', '--tenant', 'globex', '--json']), /--tenant/);
    expectUsage(await runCli(['render', EXAMPLE, '--tenant', 'acme', '--tenant', 'globex']), /--tenant/);
  });

  it('apply --lock-ttl is checked before any node is observed: exit 2, one line, nothing on stdout (with --dry-run too)', async () => {
    // fixed (was: --lock-ttl is parsed in context() (reconciler/commands/apply.ts, called only after observeAndPlan, the plan print and the prompt), so `apply --lock-ttl abc --yes` observes the whole fleet and prints its diff before failing, and with --dry-run or nothing to apply the bad value is never reported at all.)
    const repo = loopbackRepo(down.port);
    expectUsage(await runCli(['apply', '--repo', repo, '--node', 'gw-1', '--yes', '--lock-ttl', 'abc']), /^clawops: --lock-ttl abc: want whole seconds ≥ 10$/);
    expectUsage(await runCli(['apply', '--repo', repo, '--node', 'gw-1', '--dry-run', '--lock-ttl', '5']), /^clawops: --lock-ttl 5: /);
  });

  it('--node naming nothing: exit 2 naming it, stdout empty even with --json; a node named twice is observed once', async () => {
    const repo = loopbackRepo(down.port);
    expectUsage(await runCli(['diff', '--repo', repo, '--node', 'gw-9', 'gw-1', '--json']), /^clawops: --node gw-9: not in nodes\.yaml \(known: notifier-1, gw-1, gw-2\)$/);
    expectUsage(await runCli(['rollback', '--repo', repo, '--node', 'gw-9', '--tenant', 'acme']), /^clawops: --node gw-9: not in nodes\.yaml/);
    const twice = await runCli(['diff', '--repo', repo, '--node', 'gw-1', '--node', 'gw-1', '--json']);
    expect(twice.code).toBe(1);
    expect((JSON.parse(twice.stdout) as { nodes: { node: string }[] }).nodes.map((n) => n.node)).toEqual(['gw-1']);
  });
});

describe('--identity', () => {
  it('a directory, a public key or an encrypted key (no agent) is a usage error naming --identity, before any login', async () => {
    // fixed (was: requireReadable (reconciler/commands/flag-files.ts) only checks access(R_OK) — a directory passes — and the key is first read and parsed per node inside SshTransport.open (reconciler/transport/ssh-transport.ts, readFileSync and ssh2's parse), so the operator gets exit 1 with EVERY node listed "Unreachable" ("cannot read ssh identity (EISDIR)", "privateKey value does not contain a (valid) private key", "Encrypted private OpenSSH key detected") as if the fleet were down.)
    const repo = loopbackRepo(silent.port);
    const d = tmp('keys');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(d, 'plain')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'correct horse battery', '-f', join(d, 'locked')]);
    const keyDir = join(d, 'dir');
    mkdirSync(keyDir);
    for (const key of [keyDir, join(d, 'plain.pub'), join(d, 'locked')]) {
      const r = await runCli(['diff', '--repo', repo, '--identity', key]);
      expectUsage(r, new RegExp(`^clawops: --identity ${key.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `), key);
      expect(r.stderr).not.toContain('correct horse battery');
    }
  });

  it('a missing --identity / --known-hosts is exit 2 naming the flag, before any login', async () => {
    const repo = loopbackRepo(silent.port);
    expectUsage(await runCli(['diff', '--repo', repo, '--identity', '/nonexistent-a16/id']), /^clawops: --identity \/nonexistent-a16\/id: cannot read \(ENOENT\)$/);
    expectUsage(await runCli(['apply', '--repo', repo, '--yes', '--known-hosts=']), /^clawops: --known-hosts : cannot read \(ENOENT\)$/);
  });
});

describe('--ref', () => {
  it('odd refs (-x, HEAD~1000, empty, an option-looking ref): exit 2 one line, no git option run, no temp clone left', async () => {
    const repo = exampleRepo();
    commitAll(repo);
    const own = tmp('tmpdir');
    const was = process.env.TMPDIR;
    const marker = join(own, 'pwned');
    process.env.TMPDIR = own;
    try {
      for (const ref of ['-x', 'HEAD~1000', '', `--upload-pack=touch ${marker}`, 'refs/heads/nope']) {
        expectUsage(await runCli(['diff', '--repo', repo, '--ref', ref, '--json']), /^clawops: .*unknown ref "/, `--ref ${ref}`);
      }
    } finally {
      process.env.TMPDIR = was;
    }
    expect(existsSync(marker)).toBe(false);
    expect(readdirSync(own)).toEqual([]);
  });

  it('a name that is both a tag and a branch is refused as ambiguous, not silently the tag', async () => {
    // fixed (was: resolveRef tries `<ref>^{commit}` first (reconciler/source/git-source.ts resolveRef), which git resolves to refs/tags/<ref> before the branch (only refs/remotes/origin/<ref> in the clone), so `diff/apply --ref release` with a stale tag `release` silently deploys the tag's older commit instead of the branch the operator meant.)
    const repo = loopbackRepo(down.port);
    commitAll(repo, 'one');
    git(repo, 'tag', 'dup');
    writeFileSync(join(repo, 'README.md'), 'two\n');
    const head = commitAll(repo, 'two');
    git(repo, 'branch', 'dup', head);
    const r = await runCli(['diff', '--repo', repo, '--ref', 'dup', '--node', 'gw-1', '--json']);
    expectUsage(r, /ambiguous/);
    expect(r.stderr).toMatch(/refs\/heads\/dup|refs\/tags\/dup/);
  });
});

describe('secrets on the command line never come back in an error', () => {
  it('--slack-url: bad scheme, given with --slack-url-file, or next to another bad flag', async () => {
    const secret = 'T0A16/B0A16/XoXsEcReT16';
    const file = join(tmp('slack'), 'url');
    writeFileSync(file, `https://hooks.slack.com/services/${secret}\n`);
    for (const [args, want] of [
      [['notifier', 'serve', '--slack-url', `ftp://${secret}@h/x`, '--no-state'], /^clawops: --slack-url: not an http\(s\) URL$/],
      [['notifier', 'serve', '--slack-url', `https://hooks.slack.com/services/${secret}`, '--slack-url-file', file], /cannot be used with/],
      [['notifier', 'serve', '--slack-url', `https://hooks.slack.com/services/${secret}`, '--listen', 'bogus'], /^clawops: --listen "bogus"/],
      [['notifier', 'serve', '--slack-url-file', file, '--window', '0'], /^clawops: --window "0"/],
    ] as [string[], RegExp][]) {
      const r = await runCli(args);
      expectUsage(r, want, args.join(' '));
      expect(r.stderr).not.toContain(secret);
    }
    const help = await runCli(['notifier', 'serve', '--help', '--slack-url', `https://hooks.slack.com/services/${secret}`]);
    expect(help.code).toBe(0);
    expect(help.stdout + help.stderr).not.toContain(secret);
  });

  it('--smtp with credentials in it (smtp://user:password@host) is refused without echoing the password', async () => {
    // fixed (was: smtpAddress quotes the whole --smtp value in its usage error (reconciler/notifier/cli.ts smtpAddress, `--smtp "${v}": expected host or host:port`), so the nodemailer-style `--smtp smtp://mailer:Hunter2pw@mail:587` prints the SMTP password to the terminal and to the service's log.)
    const r = await runCli(['notifier', 'serve', '--smtp', 'smtp://mailer:Hunter2pw16@mail.example:587', '--mail-from', 'a@example.com', '--mail-to', 'b@example.com', '--no-state']);
    expectUsage(r, /^clawops: --smtp /);
    expect(r.stderr).not.toContain('Hunter2pw16');
  });

  it('status --controller with credentials in the URL never prints the password', async () => {
    // fixed (was: fetchStatus/statusUrl put the raw --controller value (and fetch's own message, which repeats the URL) in the error (reconciler/commands/status.ts fetchStatus and statusUrl), so `status --controller https://oncall:pw@ctl:8440` prints the password twice; specs/cli.md says credentials in URLs are replaced by *** in every message.)
    for (const url of [`http://oncall:S3cretA16@127.0.0.1:${down.port}/`, 'ftp://oncall:S3cretA16@h/', 'http://oncall:S3cretA16@[::1']) {
      const r = await runCli(['status', '--controller', url, '--timeout', '1']);
      expect(r.code, url).toBe(2);
      expect(errLines(r.stderr)).toHaveLength(1);
      expect(r.stderr, url).not.toContain('S3cretA16');
    }
  });

  it('notifier serve: --smtp-password-file or --smtp-secure without --smtp is a usage error, not a notifier started without email', async () => {
    // fixed (was: notifierOptionsFromFlags checks --mail-from/--mail-to/--smtp-user without --smtp but not --smtp-password-file or --smtp-secure (reconciler/notifier/cli.ts, the `else if (flags.mailFrom !== undefined …)` branch), so a typo'd `--smpt` leaves the operator with a notifier that runs and never sends an email.)
    const d = tmp('notif');
    const pw = join(d, 'pw');
    writeFileSync(pw, 'smtp-pass\n');
    const base = ['notifier', 'serve', '--no-state', '--socket', join(d, 'n.sock'), '--listen', '127.0.0.1:0'];
    for (const extra of [['--smtp-password-file', pw], ['--smtp-secure']]) {
      const r = await runBin([...base, ...extra], { deadlineMs: 4_000 });
      expect(r.killed, `${extra.join(' ')}: still serving at the deadline`).toBe(false);
      expect(r.code).toBe(2);
      expect(errLines(r.stderr)).toEqual([expect.stringMatching(/^clawops: --smtp-(password-file|secure) .*needs --smtp/)]);
    }
  }, 12_000);

  it('controller run start-up: bad --interval, --webhook-secret-file without --listen, bad --mode: exit 2, one line, the secret unread', async () => {
    const d = tmp('ctl');
    const secret = join(d, 'hook');
    writeFileSync(secret, 'hook-secret-a16\n');
    const base = ['controller', 'run', '--repo', EXAMPLE, '--state-dir', join(d, 'state')];
    for (const [args, want] of [
      [[...base, '--interval', '0'], /^clawops: --interval "0": want 1s to 24h$/],
      [[...base, '--interval', '1e3'], /^clawops: --interval "1e3": expected a duration/],
      [[...base, '--webhook-secret-file', secret], /^clawops: --webhook-secret-file needs --listen$/],
      [[...base, '--listen', '127.0.0.1:99999'], /^clawops: --listen "127\.0\.0\.1:99999": port must be 0-65535$/],
      [[...base, '--concurrency', '0'], /^clawops: --concurrency 0: /],
    ] as [string[], RegExp][]) {
      const r = await runCli(args);
      expectUsage(r, want, args.join(' '));
      expect(r.stderr).not.toContain('hook-secret-a16');
    }
    expect(existsSync(join(d, 'state'))).toBe(false);
  });
});

describe('lint --openclaw', () => {
  it('a --openclaw binary that does not exist is a usage error naming the flag, not an "internal error"', async () => {
    // fixed (was: runOpenclaw's spawn error (ENOENT/EACCES) escapes lintWithOpenclaw unwrapped (reconciler/desired/lint-openclaw.ts → reconciler/openclaw-cli.ts runOpenclaw `child.on('error', reject)`), so main() prints "clawops: internal error: spawn /opt/openclaw ENOENT" for a mistyped path or openclaw missing from PATH.)
    const dir = tmp('oc');
    expectUsage(await runCli(['lint', EXAMPLE, '--tenant', 'acme', '--openclaw', '/nonexistent-a16/openclaw']), /^clawops: --openclaw \/nonexistent-a16\/openclaw: /);
    expectUsage(await runCli(['lint', EXAMPLE, '--tenant', 'acme', '--openclaw', dir]), /^clawops: --openclaw /);
  });

  it('a relative --openclaw path is taken from the directory clawops was started in', async () => {
    // fixed (was: lint spawns openclaw with cwd set to its temp dir (reconciler/desired/lint-openclaw.ts, runOpenclaw(…, { cwd: dir })), so `clawops lint . --openclaw ./node_modules/.bin/openclaw` resolves the binary inside that temp dir and fails with "internal error: spawn ./… ENOENT".)
    const cwd = tmp('ocrel');
    mkdirSync(join(cwd, 'bin'));
    const fake = join(cwd, 'bin', 'openclaw');
    writeFileSync(fake, '#!/bin/sh\necho \'{"valid":true,"issues":[],"warnings":[]}\'\n');
    chmodSync(fake, 0o755);
    const abs = await runBin(['lint', EXAMPLE, '--tenant', 'acme', '--openclaw', fake], { cwd });
    expect([abs.code, abs.stderr]).toEqual([0, '']);
    const rel = await runBin(['lint', EXAMPLE, '--tenant', 'acme', '--openclaw', './bin/openclaw'], { cwd });
    expect([rel.code, rel.stderr]).toEqual([0, '']);
  }, 12_000);
});

describe('output hygiene', () => {
  it('--json stays parseable and text stays escaped when file and tenant names carry controls, quotes and bidi marks', async () => {
    const repo = exampleRepo({
      'tenants/acme/evil\u001b]0;pwn\u0007.yaml': 'x: 1\n',
      'tenants/acme/nl\nname.yaml': 'x: 1\n',
      'tenants/acme/bidi\u202egnp.yaml': 'x: 1\n',
      'tenants/acme/q"uote\\.yaml': 'x: 1\n',
      'tenants/acme/\u009b31m.yaml': 'x: 1\n',
      'tenants/ev\u001b[2Jil': { dir: true },
    });
    const j = await runCli(['lint', repo, '--json']);
    expect(j.code).toBe(1);
    expect(j.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    const doc = JSON.parse(j.stdout) as { findings: { file: string }[] };
    expect(doc.findings.map((f) => f.file)).toEqual(expect.arrayContaining(['tenants/acme/nl\nname.yaml', 'tenants/acme/bidi\u202egnp.yaml', 'tenants/acme/q"uote\\.yaml', 'tenants/ev\u001b[2Jil']));
    const t = await runCli(['lint', repo]);
    expect(t.code).toBe(1);
    expect(t.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(t.stdout).toContain('tenants/acme/nl\\nname.yaml:1:1: error:');
    const inv = await runCli(['inventory', repo, '--json']);
    expectUsage(inv, /^clawops: .* has \d+ error\(s\); run clawops lint$/);
  });

  it('a reader that goes away (clawops … | head -c 10) ends clawops quietly: no stack trace, no false "findings" exit', async () => {
    // fixed (was: process.stdout has no 'error' listener (reconciler/commands/io.ts defaultIo writes with process.stdout.write), so EPIPE is an unhandled 'error' event: Node prints "Error: write EPIPE" with a stack trace and exits 1, which for lint means "errors found" on a clean repo.)
    for (const args of [['lint', EXAMPLE, '--json'], ['inventory', EXAMPLE], ['--help']]) {
      const r = await runBin(args, { closeStdout: true });
      expect(r.stderr, args.join(' ')).toBe('');
      expect(r.code === 0 || r.code === 141 || r.signal === 'SIGPIPE', `${args.join(' ')}: exit ${r.code}`).toBe(true);
    }
  }, 15_000);
});
