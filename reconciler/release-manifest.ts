/** `.clawops/manifest.json` inside every release directory: what clawops wrote there and why. */

export const MANIFEST_PATH = '.clawops/manifest.json';

export interface ReleaseManifest {
  schema: 1;
  tenant: string;
  release_id: string;
  /** git commit the release was rendered from (absent when applied from a plain directory) */
  commit?: string;
  tag?: string;
  /** release-relative path → sha256 of every file but the manifest itself */
  files: Record<string, string>;
  created_at: string;
  actor: string;
}

export function parseManifest(text: string): ReleaseManifest | { invalid: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { invalid: 'not JSON' };
  }
  const m = v as Partial<ReleaseManifest>;
  if (m === null || typeof m !== 'object' || m.schema !== 1 || typeof m.release_id !== 'string' || typeof m.files !== 'object' || m.files === null) {
    return { invalid: 'not a clawops release manifest' };
  }
  return m as ReleaseManifest;
}

export function isManifest(m: ReleaseManifest | { invalid: string } | undefined): m is ReleaseManifest {
  return m !== undefined && !('invalid' in m);
}

/** The manifest for a rendered tenant release. Pure; `createdAt` and `actor` come from the caller. */
export function buildManifest(
  t: { id: string; releaseId: string; files: readonly { path: string; sha256: string }[] },
  meta: { commit?: string; tag?: string; createdAt: string; actor: string },
): ReleaseManifest {
  const files: Record<string, string> = {};
  for (const f of [...t.files].sort((a, b) => (a.path < b.path ? -1 : 1))) files[f.path] = f.sha256;
  return {
    schema: 1,
    tenant: t.id,
    release_id: t.releaseId,
    ...(meta.commit ? { commit: meta.commit } : {}),
    ...(meta.tag ? { tag: meta.tag } : {}),
    files,
    created_at: meta.createdAt,
    actor: meta.actor,
  };
}

export function manifestBytes(m: ReleaseManifest): Buffer {
  return Buffer.from(`${JSON.stringify(m, null, 2)}\n`);
}
