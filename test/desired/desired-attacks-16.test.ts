/**
 * Attacks 16 on the DESIRED STATE pipeline (reconciler/desired/, as fed by reconciler/source/read-tree.ts, and the
 * `lint`/`render` commands): fragment order, merge semantics, what YAML hands the merge, render determinism, secrets.
 * A merge that silently differs from specs/merge-rules.md ships a config nobody reviewed, so most tests here build a
 * real temp repo (a copy of tenants-example with one fragment added) and look at the bytes of the rendered
 * openclaw.json and secrets.list.
 *
 * Each `// fixed (was: …)` test reproduced a defect of this round (fixed since); the other `it`s are guards that held.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import type { RepoSnapshot } from '../../reconciler/desired/snapshot.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { exampleRepo, findingLines, REPO_ROOT, runCli } from '../helpers/repo.js';

const FRAG = 'tenants/acme/gateway.d/30-attack.yaml';

function build(edits: Record<string, string | Buffer>) {
  const d = buildDesired(readTreeSync(exampleRepo(edits)));
  const errors = d.findings.filter((f) => f.severity === 'error');
  const acme = d.tenants.get('acme');
  const file = (p: string): string => acme?.files.find((f) => f.path === p)?.content.toString() ?? '';
  return { d, errors, acme, json: file('openclaw.json'), secretsList: file('secrets.list') };
}
const frag = (text: string | Buffer) => build({ [FRAG]: text });
const agents = (json: string): Record<string, unknown> => (json ? (JSON.parse(json) as { agents?: Record<string, unknown> }).agents ?? {} : {});
const errorsIn = (r: ReturnType<typeof build>, file = FRAG) => r.errors.filter((f) => f.file === file);

describe('attacks 16: fragment order and names', () => {
  it('holds: 9- sorts before 10- (as a number), 010- and 10- are the same number (conflict on a shared key)', () => {
    const r = build({
      'tenants/acme/gateway.d/9-a.yaml': 'agents: {order: nine}\n',
      'tenants/acme/gateway.d/40-a.yaml': 'agents: {order: forty}\n',
    });
    expect(r.errors).toEqual([]);
    expect(agents(r.json).order).toBe('forty');
    const c = build({ 'tenants/acme/gateway.d/010-a.yaml': 'agents: {x: 1}\n', 'tenants/acme/gateway.d/10-b.yaml': 'agents: {x: 2}\n' });
    expect(c.errors.some((f) => f.rule === 'merge/conflict' && f.message.includes('010-a.yaml') && f.message.includes('10-b.yaml'))).toBe(true);
  });

  it('holds: Unicode digits, 1e2-, uppercase .YAML, a space, a leading dash are unnumbered; a dir named like a fragment is refused', () => {
    const names = ['١٠-x.yaml', '1e2-x.yaml', '30-x.YAML', '30-a b.yaml', '-30-x.yaml', '３０-x.yaml'];
    const r = build({ ...Object.fromEntries(names.map((n) => [`tenants/acme/gateway.d/${n}`, 'agents: {x: 1}\n'])), 'tenants/acme/gateway.d/31-dir.yaml/10-x.yaml': 'agents: {y: 1}\n' });
    for (const n of names) expect(r.errors.some((f) => f.file === `tenants/acme/gateway.d/${n}` && f.rule === 'layout/unnumbered'), n).toBe(true);
    expect(r.errors.some((f) => f.file === 'tenants/acme/gateway.d/31-dir.yaml' && f.rule === 'layout/unexpected-dir')).toBe(true);
  });

  // fixed (was: two fragments whose names differ only in case (30-a.yaml, 30-A.yaml) lint clean and ship in one release, but
  // on a Mac (case-insensitive APFS: the operator's checkout, every node's release dir) they are one file, so the
  // release a node holds is not the one clawops hashed and rendered.)
  it('fragment names that collide on a case-insensitive file system (macOS) are a lint error naming both', () => {
    const r = build({ 'tenants/acme/gateway.d/30-a.yaml': 'agents: {x: 1}\n', 'tenants/acme/gateway.d/30-A.yaml': 'agents: {y: 2}\n' });
    expect(r.errors.some((f) => /30-a\.yaml|30-A\.yaml/.test(f.file) && /30-a\.yaml/.test(f.message + f.file) && /30-A\.yaml/.test(f.message + f.file))).toBe(true);
  });

  // fixed (was: fragmentOrder (merge-fragments.ts:29) is Number(prefix), so prefixes past 2^53 round together: 99999999999999999999-
  // and 100000000000000000000- are reported as a merge/conflict that "share the number 100000000000000000000".)
  it('prefixes that differ only past 2^53 are still different numbers (no false merge/conflict)', () => {
    const r = build({
      'tenants/acme/gateway.d/99999999999999999999-a.yaml': 'agents: {x: 1}\n',
      'tenants/acme/gateway.d/100000000000000000000-b.yaml': 'agents: {x: 2}\n',
    });
    expect(r.errors.filter((f) => f.rule === 'merge/conflict')).toEqual([]);
    expect(agents(r.json).x).toBe(2);
  });
});

describe('attacks 16: merge semantics and what YAML hands the merge', () => {
  it('holds: a list replaces a map and a scalar replaces a list (higher number wins, nothing appended)', () => {
    const r = build({
      'tenants/acme/gateway.d/30-a.yaml': 'agents:\n  a: {k: 1}\n  b: [1, 2]\n  c: [x]\n',
      'tenants/acme/gateway.d/40-a.yaml': 'agents:\n  a: [9]\n  b: 3\n  c: [y]\n',
    });
    expect(r.errors).toEqual([]);
    expect(agents(r.json)).toMatchObject({ a: [9], b: 3, c: ['y'] });
  });

  it('holds: __proto__/constructor/prototype keys never pollute Object.prototype; constructor and prototype render as keys', () => {
    // (without __proto__ keys, which are refused now: the next test)
    const r = frag('agents:\n  constructor: {polluted: 1}\n  prototype: {polluted: 1}\n');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(agents(r.json)).toMatchObject({ constructor: { polluted: 1 }, prototype: { polluted: 1 } });
  });

  // fixed (was: a `__proto__` key is an own key of the parsed fragment (yaml defines it), but deepMerge
  // (merge-fragments.ts:58 `out[k] = …`) assigns it, which sets the merged object's prototype instead: the key and
  // everything under it vanish from openclaw.json with no finding.)
  it('a __proto__ key in a fragment is refused or rendered, never silently dropped', () => {
    const r = frag('agents:\n  __proto__: {defaults: {model: x}}\n  list: []\n');
    if (errorsIn(r).length === 0) expect(r.json).toContain('"__proto__"');
  });

  // fixed (was: uniqueKeys compares scalar values, so `1:` and `"1":` (or `true:`/`"true":`, `~:`/`"":`) are not duplicates,
  // yet toJS turns both into the key "1": the later one silently replaces the earlier in the same map.)
  it('keys that become the same JSON key (1 and "1", true and "true", ~ and "") are duplicate-key findings', () => {
    for (const text of ['agents:\n  1: a\n  "1": b\n', 'agents:\n  true: a\n  "true": b\n', 'agents:\n  ~: a\n  "": b\n']) {
      const r = frag(text);
      expect(errorsIn(r).some((f) => f.rule === 'duplicate-key'), text).toBe(true);
    }
  });

  // fixed (was: integers past 2^53 (a Discord/Slack id written unquoted) are parsed as doubles and rendered rounded:
  // `123456789012345678901` ships as 123456789012345680000, with no finding.)
  it('an integer beyond 2^53 is a finding (or rendered exactly), never silently rounded', () => {
    const r = frag('agents:\n  allowFrom: [123456789012345678901, 9007199254740993]\n');
    if (errorsIn(r).length === 0) {
      expect(r.json).toContain('123456789012345678901');
      expect(r.json).toContain('9007199254740993');
    }
  });

  // fixed (was: `.nan`, `.inf`, `-.inf` parse to NaN/±Infinity, which JSON.stringify writes as null: openclaw.json gets
  // `null` where the fragment said infinity, with no finding.)
  it('.nan and .inf are findings, not null in openclaw.json', () => {
    const r = frag('agents:\n  x: .nan\n  y: .inf\n  z: -.inf\n');
    expect(errorsIn(r).length).toBeGreaterThan(0);
  });

  // fixed (was: yaml's known tags resolve even in the 1.2 core schema (yaml-doc.ts:129 compose(): no `resolveKnownTags:false`,
  // tag warnings ignored): !!binary becomes a Uint8Array rendered as {"0":104,…}, !!set/!!omap/!!timestamp render as
  // {}, and a secret under `apiKey: !!binary …` escapes the secret scan (the value is not a string).)
  it('!!binary, !!set, !!omap and !!timestamp are findings, never rendered as byte maps or {}', () => {
    for (const text of [
      'agents:\n  e: !!binary aGVsbG8=\n',
      'agents:\n  s: !!set {a, b}\n',
      'agents:\n  o: !!omap [ {a: 1}, {b: 2} ]\n',
      'agents:\n  t: !!timestamp 2001-12-14\n',
      'agents:\n  apiKey: !!binary c2stYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXowMTIz\n',
    ]) {
      const r = frag(text);
      expect(errorsIn(r).length, text).toBeGreaterThan(0);
    }
  });

  // fixed (was: a `%YAML 1.1` directive switches the parser to the YAML 1.1 schema for that file: `yes` → true, `0777` → 511,
  // `1:20` → 80 (sexagesimal), a bare date → a Date rendered as {}, and `<<` merges — the same text means something
  // else than in every other fragment, silently.)
  it('a %YAML 1.1 directive is refused (or ignored): the file keeps YAML 1.2 core meanings', () => {
    const r = frag('%YAML 1.1\n---\nagents:\n  a: yes\n  c: 0777\n  d: 1:20\n  b: 2001-12-14\n');
    if (errorsIn(r).length === 0) expect(agents(r.json)).toMatchObject({ a: 'yes', c: 777, d: '1:20', b: '2001-12-14' });
  });

  // fixed (was: without a directive `<<:` is an ordinary key (YAML 1.2), so `<<: *base` is neither merged nor refused:
  // openclaw.json gets a literal "<<" key that the reviewer read as a merge.)
  it('a `<<` merge key is refused (or merged), never rendered as a literal "<<" key', () => {
    const r = frag('agents:\n  base: &b {model: x}\n  defaults:\n    <<: *b\n    timeout: 5\n');
    if (errorsIn(r).length === 0) expect(r.json).not.toContain('"<<"');
  });

  // fixed (was: a collection used as a map key (`? [a, b] : 1`) is stringified to the key "[ a, b ]" with no finding (and the
  // yaml package prints a Node process warning on stderr).)
  it('a map or list used as a map key is a finding', () => {
    const r = frag('agents:\n  ? [a, b]\n  : 1\n');
    expect(errorsIn(r).length).toBeGreaterThan(0);
  });

  // fixed (was: normaliseText (yaml-doc.ts:35) decodes with toString('utf8'), so an invalid UTF-8 byte becomes U+FFFD in
  // openclaw.json while git (and the review) holds another byte: no finding.)
  it('invalid UTF-8 in a fragment is a finding naming the file', () => {
    const r = frag(Buffer.concat([Buffer.from('agents:\n  name: "caf'), Buffer.from([0xe9]), Buffer.from('"\n')]));
    expect(errorsIn(r).length).toBeGreaterThan(0);
    expect(r.json).not.toContain('\ufffd');
  });

  it('holds: YAML 1.2 core: yes/on/no stay strings, 0o17 is 15, a bare date stays a string; a BOM+CRLF file merges as the plain one', () => {
    const r = frag('agents:\n  a: yes\n  b: on\n  c: no\n  d: 0o17\n  e: 2001-12-14\n  f: -0\n');
    expect(errorsIn(r)).toEqual([]);
    expect(agents(r.json)).toMatchObject({ a: 'yes', b: 'on', c: 'no', d: 15, e: '2001-12-14', f: 0 });
    const bom = frag(Buffer.from('\ufeffagents:\r\n  a: yes\r\n  b: on\r\n  c: no\r\n  d: 0o17\r\n  e: 2001-12-14\r\n  f: -0\r\n'));
    expect(bom.json).toBe(r.json);
  });
});

describe('attacks 16: render determinism', () => {
  it('holds: key order in the fragment and the listing order of the tree do not change openclaw.json or the release id', () => {
    const a = frag('agents:\n  zeta: 1\n  alpha: {b: 2, a: 1}\n  "10": x\n  "9": y\n  é: 1\n  e\u0301: 2\n');
    const b = frag('agents:\n  e\u0301: 2\n  é: 1\n  "9": y\n  "10": x\n  alpha: {a: 1, b: 2}\n  zeta: 1\n');
    expect(a.errors).toEqual([]);
    expect(b.json).toBe(a.json);
    const dir = exampleRepo({ [FRAG]: 'agents: {x: 1}\n' });
    const snap = readTreeSync(dir);
    const reversed: RepoSnapshot = { ...snap, entries: new Map([...snap.entries].reverse()) };
    const ids = (d: ReturnType<typeof buildDesired>) => [...d.tenants.values()].map((t) => `${t.id}:${t.releaseId}`);
    expect(ids(buildDesired(reversed))).toEqual(ids(buildDesired(snap)));
  });

  it('holds: `clawops render` is byte-identical under another TZ, LC_ALL and cwd', () => {
    const dir = exampleRepo({ [FRAG]: 'agents:\n  ı: 1\n  I: 2\n  i: 3\n  Z: 4\n  a: 2001-12-14T21:59:43.10-05:00\n' });
    const run = (env: Record<string, string>, cwd: string) =>
      spawnSync(`${REPO_ROOT}/bin/clawops`, ['render', dir, '--tenant', 'acme'], { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });
    const one = run({ TZ: 'UTC', LC_ALL: 'C' }, REPO_ROOT);
    const two = run({ TZ: 'Pacific/Kiritimati', LC_ALL: 'tr_TR.UTF-8', LANG: 'tr_TR.UTF-8' }, '/');
    expect(one.status, one.stderr).toBe(0);
    expect(two.status, two.stderr).toBe(0);
    expect(two.stdout).toBe(one.stdout);
  });
});

describe('attacks 16: secrets', () => {
  it('holds: a flagged value is never printed by lint (text and --json) or by render refusing the repo', async () => {
    const token = 'sk-abcdefghijklmnopqrstuvwxyz0123';
    const dir = exampleRepo({ [FRAG]: `agents:\n  note: |\n    first line\n    ${token}\n  password: hunter2hunter2\n` });
    const lint = await runCli(['lint', dir]);
    const json = await runCli(['lint', dir, '--json']);
    const render = await runCli(['render', dir, '--tenant', 'acme']);
    expect(lint.code).toBe(1);
    expect(findingLines(lint.stdout).filter((l) => l.includes('[secret/literal]'))).toHaveLength(2);
    expect(render.code).toBe(2);
    for (const out of [lint.stdout, lint.stderr, json.stdout, render.stdout, render.stderr]) {
      expect(out).not.toContain(token);
      expect(out).not.toContain('hunter2');
    }
  });

  // fixed (was: scanForSecrets (secret-scan.ts:190-197) tests values only: a token pasted as a map KEY lints clean and is
  // rendered into openclaw.json; in a strict map lint even prints it (`unknown key "sk-…"`, schema.ts describe()).)
  it('a secret-shaped map key is a secret/literal finding and is never printed', async () => {
    const token = 'sk-abcdefghijklmnopqrstuvwxyz0123';
    const r = frag(`agents:\n  ${token}: 1\n`);
    expect(errorsIn(r).some((f) => f.rule === 'secret/literal')).toBe(true);
    const lint = await runCli(['lint', exampleRepo({ [FRAG]: `gateway:\n  ${token}: 1\n` })]);
    expect(lint.code).toBe(1);
    expect(lint.stdout).not.toContain(token);
  });

  // fixed (was: holdsSecret runs only when a secret-named key holds a string/number (secret-scan.ts:193); a list under
  // `password:`/`token:` is walked without the key, so `password: [hunter2hunter2]` lints clean and renders.)
  it('a literal inside a list under a secret-named key is a secret/literal finding', () => {
    for (const text of ['agents:\n  password: [hunter2hunter2]\n', 'agents:\n  token: ["abc123def456ghi789jk"]\n']) {
      expect(errorsIn(frag(text)).some((f) => f.rule === 'secret/literal'), text).toBe(true);
    }
  });

  // fixed (was: the scan sees only the parsed value, but fragments ship byte-for-byte in every release (gateway.d/… in the
  // release dir on every node): a token in a YAML comment lints clean and is copied to the whole fleet.)
  it('a secret in a fragment comment is a secret/literal finding (the fragment bytes ship to every node)', () => {
    const r = frag('# old key: sk-abcdefghijklmnopqrstuvwxyz0123\nagents: {}\n');
    expect(errorsIn(r).some((f) => f.rule === 'secret/literal')).toBe(true);
  });

  // fixed (was: secret_ref names are checked by the schema only at gateway.auth/hooks.token; under the free-form sections
  // (models, agents, tools…) render.ts isSecretRef takes any string, so `../../x` and a name with a newline reach
  // secrets.list — the newline injects an extra `env VAR name` line, which the wrapper exports as VAR (any name).)
  it('a secret_ref name anywhere must match the secret-name pattern; secrets.list never gets a line clawops did not write', () => {
    for (const name of ['../../../etc/master.passwd', 'a\\nenv NODE_OPTIONS token.current', 'Token.Current']) {
      const r = frag(`models:\n  providers:\n    x:\n      apiKey: {secret_ref: "${name}"}\n`);
      expect(errorsIn(r).length, name).toBeGreaterThan(0);
      for (const line of r.secretsList.split('\n').filter(Boolean)) expect(line).toMatch(/^(env CLAWOPS_SECRET_[A-Z0-9_]+|file -) [a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/);
    }
  });

  // fixed (was: secretEnvVar (render.ts:27) folds `.`/`-`/`_` to `_`, so `hooks.token` and `hooks_token` are both
  // CLAWOPS_SECRET_HOOKS_TOKEN: secrets.list exports that variable twice and the last file wins, so hooks.token's
  // substitution silently gets the other secret.)
  it('two secret names that map to one CLAWOPS_SECRET_ variable are a finding (or get distinct variables)', () => {
    const r = frag('models:\n  providers:\n    x:\n      apiKey: {secret_ref: hooks_token}\n');
    if (errorsIn(r).length === 0) {
      const vars = r.secretsList.split('\n').filter((l) => l.startsWith('env ')).map((l) => l.split(' ')[1]);
      expect(new Set(vars).size).toBe(vars.length);
    }
  });

  // fixed (was: secretProviderName (render.ts:31) folds `.` to `_` too: gateway.auth.token {secret_ref: token.current} and
  // gateway.auth.password {secret_ref: token_current} share provider clawops_token_current, whose path is the last one
  // written, so one credential silently resolves to the other's file.)
  it('two file SecretRefs with names that fold together keep distinct providers and paths', () => {
    const r = frag('gateway:\n  auth:\n    password: {secret_ref: token_current}\n');
    if (errorsIn(r).length === 0) {
      const auth = (JSON.parse(r.json) as { gateway: { auth: { token: { provider: string }; password: { provider: string } } } }).gateway.auth;
      expect(auth.token.provider).not.toBe(auth.password.provider);
    }
  });
});
