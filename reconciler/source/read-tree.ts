/** Read an infra repo checkout into a snapshot. The only I/O of the desired-state stage. */
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { IoError } from '../errors.js';
import { MAX_FILE_BYTES, type RepoSnapshot, type SnapshotEntry } from '../desired/snapshot.js';

const SKIP = new Set(['.git', 'node_modules']);

export async function readTree(root: string): Promise<RepoSnapshot> {
  const entries = new Map<string, SnapshotEntry>();
  try {
    const st = await lstat(root);
    if (!st.isDirectory()) throw new IoError(`${root}: not a directory`);
  } catch (e) {
    if (e instanceof IoError) throw e;
    throw new IoError(`${root}: cannot read repo (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  await walk(root, '', entries);
  return { origin: root, entries };
}

async function walk(root: string, rel: string, out: Map<string, SnapshotEntry>): Promise<void> {
  let names: string[];
  try {
    names = await readdir(join(root, rel));
  } catch (e) {
    throw new IoError(`${join(root, rel)}: cannot list directory (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  for (const name of names) {
    if (rel === '' && SKIP.has(name)) continue;
    const p = rel === '' ? name : `${rel}/${name}`;
    const abs = join(root, p);
    const st = await lstat(abs);
    if (st.isSymbolicLink()) {
      out.set(p, { type: 'symlink', target: await readlink(abs) });
    } else if (st.isDirectory()) {
      out.set(p, { type: 'dir' });
      await walk(root, p, out);
    } else if (st.isFile()) {
      // Oversized files are recorded by size only; the linter refuses them without reading a gigabyte.
      const content = st.size > MAX_FILE_BYTES ? Buffer.alloc(0) : await readFile(abs);
      out.set(p, { type: 'file', content, size: st.size });
    } else {
      out.set(p, { type: 'other' });
    }
  }
}
