/**
 * Start-up guard (issue 12), by structure rather than time: run the CLI from source in a child process with a
 * module-resolution hook that records every module URL it resolves, and check that `clawops --help` (and
 * `clawops lint`) never load the heavy dependencies of the fleet commands. A static import of commands/apply.js,
 * the notifier service or ssh in cli.ts (or in anything it imports) makes this fail.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/repo.js';

const HOOKS = `
import { appendFileSync } from 'node:fs';
let out;
export function initialize(data) { out = data.file; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(out, r.url + '\\n');
  return r;
}
`;
const REGISTER = `
import { register } from 'node:module';
register(new URL('./hooks.mjs', import.meta.url), { data: { file: process.env.CLAWOPS_TRACE_FILE } });
`;

/** Run `clawops <args>` from the TypeScript sources (as bin/clawops does without dist/) and list the modules it resolved. */
function trace(args: string[]): { code: number | null; stdout: string; stderr: string; modules: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'clawops-trace-'));
  writeFileSync(join(dir, 'hooks.mjs'), HOOKS);
  writeFileSync(join(dir, 'register.mjs'), REGISTER);
  const file = join(dir, 'modules.txt');
  writeFileSync(file, '');
  const r = spawnSync(
    process.execPath,
    ['--import', join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs'), '--import', join(dir, 'register.mjs'), join(REPO_ROOT, 'reconciler/cli.ts'), ...args],
    { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, CLAWOPS_TRACE_FILE: file }, timeout: 60_000 },
  );
  const modules = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((u) => decodeURIComponent(u));
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, modules };
}

const root = `file://${REPO_ROOT}`;
/** What neither `--help` nor `lint` may load: the fleet commands' implementation and its dependencies. */
const FLEET_ONLY: [string, (url: string) => boolean][] = [
  ...['ssh2', 'node-ssh', 'nodemailer', 'pino', 'simple-git', 'p-queue'].map((p): [string, (url: string) => boolean] => [p, (u) => u.includes(`/node_modules/${p}/`)]),
  ...['apply', 'observe', 'transport', 'plan'].map((d): [string, (url: string) => boolean] => [`reconciler/${d}/`, (u) => u.startsWith(`${root}/reconciler/${d}/`)]),
  ...['notifier/service.ts', 'probe/service.ts', 'commands/apply.ts', 'commands/diff.ts', 'source/git-source.ts'].map((f): [string, (url: string) => boolean] => [
    `reconciler/${f}`,
    (u) => u === `${root}/reconciler/${f}`,
  ]),
];
/** `--help` does not even need the repo readers: no yaml, no ajv. */
const HELP_ALSO: [string, (url: string) => boolean][] = [
  ['ajv', (u) => u.includes('/node_modules/ajv/')],
  ['yaml', (u) => u.includes('/node_modules/yaml/')],
  ['reconciler/desired/build-desired.ts', (u) => u === `${root}/reconciler/desired/build-desired.ts`],
];

/** lint validates with the validators generated ahead of time: ajv's schema compiler is never loaded. */
const LINT_ALSO: [string, (url: string) => boolean][] = [
  ['ajv compiler', (u) => /\/node_modules\/ajv\/dist\/(?!runtime\/)/.test(u)],
  ['reconciler/desired/gen-schema-validators.ts', (u) => u === `${root}/reconciler/desired/gen-schema-validators.ts`],
];

function loaded(modules: string[], rules: [string, (url: string) => boolean][]): string[] {
  return rules.filter(([, hit]) => modules.some(hit)).map(([name]) => name);
}

describe('clawops start-up loads only what the command needs', () => {
  it('--help loads the command definitions, not their implementations', () => {
    const r = trace(['--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Usage: clawops');
    // the trace works: it saw the entry, commander and the cheap definitions
    expect(r.modules).toContain(`${root}/reconciler/cli.ts`);
    expect(r.modules).toContain(`${root}/reconciler/commands/lint.ts`);
    expect(r.modules.some((u) => u.includes('/node_modules/commander/'))).toBe(true);
    expect(loaded(r.modules, [...FLEET_ONLY, ...HELP_ALSO])).toEqual([]);
  }, 60_000);

  it('lint loads the repo readers but nothing of ssh, git, pino, nodemailer or the fleet commands', () => {
    const r = trace(['lint', 'tenants-example']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.modules).toContain(`${root}/reconciler/desired/build-desired.ts`);
    expect(r.modules).toContain(`${root}/reconciler/desired/schema-validators.ts`);
    expect(loaded(r.modules, [...FLEET_ONLY, ...LINT_ALSO])).toEqual([]);
  }, 60_000);

  it('the trace does see a fleet command being loaded (diff --help imports commands/diff.ts)', () => {
    const r = trace(['diff', '--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('--repo <path|url>');
    expect(loaded(r.modules, FLEET_ONLY)).toEqual(expect.arrayContaining(['reconciler/commands/diff.ts', 'reconciler/observe/', 'simple-git']));
  }, 60_000);
});
