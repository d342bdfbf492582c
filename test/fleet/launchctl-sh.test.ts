/**
 * The test fleet's launchctl front end (scripts/launchctl.sh) answers `print system` and `print system/<label>`
 * itself, byte for byte (stdout, stderr, exit code) what the Node stand-in (scripts/launchctl-standin.mjs) prints on
 * the same state, and hands every other question and every doubtful state to the stand-in.
 *
 * Real services: the stand-in bootstraps real jobs (running, exited with a code, killed by a signal, respawn
 * scheduled, loaded but never run) and each one's supervisor writes the answer the front end reads. Two front ends
 * share the state: one installed as the fleet installs it (test/fleet/launchctl.ts), one whose stand-in only exits 99
 * ("not answered by sh"), which tells what sh answered from what it handed on.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installLaunchctl, LAUNCHCTL_SH_SOURCE } from './launchctl.js';

interface Answer {
  stdout: string;
  stderr: string;
  code: number;
}

let dir: string;
let root: string;
let bin: string;
let shOnly: string;

function run(file: string, args: string[]): Promise<Answer> {
  return new Promise((res) => {
    execFile(file, args, { env: { ...process.env, LAUNCHD_STANDIN_ROOT: root } }, (err, stdout, stderr) => {
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

  it('is plain POSIX sh: dash parses it', () => {
    execFileSync('dash', ['-n', LAUNCHCTL_SH_SOURCE]);
  });
});
