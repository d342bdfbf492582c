/** The text report escapes every string that comes from a node, the repo or an error; JSON carries the escaped patches. */
import { describe, expect, it } from 'vitest';
import { unifiedDiff } from '../../reconciler/plan/file-diff.js';
import { plan } from '../../reconciler/plan/plan.js';
import type { Plan } from '../../reconciler/plan/types.js';
import { planJson, renderText, type ReportMeta } from '../../reconciler/report/plan-report.js';
import { exampleDesired, nodeObservation, ok, sha, tenantOf } from '../plan/fixtures.js';

/** every C0 control but LF, DEL, and C1 (the text report is multi-line, so LF is allowed between lines) */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const EVIL = '\x1b]0;pwned\x07\x1b[2J\u009b1A\r\nFORGED line';

function meta(over: Partial<ReportMeta['source']> = {}): ReportMeta {
  return { source: { origin: 'git@git.example.internal:infra.git', ref: 'main', commit: 'c0ffee0123456789', dirty: false, ...over }, lock: exampleDesired().lock };
}

function hostilePlan(): Plan {
  const node = `gw-1${EVIL}`;
  return {
    inSync: false,
    worst: 'Drifted',
    nodes: [
      {
        node,
        canary: true,
        status: 'Drifted',
        blocked: false,
        tenants: [{ tenant: `acme${EVIL}`, state: 'Drifted' }],
        actions: [{ kind: 'prune', tenant: `acme${EVIL}` }],
        issues: [
          { category: 'drift', severity: 'error', reason: 'Drifted', node, tenant: `acme${EVIL}`, file: `x${EVIL}`, message: `openclaw.json${EVIL} hand-edited on the node`, difference: true },
          { category: 'unreachable', severity: 'error', reason: 'SshFailed', node, message: `${node}: ssh: ${EVIL}`, difference: true },
        ],
        diffs: [{ tenant: `acme${EVIL}`, path: `notes${EVIL}.txt`, change: 'modified', patch: unifiedDiff(`acme/notes${EVIL}.txt`, Buffer.from('a\n'), Buffer.from(`a${EVIL}\n`)) }],
      },
    ],
  };
}

describe('renderText: control characters never reach the terminal', () => {
  it('issue messages, node and tenant names, paths, patches and the source line are escaped', () => {
    const text = renderText(hostilePlan(), meta({ origin: `https://git.example.internal/${EVIL}`, ref: `main${EVIL}` }));
    expect(RAW_CONTROL.test(text), JSON.stringify(text)).toBe(false);
    // nothing a node said can start a line of its own
    expect(text.split('\n').filter((l) => l.startsWith('FORGED'))).toEqual([]);
    expect(text).toContain('\\e]0;pwned\\x07\\e[2J\\x9b1A\\r\\nFORGED line');
    expect(text).toMatch(/^clawops diff {2}https:\/\/git\.example\.internal\/\\e\]0;pwned/);
    expect(text).toMatch(/^ {2}x gw-1\\e.*\/acme\\e.*: openclaw\.json\\e.* hand-edited on the node$/m);
    expect(text).toMatch(/^ {2}x gw-1\\e.*: ssh: \\e\]0;pwned.*FORGED line$/m);
    expect(text).toMatch(/^# acme\\e.*\/notes\\e.*\.txt \(modified\) on gw-1\\e.*FORGED line$/m);
    expect(text).toMatch(/^ {2}gw-1\\e.* Drifted \[canary\]: would prune acme\\e.*FORGED line$/m);
  });

  it('a patch that was not escaped upstream is escaped here (escapeControl is idempotent on escaped ones)', () => {
    const p = hostilePlan();
    p.nodes[0]!.diffs = [{ tenant: 'acme', path: 'x', change: 'modified', patch: `--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b${EVIL}\n` }];
    const text = renderText(p, meta());
    expect(RAW_CONTROL.test(text)).toBe(false);
    expect(text).toContain('+b\\e]0;pwned\\x07');
    // patches keep their own newlines
    expect(text).toContain('-a\n+b');
    const escaped = renderText(hostilePlan(), meta());
    expect(escaped).toContain('+a\\e]0;pwned\\x07\\e[2J\\x9b1A\\r\n+FORGED line\n'); // LF stays a line break inside a patch, a line of the diff
    expect(escaped).not.toContain('\\\\e');
  });

  it('ordinary reports are unchanged by escaping', () => {
    const d = exampleDesired();
    const p = plan(d, d.nodes.map((n) => ok(nodeObservation(d, n.name, n.tenants))));
    const text = renderText(p, meta());
    expect(text).not.toContain('\\');
    expect(text).toContain('In sync: 3 node(s)');
  });
});

describe('planJson: patches are the escaped, redacted ones', () => {
  it('an ESC sequence and a token appended to a node file', () => {
    const d = exampleDesired();
    const acme = tenantOf(d, 'acme');
    const rendered = acme.files.find((f) => f.path === 'openclaw.json')!;
    const token = 'Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sA';
    const edited = Buffer.from(`${rendered.content.toString().trimEnd()}\n\x1b]0;title\x07\x1b[2J ${token}\n`);
    const observed = d.nodes.map((n) => {
      const o = nodeObservation(d, n.name, n.tenants);
      if (n.name === 'gw-1') {
        o.tenants.acme!.files['openclaw.json'] = sha(edited);
        o.tenants.acme!.contents['openclaw.json'] = edited;
      }
      return ok(o);
    });
    const p = plan(d, observed);
    const json = planJson(p, meta());
    const gw1 = json.nodes.find((n) => (n as { node: string }).node === 'gw-1') as { diffs: { patch: string }[] };
    expect(gw1.diffs).toHaveLength(1);
    const patch = gw1.diffs[0]!.patch;
    expect(RAW_CONTROL.test(patch)).toBe(false);
    expect(patch).not.toContain(token);
    expect(patch).toContain('(secret)');
    const text = JSON.stringify(json);
    expect(text).not.toContain('\\u001b');
    expect(text).not.toContain(token);
    expect(renderText(p, meta())).not.toMatch(RAW_CONTROL);
  });
});
