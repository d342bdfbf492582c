import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
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
 * Parse one YAML file strictly: duplicate keys, anchors to nowhere, tabs etc. are errors. Returns the document
 * or the findings (every error the parser reports, each with its position).
 */
export function parseYamlFile(file: string, bytes: Buffer): { doc: SourceDoc } | { findings: Finding[] } {
  const text = normaliseText(bytes);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true });
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
  const value: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  return { doc: { file, value, locate: (path, opts) => locateIn(doc, lineCounter, path, opts?.key === true) } };
}

/** A JSON file (fixtures) with positions good enough for messages. */
export function parseJsonFile(file: string, bytes: Buffer): { doc: SourceDoc } | { findings: Finding[] } {
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
