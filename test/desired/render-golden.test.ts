/** Golden output of tenants-example, and determinism whatever order the tree is listed in. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildDesired } from '../../reconciler/desired/build-desired.js';
import type { RepoSnapshot } from '../../reconciler/desired/snapshot.js';
import { readTree } from '../../reconciler/source/read-tree.js';
import { EXAMPLE } from '../helpers/repo.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function golden(name: string, actual: string): void {
  const p = join(GOLDEN, name);
  if (UPDATE || !existsSync(p)) {
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, actual);
  }
  expect(actual, `golden file ${name} (UPDATE_GOLDEN=1 to refresh after an intended change)`).toBe(readFileSync(p, 'utf8'));
}

/** A seeded PRNG so a failing shuffle can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled(s: RepoSnapshot, seed: number): RepoSnapshot {
  const rnd = mulberry32(seed);
  const list = [...s.entries.entries()];
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return { ...s, entries: new Map(list) };
}

function fingerprint(s: RepoSnapshot): string {
  const d = buildDesired(s);
  const parts: string[] = [];
  for (const [id, t] of d.tenants) {
    parts.push(`${id} ${t.releaseId}`);
    for (const f of t.files) parts.push(`  ${f.path} ${f.sha256}`);
  }
  for (const f of d.findings) parts.push(JSON.stringify(f));
  parts.push(JSON.stringify(d.nodes));
  return parts.join('\n');
}

describe('render: tenants-example', () => {
  it('matches the golden rendered documents and release ids', async () => {
    const d = buildDesired(await readTree(EXAMPLE));
    expect(d.findings).toEqual([]);
    expect([...d.tenants.keys()]).toEqual(['acme', 'globex', 'initech']);
    const ids: Record<string, string> = {};
    for (const [id, t] of d.tenants) {
      ids[id] = t.releaseId;
      // the rendered documents, the units rendered from launchd/ and what the wrapper checks (bin/gateway-run is a constant)
      const renderedHere = (p: string): boolean => p.endsWith('.json') || p.startsWith('launchd/') || p === 'secrets.list';
      for (const f of t.files.filter((x) => renderedHere(x.path))) golden(`${id}/${f.path}`, f.content.toString('utf8'));
      expect(t.files.map((f) => f.path)).toMatchSnapshot();
    }
    golden('release-ids.json', `${JSON.stringify(ids, null, 2)}\n`);
  });

  it('fragments ship byte-identical to git, rendered files beside them', async () => {
    const d = buildDesired(await readTree(EXAMPLE));
    const acme = d.tenants.get('acme')!;
    const base = acme.files.find((f) => f.path === 'gateway.d/10-base.yaml')!;
    expect(base.content.equals(readFileSync(join(EXAMPLE, 'tenants/acme/gateway.d/10-base.yaml')))).toBe(true);
    expect(acme.files.map((f) => f.path)).toContain('openclaw.json');
  });

  it('10-base and 20-overrides compose: maps deep-merge, scalars are replaced by the later fragment', async () => {
    const acme = buildDesired(await readTree(EXAMPLE)).tenants.get('acme')!;
    const gw = acme.openclaw.gateway as Record<string, unknown>;
    expect(gw.port).toBe(18809); // 20-overrides wins
    expect(gw.bind).toBe('loopback'); // only 10-base sets it
    expect(gw.controlUi).toEqual({ enabled: true, basePath: '/acme' });
    expect((gw.auth as Record<string, unknown>).rateLimit).toEqual({ maxAttempts: 10, windowMs: 60000, lockoutMs: 300000 });
    expect(acme.provenance['gateway.port']).toEqual({ file: 'tenants/acme/gateway.d/20-overrides.yaml', line: 3, col: 9 });
    expect(acme.provenance['gateway.bind']?.file).toBe('tenants/acme/gateway.d/10-base.yaml');
  });

  it('secrets are references, never values', async () => {
    const acme = buildDesired(await readTree(EXAMPLE)).tenants.get('acme')!;
    const text = acme.files.find((f) => f.path === 'openclaw.json')!.content.toString();
    expect(JSON.parse(text).gateway.auth.token).toEqual({ source: 'file', provider: 'clawops_token_current', id: 'value' });
    expect(JSON.parse(text).secrets.providers.clawops_token_current).toEqual({
      source: 'file',
      // under the node's var_db, which the wrapper exports (a local node's / is a directory)
      path: '${CLAWOPS_VAR_DB}/secrets/acme/token.current',
      mode: 'singleValue',
    });
    expect(JSON.parse(text).hooks.token).toBe('${CLAWOPS_SECRET_HOOKS_TOKEN}');
    expect(acme.secretRefs).toEqual(['hooks.token', 'token.current', 'webhook.crm']);
  });

  it('a tenant whose files did not change keeps its release id; a change to one fragment changes only that tenant', async () => {
    const before = buildDesired(await readTree(EXAMPLE));
    const snap = await readTree(EXAMPLE);
    const p = 'tenants/globex/gateway.d/20-agents.yaml';
    const content = Buffer.from('agents:\n  defaults:\n    timeoutSeconds: 900\n');
    snap.entries.set(p, { type: 'file', content, size: content.length });
    const after = buildDesired(snap);
    expect(after.tenants.get('acme')!.releaseId).toBe(before.tenants.get('acme')!.releaseId);
    expect(after.tenants.get('initech')!.releaseId).toBe(before.tenants.get('initech')!.releaseId);
    expect(after.tenants.get('globex')!.releaseId).not.toBe(before.tenants.get('globex')!.releaseId);
  });

  it('shuffled directory listings give byte-identical output', async () => {
    const snap = await readTree(EXAMPLE);
    const expected = fingerprint(snap);
    for (let seed = 1; seed <= 25; seed++) expect(fingerprint(shuffled(snap, seed))).toBe(expected);
    // and with errors present, the findings come out in the same order too
    const bad = await readTree(EXAMPLE);
    const dup = Buffer.from('logging:\n  level: warn\n');
    bad.entries.set('tenants/acme/gateway.d/20-z.yaml', { type: 'file', content: dup, size: dup.length });
    bad.entries.set('tenants/acme/gateway.d/notes.yaml', { type: 'file', content: dup, size: dup.length });
    const badExpected = fingerprint(bad);
    for (let seed = 1; seed <= 10; seed++) expect(fingerprint(shuffled(bad, seed))).toBe(badExpected);
  });
});
