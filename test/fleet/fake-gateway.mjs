#!/usr/bin/env node
// A stand-in for `openclaw --profile <t> gateway run` on fleet nodes that do not run the real gateway (it takes
// 30-50 s and ~1 GB to start): same command line, same config (OPENCLAW_CONFIG_PATH), same port and readiness
// routes, ready in a fraction of a second. The secret wrapper execs it through CLAWOPS_OPENCLAW, set by the test
// repo's launchd template. Real gateways prove the real path in a few tests; this proves everything around it.
//   GET /healthz → {"ok":true,"status":"live"}     GET /readyz → 503 while "starting", then {"ready":true,…}
//   POST /hooks/wake with `Authorization: Bearer $CLAWOPS_SECRET_HOOKS_TOKEN` → 200, anything else → 401
// A port that is taken makes it exit 1, as the real gateway does. SIGTERM stops it.
// On demand (tests of the controller's health stage): while `$OPENCLAW_STATE_DIR/fake-readyz.json` exists, /readyz
// answers what it says instead — `{"code":200,"body":{"status":"degraded",…}}` (a composite-probe-shaped answer) —
// read on every request, so a test changes the answer by writing or removing the file on the node.
import fs from 'node:fs';
import http from 'node:http';

const args = process.argv.slice(2);
const profile = args[args.indexOf('--profile') + 1] ?? 'default';
if (!(args.includes('gateway') && args.includes('run'))) {
  process.stderr.write(`fake-gateway: only "gateway run" is emulated (got: ${args.join(' ')})\n`);
  process.exit(64);
}
const cfgPath = process.env.OPENCLAW_CONFIG_PATH ?? '';
let cfg;
try {
  cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
} catch (e) {
  process.stderr.write(`fake-gateway: cannot read config ${cfgPath}: ${e.message}\n`);
  process.exit(1);
}
const portArg = args.indexOf('--port');
const port = portArg >= 0 ? Number(args[portArg + 1]) : (cfg?.gateway?.port ?? 18789);
const readyAfter = Number(process.env.CLAWOPS_FAKE_READY_MS ?? 300);
const started = Date.now();
const hooksPath = cfg?.hooks?.path ?? '/hooks';
const forcedFile = process.env.OPENCLAW_STATE_DIR ? `${process.env.OPENCLAW_STATE_DIR}/fake-readyz.json` : '';
function readForced() {
  if (!forcedFile) return undefined;
  try {
    const j = JSON.parse(fs.readFileSync(forcedFile, 'utf8'));
    return { code: Number.isInteger(j.code) ? j.code : 200, body: j.body ?? {} };
  } catch {
    return undefined;
  }
}
const server = http.createServer((req, res) => {
  const json = (code, body) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.url === '/healthz') return json(200, { ok: true, status: 'live' });
  if (req.url === '/readyz') {
    const forced = readForced();
    if (forced) return json(forced.code, forced.body);
    const up = Date.now() - started;
    return up >= readyAfter ? json(200, { ready: true, failing: [], uptimeMs: up, profile, release: process.env.CLAWOPS_RELEASE_ID ?? null }) : json(503, { ready: false, failing: ['startup-sidecars'], uptimeMs: up });
  }
  if (req.method === 'POST' && req.url === `${hooksPath}/wake`) {
    const want = process.env.CLAWOPS_SECRET_HOOKS_TOKEN;
    const ok = want !== undefined && want !== '' && req.headers.authorization === `Bearer ${want}`;
    res.writeHead(ok ? 200 : 401, { 'content-type': 'text/plain' });
    return res.end(ok ? '{"ok":true}' : 'Unauthorized');
  }
  return json(404, { error: 'not found' });
});
server.on('error', (e) => {
  process.stderr.write(`fake-gateway: ${profile}: cannot listen on 127.0.0.1:${port}: ${e.code ?? e.message}\n`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`fake-gateway: ${profile} listening on 127.0.0.1:${port} (release ${process.env.CLAWOPS_RELEASE_ID ?? '?'})\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
