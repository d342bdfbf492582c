/** Unified diffs of release files, secrets redacted and control characters escaped. Pure. */
import { createTwoFilesPatch } from 'diff';
import { escapeControl, escapeInline } from '../safe-text.js';
import { isSecretContent, redactText, secretChanges, type RedactOptions } from './redact.js';

export type UnifiedDiffOptions = RedactOptions;

const BINARY = /[\0]/;
/** edits jsdiff may look for, and how long, before a file's changes are summed up instead of shown */
const MAX_EDIT_LENGTH = 2000;
const DIFF_TIMEOUT_MS = 2000;
/** the most lines of one file's patch that are printed */
const MAX_PATCH_LINES = 400;

/**
 * `diff -u` of two versions of a file, for humans: secrets redacted (by key, by shape, and by the node's secret file
 * fingerprints in `opts`), then control characters escaped, so content from a node can neither leak a secret nor drive
 * the terminal (an ESC sequence shows as `\e]0;…`).
 */
export function unifiedDiff(label: string, before: Buffer | undefined, after: Buffer | undefined, opts: UnifiedDiffOptions = {}): string {
  const a = before?.toString('utf8') ?? '';
  const b = after?.toString('utf8') ?? '';
  if (BINARY.test(a) || BINARY.test(b)) return `Binary files a/${escapeInline(label)} and b/${escapeInline(label)} differ\n`;
  // a file whose whole content is one of the node's secret files (copied or hard-linked there): not a byte of it
  if (before && isSecretContent(a, opts.fingerprints)) return `${escapeInline(label)}: (the node's content is that of one of its secret files; content not shown)\n`;
  const ra = redactText(a, opts);
  const rb = redactText(b, opts);
  // the ---/+++ names are C-quoted by jsdiff as git does ("a/x\033[2J"); the content is escaped here. Bounded: a file
  // whose every line differs (re-saved with CRLF) took jsdiff minutes and printed twice the file; past the bounds, a
  // count of lines stands in for the patch
  const made = createTwoFilesPatch(before ? `a/${label}` : '/dev/null', after ? `b/${label}` : '/dev/null', escapeControl(ra.text), escapeControl(rb.text), '', '', { context: 3, maxEditLength: MAX_EDIT_LENGTH, timeout: DIFF_TIMEOUT_MS });
  const lines = (t: string): number => (t === '' ? 0 : t.split('\n').length);
  if (made === undefined) return `${escapeInline(label)}: ${lines(a)} → ${lines(b)} lines, too many changes to show (over ${MAX_EDIT_LENGTH} edits)\n`;
  // drop the "Index:"/"====" header createTwoFilesPatch emits, keep ---/+++ and hunks like `diff -u`
  let patch = made.replace(/^(Index: .*\n)?=+\n/, '');
  const all = patch.split('\n');
  if (all.length > MAX_PATCH_LINES) patch = `${all.slice(0, MAX_PATCH_LINES).join('\n')}\n… ${all.length - MAX_PATCH_LINES} more patch lines not shown\n`;
  const notes = secretChanges(ra, rb);
  return escapeControl(notes.length > 0 ? `${patch}${notes.join('\n')}\n` : patch);
}

/**
 * What is shown instead of the content of a file clawops did not write (default-deny output): its size and the start
 * of its sha256 (or that it is a symlink), never a byte of it. `sha256` is what observe reports: a hex digest,
 * `symlink`, or '' when unknown.
 */
export function metadataOnly(label: string, size: number | undefined, sha256: string): string {
  const bytes = size === undefined ? 'size unknown' : `${size} byte${size === 1 ? '' : 's'}`;
  const what = sha256 === 'symlink' ? 'a symlink' : /^[0-9a-f]{12}/i.test(sha256) ? `sha256 ${sha256.slice(0, 12).toLowerCase()}…` : 'sha256 unknown';
  return `${escapeInline(label)}: (not written by clawops: ${sha256 === 'symlink' ? what : `${bytes}, ${what}`}; content not shown)\n`;
}
