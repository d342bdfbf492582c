/**
 * Adversarial run 11, part C: node text that reaches clawops' outputs (reconciler/openclaw-sh.ts oc_facts, the
 * parser's records, version-gate.ts) and node-chosen names through the controller's sharing of observations
 * (reconciler/share.ts, as connections.ts applies it). Pure: the real oc_facts shell run here against a fake openclaw.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { versionMismatches } from '../../reconciler/apply/records.js';
import type { Lock } from '../../reconciler/desired/types.js';
import { OPENCLAW_FACTS_SH } from '../../reconciler/openclaw-sh.js';
import { parseObservation } from '../../reconciler/observe/parse-observation.js';
import { driftedFiles } from '../../reconciler/plan/plan.js';
import { buildManifest, manifestBytes, parseManifest } from '../../reconciler/release-manifest.js';
import { share } from '../../reconciler/share.js';

const meta = { commands: 1, durationMs: 1 };
const LOCK: Lock = { openclaw: { version: '2026.9.6', commit: 'abc1234' }, daemon: { sha256: 'a'.repeat(64) }, swift_runtime: { build: 'x' }, companion_agent: { version: 'x' } };

/** a node's PATH with a fake `openclaw` (a link to its entry point) printing `versionLine` */
function fakeOpenclaw(versionLine: string): { bin: string; cache: string } {
  const base = mkdtempSync(join(tmpdir(), 'oc11-'));
  mkdirSync(join(base, 'pkg'));
  mkdirSync(join(base, 'bin'));
  mkdirSync(join(base, 'cache'));
  writeFileSync(join(base, 'pkg/openclaw.mjs'), `#!/bin/sh\nprintf '%s\\n' ${JSON.stringify(versionLine)}\n`, { mode: 0o755 });
  writeFileSync(join(base, 'pkg/package.json'), '{"name":"openclaw"}\n');
  symlinkSync(join(base, 'pkg/openclaw.mjs'), join(base, 'bin/openclaw'));
  return { bin: join(base, 'bin'), cache: join(base, 'cache') };
}

/** oc_facts as the observe and BEGIN scripts run it: its records */
function ocFacts(o: { bin: string; cache: string }): string[][] {
  const sh = `SHA=sha256sum\nrec() { printf '%s' "$1"; shift; for f in "$@"; do printf '\\t%s' "$f"; done; printf '\\n'; }\n${OPENCLAW_FACTS_SH}\noc_facts "$1"\n`;
  const out = execFileSync('sh', ['-c', sh, 'sh', o.cache], { env: { PATH: `${o.bin}:/usr/bin:/bin` }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return out.trimEnd().split('\n').map((l) => l.split('\t'));
}

describe("openclaw's version line (adversarial run 11)", () => {
  it('holds: what `openclaw --version` prints is cut to its first line and 512 bytes, cached or not', () => {
    const o = fakeOpenclaw(`OpenClaw 2026.9.6 (abc1234) ${'\u202e'.repeat(10)}${'x'.repeat(100_000)}`);
    for (const cached of ['0', '1']) {
      const v = ocFacts(o).find((r) => r[0] === 'version')!;
      expect(v[3]).toBe(cached);
      expect(Buffer.byteLength(v[2]!)).toBeLessThanOrEqual(512);
    }
  });

  // fixed (was: oc_facts (reconciler/openclaw-sh.ts) bounds only a freshly asked version line: a line read back from the node's openclaw-version.cache (`line=${_ov%%<TAB>*}`, any length) is recorded whole, and apply takes it as is (apply-node.ts facts.line → version-gate.ts lockMismatches `unparseable "<line>"` → the gate's VersionSkew StepError → apply's output, --json, the controller's status and the verdict key), so a node whose cache file holds a 100 KB line puts 100 KB into one status line (the parser's 512-byte cut in collectRecords covers observe only); cut the cached line the same way (awk substr 512) when it is read, and bound facts.line in apply-node)
  it("a cached version line is bounded too: neither oc_facts' record nor the apply gate's message carries more than 512 bytes of it", () => {
    const o = fakeOpenclaw('OpenClaw 2026.9.6 (abc1234)');
    const first = ocFacts(o).find((r) => r[0] === 'version')!;
    expect(first[3]).toBe('0');
    const file = join(o.cache, 'openclaw-version.cache');
    const [key] = readFileSync(file, 'utf8').split('\t');
    // what the node's cache file says for this very binary now (a hostile node, a corrupt file)
    writeFileSync(file, `${key}\tOpenClaw 2026.9.6 (not-a-commit) ${'\u202e\u001b[2J'.repeat(10)}${'y'.repeat(100_000)}\n`);
    const v = ocFacts(o).find((r) => r[0] === 'version')!;
    // (a kept line longer than a fresh one can be is not taken: openclaw is asked again, and its line kept anew)
    expect(v[3]).toBe('0');
    expect(v[2]).toBe('OpenClaw 2026.9.6 (abc1234)');
    expect(Buffer.byteLength(v[2]!)).toBeLessThanOrEqual(512);
    // what apply makes of it (apply-node.ts: facts from the BEGIN records, unchanged)
    const msgs = versionMismatches(LOCK, { exitCode: 0, line: v[2]!, daemonPath: '/opt/openclaw/openclaw.mjs', daemonSha: 'a'.repeat(64) });
    // (the line asked again is the real one: nothing to refuse; any message is short)
    expect(msgs.every((m) => m.length < 1024)).toBe(true);
  });
});

describe("node-chosen names through the controller's shared observations (adversarial run 11)", () => {
  it('holds: files named __proto__ and constructor in a tenant\'s release stay keys after share() (connections.ts) and are reported added on the node; hostile guard records are cut to what they can mean', () => {
    const m = buildManifest({ id: 'acme', releaseId: 'aaaaaaaaaaaaaaaa', files: [{ path: 'openclaw.json', sha256: 'b'.repeat(64) }] }, { createdAt: '2026-11-25T00:00:00Z', actor: 't' });
    const o = parseObservation(
      'n1',
      JSON.stringify({
        v: 1,
        records: [
          ['link', 'acme', 'current', '../releases/acme/aaaaaaaaaaaaaaaa'],
          ['manifestj', 'acme', 'current', manifestBytes(m).toString('utf8').replace(/\n/g, ' ')],
          ['file', 'acme', 'openclaw.json', 'b'.repeat(64)],
          ['file', 'acme', '.clawops/manifest.json', 'c'.repeat(64)],
          ['file', 'acme', '__proto__', 'd'.repeat(64)],
          ['file', 'acme', 'constructor', 'e'.repeat(64)],
          ['fsize', 'acme', '__proto__', '7'],
          ['guard', 'r1', '99999999999999999999', '__proto__,acme,acme,constructor,a b,ACME', '1'],
          ['guard', 'r2', '1e9', '', ''],
        ],
      }),
      meta,
    );
    const shared = share(undefined, o);
    const t = shared.tenants.acme!;
    expect(Object.keys(t.files).sort()).toEqual(['.clawops/manifest.json', '__proto__', 'constructor', 'openclaw.json']);
    expect(Object.hasOwn(t.files, '__proto__') && t.files['__proto__']).toBe('d'.repeat(64));
    expect(t.sizes['__proto__']).toBe(7);
    expect(driftedFiles(t).map((d) => `${d.path}: ${d.what}`)).toEqual(['__proto__: added on the node', 'constructor: added on the node']);
    expect(shared.guards).toEqual([
      { run: 'r1', deadline: 0, tenants: ['acme', 'constructor'], alive: true },
      { run: 'r2', deadline: 0, tenants: [] },
    ]);
    // a manifest's origin fields in the shapes clawops writes only
    const pm = parseManifest(JSON.stringify({ schema: 1, release_id: 'aaaaaaaaaaaaaaaa', files: {}, commit: 'Z'.repeat(40), tag: 't'.repeat(256), tenant: { x: 1 }, actor: 'a'.repeat(300), created_at: 5 }));
    expect(pm).toEqual({ schema: 1, tenant: '', release_id: 'aaaaaaaaaaaaaaaa', files: {}, created_at: '', actor: '' });
  });
});
