/**
 * Read an infra repo checkout into a snapshot. The only I/O of the desired-state stage.
 * Synchronous on purpose: a 1,000-tenant repo is ~24k small files, and sync reads of small files are several
 * times faster than a promise per file (measured on 24k files: 0.6 s vs 3.5 s); nothing else runs while we wait for them.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { IoError } from '../errors.js';
import { MAX_FILE_BYTES, type RepoSnapshot, type SnapshotEntry } from '../desired/snapshot.js';

const SKIP = new Set(['.git', 'node_modules']);

export async function readTree(root: string): Promise<RepoSnapshot> {
  return readTreeSync(root);
}

export function readTreeSync(root: string): RepoSnapshot {
  const entries = new Map<string, SnapshotEntry>();
  let isDir = false;
  try {
    isDir = lstatSync(root).isDirectory();
  } catch (e) {
    throw new IoError(`${root}: cannot read repo (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!isDir) throw new IoError(`${root}: not a directory`);
  walk(root, '', entries);
  return { origin: root, entries };
}

function walk(root: string, rel: string, out: Map<string, SnapshotEntry>): void {
  let dirents: Dirent[];
  try {
    dirents = readdirSync(join(root, rel), { withFileTypes: true });
  } catch (e) {
    throw new IoError(`${join(root, rel)}: cannot list directory (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  for (const d of dirents) {
    if (rel === '' && SKIP.has(d.name)) continue;
    const p = rel === '' ? d.name : `${rel}/${d.name}`;
    const abs = join(root, p);
    try {
      if (d.isSymbolicLink()) out.set(p, { type: 'symlink', target: readlinkSync(abs) });
      else if (d.isDirectory()) {
        out.set(p, { type: 'dir' });
        walk(root, p, out);
      } else if (d.isFile()) {
        const { size } = lstatSync(abs);
        // Oversized files are recorded by size only; the linter refuses them without reading a gigabyte.
        out.set(p, { type: 'file', content: size > MAX_FILE_BYTES ? Buffer.alloc(0) : readFileSync(abs), size });
      } else out.set(p, { type: 'other' });
    } catch (e) {
      if (e instanceof IoError) throw e;
      throw new IoError(`${abs}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
}
