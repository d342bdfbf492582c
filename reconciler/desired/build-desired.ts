/**
 * Infra repo snapshot → desired state. Pure: reads only the snapshot, so listing order, the machine and the clock
 * cannot change the result. Every rule of specs/infra-repo.md is checked here and reported as a Finding.
 */
import { createHash } from 'node:crypto';
import { releaseIdOf } from '../release-manifest.js';
import { escapeInline } from '../safe-text.js';
import { canonicalJson } from './canonical-json.js';
import { EMPTY_LOCK, nodeWithDefaults, settingsWithDefaults } from './defaults.js';
import { fragmentOrder, mergeFragments, type Fragment } from './merge-fragments.js';
import { GATEWAY_RUN_SH, secretsList } from '../units/gateway-run-sh.js';
import { NOTIFIER_LABEL, PROBE_PORT_OFFSET, renderUnit, UNIT_TEMPLATES, unitLabel, type NotifierVars, type UnitKind } from '../units/render-units.js';
import { isSecretRef, renderDoctorPolicy, renderOpenclawConfig, renderWebhookPolicy, secretEnvVar } from './render.js';
import { validateDoc, type SchemaName } from './schema.js';
import { scanComments, scanForSecrets } from './secret-scan.js';
import { MAX_FILE_BYTES, type RepoSnapshot, type SnapshotEntry } from './snapshot.js';
import {
  KINDS,
  RENDERED_FILES,
  type DesiredState,
  type Finding,
  type Kind,
  type Lock,
  type NodeSpec,
  type ReleaseFile,
  type Settings,
  type TenantDesired,
} from './types.js';
import { normaliseText, parseJsonFile, parseYamlFile, type SourceDoc } from './yaml-doc.js';

export const TENANT_ID = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
/** Bumped when rendering changes, so release ids change with it. */
const SQLITE = /\.sqlite3?(-wal|-shm|-journal)?$|\.db(-wal|-shm)?$/i;
/**
 * OpenClaw profiles on one host need base ports at least this far apart: derived ports reach base+110
 * (docs: gateway/multiple-gateways.md); the composite probe listens on base+115.
 */
export const PROFILE_PORT_SPACING = 120;
export const DEFAULT_GATEWAY_PORT = 18789;

export interface BuildOptions {
  /** only this tenant's tree is loaded and checked (repo-level files always are) */
  tenant?: string;
}

function err(file: string, line: number, col: number, message: string, rule: string): Finding {
  return { file, line, col, severity: 'error', message, rule };
}

function sha256(buf: Buffer | string): string {
  return createHash('sha256').update(buf).digest('hex');
}

function sortedEntries(snapshot: RepoSnapshot): [string, SnapshotEntry][] {
  return [...snapshot.entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Directory → its direct children, in path order. Built once: per-directory scans of the whole tree are O(n²). */
type ChildIndex = Map<string, [string, SnapshotEntry][]>;
function indexChildren(entries: [string, SnapshotEntry][]): ChildIndex {
  const index: ChildIndex = new Map();
  for (const e of entries) {
    const slash = e[0].lastIndexOf('/');
    const parent = slash < 0 ? '' : e[0].slice(0, slash);
    let list = index.get(parent);
    if (!list) index.set(parent, (list = []));
    list.push(e);
  }
  return index;
}
function children(index: ChildIndex, dir: string): [string, SnapshotEntry][] {
  return index.get(dir) ?? [];
}

function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/**
 * Fragments already loaded in this build, by kind and content hash: tenants often share fragments byte for byte, and
 * bytes that parsed, scanned and validated clean once are clean again, so they are not parsed, scanned or validated
 * twice (each file still gets a value of its own). Bytes with findings are never kept: every copy reports its own.
 */
type DocCache = Map<string, (file: string) => SourceDoc>;

/**
 * Parse and schema-check one YAML/JSON file; secrets are scanned too where `scan` is set. With `reuse`, a file whose
 * key is in the cache is not parsed again, and a clean one is added to it.
 */
function loadDoc(
  path: string,
  entry: SnapshotEntry | undefined,
  schema: SchemaName | undefined,
  findings: Finding[],
  opts: { json?: boolean; scan?: boolean; reuse?: { cache: DocCache; key: string } } = {},
): SourceDoc | undefined {
  if (!entry) return undefined;
  if (entry.type === 'symlink') {
    findings.push(err(path, 1, 1, `is a symlink (to ${entry.target}); commit the file itself`, 'layout/symlink'));
    return undefined;
  }
  if (entry.type !== 'file') {
    findings.push(err(path, 1, 1, 'is not a regular file', 'layout/not-a-file'));
    return undefined;
  }
  if (entry.size > MAX_FILE_BYTES) {
    findings.push(err(path, 1, 1, `is ${entry.size} bytes, over the ${MAX_FILE_BYTES}-byte limit`, 'layout/too-large'));
    return undefined;
  }
  const known = opts.reuse?.cache.get(opts.reuse.key);
  if (known) return known(path);
  const before = findings.length;
  let parsed: ReturnType<typeof parseYamlFile>;
  try {
    parsed = opts.json ? parseJsonFile(path, entry.content) : parseYamlFile(path, entry.content);
  } catch (e) {
    // parseYamlFile turns parser limits into findings itself; this is the backstop that keeps one file's problem a finding.
    findings.push(err(path, 1, 1, `cannot parse: ${e instanceof Error ? e.message : String(e)}`, 'yaml-limit'));
    return undefined;
  }
  if ('findings' in parsed) {
    findings.push(...parsed.findings);
    return undefined;
  }
  const doc = parsed.doc;
  if (opts.scan) {
    const hits = scanForSecrets(doc.value);
    for (const hit of hits) {
      const pos = doc.locate(hit.path);
      const where = hit.path.length > 0 ? `${hit.path.join('.')}: ` : '';
      findings.push(err(path, pos.line, pos.col, `${where}${hit.why} (value not shown)`, 'secret/literal'));
    }
    const inComments = scanComments(normaliseText(entry.content));
    for (const c of inComments) findings.push(err(path, c.line, 1, `${c.why} (the file ships to every node; value not shown)`, 'secret/literal'));
    // (a file with a secret in it is refused here: the schema's messages quote keys, and a key may be the secret)
    if (hits.length + inComments.length > 0) return undefined;
  }
  if (schema) {
    if (doc.value === null || typeof doc.value !== 'object' || Array.isArray(doc.value)) {
      findings.push(err(path, 1, 1, 'must be a YAML map at the top level', 'schema/type'));
      return undefined;
    }
    const schemaFindings = validateDoc(schema, doc);
    findings.push(...schemaFindings);
    if (schemaFindings.length > 0) return undefined;
  }
  if (opts.reuse && findings.length === before) opts.reuse.cache.set(opts.reuse.key, parsed.again);
  return doc;
}

function isUnsafeRelative(p: string): boolean {
  return p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.split(/[\\/]/).some((s) => s === '..');
}

export function buildDesired(snapshot: RepoSnapshot, opts: BuildOptions = {}): DesiredState {
  const findings: Finding[] = [];
  const entries = sortedEntries(snapshot).filter(([p]) => p !== '.git' && !p.startsWith('.git/'));
  const index = indexChildren(entries);

  // Repo-wide: SQLite files never belong in git (they are live state), wherever they are.
  for (const [p, e] of entries) {
    if (e.type !== 'dir' && SQLITE.test(baseName(p))) findings.push(err(p, 1, 1, 'is a SQLite file; live state never goes in the infra repo', 'layout/sqlite'));
  }

  const get = (p: string): SnapshotEntry | undefined => snapshot.entries.get(p);
  const requireFile = (p: string, schema: SchemaName): SourceDoc | undefined => {
    if (!get(p)) {
      findings.push(err(p, 1, 1, 'is missing from the repo root', 'layout/missing-file'));
      return undefined;
    }
    return loadDoc(p, get(p), schema, findings);
  };

  const settingsDoc = requireFile('clawops.yaml', 'clawops');
  const settings = settingsWithDefaults((settingsDoc?.value ?? {}) as Parameters<typeof settingsWithDefaults>[0]);
  const nodesDoc = requireFile('nodes.yaml', 'nodes');
  const lockDoc = requireFile('openclaw.lock', 'lock');
  const lock = (lockDoc?.value as Lock | undefined) ?? EMPTY_LOCK;

  // Tenants: every directory under tenants/.
  const tenantDirs = children(index, 'tenants');
  const allTenantIds = new Set<string>();
  for (const [p, e] of tenantDirs) {
    const id = baseName(p);
    if (e.type === 'symlink') {
      findings.push(err(p, 1, 1, `tenant directory is a symlink (to ${e.target})`, 'layout/symlink'));
      continue;
    }
    if (e.type !== 'dir') {
      findings.push(err(p, 1, 1, 'unexpected file in tenants/; each tenant is a directory', 'layout/unexpected-file'));
      continue;
    }
    if (!TENANT_ID.test(id)) {
      findings.push(err(p, 1, 1, `invalid tenant id "${id}": must match ${TENANT_ID.source}`, 'tenant/invalid-id'));
      continue;
    }
    // the node's own launchd units are ai.openclaw.clawops.* (the notifier): a tenant of that name would share them
    if (id === 'clawops') {
      findings.push(err(p, 1, 1, 'tenant id "clawops" is reserved: the node\'s own units are labelled ai.openclaw.clawops.*', 'tenant/invalid-id'));
      continue;
    }
    allTenantIds.add(id);
  }

  const fixtures = loadFixtures(entries, findings);
  const templates = loadUnitTemplates(entries, findings, allTenantIds.size > 0);
  const tenants = new Map<string, TenantDesired>();
  const docs: DocCache = new Map();
  const wanted = opts.tenant === undefined ? [...allTenantIds] : [...allTenantIds].filter((t) => t === opts.tenant);
  for (const id of wanted.sort()) {
    const t = buildTenant(id, index, settings, fixtures, templates, docs, findings);
    if (t) tenants.set(id, t);
  }

  const nodes = checkNodes(nodesDoc, allTenantIds, tenants, findings);
  const notifierTpl = templates.get('notifier');
  const state: DesiredState = { settings, nodes, lock, tenants, findings };
  if (notifierTpl) {
    // lint once, with the settings' listen address; each notifier node gets it on its own port block at apply time
    const u = renderUnit(notifierTpl.file, notifierTpl.text, 'notifier', notifierVars(settings, 0));
    findings.push(...u.findings);
    if (u.content) state.notifierTemplate = notifierTpl.text;
  }
  state.findings = sortFindings(findings);
  return state;
}

function loadFixtures(entries: [string, SnapshotEntry][], findings: Finding[]): Set<string> {
  const names = new Set<string>();
  for (const [p, e] of entries) {
    // (fixtures/ and fixtures/webhooks/ themselves too: a committed link there would have the controller walk a
    // directory of its host)
    if (p !== 'fixtures' && p !== 'fixtures/webhooks' && !p.startsWith('fixtures/webhooks/')) continue;
    if (e.type === 'symlink') {
      findings.push(err(p, 1, 1, `is a symlink (to ${e.target}); commit the ${p.endsWith('.json') ? 'file' : 'directory'} itself`, 'layout/symlink'));
      continue;
    }
    if (e.type === 'dir' || p === 'fixtures' || p === 'fixtures/webhooks') continue;
    const rel = p.slice('fixtures/webhooks/'.length);
    if (!rel.endsWith('.json')) {
      findings.push(err(p, 1, 1, 'fixtures/webhooks/ holds only recorded deliveries (*.json)', 'layout/unexpected-file'));
      continue;
    }
    if (loadDoc(p, e, undefined, findings, { json: true, scan: true })) names.add(rel);
  }
  return names;
}

/**
 * The launchd templates at the repo root (launchd/gateway.plist, launchd/probe.plist). Anything else there is a
 * finding; a repo with tenants but no gateway template is warned: apply could swap configs but not restart gateways.
 */
function loadUnitTemplates(entries: [string, SnapshotEntry][], findings: Finding[], hasTenants: boolean): Map<UnitKind, { file: string; text: string }> {
  const out = new Map<UnitKind, { file: string; text: string }>();
  for (const [p, e] of entries) {
    if (!p.startsWith('launchd/') || e.type === 'dir') continue;
    const kind = (Object.keys(UNIT_TEMPLATES) as UnitKind[]).find((k) => UNIT_TEMPLATES[k] === p);
    if (!kind) {
      findings.push(err(p, 1, 1, `unknown launchd template; expected ${Object.values(UNIT_TEMPLATES).join(' or ')}`, 'launchd/unknown-template'));
      continue;
    }
    if (e.type === 'symlink') {
      findings.push(err(p, 1, 1, `is a symlink (to ${e.target}); commit the file itself`, 'layout/symlink'));
      continue;
    }
    if (e.type !== 'file') continue;
    if (e.size > MAX_FILE_BYTES) {
      findings.push(err(p, 1, 1, `is ${e.size} bytes, over the ${MAX_FILE_BYTES}-byte limit`, 'layout/too-large'));
      continue;
    }
    out.set(kind, { file: p, text: e.content.toString('utf8') });
  }
  if (hasTenants && !out.has('gateway')) {
    findings.push({ file: UNIT_TEMPLATES.gateway, line: 1, col: 1, severity: 'warning', message: 'no gateway unit template: apply swaps configs but cannot (re)start gateways or gate on their health', rule: 'launchd/missing-template' });
  }
  return out;
}

/** secrets.list entries for the rendered gateway config: file SecretRefs (checked) and ${CLAWOPS_SECRET_*} (exported). */
function gatewaySecretEntries(config: Record<string, unknown>, refs: readonly string[], tenant: string): { kind: 'env' | 'file'; variable?: string; name: string }[] {
  const text = JSON.stringify(config);
  return refs.flatMap((name) => {
    const out: { kind: 'env' | 'file'; variable?: string; name: string }[] = [];
    if (text.includes(`/secrets/${tenant}/${name}"`)) out.push({ kind: 'file', name });
    if (text.includes(`\${${secretEnvVar(name)}}`)) out.push({ kind: 'env', variable: secretEnvVar(name), name });
    return out;
  });
}

/** The notifier unit for a notifier node (rendered on its port block), or undefined. Pure. */
export function notifierUnitFor(d: Pick<DesiredState, 'notifierTemplate' | 'settings'>, node: NodeSpec): { label: string; content: Buffer; sha256: string } | undefined {
  if (d.notifierTemplate === undefined || node.role !== 'notifier') return undefined;
  const u = renderUnit(UNIT_TEMPLATES.notifier, d.notifierTemplate, 'notifier', notifierVars(d.settings, node.port_offset ?? 0));
  return u.content ? { label: u.label, content: u.content, sha256: sha256(u.content) } : undefined;
}

/** The notifier unit's placeholders on a node: clawops.yaml `notifier:` with the listen port moved by port_offset. */
export function notifierVars(settings: Settings, portOffset: number): NotifierVars {
  const m = /^(.*):(\d+)$/.exec(settings.notifier.listen);
  const listen = m && portOffset ? `${m[1]}:${Number(m[2]) + portOffset}` : settings.notifier.listen;
  return { etc: settings.paths.etc, var_db: settings.paths.var_db, label: NOTIFIER_LABEL, socket: settings.notifier.socket, listen, state_file: settings.notifier.state_file };
}

function buildTenant(
  id: string,
  index: ChildIndex,
  settings: Settings,
  fixtures: Set<string>,
  templates: Map<UnitKind, { file: string; text: string }>,
  docs: DocCache,
  findings: Finding[],
): TenantDesired | undefined {
  const dir = `tenants/${id}`;
  const before = findings.length;
  const fragmentsByKind = new Map<Kind, Fragment[]>();
  const files: ReleaseFile[] = [];

  for (const [p, e] of children(index, dir)) {
    const name = baseName(p);
    const kind = KINDS.find((k) => `${k}.d` === name);
    if (e.type === 'symlink') {
      findings.push(err(p, 1, 1, `is a symlink (to ${e.target}); symlinks are not allowed in a tenant tree`, 'layout/symlink'));
      continue;
    }
    if (!kind || e.type !== 'dir') {
      const what = e.type === 'dir' ? `unknown kind "${name}": expected one of ${KINDS.map((k) => `${k}.d`).join(', ')}` : 'unexpected file; fragments live in <kind>.d/';
      findings.push(err(p, 1, 1, what, e.type === 'dir' ? 'layout/unknown-kind' : 'layout/unexpected-file'));
      continue;
    }
    const frags: Fragment[] = [];
    const kids = children(index, p);
    // names one file on a case-insensitive file system (macOS: the operator's checkout, every node's release dir)
    const folded = new Map<string, string>();
    if (kids.length === 0) findings.push(err(p, 1, 1, `${name} is empty; delete it or add a fragment`, 'layout/empty-kind'));
    for (const [fp, fe] of kids) {
      const fname = baseName(fp);
      if (fe.type === 'symlink') {
        findings.push(err(fp, 1, 1, `is a symlink (to ${fe.target}); symlinks are not allowed in a tenant tree`, 'layout/symlink'));
        continue;
      }
      if (fe.type === 'dir') {
        findings.push(err(fp, 1, 1, 'nested directories are not allowed in a kind directory', 'layout/unexpected-dir'));
        continue;
      }
      if (/\.sqlite|\.db(-|$)/i.test(fname)) continue; // reported repo-wide
      const other = folded.get(fname.toLowerCase());
      if (other !== undefined) {
        findings.push(err(fp, 1, 1, `"${fname}" and "${other}" differ only in case: on macOS (every node, most checkouts) they are one file; rename one`, 'layout/case-collision'));
        continue;
      }
      folded.set(fname.toLowerCase(), fname);
      const order = fragmentOrder(fname);
      if (order === undefined) {
        findings.push(err(fp, 1, 1, `"${fname}" has no numeric prefix: name fragments NN-name.yaml (e.g. 10-base.yaml)`, 'layout/unnumbered'));
        continue;
      }
      // the hash the release lists the fragment under is also its key in the cache of documents
      const digest = fe.type === 'file' ? sha256(fe.content) : undefined;
      const doc = loadDoc(fp, fe, `${kind}-fragment`, findings, { scan: true, ...(digest !== undefined ? { reuse: { cache: docs, key: `${kind}:${digest}` } } : {}) });
      if (!doc) continue;
      const pathFindings = checkFragmentPaths(kind, doc, fixtures);
      findings.push(...pathFindings);
      if (pathFindings.length > 0) continue;
      frags.push({ file: fp, name: fname, order, doc });
      if (fe.type === 'file') files.push({ path: `${name}/${fname}`, content: fe.content, sha256: digest ?? sha256(fe.content) });
    }
    fragmentsByKind.set(kind, frags);
  }
  if (!fragmentsByKind.has('gateway')) {
    findings.push(err(dir, 1, 1, `tenant "${id}" has no gateway.d/; its openclaw.json cannot be rendered`, 'layout/missing-kind'));
  }

  const merged = new Map<Kind, ReturnType<typeof mergeFragments>>();
  for (const kind of KINDS) {
    const m = mergeFragments(fragmentsByKind.get(kind) ?? []);
    findings.push(...m.findings);
    merged.set(kind, m);
  }
  const gw = merged.get('gateway')!;
  const dr = merged.get('doctor')!;
  const wh = merged.get('webhook')!;

  findings.push(...secretRefFindings(gw.value, gw.provenance, dir));
  const rendered = renderOpenclawConfig(gw.value, id, settings);
  const doctor = renderDoctorPolicy(dr.value, id, settings);
  const webhook = renderWebhookPolicy(wh.value, id);

  for (const [name, ep] of Object.entries(webhook.endpoints)) {
    if (ep.url) continue;
    const at = wh.provenance[`endpoints.${name}`] ?? Object.entries(wh.provenance).find(([k]) => k.startsWith(`endpoints.${name}.`))?.[1] ?? { file: dir, line: 1, col: 1 };
    findings.push(err(at.file, at.line, at.col, `endpoints.${name}: no url is set by any fragment`, 'webhook/missing-url'));
  }

  if (findings.length > before) return undefined;

  // units, the secret wrapper and what it exports: part of the release, so manifest, drift and .prev cover them
  const port = (rendered.config.gateway as { port?: number } | undefined)?.port ?? DEFAULT_GATEWAY_PORT;
  const units: TenantDesired['units'] = [];
  for (const [kind, tpl] of templates) {
    if (kind === 'notifier') continue; // a node unit, not a tenant's
    const label = unitLabel(id, kind);
    const u = renderUnit(tpl.file, tpl.text, kind, { tenant: id, etc: settings.paths.etc, var_db: settings.paths.var_db, port, probe_port: port + PROBE_PORT_OFFSET, label });
    // a broken template is one finding, not one per tenant
    for (const f of u.findings) if (!findings.some((x) => x.file === f.file && x.line === f.line && x.rule === f.rule && x.message === f.message)) findings.push(f);
    if (!u.content) continue;
    files.push({ path: u.path, content: u.content, sha256: sha256(u.content) });
    units.push({ kind, label, path: u.path });
  }
  if (findings.length > before) return undefined;
  if (units.some((u) => u.kind === 'gateway')) {
    for (const [path, text] of [['bin/gateway-run', GATEWAY_RUN_SH], ['secrets.list', secretsList(gatewaySecretEntries(rendered.config, rendered.secretRefs, id))]] as const) {
      const content = Buffer.from(text);
      files.push({ path, content, sha256: sha256(content) });
    }
  }

  const renderedFiles: [string, string][] = [
    [RENDERED_FILES.gateway, canonicalJson(rendered.config)],
    [RENDERED_FILES.doctor, canonicalJson(doctor)],
    [RENDERED_FILES.webhook, canonicalJson(webhook)],
  ];
  for (const [path, text] of renderedFiles) {
    const content = Buffer.from(text);
    files.push({ path, content, sha256: sha256(content) });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const releaseId = releaseIdOf(files);
  const webhookSecrets = Object.values(webhook.endpoints).flatMap((e) => (e.signing_secret ? [e.signing_secret.secret_ref] : []));
  return {
    id,
    files,
    openclaw: rendered.config,
    doctor,
    webhook,
    secretRefs: [...new Set([...rendered.secretRefs, ...webhookSecrets])].sort(),
    releaseId,
    units: units.sort((a, b) => (a.label < b.label ? -1 : 1)),
    port,
    ...(units.some((u) => u.kind === 'probe') ? { probePort: port + PROBE_PORT_OFFSET } : {}),
    provenance: gw.provenance,
  };
}

/** Paths inside fragments stay inside their base: queue files in the profile state dir, fixtures in fixtures/webhooks/. */
function checkFragmentPaths(kind: Kind, doc: SourceDoc, fixtures: Set<string>): Finding[] {
  const out: Finding[] = [];
  if (kind === 'doctor') {
    const paths = (doc.value as { queue?: { paths?: string[] } }).queue?.paths ?? [];
    paths.forEach((qp, i) => {
      if (!isUnsafeRelative(qp)) return;
      const pos = doc.locate(['queue', 'paths', i]);
      out.push(err(doc.file, pos.line, pos.col, `queue.paths[${i}]: "${qp}" must be relative to the profile state dir, without ".."`, 'path-traversal'));
    });
  }
  if (kind === 'webhook') {
    const eps = (doc.value as { endpoints?: Record<string, { fixture?: string }> }).endpoints ?? {};
    for (const [name, ep] of Object.entries(eps)) {
      if (ep.fixture === undefined) continue;
      const pos = doc.locate(['endpoints', name, 'fixture']);
      if (isUnsafeRelative(ep.fixture)) {
        out.push(err(doc.file, pos.line, pos.col, `endpoints.${name}.fixture: "${ep.fixture}" must be relative to fixtures/webhooks/, without ".."`, 'path-traversal'));
      } else if (!fixtures.has(ep.fixture)) {
        out.push(err(doc.file, pos.line, pos.col, `endpoints.${name}.fixture: fixtures/webhooks/${ep.fixture} does not exist`, 'webhook/missing-fixture'));
      }
    }
  }
  if (kind === 'gateway') out.push(...openclawDirectives(doc));
  return out;
}

/**
 * What OpenClaw itself acts on inside its config, refused in a gateway fragment (a repo's text must not steer it):
 * an `$include` key (OpenClaw reads the file it names, and quotes its keys in refusals) and a `${VAR}` in a string
 * (OpenClaw substitutes it from its own environment, the operator's for `lint --openclaw`, the wrapper's on a node,
 * before it validates, and some refusals quote the value). clawops renders the only `${…}` a config needs: a
 * `{secret_ref: …}` becomes `${CLAWOPS_SECRET_…}`. Names and values are not quoted back.
 */
function openclawDirectives(doc: SourceDoc): Finding[] {
  const out: Finding[] = [];
  const walk = (v: unknown, path: (string | number)[]): void => {
    if (out.length >= 20) return;
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, [...path, i]));
    if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (k === '$include') {
          const pos = doc.locate([...path, k]);
          out.push(err(doc.file, pos.line, pos.col, `${[...path, k].join('.')}: OpenClaw's $include is not allowed in a fragment (it would read a file outside the release); put the settings in a fragment`, 'fragment/include'));
          continue;
        }
        walk(x, [...path, k]);
      }
      return;
    }
    if (typeof v === 'string' && /\$\{[A-Za-z_][A-Za-z0-9_]*\}/.test(v)) {
      const pos = doc.locate(path);
      out.push(err(doc.file, pos.line, pos.col, `${path.join('.') || '(value)'}: a \${VAR} in a fragment is substituted by OpenClaw from its environment; reference a secret with {secret_ref: name} (value not shown)`, 'fragment/env-placeholder'));
    }
  };
  walk(doc.value, []);
  return out;
}

/** A secret's name as clawops writes it into secrets.list and a node's secrets dir: defs.schema.json's secretRef pattern (a test holds them equal). */
export const SECRET_NAME = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/;

/**
 * Every `{secret_ref: name}` of a tenant's merged gateway config, wherever it stands (the schema checks names only
 * where it knows the key): a name secrets.list and the node cannot take as is (`../x`, a newline that would add a line
 * of its own, uppercase) and two names that become one CLAWOPS_SECRET_ variable (`hooks.token`, `hooks_token`: the
 * wrapper would export it twice, the last file winning) are errors at the fragment that set them. Names not quoted
 * back beyond the pattern's.
 */
function secretRefFindings(merged: Record<string, unknown>, provenance: Record<string, { file: string; line: number; col: number }>, dir: string): Finding[] {
  const out: Finding[] = [];
  const byVar = new Map<string, string>();
  const walk = (v: unknown, path: string[]): void => {
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, [...path, String(i)]));
    if (v === null || typeof v !== 'object') return;
    if (isSecretRef(v)) {
      const at = provenance[[...path, 'secret_ref'].join('.')] ?? provenance[path.join('.')] ?? { file: dir, line: 1, col: 1 };
      const name = v.secret_ref;
      if (!SECRET_NAME.test(name) || name.length > 128) {
        out.push(err(at.file, at.line, at.col, `${path.join('.')}: secret_ref names a secret file: lowercase letters, digits, '.', '_' and '-' only, starting with a letter (name not shown)`, 'secret/ref-name'));
        return;
      }
      const envVar = secretEnvVar(name);
      const other = byVar.get(envVar);
      if (other !== undefined && other !== name) out.push(err(at.file, at.line, at.col, `${path.join('.')}: secrets "${other}" and "${name}" both become ${envVar}: rename one`, 'secret/ref-name'));
      else byVar.set(envVar, name);
      return;
    }
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, [...path, k]);
  };
  walk(merged, []);
  return out;
}

function checkNodes(
  doc: SourceDoc | undefined,
  allTenants: Set<string>,
  built: Map<string, TenantDesired>,
  findings: Finding[],
): NodeSpec[] {
  if (!doc) return [];
  const raw = (doc.value as { nodes: Parameters<typeof nodeWithDefaults>[0][] }).nodes;
  const nodes = raw.map(nodeWithDefaults);
  const seen = new Map<string, number>();
  nodes.forEach((n, i) => {
    const first = seen.get(n.name);
    if (first !== undefined) {
      const pos = doc.locate(['nodes', i, 'name']);
      findings.push(err(doc.file, pos.line, pos.col, `node "${n.name}" is listed twice (first at nodes[${first}])`, 'nodes/duplicate-name'));
    } else seen.set(n.name, i);
    n.tenants.forEach((t, j) => {
      if (!allTenants.has(t)) {
        const pos = doc.locate(['nodes', i, 'tenants', j]);
        findings.push(err(doc.file, pos.line, pos.col, `node "${n.name}" is assigned tenant "${t}", which has no directory under tenants/`, 'nodes/unknown-tenant'));
      }
    });
    // Two profiles on one Mac need base ports ≥ 120 apart (OpenClaw derives companion ports up to base+110).
    const ports = n.tenants
      .map((t) => ({ t, port: built.get(t) ? gatewayPort(built.get(t)!) : undefined }))
      .filter((x): x is { t: string; port: number } => x.port !== undefined)
      .sort((a, b) => a.port - b.port);
    for (let k = 1; k < ports.length; k++) {
      const a = ports[k - 1]!;
      const b = ports[k]!;
      if (b.port - a.port < PROFILE_PORT_SPACING) {
        const pos = doc.locate(['nodes', i, 'tenants']);
        findings.push(
          err(doc.file, pos.line, pos.col, `node "${n.name}": tenants "${a.t}" (port ${a.port}) and "${b.t}" (port ${b.port}) are less than ${PROFILE_PORT_SPACING} ports apart`, 'nodes/port-overlap'),
        );
      }
    }
  });
  return nodes;
}

export function gatewayPort(t: TenantDesired): number {
  const gw = t.openclaw.gateway as { port?: number } | undefined;
  return gw?.port ?? DEFAULT_GATEWAY_PORT;
}

function sortFindings(f: Finding[]): Finding[] {
  return [...f].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.col - b.col || (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0)));
}

export function hasErrors(state: Pick<DesiredState, 'findings'>): boolean {
  return state.findings.some((f) => f.severity === 'error');
}

/** One finding, always on one visible line: file names and messages come from the repo and may hold control characters. */
export function formatFinding(f: Finding): string {
  return `${escapeInline(f.file)}:${f.line}:${f.col}: ${f.severity}: ${escapeInline(f.message)} [${escapeInline(f.rule)}]`;
}
