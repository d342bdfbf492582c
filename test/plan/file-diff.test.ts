/** What `clawops diff` prints for a file: control characters from a node never reach the terminal; files clawops did not write show metadata only. */
import { describe, expect, it } from 'vitest';
import { metadataOnly, unifiedDiff } from '../../reconciler/plan/file-diff.js';

/** every C0 control but TAB and LF, DEL, and C1 */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
const diff = (a: string | undefined, b: string | undefined, label = 'acme/openclaw.json'): string =>
  unifiedDiff(label, a === undefined ? undefined : Buffer.from(a), b === undefined ? undefined : Buffer.from(b));

const BASE = '{\n  "gateway": {\n    "port": 18809\n  }\n}\n';

describe('unifiedDiff: control characters are escaped', () => {
  it.each([
    ['OSC window title ending in BEL', '\x1b]0;owned\x07', '\\e]0;owned\\x07'],
    ['CSI clear screen', '\x1b[2J', '\\e[2J'],
    ['CSI cursor up + erase line (hides the lines above)', '\x1b[1A\x1b[2K', '\\e[1A\\e[2K'],
    ['8-bit C1 CSI', '\u009b31m', '\\x9b31m'],
    ['C1 OSC', '\u009d0;t\u009c', '\\x9d0;t\\x9c'],
    ['carriage return overwriting the line', 'safe\rEVIL', 'safe\\rEVIL'],
    ['backspace and DEL', 'ab\x08\x08\x7f', 'ab\\x08\\x08\\x7f'],
    ['vertical tab and form feed', 'a\x0bb\x0cc', 'a\\x0bb\\x0cc'],
  ])('%s', (_name, seq, shown) => {
    const edited = `${BASE}${seq}\n`;
    for (const p of [diff(edited, BASE), diff(BASE, edited), diff(undefined, edited), diff(edited, undefined)]) {
      expect(RAW_CONTROL.test(p), JSON.stringify(p)).toBe(false);
      expect(p).toContain(shown);
    }
  });

  it('an ESC sequence appended to a line of openclaw.json shows as text', () => {
    const edited = BASE.replace('18809', '18809\x1b]0;title\x07\x1b[2J');
    const p = diff(BASE, edited);
    expect(p).toContain('+    "port": 18809\\e]0;title\\x07\\e[2J\n');
    expect(p).toContain('-    "port": 18809\n');
  });

  it('tabs and newlines keep their meaning in the patch', () => {
    const p = diff('a:\n\tb: 1\n', 'a:\n\tb: 2\n');
    expect(p).toContain('-\tb: 1\n+\tb: 2\n');
  });

  it('redaction runs before escaping: a token wrapped in an escape sequence is still hidden', () => {
    const token = 'Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sA';
    const p = diff(BASE, `${BASE}\x1b]0;${token}\x07\n`);
    expect(p).not.toContain(token);
    expect(RAW_CONTROL.test(p)).toBe(false);
  });

  it('the label is one line whatever the file name', () => {
    const p = diff('a\n', 'b\n', 'acme/evil\n+++ b/forged\x1b[2J');
    // C-quoted as git quotes such names
    expect(p.split('\n').filter((l) => l.startsWith('+++ '))).toEqual(['+++ "b/acme/evil\\n+++ b/forged\\033[2J"']);
    expect(p.split('\n').filter((l) => l.startsWith('--- '))).toHaveLength(1);
    expect(RAW_CONTROL.test(p)).toBe(false);
    const bin = unifiedDiff('acme/x\x1b[2J.png', Buffer.from([0, 1]), undefined);
    expect(bin).toBe('Binary files a/acme/x\\e[2J.png and b/acme/x\\e[2J.png differ\n');
  });

  it('CRLF files show their carriage returns', () => {
    const p = diff('a: 1\r\nb: 2\r\n', 'a: 1\r\nb: 3\r\n');
    expect(p).toContain('-b: 2\\r\n+b: 3\\r\n');
  });
});

describe('metadataOnly: files clawops did not write', () => {
  const sha = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
  it('names size and the start of the hash, never content', () => {
    expect(metadataOnly('acme/notes.txt', 1234, sha)).toBe('acme/notes.txt: (not written by clawops: 1234 bytes, sha256 0123456789ab…; content not shown)\n');
    expect(metadataOnly('acme/a', 1, sha.toUpperCase())).toBe('acme/a: (not written by clawops: 1 byte, sha256 0123456789ab…; content not shown)\n');
    expect(metadataOnly('acme/a', undefined, '')).toBe('acme/a: (not written by clawops: size unknown, sha256 unknown; content not shown)\n');
    expect(metadataOnly('acme/link', 12, 'symlink')).toBe('acme/link: (not written by clawops: a symlink; content not shown)\n');
  });

  it('a hostile name stays on one line', () => {
    const m = metadataOnly('acme/x\n+token: hunter2\x1b[2J', 5, sha);
    expect(m.split('\n')).toEqual([expect.stringContaining('acme/x\\n+token: hunter2\\e[2J: (not written by clawops'), '']);
  });
});
