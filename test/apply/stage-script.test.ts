/**
 * STAGE (remote-scripts.ts) with the archive tarOf makes (remote.ts), on a node tree in a temp dir and the machine's
 * own sh and tar: the files land inside releases/<t>/<id>.tmp-<run> byte for byte (nested, long names, empty
 * files); a staging dir BEGIN's pre-fill already made is extracted into; anything else at the name (a link, a file)
 * is refused naming the path, nothing written behind it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tarOf } from '../../reconciler/apply/remote.js';
import { STAGE_SCRIPT } from '../../reconciler/apply/remote-scripts.js';

const ID = 'abcdef0123456789';
const RUN = 'r20261129-stage';
const FILES = [
  { path: 'openclaw.json', content: Buffer.from('{"gateway":{"port":18789}}\n') },
  { path: 'empty.txt', content: Buffer.alloc(0) },
  { path: `${'deep/'.repeat(12)}${'n'.repeat(90)}.yaml`, content: Buffer.from('a: 1\n') },
  { path: '.clawops/manifest.json', content: Buffer.from('{}\n') },
];

describe('STAGE: a release\'s files extracted inside its staging dir', () => {
  let root: string;
  const etc = (): string => join(root, 'etc');
  const staging = (): string => join(etc(), 'releases/acme', `${ID}.tmp-${RUN}`);
  const stage = async (files = FILES, prefilled = false): Promise<{ code: number | null; stderr: string }> => {
    const r = spawnSync('sh', ['-c', STAGE_SCRIPT, 'clawops', etc(), RUN, 'acme', ID, prefilled ? '1' : '0'], { input: await tarOf(files), encoding: 'utf8' });
    return { code: r.status, stderr: r.stderr };
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'clawops-stage-'));
    mkdirSync(join(root, 'user'));
    writeFileSync(join(root, 'user/keep.txt'), 'USERDATA\n');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('a first deploy (no releases/ yet): the dirs are made and every file lands byte for byte', async () => {
    expect(await stage()).toEqual({ code: 0, stderr: '' });
    for (const f of FILES) expect(readFileSync(join(staging(), f.path)).equals(f.content), f.path).toBe(true);
    expect(lstatSync(staging()).isDirectory()).toBe(true);
  });

  it('a staging dir the pre-fill made: extracted into, the copied files kept', async () => {
    mkdirSync(staging(), { recursive: true });
    writeFileSync(join(staging(), 'kept.yaml'), 'b: 2\n');
    expect((await stage(FILES, true)).code).toBe(0);
    expect(readFileSync(join(staging(), 'kept.yaml'), 'utf8')).toBe('b: 2\n');
    expect(readFileSync(join(staging(), 'openclaw.json'), 'utf8')).toBe('{"gateway":{"port":18789}}\n');
  });

  it('not pre-filled, yet a real dir at the staging dir\'s name (planted, with a link inside): refused naming it, nothing written behind the link', async () => {
    mkdirSync(staging(), { recursive: true });
    symlinkSync(join(root, 'user'), join(staging(), 'deep'));
    const r = await stage();
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${staging()} is not a staging directory this run made (something is already there)`);
    expect(readdirSync(join(root, 'user'))).toEqual(['keep.txt']);
  });

  it('pre-filled, with a link planted at a directory name of the release: the directory replaces the link, nothing written behind it', async () => {
    mkdirSync(staging(), { recursive: true });
    symlinkSync(join(root, 'user'), join(staging(), 'deep'));
    expect((await stage(FILES, true)).code).toBe(0);
    expect(readdirSync(join(root, 'user'))).toEqual(['keep.txt']);
    expect(lstatSync(join(staging(), 'deep')).isDirectory()).toBe(true);
    for (const f of FILES) expect(readFileSync(join(staging(), f.path)).equals(f.content), f.path).toBe(true);
  });

  it('a link planted at the staging dir\'s name: refused naming it, nothing written behind the link', async () => {
    mkdirSync(join(etc(), 'releases/acme'), { recursive: true });
    symlinkSync(join(root, 'user'), staging());
    const r = await stage();
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${staging()} is not a staging directory this run made`);
    expect(readdirSync(join(root, 'user'))).toEqual(['keep.txt']);
  });

  it('a file, or a symlinked releases/<t>: refused, nothing written', async () => {
    mkdirSync(join(etc(), 'releases/acme'), { recursive: true });
    writeFileSync(staging(), 'x');
    expect((await stage()).code).toBe(3);
    rmSync(join(etc(), 'releases/acme'), { recursive: true });
    symlinkSync(join(root, 'user'), join(etc(), 'releases/acme'));
    const r = await stage();
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/releases\/acme is not a directory clawops made/);
    expect(readdirSync(join(root, 'user'))).toEqual(['keep.txt']);
    expect(existsSync(join(root, 'user', `${ID}.tmp-${RUN}`))).toBe(false);
  });
});
