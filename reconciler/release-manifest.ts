/** `.clawops/manifest.json` inside every release directory: what clawops wrote there and why. */
import { createHash } from 'node:crypto';

/** Bumped when rendering changes in a way that changes files for the same repo content (release ids change with it). */
export const RENDER_VERSION = 'clawops-render/1';

/**
 * A release's id: the first 16 hex of the sha256 of the render version and every file's sha256 and path, sorted by
 * path. Pure. Besides naming the release dir, it vouches for a manifest found on a node: a manifest whose file list
 * does not hash to its directory's name was not written by clawops as it is.
 */
export function releaseIdOf(files: readonly { path: string; sha256: string }[]): string {
  return releaseDigestOf(files).slice(0, 16);
}

/**
 * The whole sha256 the release id is the first 16 hex of: where a verdict about the bytes outlives the run (the
 * verdict store), 64 bits are not enough (a repo author could make two releases with one id in ~2^32 tries).
 */
export function releaseDigestOf(files: readonly { path: string; sha256: string }[]): string {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return createHash('sha256').update(`${RENDER_VERSION}\n${sorted.map((f) => `${f.sha256}  ${f.path}\n`).join('')}`).digest('hex');
}

/** Whether `m`'s file list is exactly the one release `id` was made of (see releaseIdOf). */
export function manifestVouchesFor(m: ReleaseManifest, id: string): boolean {
  return m.release_id === id && releaseIdOf(Object.entries(m.files).map(([path, sha256]) => ({ path, sha256: String(sha256) }))) === id;
}

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
  const m = v as Record<string, unknown> | null;
  if (m === null || typeof m !== 'object' || m.schema !== 1 || typeof m.release_id !== 'string' || typeof m.files !== 'object' || m.files === null || Array.isArray(m.files)) {
    return { invalid: 'not a clawops release manifest' };
  }
  // a node's file: what it says about the release's origin is kept only in the shapes clawops writes (a commit id, a
  // git ref name's length), so a number, an object or a megabyte of text never reaches a status line
  const bounded = (x: unknown, max: number): string | undefined => (typeof x === 'string' && x.length <= max ? x : undefined);
  const commit = typeof m.commit === 'string' && /^[0-9a-f]{4,64}$/.test(m.commit) ? m.commit : undefined;
  const tag = bounded(m.tag, MAX_REF_NAME);
  return {
    schema: 1,
    tenant: bounded(m.tenant, 256) ?? '',
    release_id: m.release_id,
    ...(commit ? { commit } : {}),
    ...(tag ? { tag } : {}),
    files: m.files as Record<string, string>,
    created_at: bounded(m.created_at, 64) ?? '',
    actor: bounded(m.actor, 256) ?? '',
  };
}

/** the longest tag name a manifest may carry (git allows longer refs; no release tag comes near) */
export const MAX_REF_NAME = 255;

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
