/**
 * Secret redaction for anything shown to humans (diffs, reports). Line-based, so it works for YAML, JSON and text:
 * a value that looks secret becomes `(secret)`, and a secret that changed is reported as `~ key: (secret changed)`.
 */
import { looksHighEntropy } from '../desired/secret-scan.js';

const KEY_VALUE = /^(\s*-?\s*"?)([A-Za-z0-9_.-]+)("?\s*[:=]\s*)(.*?)(,?)\s*$/;
const SECRET_KEY = /(token|secret|password|passwd|api[_-]?key|apikey|authorization|private[_-]?key|signing[_-]?key)$/i;
const SECRET_VALUE = [
  /Bearer\s+\S{6,}/i,
  /(^|[^A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}/,
  /(^|[^A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{8,}/,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  // a URL with a password in it: scheme://user:password@host
  /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:[^/\s@]+@/i,
];
/** `key: value` pairs inside one line: YAML flow maps (`{ token: x }`) and compact JSON (`{"token":"x"}`). */
const INLINE_PAIR = /(["']?)([A-Za-z0-9_.-]+)\1(\s*:\s*)("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s,{}[\]"'][^,{}[\]]*?)(?=\s*[,}\]]|\s*$)/g;
/** a YAML block scalar indicator (`token: |`): the value is on the following, more indented lines */
const BLOCK_SCALAR = /^[|>][-+0-9]*$/;

function unquote(v: string): string {
  return v.replace(/^["']|["']$/g, '');
}

function isLiteral(v: string): boolean {
  const u = unquote(v.trim());
  return u !== '' && !/^\{/.test(u) && !/^\$\{[A-Z0-9_]+\}$/.test(u) && u !== 'null' && !/^[[{]/.test(v.trim()) && !BLOCK_SCALAR.test(u);
}

export interface RedactedText {
  text: string;
  /** key → secret value, in order of appearance (for "changed" detection; never printed) */
  secrets: Map<string, string>;
}

export function redactText(text: string): RedactedText {
  const secrets = new Map<string, string>();
  const seen = new Map<string, number>();
  const record = (key: string, value: string): string => {
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    const name = n === 1 ? key : `${key}#${n}`;
    secrets.set(name, value);
    return name;
  };
  // a secret key whose value continues on the next, more indented lines (YAML block or multi-line plain scalar)
  let cont: { indent: number; key: string; block: boolean; name?: string } | undefined;
  const lines = text.split('\n').map((line) => {
    const indent = /^\s*/.exec(line)![0].length;
    const m = KEY_VALUE.exec(line);
    if (cont) {
      if (cont.block && line.trim() === '') return line;
      if (line.trim() !== '' && indent > cont.indent && (cont.block || !m)) {
        if (cont.name === undefined) cont.name = record(cont.key, line);
        else secrets.set(cont.name, `${secrets.get(cont.name)!}\n${line}`);
        return `${line.slice(0, indent)}(secret)`;
      }
      cont = undefined;
    }
    const value = m ? m[4]! : line;
    if (m && SECRET_KEY.test(m[2]!) && (value.trim() === '' || BLOCK_SCALAR.test(value.trim()))) cont = { indent, key: m[2]!, block: value.trim() !== '' };
    const secretByKey = m !== null && SECRET_KEY.test(m[2]!) && isLiteral(value);
    const secretByValue = SECRET_VALUE.some((r) => r.test(value)) || unquote(value.trim()).split(/[\s"'=:,;/?&]+/).some(looksHighEntropy);
    if (!secretByKey && !secretByValue) {
      if (!/[{[]/.test(value)) return line;
      return line.replace(INLINE_PAIR, (all, q: string, key: string, sep: string, v: string) => {
        if (!SECRET_KEY.test(key) || !isLiteral(v)) return all;
        record(key, v);
        return `${q}${key}${q}${sep}(secret)`;
      });
    }
    record(m ? m[2]! : '(line)', value);
    return m ? `${m[1]}${m[2]}${m[3]}(secret)${m[5]}` : '(secret)';
  });
  return { text: lines.join('\n'), secrets };
}

/** `~ key: (secret changed)` lines for secrets whose value differs between two texts. */
export function secretChanges(before: RedactedText, after: RedactedText): string[] {
  const keys = new Set([...before.secrets.keys(), ...after.secrets.keys()]);
  const out: string[] = [];
  for (const k of [...keys].sort()) {
    const a = before.secrets.get(k);
    const b = after.secrets.get(k);
    if (a === b) continue;
    const name = k.replace(/#\d+$/, '');
    out.push(a === undefined ? `+ ${name}: (secret added)` : b === undefined ? `- ${name}: (secret removed)` : `~ ${name}: (secret changed)`);
  }
  return out;
}
