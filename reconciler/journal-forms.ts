/**
 * The exact forms of the lines an intent file may hold (apply/remote-scripts.ts settle_intent copies only these into
 * reload.log; plan/intent-records.ts judges the same lines for `clawops diff`), as regular-expression sources valid
 * both as POSIX ERE for the node's awk (interpolated into the shell, inside single quotes and between slashes: no
 * `'` or `/` in them) and as JavaScript RegExp sources. One JSON object, these keys in this order, strings
 * JSON-escaped; or a done mark. A line holding a control character, a C1 character, U+2028/2029 or a byte that is not
 * UTF-8 is no line of clawops' (safeJson writes none of them raw).
 */
export const JOURNAL_FORMS = {
  /** `done TENANT ID`: the latest record of TENANT to ID before it happened (ID empty: a first deploy undone) */
  done: String.raw`^done [A-Za-z0-9._-]+ [0-9a-f]*$`,
  /** the dead-man guard's record of its undo */
  deadMan: String.raw`^\{"time":"[0-9T:.Z-]+","action":"DeadManRollback","tenant":"[A-Za-z0-9._-]+","release_id":"[0-9a-f]*","prev_release_id":"[0-9a-f]+","run":"[A-Za-z0-9._-]+","detail":"[^"\\]*"\}$`,
  /** a unit reload (apply-node.ts reloadLine) */
  reload: String.raw`^\{"time":"[0-9T:.Z-]+","action":"reload","node":"([^"\\]|\\.)*","tenant":"[A-Za-z0-9._()-]+","release_id":"[0-9a-f]*",("commit":"[0-9a-f]+",)?("tag":"([^"\\]|\\.)*",)?"label":"[A-Za-z0-9._-]+","method":"(bootstrap|restart|hot)","old_pid":[0-9]+,"new_pid":[0-9]+,"actor":"([^"\\]|\\.)*","run":"[A-Za-z0-9._-]+"\}$`,
  /** a swap (apply-node.ts journalLine), an automatic rollback's with its reason */
  swap: String.raw`^\{"time":"[0-9T:.Z-]+","action":"(apply|rollback)","node":"([^"\\]|\\.)*","tenant":"[A-Za-z0-9._-]+","release_id":"[0-9a-f]*",("prev_release_id":"[0-9a-f]+",)?("commit":"[0-9a-f]+",)?("tag":"([^"\\]|\\.)*",)?"actor":"([^"\\]|\\.)*","run":"[A-Za-z0-9._-]+"(,"reason":"[A-Za-z]+","automatic":true,"quarantined":"[0-9a-f]+")?\}$`,
} as const;

/** JavaScript's side of the characters no line may hold (the shell tests the bytes; observe marks invalid UTF-8) */
export const JOURNAL_BAD_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
