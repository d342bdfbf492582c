/**
 * Text that reaches a human terminal or page must never carry control characters from a node, a repo or an error:
 * an ESC sequence could clear the screen, retitle the window or hide lines. Every human output escapes them here.
 */

// C0 controls except TAB and LF, DEL, the C1 range (U+0080–U+009F, e.g. the 8-bit CSI U+009B), the Unicode line
// and paragraph separators U+2028/U+2029 (a terminal or a JSON reader may break a line there), and the invisible
// format characters that change what text around them looks like: bidi marks, embeddings, overrides and isolates
// (U+061C, U+200E/F, U+202A–202E, U+2066–2069: "Trojan Source" reordering), zero-width and invisible characters
// (U+200B–200D, U+2060–2064, U+206A–206F, U+FEFF) that make two different names look the same, the soft hyphen
// U+00AD, the combining grapheme joiner U+034F and the blank fillers (Hangul U+115F, U+1160, U+3164, U+FFA0, Khmer
// U+17B4/17B5, Mongolian U+180E)
// (as regex source, \uXXXX escapes: the status page's script builds the same class from it)
export const INVISIBLE_CLASS = String.raw`\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0`;
// the tag characters U+E0000–E007F (invisible text a terminal does not show) and the variation selectors supplement
// U+E0100–E01EF: outside the BMP, so matched as their UTF-16 pairs (no 'u' flag) and escaped a code unit at a time
export const INVISIBLE_ASTRAL = String.raw`\udb40[\udc00-\udc7f\udd00-\uddef]`;
const CONTROL = new RegExp(String.raw`[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029${INVISIBLE_CLASS}]|${INVISIBLE_ASTRAL}`, 'g');
// LF and TAB too, for text that must stay on one line (a name, a key, an error message)
const CONTROL_INLINE = new RegExp(String.raw`[\u0000-\u001f\u007f-\u009f\u2028\u2029${INVISIBLE_CLASS}]|${INVISIBLE_ASTRAL}`, 'g');
// what JSON.stringify leaves raw of those (it escapes C0 itself)
const JSON_RAW = new RegExp(String.raw`[\u007f-\u009f\u2028\u2029${INVISIBLE_CLASS}]|${INVISIBLE_ASTRAL}`, 'g');

/** `\uXXXX` for each UTF-16 code unit of `c` (a surrogate pair: \udb40\udc41) */
function unitEscapes(c: string): string {
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

function visible(c: string): string {
  if (c.length > 1) return unitEscapes(c);
  const code = c.charCodeAt(0);
  if (c === '\n') return '\\n';
  if (c === '\t') return '\\t';
  if (c === '\r') return '\\r';
  if (c === '\u001b') return '\\e';
  if (code > 0xff) return unitEscapes(c);
  return `\\x${code.toString(16).padStart(2, '0')}`;
}

/** Escape control characters, keeping newlines and tabs (multi-line text such as a unified diff). */
export function escapeControl(s: string): string {
  return s.replace(CONTROL, visible);
}

/** Escape control characters including newlines and tabs: the result is always one line. */
export function escapeInline(s: string): string {
  return s.replace(CONTROL_INLINE, visible);
}

/**
 * JSON.stringify, with what it leaves raw escaped too: DEL, the C1 controls (U+0080–U+009F) and U+2028/U+2029 as
 * `\uXXXX`. The same value, still valid JSON, that no terminal (`cat`, `tail -f`, `jq -r` aside) takes as a control.
 */
export function safeJson(value: unknown, space?: number): string {
  return escapeJsonRaw(JSON.stringify(value, null, space));
}

/**
 * DEL, the C1 controls, U+2028/2029 and the invisible format characters of a JSON text as \uXXXX escapes:
 * JSON.stringify leaves them raw (U+009B is an 8-bit CSI to a terminal, U+202E reorders a line), and they can stand
 * only inside JSON strings, where the escape means the same. Also a pino logger's streamWrite hook, so that every log
 * line is escaped alike.
 */
export function escapeJsonRaw(json: string): string {
  return json.replace(JSON_RAW, unitEscapes);
}

/** `s` cut to at most `max` characters, its last one an ellipsis when it was longer (node text in a bounded line). */
export function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * Credentials in a URL replaced wherever one stands in `s`: `https://user:secret@host/x` → `https://user:***@host/x`;
 * a bare `https://token@host` (a token-like user) loses the token too.
 */
export function redactUrl(s: string): string {
  // the userinfo runs to the last `@` before the path: a password may itself contain `@`
  return s.replace(/([a-z][a-z0-9+.-]*:\/\/)([^/?#\s'"]*)@/gi, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    const user = colon < 0 ? userinfo : userinfo.slice(0, colon);
    const looksLikeToken = user.length >= 20 || user.includes('@') || /^(gh[pousr]_|glpat-|x-access-token)/.test(user);
    return looksLikeToken ? `${scheme}***@` : `${scheme}${user}:***@`;
  });
}
