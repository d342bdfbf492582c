/**
 * YAML parser limits are lint findings, never crashes (specs/infra-repo.md, "Parser limits"): an alias bomb, deep
 * nesting or an oversized file in any repo file is one `yaml-limit` line naming the file, exit 1 from lint, valid
 * JSON under --json, and a one-line refusal (exit 2) from every command that loads the repo.
 */
import { describe, expect, it } from 'vitest';
import { YAML_LIMITS, parseYamlFile } from '../../reconciler/desired/yaml-doc.js';
import { exampleRepo, findingLines, runCli, type Edit } from '../helpers/repo.js';

const ACME_GW = 'tenants/acme/gateway.d';

/** The classic "billion laughs": nine levels of nine aliases each, 9^9 strings once expanded; under 400 bytes. */
function aliasBomb(prefix = ''): string {
  const names = 'abcdefghi';
  const lines = [`${prefix}a: &a [${Array(9).fill('"lol"').join(',')}]`];
  for (let i = 1; i < names.length; i++) lines.push(`${prefix}${names[i]}: &${names[i]} [${Array(9).fill(`*${names[i - 1]}`).join(',')}]`);
  return `${lines.join('\n')}\n`;
}
const deepSeq = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}\n`;
const deepFlowMap = (n: number): string => `${'{a: '.repeat(n)}1${'}'.repeat(n)}\n`;
const deepBlockMap = (n: number): string => `${Array.from({ length: n }, (_, i) => `${' '.repeat(i)}a:`).join('\n')} 1\n`;

interface LintRun {
  code: number;
  lines: string[];
  all: string;
  stdout: string;
}

async function lint(edits: Record<string, Edit>, extra: string[] = []): Promise<LintRun> {
  const r = await runCli(['lint', exampleRepo(edits), ...extra]);
  const all = r.stdout + r.stderr;
  expect(all).not.toMatch(/internal error/);
  expect(all).not.toMatch(/^\s+at /m);
  return { code: r.code, lines: findingLines(r.stdout), all, stdout: r.stdout };
}

describe('YAML limits: lint', () => {
  it('the alias bomb really is small', () => {
    expect(Buffer.byteLength(aliasBomb())).toBeLessThan(400);
  });

  const cases: [string, string, Edit, RegExp][] = [
    ['an alias bomb in a fragment', `${ACME_GW}/30-lol.yaml`, aliasBomb(), /aliases expand more than 100 times/],
    ['an alias bomb in nodes.yaml', 'nodes.yaml', `${aliasBomb('x')}nodes: []\n`, /aliases expand more than 100 times/],
    ['an alias bomb in clawops.yaml', 'clawops.yaml', aliasBomb('x'), /aliases expand more than 100 times/],
    ['an alias bomb in openclaw.lock', 'openclaw.lock', aliasBomb('x'), /aliases expand more than 100 times/],
    ['an alias bomb in a webhook fixture (JSON goes through the YAML parser)', 'fixtures/webhooks/lol.json', aliasBomb(), /aliases expand more than 100 times/],
    ['[[[[…]]]] 1000 deep in a fragment', `${ACME_GW}/30-deep.yaml`, deepSeq(1000), /nested more than 64 levels deep/],
    ['{a: {a: …}} 1000 deep in a fragment', `${ACME_GW}/30-deep.yaml`, deepFlowMap(1000), /nested more than 64 levels deep/],
    ['a block map 1000 deep in nodes.yaml', 'nodes.yaml', deepBlockMap(1000), /nested more than 64 levels deep/],
    ['[[[[…]]]] 100k deep in openclaw.lock', 'openclaw.lock', deepSeq(100_000), /nested more than 64 levels deep/],
  ];
  it.each(cases)('%s is one yaml-limit finding naming the file, exit 1', async (_name, file, body, message) => {
    const r = await lint({ [file]: body });
    expect(r.code).toBe(1);
    const hits = r.lines.filter((l) => l.includes('[yaml-limit]'));
    expect(hits).toHaveLength(1);
    expect(hits[0]!.startsWith(`${file}:`)).toBe(true);
    expect(hits[0]).toMatch(/^[^:]+:\d+:\d+: error: /);
    expect(hits[0]).toMatch(message);
  });

  it('the alias bomb finding points at an alias on the line where the limit is crossed', async () => {
    const r = await lint({ [`${ACME_GW}/30-lol.yaml`]: aliasBomb() });
    const [hit] = r.lines.filter((l) => l.includes('[yaml-limit]'));
    const m = /^[^:]+:(\d+):(\d+):/.exec(hit!)!;
    const line = aliasBomb().split('\n')[Number(m[1]) - 1]!;
    expect(line.slice(Number(m[2]) - 1)).toMatch(/^\*[a-i]/);
  });

  it('the deep-nesting finding points at the 65th level', async () => {
    const r = await lint({ [`${ACME_GW}/30-deep.yaml`]: deepSeq(1000) });
    expect(r.lines).toEqual([`${ACME_GW}/30-deep.yaml:1:65: error: nested more than 64 levels deep (the limit) [yaml-limit]`]);
  });

  it('64 levels are fine (schema aside), 65 are not', async () => {
    // the top-level map, agents, defaults: three levels before the sequences
    const ok = await lint({ [`${ACME_GW}/30-deep.yaml`]: `agents:\n  defaults:\n    x: ${'['.repeat(61)}${']'.repeat(61)}\n` });
    expect(ok.lines.filter((l) => l.includes('[yaml-limit]'))).toEqual([]);
    const over = await lint({ [`${ACME_GW}/30-deep.yaml`]: `agents:\n  defaults:\n    x: ${'['.repeat(62)}${']'.repeat(62)}\n` });
    expect(over.lines.filter((l) => l.includes('[yaml-limit]'))).toHaveLength(1);
  });

  it('aliases that nest an anchor past the depth limit are caught once expanded', async () => {
    const body = `a: &a ${'['.repeat(40)}1${']'.repeat(40)}\nb: ${'['.repeat(30)}*a${']'.repeat(30)}\n`;
    const r = await lint({ [`${ACME_GW}/30-deep.yaml`]: body });
    expect(r.lines).toEqual([`${ACME_GW}/30-deep.yaml:2:34: error: nested more than 64 levels deep with its aliases expanded (the limit) [yaml-limit]`]);
  });

  it('a self-referencing alias and an alias to nowhere are findings, not crashes', async () => {
    const r = await lint({ [`${ACME_GW}/30-cycle.yaml`]: 'agents: &a\n  defaults: *a\n', [`${ACME_GW}/31-nowhere.yaml`]: 'agents:\n  defaults: *nope\n' });
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([
      `${ACME_GW}/30-cycle.yaml:2:13: error: alias *a is inside the node anchored &a (a cycle) [yaml-syntax]`,
      `${ACME_GW}/31-nowhere.yaml:2:13: error: alias *nope has no anchor &nope before it [yaml-syntax]`,
    ]);
  });

  it('a few ordinary aliases are still fine', async () => {
    const r = await lint({ [`${ACME_GW}/30-alias.yaml`]: 'agents:\n  defaults: &d\n    timeoutSeconds: 30\n  list:\n    - *d\n' });
    expect(r.lines.filter((l) => /yaml-(limit|syntax)/.test(l))).toEqual([]);
  });

  it.each([
    ['a fragment', `${ACME_GW}/30-big.yaml`],
    ['nodes.yaml', 'nodes.yaml'],
  ])('a 2 MiB %s is refused unread, naming the file', async (_n, file) => {
    const big = `a: ${'x'.repeat(2 * 1024 * 1024)}\n`;
    const r = await lint({ [file]: big });
    expect(r.code).toBe(1);
    expect(r.lines).toContain(`${file}:1:1: error: is ${Buffer.byteLength(big)} bytes, over the 1048576-byte limit [layout/too-large]`);
  });

  it('--json: valid JSON naming the file, exit 1', async () => {
    const r = await lint({ 'nodes.yaml': `${aliasBomb('x')}nodes: []\n`, [`${ACME_GW}/30-deep.yaml`]: deepSeq(1000) }, ['--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { ok: boolean; findings: { file: string; line: number; col: number; rule: string; message: string }[] };
    expect(doc.ok).toBe(false);
    const limits = doc.findings.filter((f) => f.rule === 'yaml-limit');
    expect(limits.map((f) => f.file).sort()).toEqual(['nodes.yaml', `${ACME_GW}/30-deep.yaml`]);
    for (const f of limits) expect(f.line).toBeGreaterThan(0);
  });
});

describe('YAML limits: every command that loads the repo', () => {
  const bombed = (): string => exampleRepo({ 'nodes.yaml': `${aliasBomb('x')}nodes: []\n`, [`${ACME_GW}/30-lol.yaml`]: aliasBomb() });

  it.each([
    ['render', (repo: string) => ['render', repo, '--tenant', 'acme']],
    ['inventory', (repo: string) => ['inventory', repo]],
    ['diff', (repo: string) => ['diff', '--repo', repo]],
    ['apply', (repo: string) => ['apply', '--repo', repo, '--yes']],
    ['rollback', (repo: string) => ['rollback', '--repo', repo, '--node', 'gw-1', '--tenant', 'acme']],
  ])('%s refuses the repo: exit 2, no internal error', async (_name, args) => {
    const r = await runCli(args(bombed()));
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.stderr).toMatch(/error/);
  });

  it('diff names the file and the rule in its one line', async () => {
    const r = await runCli(['diff', '--repo', exampleRepo({ 'openclaw.lock': deepSeq(1000) })]);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/openclaw\.lock:1:65: error: nested more than 64 levels deep .*\[yaml-limit\]/);
  });
});

describe('parseYamlFile never throws', () => {
  it.each([
    ['alias bomb', aliasBomb()],
    ['deep flow sequence', deepSeq(200_000)],
    ['deep block sequence', `${Array.from({ length: 5000 }, (_, i) => `${' '.repeat(i * 2)}-`).join('\n')} 1\n`],
    ['cycle', 'a: &a [*a]\n'],
    ['unresolved alias', 'a: *x\n'],
    ['over the byte limit', `a: ${'x'.repeat(YAML_LIMITS.maxBytes)}\n`],
  ])('%s', (_n, text) => {
    const r = parseYamlFile('f.yaml', Buffer.from(text));
    expect('findings' in r).toBe(true);
    if ('findings' in r) expect(r.findings.length).toBeGreaterThan(0);
  });

  it('an anchor aliased until the expanded document is over the value limit', () => {
    const n = 20_000;
    const text = `a: &a [${Array(n).fill('1').join(',')}]\n${Array.from({ length: 60 }, (_, i) => `b${i}: *a`).join('\n')}\n`;
    const r = parseYamlFile('f.yaml', Buffer.from(text));
    expect('findings' in r && r.findings[0]!.rule).toBe('yaml-limit');
  });
});
