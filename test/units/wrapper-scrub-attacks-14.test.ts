/**
 * Attacks 14 on the wrapper's `--validate` scrub (reconciler/units/gateway-run-sh.ts): openclaw's output piped
 * through an awk that replaces every CLAWOPS_SECRET_* value (>= 4 chars; raw and with `\` and `"` escaped) with ***,
 * its exit code carried over fd 3. Run for real: a node laid out in a temp dir, a fake openclaw CLI that prints a
 * prepared file and exits with a chosen code, each POSIX shell (dash, bash --posix) and each awk on this machine
 * (mawk, gawk, original-awk: macOS's awk is the one true awk), and once the real OpenClaw 2026.9.6.
 * Fact (openclaw 2026.9.6, run): `config validate --json` prints issues with JSON.stringify, so a substituted value
 * that holds a newline, tab or other control character appears as `\n`, `\t`, `\u0001` — forms the scrub does not know.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { judge } from '../../reconciler/apply/apply-node.js';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import type { DesiredState } from '../../reconciler/desired/types.js';
import { openclawEnv } from '../../reconciler/openclaw-cli.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { secretsList } from '../../reconciler/units/gateway-run-sh.js';
import { openclawWrapper } from '../helpers/openclaw.js';
import { layRelease } from '../helpers/release.js';
import { EXAMPLE, exampleRepo } from '../helpers/repo.js';

const which = (tool: string): string | undefined => {
  try {
    return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
};
const SHELLS = [
  { name: 'dash', argv: [which('dash')!] },
  { name: 'bash --posix', argv: [which('bash')!, '--posix'] },
];
const AWKS = ['mawk', 'gawk', 'original-awk'].flatMap((a) => {
  const p = which(a);
  return p ? [{ name: a, path: p }] : [];
});

const example: DesiredState = buildDesired(readTreeSync(EXAMPLE));

/** the fake CLI: prints $FAKE_PRINT's bytes as they are, then exits with $FAKE_RC (or kills itself with $FAKE_SIG) */
const FAKE = `#!/bin/sh
cat "$FAKE_PRINT"
[ -n "\${FAKE_SIG:-}" ] && kill -"$FAKE_SIG" $$
exit "\${FAKE_RC:-0}"
`;

interface Node {
  root: string;
  etc: string;
  varDb: string;
  rel: string;
  cli: string;
  awkDirs: Map<string, string>;
}

function makeNode(desired: DesiredState = example): Node {
  const root = mkdtempSync(join(tmpdir(), 'clawops-a14-wrap-'));
  const etc = join(root, 'etc');
  const varDb = join(root, 'var');
  const { rel } = layRelease(etc, desired, 'acme');
  mkdirSync(join(varDb, 'secrets', 'acme'), { recursive: true, mode: 0o700 });
  const cli = join(root, 'openclaw-cli');
  writeFileSync(cli, FAKE, { mode: 0o755 });
  const awkDirs = new Map<string, string>();
  for (const a of AWKS) {
    const d = join(root, `awk-${a.name}`);
    mkdirSync(d);
    symlinkSync(a.path, join(d, 'awk'));
    awkDirs.set(a.name, d);
  }
  return { root, etc, varDb, rel, cli, awkDirs };
}

function secrets(node: Node, values: Record<string, string | Buffer>): void {
  const env: { kind: 'env'; variable: string; name: string }[] = [];
  for (const [name, v] of Object.entries(values)) {
    const f = join(node.varDb, 'secrets', 'acme', name);
    writeFileSync(f, v);
    chmodSync(f, 0o600);
    if (name !== 'token.next') env.push({ kind: 'env', variable: `CLAWOPS_SECRET_${name.replace(/\W/g, '_').toUpperCase()}`, name });
  }
  writeFileSync(join(node.rel, 'secrets.list'), secretsList(env));
}

interface Run {
  code: number | null;
  out: Buffer;
  err: string;
}

function validate(node: Node, shell: string[], output: string | Buffer, opts: { rc?: number; sig?: string; awk?: string; timeout?: number } = {}): Run {
  const print = join(node.root, 'print');
  writeFileSync(print, output);
  const path = [...(opts.awk ? [node.awkDirs.get(opts.awk)!] : []), '/usr/bin', '/bin', '/usr/sbin', '/sbin'].join(':');
  const r = spawnSync(shell[0]!, [...shell.slice(1), join(node.etc, 'tenants', 'acme', 'bin', 'gateway-run'), 'acme', node.etc, node.varDb, '--validate'], {
    env: { PATH: path, HOME: node.root, CLAWOPS_OPENCLAW_CLI: node.cli, FAKE_PRINT: print, FAKE_RC: String(opts.rc ?? 0), ...(opts.sig ? { FAKE_SIG: opts.sig } : {}) },
    timeout: opts.timeout ?? 15_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { code: r.status, out: r.stdout, err: r.stderr.toString('utf8') };
}

/** what openclaw 2026.9.6 prints for a value it refuses (JSON.stringify of the issue) */
const refusal = (value: string): string =>
  `${JSON.stringify({ ok: false, valid: false, issues: [{ path: 'agents.defaults.heartbeat.agentId', message: `Unknown agent id "${value}" (not in agents.entries).` }] }, null, 2)}\n`;

describe('wrapper --validate scrub attacks 14', () => {
  let n: Node;
  beforeAll(() => {
    n = makeNode();
  });

  it('holds: exit codes 0, 1, 78, 127 and a signal death (128+n) come through under dash and bash --posix, output intact', () => {
    secrets(n, { 'hooks.token': 'hk_Zq8vN3xL2pR7tY5wK9mB4c', 'token.current': 'tok_Xy7uB2nM5kQ8wE3rT6y' });
    for (const sh of SHELLS) {
      for (const rc of [0, 1, 78, 127]) {
        const r = validate(n, sh.argv, `{"valid": true, "rc": ${rc}}\n`, { rc });
        expect([sh.name, rc, r.code]).toEqual([sh.name, rc, rc]);
        expect(r.out.toString()).toBe(`{"valid": true, "rc": ${rc}}\n`);
      }
      const k = validate(n, sh.argv, 'partial', { sig: 'KILL' });
      expect([sh.name, k.code]).toEqual([sh.name, 137]);
    }
  });

  it('holds: regex/awk-special characters, quotes and backslashes in a secret are scrubbed raw and JSON-escaped, with every awk', () => {
    const special = 'a.*[]^$()|+?{}\\&/"%s%d\\n~`\'!#;';
    secrets(n, { 'hooks.token': special, 'token.current': 'tok_plainValue_99887766' });
    const out = `${special}\n${refusal(special)}`;
    for (const awk of AWKS) {
      for (const sh of SHELLS) {
        const r = validate(n, sh.argv, out, { rc: 1, awk: awk.name });
        expect([awk.name, sh.name, r.code]).toEqual([awk.name, sh.name, 1]);
        const text = r.out.toString('latin1');
        expect(text).not.toContain(special);
        expect(text).not.toContain(JSON.stringify(special).slice(1, -1));
        expect(text).toContain('***');
      }
    }
  });

  it('holds: a 64 KiB secret and 4 MB of output (no trailing newline) finish quickly, scrubbed, exit kept', () => {
    const big = `B${'x7Q'.repeat(21_000)}E`.slice(0, 65_000);
    secrets(n, { 'hooks.token': big, 'token.current': 'tok_plainValue_99887766' });
    const filler = 'y'.repeat(1000);
    const out = `${Array.from({ length: 4000 }, () => filler).join('\n')}\n${big} end`;
    for (const awk of AWKS) {
      const t0 = Date.now();
      const r = validate(n, SHELLS[0]!.argv, out, { rc: 3, awk: awk.name, timeout: 20_000 });
      expect([awk.name, r.code]).toEqual([awk.name, 3]);
      expect(r.out.toString()).not.toContain(big.slice(0, 100));
      expect(r.out.toString()).toContain('*** end');
      expect(Date.now() - t0).toBeLessThan(10_000);
    }
  });

  it('holds: token.next (CLAWOPS_SECRET_TOKEN_NEXT during a rotation) is scrubbed too', () => {
    const NEXT = 'tok_next_Lm3nB8vC1xZ6aS4dF7g';
    secrets(n, { 'hooks.token': 'hk_Zq8vN3xL2pR7tY5wK9mB4c', 'token.current': 'tok_Xy7uB2nM5kQ8wE3rT6y', 'token.next': NEXT });
    for (const sh of SHELLS) {
      const r = validate(n, sh.argv, refusal(NEXT), { rc: 1 });
      expect(r.out.toString()).not.toContain(NEXT);
    }
  });

  // fixed (was: a multi-line (or tab / control-char) secret leaks: gateway-run-sh.ts --validate awk jesc() escapes only \ and ", but openclaw's JSON output writes a newline as \n, a tab as \t, other controls as \u00XX (and the raw form spans lines, which a line-wise scrub never sees); jesc should escape exactly as JSON.stringify does (\b \f \n \r \t \u00XX) and the raw scrub should work on the whole output, not per line)
  it('a secret holding a newline or tab (a PEM key, a pasted token) is scrubbed from the JSON refusal', () => {
    const pem = 'MIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\tAQC7secretTail';
    secrets(n, { 'hooks.token': pem, 'token.current': 'tok_plainValue_99887766' });
    for (const awk of AWKS) {
      const r = validate(n, SHELLS[0]!.argv, refusal(pem), { rc: 1, awk: awk.name });
      const text = r.out.toString();
      expect(text).not.toContain('MIIEvQIBADANBgkqhkiG9w0B');
      expect(text).not.toContain('AQC7secretTail');
    }
  });

  // fixed (was: a secret that holds another secret leaks its remainder: gateway-run-sh.ts --validate awk scrubs the values in ENVIRON's (hash) order, so when the shorter value goes first the longer becomes "tok_***_tail" and no longer matches; scrub the longest values first (sort s[] by length, descending))
  it('a secret that contains another secret is scrubbed whole, whatever the awk', () => {
    const SHORT = 'Zq8vN3xL';
    const LONG = `tok_${SHORT}_privateTail9876`;
    // every name pairing, so whatever order an awk's ENVIRON walk takes, one of them puts the short one first
    const names = ['hooks.token', 'token.current'];
    for (const [a, b] of [names, [...names].reverse()]) {
      secrets(n, { [a!]: SHORT, [b!]: LONG });
      for (const awk of AWKS) {
        const r = validate(n, SHELLS[0]!.argv, refusal(LONG), { rc: 1, awk: awk.name });
        expect([awk.name, a, r.out.toString().includes('privateTail9876')]).toEqual([awk.name, a, false]);
      }
    }
  });

  it('holds: a NUL byte before the secret on its line leaks nothing after it, with every awk', () => {
    const S = 'tok_afterNulSecret_4455';
    secrets(n, { 'hooks.token': 'hk_Zq8vN3xL2pR7tY5wK9mB4c', 'token.current': S });
    for (const awk of AWKS) {
      const r = validate(n, SHELLS[0]!.argv, Buffer.from(`head\0mid ${S} tail\n`), { rc: 1, awk: awk.name });
      expect([awk.name, r.out.toString('latin1').includes(S)]).toEqual([awk.name, false]);
      expect(r.code).toBe(1);
    }
  });

  it('holds: a secret split across two output lines (the raw form) leaks at most one line-fragment per line, never the whole value on one line', () => {
    const S = 'tok_splitSecret_77665544';
    secrets(n, { 'hooks.token': 'hk_Zq8vN3xL2pR7tY5wK9mB4c', 'token.current': S });
    const r = validate(n, SHELLS[0]!.argv, `x ${S.slice(0, 10)}\n${S.slice(10)} y\n`, { rc: 1 });
    // (recorded as a property of a line-wise scrub, not a finding: OpenClaw's --json output never wraps a value)
    expect(r.out.toString()).not.toContain(S);
  });

  // fixed (was: a secret of 1–3 characters is exported and never scrubbed (gateway-run-sh.ts --validate: `length(ENVIRON[k]) >= 4`), and nothing refuses it (ok_secret accepts 1 byte): openclaw's refusal prints it whole; refuse a secret file under a minimum length (e.g. 8 bytes) at the secret check, or scrub every exported value)
  it('a very short secret value is either refused by the secret check or scrubbed', () => {
    secrets(n, { 'hooks.token': 'k9Z', 'token.current': 'tok_plainValue_99887766' });
    const r = validate(n, SHELLS[0]!.argv, refusal('k9Z'), { rc: 1 });
    expect(r.code === 78 || !r.out.toString().includes('k9Z')).toBe(true);
  });

  // fixed (was: a secret with bytes that are not UTF-8 is leaked almost whole: openclaw (Node) decodes the environment as UTF-8 and prints U+FFFD for the bad bytes, so the scrub (gateway-run-sh.ts --validate, exact byte match) never matches; the secret check (ok_secret) should refuse a secret file that is not valid UTF-8 (or scrub the U+FFFD-decoded form too))
  it('a secret holding a byte that is not UTF-8 is refused or scrubbed (openclaw prints it with U+FFFD)', () => {
    const raw = Buffer.concat([Buffer.from('tok_binary_'), Buffer.from([0xff]), Buffer.from('_tail_5566')]);
    secrets(n, { 'hooks.token': raw, 'token.current': 'tok_plainValue_99887766' });
    const seen = refusal(raw.toString('utf8')); // what Node-based openclaw prints
    const r = validate(n, SHELLS[0]!.argv, seen, { rc: 1 });
    expect(r.code === 78 || !r.out.toString().includes('_tail_5566')).toBe(true);
  });
});

// --- the real OpenClaw, end to end: apply's refusal line for a multi-line secret where an agent id goes
const bin = openclawWrapper();
const CI = process.env.CI === 'true';
const ATTACK = ['agents:', '  defaults:', '    heartbeat:', '      agentId: { secret_ref: hooks.token }', ''].join('\n');

describe.skipIf(!bin && !CI)('wrapper --validate with the real openclaw 2026.9.6', () => {
  let run: { desired: DesiredState; releaseId: string; out: string; code: number };
  const PEM = 'hkLine1_Qw9eR8tY7u\nhkLine2_Zx6cV5bN4m';
  beforeAll(() => {
    const desired = buildDesired(readTreeSync(exampleRepo({ 'tenants/acme/gateway.d/30-attack.yaml': ATTACK })));
    expect(desired.findings.filter((f) => f.severity === 'error')).toEqual([]);
    const node = makeNode(desired);
    const names = readFileSync(join(node.rel, 'secrets.list'), 'utf8').split('\n').map((l) => l.split(' ')[2]).filter((x): x is string => !!x);
    for (const name of names) {
      const f = join(node.varDb, 'secrets', 'acme', name);
      writeFileSync(f, name === 'hooks.token' ? `${PEM}\n` : `tok_${name}_Zq8vN3xL2pR7`);
      chmodSync(f, 0o600);
    }
    expect(existsSync(join(node.rel, 'bin', 'gateway-run'))).toBe(true);
    const r = spawnSync('sh', [join(node.rel, 'bin', 'gateway-run'), 'acme', node.etc, node.varDb, '--validate'], {
      encoding: 'utf8',
      env: openclawEnv(process.env, { CLAWOPS_OPENCLAW_CLI: bin!, HOME: node.root }),
      timeout: 60_000,
    });
    run = { desired, releaseId: desired.tenants.get('acme')!.releaseId, out: r.stdout, code: r.status ?? -1 };
  }, 60_000);

  // fixed (was: apply prints a multi-line secret in its refusal: openclaw echoes the substituted value JSON-escaped ("hkLine1…\nhkLine2…"), gateway-run-sh.ts --validate's scrub knows no \n form, and apply-node.ts:judge copies issues[0].message into the one-line refusal (and the verdict store); escape control characters in jesc as JSON does (and/or have judge drop the quoted value))
  it("apply's refusal line carries no part of a multi-line secret", () => {
    expect(run.code).toBe(1);
    const verdict = judge('n1', run.desired, 'acme', run.releaseId, run.out, run.code);
    expect(verdict?.valid).toBe(false);
    const why = verdict && !verdict.valid ? verdict.why : '';
    expect(why).toMatch(/agents\.defaults\.heartbeat\.agentId/);
    expect(why).not.toContain('hkLine1_Qw9eR8tY7u');
    expect(why).not.toContain('hkLine2_Zx6cV5bN4m');
  });

});
