import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../reconciler/cli.js';
import type { CliIo } from '../../reconciler/commands/io.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const EXAMPLE = join(REPO_ROOT, 'tenants-example');

export type Edit = string | Buffer | null | { symlink: string } | { dir: true };

/** A copy of tenants-example in a temp dir with edits applied (null deletes). */
export function exampleRepo(edits: Record<string, Edit> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'clawops-repo-'));
  cpSync(EXAMPLE, dir, { recursive: true });
  applyEdits(dir, edits);
  return dir;
}

export function applyEdits(dir: string, edits: Record<string, Edit>): void {
  for (const [p, e] of Object.entries(edits)) {
    const abs = join(dir, p);
    if (e === null) {
      rmSync(abs, { recursive: true, force: true });
      continue;
    }
    mkdirSync(dirname(abs), { recursive: true });
    if (typeof e === 'string' || Buffer.isBuffer(e)) writeFileSync(abs, e);
    else if ('symlink' in e) symlinkSync(e.symlink, abs);
    else mkdirSync(abs, { recursive: true });
  }
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(args: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

/** The lines of lint output that are findings (not the summary). */
export function findingLines(out: string): string[] {
  return out.split('\n').filter((l) => /^[^\s:]+:\d+:\d+: (error|warning): /.test(l));
}
