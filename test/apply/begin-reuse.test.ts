/**
 * BEGIN's pre-fill of a new release's staging dir from the tenant's current release (remote-scripts.ts): the files
 * whose bytes are the wanted ones are copied on the node (one tar pair; a file at a time when that fails), the others
 * are left to be sent.
 * A real run of the script on a local node (a directory standing for the node's /).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { takeNodeLock } from '../../reconciler/apply/remote.js';
import { LocalTransport } from '../../reconciler/transport/local-transport.js';
import type { NodePaths } from '../../reconciler/transport/transport.js';

const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
const CUR = 'aaaaaaaaaaaaaaaa';
const NEW = 'bbbbbbbbbbbbbbbb';
const RUN = 'run-reuse-1';

let root: string;
let t: LocalTransport;
let p: NodePaths;
let daemonSha: string;

function writeTree(dir: string, files: Record<string, string>): void {
  for (const [f, c] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), c);
  }
}

/** every file under dir, relative, with its text */
function tree(dir: string, base = dir): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const f = join(dir, e.name);
    if (e.isDirectory()) Object.assign(out, tree(f, base));
    else out[f.slice(base.length + 1)] = readFileSync(f, 'utf8');
  }
  return out;
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'clawops-begin-reuse-'));
  t = new LocalTransport('local-1', root, 60_000);
  p = t.paths({ etc: '/etc/openclaw', var_db: '/var/db/openclaw' });
  const bin = join(root, 'usr/local/bin');
  mkdirSync(bin, { recursive: true });
  const oc = '#!/bin/sh\necho "OpenClaw 2026.9.6 (abcdef0)"\n';
  writeFileSync(join(bin, 'openclaw'), oc, { mode: 0o755 });
  daemonSha = sha(oc);
  mkdirSync(join(p.etc, 'tenants'), { recursive: true });
  mkdirSync(join(p.varDb, 'clawops'), { recursive: true });
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('BEGIN pre-fills a new release from the current one', () => {
  it('copies every byte-identical file (top level and nested dirs, one tar pair) and nothing that differs or is a link', async () => {
    const cur = { 'openclaw.json': '{"a":1}\n', 'secrets.list': 'env X x\n', 'gateway.d/10-a.yaml': 'a: 1\n', 'gateway.d/20-b.yaml': 'b: 2\n', 'bin/gateway-run': '#!/bin/sh\n', 'launchd/ai.openclaw.acme.plist': '<plist/>\n', 'deep/er/x.txt': 'x\n' };
    const curDir = join(p.etc, 'releases/acme', CUR);
    writeTree(curDir, cur);
    // a link in the current release is never copied, even when what it points at has the wanted bytes
    writeFileSync(join(root, 'outside.txt'), 'linked\n');
    symlinkSync(join(root, 'outside.txt'), join(curDir, 'gateway.d/30-link.yaml'));
    symlinkSync(`../releases/acme/${CUR}`, join(p.etc, 'tenants/acme'));
    const want = { ...cur, 'openclaw.json': '{"a":2}\n', 'gateway.d/20-b.yaml': 'b: 3\n', 'gateway.d/30-link.yaml': 'linked\n' };
    const lines = Object.entries(want).map(([f, c]) => `F\tacme\t${NEW}\t${f}\t${sha(c)}`).join('\n') + '\n';
    const recs = await takeNodeLock(t, p, { run: RUN, owner: 'test', pid: process.pid, ttlSec: 60, daemonSha, want: lines, onTakeover: () => undefined });
    expect(recs.find((r) => r[0] === 'lock')?.[1]).toBe('acquired');
    expect(recs.some((r) => r[0] === 'gate-mismatch')).toBe(false);
    expect(recs.filter((r) => r[0] === 'need')).toEqual([['need', 'acme', NEW]]);
    const same = ['secrets.list', 'gateway.d/10-a.yaml', 'bin/gateway-run', 'launchd/ai.openclaw.acme.plist', 'deep/er/x.txt'];
    expect(recs.filter((r) => r[0] === 'reuse').map((r) => r[2]).sort()).toEqual([...same].sort());
    expect(recs.filter((r) => r[0] === 'reuse-failed')).toEqual([]);
    // the staging dir holds exactly those files, with the current release's bytes
    const staged = tree(join(p.etc, 'releases/acme', `${NEW}.tmp-${RUN}`));
    expect(staged).toEqual(Object.fromEntries(same.map((f) => [f, cur[f as keyof typeof cur]])));
  });

  /** a current release of nested files, the wanted one differing in openclaw.json only; BEGIN's records */
  const prefill = async () => {
    const cur = { 'openclaw.json': '{"a":1}\n', 'secrets.list': 'env X x\n', 'gateway.d/10-a.yaml': 'a: 1\n', 'bin/gateway-run': '#!/bin/sh\n', 'deep/er/x.txt': 'x\n' };
    writeTree(join(p.etc, 'releases/acme', CUR), cur);
    symlinkSync(`../releases/acme/${CUR}`, join(p.etc, 'tenants/acme'));
    const want = { ...cur, 'openclaw.json': '{"a":2}\n' };
    const lines = Object.entries(want).map(([f, c]) => `F\tacme\t${NEW}\t${f}\t${sha(c)}`).join('\n') + '\n';
    const recs = await takeNodeLock(t, p, { run: RUN, owner: 'test', pid: process.pid, ttlSec: 60, daemonSha, want: lines, onTakeover: () => undefined });
    return { cur, recs, staged: () => tree(join(p.etc, 'releases/acme', `${NEW}.tmp-${RUN}`)) };
  };
  const shim = (name: string, body: string): void => writeFileSync(join(root, 'usr/local/bin', name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });

  it('a tar that fails (a full disk where it extracts): each file copied again one at a time, each reported', async () => {
    shim('tar', 'case $1 in -x*) echo "tar: write error: No space left on device" >&2; exit 2 ;; esac\nexec /usr/bin/tar "$@"');
    const { cur, recs, staged } = await prefill();
    const same = ['secrets.list', 'gateway.d/10-a.yaml', 'bin/gateway-run', 'deep/er/x.txt'];
    expect(recs.filter((r) => r[0] === 'reuse').map((r) => r[2]).sort()).toEqual([...same].sort());
    expect(recs.filter((r) => r[0] === 'reuse-failed')).toEqual([]);
    expect(staged()).toEqual(Object.fromEntries(same.map((f) => [f, cur[f as keyof typeof cur]])));
  });

  it('a file that cannot be copied either is reported reuse-failed (it is sent instead), the others reused', async () => {
    shim('tar', 'exit 2');
    shim('cp', 'case "$*" in *gateway-run*) echo "cp: error writing: No space left on device" >&2; exit 1 ;; esac\nexec /usr/bin/cp "$@"');
    const { cur, recs, staged } = await prefill();
    const same = ['secrets.list', 'gateway.d/10-a.yaml', 'deep/er/x.txt'];
    expect(recs.filter((r) => r[0] === 'reuse').map((r) => r[2]).sort()).toEqual([...same].sort());
    expect(recs.filter((r) => r[0] === 'reuse-failed')).toEqual([['reuse-failed', 'acme', 'bin/gateway-run', 'cp: error writing: No space left on device ']]);
    // nothing half-copied stays where the sent file will go
    expect(staged()).toEqual(Object.fromEntries(same.map((f) => [f, cur[f as keyof typeof cur]])));
  });
});
