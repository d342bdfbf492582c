/**
 * Numbered-fragment merge (specs/merge-rules.md). Pure.
 * Order: numeric prefix, then file name. Maps deep-merge; scalars and lists are replaced by the later fragment.
 * Two fragments with the same number that set the same key conflict, and both files are named.
 */
import type { Finding } from './types.js';
import type { SourceDoc } from './yaml-doc.js';

export interface Fragment {
  /** repo-relative path */
  file: string;
  /** file name, e.g. `10-base.yaml` */
  name: string;
  /** the numeric prefix (a bigint: `99999999999999999999-` and `100000000000000000000-` are different numbers) */
  order: bigint;
  doc: SourceDoc;
}

export interface MergeResult {
  value: Record<string, unknown>;
  /** dotted key path → where its final value was set */
  provenance: Record<string, { file: string; line: number; col: number }>;
  findings: Finding[];
}

export const FRAGMENT_NAME = /^(\d+)-[A-Za-z0-9][A-Za-z0-9._-]*\.ya?ml$/;

export function fragmentOrder(name: string): bigint | undefined {
  const m = FRAGMENT_NAME.exec(name);
  return m ? BigInt(m[1]!) : undefined;
}

/** Deterministic sort: number, then name in byte order (never locale order). */
export function sortFragments<T extends { order: bigint; name: string }>(frags: readonly T[]): T[] {
  return [...frags].sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Every leaf key path a document sets (a map is a branch; lists and scalars are leaves). */
export function leafPaths(v: unknown, prefix: string[] = []): string[][] {
  if (!isMap(v)) return prefix.length > 0 ? [prefix] : [];
  const keys = Object.keys(v);
  if (keys.length === 0) return prefix.length > 0 ? [prefix] : [];
  return keys.flatMap((k) => leafPaths(v[k], [...prefix, k]));
}

function isPrefix(a: string[], b: string[]): boolean {
  return a.length <= b.length && a.every((s, i) => s === b[i]);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const prev = out[k];
    out[k] = isMap(prev) && isMap(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

export function mergeFragments(fragments: readonly Fragment[]): MergeResult {
  const sorted = sortFragments(fragments);
  const findings: Finding[] = [];

  // Conflicts: within one number, no two files may set overlapping key paths.
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length && sorted[j]!.order === sorted[i]!.order; j++) {
      const a = sorted[i]!;
      const b = sorted[j]!;
      const aPaths = leafPaths(a.doc.value);
      const bPaths = leafPaths(b.doc.value);
      const clash = aPaths.find((p) => bPaths.some((q) => isPrefix(p, q) || isPrefix(q, p)));
      if (clash) {
        const other = bPaths.find((q) => isPrefix(clash, q) || isPrefix(q, clash))!;
        const key = (clash.length <= other.length ? clash : other).join('.');
        const pos = b.doc.locate(other, { key: true });
        findings.push({
          file: b.file,
          line: pos.line,
          col: pos.col,
          severity: 'error',
          message: `key "${key}" is set by both ${a.file} and ${b.file}, which share the number ${String(a.order).padStart(2, '0')}; give one a different number`,
          rule: 'merge/conflict',
        });
      }
    }
  }

  let value: Record<string, unknown> = {};
  const provenance: MergeResult['provenance'] = {};
  // How many provenance keys start with `<prefix>.`, for every such prefix: only a key that has some can drop any, so
  // the scan of every key below runs only then (it was once a fragment, O(fragments × keys) a tenant).
  const below = new Map<string, number>();
  const count = (key: string, by: number): void => {
    for (let i = key.indexOf('.'); i >= 0; i = key.indexOf('.', i + 1)) {
      const prefix = key.slice(0, i);
      below.set(prefix, (below.get(prefix) ?? 0) + by);
    }
  };
  for (const f of sorted) {
    if (!isMap(f.doc.value)) continue; // schema validation reports non-map documents
    value = deepMerge(value, f.doc.value);
    for (const p of leafPaths(f.doc.value)) {
      const key = p.join('.');
      // a later fragment replacing a map or a list drops the provenance of what it replaced
      if (below.get(key)) {
        for (const existing of Object.keys(provenance)) {
          if (!existing.startsWith(`${key}.`)) continue;
          delete provenance[existing];
          count(existing, -1);
        }
      }
      const pos = f.doc.locate(p);
      if (!Object.hasOwn(provenance, key)) count(key, 1);
      provenance[key] = { file: f.file, line: pos.line, col: pos.col };
    }
  }
  return { value, provenance, findings };
}
