/** Lay a tenant's desired release out under an /etc/openclaw directory the way apply does, without clawops. */
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DesiredState } from '../../reconciler/desired/types.js';
import { buildManifest, manifestBytes, MANIFEST_PATH } from '../../reconciler/release-manifest.js';

/** Writes releases/<tenant>/<id>/ with its manifest and points tenants/<tenant> at it (rename of a temp link). */
export function layRelease(etc: string, desired: DesiredState, tenant: string, meta: { commit?: string } = {}): { rel: string; releaseId: string } {
  const t = desired.tenants.get(tenant);
  if (!t) throw new Error(`no tenant ${tenant}`);
  const rel = join(etc, 'releases', tenant, t.releaseId);
  rmSync(rel, { recursive: true, force: true });
  for (const f of t.files) {
    mkdirSync(dirname(join(rel, f.path)), { recursive: true });
    writeFileSync(join(rel, f.path), f.content);
  }
  mkdirSync(dirname(join(rel, MANIFEST_PATH)), { recursive: true });
  writeFileSync(join(rel, MANIFEST_PATH), manifestBytes(buildManifest(t, { ...meta, createdAt: '2026-11-25T00:00:00Z', actor: 'test' })));
  mkdirSync(join(etc, 'tenants'), { recursive: true });
  const link = join(etc, 'tenants', tenant);
  const tmp = `${link}.tmp-test`;
  rmSync(tmp, { force: true });
  symlinkSync(`../releases/${tenant}/${t.releaseId}`, tmp);
  renameSync(tmp, link);
  return { rel, releaseId: t.releaseId };
}
