/**
 * Tenants that share fragments byte for byte: each set of bytes is parsed, scanned and validated once per build
 * (build-desired's document cache), and that must change nothing anyone sees: the same releases as building each
 * tenant alone, no object shared between tenants, and every copy of a bad fragment reported under its own name.
 */
import { describe, expect, it } from 'vitest';
import { buildDesired, formatFinding } from '../../reconciler/desired/build-desired.js';
import type { RepoSnapshot, SnapshotEntry } from '../../reconciler/desired/snapshot.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';
import { EXAMPLE } from '../helpers/repo.js';

/** tenants-example with `copies` more tenants whose trees are acme's, byte for byte; `edit` changes files after. */
function withCopies(copies: string[], edit: Record<string, string> = {}): RepoSnapshot {
  const snap = readTreeSync(EXAMPLE);
  const entries = new Map(snap.entries);
  for (const [p, e] of snap.entries) {
    if (p !== 'tenants/acme' && !p.startsWith('tenants/acme/')) continue;
    for (const c of copies) entries.set(`tenants/${c}${p.slice('tenants/acme'.length)}`, e);
  }
  for (const [p, text] of Object.entries(edit)) {
    const content = Buffer.from(text);
    entries.set(p, { type: 'file', content, size: content.length } satisfies SnapshotEntry);
  }
  return { ...snap, entries };
}

/** Every object and array reachable from `v`. */
function objects(v: unknown, out = new Set<object>()): Set<object> {
  if (v !== null && typeof v === 'object' && !out.has(v)) {
    out.add(v);
    for (const x of Object.values(v)) objects(x, out);
  }
  return out;
}

describe('fragments shared byte for byte between tenants', () => {
  it('give each tenant the release it gets when built alone', () => {
    const snap = withCopies(['acme-b', 'acme-c']);
    const all = buildDesired(snap);
    expect(all.findings.filter((f) => f.severity === 'error').map(formatFinding)).toEqual([]);
    for (const id of ['acme', 'acme-b', 'acme-c']) {
      const alone = buildDesired(snap, { tenant: id }).tenants.get(id)!;
      const t = all.tenants.get(id)!;
      expect(t.releaseId).toBe(alone.releaseId);
      expect(t.files.map((f) => [f.path, f.sha256])).toEqual(alone.files.map((f) => [f.path, f.sha256]));
      expect({ ...t, files: undefined }).toEqual({ ...alone, files: undefined });
    }
  });

  it('share no object between tenants (a caller changing one tenant changes no other)', () => {
    const all = buildDesired(withCopies(['acme-b']));
    const a = all.tenants.get('acme')!;
    const b = all.tenants.get('acme-b')!;
    const mine = objects([a.openclaw, a.doctor, a.webhook, a.provenance]);
    const shared = [...objects([b.openclaw, b.doctor, b.webhook, b.provenance])].filter((o) => mine.has(o));
    expect(shared).toEqual([]);
  });

  it('report a bad fragment under every name it has, as often as it is there', () => {
    const bad = 'gateway:\n  auth:\n    token: sk-abcdefghijklmnopqrstuvwxyz012345\n  port: "x"\n';
    const edit = { 'tenants/acme/gateway.d/30-bad.yaml': bad, 'tenants/acme-b/gateway.d/30-bad.yaml': bad, 'tenants/acme-c/gateway.d/30-bad.yaml': bad };
    const lines = buildDesired(withCopies(['acme-b', 'acme-c'], edit)).findings.map(formatFinding);
    for (const id of ['acme', 'acme-b', 'acme-c']) {
      const mine = lines.filter((l) => l.startsWith(`tenants/${id}/gateway.d/30-bad.yaml:`));
      expect(mine.some((l) => l.includes('[secret/literal]')), mine.join('\n')).toBe(true);
      expect(mine.length).toBe(lines.filter((l) => l.startsWith('tenants/acme/gateway.d/30-bad.yaml:')).length);
    }
  });
});
