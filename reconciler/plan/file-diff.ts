/** Unified diffs of release files, secrets redacted. Pure. */
import { createTwoFilesPatch } from 'diff';
import { redactText, secretChanges } from './redact.js';

const BINARY = /[\0]/;

export function unifiedDiff(label: string, before: Buffer | undefined, after: Buffer | undefined): string {
  const a = before?.toString('utf8') ?? '';
  const b = after?.toString('utf8') ?? '';
  if (BINARY.test(a) || BINARY.test(b)) return `Binary files a/${label} and b/${label} differ\n`;
  const ra = redactText(a);
  const rb = redactText(b);
  let patch = createTwoFilesPatch(before ? `a/${label}` : '/dev/null', after ? `b/${label}` : '/dev/null', ra.text, rb.text, '', '', { context: 3 });
  // drop the "Index:"/"====" header createTwoFilesPatch emits, keep ---/+++ and hunks like `diff -u`
  patch = patch.replace(/^(Index: .*\n)?=+\n/, '');
  const notes = secretChanges(ra, rb);
  return notes.length > 0 ? `${patch}${notes.join('\n')}\n` : patch;
}
