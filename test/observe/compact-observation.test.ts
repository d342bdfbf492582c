/**
 * The compact observation (observe-script.ts report()): a tenant found exactly as desired is one `insync` record, and
 * the parser puts its files and its manifest's file list back from the F lines. Whatever the node looks like, the
 * compact observation and the full one (stdin `O full`: every file one by one) must be the same observation and give
 * the same plan; only a .prev manifest's file list (read by nothing) is left out.
 */
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DesiredState, NodeSpec } from '../../reconciler/desired/types.js';
import { expectations, observeNode } from '../../reconciler/observe/observe-node.js';
import { parseObservation } from '../../reconciler/observe/parse-observation.js';
import type { NodeObservation } from '../../reconciler/observe/types.js';
import { plan } from '../../reconciler/plan/plan.js';
import { isManifest, MANIFEST_PATH } from '../../reconciler/release-manifest.js';
import { exampleDesired } from '../plan/fixtures.js';
import { makeLocalNode, placeLocalRelease, RecordingTransport, writeToken, type LocalNode } from './local-node.js';

const example = exampleDesired();
let desired: DesiredState = example;
const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
let node: LocalNode;
let transport: RecordingTransport;
const TENANTS = ['acme', 'globex'];
const spec = (tenants: string[]): NodeSpec => ({ name: 'local-1', host: 'localhost', port: 22, user: 'clawops', role: 'gateway', canary: false, transport: 'local', root: node.root, tenants });

beforeEach(() => {
  node = makeLocalNode();
  transport = new RecordingTransport('local-1', node.root);
  desired = { ...example, lock: { ...example.lock, daemon: { sha256: sha(readFileSync(node.daemon)) } } };
  mkdirSync(join(node.varDb, 'clawops'), { recursive: true });
  for (const t of TENANTS) {
    // an older copy of the release as .prev, then the desired release as current
    const rel = placeLocalRelease(node, desired, t);
    const older = `${desired.tenants.get(t)!.releaseId.slice(0, -4)}0000`;
    cpSync(rel, join(node.etc, 'releases', t, older), { recursive: true });
    symlinkSync(`../releases/${t}/${older}`, join(node.etc, 'tenants', `${t}.prev`));
    writeToken(node, t, 'token.current', `tok_${t}_0123456789abcdef`);
    writeToken(node, t, 'hooks.token', `tok_${t}_hooks_0123456789`);
    node.setRunning(t, true);
  }
});
afterEach(() => node.remove());

const rel = (t: string): string => join(node.etc, 'releases', t, desired.tenants.get(t)!.releaseId);

/** what may differ between two runs (clock, version cache, free disk), and the .prev file list compact leaves out */
function comparable(o: NodeObservation): unknown {
  const tenants = Object.fromEntries(
    Object.entries(o.tenants).map(([id, t]) => [id, { ...t, prevManifest: t.prevManifest && isManifest(t.prevManifest) ? { ...t.prevManifest, files: {} } : t.prevManifest }]),
  );
  return { ...o, tenants, now: 0, durationMs: 0, openclaw: { ...o.openclaw, cached: false }, disk: o.disk ? { totalKb: o.disk.totalKb } : undefined };
}

/** observe compact and full; both must be the same observation and plan. Returns the compact one and its raw records. */
async function both(tenants = TENANTS): Promise<{ compact: NodeObservation; records: string[][]; fullBytes: number }> {
  const compact = await observeNode(transport, desired.settings.paths, expectations(desired, tenants));
  const full = await observeNode(transport, desired.settings.paths, expectations(desired, tenants, { full: true }));
  expect(comparable(compact)).toEqual(comparable(full));
  const planOf = (o: NodeObservation): unknown => plan(desired, [{ node: 'local-1', ok: true, observation: o }], [spec(tenants)]);
  expect(planOf(compact)).toEqual(planOf(full));
  const outs = transport.outputs;
  const records = (JSON.parse(outs[outs.length - 2]!.stdout) as { records: string[][] }).records;
  // the full observation never summarises
  expect((JSON.parse(outs[outs.length - 1]!.stdout) as { records: string[][] }).records.some((r) => r[0] === 'insync')).toBe(false);
  return { compact, records, fullBytes: outs[outs.length - 1]!.stdout.length };
}

const insync = (records: string[][]): string[] => records.filter((r) => r[0] === 'insync').map((r) => r[1]!).sort();
const fileRecords = (records: string[][], t: string): string[] => records.filter((r) => r[0] === 'file' && r[1] === t).map((r) => r[2]!).sort();

describe('the compact observation', () => {
  it('a tenant in sync is one insync record: no file records, manifests without their file lists, a fraction of the bytes', async () => {
    const { compact, records, fullBytes } = await both();
    expect(insync(records)).toEqual(['acme', 'globex']);
    expect(fileRecords(records, 'acme')).toEqual([]);
    expect(records.find((r) => r[0] === 'insync' && r[1] === 'acme')![2]).toBe(sha(readFileSync(join(rel('acme'), MANIFEST_PATH))));
    expect(transport.outputs[0]!.stdout.length * 3).toBeLessThan(fullBytes);
    // the parser puts back what the manifest lists and what is on the node
    const acme = compact.tenants.acme!;
    for (const f of desired.tenants.get('acme')!.files) expect(acme.files[f.path]).toBe(f.sha256);
    expect(acme.files[MANIFEST_PATH]).toBe(sha(readFileSync(join(rel('acme'), MANIFEST_PATH))));
    expect(Object.keys(acme.files)).toHaveLength(desired.tenants.get('acme')!.files.length + 1);
    expect(acme.currentComplete).toBe(true);
    expect(acme.prevComplete).toBe(true);
    expect(acme.prevManifest).toMatchObject({ files: {} });
    expect(plan(desired, [{ node: 'local-1', ok: true, observation: compact }], [spec(TENANTS)]).inSync).toBe(true);
  });

  it('a hand edit, a deletion, an added file, a symlink and an unsafe name: that tenant in full, the other summarised', async () => {
    const r = rel('acme');
    writeFileSync(join(r, 'gateway.d/10-base.yaml'), 'logging:\n  level: trace\n');
    rmSync(join(r, 'webhook.json'));
    symlinkSync('/etc/passwd', join(r, 'webhook.json'));
    writeFileSync(join(r, 'gateway.d/99 local\n.yaml'), 'x\n');
    const { records } = await both();
    expect(insync(records)).toEqual(['globex']);
    expect(fileRecords(records, 'acme')).toContain('openclaw.json');
  });

  it('files the desired release does not have (a runtime artefact, a hand-added file) are still reported one by one', async () => {
    writeFileSync(join(rel('acme'), 'openclaw.json.last-good'), '{}\n');
    writeFileSync(join(rel('globex'), 'gateway.d/99-local.yaml'), 'logging:\n  level: trace\n');
    symlinkSync('/etc/passwd', join(rel('globex'), 'passwd'));
    const { compact, records } = await both();
    expect(insync(records)).toEqual(['acme', 'globex']);
    expect(fileRecords(records, 'acme')).toEqual(['openclaw.json.last-good']);
    expect(fileRecords(records, 'globex')).toEqual(['gateway.d/99-local.yaml', 'passwd']);
    expect(compact.tenants.globex!.sizes).toEqual({ 'gateway.d/99-local.yaml': 24 });
  });

  it('a release that is not the desired one (another render, consistent with its manifest) is sent in full', async () => {
    const r = rel('acme');
    const m = JSON.parse(readFileSync(join(r, MANIFEST_PATH), 'utf8')) as { files: Record<string, string> };
    writeFileSync(join(r, 'openclaw.json'), '{"old": true}\n');
    m.files['openclaw.json'] = sha('{"old": true}\n');
    writeFileSync(join(r, MANIFEST_PATH), `${JSON.stringify(m, null, 2)}\n`);
    const { compact, records } = await both();
    expect(insync(records)).toEqual(['globex']);
    expect(Object.keys(compact.tenants.acme!.contents)).toEqual(['openclaw.json']);
  });

  it('a manifest listing a file the desired release does not have, or missing one, is not in sync', async () => {
    const r = rel('acme');
    const m = JSON.parse(readFileSync(join(r, MANIFEST_PATH), 'utf8')) as { files: Record<string, string> };
    writeFileSync(join(r, 'extra.yaml'), 'x: 1\n');
    m.files['extra.yaml'] = sha('x: 1\n');
    writeFileSync(join(r, MANIFEST_PATH), `${JSON.stringify(m, null, 2)}\n`);
    const g = join(rel('globex'), MANIFEST_PATH);
    const mg = JSON.parse(readFileSync(g, 'utf8')) as { files: Record<string, string> };
    delete mg.files['webhook.json'];
    writeFileSync(g, `${JSON.stringify(mg, null, 2)}\n`);
    const { records } = await both();
    expect(insync(records)).toEqual([]);
  });

  it('manifests not in clawops own form are sent whole: one line, a second "files" key, an escaped key, a stray line', async () => {
    const text = (t: string): string => readFileSync(join(rel(t), MANIFEST_PATH), 'utf8');
    // one line: the same JSON, not the form the summary relies on
    writeFileSync(join(rel('acme'), MANIFEST_PATH), JSON.stringify(JSON.parse(text('acme'))));
    // a second "files" key after the block, on another key's line (JSON.parse takes the last: every file is then
    // "added on the node")
    writeFileSync(join(rel('globex'), MANIFEST_PATH), text('globex').replace(/\n}\n$/, ', "files": {}\n}\n'));
    let out = await both();
    expect(insync(out.records)).toEqual([]);
    expect(plan(desired, [{ node: 'local-1', ok: true, observation: out.compact }], [spec(TENANTS)]).nodes[0]!.status).toBe('Drifted');
    // a key that spells "files" with an escape, and an entry line JSON would refuse
    placeLocalRelease(node, desired, 'acme');
    placeLocalRelease(node, desired, 'globex');
    writeFileSync(join(rel('acme'), MANIFEST_PATH), text('acme').replace(/\n}\n$/, ',\n  "fil\\u0065s": {}\n}\n'));
    writeFileSync(join(rel('globex'), MANIFEST_PATH), text('globex').replace('  "files": {\n', '  "files": {\n    "x": "y" "z",\n'));
    out = await both();
    expect(insync(out.records)).toEqual([]);
    // an entry without its comma (not JSON: the whole manifest is invalid), and one indented otherwise (valid JSON, but
    // not the form: sent whole all the same)
    placeLocalRelease(node, desired, 'acme');
    placeLocalRelease(node, desired, 'globex');
    writeFileSync(join(rel('acme'), MANIFEST_PATH), text('acme').replace(/("bin\/gateway-run": "[0-9a-f]+"),/, '$1'));
    writeFileSync(join(rel('globex'), MANIFEST_PATH), text('globex').replace(/\n {4}"bin/, '\n "bin'));
    out = await both();
    expect(insync(out.records)).toEqual([]);
    expect(out.compact.tenants.acme!.manifest).toEqual({ invalid: 'not JSON' });
  });

  it('tenants not asked about, not deployed, or not clawops own are never summarised', async () => {
    rmSync(join(node.etc, 'tenants', 'globex.prev'));
    rmSync(join(node.etc, 'tenants', 'globex'));
    symlinkSync('/etc', join(node.etc, 'tenants', 'globex'));
    // initech: asked about, nothing deployed
    const { records } = await both(['acme', 'globex', 'initech']);
    expect(insync(records)).toEqual(['acme']);
    // acme is on the node but not asked about: its files come one by one
    const { records: r2 } = await both(['globex']);
    expect(insync(r2)).toEqual([]);
    expect(fileRecords(r2, 'acme').length).toBeGreaterThan(5);
  });

  it('every run reports every token fingerprint: the files the last awk reads are written before it reads them', async () => {
    // the JSON awk reads the token hashes once its input ends; a shell that execs the last command of the records'
    // subshell (dash) ended that input early when the last command wrote elsewhere: fingerprints went missing at random
    for (let i = 0; i < 6; i++) {
      const o = await observeNode(transport, desired.settings.paths, expectations(desired, TENANTS));
      for (const t of TENANTS) expect(o.tenants[t]!.tokens['token.current'].fingerprint, `run ${i}`).toBe(sha(`tok_${t}_0123456789abcdef`).slice(0, 12));
    }
  });

  it('a pending dead-man guard is reported once; its heartbeat file (guard.RUN.beat) is not another guard', async () => {
    writeFileSync(join(node.varDb, 'clawops', 'guard.r20261129t092419-05a1c8'), 'deadline\t1800000000\nacme\tcurrent\tprev\tabc\n');
    writeFileSync(join(node.varDb, 'clawops', 'guard.r20261129t092419-05a1c8.beat'), '1799999999\n');
    const o = await observeNode(transport, desired.settings.paths, expectations(desired, TENANTS));
    expect(o.guards).toEqual([{ run: 'r20261129t092419-05a1c8', deadline: 1800000000, tenants: ['acme'] }]);
  });

  it('the parser refuses an insync record it cannot expand (no expectations, or a manifest with its file list)', () => {
    const manifest = JSON.stringify({ schema: 1, tenant: 'acme', release_id: 'abc', files: {}, created_at: 'x', actor: 'y' });
    const doc = JSON.stringify({ v: 1, records: [['link', 'acme', 'current', '../releases/acme/abc'], ['manifestj', 'acme', 'current', manifest], ['insync', 'acme', 'f'.repeat(64)]] });
    const o = parseObservation('n', doc, { commands: 1, durationMs: 0 });
    expect(o.errors).toEqual(['observe: acme reported in sync without what it was compared with']);
    expect(o.tenants.acme!.files).toEqual({});
    const o2 = parseObservation('n', doc, { commands: 1, durationMs: 0 }, 'T\tacme\nF\tacme\topenclaw.json\t' + 'a'.repeat(64) + '\n');
    expect(o2.errors).toEqual([]);
    expect(o2.tenants.acme!.files).toEqual({ 'openclaw.json': 'a'.repeat(64), [MANIFEST_PATH]: 'f'.repeat(64) });
    expect(o2.tenants.acme!.manifest).toMatchObject({ files: { 'openclaw.json': 'a'.repeat(64) } });
    // the desired file list is made once and shared (frozen) by every observation of that release; files is per node
    const o3 = parseObservation('m', doc, { commands: 1, durationMs: 0 }, 'T\tacme\nF\tacme\topenclaw.json\t' + 'a'.repeat(64) + '\nS\tacme\thooks.token\n');
    const files = (o: NodeObservation): unknown => (o.tenants.acme!.manifest as { files: unknown }).files;
    expect(files(o3)).toBe(files(o2));
    expect(Object.isFrozen(files(o3))).toBe(true);
    expect(o3.tenants.acme!.files).not.toBe(o2.tenants.acme!.files);
    // F lines of the tenant wherever they are in stdin, later ones winning (as the script reads them)
    const o4 = parseObservation('n', doc, { commands: 1, durationMs: 0 }, `F\tacme\ta\t${'1'.repeat(64)}\nF\tglobex\tb\t${'2'.repeat(64)}\nxF\tacme\tc\t${'3'.repeat(64)}\nF\tacme\ta\t${'4'.repeat(64)}`);
    expect(o4.tenants.acme!.files).toEqual({ a: '4'.repeat(64), [MANIFEST_PATH]: 'f'.repeat(64) });
  });
});
