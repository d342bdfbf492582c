import {
  Composer,
  isAlias,
  isCollection,
  isMap,
  isNode,
  isPair,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  Parser,
  YAMLParseError,
  type Alias,
  type CST,
  type Document,
  type Node,
} from 'yaml';
import { isUtf8 } from 'node:buffer';
import { escapeInline } from '../safe-text.js';
import { MAX_FILE_BYTES } from './snapshot.js';
import type { Finding } from './types.js';

/** A parsed YAML file that can say where any value came from. */
export interface SourceDoc {
  file: string;
  value: unknown;
  /** 1-based line/col of the node at `path` (or its nearest existing parent); `key: true` points at the key */
  locate(path: readonly (string | number)[], opts?: { key?: boolean }): { line: number; col: number };
}

const UTF8_BOM = '\uFEFF';

/** Text as the parser sees it: BOM dropped, CRLF folded to LF. The bytes shipped to nodes stay as in git. */
export function normaliseText(bytes: Buffer): string {
  let text = bytes.toString('utf8');
  if (text.startsWith(UTF8_BOM)) text = text.slice(1);
  return text.replace(/\r\n?/g, '\n');
}

/**
 * Limits on what one repo file may make the parser do (specs/infra-repo.md, "Parser limits"). Anything over them is a
 * `yaml-limit` finding naming the file, never an exception: a 400-byte alias bomb must not take lint, render or apply down.
 */
export const YAML_LIMITS = {
  /** bytes per file (the snapshot refuses bigger files unread, `layout/too-large`; this is the parser's own guard) */
  maxBytes: MAX_FILE_BYTES,
  /** nested maps/sequences, counted in the text and again with aliases expanded */
  maxDepth: 64,
  /** alias expansions per file, aliases inside expanded anchors included (the yaml package's default maxAliasCount) */
  maxAliasCount: 100,
  /** values (scalars, maps, sequences, keys) per file with every alias expanded */
  maxValues: 1_000_000,
} as const;

type Position = { line: number; col: number };
/**
 * A parsed file, and `again`: the same document for another file with the same bytes, without parsing them again
 * (tenants share fragments). Each call builds a fresh value, so no two files share an object a caller might change.
 */
type Parsed = { doc: SourceDoc; again: (file: string) => SourceDoc } | { findings: Finding[] };

/**
 * Parse one YAML file strictly: duplicate keys, anchors to nowhere, tabs etc. are errors. Returns the document
 * or the findings (every error the parser reports, each with its position). Never throws: a file over a parser limit
 * (YAML_LIMITS), or one the parser chokes on, is a finding too.
 */
export function parseYamlFile(file: string, bytes: Buffer): Parsed {
  const lineCounter = new LineCounter();
  const limit = (pos: Position, message: string): Parsed => ({ findings: [{ file, line: pos.line, col: pos.col, severity: 'error', message, rule: 'yaml-limit' }] });
  if (bytes.length > YAML_LIMITS.maxBytes) return limit({ line: 1, col: 1 }, `is ${bytes.length} bytes, over the ${YAML_LIMITS.maxBytes}-byte limit`);
  // (decoding would turn a bad byte into U+FFFD: the value rendered would not be the one git holds and review saw)
  if (!isUtf8(bytes)) return { findings: [{ file, line: 1, col: 1, severity: 'error', message: 'is not valid UTF-8 text', rule: 'yaml-syntax' }] };
  let text = '';
  let doc: Document | undefined;
  try {
    text = normaliseText(bytes);
    const composed = compose(text, lineCounter);
    if ('tooDeep' in composed) {
      return limit(lineCounter.linePos(composed.tooDeep), `nested more than ${YAML_LIMITS.maxDepth} levels deep (the limit)`);
    }
    doc = composed.doc;
  } catch (e) {
    return { findings: [caught(file, e, { line: 1, col: 1 })] };
  }
  if (doc.errors.length > 0) {
    return {
      findings: doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        if (e.code === 'DUPLICATE_KEY') {
          const key = text.slice(e.pos[0]).split(/[:\n]/)[0]?.trim() ?? '';
          return { file, line: pos.line, col: pos.col, severity: 'error' as const, message: `duplicate key "${key}" in one map`, rule: 'duplicate-key' };
        }
        return { file, line: pos.line, col: pos.col, severity: 'error' as const, message: firstLine(e.message), rule: 'yaml-syntax' };
      }),
    };
  }
  const composedDoc = doc;
  const at = (node: Node | undefined): Position => posOf(node, lineCounter) ?? { line: 1, col: 1 };
  try {
    const aliases = resolveAliases(composedDoc);
    if ('bad' in aliases) {
      const { alias, why } = aliases.bad;
      const message = why === 'unresolved' ? `alias *${alias.source} has no anchor &${alias.source} before it` : `alias *${alias.source} is inside the node anchored &${alias.source} (a cycle)`;
      const pos = at(alias);
      return { findings: [{ file, line: pos.line, col: pos.col, severity: 'error', message, rule: 'yaml-syntax' }] };
    }
    const over = checkExpansion(composedDoc, aliases.targets);
    if (over) return limit(at(over.node), over.message);
    const odd = checkValues(composedDoc);
    if (odd.length > 0) return { findings: odd.map((o) => ({ file, ...at(o.node), severity: 'error' as const, message: o.message, rule: o.rule })) };
    const locate: SourceDoc['locate'] = (path, opts) => locateIn(composedDoc, lineCounter, path, opts?.key === true);
    const again = (f: string): SourceDoc => ({ file: f, value: composedDoc.toJS({ maxAliasCount: YAML_LIMITS.maxAliasCount }) ?? {}, locate });
    return { doc: again(file), again };
  } catch (e) {
    return { findings: [caught(file, e, at(firstAlias(composedDoc)))] };
  }
}

/** An exception from the parser is a finding: resource limits (alias count, stack depth) are `yaml-limit`. */
function caught(file: string, e: unknown, pos: Position): Finding {
  const message = escapeInline(firstLine(e instanceof Error ? e.message : String(e)));
  if (e instanceof RangeError || (e instanceof ReferenceError && /alias/i.test(message))) {
    return { file, line: pos.line, col: pos.col, severity: 'error', message: `the YAML parser gave up: ${message}`, rule: 'yaml-limit' };
  }
  return { file, line: pos.line, col: pos.col, severity: 'error', message: `cannot parse: ${message}`, rule: 'yaml-syntax' };
}

/**
 * parseDocument, with the nesting depth checked while the (iterative) CST parser runs: the composer and toJS recurse
 * once a level, so 100k `[` would overflow the stack there. Returns the offset of the token that went too deep.
 */
function compose(text: string, lineCounter: LineCounter): { doc: Document } | { tooDeep: number } {
  const options = { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true } as const;
  const parser = new Parser(lineCounter.addNewLine);
  const tokens: CST.Token[] = [];
  lineCounter.addNewLine(0);
  for (const lexeme of new Lexer().lex(text)) {
    const offset = parser.offset;
    for (const t of parser.next(lexeme)) tokens.push(t);
    if (parser.stack.length > YAML_LIMITS.maxDepth && collectionDepth(parser.stack) > YAML_LIMITS.maxDepth) return { tooDeep: offset };
  }
  for (const t of parser.end()) tokens.push(t);
  const composer = new Composer(options);
  // As parseDocument: the first document, and an error if there are more.
  let doc: Document | undefined;
  for (const d of composer.compose(tokens, true, text.length)) {
    if (!doc) doc = d;
    else {
      doc.errors.push(new YAMLParseError([d.range[0], d.range[1]], 'MULTIPLE_DOCS', 'Source contains multiple documents'));
      break;
    }
  }
  return { doc: doc! };
}

function collectionDepth(stack: readonly CST.Token[]): number {
  let n = 0;
  for (const t of stack) if (t.type === 'block-map' || t.type === 'block-seq' || t.type === 'flow-collection') n++;
  return n;
}

/** The direct children of a node, in document order (pairs contribute key then value). */
function childrenOf(node: unknown): Node[] {
  if (!isCollection(node)) return [];
  const out: Node[] = [];
  for (const item of node.items as unknown[]) {
    if (isPair(item)) {
      if (isNode(item.key)) out.push(item.key);
      if (isNode(item.value)) out.push(item.value);
    } else if (isNode(item)) out.push(item);
  }
  return out;
}

/**
 * Every alias → the node it names (the nearest anchor before it in document order, as YAML says), in one pass. An
 * alias without an anchor, or one inside the node it names (which toJS turns into a cyclic object), is reported.
 */
function resolveAliases(doc: Document): { targets: Map<Alias, Node> } | { bad: { alias: Alias; why: 'unresolved' | 'cycle' } } {
  const targets = new Map<Alias, Node>();
  const anchors = new Map<string, Node>();
  const open = new Set<Node>();
  // Iterative pre-order walk; an `exit` entry closes a collection so `open` holds exactly the current ancestors.
  const work: { node: Node; exit?: true }[] = isNode(doc.contents) ? [{ node: doc.contents }] : [];
  while (work.length > 0) {
    const { node, exit } = work.pop()!;
    if (exit) {
      open.delete(node);
      continue;
    }
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (!target) return { bad: { alias: node, why: 'unresolved' } };
      if (open.has(target)) return { bad: { alias: node, why: 'cycle' } };
      targets.set(node, target);
      continue;
    }
    if (node.anchor) anchors.set(node.anchor, node);
    if (!isCollection(node)) continue;
    open.add(node);
    work.push({ node, exit: true });
    const kids = childrenOf(node);
    for (let i = kids.length - 1; i >= 0; i--) work.push({ node: kids[i]! });
  }
  return { targets };
}

/**
 * Walk the document as toJS and everything after it will see it, aliases expanded, without building it: count alias
 * expansions and values and track the depth, stopping at the first limit. The node blamed is the alias written in the
 * file through which the expansion happened (or the node itself outside any alias).
 */
function checkExpansion(doc: Document, targets: Map<Alias, Node>): { node: Node; message: string } | undefined {
  let aliasCount = 0;
  let values = 0;
  const work: { node: Node; depth: number; via: Alias | undefined }[] = isNode(doc.contents) ? [{ node: doc.contents, depth: 0, via: undefined }] : [];
  while (work.length > 0) {
    const { node, depth, via } = work.pop()!;
    if (isAlias(node)) {
      aliasCount++;
      const blame = via ?? node;
      if (aliasCount > YAML_LIMITS.maxAliasCount) {
        return { node: blame, message: `aliases expand more than ${YAML_LIMITS.maxAliasCount} times (the limit; aliases inside anchored nodes multiply)` };
      }
      work.push({ node: targets.get(node)!, depth, via: blame });
      continue;
    }
    if (++values > YAML_LIMITS.maxValues) {
      return { node: via ?? node, message: `holds more than ${YAML_LIMITS.maxValues} values${via ? ' with its aliases expanded' : ''} (the limit)` };
    }
    if (!isCollection(node)) continue;
    if (depth + 1 > YAML_LIMITS.maxDepth) {
      return { node: via ?? node, message: `nested more than ${YAML_LIMITS.maxDepth} levels deep${via ? ' with its aliases expanded' : ''} (the limit)` };
    }
    for (const kid of childrenOf(node)) work.push({ node: kid, depth: depth + 1, via });
  }
  return undefined;
}

/** Tags a value may carry: the YAML 1.2 core schema's own, which change nothing. */
const CORE_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`));
const INTEGER_SOURCE = /^[-+]?(0|[1-9][0-9]*|0x[0-9a-fA-F]+|0o[0-7]+)$/;

/**
 * What YAML can say that JSON (openclaw.json) cannot, or says otherwise than it reads: each is an error, never a
 * silent change of the value (specs/infra-repo.md, "YAML"). A %YAML directive other than 1.2 (1.1 reads `yes` as
 * true, `0777` as 511), a tag (`!!binary` renders as a byte map, `!!set` as {}), a merge key `<<` (a literal key in
 * 1.2), a map or list as a key, `__proto__` as a key (dropped by any JS object), two keys that are one JSON key (`1`
 * and "1"), an integer past 2^53 (rounded) and .nan/.inf (null in JSON).
 */
function checkValues(doc: Document): { node: Node | undefined; message: string; rule: string }[] {
  const out: { node: Node | undefined; message: string; rule: string }[] = [];
  const y = doc.directives?.yaml;
  if (y?.explicit && y.version !== '1.2') out.push({ node: undefined, message: `%YAML ${y.version} is not read: fragments are YAML 1.2 (remove the directive)`, rule: 'yaml-syntax' });
  const work: Node[] = isNode(doc.contents) ? [doc.contents] : [];
  while (work.length > 0 && out.length < 20) {
    const node = work.pop()!;
    if (isAlias(node)) continue;
    if (node.tag !== undefined && !CORE_TAGS.has(node.tag)) {
      out.push({ node, message: `tag ${escapeInline(node.tag.replace(/^tag:yaml\.org,2002:/, '!!'))} is not allowed: plain YAML 1.2 values only (a tagged value renders as something other than it reads)`, rule: 'yaml-syntax' });
      continue;
    }
    if (isScalar(node) && typeof node.value === 'number') {
      const src = typeof node.source === 'string' ? node.source : String(node.value);
      if (!Number.isFinite(node.value)) out.push({ node, message: `${escapeInline(src)} has no JSON form (it would render as null)`, rule: 'yaml-syntax' });
      else if (!Number.isSafeInteger(node.value) && INTEGER_SOURCE.test(src)) {
        out.push({ node, message: `integer ${escapeInline(src.slice(0, 40))} is beyond 2^53 and would be rounded: quote it`, rule: 'yaml-syntax' });
      }
    }
    if (isMap(node)) {
      const seen = new Map<string, string>();
      for (const pair of node.items) {
        const k = pair.key;
        if (isCollection(k)) {
          out.push({ node: k, message: 'a map or list used as a key has no JSON form', rule: 'yaml-syntax' });
          continue;
        }
        if (!isScalar(k)) continue;
        const name = k.value === null || k.value === undefined ? '' : String(k.value);
        const shown = escapeInline(typeof k.source === 'string' ? k.source : name);
        if (k.type === 'PLAIN' && name === '<<') out.push({ node: k, message: 'merge key << is not read in YAML 1.2 (it would render as a literal "<<" key): write the keys out', rule: 'yaml-syntax' });
        else if (name === '__proto__') out.push({ node: k, message: 'key __proto__ is not allowed (a JavaScript object drops it)', rule: 'yaml-syntax' });
        const before = seen.get(name);
        if (before !== undefined) out.push({ node: k, message: `keys ${before} and ${shown} of one map are the same JSON key "${escapeInline(name)}"`, rule: 'duplicate-key' });
        else seen.set(name, shown);
      }
    }
    for (const kid of childrenOf(node).reverse()) work.push(kid);
  }
  return out;
}

function firstAlias(doc: Document): Node | undefined {
  let found: Node | undefined;
  const work: Node[] = isNode(doc.contents) ? [doc.contents] : [];
  while (work.length > 0 && !found) {
    const node = work.pop()!;
    if (isAlias(node)) found = node;
    else work.push(...childrenOf(node).reverse());
  }
  return found;
}

/** A JSON file (fixtures) with positions good enough for messages. */
export function parseJsonFile(file: string, bytes: Buffer): Parsed {
  // JSON is YAML 1.2, and the YAML parser gives us positions and duplicate-key detection for free.
  return parseYamlFile(file, bytes);
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '').trim();
}

function locateIn(
  doc: Document,
  lc: LineCounter,
  path: readonly (string | number)[],
  wantKey: boolean,
): { line: number; col: number } {
  let node: Node | null | undefined = doc.contents as Node | null;
  let best = posOf(node, lc) ?? { line: 1, col: 1 };
  for (const seg of path) {
    let keyPos: { line: number; col: number } | undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      keyPos = posOf(pair.key as Node, lc);
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg] as Node | undefined;
      if (!node) break;
    } else {
      break;
    }
    // A missing value (`key:`) has no range of its own; the key is the next best place.
    best = (wantKey ? keyPos : undefined) ?? posOf(node, lc) ?? keyPos ?? best;
  }
  return best;
}

function posOf(node: Node | null | undefined, lc: LineCounter): { line: number; col: number } | undefined {
  const range = node?.range;
  if (!range) return undefined;
  return lc.linePos(range[0]);
}
