/** `clawops notifier serve --state <file>`: the state directory is created (0700) at start, or the notifier refuses to start. */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureStateDir } from '../../reconciler/notifier/cli.js';
import { expectUsageErrors, failureLine, getJson, sendLines, spawnCli, tmp, waitFor, type CliProc } from '../notifier/helpers.js';

const procs: CliProc[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
});

describe('notifier --state directory', () => {
  it('creates a missing state directory 0700 and saves the digest there', async () => {
    const dir = tmp('nst');
    const stateDir = join(dir, 'var', 'clawops');
    const state = join(stateDir, 'digest.json');
    const p = spawnCli(['notifier', 'serve', '--socket', join(dir, 'n.sock'), '--listen', '127.0.0.1:0', '--state', state]);
    procs.push(p);
    const url = await p.listening();
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    await sendLines(join(dir, 'n.sock'), [failureLine()]);
    await waitFor(async () => (await getJson(`${url}/v1/webhook-digest`)).body.total === 1, 'the digest to count 1');
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
    expect(existsSync(state)).toBe(true);
    expect(readFileSync(state, 'utf8')).toContain('acme');
    const logs = p.stderr();
    expect(logs).not.toContain('saving digest failed');
    expect(logs).toContain('"msg":"created the state directory"');
  }, 30_000);

  it('refuses to start, exit 2 with one line naming the directory, when it cannot be created', async () => {
    const dir = tmp('nst');
    writeFileSync(join(dir, 'file'), 'x');
    const sock = join(dir, 'n.sock');
    const base = ['notifier', 'serve', '--socket', sock, '--listen', '127.0.0.1:0'];
    const under = join(dir, 'file', 'sub');
    mkdirSync(join(dir, 'adir'));
    writeFileSync(join(dir, 'adir', 'plain'), 'x');
    await expectUsageErrors(
      [
        [[...base, '--state', join(under, 'digest.json')], new RegExp(`^clawops: --state ${under}/digest\\.json: cannot use directory ${under}: ${join(dir, 'file')} is not a directory$`)],
        [[...base, '--state', join(dir, 'file', 'a', 'b', 'digest.json')], new RegExp(`cannot use directory ${join(dir, 'file', 'a', 'b')}: ${join(dir, 'file')} is not a directory$`)],
        [[...base, '--state', join(dir, 'adir', 'plain', 'digest.json')], new RegExp(`cannot use directory ${join(dir, 'adir', 'plain')}: `)],
      ],
      [0],
    );
    expect(existsSync(sock)).toBe(false);
  }, 30_000);

  it('leaves an existing directory as it is', () => {
    const dir = tmp('nst');
    const before = statSync(dir).mode;
    expect(ensureStateDir(join(dir, 'digest.json'))).toBeUndefined();
    expect(statSync(dir).mode).toBe(before);
    expect(ensureStateDir(join(dir, 'new', 'digest.json'))).toBe(join(dir, 'new'));
    expect(statSync(join(dir, 'new')).mode & 0o777).toBe(0o700);
  });
});
