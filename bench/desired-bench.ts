/**
 * lint + render of a generated infra repo: 1,000 tenants × 20 fragments (target < 3 s).
 * Run: make bench (or npx tsx bench/desired-bench.ts [tenants] [fragments]).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDesired, hasErrors } from '../reconciler/desired/build-desired.js';
import { readTree } from '../reconciler/source/read-tree.js';

const tenants = Number(process.argv[2] ?? 1000);
const fragments = Number(process.argv[3] ?? 20);
const root = mkdtempSync(join(tmpdir(), 'clawops-bench-desired-'));
try {
  for (const f of ['clawops.yaml', 'openclaw.lock']) cpSync(join('tenants-example', f), join(root, f));
  const ids = Array.from({ length: tenants }, (_, i) => `tenant-${String(i).padStart(4, '0')}`);
  // 50 tenants a node, ports 20 apart, like a real dense Mac
  const nodes = [];
  for (let n = 0; n * 50 < tenants; n++) nodes.push(`  - name: gw-${n}\n    host: gw-${n}.example\n    role: gateway\n    tenants: [${ids.slice(n * 50, n * 50 + 50).join(', ')}]\n`);
  writeFileSync(join(root, 'nodes.yaml'), `nodes:\n${nodes.join('')}`);
  ids.forEach((id, i) => {
    const port = 18789 + (i % 50) * 20;
    const gw = join(root, 'tenants', id, 'gateway.d');
    const dr = join(root, 'tenants', id, 'doctor.d');
    const wh = join(root, 'tenants', id, 'webhook.d');
    for (const d of [gw, dr, wh]) mkdirSync(d, { recursive: true });
    writeFileSync(join(gw, '10-base.yaml'), `gateway:\n  mode: local\n  port: ${port}\n  bind: loopback\n  auth:\n    mode: token\n    token: { secret_ref: token.current }\n`);
    writeFileSync(join(dr, '10-base.yaml'), 'doctor:\n  fail_on: error\n');
    writeFileSync(join(wh, '10-base.yaml'), `endpoints:\n  main:\n    url: https://hooks.${id}.example/openclaw\n`);
    for (let k = 3; k < fragments; k++) {
      writeFileSync(join(gw, `${String(20 + k).padStart(2, '0')}-part-${k}.yaml`), `agents:\n  list${k}:\n    setting: value-${k}\n    weight: ${k}\n`);
    }
  });
  const t0 = performance.now();
  const snap = await readTree(root);
  const t1 = performance.now();
  const state = buildDesired(snap);
  const t2 = performance.now();
  if (hasErrors(state)) throw new Error(`generated repo has findings: ${JSON.stringify(state.findings.slice(0, 3))}`);
  const total = (t2 - t0) / 1000;
  console.log(
    `desired: ${tenants} tenants × ${fragments} fragments (${snap.entries.size} entries): read ${((t1 - t0) / 1000).toFixed(2)} s, ` +
      `lint+merge+render ${((t2 - t1) / 1000).toFixed(2)} s, total ${total.toFixed(2)} s (target < 3 s) ${total < 3 ? 'OK' : 'SLOW'}`,
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
