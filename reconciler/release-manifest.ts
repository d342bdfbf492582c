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
