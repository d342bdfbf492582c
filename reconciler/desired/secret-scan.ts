/**
 * What a secret looks like, for lint (literal secrets in fragments and fixtures) and for every text shown to humans
 * (plan/redact.ts): ONE secret-key rule (`secretKeyRule`, `holdsSecret`) and ONE list of secret value shapes
 * (`SECRET_PATTERNS`). Lint reports where and why, never the value.
 * Secrets belong in /var/db/openclaw/secrets/<tenant>/ and are referenced as `{secret_ref: name}`.
 */

export interface SecretHit {
  path: (string | number)[];
  why: string;
}

/**
 * How a key's name makes its value secret:
 * - `any`: every literal is a secret (`token`, `client_secret`, `X-Api-Key`, `sessionCookie`, `pass`…);
 * - `token`: a token-shaped literal is (`auth`, `session`, `sig`, any `…Key`): these names also hold modes, names and
 *   templates (`auth: oauth`, `mainKey: main`), which stay visible.
 */
export type SecretKeyRule = 'any' | 'token';

/** last word of a key (or its tail, for lowercase run-togethers such as `apikey`, `webhooktoken`) */
const ANY_SUFFIX = /(token|secret|password|passwd|passphrase|apikey|privatekey|signingkey|accesskey|secretkey|authorization)$/;
const ANY_WORD = new Set(['pass', 'bearer', 'cookie', 'credential']);
/**
 * `<word> key`: keys that are credentials (`api key`, `private key`…), unlike `public key`, `host key`, `main key`.
 * Not `client`: OpenClaw's mTLS `clientKey` is the path of the key file.
 */
const ANY_KEY_QUALIFIER = new Set(['api', 'private', 'signing', 'access', 'secret', 'auth', 'encryption', 'master', 'hmac', 'webhook']);
const TOKEN_WORD = new Set(['key', 'auth', 'session', 'sessionid', 'sid', 'sig', 'signature', 'credentials', 'pwd', 'hmac']);

/** `X-Api-Key` → [x, api, key]; `sessionCookie` → [session, cookie]; `AWS_SECRET_ACCESS_KEY` → [aws, secret, access, key] */
function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

/** The one rule for secret-looking key names (YAML/JSON keys, header names, URL query parameters). */
export function secretKeyRule(key: string): SecretKeyRule | undefined {
  const words = keyWords(key);
  const last = words.at(-1);
  if (last === undefined) return undefined;
  if (ANY_SUFFIX.test(last) || ANY_WORD.has(last)) return 'any';
  if (last === 'key' && words.length > 1 && ANY_KEY_QUALIFIER.has(words.at(-2)!)) return 'any';
  if (last === 'key' && words.at(-2) === 'public') return undefined;
  if (TOKEN_WORD.has(last)) return 'token';
  return undefined;
}

/** Values that look like placeholders are not secrets (`${VAR}`, `<redacted>`, `changeme` in docs…). */
export function isPlaceholder(s: string): boolean {
  return /^\$\{[A-Z0-9_]+\}$/.test(s) || /^<[^>]*>$/.test(s) || s === '' || /^\*+$/.test(s);
}

/**
 * A literal that could be a credential under a `token` key: one word of ≥ 16 token characters mixing letters and digits
 * (hex digests and ids included: under such a key they are keys), not a path, version or dashed name.
 */
export function looksLikeCredential(v: string): boolean {
  if (v.length < 16 || !/^[A-Za-z0-9+/=_.~%-]+$/.test(v) || v.startsWith('/')) return false;
  if (!/[0-9]/.test(v) || !/[A-Za-z]/.test(v)) return false;
  // `agent-main-2026-q4`, `release.2026.11`: words joined by separators are names
  return v.split(/[-_.]/).filter((p) => /^[A-Za-z]{3,}$/.test(p)).length < 2;
}

/** The one rule for a key and its literal value (unquoted; lint passes strings and numbers). */
export function holdsSecret(key: string, value: string): boolean {
  const rule = secretKeyRule(key);
  if (rule === undefined || isPlaceholder(value)) return false;
  return rule === 'any' || looksLikeCredential(value);
}

export interface SecretPattern {
  why: string;
  test(s: string): boolean;
}

const re = (why: string, r: RegExp): SecretPattern => ({ why, test: (s) => r.test(s) });

/** `?token=…`, `&access_token=…`, `;sig=…`: a query parameter whose name is secret-looking, with a literal value */
const QUERY_PARAM = /[?&;]([A-Za-z0-9_.[\]-]+)=([^&#\s"'<>]+)/g;
function hasSecretQueryParam(s: string): boolean {
  if (!/[?&;][^=\s]+=/.test(s)) return false;
  for (const m of s.matchAll(QUERY_PARAM)) {
    const rule = secretKeyRule(m[1]!);
    const v = m[2]!;
    if (rule === undefined || isPlaceholder(v)) continue;
    if (rule === 'any' || v.length >= 8) return true;
  }
  return false;
}

/** Value shapes that are secrets wherever they appear, whatever the key. */
export const SECRET_PATTERNS: readonly SecretPattern[] = [
  // `Bearer x` as the whole value, or a Bearer credential with a digit anywhere (not the prose "Bearer authentication")
  re('a Bearer credential', /^\s*(?:-\s+)?["']?Bearer\s+\S{6,}/i),
  re('a Bearer credential', /(^|[^A-Za-z0-9])Bearer\s+(?=[A-Za-z._~+/-]*[0-9])[A-Za-z0-9._~+/-]{8,}/i),
  re('an API key (sk-…)', /(^|[^A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}/),
  re('a Stripe key', /(^|[^A-Za-z0-9])[rs]k_(live|test)_[A-Za-z0-9]{16,}/),
  re('a Slack token (xox?-…)', /(^|[^A-Za-z0-9])(xox[abposr]|xapp)-[A-Za-z0-9-]{8,}/),
  re('a private key', /-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/),
  re('a GitHub token', /(^|[^A-Za-z0-9])(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})/),
  re('an AWS access key id', /(^|[^A-Za-z0-9])(AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])/),
  re('a Google API key', /(^|[^A-Za-z0-9])AIza[0-9A-Za-z_-]{35}/),
  re('a JSON web token', /(^|[^A-Za-z0-9])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/),
  // a password in a URL's userinfo (https://user:pass@host), unless it is a ${VAR} placeholder. The scheme starts a word
  // and is short, the userinfo bounded: unanchored, a 256 KiB run of letters took the engine minutes (quadratic)
  re('a URL with a password in it', /(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}:\/\/[^/\s:@]{0,256}:(?!\$\{[A-Z0-9_]+\}@)[^/\s@]{1,256}@/i),
  // a bare token as the userinfo (https://<token>@github.com/…), as redactUrl (safe-text.ts) hides it: 20 characters or more
  re('a URL with a token in it', /(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}:\/\/[A-Za-z0-9._~-]{20,256}@/i),
  { why: 'a URL with a secret query parameter', test: hasSecretQueryParam },
  // incoming-webhook URLs are bearer credentials: whoever has the path can post
  re('a Slack incoming-webhook URL', /hooks\.slack\.com\/(services|workflows|triggers)\/[A-Za-z0-9/_-]{8,}/i),
  re('a Discord webhook URL', /discord(app)?\.com\/api\/webhooks\/\d+\/[A-Za-z0-9_-]{16,}/i),
];

/** The first pattern `s` matches, if any. */
export function matchSecretPattern(s: string): SecretPattern | undefined {
  return SECRET_PATTERNS.find((p) => p.test(s));
}

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/**
 * A long unbroken token with a rich alphabet: base64/base62 secrets score > 4.5 bits/char,
 * while hex digests (≤ 4 bits), words, URLs and paths do not.
 */
export function looksHighEntropy(s: string): boolean {
  if (s.length < 24 || /\s/.test(s)) return false;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s) || s.startsWith('/')) return false;
  if (/^[0-9a-f]+$/i.test(s)) return false;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((r) => r.test(s)).length;
  return classes >= 3 && entropy(s) >= 4.2;
}

const charClass = (c: string): number => (c >= 'a' && c <= 'z' ? 0 : c >= 'A' && c <= 'Z' ? 1 : c >= '0' && c <= '9' ? 2 : 3);

/** How often neighbouring letters/digits switch class: ~0.6 for random base62, ~0.4 for random [a-z0-9], ≤ 0.2 for names. */
function classSwitches(s: string): number {
  let pairs = 0;
  let switches = 0;
  for (let i = 1; i < s.length; i++) {
    const a = charClass(s[i - 1]!);
    const b = charClass(s[i]!);
    if (a === 3 || b === 3) continue;
    pairs++;
    if (a !== b) switches++;
  }
  return pairs === 0 ? 0 : switches / pairs;
}

/**
 * For redaction, which may err on the side of hiding: looksHighEntropy, plus random tokens it misses (a base64 token
 * that starts with `/` or `+`, one drawn from [a-z0-9] or [A-Z0-9], one whose sample entropy is just under 4.2).
 * Hex and hex-with-dashes (digests, release ids, commits, UUIDs) are left to the key rule.
 */
export function looksLikeToken(word: string): boolean {
  if (looksHighEntropy(word)) return true;
  const w = /^[/+][^/]*$/.test(word) ? word.slice(1) : word;
  if (w.length < 24 || !/^[A-Za-z0-9+/=_.~-]+$/.test(w) || /^[0-9a-f-]+$/i.test(w)) return false;
  if (w !== word && looksHighEntropy(w)) return true;
  // the rest is for one unbroken token: not paths or URLs (`/`), dotted names or prefixed digests (sha256-<hex>)
  if (!/^[A-Za-z0-9+=_-]+$/.test(w) || /^[a-z0-9]{1,10}[-_][0-9a-f]{16,}$/i.test(w)) return false;
  const alnum = w.replace(/[^A-Za-z0-9]/g, '');
  if (alnum.length < 24 || !/[A-Za-z]/.test(alnum) || !/[0-9]/.test(alnum)) return false;
  return classSwitches(w) >= 0.35 && entropy(w) >= 3.8;
}

/** what separates the words of a value, a key or a comment that are each tested for high entropy */
const VALUE_WORD_BREAK = /[\s"'=:,;]+/;

/** A key or a comment with a secret's shape, or a high-entropy word in it: the value rules, for text that is no value. */
function looksSecretText(s: string): boolean {
  return matchSecretPattern(s) !== undefined || s.split(VALUE_WORD_BREAK).some(looksHighEntropy);
}

export function scanForSecrets(value: unknown, path: (string | number)[] = []): SecretHit[] {
  const hits: SecretHit[] = [];
  walk(value, path, hits);
  return hits;
}

function walk(value: unknown, path: (string | number)[], hits: SecretHit[]): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => walk(v, [...path, i], hits));
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const here = [...path, k];
      // a token pasted as a key ships as surely as one given as a value (and is never quoted back: the path stops here)
      if (!isPlaceholder(k) && looksSecretText(k)) {
        hits.push({ path, why: 'a key looks like a secret' });
        continue;
      }
      if ((typeof v === 'string' || typeof v === 'number') && holdsSecret(k, String(v))) {
        hits.push({ path: here, why: `key "${k}" holds a literal value; use {secret_ref: …}` });
        continue;
      }
      // (a list under a secret-named key: each literal in it is as much that key's value)
      if (Array.isArray(v) && secretKeyRule(k) !== undefined) {
        const literal = v.findIndex((x) => (typeof x === 'string' || typeof x === 'number') && holdsSecret(k, String(x)));
        if (literal >= 0) {
          hits.push({ path: [...here, literal], why: `key "${k}" holds a literal value in its list; use {secret_ref: …}` });
          continue;
        }
      }
      walk(v, here, hits);
    }
    return;
  }
  if (typeof value === 'string' && !isPlaceholder(value)) {
    const p = matchSecretPattern(value);
    if (p) {
      hits.push({ path, why: `value looks like ${p.why}` });
      return;
    }
    // scan each whitespace-separated word, so a secret inside a longer string is still caught
    if (value.split(VALUE_WORD_BREAK).some(looksHighEntropy)) hits.push({ path, why: 'value looks like a high-entropy secret' });
  }
}

/**
 * Secrets in a YAML file's comments: the parsed value never holds them, but a fragment ships byte for byte in every
 * release, on every node. Each comment's words are tested as values are (patterns, high entropy). 1-based lines.
 */
export function scanComments(text: string): { line: number; why: string }[] {
  const out: { line: number; why: string }[] = [];
  text.split('\n').forEach((l, i) => {
    // a comment: `#` at the start of the line or after white space (a `#` inside a word, e.g. a URL's fragment, is not)
    const at = l.search(/(^|\s)#/);
    if (at < 0) return;
    const comment = l.slice(l.indexOf('#', at) + 1);
    if (looksSecretText(comment)) out.push({ line: i + 1, why: 'a comment looks like it holds a secret' });
  });
  return out;
}
