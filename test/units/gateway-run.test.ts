/**
 * bin/gateway-run, run for real with dash and `bash --posix` against a temp dir laid out like a node
 * ($ETC/releases/acme/<id>/…, $ETC/tenants/acme → the release, $VARDB/secrets/acme/…) and a fake openclaw that
 * records its argv, pid and environment.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import type { DesiredState } from '../../reconciler/desired/types.js';
import { buildManifest, manifestBytes, MANIFEST_PATH } from '../../reconciler/release-manifest.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { GATEWAY_RUN_SH, secretsList } from '../../reconciler/units/gateway-run-sh.js';
import { layRelease } from '../helpers/release.js';
import { EXAMPLE, exampleRepo } from '../helpers/repo.js';

const which = (tool: string): string => execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
const SHELLS: { name: string; argv: string[] }[] = [
  { name: 'dash', argv: [which('dash')] },
  { name: 'bash --posix', argv: [which('bash'), '--posix'] },
];

const example: DesiredState = buildDesired(readTreeSync(EXAMPLE));
const ACME = example.tenants.get('acme')!;
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const HOOKS = 'hk_Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sA';
const CURRENT = 'tok_Xy7uB2nM5kQ8wE3rT6yU9iO1pA4sD-cur';
const NEXT = 'tok_next_Lm3nB8vC1xZ6aS4dF7gH2jK5-next';
const SECRET_VALUES = [HOOKS, CURRENT, NEXT];
const RECORDED = ['CLAWOPS_SECRET_HOOKS_TOKEN', 'CLAWOPS_SECRET_TOKEN_CURRENT', 'CLAWOPS_SECRET_TOKEN_NEXT', 'OPENCLAW_CONFIG_PATH', 'OPENCLAW_STATE_DIR', 'CLAWOPS_TENANT', 'CLAWOPS_RELEASE_ID', 'CLAWOPS_COMMIT', 'CLAWOPS_TAG', 'PATH'];

/** The fake openclaw: only shell builtins, so it runs under any PATH. One file per recorded thing, exact bytes. */
const FAKE = `#!/bin/sh
D=$FAKE_OUT
printf '%s' "$0" > "$D/argv0"
printf '%s\\n' "$@" > "$D/argv"
printf '%s' "$$" > "$D/pid"
for v in ${RECORDED.join(' ')}; do
  eval "if [ -n \\"\\\${$v+set}\\" ]; then printf '%s' \\"\\\$$v\\" > \\"\\$D/env.$v\\"; fi"
done
exit 0
`;

interface Node {
  root: string;
  etc: string;
  varDb: string;
  rel: string;
  releaseId: string;
  out: string;
  runFake: string;
  cliFake: string;
  secrets: string;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  pid: number;
}

let n: Node;

function makeNode(opts: { desired?: DesiredState; sub?: string } = {}): Node {
  const root = mkdtempSync(join(tmpdir(), 'clawops-gwrun-'));
  const base = opts.sub ? join(root, opts.sub) : root;
  const etc = join(base, 'etc');
  const varDb = join(base, opts.sub ? 'var db' : 'var');
  const { rel, releaseId } = layRelease(etc, opts.desired ?? example, 'acme', { commit: COMMIT });
  const secrets = join(varDb, 'secrets', 'acme');
  mkdirSync(secrets, { recursive: true, mode: 0o700 });
  const bin = join(root, 'fakebin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'openclaw-fake'), FAKE, { mode: 0o755 });
  symlinkSync('openclaw-fake', join(bin, 'openclaw-run'));
  symlinkSync('openclaw-fake', join(bin, 'openclaw-cli'));
  const out = join(root, 'out');
  mkdirSync(out);
  const node: Node = { root, etc, varDb, rel, releaseId, out, runFake: join(bin, 'openclaw-run'), cliFake: join(bin, 'openclaw-cli'), secrets };
  secret(node, 'token.current', `${CURRENT}\n`);
  secret(node, 'hooks.token', `${HOOKS}\n`);
  return node;
}

function secret(node: Node, name: string, content: string, mode = 0o600): void {
  const f = join(node.secrets, name);
  rmSync(f, { recursive: true, force: true });
  writeFileSync(f, content);
  chmodSync(f, mode);
}

/** sh $ETC/tenants/acme/bin/gateway-run acme $ETC $VARDB [extra…], as the launchd unit runs it */
function run(shell: string[], extra: string[] = [], opts: { path?: string; script?: string; node?: Node } = {}): Run {
  const node = opts.node ?? n;
  const script = opts.script ?? join(node.etc, 'tenants', 'acme', 'bin', 'gateway-run');
  const r = spawnSync(shell[0]!, [...shell.slice(1), script, 'acme', node.etc, node.varDb, ...extra], {
    env: { PATH: opts.path ?? '/usr/bin:/bin:/usr/sbin:/sbin', HOME: node.root, CLAWOPS_OPENCLAW: node.runFake, CLAWOPS_OPENCLAW_CLI: node.cliFake, FAKE_OUT: node.out },
    encoding: 'utf8',
    timeout: 15_000,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, pid: r.pid! };
}

interface Recorded {
  argv0: string;
  argv: string[];
  pid: number;
  env: Record<string, string>;
}

function recorded(node: Node = n): Recorded | undefined {
  if (!existsSync(join(node.out, 'argv'))) return undefined;
  const read = (f: string): string => readFileSync(join(node.out, f), 'utf8');
  const env: Record<string, string> = {};
  for (const v of RECORDED) if (existsSync(join(node.out, `env.${v}`))) env[v] = read(`env.${v}`);
  return { argv0: read('argv0'), argv: read('argv').split('\n').slice(0, -1), pid: Number(read('pid')), env };
}

const runRecord = (node: Node = n): string => join(node.varDb, 'clawops', 'run', 'acme.json');

function expectNoSecrets(r: Run): void {
  for (const v of SECRET_VALUES) {
    expect(r.stdout).not.toContain(v);
    expect(r.stderr).not.toContain(v);
    // nor a recognisable part of one
    expect(r.stderr).not.toContain(v.slice(-10));
  }
}

/** a secrets.list where token.current is exported rather than read by OpenClaw from its file (rotation applies) */
function envTokenList(node: Node = n): void {
  writeFileSync(
    join(node.rel, 'secrets.list'),
    secretsList([
      { kind: 'env', variable: 'CLAWOPS_SECRET_HOOKS_TOKEN', name: 'hooks.token' },
      { kind: 'env', variable: 'CLAWOPS_SECRET_TOKEN_CURRENT', name: 'token.current' },
    ]),
  );
}

beforeEach(() => {
  n = makeNode();
});
afterEach(() => {
  rmSync(n.root, { recursive: true, force: true });
});

describe('the release layout the wrapper runs in', () => {
  it('the example release ships the wrapper and the secrets.list it reads', () => {
    expect(readFileSync(join(n.rel, 'bin', 'gateway-run'), 'utf8')).toBe(GATEWAY_RUN_SH);
    expect(readFileSync(join(n.rel, 'secrets.list'), 'utf8')).toBe('env CLAWOPS_SECRET_HOOKS_TOKEN hooks.token\nfile - token.current\n');
    expect(realpathSync(join(n.etc, 'tenants', 'acme'))).toBe(realpathSync(n.rel));
    expect(n.releaseId).toBe(ACME.releaseId);
  });

  it('secretsList: env and file lines', () => {
    expect(secretsList([])).toBe('');
    expect(secretsList([{ kind: 'env', variable: 'CLAWOPS_SECRET_X', name: 'x' }, { kind: 'file', name: 'y' }, { kind: 'file', variable: 'IGNORED', name: 'z' }])).toBe('env CLAWOPS_SECRET_X x\nfile - y\nfile - z\n');
  });
});

describe.each(SHELLS)('bin/gateway-run under $name', ({ argv: sh }) => {
  it('good: execs `openclaw --profile acme gateway run` with the contracted environment and a run record', () => {
    const before = Math.floor(Date.now() / 1000);
    const r = run(sh);
    const after = Math.ceil(Date.now() / 1000);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('');
    expect(r.code).toBe(0);
    const got = recorded()!;
    expect(got.argv0).toBe(n.runFake);
    expect(got.argv).toEqual(['--profile', 'acme', 'gateway', 'run']);
    expect(got.env).toEqual({
      // env secret exported, trailing newline stripped; token.current is a file secret: checked, not exported
      CLAWOPS_SECRET_HOOKS_TOKEN: HOOKS,
      OPENCLAW_CONFIG_PATH: `${n.etc}/tenants/acme/openclaw.json`,
      OPENCLAW_STATE_DIR: `${n.varDb}/state/acme`,
      CLAWOPS_TENANT: 'acme',
      CLAWOPS_RELEASE_ID: n.releaseId,
      CLAWOPS_COMMIT: COMMIT,
      CLAWOPS_TAG: '',
      PATH: '/usr/local/bin:/opt/homebrew/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    });
    // the state dir is created private
    expect(statSync(join(n.varDb, 'state', 'acme')).mode & 0o777).toBe(0o700);
    // the run record: valid JSON, the pid of the exec'd gateway (exec keeps the wrapper's pid)
    const rec = JSON.parse(readFileSync(runRecord(), 'utf8')) as { pid: number; release_id: string; commit: string; tag: string; started_epoch: number };
    expect(Object.keys(rec)).toEqual(['pid', 'release_id', 'commit', 'tag', 'started_epoch']);
    expect(rec.pid).toBe(got.pid);
    expect(rec.pid).toBe(r.pid);
    expect(rec).toMatchObject({ release_id: n.releaseId, commit: COMMIT, tag: '' });
    expect(rec.started_epoch).toBeGreaterThanOrEqual(before);
    expect(rec.started_epoch).toBeLessThanOrEqual(after);
    // written then renamed: no temp file left beside it
    expect(readdirSync(join(n.varDb, 'clawops', 'run'))).toEqual(['acme.json']);
    expectNoSecrets(r);
  });

  it('tag from the manifest; secrets with shell-special characters are exported verbatim, only trailing newlines stripped', () => {
    writeFileSync(join(n.rel, MANIFEST_PATH), manifestBytes(buildManifest(ACME, { commit: COMMIT, tag: 'release/2026.11.1', createdAt: '2026-11-25T00:00:00Z', actor: 'test' })));
    const tricky = `a b'c"d$HOME \`id\` $(id) \\n;*?[x]-${HOOKS}`;
    secret(n, 'hooks.token', `${tricky}\n\n`);
    const r = run(sh);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const got = recorded()!;
    expect(got.env.CLAWOPS_SECRET_HOOKS_TOKEN).toBe(tricky);
    expect(got.env.CLAWOPS_TAG).toBe('release/2026.11.1');
    expect(JSON.parse(readFileSync(runRecord(), 'utf8'))).toMatchObject({ pid: got.pid, tag: 'release/2026.11.1', commit: COMMIT });
  });

  it('a replaced run record: the new start overwrites it', () => {
    mkdirSync(join(n.varDb, 'clawops', 'run'), { recursive: true });
    writeFileSync(runRecord(), '{"pid":1,"release_id":"old","commit":"old","tag":"","started_epoch":1}\n');
    const r = run(sh);
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(runRecord(), 'utf8'))).toMatchObject({ pid: r.pid, release_id: n.releaseId });
  });

  it('mode 0400 secrets are fine', () => {
    chmodSync(join(n.secrets, 'hooks.token'), 0o400);
    chmodSync(join(n.secrets, 'token.current'), 0o400);
    const r = run(sh);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(recorded()!.env.CLAWOPS_SECRET_HOOKS_TOKEN).toBe(HOOKS);
  });

  it('token.next (0600) beside an env token.current → CLAWOPS_SECRET_TOKEN_NEXT exported (rotation)', () => {
    envTokenList();
    secret(n, 'token.next', `${NEXT}\n`);
    const r = run(sh);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const env = recorded()!.env;
    expect(env.CLAWOPS_SECRET_TOKEN_CURRENT).toBe(CURRENT);
    expect(env.CLAWOPS_SECRET_TOKEN_NEXT).toBe(NEXT);
    expectNoSecrets(r);
  });

  it.each([
    ['mode 0644', (node: Node) => secret(node, 'token.next', `${NEXT}\n`, 0o644)],
    ['empty', (node: Node) => secret(node, 'token.next', '')],
    ['a symlink', (node: Node) => (secret(node, 'next-real', `${NEXT}\n`), symlinkSync('next-real', join(node.secrets, 'token.next')))],
    ['a directory', (node: Node) => mkdirSync(join(node.secrets, 'token.next'), { mode: 0o700 })],
  ] as const)('token.next %s → not exported, the gateway still starts, nothing said', (_, make) => {
    envTokenList();
    make(n);
    const r = run(sh);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('');
    const env = recorded()!.env;
    expect(env.CLAWOPS_SECRET_TOKEN_CURRENT).toBe(CURRENT);
    expect(env).not.toHaveProperty('CLAWOPS_SECRET_TOKEN_NEXT');
  });

  it("token.next with the example's secrets.list (token.current is a file SecretRef): not exported, as contracted", () => {
    secret(n, 'token.next', `${NEXT}\n`);
    const r = run(sh);
    expect(r.code).toBe(0);
    expect(recorded()!.env).not.toHaveProperty('CLAWOPS_SECRET_TOKEN_NEXT');
    expect(recorded()!.env).not.toHaveProperty('CLAWOPS_SECRET_TOKEN_CURRENT');
  });

  const hooksFile = (): string => `${n.varDb}/secrets/acme/hooks.token`;
  it.each([
    { name: 'missing', make: (node: Node) => rmSync(join(node.secrets, 'hooks.token')), problem: 'is missing' },
    { name: 'mode 0644', make: (node: Node) => chmodSync(join(node.secrets, 'hooks.token'), 0o644), problem: 'has mode 0644 (want 0600 or 0400)' },
    { name: 'mode 0640', make: (node: Node) => chmodSync(join(node.secrets, 'hooks.token'), 0o640), problem: 'has mode 0640 (want 0600 or 0400)' },
    { name: 'mode 0700', make: (node: Node) => chmodSync(join(node.secrets, 'hooks.token'), 0o700), problem: 'has mode 0700 (want 0600 or 0400)' },
    { name: 'empty', make: (node: Node) => secret(node, 'hooks.token', ''), problem: 'is empty' },
    { name: 'only newlines', make: (node: Node) => secret(node, 'hooks.token', '\n\n'), problem: 'is empty (only newlines)' },
    { name: 'over 64 KiB', make: (node: Node) => secret(node, 'hooks.token', `${'h'.repeat(65537)}`), problem: 'is 65537 bytes (at most 65536)' },
    { name: 'a directory', make: (node: Node) => (rmSync(join(node.secrets, 'hooks.token')), mkdirSync(join(node.secrets, 'hooks.token'), { mode: 0o700 })), problem: 'is not a regular file' },
    {
      name: 'a symlink to a good 0600 file',
      make: (node: Node) => (secret(node, 'hooks-real', `${HOOKS}\n`), rmSync(join(node.secrets, 'hooks.token')), symlinkSync('hooks-real', join(node.secrets, 'hooks.token'))),
      problem: 'is not a regular file',
    },
    { name: 'a dangling symlink', make: (node: Node) => (rmSync(join(node.secrets, 'hooks.token')), symlinkSync('nowhere', join(node.secrets, 'hooks.token'))), problem: 'is not a regular file' },
  ])('hooks.token $name → exit 78, one stderr line naming it, no secret shown, gateway not run', ({ make, problem }) => {
    make(n);
    const r = run(sh);
    expect(r.code).toBe(78);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`clawops-gateway-run: acme: secret file ${hooksFile()} ${problem}; not starting\n`);
    expectNoSecrets(r);
    expect(recorded()).toBeUndefined();
    expect(readdirSync(n.out)).toEqual([]);
    expect(existsSync(runRecord())).toBe(false);
  });

  it('token.current (a file secret) missing → exit 78 naming it', () => {
    rmSync(join(n.secrets, 'token.current'));
    const r = run(sh);
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(`clawops-gateway-run: acme: secret file ${n.varDb}/secrets/acme/token.current is missing; not starting\n`);
    expectNoSecrets(r);
    expect(recorded()).toBeUndefined();
  });

  it('the tenant\'s secrets dir a symlink (to another tenant\'s secrets) → exit 78 naming it, whatever it holds', () => {
    const other = join(n.varDb, 'secrets', 'globex');
    renameSync(n.secrets, other);
    symlinkSync(other, n.secrets);
    const r = run(sh);
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(`clawops-gateway-run: acme: secret dir ${n.varDb}/secrets/acme is a symlink, not the tenant's own; not starting\n`);
    expectNoSecrets(r);
    expect(recorded()).toBeUndefined();
  });

  it('clawops/run or clawops/ itself a symlink: the gateway starts, no run record written behind the link', () => {
    const away = join(n.root, 'elsewhere');
    mkdirSync(join(away, 'run'), { recursive: true });
    mkdirSync(join(n.varDb, 'clawops'), { recursive: true });
    symlinkSync(join(away, 'run'), join(n.varDb, 'clawops', 'run'));
    expect(run(sh).code).toBe(0);
    expect(readdirSync(join(away, 'run'))).toEqual([]);
    rmSync(join(n.varDb, 'clawops'), { recursive: true });
    symlinkSync(away, join(n.varDb, 'clawops'));
    expect(run(sh).code).toBe(0);
    expect(readdirSync(away)).toEqual(['run']);
    rmSync(join(n.varDb, 'clawops'));
  });

  it('no secrets directory at all → exit 78 on the first listed secret', () => {
    rmSync(n.secrets, { recursive: true });
    const r = run(sh);
    expect(r.code).toBe(78);
    expect(r.stderr.split('\n')).toEqual([`clawops-gateway-run: acme: secret file ${hooksFile()} is missing; not starting`, '']);
    expect(recorded()).toBeUndefined();
  });

  it('the release without secrets.list → exit 78, one line', () => {
    rmSync(join(n.rel, 'secrets.list'));
    const r = run(sh);
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(`clawops-gateway-run: acme: ${realpathSync(n.rel)}/secrets.list is missing; not starting\n`);
    expect(recorded()).toBeUndefined();
  });

  it('--validate: `config validate --json` of the release\'s own openclaw.json, with the secrets exported, no run record', () => {
    const r = run(sh, ['--validate']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const got = recorded()!;
    expect(got.argv0).toBe(n.cliFake);
    expect(got.argv).toEqual(['--profile', 'acme', 'config', 'validate', '--json']);
    expect(got.env.OPENCLAW_CONFIG_PATH).toBe(`${realpathSync(n.rel)}/openclaw.json`);
    expect(got.env.OPENCLAW_CONFIG_PATH).not.toContain('/tenants/');
    expect(got.env.CLAWOPS_SECRET_HOOKS_TOKEN).toBe(HOOKS);
    expect(got.env).toMatchObject({ CLAWOPS_TENANT: 'acme', CLAWOPS_RELEASE_ID: n.releaseId, CLAWOPS_COMMIT: COMMIT });
    expect(existsSync(runRecord())).toBe(false);
  });

  it('--validate of a release that is not (yet) current: its own config, whatever the tenant link says', () => {
    rmSync(join(n.etc, 'tenants', 'acme'));
    const r = run(sh, ['--validate'], { script: join(n.rel, 'bin', 'gateway-run') });
    expect(r.code).toBe(0);
    expect(recorded()!.env.OPENCLAW_CONFIG_PATH).toBe(`${realpathSync(n.rel)}/openclaw.json`);
  });

  it('--check: the secret checks only (another node of the run validated this release): exit 0, silent, no CLI, no run record', () => {
    const r = run(sh, ['--check']);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toBe('');
    expect(recorded()).toBeUndefined();
    expect(existsSync(runRecord())).toBe(false);
  });

  it.each([
    ['missing', (): void => rmSync(join(n.secrets, 'hooks.token')), 'is missing'],
    ['empty', (): void => writeFileSync(join(n.secrets, 'hooks.token'), ''), 'is empty'],
    ['0644', (): void => chmodSync(join(n.secrets, 'hooks.token'), 0o644), 'has mode 0644 (want 0600 or 0400)'],
  ] as const)('--check with a %s secret → exit 78, the same one line as a start, the CLI not run', (_, breakIt, why) => {
    breakIt();
    const r = run(sh, ['--check']);
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(`clawops-gateway-run: acme: secret file ${hooksFile()} ${why}; not starting\n`);
    expectNoSecrets(r);
    expect(recorded()).toBeUndefined();
  });

  it('--validate with a bad secret → exit 78, the CLI not run', () => {
    chmodSync(join(n.secrets, 'hooks.token'), 0o644);
    const r = run(sh, ['--validate']);
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(`clawops-gateway-run: acme: secret file ${hooksFile()} has mode 0644 (want 0600 or 0400); not starting\n`);
    expect(recorded()).toBeUndefined();
  });

  it.each([
    ['1000\n', ['--port', String(18809 + 1000)]],
    ['1000', ['--port', String(18809 + 1000)]],
    ['2000\n', ['--port', String(18809 + 2000)]],
    ['abc\n', []],
    ['-5\n', []],
    ['\n', []],
  ])('port-offset %j → extra args %j', (offset, extra) => {
    mkdirSync(join(n.varDb, 'clawops'), { recursive: true });
    writeFileSync(join(n.varDb, 'clawops', 'port-offset'), offset);
    const r = run(sh);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(recorded()!.argv).toEqual(['--profile', 'acme', 'gateway', 'run', ...extra]);
  });

  // a tenant that leaves gateway.port unset runs on OpenClaw's default base (18789): the offset applies to it too
  it('port-offset with gateway.port unset in openclaw.json → --port 18789+offset (the default base)', () => {
    const repo = exampleRepo();
    try {
      for (const f of ['tenants/acme/gateway.d/10-base.yaml', 'tenants/acme/gateway.d/20-overrides.yaml']) {
        const p = join(repo, f);
        writeFileSync(p, readFileSync(p, 'utf8').replace(/^ {2}port: \d+\n/m, ''));
      }
      const d = buildDesired(readTreeSync(repo));
      expect(d.findings.filter((f) => f.severity === 'error')).toEqual([]);
      expect((d.tenants.get('acme')!.openclaw.gateway as { port?: number }).port).toBeUndefined();
      expect(d.tenants.get('acme')!.port).toBe(18789);
      rmSync(n.root, { recursive: true, force: true });
      n = makeNode({ desired: d });
      mkdirSync(join(n.varDb, 'clawops'), { recursive: true });
      writeFileSync(join(n.varDb, 'clawops', 'port-offset'), '1000\n');
      const r = run(sh);
      expect(r.code).toBe(0);
      expect(recorded()!.argv).toEqual(['--profile', 'acme', 'gateway', 'run', '--port', '19789']);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it('paths with spaces in ETC and VARDB', () => {
    rmSync(n.root, { recursive: true, force: true });
    n = makeNode({ sub: 'Application Support' });
    expect(n.etc).toContain(' ');
    expect(n.varDb).toContain(' ');
    const r = run(sh);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const got = recorded()!;
    expect(got.env.OPENCLAW_CONFIG_PATH).toBe(`${n.etc}/tenants/acme/openclaw.json`);
    expect(got.env.OPENCLAW_STATE_DIR).toBe(`${n.varDb}/state/acme`);
    expect(got.env.CLAWOPS_SECRET_HOOKS_TOKEN).toBe(HOOKS);
    expect(JSON.parse(readFileSync(runRecord(), 'utf8'))).toMatchObject({ pid: got.pid, release_id: n.releaseId });
  });

  it('the tenant link moving to another release after start does not matter: the release dir is resolved once, physically', () => {
    // run through the link, then swap the link to a different (missing-secrets-list) release: the first run used its own
    const first = run(sh, ['--validate']);
    expect(first.code).toBe(0);
    const other = join(n.etc, 'releases', 'acme', 'other');
    mkdirSync(join(other, 'bin'), { recursive: true });
    writeFileSync(join(other, 'bin', 'gateway-run'), GATEWAY_RUN_SH);
    writeFileSync(join(other, 'openclaw.json'), '{}\n');
    writeFileSync(join(other, 'secrets.list'), '');
    const tmp = join(n.etc, 'tenants', 'acme.tmp');
    symlinkSync('../releases/acme/other', tmp);
    renameSync(tmp, join(n.etc, 'tenants', 'acme'));
    rmSync(join(n.out), { recursive: true });
    mkdirSync(n.out);
    const second = run(sh, ['--validate']);
    expect(second.code).toBe(0);
    expect(recorded()!.env.OPENCLAW_CONFIG_PATH).toBe(`${realpathSync(other)}/openclaw.json`);
    // an empty secrets.list exports nothing
    expect(recorded()!.env).not.toHaveProperty('CLAWOPS_SECRET_HOOKS_TOKEN');
  });

  it('missing arguments → non-zero, gateway not run', () => {
    const r = spawnSync(sh[0]!, [...sh.slice(1), join(n.etc, 'tenants', 'acme', 'bin', 'gateway-run')], {
      env: { PATH: '/usr/bin:/bin', CLAWOPS_OPENCLAW: n.runFake, FAKE_OUT: n.out },
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/tenant/);
    expect(recorded()).toBeUndefined();
  });
});

describe('a macOS-like userland (BSD stat -f, no GNU stat -c)', () => {
  let mac: string;
  let statLog: string;
  beforeEach(() => {
    mac = mkdtempSync(join(tmpdir(), 'clawops-macbin-'));
    statLog = join(mac, 'stat.log');
    // (awk: the wrapper reads the manifest with it; macOS has one)
    for (const tool of ['dirname', 'cat', 'sed', 'head', 'mkdir', 'date', 'mv', 'rm', 'tr', 'id', 'wc', 'awk']) symlinkSync(which(tool), join(mac, tool));
    const gnuStat = which('stat');
    writeFileSync(
      join(mac, 'stat'),
      `#!/bin/sh\nprintf '%s\\n' "$*" >> '${statLog}'\ncase $1 in -f) [ "$2" = '%Lp %z %l' ] || { echo "stat-standin: unexpected format $2" >&2; exit 1; }; shift 2; exec ${gnuStat} -c '%a %s %h' "$@" ;; *) echo "stat: illegal option -- \${1#-}" >&2; echo 'usage: stat [-FLnq] [-f format | -l | -r | -s | -x] [-t timefmt] [file ...]' >&2; exit 1 ;; esac\n`,
      { mode: 0o755 },
    );
  });
  afterEach(() => rmSync(mac, { recursive: true, force: true }));

  it.each(SHELLS)('$name: the same result as with GNU stat, through stat -f "%Lp %z %l" (mode, size, links)', ({ argv: sh }) => {
    const gnu = run(sh);
    expect(gnu.code).toBe(0);
    const viaGnu = recorded()!;
    rmSync(n.out, { recursive: true });
    mkdirSync(n.out);
    const r = run(sh, [], { path: mac });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const got = recorded()!;
    expect(got.argv).toEqual(viaGnu.argv);
    expect({ ...got.env, PATH: '' }).toEqual({ ...viaGnu.env, PATH: '' });
    expect(got.env.PATH).toBe(`/usr/local/bin:/opt/homebrew/bin:${mac}`);
    expect(JSON.parse(readFileSync(runRecord(), 'utf8'))).toMatchObject({ pid: got.pid, release_id: n.releaseId, commit: COMMIT });
    // the BSD branch was taken: probed with -c once, then -f "%Lp %z %l" (mode, size, links) for the secrets dir the
    // shell stands in and per secret, by its name there
    const calls = readFileSync(statLog, 'utf8').split('\n').filter(Boolean);
    expect(calls[0]).toBe('-c %a /');
    expect(calls.slice(1)).toEqual(['-f %Lp %z %l .', '-f %Lp %z %l ./hooks.token', '-f %Lp %z %l ./token.current']);
  });

  it.each(SHELLS)('$name: a 0644 secret is refused with its mode; a 0644 token.next is ignored', ({ argv: sh }) => {
    envTokenList();
    secret(n, 'token.next', `${NEXT}\n`, 0o644);
    const ok = run(sh, [], { path: mac });
    expect(ok.code).toBe(0);
    expect(recorded()!.env).not.toHaveProperty('CLAWOPS_SECRET_TOKEN_NEXT');
    chmodSync(join(n.secrets, 'token.next'), 0o600);
    rmSync(n.out, { recursive: true });
    mkdirSync(n.out);
    expect(run(sh, [], { path: mac }).code).toBe(0);
    expect(recorded()!.env.CLAWOPS_SECRET_TOKEN_NEXT).toBe(NEXT);
    chmodSync(join(n.secrets, 'hooks.token'), 0o644);
    rmSync(n.out, { recursive: true });
    mkdirSync(n.out);
    const bad = run(sh, [], { path: mac });
    expect(bad.code).toBe(78);
    expect(bad.stderr).toBe(`clawops-gateway-run: acme: secret file ${n.varDb}/secrets/acme/hooks.token has mode 0644 (want 0600 or 0400); not starting\n`);
    expectNoSecrets(bad);
    expect(recorded()).toBeUndefined();
  });
});
