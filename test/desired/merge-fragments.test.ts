import { describe, expect, it } from 'vitest';
import { leafPaths, mergeFragments, sortFragments, type Fragment } from '../../reconciler/desired/merge-fragments.js';
import { parseYamlFile } from '../../reconciler/desired/yaml-doc.js';

function frag(name: string, yaml: string): Fragment {
  const parsed = parseYamlFile(`d/${name}`, Buffer.from(yaml));
  if ('findings' in parsed) throw new Error(parsed.findings[0]!.message);
  return { file: `d/${name}`, name, order: BigInt(name.split('-')[0]!), doc: parsed.doc };
}

describe('merge-fragments', () => {
  const cases: [string, [string, string], [string, string], unknown][] = [
    ['maps deep-merge', ['10-a.yaml', 'a:\n  x: 1\n'], ['20-b.yaml', 'a:\n  y: 2\n'], { a: { x: 1, y: 2 } }],
    ['scalars are replaced', ['10-a.yaml', 'a:\n  x: 1\n'], ['20-b.yaml', 'a:\n  x: 2\n'], { a: { x: 2 } }],
    ['lists are replaced, not appended', ['10-a.yaml', 'a: [1, 2]\n'], ['20-b.yaml', 'a: [3]\n'], { a: [3] }],
    ['a scalar can replace a map', ['10-a.yaml', 'a:\n  x: 1\n'], ['20-b.yaml', 'a: off\n'], { a: 'off' }],
    ['a map can replace a scalar', ['10-a.yaml', 'a: 1\n'], ['20-b.yaml', 'a:\n  x: 1\n'], { a: { x: 1 } }],
    ['order is numeric, not lexical', ['9-a.yaml', 'a: nine\n'], ['10-b.yaml', 'a: ten\n'], { a: 'ten' }],
  ];
  it.each(cases)('%s', (_n, [an, ay], [bn, by], expected) => {
    // feed them in reverse to prove the input order does not matter
    expect(mergeFragments([frag(bn, by), frag(an, ay)]).value).toEqual(expected);
  });

  it('same number: name order breaks the tie only for disjoint keys', () => {
    const r = mergeFragments([frag('10-b.yaml', 'b: 1\n'), frag('10-a.yaml', 'a: 1\n')]);
    expect(r.findings).toEqual([]);
    expect(Object.keys(r.value)).toEqual(['a', 'b']);
  });

  it('same number, overlapping key (one sets a map, the other a leaf in it) conflicts', () => {
    const r = mergeFragments([frag('10-a.yaml', 'a:\n  x: 1\n'), frag('10-b.yaml', 'a: flat\n')]);
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]!.message).toContain('key "a" is set by both d/10-a.yaml and d/10-b.yaml');
  });

  it('byte order, not locale order, for names', () => {
    const names = ['10-b.yaml', '10-B.yaml', '10-a.yaml', '2-z.yaml'];
    expect(sortFragments(names.map((name) => ({ name, order: BigInt(name.split('-')[0]!) }))).map((x) => x.name)).toEqual(['2-z.yaml', '10-B.yaml', '10-a.yaml', '10-b.yaml']);
  });

  it('leafPaths treats lists and empty maps as leaves', () => {
    expect(leafPaths({ a: { b: [1], c: {} }, d: 1 })).toEqual([['a', 'b'], ['a', 'c'], ['d']]);
  });
});
