/**
 * Adversarial run 17 on the secret wrapper bin/gateway-run (reconciler/units/gateway-run-sh.ts), run for real under
 * dash and `bash --posix` against a node laid out in a temp dir, with a fake openclaw that records what it was started
 * with (argv, chosen environment variables) or prints a prepared output. A race (a file swapped between the check and
 * the read) is won deterministically: a fake `iconv` / `date` placed on the caller's PATH (the wrapper keeps the
 * caller's PATH after /usr/local/bin:/opt/homebrew/bin) makes the swap at the exact moment a racing local user would.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import type { DesiredState } from '../../reconciler/desired/types.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { secretsList } from '../../reconciler/units/gateway-run-sh.js';
import { layRelease } from '../helpers/release.js';
import { EXAMPLE } from '../helpers/repo.js';

const which = (tool: string): string => execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
const DASH = [which('dash')];
const BASH = [which('bash'), '--posix'];
const SHELLS = [
  { name: 'dash', argv: DASH },
  { name: 'bash --posix', argv: BASH },
];

const example: DesiredState = buildDesired(readTreeSync(EXAMPLE));
const HOOKS = 'hk_Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sA';
const CURRENT = 'tok_Xy7uB2nM5kQ8wE3rT6yU9iO1pA4sD-cur';
const OTHER = 'OTHER_TENANT_SECRET_9f8e7d6c5b4a';
const RECORDED = ['CLAWOPS_SECRET_HOOKS_TOKEN', 'CLAWOPS_SECRET_X', 'PATH', 'NODE_OPTIONS', 'LD_PRELOAD', 'BASH_ENV', 'MODE', 'CLAWOPS_TAG', 'CLAWOPS_COMMIT'];

/**
 * The fake openclaw (builtins only: PATH may be what a secrets.list made it). Records argv and some variables;
 * with FAKE_PRINT set (--validate) prints that file and exits FAKE_RC.
 */
const FAKE = `#!/bin/sh
D=$FAKE_OUT
printf '%s\\n' "$@" > "$D/argv"
for v in ${RECORDED.join(' ')}; do
  eval "if [ -n \\"\\\${$v+set}\\" ]; then printf '%s' \\"\\\$$v\\" > \\"\\$D/env.$v\\"; fi"
done
if [ -n "\${FAKE_PRINT:-}" ]; then
  while IFS= read -r l || [ -n "$l" ]; do printf '%s\\n' "$l"; done < "$FAKE_PRINT"
fi
exit "\${FAKE_RC:-0}"
`;

interface Node {
  root: string;
  etc: string;
  varDb: string;
  rel: string;
  out: string;
  fake: string;
  bin: string;
  secrets: string;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let n: Node;

function makeNode(desired: DesiredState = example): Node {
  const root = mkdtempSync(join(tmpdir(), 'clawops-a17-wrap-'));
  const etc = join(root, 'etc');
  const varDb = join(root, 'var');
  const { rel } = layRelease(etc, desired, 'acme', { commit: '0123456789abcdef0123456789abcdef01234567' });
  const secrets = join(varDb, 'secrets', 'acme');
  mkdirSync(secrets, { recursive: true, mode: 0o700 });
  const other = join(varDb, 'secrets', 'other');
  mkdirSync(other, { recursive: true, mode: 0o700 });
  const bin = join(root, 'bin');
  mkdirSync(bin);
  const fake = join(root, 'openclaw-fake');
  writeFileSync(fake, FAKE, { mode: 0o755 });
  const out = join(root, 'out');
  mkdirSync(out);
  const node = { root, etc, varDb, rel, out, fake, bin, secrets };
  secret(node, 'token.current', `${CURRENT}\n`);
  secret(node, 'hooks.token', `${HOOKS}\n`);
  writeFileSync(join(other, 'hooks.token'), `${OTHER}\n`, { mode: 0o600 });
  writeFileSync(join(other, 'token.current'), `${OTHER}\n`, { mode: 0o600 });
  return node;
}

function secret(node: Node, name: string, content: string | Buffer, mode = 0o600): string {
  const f = join(node.secrets, name);
  rmSync(f, { recursive: true, force: true });
  writeFileSync(f, content);
  chmodSync(f, mode);
  return f;
}

function list(node: Node, text: string): void {
  writeFileSync(join(node.rel, 'secrets.list'), text);
}

/** sh $ETC/tenants/acme/bin/gateway-run acme $ETC $VARDB [extra…]; the test's bin/ (fake tools) first on PATH */
function run(shell: string[], extra: string[] = [], env: Record<string, string> = {}): Run {
  const r = spawnSync(shell[0]!, [...shell.slice(1), join(n.etc, 'tenants', 'acme', 'bin', 'gateway-run'), 'acme', n.etc, n.varDb, ...extra], {
    env: { PATH: `${n.bin}:/usr/bin:/bin:/usr/sbin:/sbin`, HOME: n.root, CLAWOPS_OPENCLAW: n.fake, CLAWOPS_OPENCLAW_CLI: n.fake, FAKE_OUT: n.out, ...env },
    encoding: 'utf8',
    timeout: 4_000,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** what the fake openclaw was started with, if it was */
function started(): { argv: string[]; env: Record<string, string> } | undefined {
  if (!existsSync(join(n.out, 'argv'))) return undefined;
  const env: Record<string, string> = {};
  for (const v of RECORDED) if (existsSync(join(n.out, `env.${v}`))) env[v] = readFileSync(join(n.out, `env.${v}`), 'latin1');
  return { argv: readFileSync(join(n.out, 'argv'), 'utf8').split('\n').slice(0, -1), env };
}

function reset(): void {
  rmSync(n.out, { recursive: true, force: true });
  mkdirSync(n.out);
}

/** a fake tool on the caller's PATH: runs HOOK (sh) before the real one */
function hookTool(tool: string, hook: string): void {
  writeFileSync(join(n.bin, tool), `#!/bin/sh\n${hook}\nexec ${which(tool)} "$@"\n`, { mode: 0o755 });
}

beforeEach(() => {
  n = makeNode();
});
afterEach(() => {
  rmSync(n.root, { recursive: true, force: true });
});

describe('wrapper attacks 17: secrets.list', () => {
  // fixed (was: a secrets.list variable name that is not a shell name (hand-edited or damaged list) makes bash-as-sh (macOS) print `export: \`1abc=<the secret value>': not a valid identifier` to stderr (launchd's log, apply's refusal) and start the gateway anyway; dash exits 2, not 78.)
  it('a variable name that is no shell name: exit 78, one line, the value never printed, under dash and bash', () => {
    for (const sh of SHELLS) {
      reset();
      list(n, 'env 1abc hooks.token\nfile - token.current\n');
      const r = run(sh.argv);
      expect([sh.name, r.stderr.includes(HOOKS), r.stdout.includes(HOOKS)]).toEqual([sh.name, false, false]);
      expect([sh.name, r.code]).toEqual([sh.name, 78]);
      expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
      expect(started()).toBeUndefined();
    }
  });

  // fixed (was: secrets.list may name any variable (gateway-run-sh.ts exports "$var" unchecked): `env MODE x` turns --validate/--check into a root gateway start, `env PATH|NODE_OPTIONS|LD_PRELOAD x` hands openclaw (as root) a file's contents there, and a value exported outside CLAWOPS_SECRET_* is never scrubbed by --validate.)
  it('a variable outside CLAWOPS_SECRET_[A-Z0-9_]* (PATH, NODE_OPTIONS, LD_PRELOAD, BASH_ENV, MODE, R, X=Y) is refused with exit 78', () => {
    for (const v of ['PATH', 'NODE_OPTIONS', 'LD_PRELOAD', 'BASH_ENV', 'MODE', 'R', 'VARDB', 'CLAWOPS_OPENCLAW', 'CLAWOPS_SECRET_X=Y']) {
      reset();
      list(n, `env ${v} hooks.token\nfile - token.current\n`);
      const r = run(DASH, ['--check']);
      expect([v, r.code, started()]).toEqual([v, 78, undefined]);
    }
  });

  // fixed (was: gateway-run-sh.ts skips every secrets.list line it cannot parse (the last line without a newline, a tab-separated line, `Env`), so that secret is neither checked nor exported and the gateway starts with `${CLAWOPS_SECRET_…}` unset — the literal-string token the wrapper exists to prevent.)
  it('a secrets.list line the wrapper cannot parse is refused (78), never skipped', () => {
    rmSync(join(n.secrets, 'hooks.token'));
    for (const text of ['file - token.current\nenv CLAWOPS_SECRET_HOOKS_TOKEN hooks.token', 'env\tCLAWOPS_SECRET_HOOKS_TOKEN\thooks.token\nfile - token.current\n', 'Env CLAWOPS_SECRET_HOOKS_TOKEN hooks.token\nfile - token.current\n']) {
      reset();
      list(n, text);
      const r = run(DASH);
      expect([text, r.code, started()]).toEqual([text, 78, undefined]);
    }
  });

  it('holds: odd secret names (../, absolute, spaces, CRLF, empty) are refused with one line, nothing read outside the dir', () => {
    for (const name of ['../other/hooks.token', '/etc/passwd', '..', 'a b', 'hooks.token\r', '$(touch${IFS}/tmp/x)']) {
      reset();
      list(n, `env CLAWOPS_SECRET_HOOKS_TOKEN ${name}\nfile - token.current\n`);
      const r = run(DASH);
      expect([name, r.code, started()]).toEqual([name, 78, undefined]);
      expect(r.stderr.split('\n')).toHaveLength(2);
      expect(r.stderr).not.toContain(OTHER);
    }
  });

  it('holds: comments, blank lines, repeated lines and a 100-line list are handled', () => {
    list(n, `# comment\n\n${'env CLAWOPS_SECRET_HOOKS_TOKEN hooks.token\n'.repeat(5)}file - token.current\n`);
    expect(run(DASH).code).toBe(0);
    expect(started()?.env.CLAWOPS_SECRET_HOOKS_TOKEN).toBe(HOOKS);
    reset();
    list(n, `${'file - token.current\n'.repeat(100)}env CLAWOPS_SECRET_HOOKS_TOKEN hooks.token\n`);
    const t0 = Date.now();
    expect(run(DASH, ['--check']).code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(4_000);
  });
});

describe('wrapper attacks 17: the secret files', () => {
  it('holds: a value with shell syntax, a leading dash, `=`, `%s`, backslashes, inner CR/LF is exported byte for byte (trailing CR/LF only stripped), never evaluated', () => {
    const v = `-n =a=b $(touch ${n.root}/pwned) \`touch ${n.root}/pwned2\` %s %b \\c \\n "' ;|&<>*?[\r\ninner\r\nend`;
    for (const sh of SHELLS) {
      reset();
      secret(n, 'hooks.token', `${v}\r\n\n\r\n`);
      const r = run(sh.argv);
      expect([sh.name, r.code]).toEqual([sh.name, 0]);
      expect(started()?.env.CLAWOPS_SECRET_HOOKS_TOKEN).toBe(v);
      expect(existsSync(join(n.root, 'pwned')) || existsSync(join(n.root, 'pwned2'))).toBe(false);
    }
  });

  it('holds: FIFO, char device, directory, symlink (to a good file), bad modes, 0 / 3 / 64 KiB+1 bytes, NUL, non-UTF-8 → 78 at once, no hang', () => {
    const good = join(n.root, 'good');
    writeFileSync(good, `${OTHER}\n`, { mode: 0o600 });
    const cases: [string, () => void][] = [
      ['fifo', () => execFileSync('mkfifo', ['-m', '600', join(n.secrets, 'hooks.token')])],
      ['device', () => execFileSync('mknod', ['-m', '600', join(n.secrets, 'hooks.token'), 'c', '1', '3'])],
      ['dir', () => mkdirSync(join(n.secrets, 'hooks.token'), { mode: 0o700 })],
      ['symlink', () => symlinkSync(good, join(n.secrets, 'hooks.token'))],
      ['0644', () => secret(n, 'hooks.token', HOOKS, 0o644)],
      ['0640', () => secret(n, 'hooks.token', HOOKS, 0o640)],
      ['0700', () => secret(n, 'hooks.token', HOOKS, 0o700)],
      ['4600', () => secret(n, 'hooks.token', HOOKS, 0o4600)],
      ['empty', () => secret(n, 'hooks.token', '')],
      ['3 bytes', () => secret(n, 'hooks.token', 'abc\r\n')],
      ['64KiB+1', () => secret(n, 'hooks.token', 'x'.repeat(65537))],
      ['NUL', () => secret(n, 'hooks.token', Buffer.from('abcd\0efgh'))],
      ['latin1', () => secret(n, 'hooks.token', Buffer.from([0x61, 0x62, 0x63, 0xe9, 0x64]))],
    ];
    for (const [what, make] of cases) {
      reset();
      rmSync(join(n.secrets, 'hooks.token'), { recursive: true, force: true });
      make();
      const r = run(DASH);
      expect([what, r.code, started()]).toEqual([what, 78, undefined]);
      expect(r.stderr).not.toContain(OTHER);
    }
    reset();
    secret(n, 'hooks.token', 'y'.repeat(65536), 0o400);
    expect(run(DASH).code).toBe(0);
  });

  // fixed (was: ok_secret (gateway-run-sh.ts) never checks the link count, so a hard link in the secrets dir to any 0600 file on the volume (a host key, another tenant's token; macOS has no protected_hardlinks) passes and its contents are exported to the gateway, although observe and reload.log refuse a file with more than one name.)
  it('a secret file with more than one name (a hard link to a file elsewhere) is refused', () => {
    const hostKey = join(n.root, 'ssh_host_ed25519_key');
    writeFileSync(hostKey, 'HOST-PRIVATE-KEY-MATERIAL-0600\n', { mode: 0o600 });
    rmSync(join(n.secrets, 'hooks.token'));
    linkSync(hostKey, join(n.secrets, 'hooks.token'));
    const r = run(DASH);
    expect(r.code).toBe(78);
    expect(started()).toBeUndefined();
  });

  // fixed (was: the secret file is checked by path (ok_secret: [ -L ], stat, iconv…) and then read again by path (`cat "$VARDB/secrets/$T/$name"`, gateway-run-sh.ts read loop), so a file swapped for a symlink between the two hands the gateway (running as root) another tenant's secret or any root-only file.)
  it('TOCTOU: a secret swapped for a symlink after its check is never what the gateway gets', () => {
    const f = join(n.secrets, 'hooks.token');
    const other = join(n.varDb, 'secrets', 'other', 'hooks.token');
    // the racer wins while token.current (listed after hooks.token) is being checked: hooks.token passed its checks
    hookTool('iconv', `c=$(cat "${n.root}/calls" 2>/dev/null); echo "x$c" > "${n.root}/calls"; [ "$c" = x ] && { : > "${n.root}/swapped"; rm -f "${f}"; ln -s "${other}" "${f}"; }`);
    const r = run(DASH);
    expect(existsSync(join(n.root, 'swapped'))).toBe(true);
    expect(started()?.env.CLAWOPS_SECRET_HOOKS_TOKEN).not.toBe(OTHER);
    expect(r.code === 78 || started()?.env.CLAWOPS_SECRET_HOOKS_TOKEN === HOOKS).toBe(true);
  });

  // fixed (was: the secrets dir is refused as a symlink only once, before the files are checked (gateway-run-sh.ts `for d in … [ -L "$d" ]`), so secrets/acme swapped for a link to secrets/other after that check has the wrapper check and export the other tenant's secrets.)
  it("TOCTOU: the tenant's secrets dir swapped for a symlink after the dir check never hands it another tenant's secrets", () => {
    const dir = n.secrets;
    const other = join(n.varDb, 'secrets', 'other');
    // (the same sizes as acme's files: the check's later steps compare the size it stat'ed)
    writeFileSync(join(other, 'token.current'), `${'C'.repeat(CURRENT.length)}\n`);
    hookTool('iconv', `c=$(cat "${n.root}/calls" 2>/dev/null); echo "x$c" > "${n.root}/calls"; [ "$c" = x ] && { : > "${n.root}/swapped"; mv "${dir}" "${dir}.real"; ln -s "${other}" "${dir}"; }`);
    run(DASH);
    expect(existsSync(join(n.root, 'swapped'))).toBe(true);
    expect(started()?.env.CLAWOPS_SECRET_HOOKS_TOKEN).not.toBe(OTHER);
  });

  it('holds: VARDB/secrets itself a symlink (to a dir holding acme/) → 78', () => {
    const real = join(n.root, 'elsewhere');
    mkdirSync(real);
    execFileSync('mv', [join(n.varDb, 'secrets'), join(real, 'secrets')]);
    symlinkSync(join(real, 'secrets'), join(n.varDb, 'secrets'));
    const r = run(DASH);
    expect(r.code).toBe(78);
    expect(started()).toBeUndefined();
  });

  // fixed (was: a whitespace-only secret (`    `, an operator's slip) passes ok_secret's 4-byte minimum (it counts spaces) and --validate then scrubs every 4 spaces of openclaw's indented JSON into `***`, so apply gets no verdict (unparseable output) instead of a one-line secret refusal.)
  it('a secret that is only whitespace is refused like an empty one', () => {
    secret(n, 'hooks.token', '    \n');
    const r = run(DASH, ['--check']);
    expect(r.code).toBe(78);
  });
});

describe('wrapper attacks 17: run record and port-offset', () => {
  // fixed (was: the run record's dirs are checked (`[ ! -L "$VARDB/clawops" ] && [ ! -L "$RD" ]`) and then written by path (rm -f, noclobber create, mv -T), so whoever can write VARDB/clawops swaps run/ for a symlink in between and root creates and renames <anywhere>/acme.json (and rm -f's <anywhere>/acme.json.<pid>).)
  it('TOCTOU: clawops/run swapped for a symlink after the check: root writes nothing outside clawops/run', () => {
    const rd = join(n.varDb, 'clawops', 'run');
    mkdirSync(rd, { recursive: true });
    const target = join(n.root, 'victim-dir');
    mkdirSync(target);
    // `date` runs inside the record's printf, after the checks and the rm -f: the racer's window
    hookTool('date', `[ -L "${rd}" ] || { mv "${rd}" "${rd}.real"; ln -s "${target}" "${rd}"; }`);
    const r = run(DASH);
    expect(r.code).toBe(0);
    expect(lstatSync(rd).isSymbolicLink()).toBe(true);
    expect(readdirSync(target)).toEqual([]);
  });

  it('holds: a FIFO, a directory or a symlink planted at run/acme.json, and stale temps, never block the start or write through', () => {
    const rd = join(n.varDb, 'clawops', 'run');
    mkdirSync(rd, { recursive: true });
    const victim = join(n.root, 'victim');
    writeFileSync(victim, 'keep');
    for (const plant of ['fifo', 'dir', 'link']) {
      reset();
      rmSync(join(rd, 'acme.json'), { recursive: true, force: true });
      if (plant === 'fifo') execFileSync('mkfifo', [join(rd, 'acme.json')]);
      if (plant === 'dir') mkdirSync(join(rd, 'acme.json'));
      if (plant === 'link') symlinkSync(victim, join(rd, 'acme.json'));
      const r = run(DASH);
      expect([plant, r.code]).toEqual([plant, 0]);
      expect(started()?.argv.slice(2, 4)).toEqual(['gateway', 'run']);
      expect(readFileSync(victim, 'utf8')).toBe('keep');
      expect(readdirSync(rd).filter((f) => f.startsWith('acme.json.'))).toEqual([]);
    }
  });

  // fixed (was: port-offset is any run of digits up to 32 bytes (gateway-run-sh.ts `case $off` then `$((base + off))`): a value past the shell's integer range makes dash exit 2 ("Illegal number", the gateway never starts, launchd restarts it forever), bash wraps it to a random port, and one that only pushes the port past 65535 is passed to openclaw.)
  it('a port-offset that does not give a port in 1..65535 is ignored (or refused with 78), never a dead start or a bogus --port', () => {
    mkdirSync(join(n.varDb, 'clawops'), { recursive: true });
    const bad: unknown[] = [];
    for (const sh of SHELLS) {
      for (const off of ['99999999999999999999\n', '70000\n', '000000000000000000000000000000000007\n']) {
        reset();
        writeFileSync(join(n.varDb, 'clawops', 'port-offset'), off);
        const r = run(sh.argv);
        const argv = started()?.argv ?? [];
        const port = argv.includes('--port') ? Number(argv[argv.indexOf('--port') + 1]) : undefined;
        const ok = r.code === 78 || (r.code === 0 && (port === undefined || (port >= 1 && port <= 65535 && (!off.startsWith('0000') || port === 18809 + 7))));
        if (!ok) bad.push([sh.name, off, r.code, port]);
      }
    }
    expect(bad).toEqual([]);
  });

  it('holds: a FIFO or a symlink at port-offset is not read (no hang), the gateway starts without --port', () => {
    mkdirSync(join(n.varDb, 'clawops'), { recursive: true });
    const po = join(n.varDb, 'clawops', 'port-offset');
    execFileSync('mkfifo', [po]);
    expect(run(DASH).code).toBe(0);
    expect(started()?.argv).toEqual(['--profile', 'acme', 'gateway', 'run']);
    rmSync(po);
    const f = join(n.root, 'po');
    writeFileSync(f, '5\n');
    symlinkSync(f, po);
    reset();
    expect(run(DASH).code).toBe(0);
    expect(started()?.argv).toEqual(['--profile', 'acme', 'gateway', 'run']);
  });
});

describe('wrapper attacks 17: the manifest', () => {
  /** the release's manifest with a raw `  "tag": "<raw>",` line after its commit (clawops' own layout) */
  function rawTag(raw: string): void {
    const mfPath = join(n.rel, '.clawops', 'manifest.json');
    const text = readFileSync(mfPath, 'utf8').replace(/^ {2}"tag": .*\n/m, '');
    const out = text.replace(/^( {2}"commit": .*\n)/m, (l) => `${l}  "tag": "${raw}",\n`);
    expect(out).not.toBe(text);
    writeFileSync(mfPath, out);
  }
  // fixed (was: mf (gateway-run-sh.ts) matches `"[^"]*"`, so a tag holding a double quote (a legal git tag name, `v1"rc`, JSON-escaped in the manifest) is exported as CLAWOPS_TAG='' and recorded as tag "" in the run record.)
  it('a legal git tag holding a double quote reaches CLAWOPS_TAG and the run record', () => {
    const mfPath = join(n.rel, '.clawops', 'manifest.json');
    const m = JSON.parse(readFileSync(mfPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(mfPath, `${JSON.stringify({ ...m, tag: 'v1"rc' }, null, 2)}\n`);
    expect(run(DASH).code).toBe(0);
    expect(started()?.env.CLAWOPS_TAG).toBe('v1"rc');
    expect(JSON.parse(readFileSync(join(n.varDb, 'clawops', 'run', 'acme.json'), 'utf8')).tag).toBe('v1"rc');
  });

  // fixed (was: mf hands its JSON-escaped text to the record's printf as is (gateway-run-sh.ts run record), so a hand-edited manifest whose commit or tag ends in a backslash (`"tag": "v1\\",`) makes root write a run record that is not JSON (`"tag":"v1\\","started_epoch"…`), and observe cannot read which release runs.)
  it('a manifest value ending in a backslash still gives a run record that is JSON', () => {
    rawTag('v1\\');
    expect(run(DASH).code).toBe(0);
    expect(() => JSON.parse(readFileSync(join(n.varDb, 'clawops', 'run', 'acme.json'), 'utf8'))).not.toThrow();
  });

  it('holds: a hostile manifest (quotes, a JSON break-out, 100 KB value) never breaks the run record JSON, never runs anything', () => {
    for (const tag of [`x\\",\\"pid\\":1,\\"y\\":\\"z`, `$(touch ${n.root}/pwned)\``, 'L'.repeat(100_000)]) {
      reset();
      rawTag(tag);
      expect(run(DASH).code).toBe(0);
      const rec = JSON.parse(readFileSync(join(n.varDb, 'clawops', 'run', 'acme.json'), 'utf8')) as { pid: number };
      expect(typeof rec.pid).toBe('number');
      expect(existsSync(join(n.root, 'pwned'))).toBe(false);
    }
  });
});

describe('wrapper attacks 17: --validate scrub', () => {
  function validate(output: string | Buffer, rc = 1, extraEnv: Record<string, string> = {}): Run {
    const print = join(n.root, 'print');
    writeFileSync(print, output);
    return run(DASH, ['--validate'], { FAKE_PRINT: print, FAKE_RC: String(rc), ...extraEnv });
  }
  const envList = (): void => list(n, 'env CLAWOPS_SECRET_HOOKS_TOKEN hooks.token\nenv CLAWOPS_SECRET_TOKEN_CURRENT token.current\n');

  // fixed (was: the scrub reads openclaw's output as records split at \001 (gateway-run-sh.ts awk RS = "\001"), and ok_secret accepts control characters, so a secret holding a \001 byte is never matched whole and is printed raw by any non-JSON message (a stack trace, a warning on stderr).)
  it('a secret holding a \\001 byte is scrubbed from raw output', () => {
    const S = 'tok_before\u0001after_secret_tail';
    secret(n, 'hooks.token', `${S}\n`);
    envList();
    const r = validate(`Error: bad token ${S}\n`);
    expect(r.stdout).not.toContain('after_secret_tail');
    expect(r.stdout).not.toContain('tok_before');
  });

  // fixed (was: only exported CLAWOPS_SECRET_* values are scrubbed (gateway-run-sh.ts awk ENVIRON loop), so a `file -` secret (token.current, the gateway's own auth token, which OpenClaw reads itself) printed by `config validate` reaches apply's refusal line unscrubbed, although the header promises the output is scrubbed of the tenant's secret values.)
  it("a file secret's value (token.current, read by OpenClaw itself) is scrubbed too", () => {
    const r = validate(`{"valid":false,"issues":[{"path":"gateway.auth.token","message":"token \\"${CURRENT}\\" refused"}]}\n`);
    expect(r.stdout).not.toContain(CURRENT);
  });

  it('holds: a secret split by a write boundary (two printf calls) is scrubbed; JSON-escaped and \\u00XX forms too', () => {
    const S = 'tok_Split\t"q"\\b_secret_99';
    secret(n, 'hooks.token', `${S}\n`);
    envList();
    const esc = JSON.stringify(S).slice(1, -1);
    const r = validate(`${S.slice(0, 8)}`, 1, {});
    expect(r.code).toBe(1);
    const twoWrites = join(n.root, 'two');
    writeFileSync(twoWrites, `#!/bin/sh\nprintf '%s' '${S.slice(0, 9).replace(/'/g, "'\\''")}'\nsleep 0.05\nprintf '%s\\n' '${S.slice(9).replace(/'/g, "'\\''")} ${esc.replace(/'/g, "'\\''")}'\nexit 3\n`, { mode: 0o755 });
    const r2 = run(DASH, ['--validate'], { CLAWOPS_OPENCLAW_CLI: twoWrites });
    expect(r2.code).toBe(3);
    expect(r2.stdout).toBe('*** ***\n');
  });

  it('holds: a secret of four stars or a prefix of *** mangles nothing into a leak; awk specials are literal', () => {
    secret(n, 'hooks.token', '****\n');
    secret(n, 'token.current', '.*[a]\\1&\n');
    envList();
    const r = validate('a ****** b .*[a]\\1& c aaaa\n', 5);
    expect(r.code).toBe(5);
    expect(r.stdout).toBe('a ***** b *** c aaaa\n');
  });

  // fixed (was: --validate takes only openclaw's exit code (`echo $? >&3`), never the scrub's: when awk dies (killed, out of memory) the wrapper exits 0 with the output lost or cut, so a broken scrub looks like a clean openclaw run.)
  it('a scrub (awk) that dies makes --validate fail, even when openclaw exited 0', () => {
    envList();
    // (it takes all of openclaw's output, so openclaw exits 0, then dies: a scrub killed or out of memory)
    writeFileSync(join(n.bin, 'awk'), '#!/bin/sh\ncat >/dev/null\nkill -9 $$\n', { mode: 0o755 });
    const r = validate('{"valid": true}\n', 0);
    expect(r.code).not.toBe(0);
  });

  it('holds: openclaw killed by a signal → 128+n; a missing CLI → 127', () => {
    envList();
    const k = join(n.root, 'killer');
    writeFileSync(k, '#!/bin/sh\necho partial\nkill -TERM $$\n', { mode: 0o755 });
    expect(run(DASH, ['--validate'], { CLAWOPS_OPENCLAW_CLI: k }).code).toBe(143);
    expect(run(DASH, ['--validate'], { CLAWOPS_OPENCLAW_CLI: join(n.root, 'nope') }).code).toBe(127);
  });
});
