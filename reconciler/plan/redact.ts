/**
 * Secret redaction for anything shown to humans (diffs, reports). Line-based, so it works for YAML, JSON, env files and
 * plain text: a value that looks secret becomes `(secret)`, and a secret that changed is reported as
 * `~ key: (secret changed)`. What looks secret is decided in desired/secret-scan.ts, the rules lint uses too:
 * - a literal under a secret-looking key (`holdsSecret`: `token`, `client_secret`, `auth: <hex>`…);
 * - a value of a known secret shape anywhere (`SECRET_PATTERNS`: Bearer, sk-, xox?-, AKIA…, ghp_…, webhook URLs,
 *   URL passwords, `?token=`/`&sig=` query parameters);
 * - a random-looking token anywhere in a line, whatever the key (`looksLikeToken`);
 * - every line of a private key block, BEGIN to END, whatever the file's format;
 * - any word whose sha256 starts with a fingerprint of a secret file on the node (`RedactOptions.fingerprints`).
 * Hex alone is not secret (release ids, commits and sha256 digests stay visible) except under a secret-looking key or
 * query parameter.
 */
import { createHash } from 'node:crypto';
import { holdsSecret, looksLikeToken, matchSecretPattern, secretKeyRule, type SecretKeyRule } from '../desired/secret-scan.js';

export interface RedactOptions {
  /**
   * Fingerprints of the secret files on the node: the first 12 hex chars of the sha256 of each file's content (what
   * observe reports for `token.current`/`token.next`). A word of the text whose sha256, or that of the word plus "\n",
   * starts with one is a secret wherever it appears.
   */
  fingerprints?: readonly string[];
}

export interface RedactedText {
  text: string;
  /** key → secret value, in order of appearance (for "changed" detection; never printed) */
  secrets: Map<string, string>;
}

/** `key: value`, `"key": value,`, `key=value`, `export KEY=value`, `- key: value` */
const KEY_VALUE = /^(\s*(?:-\s*|export\s+)?["']?)([A-Za-z0-9_.-]+)(["']?\s*[:=]\s*)(.*?)(,?)\s*$/;
/** `key: value` pairs inside one line: YAML flow maps (`{ token: x }`) and compact JSON (`{"token":"x"}`). */
const INLINE_PAIR = /(["']?)((?<=["'])[^"'\n]{1,128}(?=["'])|[A-Za-z0-9_.-]+)\1(\s*:\s*)("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s,{}[\]"'][^,{}[\]]*?)(?=\s*[,}\]]|\s*$)/g;
/** `"key with blanks": value` (JSON, YAML): a quoted key KEY_VALUE does not take */
const QUOTED_KEY = /^(\s*(?:-\s*)?)(["'])([^"'\n]{1,128})\2(\s*:\s*)(.*?)(,?)\s*$/;
/** a YAML block scalar indicator (`token: |`): the value is on the following, more indented lines */
const BLOCK_SCALAR = /^[|>][-+0-9]*$/;
const PEM_BEGIN = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/;
const PEM_END = /-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/;
/** what separates words of a line: whitespace, quotes, JSON/YAML punctuation, `=`/`&`/`?` of URLs, control characters */
const WORD_BREAK = /[\s"'`,;:=&?(){}[\]<>|\\!*\u0000-\u001f\u007f-\u009f]+/;

function unquote(v: string): string {
  return v.replace(/^["']|["']$/g, '');
}

/** a scalar written in the text (not a map, a list, a placeholder, null, a boolean or a block scalar indicator) */
function literal(v: string): string | undefined {
  const t = v.trim();
  const u = unquote(t);
  if (u === '' || /^[[{]/.test(t) || /^[[{]/.test(u) || BLOCK_SCALAR.test(u)) return undefined;
  if (/^(null|~|true|false)$/.test(u) || /^\$\{[A-Z0-9_]+\}$/.test(u)) return undefined;
  return u;
}

/** A known secret shape, or a random-looking token in any word (and any `/`-separated piece of a URL or path). */
export function looksSecret(s: string): boolean {
  if (matchSecretPattern(s)) return true;
  for (const word of s.split(WORD_BREAK)) {
    const w = word.replace(/^\.+|\.+$/g, ''); // the end of a sentence is not part of the token
    if (w.length < 24) continue;
    if (looksLikeToken(w) || (w.includes('/') && w.split('/').some(looksLikeToken))) return true;
  }
  return false;
}

function keyHoldsSecret(key: string, value: string): boolean {
  const lit = literal(value);
  return lit !== undefined && holdsSecret(key, lit);
}

export function redactText(text: string, opts: RedactOptions = {}): RedactedText {
  const secrets = new Map<string, string>();
  const seen = new Map<string, number>();
  const record = (key: string, value: string): string => {
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    const name = n === 1 ? key : `${key}#${n}`;
    secrets.set(name, value);
    return name;
  };
  const append = (name: string, line: string): void => {
    secrets.set(name, `${secrets.get(name)!}\n${line}`);
  };
  // a secret key whose value continues on the next, more indented lines (YAML block or multi-line plain scalar)
  let cont: { indent: number; key: string; rule: SecretKeyRule; block: boolean; name?: string } | undefined;
  // inside a private key block: every line up to the END line is key material
  let pem: { name: string } | undefined;
  const lines = text.split('\n').map((line) => {
    if (pem) {
      if (line.trim() === '') return line;
      append(pem.name, line);
      if (PEM_END.test(line)) pem = undefined;
      return '(secret)';
    }
    const indent = /^\s*/.exec(line)![0].length;
    const kv = KEY_VALUE.exec(line);
    // `- https://user:pw@host` is a URL, not the key `https`
    const m = kv && !(kv[3] === ':' && kv[4]!.startsWith('//')) ? kv : null;
    if (cont && !(cont.block && line.trim() === '') && !(line.trim() !== '' && indent > cont.indent && (cont.block || !m))) cont = undefined;
    const begin = PEM_BEGIN.exec(line);
    if (begin && !PEM_END.test(line.slice(begin.index))) {
      pem = { name: cont?.name ?? record(m ? m[2]! : '(private key)', line) };
      if (cont) cont.name = pem.name;
      return m ? `${m[1]}${m[2]}${m[3]}(secret)` : '(secret)';
    }
    if (cont) {
      if (line.trim() === '') return line;
      if (cont.rule === 'any' || holdsSecret(cont.key, line.trim()) || looksSecret(line)) {
        if (cont.name === undefined) cont.name = record(cont.key, line);
        else append(cont.name, line);
        return `${line.slice(0, indent)}(secret)`;
      }
      return line;
    }
    // a quoted key with a blank in it (`"db password": "hunter2"`), which KEY_VALUE's key does not take: its rule as any
    const sq = QUOTED_KEY.exec(line);
    if (!m && sq && keyHoldsSecret(sq[3]!, sq[5]!)) {
      record(sq[3]!, sq[5]!);
      return `${sq[1]}${sq[2]}${sq[3]}${sq[2]}${sq[4]}(secret)${sq[6]}`;
    }
    // a token pasted as a key (`ghp_…: true`, `"sk-…": 1`): the whole line goes, the key with it
    if (m && looksSecret(m[2]!)) {
      record('(key)', line);
      return `${line.slice(0, indent)}(secret)`;
    }
    if (m) {
      const key = m[2]!;
      const value = m[4]!;
      const v = value.trim();
      const rule = secretKeyRule(key);
      if (rule !== undefined && (v === '' || BLOCK_SCALAR.test(v))) cont = { indent, key, rule, block: v !== '' };
      if (!/^[[{]/.test(v)) {
        if (!keyHoldsSecret(key, value) && !looksSecret(value)) return line;
        record(key, value);
        return `${m[1]}${key}${m[3]}(secret)${m[5]}`;
      }
    }
    // flow maps, compact JSON and plain text: redact the pairs that hold secrets, then the whole line if that was not enough
    const out = !/[{[]/.test(line)
      ? line
      : line.replace(INLINE_PAIR, (all, q: string, key: string, sep: string, v: string) => {
          if (looksSecret(key)) {
            record('(key)', all);
            return '(secret)';
          }
          if (!keyHoldsSecret(key, v) && !looksSecret(v)) return all;
          record(key, v);
          return `${q}${key}${q}${sep}(secret)`;
        });
    if (!looksSecret(out)) return out;
    record(m ? m[2]! : '(line)', m ? m[4]! : line);
    return m ? `${m[1]}${m[2]}${m[3]}(secret)${m[5]}` : '(secret)';
  });
  const joined = lines.join('\n');
  return { text: opts.fingerprints?.length ? redactFingerprints(joined, opts.fingerprints) : joined, secrets };
}

const MIN_WORD = 8;
const MAX_WORD = 512;

/** The words a secret file's content could appear as: split on quotes and punctuation, then on URL separators. */
function candidateWords(text: string): Set<string> {
  const out = new Set<string>();
  const add = (w: string): void => {
    if (w.length < MIN_WORD || w.length > MAX_WORD) return;
    out.add(w);
    const trimmed = w.replace(/^[.,!?]+|[.,!?]+$/g, '');
    if (trimmed !== w && trimmed.length >= MIN_WORD) out.add(trimmed);
  };
  for (const coarse of text.split(/[\s"'`,;(){}[\]<>|\\\u0000-\u001f\u007f-\u009f]+/)) {
    if (coarse.length < MIN_WORD) continue;
    add(coarse);
    // `token=abc==` → token, abc== (base64 padding stays on the word); then `/` for URL paths
    for (const mid of coarse.split(/[:&?#@]+|=+(?=[^=])/)) {
      add(mid);
      if (mid.includes('/')) for (const fine of mid.split('/')) add(fine);
      // and the word cut at each separator, from either end: a secret a longer word starts or ends with (`SECRET.old`,
      // `SECRET-rotated`, `x_SECRET`), the secret itself holding separators or not
      if (/[._-]/.test(mid)) {
        const pieces = mid.split(/([._-]+)/).slice(0, 41);
        for (let j = 0; j < pieces.length - 1; j += 2) {
          add(pieces.slice(0, j + 1).join(''));
          add(pieces.slice(j + 2).join(''));
        }
      }
    }
  }
  return out;
}

/** the usable fingerprints (a short prefix would match ordinary words by chance), lower case */
function usable(fingerprints: readonly string[]): string[] {
  return fingerprints.map((f) => f.toLowerCase()).filter((f) => /^[0-9a-f]{8,64}$/.test(f));
}

function hits(fps: readonly string[]): (s: string) => boolean {
  return (s) => {
    const h = createHash('sha256').update(s).digest('hex');
    return fps.some((f) => h.startsWith(f));
  };
}

/**
 * Whether `text` is, byte for byte, a secret file's whole content (its sha256 starts with one of `fingerprints`): a
 * copy or a hard link of a secret at a release path. Such a text is never shown, in whatever form the secret is
 * (several words, CRLF, trailing blanks).
 */
export function isSecretContent(text: string, fingerprints: readonly string[] | undefined): boolean {
  const fps = usable(fingerprints ?? []);
  return fps.length > 0 && hits(fps)(text);
}

function redactFingerprints(text: string, fingerprints: readonly string[], runs = true): string {
  const fps = usable(fingerprints);
  if (fps.length === 0) return text;
  const hit = hits(fps);
  // a secret file's content as a whole line of the text (a passphrase of several words, a value with CR or trailing
  // blanks, a file ending in an empty line): the line goes
  const lines = text.split('\n').map((l) => {
    if (l.length < MIN_WORD || l.length > MAX_WORD) return l;
    const t = l.trim();
    if ([l, `${l}\n`, `${l}\r\n`, `${l}\n\n`, l.trimEnd(), `${l.trimEnd()}\n`, t, `${t}\n`].some(hit)) return `${l.slice(0, l.length - l.trimStart().length)}(secret)`;
    // a passphrase of a few words inside the line (a list item, a value, a comment): every run of 2 to 6 words
    const words = runs ? t.split(/\s+/) : [];
    for (let i = 0; i < words.length; i++) {
      for (let j = i + 2; j <= Math.min(words.length, i + 6); j++) {
        const run = words.slice(i, j).join(' ').replace(/^["'(#-]+|["'),;:.]+$/g, '');
        if (run.length >= MIN_WORD && (hit(run) || hit(`${run}\n`))) return l.split(run).join('(secret)');
      }
    }
    return l;
  });
  let out = lines.join('\n');
  // and as a word anywhere
  const found = [...candidateWords(out)].filter((w) => hit(w) || hit(`${w}\n`) || hit(`${w}\r\n`));
  for (const w of found.sort((a, b) => b.length - a.length)) out = out.split(w).join('(secret)');
  return out;
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

/**
 * A line a node sent (a message, a file name): each word that has a secret's shape or looks like a random token, and
 * every node secret's value (by its fingerprint), becomes `(secret)`; what is left is the node's text. Not the key rules
 * of redactText: a message is prose (`token.current has mode 644`), not a config.
 */
export function redactNodeText(s: string, fingerprints: readonly string[] = []): string {
  // (the same messages come back every controller pass: kept, bounded)
  const key = `${fingerprints.join(',')}\u0000${s}`;
  const known = nodeTextMemo.get(key);
  if (known !== undefined) return known;
  const out = redactNodeTextNow(s, fingerprints);
  if (nodeTextMemo.size >= 20_000) nodeTextMemo.clear();
  nodeTextMemo.set(key, out);
  return out;
}

const nodeTextMemo = new Map<string, string>();

function redactNodeTextNow(s: string, fingerprints: readonly string[]): string {
  let out = s
    .split(/(\s+)/)
    .map((w) => (/\S/.test(w) && looksSecret(w.replace(/^["'(]+|["'),;:.]+$/g, '')) ? w.replace(/[^"'(),;:.\s][\s\S]*[^"'(),;:.\s]|[^"'(),;:.\s]/, '(secret)') : w))
    .join('');
  if (matchSecretPattern(out)) out = '(message not shown: it looks like it holds a secret)';
  // (a message's words and whole line; the runs of words a diff line is searched for are left to diffs)
  return fingerprints.length > 0 ? redactFingerprints(out, fingerprints, false) : out;
}
