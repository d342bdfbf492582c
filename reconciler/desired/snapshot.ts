/**
 * An in-memory picture of an infra repo's tree. Reading it is I/O (source/); everything that interprets it is pure,
 * so the same snapshot gives the same desired state whatever order the filesystem or git listed it in.
 */
export type SnapshotEntry =
  | { type: 'file'; content: Buffer; size: number }
  | { type: 'dir' }
  | { type: 'symlink'; target: string }
  | { type: 'other' };

export interface RepoSnapshot {
  /** where it came from, for messages only (a path or `url@rev`) */
  origin: string;
  /** commit the snapshot was read at, when it came from git */
  commit?: string;
  /** repo-relative POSIX path → entry */
  entries: Map<string, SnapshotEntry>;
}

/** Files larger than this are refused without being parsed. */
export const MAX_FILE_BYTES = 1024 * 1024;

export function snapshotFromFiles(origin: string, files: Record<string, string | Buffer>): RepoSnapshot {
  const entries = new Map<string, SnapshotEntry>();
  for (const [path, body] of Object.entries(files)) {
    const content = typeof body === 'string' ? Buffer.from(body) : body;
    entries.set(path, { type: 'file', content, size: content.length });
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!entries.has(dir)) entries.set(dir, { type: 'dir' });
    }
  }
  return { origin, entries };
}
