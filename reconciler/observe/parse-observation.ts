/** Pure parsing of the observe script's JSON into a NodeObservation. */
import { TENANT_ID } from '../desired/build-desired.js';
import { parseVersion } from '../openclaw-cli.js';
import { MANIFEST_PATH, parseManifest } from '../release-manifest.js';
import type { LaunchdState, NodeObservation, TenantObservation, TokenMeta } from './types.js';
import { INTENT_READ_BYTES } from './observe-script.js';

/**
 * Hashes repeat across nodes (the same releases everywhere) and across passes: one copy of each per process instead
 * of one per node (a 10-tenant node's observation holds ~800 of them). Bounded; cleared when full.
 */
const HASHES = new Map<string, string>();
function intern(s: string): string {
  const have = HASHES.get(s);
  if (have !== undefined) return have;
  if (HASHES.size >= 100_000) HASHES.clear();
  HASHES.set(s, s);
  return s;
}

const b64 = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64');

/**
 * Parse `launchctl print system/<label>` (one service in full: state, pid, environment). Observe reads the cheaper
 * `print system` listing instead (serviceState); this is for steps that need one service's details.
 * macOS format: `system/<label> = {` then tab-indented `key = value` lines,
 * nested `name = {` … `}` blocks. Exit 113 means the service is not loaded.
 */
/**
 * A map keyed by names a node chose (file names, secret names, launchctl keys): no prototype, so a file named
 * `__proto__` is a key like any other instead of hitting Object.prototype's setter and vanishing.
 */
export function dict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

export function parseLaunchctlPrint(text: string, exitCode: number): LaunchdState {
  const fields = dict<string>();
  const environment = dict<string>();
  if (exitCode !== 0) return { loaded: false, fields, environment, exitCode };
  let depth = 0;
  let block = '';
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    // blocks open with `name = {` or, for dictionaries such as event triggers, `name => {`
    if (/=>?\s*\{$/.test(trimmed) || trimmed === '{') {
      depth++;
      if (depth === 2) block = trimmed.replace(/\s*=>?\s*\{$/, '');
      continue;
    }
    if (trimmed === '}') {
      depth--;
      continue;
    }
    const m = /^(.+?) => (.*)$/.exec(trimmed) ?? /^(.+?) = (.*)$/.exec(trimmed);
    if (!m) continue;
    if (depth === 1) fields[m[1]!] = m[2]!;
    else if (depth === 2 && block === 'environment') environment[m[1]!] = m[2]!;
  }
  const pid = fields.pid !== undefined ? Number(fields.pid) : undefined;
  const st: LaunchdState = { loaded: true, fields, environment, exitCode };
  if (fields.state !== undefined) st.state = fields.state;
  if (pid !== undefined && Number.isFinite(pid)) st.pid = pid;
  if (fields['last exit code'] !== undefined) st.lastExitCode = fields['last exit code'];
  return st;
}

/**
 * A service's state from its line in `launchctl print system` (`services = {` block: pid, last exit status, label).
 * pid 0 or `-` means not running; last exit `-` means it never exited.
 */
export function serviceState(svc: { pid: string; last: string } | undefined, listFailed: number | undefined): LaunchdState {
  if (!svc) return { loaded: false, fields: {}, environment: {}, exitCode: listFailed ?? 113 };
  const pid = Number(svc.pid);
  const running = Number.isInteger(pid) && pid > 0;
  const st: LaunchdState = { loaded: true, state: running ? 'running' : 'not running', fields: { pid: svc.pid, 'last exit code': svc.last }, environment: {}, exitCode: 0 };
  if (running) st.pid = pid;
  if (svc.last !== '-') st.lastExitCode = svc.last;
  return st;
}

function releaseIdOf(target: string, tenant: string): string | undefined {
  const m = /(?:^|\/)releases\/([^/]+)\/([^/]+)\/?$/.exec(target);
  return m && m[1] === tenant ? m[2] : undefined;
}

function emptyTenant(tenant: string): TenantObservation {
  return {
    tenant,
    releases: [],
    files: dict(),
    contents: dict(),
    launchd: { loaded: false, fields: dict(), environment: dict(), exitCode: -1 },
    tokens: { 'token.current': { present: false }, 'token.next': { present: false } },
    unsafeNames: [],
    sizes: dict(),
    unexpected: [],
    secrets: dict(),
    quarantined: [],
  };
}

/**
 * The desired files of a tenant (its F lines in the observe script's stdin) as path → sha256: what an `insync` record
 * stands for. The same release is desired on every node and pass that has the tenant, so the map is made once per
 * F-line text and shared, frozen, by every observation that refers to it (a manifest's file list; each tenant's
 * `files` is a per-node copy): no per-node split of stdin, no per-node map. Bounded; cleared when full.
 */
const DESIRED = new Map<string, Readonly<Record<string, string>>>();
/**
 * desiredFiles per stdin and tenant: the controller sends the same stdin string (one per desired state and tenant
 * list, connections.ts) to every node alike, so the map is found by a lookup of that string (its hash is kept in it)
 * instead of a scan of it and a lookup of a freshly cut key of some KiB, for every tenant of every node every pass
 * (the largest CPU cost of the parse at 500 nodes). Bounded; cleared when full.
 */
const BY_STDIN = new Map<string, Map<string, Readonly<Record<string, string>> | undefined>>();
function desiredFiles(stdin: string, tenant: string): Readonly<Record<string, string>> | undefined {
  let byTenant = BY_STDIN.get(stdin);
  if (!byTenant) {
    if (BY_STDIN.size >= 64) BY_STDIN.clear();
    BY_STDIN.set(stdin, (byTenant = new Map()));
  }
  if (byTenant.has(tenant)) return byTenant.get(tenant);
  const files = scanDesiredFiles(stdin, tenant);
  byTenant.set(tenant, files);
  return files;
}

function scanDesiredFiles(stdin: string, tenant: string): Readonly<Record<string, string>> | undefined {
  const tag = `F\t${tenant}\t`;
  // every F line of the tenant, wherever it is (expectations() writes them together: one slice)
  const parts: string[] = [];
  let block: [number, number] | undefined;
  for (let i = stdin.indexOf(tag); i >= 0; i = stdin.indexOf(tag, i + 1)) {
    if (i > 0 && stdin.charCodeAt(i - 1) !== 10) continue;
    let e = stdin.indexOf('\n', i);
    if (e < 0) e = stdin.length;
    if (block && block[1] + 1 === i) block[1] = e;
    else {
      if (block) parts.push(stdin.slice(block[0], block[1]));
      block = [i, e];
    }
  }
  if (!block) return undefined;
  parts.push(stdin.slice(block[0], block[1]));
  const key = parts.length === 1 ? parts[0]! : parts.join('\n');
  const have = DESIRED.get(key);
  if (have) return have;
  const files = dict<string>();
  for (const line of key.split('\n')) {
    const [, , path = '', sha = ''] = line.split('\t');
    files[path] = intern(copy(sha));
  }
  if (DESIRED.size >= 4096) DESIRED.clear();
  // a copy of the key: a slice of stdin would keep all of this node's stdin alive as long as the entry
  DESIRED.set(copy(key), Object.freeze(files));
  return files;
}

/** a string of its own (not a slice of a larger one that it would keep alive) */
const copy = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

/**
 * `expected`: the stdin the script was given (expectations()). A tenant the node found exactly as desired comes as one
 * `insync` record (its current release complete, its manifest listing exactly the F lines, every one of those files
 * on the node with that hash; its manifestj without the file list): its files and its manifest's file list are the F
 * lines again, plus the manifest's own hash — the same observation the per-file records would have given.
 */
export function parseObservation(node: string, stdout: string, meta: { commands: number; durationMs: number }, expected?: string): NodeObservation {
  const records = parseRecords(stdout);
  const obs = newObservation(node, meta);
  const live = collectRecords(obs, records, expected);
  finishObservation(obs, live);
  return obs;
}

/** The records of the script's JSON document, checked: every one an array of strings. */
export function parseRecords(stdout: string): string[][] {
  const doc = JSON.parse(stdout) as { v: number; records: string[][] } | null;
  if (doc === null || typeof doc !== 'object' || doc.v !== 1 || !Array.isArray(doc.records)) throw new Error('unexpected observe output version');
  checkRecords(doc.records);
  return doc.records;
}

export function checkRecords(records: unknown[]): asserts records is string[][] {
  for (const r of records) {
    if (!Array.isArray(r) || r.some((f) => typeof f !== 'string')) throw new Error(`malformed observe record ${JSON.stringify(r).slice(0, 80)}`);
  }
}

/** An observation before any record */
export function newObservation(node: string, meta: { commands: number; durationMs: number }): NodeObservation {
  return { node, openclaw: { found: false, exitCode: 127, raw: '', cached: false }, tenants: {}, errors: [], leftovers: [], intents: [], guards: [], nodeUnits: {}, nodeServices: {}, ...meta };
}

/** What the launchd records (svc, launchd-list) said: applied to the observation by finishObservation once all are read. */
export interface LaunchdRecords {
  services: Map<string, { pid: string; last: string }>;
  listFailed: number | undefined;
}

/**
 * Every record into `obs` (releases sorted, insync summaries expanded), but the launchd state of its tenants and
 * node services, which depends on the svc and launchd-list records alone (returned): finishObservation.
 */
export function collectRecords(obs: NodeObservation, records: readonly string[][], expected: string | undefined, live: LaunchdRecords = { services: new Map(), listFailed: undefined }): LaunchdRecords {
  // a name under tenants/ that cannot be a tenant (hand-made, or `__proto__`) is reported, never used as a key
  const bad = new Set<string>();
  const tenant = (t: string, report = true): TenantObservation => {
    if (TENANT_ID.test(t)) return Object.hasOwn(obs.tenants, t) ? obs.tenants[t]! : (obs.tenants[t] = emptyTenant(t));
    if (report && !bad.has(t)) {
      obs.errors.push(`unexpected entry "${t}" under tenants/ (not a tenant id)`);
      bad.add(t);
    }
    return emptyTenant(t);
  };
  const services = live.services;
  const insync = new Map<string, string>();
  for (const r of records) {
    // indexed, not destructured: array destructuring walks an iterator, garbage for every record of every node
    const kind = r[0];
    const a = r[1] ?? '';
    const b = r[2] ?? '';
    const c = r[3] ?? '';
    const d = r[4] ?? '';
    const e = r[5] ?? '';
    switch (kind) {
      case 'version': {
        const v = parseVersion(b);
        obs.openclaw = { found: a !== '127', exitCode: Number(a), raw: b.slice(0, 512), cached: c === '1' };
        if (v) Object.assign(obs.openclaw, v);
        break;
      }
      case 'daemon':
        obs.daemon = { path: a, sha256: b };
        break;
      case 'disk':
        obs.disk = { freeKb: Number(a), totalKb: Number(b) };
        break;
      case 'lock':
        obs.lock = b64(a).toString('utf8');
        break;
      case 'link': {
        const link = { target: c };
        const id = releaseIdOf(c, a);
        tenant(a)[b === 'prev' ? 'prev' : 'current'] = id === undefined ? link : { ...link, releaseId: id };
        break;
      }
      case 'now':
        obs.now = Number(a);
        break;
      case 'relok':
        tenant(a)[b === 'prev' ? 'prevComplete' : 'currentComplete'] = c === '1';
        break;
      case 'unsafe':
        tenant(a).unsafeNames.push(b);
        break;
      case 'fsize':
        tenant(a).sizes[b] = Number(c);
        break;
      case 'unexpected':
        // node-level, or under a name that cannot be a tenant: the message names the path
        if (a === '' || !TENANT_ID.test(a)) obs.errors.push(b);
        else tenant(a).unexpected.push(b);
        break;
      case 'run': {
        try {
          const j = JSON.parse(b) as { pid?: unknown; release_id?: unknown; commit?: unknown; tag?: unknown; started_epoch?: unknown };
          if (typeof j.pid === 'number' && typeof j.release_id === 'string') {
            tenant(a).run = { pid: j.pid, releaseId: j.release_id, ...(typeof j.commit === 'string' && j.commit ? { commit: j.commit } : {}), ...(typeof j.tag === 'string' && j.tag ? { tag: j.tag } : {}), ...(typeof j.started_epoch === 'number' ? { startedEpoch: j.started_epoch } : {}) };
          }
        } catch {
          /* a record that is not JSON: nothing known about what runs */
        }
        break;
      }
      case 'nodeunit':
        if (/^ai\.openclaw\.clawops\.[a-z0-9-]+$/.test(a)) obs.nodeUnits[a] = { sha256: b };
        break;
      case 'guard':
        // (a deadline that is no whole number of seconds is 0: unknown; only names a tenant can have, each once)
        obs.guards.push({ run: a, deadline: /^[0-9]{1,15}$/.test(b) ? Number(b) : 0, tenants: c === '' ? [] : [...new Set(c.split(',').filter((x) => TENANT_ID.test(x)))], ...(r[4] === '1' || r[4] === '0' ? { alive: r[4] === '1' } : {}) });
        break;
      case 'quarantined':
        tenant(a).quarantined.push(b);
        break;
      case 'leftover':
        if (a === 'templink' || a === 'staging' || a === 'want' || a === 'intent' || a === 'scratch') obs.leftovers.push({ kind: a, name: b });
        break;
      case 'intent': {
        const bytes = b64(a);
        if (bytes.length <= INTENT_READ_BYTES) {
          obs.intents.push(intentLines(bytes));
          break;
        }
        // read in part: whole lines of the first 64 KiB only (the cut one is no line), and the file named
        const part = bytes.subarray(0, INTENT_READ_BYTES);
        obs.intents.push(intentLines(part.subarray(0, part.lastIndexOf(0x0a) + 1)));
        (obs.intentsCut ??= []).push(b);
        break;
      }
      case 'release':
        tenant(a).releases.push(b);
        break;
      case 'file':
        tenant(a).files[b] = intern(c);
        break;
      case 'insync':
        if (TENANT_ID.test(a)) insync.set(a, b);
        break;
      case 'content':
        tenant(a).contents[b] = b64(c);
        break;
      case 'manifestj':
        {
          const m = parseManifest(c);
          if (!('invalid' in m)) for (const k of Object.keys(m.files)) m.files[k] = intern(m.files[k]!);
          tenant(a)[b === 'prev' ? 'prevManifest' : 'manifest'] = m;
        }
        break;
      case 'svc':
        services.set(a, { pid: b, last: c });
        break;
      case 'launchd-list':
        live.listFailed = Number(a);
        break;
      case 'token': {
        // token records come for every name under tenants/; a stray file there is reported once, by the script
        const meta: TokenMeta = c === 'missing' ? { present: false } : c === 'link' || c === 'dirlink' ? { present: false, link: c === 'link' ? 'file' : 'dir' } : { present: true, mode: c, mtime: Number(d), fingerprint: e };
        if (b === 'token.current' || b === 'token.next') tenant(a, false).tokens[b] = meta;
        else if (b !== '__proto__') tenant(a, false).secrets[b] = meta;
        break;
      }
      case 'error':
        obs.errors.push(a);
        break;
      default:
        break; // newer scripts may add kinds; old parsers ignore them
    }
  }
  for (const [id, manifestSha] of insync) {
    const files = expected === undefined ? undefined : desiredFiles(expected, id);
    const t = tenant(id);
    const m = t.manifest;
    // only what the script can have meant: desired files known, the manifest read without its (empty) file list
    if (!files || !m || 'invalid' in m || Object.keys(m.files).length > 0) {
      obs.errors.push(`observe: ${id} reported in sync without what it was compared with`);
      continue;
    }
    // files not desired (added on the node) came as file records; the manifest's own hash with the summary
    t.files = { ...files, ...t.files };
    if (!Object.hasOwn(t.files, MANIFEST_PATH)) t.files[MANIFEST_PATH] = intern(manifestSha);
    m.files = files as Record<string, string>;
  }
  for (const t of Object.values(obs.tenants)) t.releases.sort();
  return live;
}

/** The launchd state of every tenant and node service (what collectRecords left out) */
export function finishObservation(obs: NodeObservation, { services, listFailed }: LaunchdRecords): void {
  for (const label of services.keys()) if (/^ai\.openclaw\.clawops\./.test(label)) obs.nodeServices[label] = serviceState(services.get(label), listFailed);
  for (const t of Object.values(obs.tenants)) t.launchd = serviceState(services.get(`ai.openclaw.${t.tenant}`), listFailed);
}

/**
 * An intent file's lines as text; a line whose bytes are not UTF-8 becomes a NUL (which no journal form admits, as the
 * node's settle_intent admits no such line): decoding it would hide the bad bytes behind U+FFFD.
 */
function intentLines(bytes: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    const nl = bytes.indexOf(0x0a, at);
    const end = nl === -1 ? bytes.length : nl;
    const raw = bytes.subarray(at, end);
    const text = raw.toString('utf8');
    if (text.trim() !== '') out.push(Buffer.from(text, 'utf8').equals(raw) ? text : '\u0000');
    at = end + 1;
  }
  return out;
}
