/**
 * Finds literal secrets in parsed fragments and fixtures. Reports where and why, never the value.
 * Secrets belong in /var/db/openclaw/secrets/<tenant>/ and are referenced as `{secret_ref: name}`.
 */

export interface SecretHit {
  path: (string | number)[];
  why: string;
}

const SECRET_KEY = /(^|[_-])?(token|secret|password|passwd|api[_-]?key|apikey|authorization|private[_-]?key|signing[_-]?key)$/i;
const PATTERNS: { re: RegExp; why: string }[] = [
  { re: /^\s*Bearer\s+\S{6,}/i, why: 'a Bearer credential' },
  { re: /(^|[^A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}/, why: 'an API key (sk-…)' },
  { re: /(^|[^A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{8,}/, why: 'a Slack token (xox?-…)' },
  { re: /-----BEGIN [A-Z ]*PRIVATE KEY-----/, why: 'a private key' },
  { re: /(^|[^A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{30,}/, why: 'a GitHub token' },
  { re: /(^|[^A-Za-z0-9])AKIA[0-9A-Z]{16}/, why: 'an AWS access key id' },
  // a password in a URL's userinfo (https://user:pass@host), unless it is a ${VAR} placeholder
  { re: /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:(?!\$\{[A-Z0-9_]+\}@)[^/\s@]+@/i, why: 'a URL with a password in it' },
  // incoming-webhook URLs are bearer credentials: whoever has the path can post
  { re: /hooks\.slack\.com\/(services|workflows|triggers)\/[A-Za-z0-9/_-]{8,}/i, why: 'a Slack incoming-webhook URL' },
  { re: /discord(app)?\.com\/api\/webhooks\/\d+\/[A-Za-z0-9_-]{16,}/i, why: 'a Discord webhook URL' },
];

/** Values that look like placeholders are not secrets (`${VAR}`, `<redacted>`, `changeme` in docs…). */
function isPlaceholder(s: string): boolean {
  return /^\$\{[A-Z0-9_]+\}$/.test(s) || /^<[^>]*>$/.test(s) || s === '' || /^\*+$/.test(s);
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
      if (SECRET_KEY.test(k) && (typeof v === 'string' || typeof v === 'number') && !isPlaceholder(String(v))) {
        hits.push({ path: here, why: `key "${k}" holds a literal value; use {secret_ref: …}` });
        continue;
      }
      walk(v, here, hits);
    }
    return;
  }
  if (typeof value === 'string' && !isPlaceholder(value)) {
    for (const p of PATTERNS) {
      if (p.re.test(value)) {
        hits.push({ path, why: `value looks like ${p.why}` });
        return;
      }
    }
    // scan each whitespace-separated word, so a secret inside a longer string is still caught
    if (value.split(/[\s"'=:,;]+/).some(looksHighEntropy)) hits.push({ path, why: 'value looks like a high-entropy secret' });
  }
}
