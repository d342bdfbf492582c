/**
 * Recorded webhook deliveries (`fixtures/webhooks/*.json` of the infra repo), read and checked for replay.
 * Lint only checks that a fixture is JSON without literal secrets; what replay needs of one is checked here, and a
 * fixture that does not qualify is a per-fixture error, never a crash (see specs/replay.md for the format).
 */
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_FILE_BYTES } from '../desired/snapshot.js';

export const FIXTURE_DIR = 'fixtures/webhooks';

export interface Fixture {
  /** path relative to fixtures/webhooks/, as endpoints name it */
  name: string;
  /** the recorded delivery id (else the file name without .json) */
  deliveryId: string;
  method: string;
  /** recorded path (and query), for the record: the request goes to the endpoint URL */
  path: string;
  /** recorded headers to replay, names lower-cased, in file order (computed and auth headers removed) */
  headers: [string, string][];
  /** the exact bytes sent (and signed) */
  body: Buffer;
  /** what the receiver answered when it was recorded */
  expectedStatus: number;
}

export type FixtureEntry = { ok: true; fixture: Fixture } | { ok: false; name: string; error: string };

/** Every fixture of a repo checkout, by name; problems are entries, never thrown. */
export type FixtureSet = Map<string, FixtureEntry>;

/** Headers never replayed as recorded: hop-by-hop and length headers curl computes, and auth replay adds itself. */
export const COMPUTED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect', 'proxy-authorization']);
export const AUTH_HEADERS = new Set(['authorization', 'x-openclaw-signature-256', 'x-hub-signature-256', 'x-hub-signature', 'x-signature-256', 'x-clawops-replay']);

const METHOD = /^[A-Z][A-Z0-9-]{0,19}$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
// header values: visible ASCII, space, tab and UTF-8 text; no CR, LF or other controls
const HEADER_VALUE = /^[^\u0000-\u0008\u000a-\u001f\u007f]*$/;
/** what a fixture name may look like (also guards names read from a node's webhook.json) */
export const FIXTURE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*(?:\/[A-Za-z0-9_][A-Za-z0-9._-]*)*\.json$/;

/** Check one fixture's parsed JSON; `name` is its path under fixtures/webhooks/. */
export function parseFixture(name: string, text: string): FixtureEntry {
  const bad = (error: string): FixtureEntry => ({ ok: false, name, error });
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return bad('not valid JSON');
  }
  if (!isObject(v)) return bad('not a JSON object');
  const req = v.request;
  const res = v.response;
  if (!isObject(req)) return bad('request: missing or not an object');
  if (!isObject(res)) return bad('response: missing or not an object');
  const method = req.method ?? 'POST';
  if (typeof method !== 'string' || !METHOD.test(method)) return bad('request.method: want an upper-case HTTP method');
  const path = req.path ?? '/';
  if (typeof path !== 'string' || !/^\/[^\s\u0000-\u001f\u007f]*$/.test(path) || path.length > 2048) return bad('request.path: want an absolute path without spaces or control characters');
  const headers: [string, string][] = [];
  if (req.headers !== undefined) {
    if (!isObject(req.headers)) return bad('request.headers: want an object of strings');
    for (const [k, val] of Object.entries(req.headers)) {
      if (!HEADER_NAME.test(k)) return bad(`request.headers: "${k.slice(0, 40)}" is not a header name`);
      if (typeof val !== 'string' || !HEADER_VALUE.test(val) || val.length > 8192) return bad(`request.headers.${k}: want one line of text`);
      const lower = k.toLowerCase();
      if (COMPUTED_HEADERS.has(lower) || AUTH_HEADERS.has(lower)) continue;
      headers.push([lower, val]);
    }
  }
  let body: Buffer;
  if (req.body === undefined || req.body === null) body = Buffer.alloc(0);
  else if (typeof req.body === 'string') body = Buffer.from(req.body, 'utf8');
  else body = Buffer.from(JSON.stringify(req.body), 'utf8');
  if (req.body !== undefined && req.body !== null && typeof req.body !== 'string' && !headers.some(([k]) => k === 'content-type')) headers.push(['content-type', 'application/json']);
  const status = res.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) return bad('response.status: want an integer 100-599');
  const recorded = v.delivery_id;
  const deliveryId = typeof recorded === 'string' && /^[\x21-\x7e]{1,120}$/.test(recorded) ? recorded : name.replace(/\.json$/, '');
  return { ok: true, fixture: { name, deliveryId, method, path, headers, body, expectedStatus: status } };
}

/** Read one fixture file of a checkout (refusing symlinks, other file types and oversized files). */
export function readFixture(repoDir: string, name: string): FixtureEntry {
  if (!FIXTURE_NAME.test(name)) return { ok: false, name, error: 'not a fixture name (a relative *.json path without "..")' };
  const parts = `${FIXTURE_DIR}/${name}`.split('/');
  let abs = repoDir;
  for (const [i, part] of parts.entries()) {
    abs = join(abs, part);
    let st;
    try {
      st = lstatSync(abs);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return { ok: false, name, error: code === 'ENOENT' || code === 'ENOTDIR' ? `${FIXTURE_DIR}/${name} does not exist in the repo` : `${FIXTURE_DIR}/${name}: cannot read (${code ?? 'error'})` };
    }
    if (st.isSymbolicLink()) return { ok: false, name, error: `${parts.slice(0, i + 1).join('/')} is a symlink` };
    const last = i === parts.length - 1;
    if (!last && !st.isDirectory()) return { ok: false, name, error: `${FIXTURE_DIR}/${name} does not exist in the repo` };
    if (last && !st.isFile()) return { ok: false, name, error: `${FIXTURE_DIR}/${name} is not a regular file` };
    if (last && st.size > MAX_FILE_BYTES) return { ok: false, name, error: `${FIXTURE_DIR}/${name} is over ${MAX_FILE_BYTES} bytes` };
  }
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    return { ok: false, name, error: `${FIXTURE_DIR}/${name}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  return parseFixture(name, text);
}

/**
 * A fixture source over a checkout: each fixture is read once, when an endpoint first names it (names come from
 * the nodes, so they are checked before they touch the filesystem).
 */
export function fixturesFromDir(repoDir: string): FixtureSource {
  const cache: FixtureSet = new Map();
  return (name) => {
    let e = cache.get(name);
    if (!e) {
      e = readFixture(repoDir, name);
      cache.set(name, e);
    }
    return e;
  };
}

/** Look a fixture up by the name an endpoint gives. */
export type FixtureSource = (name: string) => FixtureEntry;

/** A fixture source over parsed fixtures held in memory (tests, a controller that caches by commit). */
export function fixturesFromSet(set: FixtureSet): FixtureSource {
  return (name) => set.get(name) ?? { ok: false, name, error: `${FIXTURE_DIR}/${name} does not exist in the repo` };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
