/**
 * A manifest found on a node vouches for the files it lists only when its file list hashes to the release id it lives
 * under (releaseIdOf, the rule build-desired names releases by): an entry added on the node, a hash changed, or a
 * manifest moved to another release's dir does not.
 */
import { describe, expect, it } from 'vitest';
import { buildManifest, manifestVouchesFor, releaseIdOf } from '../../reconciler/release-manifest.js';
import { exampleDesired, tenantOf } from './fixtures.js';

describe('release ids and manifests', () => {
  const t = tenantOf(exampleDesired(), 'acme');
  const m = buildManifest(t, { createdAt: '2026-11-29T00:00:00Z', actor: 'test' });

  it('the id build-desired gave a release is releaseIdOf its files, in any order', () => {
    expect(releaseIdOf(t.files)).toBe(t.releaseId);
    expect(releaseIdOf([...t.files].reverse())).toBe(t.releaseId);
  });

  it('the manifest clawops wrote vouches for its release', () => {
    expect(manifestVouchesFor(m, t.releaseId)).toBe(true);
  });

  it('an entry added, a hash changed, an entry dropped, or another release id: no', () => {
    const sha = 'a'.repeat(64);
    expect(manifestVouchesFor({ ...m, files: { ...m.files, 'gateway.d/99-local.yaml': sha } }, t.releaseId)).toBe(false);
    const [first] = Object.keys(m.files);
    expect(manifestVouchesFor({ ...m, files: { ...m.files, [first!]: sha } }, t.releaseId)).toBe(false);
    const { [first!]: _gone, ...fewer } = m.files;
    expect(manifestVouchesFor({ ...m, files: fewer }, t.releaseId)).toBe(false);
    expect(manifestVouchesFor(m, 'ffffffffffffffff')).toBe(false);
    expect(manifestVouchesFor({ ...m, release_id: 'ffffffffffffffff' }, t.releaseId)).toBe(false);
  });
});
