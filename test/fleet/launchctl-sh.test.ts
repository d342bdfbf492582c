/**
 * The test fleet's launchctl front end (scripts/launchctl.sh) answers `print system` and `print system/<label>`
 * itself, byte for byte (stdout, stderr, exit code) what the Node stand-in (scripts/launchctl-standin.mjs) prints on
 * the same state, and hands every other question and every doubtful state to the stand-in.
 *
 * Real services: the stand-in bootstraps real jobs (running, exited with a code, killed by a signal, respawn
 * scheduled, loaded but never run) and each one's supervisor writes the answer the front end reads. Two front ends
 * share the state: one installed as the fleet installs it (test/fleet/node-bin.ts), one whose stand-in only exits 99
 * ("not answered by sh"), which tells what sh answered from what it handed on.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installLaunchctl, LAUNCHCTL_SH_SOURCE } from './node-bin.js';

interface Answer {
  stdout: string;
  stderr: string;
  code: number;
}

let dir: string;
let root: string;
let bin: string;
let shOnly: string;

/** Run file with args; `opts.env` replaces variables (undefined: unset), LAUNCHD_STANDIN_ROOT is the test's root. */
function run(file: string, args: string[], opts: { env?: Record<string, string | undefined>; cwd?: string } = {}): Promise<Answer> {
  const env: Record<string, string | undefined> = { ...process.env, LAUNCHD_STANDIN_ROOT: root, ...opts.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return new Promise((res) => {
    execFile(file, args, { env, cwd: opts.cwd }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      res({ stdout, stderr, code });
    });
  });
}
const standin = (...args: string[]): Promise<Answer> => run(join(bin, 'launchctl-standin'), args);
const front = (...args: string[]): Promise<Answer> => run(join(bin, 'launchctl'), args);
const sh = (...args: string[]): Promise<Answer> => run(join(shOnly, 'launchctl'), args);

/** A LaunchDaemon plist as clawops renders them (the subset the stand-in reads). */
function plist(label: string, args: string[], extra = ''): string {
  const file = join(dir, `${label}.plist`);
  writeFileSync(
    file,
    `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n<dict>\n` +
      `\t<key>Label</key><string>${label}</string>\n\t<key>ProgramArguments</key>\n\t<array>${args.map((a) => `<string>${a}</string>`).join('')}</array>\n` +
      `\t<key>EnvironmentVariables</key><dict><key>OPENCLAW_PORT</key><string>18789</string></dict>\n` +
      `\t<key>StandardOutPath</key><string>${join(dir, `${label}.log`)}</string>\n${extra}</dict>\n</plist>\n`,
  );
  return file;
}

async function until(what: string, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The front end says what the stand-in says; when `bySh`, sh said it without the stand-in. */
async function same(args: string[], bySh: boolean): Promise<Answer> {
  // a supervisor may write between the two questions (a job exiting): ask again until two answers agree
  let want = await standin(...args);
  let got = await front(...args);
  for (let i = 0; i < 3 && JSON.stringify(got) !== JSON.stringify(want); i++) {
    want = await standin(...args);
    got = await front(...args);
  }
  expect({ args, ...got }).toEqual({ args, ...want });
  const alone = await sh(...args);
  if (bySh) expect({ args, ...alone }).toEqual({ args, ...want });
  else expect({ args, code: alone.code }).toEqual({ args, code: 99 });
  return want;
}

const LABELS = ['ai.openclaw.acme', 'ai.openclaw.exit3', 'ai.openclaw.killed', 'ai.openclaw.respawn', 'ai.openclaw.idle'];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'clawops-launchctl-sh-'));
  root = join(dir, 'state');
  bin = join(dir, 'bin');
  shOnly = join(dir, 'bin-sh-only');
  mkdirSync(bin);
  mkdirSync(shOnly);
  installLaunchctl(bin, process.execPath);
  writeFileSync(join(shOnly, 'launchctl'), readFileSync(LAUNCHCTL_SH_SOURCE), { mode: 0o755 });
  writeFileSync(join(shOnly, 'launchctl-standin'), '#!/bin/sh\necho "not answered by sh" >&2\nexit 99\n', { mode: 0o755 });
  chmodSync(join(shOnly, 'launchctl'), 0o755);
  chmodSync(join(shOnly, 'launchctl-standin'), 0o755);
});

afterAll(async () => {
  for (const l of LABELS) await standin('bootout', `system/${l}`);
  rmSync(dir, { recursive: true, force: true });
});

describe('launchctl print: the sh front end = the Node stand-in', () => {
  it('nothing loaded, no state dir at all: the empty domain and "Could not find service", from sh', async () => {
    const empty = await same(['print', 'system'], true);
    expect(empty.stdout).toContain('\tservices = {\n\t}\n');
    expect(await same(['print', 'system/ai.openclaw.acme'], true)).toEqual({
      stdout: '',
      stderr: 'Could not find service "ai.openclaw.acme" in domain for system\n',
      code: 113,
    });
  });

  it('real services in every state: the domain and each service block, from sh', async () => {
    const rl = '\t<key>RunAtLoad</key><true/>\n';
    expect((await standin('bootstrap', 'system', plist(LABELS[0]!, ['/bin/sleep', '1000'], rl))).code).toBe(0);
    expect((await standin('bootstrap', 'system', plist(LABELS[1]!, ['/bin/sh', '-c', 'exit 3'], rl))).code).toBe(0);
    expect((await standin('bootstrap', 'system', plist(LABELS[2]!, ['/bin/sleep', '1000'], rl))).code).toBe(0);
    // KeepAlive, exits at once: respawn scheduled (its throttle far beyond the test)
    expect((await standin('bootstrap', 'system', plist(LABELS[3]!, ['/bin/sh', '-c', 'exit 0'], `${rl}\t<key>KeepAlive</key><true/>\n\t<key>ThrottleInterval</key><integer>3600</integer>\n`))).code).toBe(0);
    expect((await standin('bootstrap', 'system', plist(LABELS[4]!, ['/bin/sleep', '1000']))).code).toBe(0);
    const killed = /\tpid = (\d+)/.exec((await standin('print', `system/${LABELS[2]}`)).stdout)?.[1];
    expect(killed).toBeDefined();
    process.kill(Number(killed), 'SIGTERM');
    await until('the jobs to settle', async () => {
      const d = (await standin('print', 'system')).stdout;
      return / 3 \tai\.openclaw\.exit3\n/.test(d) && /\(SIGTERM\) \tai\.openclaw\.killed\n/.test(d) && / 0 \tai\.openclaw\.respawn\n/.test(d);
    });

    const domain = await same(['print', 'system'], true);
    expect(domain.stdout).toContain('\tactive count = 5\n');
    expect(await same(['print', 'system/'], true)).toEqual(domain);
    expect(domain.stdout).toMatch(/\t\t +\d+ +- \tai\.openclaw\.acme\n/);
    for (const l of LABELS) {
      const block = await same(['print', `system/${l}`], true);
      expect(block.stdout.startsWith(`system/${l} = {\n`)).toBe(true);
    }
    expect((await same(['print', `system/${LABELS[0]}`], true)).stdout).toContain('\tstate = running\n');
    expect((await same(['print', `system/${LABELS[1]}`], true)).stdout).toContain('\tlast exit code = 3\n');
    expect((await same(['print', `system/${LABELS[2]}`], true)).stdout).toContain('\tlast terminating signal = Terminated: 15\n');
    expect((await same(['print', `system/${LABELS[3]}`], true)).stdout).toContain('\tstate = spawn scheduled\n');
    expect((await same(['print', `system/${LABELS[4]}`], true)).stdout).toContain('\tstate = not running\n');
    await same(['print', 'system/ai.openclaw.absent'], true);

    // a kickstart -k (the stand-in's own work) changes the pid: sh's answer follows the supervisor's new one
    expect((await standin('kickstart', '-k', `system/${LABELS[0]}`)).code).toBe(0);
    const after = await same(['print', `system/${LABELS[0]}`], true);
    expect(after.stdout).toContain('\truns = 2\n');
  });

  it('everything else goes to the stand-in: other subcommands, odd targets', async () => {
    for (const args of [[], ['help'], ['print'], ['print', 'system', 'extra'], ['print-disabled', 'system'], ['print', 'system/.'], ['print', 'system/..'], ['print', 'system/a b'], ['print', 'system/.hidden'], ['print', 'gui/501'], ['print', 'bogus'], ['list']]) {
      await same(args, false);
    }
  });

  it('a doubtful state goes to the stand-in: a missing answer, a dead supervisor, overrides, odd entries', async () => {
    const svc = (l: string): string => join(root, 'services', l);
    // a service whose answer is not there (a supervisor that has not written yet)
    renameSync(join(svc(LABELS[4]!), 'answer'), join(dir, 'answer.kept'));
    await same(['print', 'system'], false);
    await same(['print', `system/${LABELS[4]}`], false);
    await same(['print', `system/${LABELS[0]}`], true);
    renameSync(join(dir, 'answer.kept'), join(svc(LABELS[4]!), 'answer'));
    await same(['print', 'system'], true);

    // an answer from a dead supervisor: the stand-in sweeps the service (asked through the sh-only copy first, which
    // must hand it on without touching anything)
    const spid = Number(readFileSync(join(svc(LABELS[4]!), 'answer'), 'utf8').split('\n')[0]);
    process.kill(spid, 'SIGKILL');
    await until('the supervisor to die', async () => {
      try {
        process.kill(spid, 0);
        return false;
      } catch {
        return true;
      }
    });
    expect((await sh('print', 'system')).code).toBe(99);
    expect((await sh('print', `system/${LABELS[4]}`)).code).toBe(99);
    const gone = await front('print', `system/${LABELS[4]}`);
    expect(gone).toEqual({ stdout: '', stderr: `Could not find service "${LABELS[4]}" in domain for system\n`, code: 113 });
    const four = await same(['print', 'system'], true);
    expect(four.stdout).toContain('\tactive count = 4\n');

    // enable/disable overrides: their block is the stand-in's
    expect((await standin('disable', 'system/ai.openclaw.other')).code).toBe(0);
    await same(['print', 'system'], false);
    await same(['print', `system/${LABELS[0]}`], true);
    rmSync(join(root, 'disabled.json'));
    await same(['print', 'system'], true);

    // entries the stand-in would read differently: a dot dir, a name with a space, a plain file, a dir without a job
    for (const odd of ['.hidden', 'a b', 'plainfile', 'nojob']) {
      if (odd === 'plainfile') writeFileSync(svc(odd), 'x');
      else mkdirSync(svc(odd));
      await same(['print', 'system'], false);
      rmSync(svc(odd), { recursive: true });
      await same(['print', 'system'], true);
    }
    // a dir without a job is not a service: sh hands it on, the stand-in says not found
    mkdirSync(svc('ai.openclaw.nojob'));
    expect(await same(['print', 'system/ai.openclaw.nojob'], false)).toMatchObject({ code: 113 });
    rmSync(svc('ai.openclaw.nojob'), { recursive: true });
  });

  it('an answer whose status.json or job.json is not the one it was rendered from goes to the stand-in', async () => {
    const l = LABELS[0]!;
    const d = join(root, 'services', l);
    const keep = (f: string): string => readFileSync(join(d, f), 'utf8');
    const status = keep('status.json');
    const job = keep('job.json');
    const answer = keep('answer');
    await same(['print', `system/${l}`], true);

    // between the supervisor's answer and its status.json: the first write (no status.json yet), and a later one (the
    // status.json of the write before): the stand-in prints that status, not the answer's
    rmSync(join(d, 'status.json'));
    expect((await same(['print', `system/${l}`], false)).stdout).toContain('\tstate = not running\n');
    await same(['print', 'system'], false);
    writeFileSync(join(d, 'status.json'), status);
    expect((await standin('kickstart', '-k', `system/${l}`)).code).toBe(0);
    const newer = keep('status.json');
    writeFileSync(join(d, 'status.json'), status);
    expect((await same(['print', `system/${l}`], false)).stdout).toContain(`\tpid = ${JSON.parse(status).pid}\n`);
    await same(['print', 'system'], false);
    writeFileSync(join(d, 'status.json'), newer);
    await same(['print', `system/${l}`], true);
    const answer2 = keep('answer');
    // status.json the same values, another layout (the stand-in reads it the same: sh cannot tell, so it hands it on)
    writeFileSync(join(d, 'status.json'), JSON.stringify(JSON.parse(newer), null, 2) + '\n');
    await same(['print', `system/${l}`], false);
    writeFileSync(join(d, 'status.json'), newer.trimEnd());
    await same(['print', `system/${l}`], false);
    writeFileSync(join(d, 'status.json'), newer);

    // job.json replaced after bootstrap: another program (the stand-in prints it), not JSON, null (not a service)
    writeFileSync(join(d, 'job.json'), job.replace('/bin/sleep', '/bin/sleepy'));
    expect((await same(['print', `system/${l}`], false)).stdout).toContain('\tprogram = /bin/sleepy\n');
    for (const bad of ['null\n', job.slice(0, 40), '']) {
      writeFileSync(join(d, 'job.json'), bad);
      expect(await same(['print', `system/${l}`], false)).toMatchObject({ code: 113 });
      expect((await same(['print', 'system'], false)).stdout).not.toContain(l);
    }
    writeFileSync(join(d, 'job.json'), job);
    await same(['print', 'system'], true);

    // an answer cut short (in its block: its row still answers the domain), empty, or with CRLF line ends
    const cuts = [answer2.slice(0, answer2.length - 2), answer2.slice(0, answer2.indexOf(' = {')), '', answer2.replace(/\n/g, '\r\n')];
    for (const [i, cut] of cuts.entries()) {
      writeFileSync(join(d, 'answer'), cut);
      await same(['print', `system/${l}`], false);
      await same(['print', 'system'], i < 2);
    }
    writeFileSync(join(d, 'answer'), answer2);
    await same(['print', `system/${l}`], true);
    expect(answer).not.toEqual(answer2);

    // a NUL in the block (a plist string with &#0;: sh's read would drop it)
    const nul = 'ai.openclaw.nul';
    expect((await standin('bootstrap', 'system', plist(nul, ['/bin/sleep', '1000', 'a&#0;b'], '\t<key>RunAtLoad</key><true/>\n'))).code).toBe(0);
    try {
      await until('its answer', async () => (await standin('print', `system/${nul}`)).code === 0);
      expect((await same(['print', `system/${nul}`], false)).stdout).toContain('\t\ta\0b\n');
      await same(['print', 'system'], false);
    } finally {
      await standin('bootout', `system/${nul}`);
    }

    // a service dir under another name (its supervisor's row names the old one): the stand-in's row names the dir
    cpSync(d, join(root, 'services', 'ai.openclaw.copy'), { recursive: true });
    expect((await same(['print', 'system'], false)).stdout).toContain('\tai.openclaw.copy\n');
    rmSync(join(root, 'services', 'ai.openclaw.copy'), { recursive: true });
    await same(['print', 'system'], true);
  });

  it('a supervisor pid that is a zombie whose name holds a newline goes to the stand-in (it sweeps the service)', async () => {
    // a zombie: a child (a copy of sleep named "z<newline>x) S") its parent, exec'd into sleep, never reaps
    const exe = join(dir, 'z\nx) S');
    copyFileSync('/bin/sleep', exe);
    chmodSync(exe, 0o755);
    const parent = execFile('/bin/sh', ['-c', '"$0" 0.2 & echo $!; exec sleep 30', exe]);
    const zombie = await new Promise<number>((res) => parent.stdout!.once('data', (b: Buffer) => res(Number(String(b).trim()))));
    try {
      await until('the zombie', async () => / Z /.test(readFileSync(`/proc/${zombie}/stat`, 'utf8')));
      const from = join(root, 'services', LABELS[0]!);
      const d = join(root, 'services', 'ai.openclaw.zombie');
      mkdirSync(d);
      const status = { ...JSON.parse(readFileSync(join(from, 'status.json'), 'utf8')), supervisorPid: zombie };
      const job = readFileSync(join(from, 'job.json'), 'utf8');
      const [, row, , jobLine, ...block] = readFileSync(join(from, 'answer'), 'utf8').split('\n');
      writeFileSync(join(d, 'job.json'), job);
      writeFileSync(join(d, 'status.json'), JSON.stringify(status) + '\n');
      writeFileSync(join(d, 'answer'), [String(zombie), row!.replace(LABELS[0]!, 'ai.openclaw.zombie'), JSON.stringify(status), jobLine, ...block].join('\n'));
      expect((await sh('print', 'system/ai.openclaw.zombie')).code).toBe(99);
      expect((await sh('print', 'system')).code).toBe(99);
      expect(await front('print', 'system/ai.openclaw.zombie')).toMatchObject({ code: 113 });
      await same(['print', 'system'], true);
    } finally {
      parent.kill('SIGKILL');
      rmSync(exe);
    }
  });

  it('answers as the stand-in whatever the caller: no cat in PATH, run as `sh launchctl`, through a symlink', async () => {
    const l = LABELS[0]!;
    // PATH without cat (the stand-in has its absolute shebang)
    const want = await standin('print', `system/${l}`);
    expect(await run(join(bin, 'launchctl'), ['print', `system/${l}`], { env: { PATH: '/nonexistent' } })).toEqual(want);
    expect(await run(join(shOnly, 'launchctl'), ['print', `system/${l}`], { env: { PATH: '/nonexistent' } })).toEqual(want);
    // `sh launchctl` in its own dir ($0 without a slash), launchctl-standin not in PATH
    for (const shell of ['dash', 'bash']) {
      for (const args of [['print', 'system'], ['print', 'system/a b'], ['help']]) {
        expect({ shell, ...(await run(shell, ['launchctl', ...args], { cwd: bin, env: { PATH: '/usr/bin:/bin' } })) }).toEqual({ shell, ...(await standin(...args)) });
      }
    }
    // a symlink to the front end from another dir: the stand-in is beside the file itself
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    symlinkSync(join(bin, 'launchctl'), join(elsewhere, 'launchctl'));
    symlinkSync('launchctl', join(elsewhere, 'lctl'));
    for (const args of [['print', 'system'], ['print', `system/${l}`], ['print', 'system/a b'], ['print-disabled', 'system'], ['help']]) {
      for (const f of ['launchctl', 'lctl']) expect({ f, ...(await run(join(elsewhere, f), args)) }).toEqual({ f, ...(await standin(...args)) });
    }
  });

  it('an answer sh cannot write (stdout full, closed, a pipe nobody reads; stderr full) fails as the stand-in fails', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // the fifo opened for writing while nobody reads it: a read-write descriptor first (so the open does not block),
    // closed once the write end is open
    const ways = ['"$0" "$@" > /dev/full', '"$0" "$@" >&-', 'exec 3<> "$FIFO" 4> "$FIFO" 3<&-; "$0" "$@" >&4', '"$0" "$@" 2> /dev/full'];
    for (const way of ways) {
      for (const args of [['print', 'system'], ['print', `system/${LABELS[0]}`], ['print', 'system/ai.openclaw.absent']]) {
        const wrap = (file: string): Promise<Answer> => run('/bin/sh', ['-c', `${way}; echo "rc=$?" >&2`, file, ...args], { env: { FIFO: fifo } });
        expect({ way, args, ...(await wrap(join(bin, 'launchctl'))) }).toEqual({ way, args, ...(await wrap(join(bin, 'launchctl-standin'))) });
      }
    }
  });

  it('the state dir the stand-in takes: `..` after a symlink in LAUNCHD_STANDIN_ROOT, a symlinked dir above bin', async () => {
    // LAUNCHD_STANDIN_ROOT=<dir>/lnk/../state, lnk -> <root>/services: the stand-in reads <dir>/state (path.join
    // takes `..` lexically), the kernel <root>/state
    symlinkSync(join(root, 'services'), join(dir, 'lnk'));
    const viaLink = `${join(dir, 'lnk')}/../state`;
    for (const args of [['print', 'system'], ['print', `system/${LABELS[0]}`]]) {
      const want = await standin(...args);
      expect(await run(join(bin, 'launchctl'), args, { env: { LAUNCHD_STANDIN_ROOT: viaLink } })).toEqual(want);
      expect((await run(join(shOnly, 'launchctl'), args, { env: { LAUNCHD_STANDIN_ROOT: viaLink } })).code).toBe(99);
    }

    // the default state dir, <bin>/../../../var/run/launchd-standin, under a node root reached through a symlinked
    // usr/local: the stand-in takes it lexically (<n2>/var/run/...: nothing loaded), the kernel would climb from
    // the link's target (<n1>/var/run/...: a service)
    const n1 = join(dir, 'n1');
    const n2 = join(dir, 'n2');
    const nbin = join(n1, 'usr', 'local', 'bin');
    mkdirSync(nbin, { recursive: true });
    mkdirSync(join(n2, 'usr'), { recursive: true });
    symlinkSync(join(n1, 'usr', 'local'), join(n2, 'usr', 'local'));
    installLaunchctl(nbin, process.execPath);
    const noRoot = { env: { LAUNCHD_STANDIN_ROOT: undefined } };
    expect((await run(join(nbin, 'launchctl-standin'), ['bootstrap', 'system', plist('ai.openclaw.n1', ['/bin/sleep', '1000'], '\t<key>RunAtLoad</key><true/>\n')], noRoot)).code).toBe(0);
    try {
      expect((await run(join(nbin, 'launchctl'), ['print', 'system'], noRoot)).stdout).toContain('\tai.openclaw.n1\n');
      const n2bin = join(n2, 'usr', 'local', 'bin');
      for (const args of [['print', 'system'], ['print', 'system/ai.openclaw.n1']]) {
        expect(await run(join(n2bin, 'launchctl'), args, noRoot)).toEqual(await run(join(n2bin, 'launchctl-standin'), args, noRoot));
      }
    } finally {
      await run(join(nbin, 'launchctl-standin'), ['bootout', 'system/ai.openclaw.n1'], noRoot);
    }
  });

  it('is plain POSIX sh: dash parses it', () => {
    execFileSync('dash', ['-n', LAUNCHCTL_SH_SOURCE]);
  });
});
