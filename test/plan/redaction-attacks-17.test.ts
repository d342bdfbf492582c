/**
 * Adversarial tests (round 17): what a NODE holds turned into text — unified diffs, their redaction, the `clawops diff`
 * text and --json reports — must never show a secret. Observations are built as the planner (ObserveResult) or the
 * parser (observe records) receives them; no sshd fleet.
 * `// fixed (was: …)` tests reproduced defects of this round (fixed since). The three still skipped, with their `KNOWN`
 * lines, are left open: a secret in an encoded form, a secret shorter than 8 characters, and command-line options.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { unifiedDiff } from '../../reconciler/plan/file-diff.js';
import { plan } from '../../reconciler/plan/plan.js';
import { redactText } from '../../reconciler/plan/redact.js';
import type { NodeObservation } from '../../reconciler/observe/types.js';
import { parseObservation } from '../../reconciler/observe/parse-observation.js';
import { planJson, renderText, type ReportMeta } from '../../reconciler/report/plan-report.js';
import { safeJson } from '../../reconciler/safe-text.js';
import { exampleDesired, nodeObservation, ok, sha, tenantOf } from './fixtures.js';

/** what observe reports for a secret file: the first 12 hex of its sha256 */
const fp = (content: string): string => createHash('sha256').update(content).digest('hex').slice(0, 12);
const meta = (): ReportMeta => ({ source: { origin: 'git@git.example.internal:infra.git', ref: 'main', commit: 'c0ffee0123456789', dirty: false }, lock: exampleDesired().lock });

/** the desired acme openclaw.json, as git renders it */
function desiredOpenclaw(): string {
  return tenantOf(exampleDesired(), 'acme').files.find((f) => f.path === 'openclaw.json')!.content.toString('utf8');
}

/** openclaw.json on gw-1 with `lines` pasted in by hand right after the opening brace */
function pasted(...lines: string[]): string {
  return desiredOpenclaw().replace(/^\{\n/, `{\n${lines.map((l) => `${l}\n`).join('')}`);
}

/**
 * `clawops diff` (text and --json, as diff.ts prints it: safeJson) for the example fleet with gw-1's acme openclaw.json
 * replaced by `content`, and acme's token.current on gw-1 holding `secret` (a file ending in a newline).
 */
function report(content: string | Buffer, secret?: string, edit?: (o: NodeObservation) => void): { text: string; json: string; both: string } {
  const desired = exampleDesired();
  const observed = desired.nodes.map((n) => {
    const o = nodeObservation(desired, n.name, n.tenants);
    if (n.name === 'gw-1') {
      const t = o.tenants.acme!;
      const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content);
      t.files = { ...t.files, 'openclaw.json': sha(bytes) };
      t.contents = { ...t.contents, 'openclaw.json': bytes };
      if (secret !== undefined) t.tokens = { ...t.tokens, 'token.current': { present: true, mode: '600', mtime: 1_764_000_000, fingerprint: fp(`${secret}\n`) } };
      edit?.(o);
    }
    return ok(o);
  });
  const p = plan(desired, observed);
  const text = renderText(p, meta());
  const json = safeJson(planJson(p, meta()), 2);
  return { text, json, both: `${text}\n${json}` };
}

/** every C0 control but LF, DEL, C1, U+2028/9, bidi and zero-width format characters */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/u;

describe('a node secret pasted into a hand-edited file (fingerprint redaction) — what holds', () => {
  const SECRET = 'plumbus-Winter-1987x'; // not token-shaped: only the node's fingerprint can find it

  it.each([
    ['a JSON value under an innocent key', `  "note": "${SECRET}",`],
    ['a YAML-ish comment', `  "_c": "# old one: ${SECRET}",`],
    ['a URL userinfo password', `  "db": "postgres://app:${SECRET}@db.example.internal/x",`],
    ['a URL userinfo user', `  "git": "https://${SECRET}@git.example.internal/x.git",`],
    ['a query parameter with an innocent name', `  "cb": "https://x.example/cb?state=${SECRET}&n=1",`],
    ['a URL path segment', `  "hook": "https://x.example/in/${SECRET}/post",`],
    ['a URL fragment', `  "ws": "wss://gw.example/ws#${SECRET}",`],
    ['with trailing blanks and CR', `  "note": "${SECRET}  "\r`],
    ['quoted in prose, end of sentence', `  "_c": "the old token was '${SECRET}'.",`],
    ['the whole line, nothing else', SECRET],
  ])('%s: not in the text or --json of clawops diff', (_name, line) => {
    const r = report(pasted(line), SECRET);
    expect(r.text).toContain('openclaw.json');
    expect(r.both).not.toContain(SECRET);
    expect(r.text).toContain('(secret)');
  });

  it('a whole file that is a copy of the secret file: not a byte of it, in text or --json', () => {
    const r = report(`${SECRET}\n`, SECRET);
    expect(r.both).not.toContain(SECRET);
    expect(r.text).toContain("content is that of one of its secret files");
  });

  it('through the parser: observe records (token fingerprint + content) → plan → report', () => {
    const desired = exampleDesired();
    const base = nodeObservation(desired, 'gw-1', ['acme', 'globex']);
    const content = pasted(`  "note": "${SECRET}",`);
    const records: string[][] = [['version', '0', `OpenClaw ${desired.lock.openclaw.version} (${desired.lock.openclaw.commit})`, '1'], ['daemon', base.daemon!.path, base.daemon!.sha256]];
    for (const id of ['acme', 'globex']) {
      const t = base.tenants[id]!;
      records.push(['link', id, 'current', t.current!.target], ['relok', id, 'current', '1'], ['release', id, t.current!.releaseId!]);
      for (const [path, h] of Object.entries(t.files)) records.push(['file', id, path, id === 'acme' && path === 'openclaw.json' ? sha(content) : h]);
      records.push(['manifestj', id, 'current', JSON.stringify(t.manifest)]);
      records.push(['token', id, 'token.current', id === 'acme' ? '600' : '600', '1764000000', id === 'acme' ? fp(`${SECRET}\n`) : 'a1b2c3d4e5f6'], ['token', id, 'token.next', 'missing']);
      for (const s of Object.keys(t.secrets)) records.push(['token', id, s, '600', '1764000000', 'b2c3d4e5f6a1']);
      records.push(['svc', `ai.openclaw.${id}`, '4242', '0']);
    }
    records.push(['content', 'acme', 'openclaw.json', Buffer.from(content).toString('base64')]);
    const obs = parseObservation('gw-1', JSON.stringify({ v: 1, records }), { commands: 1, durationMs: 1 });
    expect(obs.tenants.acme!.tokens['token.current'].fingerprint).toBe(fp(`${SECRET}\n`));
    const p = plan(desired, [ok(obs)], desired.nodes.filter((n) => n.name === 'gw-1'));
    const text = renderText(p, meta());
    expect(text).toContain('-  "note": "(secret)",'); // node (a/) → git (b/)
    expect(`${text}${safeJson(planJson(p, meta()))}`).not.toContain(SECRET);
  });
});

describe('a node secret pasted into a hand-edited file — defects', () => {
  // fixed (was: the fingerprint is matched against whole words only (redact.ts:204-207, candidateWords), so the secret glued to
  // a longer word (a suffix such as `.old`/`-rotated`, or a prefix) is shown in clear in the diff.)
  it('the secret as part of a longer word (secret.old, secret-rotated, Xsecret)', () => {
    const SECRET = 'plumbus-Winter-1987x';
    // (a secret glued to other letters, `v1SECRET`, is left out: a fingerprint finds it only if every substring of
    // every word were hashed; the fixed cases are those at a separator)
    for (const line of [`  "note": "${SECRET}.old",`, `  "note": "${SECRET}-rotated",`, `  "note": "x_${SECRET}",`]) expect(report(pasted(line), SECRET).both).not.toContain(SECRET);
  });

  // fixed (was: a secret of several words is found only when it is a line's whole text (redact.ts:196 trims the end, never the
  // start), so the same passphrase indented in a YAML block, as a list item, under an innocent key or in a comment is
  // printed as is. Fix: also hash every run of consecutive words of a line (bounded by MAX_WORD), and line.trim().)
  it('a passphrase with spaces that is not the whole line', () => {
    const SECRET = 'correct horse battery staple';
    for (const line of [`    ${SECRET}`, `  - ${SECRET}`, `  "note": "${SECRET}",`, `# ${SECRET}`]) {
      const out = redactText(line, { fingerprints: [fp(`${SECRET}\n`)] }).text;
      expect(out, line).not.toContain(SECRET);
    }
    expect(report(pasted(`  "note": "${SECRET}",`), SECRET).both).not.toContain(SECRET);
  });

  // KNOWN: candidate words are hashed as they are written, never decoded (redact.ts:140-160), so the secret JSON-escaped
  // (`\"`, `\\`, `\u00e4` as Python's json.dump writes it), percent-encoded in a URL, or base64/hex-encoded is shown.
  // Fix: also hash the JSON-unescaped form of each string literal, the percent-decoded form of URL words, and the
  // decoded form of base64/hex words of plausible length.
  it.skip('the secret JSON-escaped, URL-encoded, base64 or hex in the node file', () => {
    const SECRET = 'pä"ss\\Wörd/2024+';
    const forms = [JSON.stringify(SECRET), JSON.stringify(SECRET).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`), encodeURIComponent(SECRET), Buffer.from(SECRET).toString('base64'), Buffer.from(SECRET).toString('hex')];
    for (const f of forms) {
      const out = report(pasted(`  "x": ${f.startsWith('"') ? f : `"https://h.example/cb?state=${f}"`},`), SECRET).both;
      expect(out, f).not.toContain(f.replace(/^"|"$/g, ''));
    }
  });

  // KNOWN (debatable): words under 8 characters are never compared with the fingerprints (redact.ts:137 MIN_WORD), so a
  // short password or a PIN in a secret file (`hunter2`, `482913`) pasted under an innocent key is shown. A 48-bit
  // fingerprint match on a word the node itself reports is no chance collision: proposed rule, hash words of any length
  // ≥ 4 (or of any length when the line has no key rule), accepting that a common word equal to a secret is hidden too.
  it.skip('a short password or PIN held by a secret file', () => {
    for (const SECRET of ['hunter2', '482913']) expect(report(pasted(`  "note": "${SECRET}",`), SECRET).both).not.toMatch(new RegExp(`"note": "${SECRET}"`));
  });
});

describe('secrets found by key or shape — defects', () => {
  const GH = `ghp_${'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'}`;
  const B62 = 'Zq8vN3xL2pR7tY5wK9mB4cJ6hG1dF0sA';

  // fixed (was: a `key: value` line returns unchanged when the VALUE is not secret (redact.ts:139-141) without testing the KEY,
  // so a token pasted as a key (`ghp_…: true`, `"sk-…": 1`, a random token as a JSON key) is printed in clear; lint's
  // scanForSecrets flags the same key ("a key looks like a secret"). Fix: run looksSecret on the key too (or on `line`).)
  it('a token pasted as a YAML or JSON key', () => {
    for (const line of [`${GH}: true`, `  "${GH}": 1,`, `  "${B62}": "enabled",`, 'sk-proj-abcdefghijklmnop1234=1']) {
      expect(redactText(line).text, line).not.toMatch(/ghp_|Zq8vN3|sk-proj/);
    }
    expect(report(pasted(`  "${GH}": true,`)).both).not.toContain(GH);
  });

  // fixed (was: KEY_VALUE and INLINE_PAIR only know keys of [A-Za-z0-9_.-] (redact.ts:32-34), so `"db password": "hunter2"`
  // or `"Api Key": "…"` is not seen as a key at all and the value shows; lint's secretKeyRule does split such keys.
  // Fix: allow any quoted key (`"[^"]+"`) in both regexes.)
  it('a JSON key with a space in it ("db password")', () => {
    for (const line of ['  "db password": "hunter2",', '  "Admin Password": "hunter2"', '{"db password":"hunter2"}']) expect(redactText(line).text, line).not.toContain('hunter2');
  });

  // fixed (was: a URL whose userinfo is a bare token (`https://<40 hex>@github.com/…`, a classic GitHub/PAT clone URL) is not a
  // secret shape (secret-scan.ts:101 needs `user:password@`), though safe-text's redactUrl (used for git errors) hides a
  // user of ≥ 20 chars; the token shows in the diff. Fix: one rule — treat a ≥ 20-char userinfo user as a secret here too.)
  it('a URL with a bare token as its userinfo', () => {
    const hex40 = createHash('sha1').update('pat').digest('hex');
    for (const line of [`url: https://${hex40}@github.com/org/repo.git`, `  "remote": "https://${hex40}@github.com/org/repo.git",`]) expect(redactText(line).text, line).not.toContain(hex40);
  });

  // KNOWN (debatable): command-line options are no key form the redactor knows (`--password hunter2`,
  // `["--token=hunter2x"]`), so a non-token-shaped password given to a tool in a hand-edited file shows. Proposed rule:
  // `--<name>=v` and `--<name> v` with a secretKeyRule name are key/value pairs.
  it.skip('a password given as a command-line option', () => {
    for (const line of ['  "args": ["--password", "hunter2"],', '  "args": ["--token=hunter2x"],', 'cmd: tool --api-key=hunter2x']) expect(redactText(line).text, line).not.toContain('hunter2');
  });
});

describe('key and shape rules — what holds', () => {
  it.each([
    ['Basic credential under an innocent key', '  "upstream": "Basic dXNlcjpodW50ZXIyaHVudGVyMg=="', 'dXNlcjpodW50'],
    ['a password in a URL in prose', 'note: see https://admin:hunter2@db.example/x', 'hunter2'],
    ['a list item URL with a password', '- https://admin:hunter2@db.example/x', 'hunter2'],
    ['password key in a compact JSON line', '  "x": {"password": "hunter2"}', 'hunter2'],
    ['password key with = and quotes', 'PASSWORD = "hunter2"', 'hunter2'],
    ['a multi-line plain scalar under password', 'password:\n  hunter2', 'hunter2'],
    ['a GitHub token with a zero-width space in it', 'note: ghp_A1b2C3d4E5f6G7h8I9j0\u200bK1l2M3n4O5p6Q7r8', 'K1l2M3n4O5p6Q7r8'],
  ])('%s', (_n, text, needle) => {
    expect(redactText(text).text).not.toContain(needle);
  });

  it('a secret changed on the node is reported by key, never by value, in text and --json', () => {
    const r = report(pasted('  "password": "hunter2-old",'));
    expect(r.both).not.toContain('hunter2');
    expect(r.text).toMatch(/^- password: \(secret removed\)$/m);
  });
});

describe('fields of the observation that flow into messages', () => {
  // fixed (was: the Token overlap messages print each token file's fingerprint (plan.ts:172, "token.next X staged beside
  // token.current Y", "(fingerprint X)") into `clawops diff` text and --json, while the controller's status keeps
  // "never the token or its fingerprint" (controller/status.ts:63); an unsalted 48-bit sha256 prefix of a short or
  // low-entropy secret (a PIN, a word) gives the secret away by brute force. Fix: say "differs"/"is the same", no hex.)
  it('token fingerprints are not printed in the diff report', () => {
    const cur = '4821';
    const next = '7730';
    const desired = exampleDesired();
    const o = nodeObservation(desired, 'gw-1', ['acme', 'globex']);
    o.tenants.acme!.tokens = { 'token.current': { present: true, mode: '600', mtime: 1, fingerprint: fp(`${cur}\n`) }, 'token.next': { present: true, mode: '600', mtime: 1, fingerprint: fp(`${next}\n`) } };
    const p = plan(desired, [ok(o)], desired.nodes.filter((n) => n.name === 'gw-1'));
    const out = `${renderText(p, meta())}${safeJson(planJson(p, meta()))}`;
    // what an operator (or a log) holding the report could do: recover the PIN from the printed fingerprint
    const printed = /token\.next ([0-9a-f]{12})/.exec(out)?.[1];
    const recovered = printed === undefined ? undefined : Array.from({ length: 10_000 }, (_, i) => String(i).padStart(4, '0')).find((pin) => fp(`${pin}\n`) === printed);
    expect(recovered).toBeUndefined();
    expect(out).not.toContain(fp(`${cur}\n`));
    expect(out).not.toContain(fp(`${next}\n`));
  });

  // fixed (was: a file name is printed as is in the Drifted issue, the Changes header and metadataOnly (plan.ts:49,214;
  // file-diff.ts:39), never redacted, so a file named after a token (ghp_…, or the node's own secret, a name that passes
  // the [A-Za-z0-9._-] check) shows in text and --json. Fix: run looksSecret and the fingerprints over names, showing
  // `(secret-looking name, N bytes)`.)
  it('a file on the node whose name is a token', () => {
    const GH = `ghp_${'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'}`;
    const NODE_SECRET = 'plumbus-Winter-1987x';
    const r = report(desiredOpenclaw(), NODE_SECRET, (o) => {
      o.tenants.acme!.files = { ...o.tenants.acme!.files, [GH]: sha('x'), [NODE_SECRET]: sha('y') };
      o.tenants.acme!.sizes = { ...o.tenants.acme!.sizes, [GH]: 1, [NODE_SECRET]: 1 };
    });
    expect(r.text).toContain('added on the node');
    expect(r.both).not.toContain(GH);
    expect(r.both).not.toContain(NODE_SECRET);
  });

  // fixed (was: strings a node sends that reach issue messages — an unparseable `openclaw --version` line
  // (version-gate.ts:30), `error`/`unexpected` records (plan.ts:196,206), launchd's last exit code (plan.ts:160) — are
  // escaped but never redacted, so a secret-shaped value in them (an openclaw error quoting its config's token) is
  // printed. Fix: pass every node-sent message through the shape redaction (looksSecret per word) and the fingerprints.)
  it('node-sent strings in messages carrying a token', () => {
    const TOKEN = 'sk-proj-Zq8vN3xL2pR7tY5wK9mB4cJ6';
    const r = report(desiredOpenclaw(), undefined, (o) => {
      o.openclaw = { found: true, exitCode: 1, raw: `Error: invalid config: gateway.auth.token "${TOKEN}" rejected`, cached: false };
      o.errors.push(`observe: cannot read ${TOKEN}`);
      o.tenants.acme!.launchd = { ...o.tenants.acme!.launchd, state: 'not running', lastExitCode: TOKEN };
    });
    expect(r.text).toContain('Version skew');
    expect(r.both).not.toContain(TOKEN);
  });

  it('node-sent strings in messages are one line, with no control, bidi or zero-width character (text and --json)', () => {
    const EVIL = '\x1b]0;t\x07\u009b2J\u202e\u2066\u200b\u2028\r\nFORGED';
    const r = report(pasted(`  "x": "${EVIL.replace(/[\r\n]/g, '')}",`), undefined, (o) => {
      o.openclaw = { found: true, exitCode: 1, raw: `bad ${EVIL}`, cached: false };
      o.errors.push(`err ${EVIL}`);
      o.tenants.acme!.launchd = { ...o.tenants.acme!.launchd, state: 'not running', lastExitCode: EVIL };
    });
    expect(RAW_CONTROL.test(r.text.replace(/\n/g, '')), r.text).toBe(false);
    expect(r.text).not.toMatch(/^FORGED/m);
    expect(RAW_CONTROL.test(r.json.replace(/\n/g, ''))).toBe(false);
  });
});

describe('diff size and shape', () => {
  it('binary, NUL-holding content is never printed', () => {
    const r = report(Buffer.concat([Buffer.from(pasted('  "note": "plumbus-Winter-1987x",')), Buffer.from([0, 0xff, 0xfe])]));
    expect(r.both).not.toContain('plumbus');
    expect(r.text).toContain('Binary files');
  });

  it('invalid UTF-8 and CR in a node file: shown escaped, no raw control in text or --json', () => {
    const bytes = Buffer.concat([Buffer.from(pasted('  "a": "x",')), Buffer.from([0xc3, 0x28, 0x0d, 0x1b, 0x5b, 0x32, 0x4a, 0x0a])]);
    const r = report(bytes);
    expect(RAW_CONTROL.test(r.text.replace(/\n/g, ''))).toBe(false);
    expect(RAW_CONTROL.test(r.json.replace(/\n/g, ''))).toBe(false);
    expect(r.text).toContain('\\r\\e[2J');
  });

  // fixed (was: invisible characters outside safe-text's class (safe-text.ts:13) — Unicode tag characters U+E0000–E007F
  // ("ASCII smuggling": invisible text), the soft hyphen U+00AD, the Hangul fillers U+115F/U+3164 — reach the diff
  // raw, so two lines that differ look identical to the operator. Fix: add \u00ad\u115f\u1160\u3164\uffa0 and the tag
  // block (with the u flag: \u{e0000}-\u{e007f}) to INVISIBLE_CLASS.)
  it('invisible tag characters and fillers are escaped in a diff line', () => {
    const hidden = [...'run rm -rf'].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('');
    const p = unifiedDiff('acme/notes.txt', Buffer.from('a\n'), Buffer.from(`a${hidden}\u00ad\u3164\n`));
    expect(p).not.toMatch(/[\u{e0000}-\u{e007f}\u00ad\u115f\u1160\u3164]/u);
  });

  // fixed (was: the URL-password shape (secret-scan.ts:108, `[a-z][a-z0-9+.-]*:\/\/…`, unanchored) backtracks quadratically
  // on a long run of [a-z0-9+.-]: redacting ONE 256 KiB line (what observe sends of a hand-edited or minified file)
  // takes ~100 s, per node, on every controller pass and `clawops diff`. Fix: a word-bounded pattern
  // (`(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}:\/\/`) or test only words that contain `://`.)
  it('one 256 KiB line from a node is redacted in well under a second', () => {
    const line = 'x'.repeat(256 * 1024);
    const t = Date.now();
    redactText(line, { fingerprints: ['0123456789ab'] });
    expect(Date.now() - t).toBeLessThan(1000);
  });

  // fixed (was: createTwoFilesPatch runs without maxEditLength/timeout (file-diff.ts:25), and Myers' diff is O(N·D): a
  // ~250 KiB release file the node re-saved with CRLF endings (every line differs) takes minutes to diff, and the
  // patch (twice the file) is printed whole. Fix: pass { maxEditLength } (jsdiff ≥ 5 returns undefined past it) and
  // fall back to "N lines differ; too many changes to show", and cap the lines a patch prints.)
  it('a large file whose every line differs: bounded time and output', () => {
    const lines = Array.from({ length: 18_000 }, (_, i) => `k${i}: ${createHash('md5').update(String(i)).digest('hex').slice(0, 6)}`);
    const want = Buffer.from(`${lines.join('\n')}\n`);
    const have = Buffer.from(`${lines.join('\r\n')}\r\n`);
    const t = Date.now();
    const p = unifiedDiff('acme/big.yaml', have, want);
    expect(Date.now() - t).toBeLessThan(3000);
    expect(p.length).toBeLessThan(1024 * 1024);
  });
});
