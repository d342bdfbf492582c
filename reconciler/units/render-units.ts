/**
 * launchd units from the golden image: the infra repo's `launchd/<kind>.plist` templates (real XML property lists
 * with `{{name}}` placeholders) rendered per tenant into canonical plists with the `plist` library, and linted.
 * Pure. Nothing node-specific goes in (a release is content-addressed per tenant), so the same unit runs on every node.
 */
import { createRequire } from 'node:module';
import plist from 'plist';
import { scanForSecrets } from '../desired/secret-scan.js';
import type { Finding } from '../desired/types.js';

export type UnitKind = 'gateway' | 'probe' | 'notifier';

/**
 * The templates a repo may have; `gateway` is what runs OpenClaw and `probe` the composite readiness probe (one each
 * per tenant, in the tenant's release), `notifier` the webhook-failure digest (one per notifier node).
 */
export const UNIT_TEMPLATES: Record<UnitKind, string> = { gateway: 'launchd/gateway.plist', probe: 'launchd/probe.plist', notifier: 'launchd/notifier.plist' };

/** The notifier's label: tenant ids have no dots, so it can never be a tenant's. */
export const NOTIFIER_LABEL = 'ai.openclaw.clawops.notifier';

/** OpenClaw derived ports reach base+110 and bases are ≥ 120 apart: the probe listens on base+115. */
export const PROBE_PORT_OFFSET = 115;

export function unitLabel(tenant: string, kind: UnitKind): string {
  return kind === 'notifier' ? NOTIFIER_LABEL : kind === 'gateway' ? `ai.openclaw.${tenant}` : `ai.openclaw.${tenant}.probe`;
}

/** Where a unit sits inside the release (and, by label, under /Library/LaunchDaemons on the node). */
export function unitPath(label: string): string {
  return `launchd/${label}.plist`;
}

export interface UnitVars {
  tenant: string;
  etc: string;
  var_db: string;
  port: number;
  probe_port: number;
  label: string;
}

/** The notifier unit's placeholders (clawops.yaml `notifier:`; its port on the node's port block). */
export interface NotifierVars {
  etc: string;
  var_db: string;
  label: string;
  socket: string;
  listen: string;
  state_file: string;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]*)\s*\}\}/g;

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function lineOf(text: string, index: number): { line: number; col: number } {
  const before = text.slice(0, index);
  const line = before.split('\n').length;
  return { line, col: index - before.lastIndexOf('\n') };
}

/** Where `<key>K</key>` first appears in the template, for findings about that key. */
function keyPos(text: string, key: string): { line: number; col: number } {
  const i = text.indexOf(`<key>${key}</key>`);
  return i < 0 ? { line: 1, col: 1 } : lineOf(text, i);
}

/** Where the i-th element of the array after `<key>K</key>` starts (ProgramArguments[i]), else the key's position. */
function itemPos(text: string, key: string, i: number): { line: number; col: number } {
  const k = text.indexOf(`<key>${key}</key>`);
  if (k < 0) return { line: 1, col: 1 };
  const tags = /<(\/?)([A-Za-z]+)\b[^>]*?(\/?)>/g;
  tags.lastIndex = k + `<key>${key}</key>`.length;
  const open = tags.exec(text);
  if (!open || open[2] !== 'array' || open[1] || open[3]) return lineOf(text, k);
  let n = 0;
  for (let m = tags.exec(text); m; m = tags.exec(text)) {
    if (m[1]) {
      if (m[2] === 'array') break;
      continue;
    }
    if (n === i) return lineOf(text, m.index);
    n++;
  }
  return lineOf(text, k);
}

/**
 * The DOM parser the plist library uses (its own dependency, resolved from it), asked first with an error handler:
 * a malformed template is a finding on its line, and nothing is printed on the console (xmldom's default). The
 * `error` level (an unescaped `&`, an unknown entity) is refused too: the plist library would keep the text as is.
 */
type XmlError = { level: string; message: string; line: number; col: number };
interface DomParserCtor {
  new (opts: { onError: (level: string, message: string, ctx?: { locator?: { lineNumber?: number; columnNumber?: number } }) => void }): {
    parseFromString(text: string, type: string): unknown;
  };
}
let domParser: DomParserCtor | undefined;
function xmlErrors(text: string): XmlError[] {
  if (!domParser) {
    const fromHere = createRequire(import.meta.url);
    domParser = (createRequire(fromHere.resolve('plist')) ('@xmldom/xmldom') as { DOMParser: DomParserCtor }).DOMParser;
  }
  const errors: XmlError[] = [];
  const onError = (level: string, message: string, ctx?: { locator?: { lineNumber?: number; columnNumber?: number } }): void => {
    if (level === 'warning') return;
    errors.push({ level, message: String(message).split('\n')[0]!.trim(), line: Math.max(1, ctx?.locator?.lineNumber ?? 1), col: Math.max(1, ctx?.locator?.columnNumber ?? 1) });
  };
  try {
    new domParser({ onError }).parseFromString(text, 'text/xml');
  } catch {
    // fatal errors throw after onError has them
  }
  return errors;
}

/**
 * An argument that names a relative path: launchd starts jobs in `/` (no WorkingDirectory), and never expands `~`.
 * `./x`, `../x`, `~/x`, `dir/file` (a slash, not at the start, no URL scheme, no spaces); for `--opt=value` the value.
 */
function relativePath(arg: string): boolean {
  const v = /^--?[A-Za-z0-9][A-Za-z0-9-]*=/.test(arg) ? arg.slice(arg.indexOf('=') + 1) : arg;
  if (v === '.' || v === '..' || /^(\.\.?|~[A-Za-z0-9._-]*)(\/|$)/.test(v)) return true;
  return /^[^\s/:]+\//.test(v) && !/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(v);
}

export interface RenderedUnit {
  label: string;
  path: string;
  content?: Buffer;
  findings: Finding[];
}

/** Render and lint one template for one tenant. */
export function renderUnit(file: string, template: string, kind: UnitKind, vars: UnitVars | NotifierVars): RenderedUnit {
  const label = unitLabel('tenant' in vars ? vars.tenant : '', kind);
  const out: RenderedUnit = { label, path: unitPath(label), findings: [] };
  const fail = (pos: { line: number; col: number }, message: string, rule: string): void => {
    out.findings.push({ file, line: pos.line, col: pos.col, severity: 'error', message, rule });
  };
  const values = vars as unknown as Record<string, string | number>;
  const text = template.replace(PLACEHOLDER, (all, name: string, at: number) => {
    if (!Object.hasOwn(values, name)) {
      fail(lineOf(template, at), `unknown placeholder ${all} (known: ${Object.keys(values).map((k) => `{{${k}}}`).join(', ')})`, 'launchd/placeholder');
      return all;
    }
    return xmlEscape(String(values[name]));
  });
  if (out.findings.length > 0) return out;
  // placeholders hold no newline (tenant ids, absolute paths, ports), so lines of `text` are the template's lines
  const xmlError = xmlErrors(text)[0];
  if (xmlError) {
    fail({ line: xmlError.line, col: xmlError.col }, `is not a property list: ${xmlError.message}`, 'launchd/not-a-plist');
    return out;
  }
  let doc: unknown;
  try {
    doc = plist.parse(text);
  } catch (e) {
    const message = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
    // "Invalid PLIST tag foo": at the first <foo
    const tag = /tag (\w+)/.exec(message)?.[1];
    const at = tag ? template.search(new RegExp(`<${tag}[\\s/>]`)) : -1;
    fail(at >= 0 ? lineOf(template, at) : { line: 1, col: 1 }, `is not a property list: ${message}`, 'launchd/not-a-plist');
    return out;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || doc instanceof Date || Buffer.isBuffer(doc)) {
    fail({ line: 1, col: 1 }, 'the property list must be a <dict> at the top', 'launchd/not-a-plist');
    return out;
  }
  const d = doc as Record<string, unknown>;
  // worded without the tenant, so one broken template is one finding however many tenants render it
  const wanted = kind === 'notifier' ? NOTIFIER_LABEL : `ai.openclaw.<tenant>${kind === 'probe' ? '.probe' : ''}`;
  if (d.Label !== label) fail(keyPos(template, 'Label'), `Label must be "${wanted}" (use {{label}}), not ${JSON.stringify(d.Label ?? null)}`, 'launchd/label');
  const args = d.ProgramArguments;
  if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === 'string')) {
    fail(keyPos(template, 'ProgramArguments'), 'ProgramArguments must be a non-empty array of strings', 'launchd/program');
  } else {
    if (!String(args[0]).startsWith('/')) fail(itemPos(template, 'ProgramArguments', 0), `ProgramArguments[0] must be an absolute path, not "${String(args[0])}"`, 'launchd/program');
    args.forEach((a, i) => {
      if (i > 0 && relativePath(String(a))) fail(itemPos(template, 'ProgramArguments', i), `ProgramArguments[${i}] is a relative path ("${String(a)}"); launchd runs jobs from / and never expands ~`, 'launchd/program');
    });
  }
  if (typeof d.Program === 'string' && !d.Program.startsWith('/')) fail(keyPos(template, 'Program'), 'Program must be an absolute path', 'launchd/program');
  for (const hit of scanForSecrets(d)) {
    const key = hit.path.find((p): p is string => typeof p === 'string' && p !== 'EnvironmentVariables') ?? String(hit.path[0] ?? '');
    const item = hit.path.length === 2 && typeof hit.path[1] === 'number' ? hit.path[1] : undefined;
    fail(item !== undefined ? itemPos(template, key, item) : keyPos(template, key), `${hit.path.join('.')}: ${hit.why} (value not shown); units reference secret files through the wrapper, never hold them`, 'launchd/secret');
  }
  if (out.findings.length > 0) return out;
  out.content = Buffer.from(`${plist.build(d as plist.PlistObject)}\n`);
  return out;
}
