/**
 * The benches' sh front end for `launchctl print` (bench/lib/launchctl-print-sh.ts) answers exactly as the launchctl
 * stand-in (scripts/launchctl-standin.mjs) does on the same state: stdout, stderr and exit code, for the state every
 * bench node is in (nothing loaded) and for states it must hand to the stand-in (a service dir, a stale one, an
 * override), and for `print system/<label>` of labels that are and are not there.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMPTY_PRINT_SYSTEM, installLaunchctlPrintSh } from '../../bench/lib/launchctl-print-sh.js';

const STANDIN = join(process.cwd(), 'scripts/launchctl-standin.mjs');

interface Answer {
  stdout: string;
  stderr: string;
  code: number;
}

function run(file: string, args: string[], root: string): Promise<Answer> {
  return new Promise((res) => {
    execFile(file, args, { env: { ...process.env, LAUNCHD_STANDIN_ROOT: root } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      res({ stdout, stderr, code });
    });
  });
}

describe('launchctl print answered by sh = the stand-in on the same state', () => {
  let dir: string;
  let bin: string;
  let undo: () => void;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'clawops-launchctl-sh-'));
    bin = join(dir, 'bin');
    mkdirSync(bin);
    // the stand-in as the fleet installs it: its shebang pinned to a Node that exists
    writeFileSync(join(bin, 'launchctl'), readFileSync(STANDIN, 'utf8').replace(/^#!.*\n/, `#!${process.execPath}\n`), { mode: 0o755 });
    chmodSync(join(bin, 'launchctl'), 0o755);
    undo = installLaunchctlPrintSh([bin]);
  });
  afterAll(() => {
    undo?.();
    rmSync(dir, { recursive: true, force: true });
  });

  const states: [string, (root: string) => void][] = [
    ['no state dir', () => undefined],
    ['an empty services dir', (root) => mkdirSync(join(root, 'services'), { recursive: true })],
    ['a loaded service', (root) => {
      mkdirSync(join(root, 'services/ai.openclaw.acme'), { recursive: true });
      writeFileSync(join(root, 'services/ai.openclaw.acme/job.json'), JSON.stringify({ label: 'ai.openclaw.acme', programArguments: ['/bin/true'], keepAlive: false, runAtLoad: false, environment: {} }));
    }],
    ['a stale service (its supervisor gone)', (root) => {
      mkdirSync(join(root, 'services/ai.openclaw.gone'), { recursive: true });
      writeFileSync(join(root, 'services/ai.openclaw.gone/job.json'), JSON.stringify({ label: 'ai.openclaw.gone', programArguments: ['/bin/true'] }));
      writeFileSync(join(root, 'services/ai.openclaw.gone/status.json'), JSON.stringify({ supervisorPid: 2 ** 22 + 7, state: 'running', pid: 1 }));
    }],
    ['a disable override', (root) => {
      mkdirSync(root, { recursive: true });
      writeFileSync(join(root, 'disabled.json'), JSON.stringify({ 'ai.openclaw.initech': true }));
    }],
  ];
  const asks = [['print', 'system'], ['print', 'system/ai.openclaw.nothing'], ['print', 'system/'], ['print', 'system/a b'], ['print', 'system/..'], ['print-disabled', 'system']];

  for (const [what, make] of states) {
    it(`${what}: every ask answered alike`, async () => {
      // one state dir each for the two, made the same way (the stand-in sweeps a stale service as it answers)
      const a = mkdtempSync(join(dir, 'standin-'));
      const b = mkdtempSync(join(dir, 'sh-'));
      for (const root of [a, b]) {
        rmSync(root, { recursive: true });
        make(root);
      }
      for (const args of asks) {
        const want = await run(join(bin, 'launchctl-standin'), args, a);
        const got = await run(join(bin, 'launchctl'), args, b);
        expect({ args, ...got }).toEqual({ args, ...want });
      }
      if (what === 'no state dir') expect((await run(join(bin, 'launchctl'), ['print', 'system'], b)).stdout).toBe(EMPTY_PRINT_SYSTEM);
    });
  }

  it('answers the nothing-loaded domain without starting the stand-in', async () => {
    const root = join(dir, 'no-node');
    const copy = join(dir, 'bin-no-node');
    mkdirSync(copy);
    writeFileSync(join(copy, 'launchctl'), readFileSync(join(bin, 'launchctl')), { mode: 0o755 });
    // a stand-in that fails: the sh answer must not come from it
    writeFileSync(join(copy, 'launchctl-standin'), '#!/bin/sh\necho standin >&2\nexit 99\n', { mode: 0o755 });
    expect(await run(join(copy, 'launchctl'), ['print', 'system'], root)).toEqual({ stdout: EMPTY_PRINT_SYSTEM, stderr: '', code: 0 });
    expect(await run(join(copy, 'launchctl'), ['print', 'system/ai.x'], root)).toEqual({ stdout: '', stderr: 'Could not find service "ai.x" in domain for system\n', code: 113 });
    mkdirSync(join(root, 'services/ai.x'), { recursive: true });
    expect((await run(join(copy, 'launchctl'), ['print', 'system'], root)).code).toBe(99);
    expect(existsSync(join(root, 'services'))).toBe(true);
  });
});
