/**
 * bin/clawops starts `clawops controller` with the controller's V8 heap settings (CONTROLLER_NODE_FLAGS: 8 MB
 * semi-spaces, an old generation that grows 2× after a full GC, not up to 4×) and every other command without them;
 * bench/scale-bench.ts reads the same line to start its controller child.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/repo.js';

const BIN = join(REPO_ROOT, 'bin', 'clawops');
const FLAGS = /^CONTROLLER_NODE_FLAGS="([^"]*)"$/m.exec(readFileSync(BIN, 'utf8'))?.[1]?.split(' ') ?? [];

// a `node` first on PATH that prints the arguments it was given, one a line
const fake = mkdtempSync(join(tmpdir(), 'clawops-fake-node-'));
writeFileSync(join(fake, 'node'), '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n');
chmodSync(join(fake, 'node'), 0o755);
afterAll(() => rmSync(fake, { recursive: true, force: true }));

/** the arguments bin/clawops hands node for `clawops <args>` */
function nodeArgs(args: string[]): string[] {
  const out = execFileSync('sh', [BIN, ...args], { env: { ...process.env, PATH: `${fake}:${process.env.PATH ?? ''}` }, encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

describe('bin/clawops: the controller\'s node flags', () => {
  it('names them on one line the scale bench reads', () => {
    expect(FLAGS).toEqual(['--max-semi-space-size=8', '--heap-growing-percent=100']);
  });

  it('starts `clawops controller …` with them, before the script', () => {
    const a = nodeArgs(['controller', 'run', '--repo', 'x']);
    expect(a.slice(0, FLAGS.length)).toEqual(FLAGS);
    expect(a.slice(-4)).toEqual(['controller', 'run', '--repo', 'x']);
  });

  it.each([[['lint', 'x']], [['status', '--state-dir', 'controller']], [[]]])('starts `clawops %j` without them', (args) => {
    const a = nodeArgs(args);
    for (const f of FLAGS) expect(a).not.toContain(f);
    expect(a.slice(a.length - args.length)).toEqual(args);
  });

  it('this node takes them: 8 MB semi-spaces, the old generation grown 2x after each full GC, the heap limit V8\'s', () => {
    const script = `
      const v8 = require('node:v8');
      let keep = [];
      const old = [];
      for (let i = 0; i < 3e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 50000) { old.push(keep); keep = []; } if (old.length > 20) old.length = 0; }
      const n = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      console.log(JSON.stringify({ limit: v8.getHeapStatistics().heap_size_limit, newSpace: n.space_size }));
    `;
    const run = (flags: string[]): { limit: number; newSpace: number; factors: string[] } => {
      const out = execFileSync(process.execPath, [...flags, '--trace-gc-verbose', '-e', script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      const lines = out.split('\n');
      const factors = lines.filter((l) => l.includes('[HeapController] Limit:')).map((l) => /\(([0-9.]+)\)\s*$/.exec(l)?.[1] ?? l);
      return { ...(JSON.parse(lines.find((l) => l.startsWith('{'))!) as { limit: number; newSpace: number }), factors };
    };
    const mine = run(FLAGS);
    const v8s = run([]);
    expect(mine.newSpace).toBeLessThanOrEqual(16 * 1024 * 1024);
    // the limit is the old generation's plus the young generation's (3 semi-spaces): only the latter is smaller
    expect(mine.limit).toBeLessThan(v8s.limit);
    expect(mine.limit).toBeGreaterThanOrEqual(v8s.limit - 32 * 1024 * 1024);
    expect(mine.factors.length).toBeGreaterThan(0);
    expect(new Set(mine.factors)).toEqual(new Set(['2.0']));
  });
});
