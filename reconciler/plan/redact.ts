/**
 * Secret redaction for anything shown to humans (diffs, reports). Line-based, so it works for YAML, JSON and text:
 * a value that looks secret becomes `(secret)`, and a secret that changed is reported as `~ key: (secret changed)`.
 */
import { looksHighEntropy } from '../desired/secret-scan.js';

const KEY_VALUE = /^(\s*-?\s*"?)([A-Za-z0-9_.-]+)("?\s*[:=]\s*)(.*?)(,?)\s*$/;
const SECRET_KEY = /(token|secret|password|passwd|api[_-]?key|apikey|authorization|private[_-]?key|signing[_-]?key)$/i;
const SECRET_VALUE = [/Bearer\s+\S{6,}/i, /(^|[^A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}/, /(^|[^A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{8,}/, /-----BEGIN [A-Z ]*PRIVATE KEY-----/];

function unquote(v: string): string {
  return v.replace(/^["']|["']$/g, '');
}

function isLiteral(v: string): boolean {
  const u = unquote(v.trim());
  return u !== '' && !/^\{/.test(u) && !/^\$\{[A-Z0-9_]+\}$/.test(u) && u !== 'null' && !/^[[{]/.test(v.trim());
}

export interface RedactedText {
  text: string;
  /** key → secret value, in order of appearance (for "changed" detection; never printed) */
  secrets: Map<string, string>;
}

export function redactText(text: string): RedactedText {
  const secrets = new Map<string, string>();
  const seen = new Map<string, number>();
  const lines = text.split('\n').map((line) => {
    const m = KEY_VALUE.exec(line);
    const value = m ? m[4]! : line;
    const secretByKey = m !== null && SECRET_KEY.test(m[2]!) && isLiteral(value);
    const secretByValue = SECRET_VALUE.some((r) => r.test(value)) || unquote(value.trim()).split(/[\s"'=:,;]+/).some(looksHighEntropy);
    if (!secretByKey && !secretByValue) return line;
    const key = m ? m[2]! : '(line)';
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    secrets.set(n === 1 ? key : `${key}#${n}`, value);
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
