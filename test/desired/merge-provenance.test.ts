/**
 * Provenance (where each merged key was last set) after the merge stopped scanning every key for every leaf: the same
 * provenance, key order included, as the straightforward scan it replaced, over seeded random fragment stacks that
 * replace maps with scalars and lists, scalars with maps, use empty maps and keys with dots in them.
 */
import { describe, expect, it } from 'vitest';
import { leafPaths, mergeFragments, sortFragments, type Fragment, type MergeResult } from '../../reconciler/desired/merge-fragments.js';
import { parseYamlFile } from '../../reconciler/desired/yaml-doc.js';

function frag(name: string, yaml: string): Fragment {
  const parsed = parseYamlFile(`d/${name}`, Buffer.from(yaml));
  if ('findings' in parsed) throw new Error(`${parsed.findings[0]!.message}\n${yaml}`);
  return { file: `d/${name}`, name, order: BigInt(name.split('-')[0]!), doc: parsed.doc };
}

/** The scan the merge did before: every provenance key checked for every leaf of every fragment. */
function referenceProvenance(fragments: Fragment[]): MergeResult['provenance'] {
  const provenance: MergeResult['provenance'] = {};
  for (const f of sortFragments(fragments)) {
    const v = f.doc.value;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) continue;
    for (const p of leafPaths(v)) {
      const key = p.join('.');
      for (const existing of Object.keys(provenance)) if (existing.startsWith(`${key}.`)) delete provenance[existing];
      const pos = f.doc.locate(p);
      provenance[key] = { file: f.file, line: pos.line, col: pos.col };
    }
  }
  return provenance;
}

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random YAML map over a small key alphabet (so fragments collide), some keys dotted, nested up to `depth`. */
function randomMap(rnd: () => number, depth: number, indent = ''): string {
  const keys = ['a', 'b', 'c', 'a.b', 'b.c'];
  const n = 1 + Math.floor(rnd() * 3);
  const used = new Set<string>();
  let out = '';
  for (let i = 0; i < n; i++) {
    const k = keys[Math.floor(rnd() * keys.length)]!;
    if (used.has(k)) continue;
    used.add(k);
    const kind = depth > 0 ? Math.floor(rnd() * 5) : Math.floor(rnd() * 3);
    const key = k.includes('.') ? `"${k}"` : k;
    if (kind === 0) out += `${indent}${key}: ${Math.floor(rnd() * 100)}\n`;
    else if (kind === 1) out += `${indent}${key}: [${Math.floor(rnd() * 9)}, x]\n`;
    else if (kind === 2) out += `${indent}${key}: {}\n`;
    else out += `${indent}${key}:\n${randomMap(rnd, depth - 1, `${indent}  `)}`;
  }
  return out === '' ? `${indent}a: 1\n` : out;
}

describe('merge provenance', () => {
  it('is what scanning every key for every leaf gives, on 300 random fragment stacks', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = mulberry32(seed);
      const frags = Array.from({ length: 2 + Math.floor(rnd() * 6) }, (_, i) => frag(`${10 + i * 5}-f${i}.yaml`, randomMap(rnd, 3)));
      const want = referenceProvenance(frags);
      const got = mergeFragments(frags).provenance;
      expect(Object.entries(got), `seed ${seed}`).toEqual(Object.entries(want));
    }
  });

  it('drops the provenance of a replaced map, and keeps it where a map is merged into', () => {
    const r = mergeFragments([frag('10-a.yaml', 'a:\n  x: 1\n  y:\n    z: 2\n'), frag('20-b.yaml', 'a:\n  y: off\n'), frag('30-c.yaml', 'a:\n  w: 3\n')]);
    expect(Object.keys(r.provenance)).toEqual(['a.x', 'a.y', 'a.w']);
    expect(r.provenance['a.y']).toEqual({ file: 'd/20-b.yaml', line: 2, col: 6 });
  });
});
