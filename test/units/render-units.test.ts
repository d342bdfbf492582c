/** launchd unit templates: renderUnit's lint on bad inputs, escaping, and what `clawops lint` / `render` make of them. */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import plist from 'plist';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import { probeCommand, probeOptionsFromFlags, type ProbeServeFlags } from '../../reconciler/probe/cli.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { renderUnit, unitLabel, unitPath, type UnitVars } from '../../reconciler/units/render-units.js';
import { EXAMPLE, exampleRepo as makeRepo, findingLines, runCli } from '../helpers/repo.js';

const GATEWAY = readFileSync(join(EXAMPLE, 'launchd/gateway.plist'), 'utf8');
const PROBE = readFileSync(join(EXAMPLE, 'launchd/probe.plist'), 'utf8');
const FILE = 'launchd/gateway.plist';
const VARS: UnitVars = { tenant: 'acme', etc: '/etc/openclaw', var_db: '/var/db/openclaw', port: 18809, probe_port: 18924, label: 'ai.openclaw.acme' };

/** 1-based line of the first occurrence of `needle` in `text` */
function lineOf(text: string, needle: string): number {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`"${needle}" not in template`);
  return text.slice(0, i).split('\n').length;
}

/** replace exactly one occurrence (fails loudly when the example template changes) */
function edit(text: string, from: string, to: string): string {
  expect(text.split(from)).toHaveLength(2);
  return text.replace(from, to);
}

/** the gateway template with an EnvironmentVariables dict before UserName */
function withEnv(env: Record<string, string>, base = GATEWAY): string {
  const entries = Object.entries(env)
    .map(([k, v]) => `    <key>${k}</key>\n    <string>${v}</string>\n`)
    .join('');
  return edit(base, '  <key>UserName</key>', `  <key>EnvironmentVariables</key>\n  <dict>\n${entries}  </dict>\n  <key>UserName</key>`);
}

/** temp copies of tenants-example, removed after the file */
const repos: string[] = [];
function exampleRepo(edits: Parameters<typeof makeRepo>[0] = {}): string {
  const r = makeRepo(edits);
  repos.push(r);
  return r;
}
afterAll(() => {
  for (const r of repos) rmSync(r, { recursive: true, force: true });
});

const LABEL_LINE = lineOf(GATEWAY, '<key>Label</key>');
const ARGS_LINE = lineOf(GATEWAY, '<key>ProgramArguments</key>');
/** the line of ProgramArguments[i] in the example gateway template */
const argLine = (i: number): number => ARGS_LINE + 2 + i;

describe('renderUnit: a good template', () => {
  it('the example gateway template renders to the canonical plist launchd runs', () => {
    const u = renderUnit(FILE, GATEWAY, 'gateway', VARS);
    expect(u.findings).toEqual([]);
    expect(u.label).toBe('ai.openclaw.acme');
    expect(u.path).toBe('launchd/ai.openclaw.acme.plist');
    const text = u.content!.toString('utf8');
    expect(text.endsWith('</plist>\n')).toBe(true);
    expect(text).not.toContain('{{');
    const d = plist.parse(text) as Record<string, unknown>;
    expect(d).toMatchObject({
      Label: 'ai.openclaw.acme',
      ProgramArguments: ['/bin/sh', '/etc/openclaw/tenants/acme/bin/gateway-run', 'acme', '/etc/openclaw', '/var/db/openclaw'],
      UserName: 'clawops',
      RunAtLoad: true,
      KeepAlive: true,
      ThrottleInterval: 10,
      StandardOutPath: '/var/db/openclaw/logs/acme/gateway.log',
    });
    // canonical: building the parsed document again gives the same bytes
    expect(`${plist.build(d as plist.PlistObject)}\n`).toBe(text);
  });

  it('the example probe template renders with the probe label and port', () => {
    const u = renderUnit('launchd/probe.plist', PROBE, 'probe', { ...VARS, label: 'ai.openclaw.acme.probe' });
    expect(u.findings).toEqual([]);
    expect(u.path).toBe('launchd/ai.openclaw.acme.probe.plist');
    const d = plist.parse(u.content!.toString('utf8')) as { Label: string; ProgramArguments: string[] };
    expect(d.Label).toBe('ai.openclaw.acme.probe');
    expect(d.ProgramArguments).toContain('127.0.0.1:18924');
    expect(d.ProgramArguments).toContain('/var/db/openclaw/state/acme');
  });

  it("the example probe unit's arguments are what `clawops probe serve` takes (its own option parser)", async () => {
    const vars = { ...VARS, etc: '/srv/etc-openclaw', label: 'ai.openclaw.acme.probe' };
    const u = renderUnit('launchd/probe.plist', PROBE, 'probe', vars);
    expect(u.findings).toEqual([]);
    const d = plist.parse(u.content!.toString('utf8')) as { ProgramArguments: string[]; EnvironmentVariables?: { PATH?: string } };
    expect(d.ProgramArguments.slice(0, 2)).toEqual(['/usr/local/bin/clawops', 'probe']);
    const serve = probeCommand().commands.find((c) => c.name() === 'serve')!;
    let flags: ProbeServeFlags | undefined;
    serve.exitOverride().action((f: ProbeServeFlags) => {
      flags = f;
    });
    await serve.parseAsync(d.ProgramArguments.slice(3), { from: 'user' });
    expect(flags).toMatchObject({ tenant: 'acme', listen: '127.0.0.1:18924', policy: '/srv/etc-openclaw/tenants/acme/doctor.json', stateDir: '/var/db/openclaw/state/acme' });
    const opts = probeOptionsFromFlags(flags!, pino({ level: 'silent' }));
    expect(opts).toMatchObject({ tenant: 'acme', listen: { host: '127.0.0.1', port: 18924 }, policyFile: '/srv/etc-openclaw/tenants/acme/doctor.json' });
    // launchd's PATH has neither node (for clawops) nor openclaw (for doctor)
    expect(d.EnvironmentVariables?.PATH?.split(':').slice(0, 2)).toEqual(['/usr/local/bin', '/opt/homebrew/bin']);
  });

  it('rendering is deterministic and per tenant', () => {
    const a = renderUnit(FILE, GATEWAY, 'gateway', VARS);
    const b = renderUnit(FILE, GATEWAY, 'gateway', VARS);
    expect(a.content!.equals(b.content!)).toBe(true);
    const g = renderUnit(FILE, GATEWAY, 'gateway', { ...VARS, tenant: 'globex', label: 'ai.openclaw.globex' });
    expect(g.findings).toEqual([]);
    expect(g.content!.toString('utf8')).toBe(a.content!.toString('utf8').replaceAll('acme', 'globex'));
  });

  it('XML-special characters in values are escaped and round-trip through the plist library', () => {
    const etc = '/etc/a<b';
    const varDb = `/var/db/x&y>"z'`;
    const tpl = edit(GATEWAY, '  <key>UserName</key>', '  <key>Port</key>\n  <integer>{{port}}</integer>\n  <key>UserName</key>');
    const u = renderUnit(FILE, tpl, 'gateway', { ...VARS, etc, var_db: varDb });
    expect(u.findings).toEqual([]);
    const text = u.content!.toString('utf8');
    expect(text).not.toContain('a<b');
    expect(text).toContain('/etc/a&lt;b');
    expect(text).not.toMatch(/x&y(?!amp;)/);
    const d = plist.parse(text) as { ProgramArguments: string[]; StandardOutPath: string; Port: number };
    expect(d.ProgramArguments).toEqual(['/bin/sh', '/etc/a<b/tenants/acme/bin/gateway-run', 'acme', etc, varDb]);
    expect(d.StandardOutPath).toBe(`${varDb}/logs/acme/gateway.log`);
    expect(d.Port).toBe(18809);
  });

  it('placeholders may have spaces inside the braces', () => {
    const u = renderUnit(FILE, edit(GATEWAY, '<string>{{label}}</string>', '<string>{{ label }}</string>'), 'gateway', VARS);
    expect(u.findings).toEqual([]);
    expect((plist.parse(u.content!.toString('utf8')) as { Label: string }).Label).toBe('ai.openclaw.acme');
  });

  it('an absolute Program and harmless EnvironmentVariables are fine', () => {
    const tpl = withEnv({ NODE_ENV: 'production', PATH: '/usr/local/bin:/usr/bin:/bin', OPENCLAW_LOG_FORMAT: 'json' }, edit(GATEWAY, '  <key>UserName</key>', '  <key>Program</key>\n  <string>/bin/sh</string>\n  <key>UserName</key>'));
    const u = renderUnit(FILE, tpl, 'gateway', VARS);
    expect(u.findings).toEqual([]);
    expect(plist.parse(u.content!.toString('utf8'))).toMatchObject({ Program: '/bin/sh', EnvironmentVariables: { NODE_ENV: 'production' } });
  });
});

describe('unitLabel / unitPath', () => {
  it('labels and release paths', () => {
    expect(unitLabel('acme', 'gateway')).toBe('ai.openclaw.acme');
    expect(unitLabel('acme', 'probe')).toBe('ai.openclaw.acme.probe');
    expect(unitPath(unitLabel('globex', 'gateway'))).toBe('launchd/ai.openclaw.globex.plist');
    expect(unitPath(unitLabel('globex', 'probe'))).toBe('launchd/ai.openclaw.globex.probe.plist');
  });
});

interface BadCase {
  name: string;
  template: string;
  rule: string;
  line: number;
  message: string | RegExp;
}

const LABEL_BLOCK = '  <key>Label</key>\n  <string>{{label}}</string>\n';
const ARGS_BLOCK = GATEWAY.slice(GATEWAY.indexOf('  <key>ProgramArguments</key>'), GATEWAY.indexOf('  <key>UserName</key>'));

const badLabelAndProgram: BadCase[] = [
  { name: 'Label missing', template: edit(GATEWAY, LABEL_BLOCK, ''), rule: 'launchd/label', line: 1, message: 'Label must be "ai.openclaw.<tenant>" (use {{label}}), not null' },
  {
    name: 'Label a fixed string',
    template: edit(GATEWAY, '<string>{{label}}</string>', '<string>com.example.gateway</string>'),
    rule: 'launchd/label',
    line: LABEL_LINE,
    message: 'Label must be "ai.openclaw.<tenant>" (use {{label}}), not "com.example.gateway"',
  },
  { name: 'Label the bare tenant', template: edit(GATEWAY, '<string>{{label}}</string>', '<string>{{tenant}}</string>'), rule: 'launchd/label', line: LABEL_LINE, message: 'Label must be "ai.openclaw.<tenant>" (use {{label}}), not "acme"' },
  { name: 'Label an integer', template: edit(GATEWAY, '<string>{{label}}</string>', '<integer>7</integer>'), rule: 'launchd/label', line: LABEL_LINE, message: /^Label must be "ai\.openclaw\.<tenant>" \(use \{\{label\}\}\), not 7$/ },
  {
    name: 'ProgramArguments[0] relative',
    template: edit(GATEWAY, '<string>/bin/sh</string>', '<string>sh</string>'),
    rule: 'launchd/program',
    line: argLine(0),
    message: 'ProgramArguments[0] must be an absolute path, not "sh"',
  },
  {
    name: 'ProgramArguments[0] dot-relative',
    template: edit(GATEWAY, '<string>/bin/sh</string>', '<string>./bin/sh</string>'),
    rule: 'launchd/program',
    line: argLine(0),
    message: 'ProgramArguments[0] must be an absolute path, not "./bin/sh"',
  },
  {
    name: 'a later argument ./relative',
    template: edit(GATEWAY, '<string>{{etc}}/tenants/{{tenant}}/bin/gateway-run</string>', '<string>./bin/gateway-run</string>'),
    rule: 'launchd/program',
    line: argLine(1),
    message: 'ProgramArguments[1] is a relative path ("./bin/gateway-run"); launchd runs jobs from / and never expands ~',
  },
  {
    name: 'a later argument ../relative',
    template: edit(GATEWAY, '<string>{{var_db}}</string>\n  </array>', '<string>../var/db</string>\n  </array>'),
    rule: 'launchd/program',
    line: argLine(4),
    message: 'ProgramArguments[4] is a relative path ("../var/db"); launchd runs jobs from / and never expands ~',
  },
  {
    name: 'a later argument dir/file (no leading ./)',
    template: edit(GATEWAY, '<string>{{etc}}/tenants/{{tenant}}/bin/gateway-run</string>', '<string>tenants/{{tenant}}/bin/gateway-run</string>'),
    rule: 'launchd/program',
    line: argLine(1),
    message: 'ProgramArguments[1] is a relative path ("tenants/acme/bin/gateway-run"); launchd runs jobs from / and never expands ~',
  },
  {
    name: 'a later argument ~/…',
    template: edit(GATEWAY, '<string>{{var_db}}</string>\n  </array>', '<string>~/var/db</string>\n  </array>'),
    rule: 'launchd/program',
    line: argLine(4),
    message: 'ProgramArguments[4] is a relative path ("~/var/db"); launchd runs jobs from / and never expands ~',
  },
  {
    name: 'an --option=relative/path value',
    template: edit(GATEWAY, '<string>{{var_db}}</string>\n  </array>', '<string>{{var_db}}</string>\n    <string>--log-file=logs/gw.log</string>\n  </array>'),
    rule: 'launchd/program',
    line: argLine(5),
    message: 'ProgramArguments[5] is a relative path ("--log-file=logs/gw.log"); launchd runs jobs from / and never expands ~',
  },
  { name: 'ProgramArguments missing', template: edit(GATEWAY, ARGS_BLOCK, ''), rule: 'launchd/program', line: 1, message: 'ProgramArguments must be a non-empty array of strings' },
  {
    name: 'ProgramArguments empty',
    template: edit(GATEWAY, ARGS_BLOCK, '  <key>ProgramArguments</key>\n  <array/>\n'),
    rule: 'launchd/program',
    line: ARGS_LINE,
    message: 'ProgramArguments must be a non-empty array of strings',
  },
  {
    name: 'ProgramArguments a string',
    template: edit(GATEWAY, ARGS_BLOCK, '  <key>ProgramArguments</key>\n  <string>/bin/sh -c run</string>\n'),
    rule: 'launchd/program',
    line: ARGS_LINE,
    message: 'ProgramArguments must be a non-empty array of strings',
  },
  {
    name: 'ProgramArguments with an integer',
    template: edit(GATEWAY, '<string>{{tenant}}</string>\n    <string>{{etc}}</string>', '<integer>1</integer>\n    <string>{{etc}}</string>'),
    rule: 'launchd/program',
    line: ARGS_LINE,
    message: 'ProgramArguments must be a non-empty array of strings',
  },
  {
    name: 'Program relative',
    template: edit(GATEWAY, '  <key>UserName</key>', '  <key>Program</key>\n  <string>bin/gateway-run</string>\n  <key>UserName</key>'),
    rule: 'launchd/program',
    line: lineOf(GATEWAY, '<key>UserName</key>'),
    message: 'Program must be an absolute path',
  },
];

describe('renderUnit: bad Label / ProgramArguments / Program', () => {
  it.each(badLabelAndProgram)('$name → one $rule finding on the right line, nothing rendered', ({ template, rule, line, message }) => {
    const u = renderUnit(FILE, template, 'gateway', VARS);
    expect(u.content).toBeUndefined();
    expect(u.findings).toHaveLength(1);
    const f = u.findings[0]!;
    expect(f).toMatchObject({ file: FILE, severity: 'error', rule, line });
    if (typeof message === 'string') expect(f.message).toBe(message);
    else expect(f.message).toMatch(message);
  });

  it('several problems at once are all reported', () => {
    let tpl = edit(GATEWAY, '<string>{{label}}</string>', '<string>x</string>');
    tpl = edit(tpl, '<string>/bin/sh</string>', '<string>sh</string>');
    tpl = edit(tpl, '<string>{{tenant}}</string>\n    <string>{{etc}}</string>', '<string>./acme</string>\n    <string>{{etc}}</string>');
    const u = renderUnit(FILE, tpl, 'gateway', VARS);
    expect(u.content).toBeUndefined();
    expect(u.findings.map((f) => [f.rule, f.line])).toEqual([
      ['launchd/label', LABEL_LINE],
      ['launchd/program', argLine(0)],
      ['launchd/program', argLine(2)],
    ]);
  });
});

const SLACK = 'https://hooks.slack.com/services/T01ABCDEF/B02GHIJKL/q8Vn3xL2pR7tY5wK9mB4cJ6h';
const SK = 'sk-proj-Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sA';
const secretCases: { name: string; key: string; value: string; why: RegExp }[] = [
  { name: 'a Slack incoming-webhook URL', key: 'SLACK_WEBHOOK_URL', value: SLACK, why: /Slack incoming-webhook URL/ },
  { name: 'an sk- API key', key: 'OPENAI_API_BASE_VALUE', value: SK, why: /API key \(sk-…\)/ },
  { name: 'a literal under a token-named key', key: 'HOOKS_TOKEN', value: 'hunter2hunter2', why: /key "HOOKS_TOKEN" holds a literal value/ },
  { name: 'a URL with a secret query parameter', key: 'NOTIFY_URL', value: 'https://api.example.com/notify?access_token=Q7mB4cJ6hG1dF0sAZq8v', why: /secret query parameter/ },
  { name: 'a Bearer credential', key: 'AUTH_HEADER', value: 'Bearer Zq8vN3xL2pR7tY5wK9mB4', why: /Bearer credential/ },
  { name: 'a GitHub token', key: 'GH', value: 'ghp_Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sAq8vN', why: /GitHub token/ },
  { name: 'a high-entropy literal', key: 'BLOB', value: 'Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sA', why: /high-entropy/ },
];

describe('renderUnit: secrets in the unit', () => {
  it.each(secretCases)('$name in EnvironmentVariables → launchd/secret on its key, the value never shown', ({ key, value, why }) => {
    const tpl = withEnv({ NODE_ENV: 'production', [key]: value });
    const u = renderUnit(FILE, tpl, 'gateway', VARS);
    expect(u.content).toBeUndefined();
    expect(u.findings).toHaveLength(1);
    const f = u.findings[0]!;
    expect(f).toMatchObject({ file: FILE, severity: 'error', rule: 'launchd/secret', line: lineOf(tpl, `<key>${key}</key>`) });
    expect(f.message.startsWith(`EnvironmentVariables.${key}: `)).toBe(true);
    expect(f.message).toContain('(value not shown)');
    expect(f.message).toMatch(why);
    const all = JSON.stringify(u.findings);
    expect(all).not.toContain(value);
    // not even a recognisable piece of it
    expect(all).not.toContain(value.slice(-12));
  });

  it('secrets next to other errors: every finding is reported, none carries a secret value', () => {
    let tpl = withEnv({ SLACK_WEBHOOK_URL: SLACK, OPENAI_KEY_VALUE: SK });
    tpl = edit(tpl, '<string>{{label}}</string>', '<string>wrong</string>');
    tpl = edit(tpl, '<string>/bin/sh</string>', '<string>sh</string>');
    const u = renderUnit(FILE, tpl, 'gateway', VARS);
    expect(u.content).toBeUndefined();
    expect(u.findings.map((f) => f.rule).sort()).toEqual(['launchd/label', 'launchd/program', 'launchd/secret', 'launchd/secret']);
    for (const f of u.findings) {
      expect(f.message).not.toContain(SLACK);
      expect(f.message).not.toContain('q8Vn3xL2pR7tY5wK9mB4cJ6h');
      expect(f.message).not.toContain(SK);
      expect(f.message).not.toContain('Zq8vN3xL2pR7');
    }
  });

  it('a secret passed as a program argument is caught too', () => {
    const tpl = edit(GATEWAY, '<string>{{var_db}}</string>\n  </array>', `<string>{{var_db}}</string>\n    <string>--token=${SK}</string>\n  </array>`);
    const u = renderUnit(FILE, tpl, 'gateway', VARS);
    expect(u.content).toBeUndefined();
    expect(u.findings.map((f) => f.rule)).toEqual(['launchd/secret']);
    expect(u.findings[0]!.message.startsWith('ProgramArguments.5: ')).toBe(true);
    expect(u.findings[0]!.line).toBe(argLine(5));
    expect(JSON.stringify(u.findings)).not.toContain(SK);
  });
});

describe('renderUnit: placeholders', () => {
  it('an unknown placeholder is reported on its own line and column, with the known ones', () => {
    const tpl = edit(GATEWAY, '<string>{{var_db}}/logs/{{tenant}}/gateway.log</string>\n  <key>StandardErrorPath</key>', '<string>{{vardb}}/logs/{{tenant}}/gateway.log</string>\n  <key>StandardErrorPath</key>');
    const u = renderUnit(FILE, tpl, 'gateway', VARS);
    expect(u.content).toBeUndefined();
    const line = lineOf(tpl, '{{vardb}}');
    const lineText = tpl.split('\n')[line - 1]!;
    expect(u.findings).toEqual([
      {
        file: FILE,
        line,
        col: lineText.indexOf('{{vardb}}') + 1,
        severity: 'error',
        rule: 'launchd/placeholder',
        message: 'unknown placeholder {{vardb}} (known: {{tenant}}, {{etc}}, {{var_db}}, {{port}}, {{probe_port}}, {{label}})',
      },
    ]);
  });

  it('several unknown placeholders: one finding each, each on its line', () => {
    let tpl = edit(GATEWAY, '<string>clawops</string>', '<string>{{user}}</string>');
    tpl = edit(tpl, '<integer>10</integer>', '<integer>{{ throttle }}</integer>');
    tpl = edit(tpl, '<string>{{var_db}}/logs/{{tenant}}/gateway.log</string>\n</dict>', '<string>{{}}/gateway.log</string>\n</dict>');
    const u = renderUnit(FILE, tpl, 'gateway', VARS);
    expect(u.content).toBeUndefined();
    expect(u.findings.map((f) => [f.line, f.message.split(' (')[0], f.rule])).toEqual([
      [lineOf(tpl, '{{user}}'), 'unknown placeholder {{user}}', 'launchd/placeholder'],
      [lineOf(tpl, '{{ throttle }}'), 'unknown placeholder {{ throttle }}', 'launchd/placeholder'],
      [lineOf(tpl, '{{}}'), 'unknown placeholder {{}}', 'launchd/placeholder'],
    ]);
    expect(new Set(u.findings.map((f) => f.line)).size).toBe(3);
  });
});

describe('renderUnit: not a property list', () => {
  // xmldom prints parse errors on the console by default: renderUnit must not (lint output is findings only)
  const spies: ReturnType<typeof vi.spyOn>[] = [];
  beforeEach(() => {
    for (const m of ['error', 'warn', 'log'] as const) spies.push(vi.spyOn(console, m).mockImplementation(() => undefined));
  });
  afterEach(() => {
    for (const s of spies) expect(s).not.toHaveBeenCalled();
    spies.length = 0;
    vi.restoreAllMocks();
  });

  const unclosed = GATEWAY.replace('</dict>\n</plist>', '</plist>');
  const cases: { name: string; template: string; line: number; message: string | RegExp }[] = [
    { name: 'empty', template: '', line: 1, message: /^is not a property list: / },
    { name: 'plain text', template: 'Label = ai.openclaw.acme\n', line: 1, message: /^is not a property list: / },
    { name: 'JSON', template: '{"Label": "{{label}}", "ProgramArguments": ["/bin/sh"]}', line: 1, message: /^is not a property list: / },
    // xmldom places it at the end of the line before the stray </plist>
    { name: 'unclosed XML', template: unclosed, line: lineOf(unclosed, '</plist>') - 1, message: 'is not a property list: Opening and ending tag mismatch: "dict" != "plist"' },
    {
      name: 'a mistyped closing tag',
      template: edit(GATEWAY, '<string>clawops</string>', '<string>clawops</strnig>'),
      line: lineOf(GATEWAY, '<string>clawops</string>'),
      message: 'is not a property list: Opening and ending tag mismatch: "string" != "strnig"',
    },
    { name: 'an unknown entity', template: edit(GATEWAY, '<string>clawops</string>', '<string>claw&ops;</string>'), line: lineOf(GATEWAY, '<string>clawops</string>'), message: /^is not a property list: entity not found/ },
    { name: 'an element plists do not have', template: edit(GATEWAY, '  <key>KeepAlive</key>\n  <true/>', '  <key>KeepAlive</key>\n  <yes/>'), line: lineOf(GATEWAY, '<key>KeepAlive</key>') + 1, message: 'is not a property list: Invalid PLIST tag yes' },
    { name: 'XML that is not a plist', template: '<?xml version="1.0"?>\n<launchd><label>{{label}}</label></launchd>\n', line: 1, message: /^is not a property list: / },
    { name: 'a top-level array', template: '<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0">\n<array>\n  <string>{{label}}</string>\n</array>\n</plist>\n', line: 1, message: 'the property list must be a <dict> at the top' },
    { name: 'a top-level string', template: '<plist version="1.0"><string>{{label}}</string></plist>', line: 1, message: 'the property list must be a <dict> at the top' },
    { name: 'a top-level integer', template: '<plist version="1.0"><integer>{{port}}</integer></plist>', line: 1, message: 'the property list must be a <dict> at the top' },
    { name: 'an empty plist', template: '<plist version="1.0"></plist>', line: 1, message: 'the property list must be a <dict> at the top' },
  ];
  it.each(cases)('$name → one launchd/not-a-plist finding on line $line, nothing on the console', ({ template, line, message }) => {
    const u = renderUnit(FILE, template, 'gateway', VARS);
    expect(u.content).toBeUndefined();
    expect(u.findings).toHaveLength(1);
    expect(u.findings[0]).toMatchObject({ file: FILE, line, severity: 'error', rule: 'launchd/not-a-plist' });
    if (typeof message === 'string') expect(u.findings[0]!.message).toBe(message);
    else expect(u.findings[0]!.message).toMatch(message);
    // one line, whatever the parser said
    expect(u.findings[0]!.message).not.toContain('\n');
  });

  it('escaped XML (&amp; &lt;) in the template itself is fine', () => {
    const u = renderUnit(FILE, withEnv({ GREETING: 'fish &amp; chips &lt;3' }), 'gateway', VARS);
    expect(u.findings).toEqual([]);
    expect((plist.parse(u.content!.toString('utf8')) as { EnvironmentVariables: Record<string, string> }).EnvironmentVariables.GREETING).toBe('fish & chips <3');
  });
});

describe('clawops lint / render with launchd templates', () => {
  async function lint(edits: Parameters<typeof exampleRepo>[0]): Promise<{ code: number; out: string; lines: string[] }> {
    const r = await runCli(['lint', exampleRepo(edits)]);
    return { code: r.code, out: r.stdout + r.stderr, lines: findingLines(r.stdout + r.stderr) };
  }

  it('the example repo lints clean (ports exactly 120 apart are fine)', async () => {
    const r = await lint({});
    expect(r.code).toBe(0);
    expect(r.lines).toEqual([]);
  });

  it('a broken gateway template (relative ProgramArguments[0]) is ONE finding naming launchd/gateway.plist, not one per tenant', async () => {
    const r = await lint({ 'launchd/gateway.plist': GATEWAY.replace('<string>/bin/sh</string>', '<string>sh</string>') });
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([`launchd/gateway.plist:${argLine(0)}:5: error: ProgramArguments[0] must be an absolute path, not "sh" [launchd/program]`]);
  });

  it('a gateway template that is not a plist is ONE finding', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const r = await lint({ 'launchd/gateway.plist': 'not xml at all\n' });
      expect(r.code).toBe(1);
      expect(r.lines).toHaveLength(1);
      expect(r.lines[0]).toMatch(/^launchd\/gateway\.plist:1:1: error: is not a property list: .* \[launchd\/not-a-plist\]$/);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it('an unknown placeholder is ONE finding with its line', async () => {
    const tpl = GATEWAY.replace('<string>clawops</string>', '<string>{{user}}</string>');
    const r = await lint({ 'launchd/gateway.plist': tpl });
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(new RegExp(`^launchd/gateway\\.plist:${lineOf(tpl, '{{user}}')}:\\d+: error: unknown placeholder \\{\\{user\\}\\} .*\\[launchd/placeholder\\]$`));
  });

  it('a secret in the template is ONE finding, and the value is nowhere in the output', async () => {
    const r = await lint({ 'launchd/gateway.plist': withEnv({ SLACK_WEBHOOK_URL: SLACK }) });
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^launchd\/gateway\.plist:\d+:\d+: error: EnvironmentVariables\.SLACK_WEBHOOK_URL: .*\[launchd\/secret\]$/);
    expect(r.out).not.toContain(SLACK);
    expect(r.out).not.toContain('q8Vn3xL2pR7tY5wK9mB4cJ6h');
  });

  // the Label finding is worded without the tenant, so one broken template is one finding
  it('a gateway template with a fixed Label is ONE finding, not one per tenant', async () => {
    const r = await lint({ 'launchd/gateway.plist': GATEWAY.replace('<string>{{label}}</string>', '<string>com.example.gateway</string>') });
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(new RegExp(`^launchd/gateway\\.plist:${LABEL_LINE}:\\d+: error: .*\\[launchd/label\\]$`));
  });

  it('an unknown file launchd/extra.plist is a finding', async () => {
    const r = await lint({ 'launchd/extra.plist': GATEWAY });
    expect(r.code).toBe(1);
    expect(r.lines).toEqual(['launchd/extra.plist:1:1: error: unknown launchd template; expected launchd/gateway.plist or launchd/probe.plist or launchd/notifier.plist [launchd/unknown-template]']);
  });

  it('without launchd/gateway.plist: a warning, exit 0', async () => {
    const r = await lint({ 'launchd/gateway.plist': null });
    expect(r.code).toBe(0);
    expect(r.lines).toEqual(['launchd/gateway.plist:1:1: warning: no gateway unit template: apply swaps configs but cannot (re)start gateways or gate on their health [launchd/missing-template]']);
  });

  it('without launchd/ at all: the same warning, exit 0; the releases then carry no units or wrapper', async () => {
    const repo = exampleRepo({ launchd: null });
    const r = await runCli(['lint', repo]);
    expect(r.code).toBe(0);
    expect(findingLines(r.stdout)).toEqual(['launchd/gateway.plist:1:1: warning: no gateway unit template: apply swaps configs but cannot (re)start gateways or gate on their health [launchd/missing-template]']);
    const t = buildDesired(readTreeSync(repo)).tenants.get('acme')!;
    expect(t.units).toEqual([]);
    expect(t.probePort).toBeUndefined();
    expect(t.files.map((f) => f.path).filter((p) => p.startsWith('launchd/') || p === 'bin/gateway-run' || p === 'secrets.list')).toEqual([]);
  });

  it('without the probe template only: no finding, gateway unit and wrapper still shipped', async () => {
    const repo = exampleRepo({ 'launchd/probe.plist': null });
    const r = await runCli(['lint', repo]);
    expect(r.code).toBe(0);
    expect(findingLines(r.stdout)).toEqual([]);
    const t = buildDesired(readTreeSync(repo)).tenants.get('acme')!;
    expect(t.units).toEqual([{ kind: 'gateway', label: 'ai.openclaw.acme', path: 'launchd/ai.openclaw.acme.plist' }]);
    expect(t.probePort).toBeUndefined();
    expect(t.files.map((f) => f.path)).toEqual(expect.arrayContaining(['bin/gateway-run', 'secrets.list', 'launchd/ai.openclaw.acme.plist']));
  });

  it('the example: units, wrapper and secrets.list in every release; port and probe port', () => {
    const d = buildDesired(readTreeSync(EXAMPLE));
    const t = d.tenants.get('acme')!;
    expect(t.port).toBe(18809);
    expect(t.probePort).toBe(18809 + 115);
    expect(t.units.map((u) => u.label)).toEqual(['ai.openclaw.acme', 'ai.openclaw.acme.probe']);
    const file = (p: string): string => t.files.find((f) => f.path === p)!.content.toString('utf8');
    expect(file('secrets.list')).toBe('env CLAWOPS_SECRET_HOOKS_TOKEN hooks.token\nfile - token.current\n');
    expect(file('bin/gateway-run').startsWith('#!/bin/sh\n')).toBe(true);
    expect(file('launchd/ai.openclaw.acme.plist')).toBe(renderUnit(FILE, GATEWAY, 'gateway', VARS).content!.toString('utf8'));
  });

  it('ports 20 apart on one node → nodes/port-overlap naming both tenants (once per node that has both)', async () => {
    const overrides = readFileSync(join(EXAMPLE, 'tenants/acme/gateway.d/20-overrides.yaml'), 'utf8');
    const r = await lint({ 'tenants/acme/gateway.d/20-overrides.yaml': edit(overrides, 'port: 18809', 'port: 18909') });
    expect(r.code).toBe(1);
    const overlap = r.lines.filter((l) => l.endsWith('[nodes/port-overlap]'));
    expect(overlap).toHaveLength(2);
    expect(r.lines).toEqual(overlap);
    expect(overlap[0]).toMatch(/^nodes\.yaml:\d+:\d+: error: node "gw-1": tenants "acme" \(port 18909\) and "globex" \(port 18929\) are less than 120 ports apart/);
    expect(overlap[1]).toMatch(/^nodes\.yaml:\d+:\d+: error: node "gw-2": tenants "acme" \(port 18909\) and "globex" \(port 18929\) are less than 120 ports apart/);
  });

  it('ports 119 apart is still an overlap', async () => {
    const overrides = readFileSync(join(EXAMPLE, 'tenants/acme/gateway.d/20-overrides.yaml'), 'utf8');
    const r = await lint({ 'tenants/acme/gateway.d/20-overrides.yaml': edit(overrides, 'port: 18809', 'port: 18810') });
    expect(r.code).toBe(1);
    expect(r.lines.filter((l) => l.includes('"acme" (port 18810) and "globex" (port 18929)') && l.endsWith('[nodes/port-overlap]'))).toHaveLength(2);
  });

  it('`clawops render tenants-example --tenant acme` is unaffected by the unit templates', async () => {
    const r = await runCli(['render', EXAMPLE, '--tenant', 'acme']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const d = buildDesired(readTreeSync(EXAMPLE));
    expect(r.stdout).toBe(d.tenants.get('acme')!.files.find((f) => f.path === 'openclaw.json')!.content.toString('utf8'));
    const cfg = JSON.parse(r.stdout) as { gateway: { port: number } };
    expect(cfg.gateway.port).toBe(18809);
    expect(r.stdout).not.toMatch(/launchd|gateway-run|ai\.openclaw/);
    // the same bytes when the repo has no launchd/ at all
    const bare = await runCli(['render', exampleRepo({ launchd: null }), '--tenant', 'acme']);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toBe(r.stdout);
  });
});
