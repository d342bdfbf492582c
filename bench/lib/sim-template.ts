/**
 * The template simulated nodes answer from (sim-node.ts): the REAL observe script run once, over the LocalTransport,
 * against a node laid out on this machine as apply lays it out.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DesiredState, TenantDesired } from '../../reconciler/desired/types.js';
import { expectations, observeNode } from '../../reconciler/observe/observe-node.js';
import { layRelease } from '../../test/helpers/release.js';
import { makeLocalNode, RecordingTransport, writeToken } from '../../test/observe/local-node.js';
import { tenantOf, type ObserveRecord, type ObserveTemplate } from './sim-node.js';

const sha256 = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');

/** An older release of a tenant: one file changed, so a different release id (ids are lower-case hex). */
function olderRelease(t: TenantDesired, n: number): TenantDesired {
  const files = t.files.map((f, i) => {
    if (i !== 0) return f;
    const content = Buffer.concat([Buffer.from(f.content), Buffer.from(`\n# older release ${n}\n`)]);
    return { ...f, content, sha256: sha256(content) };
  });
  return { ...t, releaseId: sha256(`${t.releaseId}:older:${n}`).slice(0, t.releaseId.length), files };
}

/**
 * Lay a node in sync with `tenants` out on this machine (as apply does) and run the real observe script over it once.
 * The node's openclaw is a fake that prints the lock's version line; its `daemon` record is then set to the locked
 * install's path and hash (/usr/local/lib/node_modules/openclaw/openclaw.mjs), as on a Mac that runs the locked CLI.
 */
export async function captureTemplate(desired: DesiredState, tenants: readonly string[], meta: { commit: string; tag?: string }): Promise<ObserveTemplate> {
  const node = makeLocalNode({ versionLine: `OpenClaw ${desired.lock.openclaw.version} (${desired.lock.openclaw.commit.slice(0, 7)})` });
  try {
    const clawopsDir = join(node.varDb, 'clawops');
    mkdirSync(join(clawopsDir, 'run'), { recursive: true });
    const epoch = Math.floor(Date.now() / 1000) - 86_400;
    tenants.forEach((id, i) => {
      const t = desired.tenants.get(id);
      if (!t) throw new Error(`captureTemplate: no tenant ${id} in the desired state`);
      // two older releases, the newer of them .prev; then the desired release, current
      for (const n of [2, 1]) {
        const old = olderRelease(t, n);
        layRelease(node.etc, { tenants: new Map([[id, old]]) } as DesiredState, id, { commit: sha256(`${meta.commit}${n}`).slice(0, 40) });
      }
      renameSync(join(node.etc, 'tenants', id), join(node.etc, 'tenants', `${id}.prev`));
      layRelease(node.etc, desired, id, { commit: meta.commit });
      for (const name of new Set(['token.current', ...t.secretRefs])) writeToken(node, id, name, `tok_${sha256(`${id}/${name}`).slice(0, 32)}`);
      node.setRunning(id, true);
      const run = { pid: 4242 + i, release_id: t.releaseId, commit: meta.commit, tag: meta.tag ?? '', started_epoch: epoch };
      writeFileSync(join(clawopsDir, 'run', `${id}.json`), `${JSON.stringify(run)}\n`);
    });
    // the real observe script over the LocalTransport, parsed as a pass parses it (a template with errors is refused)
    const transport = new RecordingTransport('template', node.root);
    const obs = await observeNode(transport, desired.settings.paths, expectations(desired, tenants));
    if (obs.errors.length > 0) throw new Error(`template node observation has errors: ${obs.errors.join('; ')}`);
    const res = transport.outputs[0]!;
    const doc = JSON.parse(res.stdout) as { v: number; records: ObserveRecord[] };
    // the same node in full, for the records of a tenant that drifts (a real node sends those one by one)
    await observeNode(transport, desired.settings.paths, expectations(desired, tenants, { full: true }));
    const full = (JSON.parse(transport.outputs[1]!.stdout) as { records: ObserveRecord[] }).records;
    const out: ObserveTemplate = { records: [], owners: [], raw: res.stdout, edits: new Map(), full };
    for (const id of tenants) {
      const d = desired.tenants.get(id)!;
      const f = d.files.find((x) => x.path === 'openclaw.json') ?? d.files[0]!;
      const text = Buffer.from(f.content).toString('utf8');
      const edited = Buffer.from(text.includes('"level": "info"') ? text.replace('"level": "info"', '"level": "debug"') : `${text}\n`);
      out.edits.set(id, { path: f.path, sha256: sha256(edited), base64: edited.toString('base64') });
    }
    for (const r of doc.records) {
      const kind = r[0] ?? '';
      // a steady node runs the locked CLI and answers `version` from its cache
      const rec = kind === 'daemon' ? ['daemon', '/usr/local/lib/node_modules/openclaw/openclaw.mjs', desired.lock.daemon.sha256] : kind === 'version' ? [kind, r[1] ?? '', r[2] ?? '', '1'] : r;
      out.records.push(rec);
      out.owners.push(tenantOf(rec));
    }
    return out;
  } finally {
    node.remove();
  }
}

