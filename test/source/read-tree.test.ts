/**
 * readTreeSync reads only what clawops reads (root files, tenants/, fixtures/, launchd/) and refuses a tree whose such
 * files add up past a bound, in one line naming it; everything else is listed by size, never read.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IoError } from '../../reconciler/errors.js';
import { readTreeSync } from '../../reconciler/source/read-tree.js';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'read-tree-'));
  for (const [p, body] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), body);
  }
  return root;
}

describe('readTreeSync', () => {
  it('reads the root files and tenants/, fixtures/, launchd/; lists the rest by size without reading it', () => {
    const root = tree({ 'clawops.yaml': 'a', 'README.md': 'readme', 'tenants/acme/gateway.d/10-base.yaml': 'x: 1\n', 'fixtures/webhooks/acme/a.json': '{}', 'launchd/gateway.plist': 'p', 'docs/big.txt': 'd'.repeat(5000) });
    const e = readTreeSync(root).entries;
    const body = (p: string): string => { const x = e.get(p); return x?.type === 'file' ? x.content.toString() : '?'; };
    expect(body('clawops.yaml')).toBe('a');
    expect(body('README.md')).toBe('readme');
    expect(body('tenants/acme/gateway.d/10-base.yaml')).toBe('x: 1\n');
    expect(body('fixtures/webhooks/acme/a.json')).toBe('{}');
    expect(body('launchd/gateway.plist')).toBe('p');
    expect(e.get('docs/big.txt')).toEqual({ type: 'file', content: Buffer.alloc(0), size: 5000 });
  });

  it('refuses a tree whose read files add up past the bound, one line naming the bound and where it was reached', () => {
    const root = tree({ 'clawops.yaml': 'a'.repeat(600), 'tenants/acme/gateway.d/10-base.yaml': 'b'.repeat(600), 'docs/c.txt': 'c'.repeat(5000) });
    expect(() => readTreeSync(root, 1000)).toThrow(IoError);
    try {
      readTreeSync(root, 1000);
    } catch (e) {
      expect((e as Error).message).toMatch(/add up to more than 0\.0009\d* MiB \(at (clawops\.yaml|tenants\/acme\/gateway\.d\/10-base\.yaml)\); refusing the tree$/);
      expect((e as Error).message).not.toMatch(/\n/);
    }
    // what is not read does not count
    expect(() => readTreeSync(root, 1300)).not.toThrow();
  });
});
