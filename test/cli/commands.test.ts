/** cli.ts wiring: lazy subcommands (listed cheaply, loaded when run), `help <cmd>`, usage errors, `--version`. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Help } from 'commander';
import { describe, expect, it } from 'vitest';
import { LAZY_COMMANDS, loadLazyCommand, versionLine, type LazyName } from '../../reconciler/cli.js';
import { EXAMPLE, REPO_ROOT, runCli } from '../helpers/repo.js';
import { runCliProc } from '../notifier/helpers.js';

const io = { stdout: () => undefined, stderr: () => undefined };

describe('lazy subcommands', () => {
  it.each(Object.keys(LAZY_COMMANDS) as LazyName[])('%s: the stub lists what the real command says', async (name) => {
    const real = await loadLazyCommand(name, io, () => undefined);
    expect(real.name()).toBe(name);
    expect(real.description()).toBe(LAZY_COMMANDS[name].description);
    expect(new Help().subcommandTerm(real)).toBe(LAZY_COMMANDS[name].term);
  });

  it('the program help lists every command as before', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const term of ['lint [options] <repo>', 'render [options] <repo>', 'inventory [options] <repo>', 'diff [options]', 'apply [options]', 'rollback [options]', 'notifier ', 'probe ', 'help [command]']) {
      expect(r.stdout).toContain(`  ${term}`);
    }
    expect(r.stdout).toContain(LAZY_COMMANDS.apply.description.slice(0, 40));
  });

  it.each([
    [['diff', '--help']],
    [['help', 'diff']],
  ])('%j shows the real options under "clawops diff"', async (args) => {
    const r = await runCli(args);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: clawops diff \[options\]/);
    expect(r.stdout).toContain('--repo <path|url>');
    expect(r.stdout).toContain('--prune');
    expect(r.stderr).toBe('');
  });

  it('help reaches nested commands of a lazy one', async () => {
    for (const args of [['probe', 'serve', '--help'], ['help', 'probe', 'serve']]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: clawops probe serve \[options\]/);
      expect(r.stdout).toContain('--tenant <id>');
    }
    const r = await runCli(['help', 'apply']);
    expect(r.stdout).toMatch(/^Usage: clawops apply \[options\]/);
    expect(r.stdout).toContain('--yes');
  });

  it('arguments reach the real command unchanged, and its usage errors are exit 2 through main()', async () => {
    // --node takes several values; the error comes from the real diff after it read the repo
    let r = await runCli(['diff', '--repo', EXAMPLE, '--node', 'nope1', 'nope2', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^clawops: --node nope1, nope2: not in nodes\.yaml/);
    r = await runCli(['diff', '--repo', EXAMPLE, '--bogus']);
    expect(r).toMatchObject({ code: 2, stderr: "clawops: unknown option '--bogus'\n", stdout: '' });
    r = await runCli(['rollback', '--repo', EXAMPLE]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/required option/);
  });

  it('an unknown command is still exit 2', async () => {
    const r = await runCli(['bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'bogus'/);
  });
});

describe('clawops --version', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const head = (): string => execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();

  it('prints the package version and the commit of the checkout', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      expect(r).toEqual({ code: 0, stdout: `clawops ${pkg.version} (${head()})\n`, stderr: '' });
    }
  });

  it('works as a real process (bin/clawops, dist/ or tsx)', async () => {
    const r = await runCliProc(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^clawops ${pkg.version.replace(/\./g, '\\.')} \\([0-9a-f]{4,40}\\)\\n$`));
    expect(r.stderr).toBe('');
  });

  it('takes the commit from build-info.json beside the compiled code, else says unknown outside a checkout', () => {
    const dir = mkdtempSync(join(tmpdir(), 'clawops-version-'));
    const code = join(dir, 'dist', 'reconciler');
    mkdirSync(code, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'clawops', version: '9.8.7' }));
    expect(versionLine(code)).toBe('clawops 9.8.7 (unknown)');
    writeFileSync(join(dir, 'dist', 'build-info.json'), JSON.stringify({ commit: 'abc1234' }));
    expect(versionLine(code)).toBe('clawops 9.8.7 (abc1234)');
    writeFileSync(join(dir, 'dist', 'build-info.json'), 'not json');
    expect(versionLine(code)).toBe('clawops 9.8.7 (unknown)');
  });

  it('from source it names the checkout HEAD', () => {
    expect(versionLine(join(REPO_ROOT, 'reconciler'))).toBe(`clawops ${pkg.version} (${head()})`);
  });
});
