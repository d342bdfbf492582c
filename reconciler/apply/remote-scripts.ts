/**
 * The POSIX sh run on a node during apply and rollback (dash, and bash-as-sh with BSD userland on macOS).
 * Three commands per node and pass: BEGIN (lock, recovery of dead runs, version facts, what is already staged),
 * PROMOTE (verify staged files, rename them into place, validate with the real openclaw), FINISH (reload log from
 * the intent file, prune, unlock). Every script takes its paths as positional parameters and its data on stdin;
 * nothing is interpolated. They act only on what clawops owns (node-tree-sh.ts) and never follow a link.
 *
 * Swaps are journalled: before its first swap a run writes `VARDB/clawops/intent.RUN` (the reload-log records of
 * the swaps it is about to make); FINISH (or UNLOCK after a failure) appends those whose swap happened to
 * reload.log and removes the file only when that worked. A run killed in between leaves the intent behind, and
 * the next run that takes the lock records it (`"recovered_by"`) before anything else.
 */

import { NODE_TREE_SH } from '../node-tree-sh.js';
import { OPENCLAW_FACTS_SH } from '../openclaw-sh.js';
import { JOURNAL_FORMS } from '../journal-forms.js';

/** Helpers every script starts with (PRELUDE_NO_RT: without the scratch dir $RT, two programs fewer). */
const PRELUDE_NO_RT = String.raw`
set -u
PATH="$PATH:/usr/local/bin:/opt/homebrew/bin"
export PATH LC_ALL=C
if command -v sha256sum >/dev/null 2>&1; then SHA="sha256sum"; else SHA="shasum -a 256"; fi
b64() { base64 | tr -d '\n'; }
rec() { printf '%s' "$1"; shift; for f in "$@"; do printf '\t%s' "$f"; done; printf '\n'; }
${NODE_TREE_SH}`;
const PRELUDE = String.raw`${PRELUDE_NO_RT}
RT=$(mktemp -d 2>/dev/null || mktemp -d -t clawops); trap 'rm -rf "$RT"' EXIT
`;

/** The node lock's shell side; needs $L (the lock file) and $RUN. */
const LOCK_SH = String.raw`
# the lock's first 4 KiB as base64, only when it is a regular file (a FIFO would block, a link show what is behind it)
lock_b64() { if [ -f "$L" ] && [ ! -L "$L" ]; then head -c 4096 "$L" 2>/dev/null | b64; fi; }
lock_json() { printf '{"run":"%s","owner":"%s","pid":%s,"ttl_sec":%s,"acquired_epoch":%s,"host":"%s"}\n' "$RUN" "$1" "$2" "$3" "$4" "$(hostname 2>/dev/null || echo '?')"; }
# (the lock is one line of JSON, lock_json's: matched by the shell itself, no grep)
lock_is_ours() {
  [ -f "$1" ] || return 1
  first_line "$1" 4096
  case $fl in *"\"run\":\"$RUN\""*) return 0 ;; esac
  return 1
}
# release by rename first: only one process can move the file, so a lock another run just took is never removed
lock_release() {
  mv "$L" "$L.release.$RUN" 2>/dev/null || return 1
  if lock_is_ours "$L.release.$RUN"; then rm -f "$L.release.$RUN"; return 0; fi
  ln "$L.release.$RUN" "$L" 2>/dev/null; rm -f "$L.release.$RUN"; return 1
}
`;

/**
 * A staging dir's shell side; needs $ETC. enter_staging T NAME: cd into releases/T/NAME (a run's staging dir), made
 * here when missing (mkdir: fails on anything already there, a planted link included) or made earlier by this run,
 * and check the shell stands in that very directory (pwd -P). Every write after it is relative to the shell's own
 * directory: a link planted at the name later is never written through. For a subshell.
 */
const STAGING_SH = String.raw`
enter_staging() {
  # (cd -P sets $PWD to the physical path, as pwd -P prints it: no fork)
  cd -P "$ETC/releases/$1" 2>/dev/null || return 1
  _es_r=$PWD
  [ -e "$2" ] || [ -L "$2" ] || mkdir "$2" 2>/dev/null || return 1
  real_dir "$2" && cd -P "$2" 2>/dev/null && [ "$PWD" = "$_es_r/$2" ]
}
`;

/**
 * The swap journal's shell side; needs $D (VARDB/clawops), $ETC, $RT.
 * An intent file holds, in the order they were written:
 *   - records of swaps (journalLine's exact form; an automatic rollback's with its reason, automatic, quarantined):
 *     written before the swap;
 *   - `done TENANT ID` marks: the swap to ID happened (written by whoever undoes it later, the run's own rollback or
 *     the dead-man guard, at the moment the link still points at ID: proof), for the latest such record without one;
 *   - DeadManRollback records the guard could not append to reload.log (its exact form): facts, recorded as they are.
 * settle_intent FILE [RECOVERED_BY]: append to reload.log every record whose swap happened (marked done, or the last
 * record of its tenant with the tenant's link pointing at its release) and the guard's records, then remove FILE.
 * Prints `recorded TENANT ID [RUN]`, or `record-failed MESSAGE` and keeps FILE when the log cannot be written
 * (read-only, disk full).
 */
const JOURNAL_SH = String.raw`
settle_intent() {
  : > "$RT/settle"
  # only lines in the exact forms clawops writes (one JSON object, these keys in this order, strings JSON-escaped, no
  # raw control character, no C1, U+2028/2029 or byte that is not UTF-8, no NUL; or a done mark): a line planted in
  # an intent file is never copied into the log. Unmarked records carry their line number for the second look below
  tr '\000' '\001' < "$1" 2>/dev/null | awk '/[\001-\037\177]/ || /\302[\200-\237]/ || /\342\200[\250\251]/ { next }
    /[\200-\377]/ && !/^([\001-\177]|[\302-\337][\200-\277]|[\340-\357][\200-\277][\200-\277]|[\360-\364][\200-\277][\200-\277][\200-\277])*$/ { next }
    /${JOURNAL_FORMS.done}/ { split($0, w, " "); k = w[2] " " w[3]; if (k in pend) { mark[pend[k]] = 1; delete pend[k] } next }
    { f = "" }
    /${JOURNAL_FORMS.deadMan}/ { f = "R" }
    /${JOURNAL_FORMS.reload}/ { f = "P" }
    /${JOURNAL_FORMS.swap}/ { f = "S" }
    f == "" { next }
    { t = $0; i = $0; sub(/.*"tenant":"/, "", t); sub(/".*/, "", t); sub(/.*"release_id":"/, "", i); sub(/".*/, "", i)
      n++; line[n] = $0; kind[n] = f; tn[n] = t; id[n] = i; nr[n] = NR; if (f == "S") { pend[t " " i] = n; last[t] = n } }
    END { for (k = 1; k <= n; k++) {
      if (kind[k] == "R" || kind[k] == "P") print kind[k] "\t" tn[k] "\t" (id[k] == "" ? "-" : id[k]) "\t-\t" line[k]
      else if (k in mark) print "M\t" tn[k] "\t" (id[k] == "" ? "-" : id[k]) "\t-\t" line[k]
      else if (last[tn[k]] == k) print "L\t" tn[k] "\t" (id[k] == "" ? "-" : id[k]) "\t" nr[k] "\t" line[k] } }' > "$RT/intent" 2>/dev/null
  while IFS='	' read -r k t id at j; do
    case $k in
      # (not marked: the tenant's last record, when its link points at that release; or, the link gone elsewhere,
      # when a done mark for it came after all: an undo marks before it relinks, so a mark written after the read
      # above is there to see once the link is seen moved)
      # (a record to no release, a first deploy undone: when the tenant has no link any more)
      L) is_safe "$t" || continue; tenant_links "$t"
         if [ "$id" = - ]; then [ "$lk_cur" = n ] || continue
         else is_id "$id" || continue
           [ "$lk_cur_id" = "$id" ] || awk -v m="done $t $id" -v at="$at" 'NR > at && $0 == m { f = 1 } END { exit !f }' "$1" 2>/dev/null || continue
         fi ;;
      M) is_safe "$t" || continue ;;
      R|P) ;;
      *) continue ;;
    esac
    if [ -n "${"$"}{2:-}" ]; then printf '%s\n' "$j" | sed 's/}$/,"recovered_by":"'"$2"'"}/'; else printf '%s\n' "$j"; fi >> "$RT/settle"
    # (a reload record is no swap: recorded, not reported as one)
    [ "$k" = P ] || rec recorded "$t" "$id" "${"$"}{2:-}"
  done < "$RT/intent"
  if [ -s "$RT/settle" ] && ! log_records "$D/reload.log" < "$RT/settle"; then rec record-failed "$why"; return 1; fi
  rm -f "$1"
}
# run_intents CMD: CMD FILE for each of this run's intent files (its intent, and what its dead-man guard kept in files
# of its own when the log could not take its records); only regular files with safe names
run_intents() {
  for _si in "$D/intent.$RUN" "$D/intent.$RUN".*; do [ -f "$_si" ] && [ ! -L "$_si" ] && is_safe "${"$"}{_si##*/}" && "$@" "$_si"; done
  return 0
}
# settle_run_intents: each of this run's intent files settled
settle_run_intents() { run_intents settle_intent; }
# what dead runs left (we hold the lock, so no other run is alive): record their swaps, remove their temp links,
# staging dirs, wanted-file lists and lock scratch files. Only clawops' own names and kinds are touched.
recover_dead_runs() {
  for f in "$D"/intent.*; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    n=${"$"}{f##*/}; is_safe "$n" || continue
    settle_intent "$f" "$RUN" || return 1
    rec cleaned "$n"
  done
  for f in "$D"/.intent.*.tmp "$D"/want.* "$D"/node.lock.new.* "$D"/node.lock.stale.* "$D"/node.lock.release.*; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    n=${"$"}{f##*/}; is_safe "$n" || continue
    case $n in *".$RUN"*) continue ;; esac
    rm -f "$f" && rec cleaned "$n"
  done
  # a dead run's dead-man guard whose process is gone too (a reboot): its pid no longer runs; or, a file without a
  # pid, well past its deadline (a live guard fires by then, renaming it) or left firing for long. A guard that may
  # be alive is left alone
  for g in "$D"/guard.*; do
    [ -f "$g" ] && [ ! -L "$g" ] || continue
    n=${"$"}{g##*/}; is_safe "$n" || continue
    case $n in *.beat) continue ;; *".$RUN"|*".$RUN".*) continue ;; esac
    guard_alive "$g"; _gr=$?
    [ $_gr = 0 ] && continue
    [ $_gr = 1 ] || case $n in
      *.firing) [ -n "$(find "$g" -mmin +15 2>/dev/null)" ] || continue ;;
      *) first_line "$g" 100; _gd=${"$"}{fl#deadline	}
         case $_gd in ''|*[!0-9]*) continue ;; esac
         [ "$NOW" -gt $((_gd + 60)) ] || continue ;;
    esac
    rm -f "$g" "${"$"}{g%.firing}.beat" && rec cleaned "$n"
  done
  if real_dir "$ETC/tenants"; then
    for e in "$ETC/tenants"/.clawops-*; do
      n=${"$"}{e##*/}
      [ -L "$e" ] && is_safe "$n" && rm -f "$e" && rec cleaned "tenants/$n"
    done
  fi
  if real_dir "$ETC/releases"; then
    for rd in "$ETC/releases"/*; do
      t=${"$"}{rd##*/}
      is_safe "$t" && real_dir "$rd" || continue
      for s in "$rd"/*.tmp-*; do
        n=${"$"}{s##*/}
        # only clawops' own staging dirs: <release id>.tmp-<run>
        is_safe "$n" && is_id "${"$"}{n%%.tmp-*}" && real_dir "$s" && ! mount_inside "$s" && rm -rf "$s" && rec cleaned "releases/$t/$n"
      done
    done
  fi
  return 0
}
`;

/**
 * BEGIN: sh -c BEGIN x ETC VARDB RUN OWNER PID TTL DAEMON_SHA [PORT_OFFSET] ; stdin: `F<TAB>tenant<TAB>id<TAB>path<TAB>sha256` for
 * every file of every release this pass wants on the node.
 * Takes the node lock by link(2) of a complete file (atomic, fails if held), then records what dead runs left
 * (their swaps into the reload log; their temp links, staging dirs and lists removed). Only when the daemon hash
 * matches DAEMON_SHA (the lock) does it look at releases: which are complete already, and pre-fills the staging
 * dir of each missing release with the files the current release already has byte-identical (so apply sends only
 * what changed). Prints:
 *   now EPOCH | disk FREE_KB TOTAL_KB
 *   lock acquired | lock held BASE64(holder)
 * and, only when acquired:
 *   recorded TENANT ID RUN | cleaned NAME | record-failed MESSAGE (nothing else was done)
 *   daemon PATH SHA256 / version RC LINE   (what `openclaw` is; the version line cached by binary hash like observe)
 *   refused TENANT WHY                     that tenant's tree is not clawops' own: it is not touched
 *   have TENANT ID | need TENANT ID | corrupt TENANT ID      is that release already complete on the node?
 *   reuse TENANT PATH | reuse-failed TENANT PATH ERROR       copied (or not) into releases/<t>/<id>.tmp-RUN
 *   gate-mismatch                                            daemon hash differs: nothing else was done
 */
export const BEGIN_SCRIPT = `${PRELUDE}${LOCK_SH}${JOURNAL_SH}${STAGING_SH}
ETC=$1; VARDB=$2; RUN=$3; OWNER=$4; PID=$5; TTL=$6; WANT_SHA=$7; PORT_OFFSET=${"$"}{8:-}
NOW=$(date +%s)
rec now "$NOW"
D="$VARDB/clawops"; L="$D/node.lock"
# clawops' own dir, never through a link: what it writes, reads and removes there would be somewhere else
own_dir "$D" || exit 3
T="$L.new.$RUN"
lock_json "$OWNER" "$PID" "$TTL" "$NOW" > "$T" || { rm -f "$T"; echo "cannot write $T (disk full?)" >&2; exit 3; }
if ln "$T" "$L" 2>/dev/null; then rm -f "$T"; rec lock acquired
elif lock_is_ours "$L"; then rm -f "$T"; rec lock acquired
else
  rm -f "$T"
  # (a lock that is not a regular file, a FIFO, a link, is not read: it would block, or show what is behind it)
  rec lock held "$(lock_b64)"
  exit 0
fi
recover_dead_runs || exit 0
${OPENCLAW_FACTS_SH}${String.raw`
# (df's second line read by the shell: no awk)
df -Pk "$ETC" 2>/dev/null | { read -r _h; read -r _fs _tot _used _avail _rest && rec disk "$_avail" "$_tot"; }
oc_facts "$D"
if [ "$dsha" != "$WANT_SHA" ]; then rec gate-mismatch; exit 0; fi
# the node's gateway port block (nodes.yaml port_offset; read by the secret wrapper at start)
# (its own name in its own dir: a link or FIFO there is removed, never written through or read)
PO="$D/port-offset"
if [ -L "$PO" ] || { [ -e "$PO" ] && [ ! -f "$PO" ] && [ ! -d "$PO" ]; }; then rm -f "$PO"; fi
case $PORT_OFFSET in
  ''|0) [ -d "$PO" ] || rm -f "$PO" ;;
  *[!0-9]*) ;;
  *) fl=''; [ -f "$PO" ] && first_line "$PO" 32; [ "$fl" = "$PORT_OFFSET" ] || printf '%s\n' "$PORT_OFFSET" > "$PO" ;;
esac
# the wanted files stay on the node for PROMOTE (this run's only; older ones were removed above)
W="$D/want.$RUN"
cat > "$W" || { rm -f "$W"; echo "cannot write $W (disk full?)" >&2; exit 3; }
awk -F '\t' '$1 == "F" && !(($2 "\t" $3) in seen) { seen[$2 "\t" $3] = 1; print $2 "\t" $3 }' "$W" > "$RT/releases"
: > "$RT/ok"
while IFS='	' read -r t id; do
  is_safe "$t" && is_id "$id" || { rec refused "$t" "not a tenant and release id"; continue; }
  tenant_links "$t"; tenant_refusal_t "$t" "$lk_cur" "$lk_prev"
  if [ -n "$why" ]; then rec refused "$t" "$why"; continue; fi
  # (the current release's id kept for the pre-fill below: the links are not read twice)
  printf '%s\t%s\t%s\n' "$t" "$id" "$lk_cur_id" >> "$RT/ok"
  R="$ETC/releases/$t/$id"
  if [ ! -e "$R" ]; then rec need "$t" "$id"; continue; fi
  awk -F '\t' -v t="$t" -v id="$id" '$1 == "F" && $2 == t && $3 == id { print $5 "  " $4 }' "$W" > "$RT/sums"
  ok=0
  if release_ok "$t" "$id" && (cd "$R" && $SHA -c "$RT/sums" >/dev/null 2>&1); then
    # openclaw.json.last-good: written beside its config by the running gateway after a reload, not a stray
    n_want=$(wc -l < "$RT/sums"); n_have=$(find "$R" -name .clawops -prune -o ! -type d ! -name openclaw.json.last-good -print | wc -l)
    [ "$n_want" -eq "$n_have" ] && ok=1
  fi
  if [ $ok = 1 ]; then rec have "$t" "$id"; else rec corrupt "$t" "$id"; fi
done < "$RT/releases"
# pre-fill staging dirs from the current release: only changed files cross the wire. A copy that fails (a full
# disk) is reported and the file is sent instead.
while IFS='	' read -r t id c; do
  [ -e "$ETC/releases/$t/$id" ] && continue
  [ -n "$c" ] || continue
  C="$ETC/releases/$t/$c"; real_dir "$C" || continue
  # one hash run over every wanted file of the current release (not one per file: a node's apply is mostly forks);
  # only regular files (never a link) whose bytes are the wanted ones are copied
  # (only regular files reached without a final link are hashed: a FIFO would block it, a link to /dev/zero never end)
  awk -F '\t' -v t="$t" -v id="$id" '$1 == "F" && $2 == t && $3 == id { print $5 "  " $4 }' "$W" > "$RT/cand0"
  : > "$RT/cand"
  # (nor one under a linked directory of the current release: each directory on its path is looked at, by the shell;
  # nor one with another name, which tar would carry over as a hard link: it is sent)
  find "$C" -type f -links +1 > "$RT/multi" 2>/dev/null
  while IFS= read -r _cl; do
    _cf=${"$"}{_cl#*  }; [ -f "$C/$_cf" ] && [ ! -L "$C/$_cf" ] || continue
    [ -s "$RT/multi" ] && grep -qxF -- "$C/$_cf" "$RT/multi" && continue
    _d=$_cf; _ok=1
    while case $_d in */*) true ;; *) false ;; esac; do _d=${"$"}{_d%/*}; [ -L "$C/$_d" ] && { _ok=0; break; }; done
    [ $_ok = 1 ] && printf '%s\n' "$_cl" >> "$RT/cand"
  done < "$RT/cand0"
  (cd "$C" && $SHA -c "$RT/cand" 2>/dev/null) | awk '/: OK$/ { sub(/: OK$/, ""); print }' > "$RT/same"
  set --
  while IFS= read -r f; do [ -f "$C/$f" ] && [ ! -L "$C/$f" ] && set -- "$@" "./$f"; done < "$RT/same"
  [ $# -gt 0 ] || continue
  # every file in one tar pair, the archive in the scratch dir so that both ends' exit codes count (a cp a directory
  # and a mkdir were 7 processes for a release of 27 files in 6 directories). When that fails (a full disk): a file at
  # a time, each reported copied (reuse) or not (reuse-failed: it is sent)
  # (written inside the staging dir the shell stands in, made here: never through a link planted at its name; a name
  # already taken is left alone and every file sent, which STAGE then refuses)
  if (cd "$C" && tar -cf "$RT/reuse.tar" "$@") 2>/dev/null && (enter_staging "$t" "$id.tmp-$RUN" && tar -xmof "$RT/reuse.tar") 2>/dev/null; then
    for f in "$@"; do rec reuse "$t" "${"$"}{f#./}"; done
  else
    (
    enter_staging "$t" "$id.tmp-$RUN" || exit 0
    for f in "$@"; do
      f=${"$"}{f#./}
      case $f in */*) mkdir -p "./${"$"}{f%/*}" 2>/dev/null ;; esac
      if cp "$C/$f" "./$f" 2> "$RT/err"; then rec reuse "$t" "$f"
      else rm -f "./$f"; rec reuse-failed "$t" "$f" "$(shown "$(head -c 200 "$RT/err" | tr '\n' ' ')")"; fi
    done
    )
  fi
  # (the archive stays in the scratch dir until the script ends: the next tenant's tar -cf writes it anew)
done < "$RT/ok"
`}`;

/**
 * STAGE: sh -c STAGE x ETC RUN TENANT ID PREFILLED ; stdin: a tar of the release's files that the node does not have
 * (the rest were copied by BEGIN). Extracted inside releases/TENANT/ID.tmp-RUN, entered by enter_staging: made here
 * (PREFILLED 0: anything already at the name is refused) or by BEGIN's pre-fill (1). Nothing is ever written through
 * a link planted at that name or under it (the archive's directory entries replace one), unlike a write by path.
 * Exits 3 naming the path when the staging dir is not this run's own, 4 when tar fails (a full disk).
 */
export const STAGE_SCRIPT = `${PRELUDE_NO_RT}${STAGING_SH}${String.raw`
ETC=$1; RUN=$2; t=$3; id=$4; PREFILLED=${"$"}{5:-0}
is_safe "$t" && is_id "$id" && is_safe "$RUN" || { echo "not a tenant and release id: $(shown "$t") $(shown "$id")" >&2; exit 3; }
own_dir "$ETC/releases" && own_dir "$ETC/releases/$t" || exit 3
S="$ETC/releases/$t/$id.tmp-$RUN"
if [ "$PREFILLED" != 1 ] && { [ -e "$S" ] || [ -L "$S" ]; }; then echo "$S is not a staging directory this run made (something is already there); nothing staged" >&2; exit 3; fi
enter_staging "$t" "$id.tmp-$RUN" || { echo "$S is not a staging directory this run made (a symlink, a file, or in the way); nothing staged" >&2; exit 3; }
# (tar's first complaint only: a full disk repeats it for every file; no scratch file: its words kept by the shell)
if ! _e=$(tar -xmof - 2>&1 >/dev/null); then
  _e=${"$"}{_e%%"$NL"*}; echo "tar into $S: $(shown "$_e" | head -c 200)" >&2; exit 4
fi
`}`;

/**
 * PROMOTE: sh -c PROMOTE x ETC RUN VARDB ; stdin lines (nothing is done unless the node lock is still this run's;
 * the F lines come from the list BEGIN kept in VARDB/clawops/want.RUN, so they cross the wire once):
 *   S<TAB>tenant<TAB>id                     staged into releases/<t>/<id>.tmp-RUN: verify, then move into place
 *   F<TAB>tenant<TAB>id<TAB>path<TAB>sha    the expected files (for S and V lines)
 *   V<TAB>tenant<TAB>id                     validate releases/<t>/<id>/openclaw.json with the real openclaw
 *   C<TAB>tenant<TAB>id                     another node of this run validated that release: only this node's own
 *                                           checks (the wrapper's `--check`: its secret files present, regular,
 *                                           non-empty, 0600/0400); nothing to check for a release without a wrapper
 * A staged release whose target dir exists (a hand-edited copy) is repaired in place: each file renamed over its
 * damaged twin, strays removed (names outside the safe set by find itself, never parsed); the directory (and any
 * link to it) never disappears.
 * Prints: refused TENANT WHY | bad TENANT PATH (staged bytes differ; staging removed) | placed TENANT ID |
 *         repair-failed TENANT ERROR | repaired TENANT ID | valid TENANT ID RC BASE64(output) |
 *         checked TENANT ID RC BASE64(output) (a C line) |
 *         link TENANT current|prev ID COMPLETE(0|1; prev: '-' when current is complete, not checked) |
 *         curcfg TENANT BASE64(current openclaw.json) |
 *         curunit TENANT SHA(gateway plist) SHA(secrets.list) SHA(bin/gateway-run)   ('-' when absent)
 */
export const PROMOTE_SCRIPT = `${PRELUDE}${LOCK_SH}
ETC=$1; RUN=$2; VARDB=$3
W=$RT
cat > "$W/in"
lock_is_ours "$VARDB/clawops/node.lock" || { rec lock-lost; exit 0; }
# the F lines BEGIN kept: nothing is placed unverified, so their absence is an error
cat "$VARDB/clawops/want.$RUN" >> "$W/in" 2>/dev/null || { echo "the wanted-file list of run $RUN is missing on the node" >&2; exit 3; }
${String.raw`
fail=0
awk -F '\t' '$1 == "S" { print $2 "\t" $3 }' "$W/in" > "$W/staged"
while IFS='	' read -r t id; do
  tenant_links "$t"; tenant_refusal_t "$t" "$lk_cur" "$lk_prev"
  if [ -n "$why" ] || ! is_id "$id"; then rec refused "$t" "${"$"}{why:-not a release id}"; fail=1; continue; fi
  R="$ETC/releases/$t/$id"; S="$R.tmp-$RUN"
  awk -F '\t' -v t="$t" -v id="$id" '$1 == "F" && $2 == t && $3 == id { print $5 "  " $4 }' "$W/in" > "$W/sums"
  # the staging dir holds exactly the release: regular files with one name each and dirs, nothing else (a FIFO would
  # block the hash, a link be read and promoted with what it points at), and no file the release does not have
  # (planted after BEGIN's pre-fill): checked before anything is hashed
  if ! real_dir "$S"; then bad="(staging dir missing)"
  else
    bad=$(find "$S" ! -type d \( \( ! -type f -o -links +1 \) -exec printf '(not a regular file) %s\n' {} \; -o -print \) 2>/dev/null | awk -v S="$S/" -v SUMS="$W/sums" '
      BEGIN { while ((getline l < SUMS) > 0) n++ }
      /^\(not a regular file\) / { sub(/^\(not a regular file\) /, ""); print substr($0, length(S) + 1) " (not a regular file)"; odd = 1; next }
      substr($0, length(S) + 1) != ".clawops/manifest.json" { c++ }
      END { if (!odd && c != n) print "(" c " files where the release has " n ")" }')
    [ -n "$bad" ] || bad=$(cd "$S" 2>/dev/null && $SHA -c "$W/sums" 2>/dev/null | awk -F ': ' '$NF != "OK" { print $1 }')
  fi
  if [ -n "$bad" ]; then printf '%s\n' "$bad" | while IFS= read -r f; do rec bad "$t" "$f"; done; real_dir "$S" && rm -rf "$S"; fail=1; continue; fi
  if [ ! -e "$R" ] && [ ! -L "$R" ]; then
    if mv "$S" "$R" 2> "$W/err"; then rec placed "$t" "$id"; else rec repair-failed "$t" "$(shown "$(head -c 300 "$W/err" | tr '\n' ' ')")"; rm -rf "$S"; fail=1; fi
    continue
  fi
  : > "$W/err"
  # staged names are the desired release's (safe); a link or file where a directory belongs is replaced
  (cd "$S" && find . -type d) | while IFS= read -r d; do
    if [ -L "$R/$d" ] || { [ -e "$R/$d" ] && [ ! -d "$R/$d" ]; }; then rm -f "$R/$d" 2>> "$W/err"; fi
    mkdir -p "$R/$d" 2>> "$W/err"
  done
  (cd "$S" && find . ! -type d) | while IFS= read -r f; do
    if [ -L "$R/$f" ] || [ -d "$R/$f" ]; then rm -rf "$R/$f" 2>> "$W/err"; fi
    mv -f "$S/$f" "$R/$f" 2>> "$W/err"
  done
  # strays: names outside the safe set go by find itself (NUL-safe), safe ones are compared with the wanted list
  # (-xdev: a volume mounted inside the release is not looked into, so nothing of it is taken for a stray)
  find "$R" -xdev \( -name '*[!A-Za-z0-9._-]*' -prune -exec rm -rf {} + \) 2>> "$W/err"
  (cd "$R" && find . -xdev -name .clawops -prune -o ! -type d -print) | awk -F '\t' -v t="$t" -v id="$id" -v IN="$W/in" '
    BEGIN { while ((getline l < IN) > 0) { split(l, a, "\t"); if (a[1] == "F" && a[2] == t && a[3] == id) want["./" a[4]] = 1 } }
    !($0 in want) && $0 != "./openclaw.json.last-good" { print }' | while IFS= read -r f; do mount_inside "$R/$f" "$R" || rm -rf "$R/$f" 2>> "$W/err"; done
  rm -rf "$S"
  if [ -s "$W/err" ]; then rec repair-failed "$t" "$(shown "$(head -c 300 "$W/err" | tr '\n' ' ')")"; fail=1; continue; fi
  # a repair that could not put every byte back (a dir where a file belongs, a full disk) is not a release
  bad=$(cd "$R" 2>/dev/null && $SHA -c "$W/sums" 2>/dev/null | awk -F ': ' '$NF != "OK" { print $1 }')
  if [ -n "$bad" ]; then printf '%s\n' "$bad" | while IFS= read -r f; do rec bad "$t" "$f"; done; fail=1; continue; fi
  rec repaired "$t" "$id"
done < "$W/staged"
[ $fail = 0 ] || exit 0
awk -F '\t' '$1 == "V" || $1 == "C" { print $1 "\t" $2 "\t" $3 }' "$W/in" > "$W/validate"
# validations run in parallel, at most one per CPU (each is a Node process costing ~1 CPU-second); the CPUs are
# counted at the first one (a node that only checks its secrets runs no getconf)
J=
i=0; n=0
while IFS='	' read -r k t id; do
  i=$((i+1))
  touch "$ETC/releases/$t/$id" 2>/dev/null
  # a tenant's secrets dir that is a link (to another tenant's secrets, anywhere): refused in the wrapper's own words
  # (exit 78, one line) before the wrapper, which checks each secret file but not the dir, reads anything through it
  _sd=''; for _d in "$VARDB/secrets" "$VARDB/secrets/$t"; do [ -z "$_sd" ] && [ -L "$_d" ] && _sd=$_d; done
  if [ -n "$_sd" ]; then
    printf 'clawops-gateway-run: %s: secret dir %s is a symlink, not the tenant'"'"'s own; not starting\n' "$t" "$_sd" > "$W/v$i.out"; echo 78 > "$W/v$i.rc"
    continue
  fi
  # through the release's own secret wrapper when it has one: the same environment the gateway will get, and the
  # same refusal (exit 78, one line) for a missing, empty or wrongly-moded secret file
  if [ "$k" = C ]; then
    # validated by another node of this run: this node's own secret files only (a few ms, sequential)
    if [ -f "$ETC/releases/$t/$id/bin/gateway-run" ]; then
      sh "$ETC/releases/$t/$id/bin/gateway-run" "$t" "$ETC" "$VARDB" --check > "$W/v$i.out" 2>&1; echo $? > "$W/v$i.rc"
    else : > "$W/v$i.out"; echo 0 > "$W/v$i.rc"; fi
    continue
  fi
  n=$((n+1))
  if [ -z "$J" ]; then
    J=$(getconf _NPROCESSORS_ONLN 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)
    case $J in ''|*[!0-9]*|0) J=2 ;; esac
  fi
  # OPENCLAW_NO_RESPAWN: the CLI otherwise starts Node twice, the second time only to hide Node's experimental
  # warnings (~0.2 CPU-s of ~1.2, on the run's critical path); its output is the same, byte for byte
  if [ -f "$ETC/releases/$t/$id/bin/gateway-run" ]; then
    ( OPENCLAW_NO_RESPAWN=1 sh "$ETC/releases/$t/$id/bin/gateway-run" "$t" "$ETC" "$VARDB" --validate > "$W/v$i.out" 2>&1; echo $? > "$W/v$i.rc" ) &
  else
    ( OPENCLAW_NO_RESPAWN=1 OPENCLAW_CONFIG_PATH="$ETC/releases/$t/$id/openclaw.json" openclaw --profile "$t" config validate --json > "$W/v$i.out" 2>&1; echo $? > "$W/v$i.rc" ) &
  fi
  [ $((n % J)) -eq 0 ] && wait
done < "$W/validate"
wait
i=0
while IFS='	' read -r k t id; do
  i=$((i+1))
  rc=''; read -r rc < "$W/v$i.rc" 2>/dev/null
  # (an empty output, a secret check's usual answer, costs no process)
  o=''; [ -s "$W/v$i.out" ] && o=$(head -c 65536 "$W/v$i.out" | b64)
  if [ "$k" = C ]; then rec checked "$t" "$id" "$rc" "$o"; else rec valid "$t" "$id" "$rc" "$o"; fi
  # both links in one readlink; whether .prev is complete matters only when current is not (planSwap then keeps
  # .prev and says whether it is complete): '-' = not checked
  tenant_links "$t"
  cur_ok=0
  if [ -n "$lk_cur_id" ]; then release_ok "$t" "$lk_cur_id" && cur_ok=1; rec link "$t" current "$lk_cur_id" $cur_ok; fi
  if [ -n "$lk_prev_id" ]; then
    if [ $cur_ok = 1 ]; then rec link "$t" prev "$lk_prev_id" -
    elif release_ok "$t" "$lk_prev_id"; then rec link "$t" prev "$lk_prev_id" 1
    else rec link "$t" prev "$lk_prev_id" 0; fi
  fi
  # what the service runs now, to tell a hot reload from a restart: the current config and its unit's inputs
  c=$lk_cur_id
  if [ -n "$c" ] && real_dir "$ETC/releases/$t/$c"; then
    C="$ETC/releases/$t/$c"
    [ -f "$C/openclaw.json" ] && [ ! -L "$C/openclaw.json" ] && rec curcfg "$t" "$(head -c 262144 "$C/openclaw.json" | b64)"
    # the unit's inputs hashed in one run of the hash tool (regular files only, never through a link); each hash the
    # first word of its line, matched to its file by the rest of the line
    set --
    for f in "launchd/ai.openclaw.$t.plist" secrets.list bin/gateway-run; do [ -f "$C/$f" ] && [ ! -L "$C/$f" ] && set -- "$@" "$C/$f"; done
    sums=''; [ $# -gt 0 ] && sums=$($SHA "$@" 2>/dev/null)
    u=''; for f in "launchd/ai.openclaw.$t.plist" secrets.list bin/gateway-run; do
      h=''
      while IFS= read -r _ul; do
        case $_ul in *"  $C/$f"|*" *$C/$f") h=${"$"}{_ul%% *}; break ;; esac
      done <<UNIT_SUMS
$sums
UNIT_SUMS
      h=${"$"}{h#\\}
      case $h in *[!0-9a-f]*) h='' ;; esac
      u="$u ${"$"}{h:--}"
    done
    rec curunit "$t" $u
  fi
done < "$W/validate"
`}`;

/**
 * FINISH: sh -c FINISH x ETC VARDB RUN KEEP ; stdin: `P<TAB>tenant` (prune these tenants' old releases),
 * `X<TAB>tenant` (remove these unassigned tenants, with --prune), `Q<TAB>tenant<TAB>id` (releases live and past their
 * gate: their quarantine record, if any, removed) and `J<TAB>json` (more reload-log records).
 * Records this run's swaps (settle_intent), removes X tenants, prunes releases beyond the newest KEEP that are
 * neither current nor .prev (real hex-named release dirs only), and releases the node lock if it is still ours.
 * Prints: recorded TENANT ID | record-failed MESSAGE | kept INTENT-FILE | records-lost N | pruned TENANT ID |
 * removed TENANT | remove-failed TENANT MESSAGE | unlocked | lock-lost
 */
export const FINISH_SCRIPT = `${PRELUDE}${LOCK_SH}${JOURNAL_SH}
ETC=$1; VARDB=$2; RUN=$3; KEEP=$4
D="$VARDB/clawops"
cat > "$RT/in"
${String.raw`
settle_run_intents
# further records (reloads, swaps an undo could not journal): a log that cannot be written is a failure like any
# other, and they wait in an intent file of their own (intent.RUN.f, created afresh), each swap marked done (it
# happened), for the next run; what cannot even be kept there is said to be lost
sed -n 's/^J	//p' "$RT/in" > "$RT/j"
if [ -s "$RT/j" ] && ! log_records "$D/reload.log" < "$RT/j"; then
  rec record-failed "$why"
  awk '{ print } /^\{"time":"[^"]*","action":"(apply|rollback)",/ { t = $0; i = $0; sub(/.*"tenant":"/, "", t); sub(/".*/, "", t); sub(/.*"release_id":"/, "", i); sub(/".*/, "", i); print "done " t " " i }' "$RT/j" > "$RT/jf"
  # (into the run's intent when it is still there and takes them, the usual case: one file for the next run)
  if ! { [ -f "$D/intent.$RUN" ] && log_records "$D/intent.$RUN" < "$RT/jf"; }; then
    rm -f "$D/intent.$RUN.f"
    if ! ( set -C; cat "$RT/jf" > "$D/intent.$RUN.f" ) 2>/dev/null; then
      rm -f "$D/intent.$RUN.f"; rec records-lost "$(wc -l < "$RT/j" | tr -d ' ')"
    fi
  fi
fi
# the intent files of this run still on the node (what a failure to record left for the next run)
kept_rec() { rec kept "${"$"}{1##*/}"; }
run_intents kept_rec
# (the X and P lines read by the shell itself: no awk)
while IFS='	' read -r k t _rest; do
  [ "$k" = X ] || continue
  is_safe "$t" || continue
  tenant_links "$t"; tenant_refusal_t "$t" "$lk_cur" "$lk_prev"; [ -n "$why" ] && { rec remove-failed "$t" "$why"; continue; }
  if real_dir "$ETC/releases/$t" && mount_inside "$ETC/releases/$t"; then rec remove-failed "$t" "$(shown "$_mt_m") is a volume mounted inside $ETC/releases/$t"; continue; fi
  # (its gateway's run record too: the service is gone). PRUNE checked the tree could go whole; what still cannot is named
  if rm -f "$ETC/tenants/$t.prev" "$ETC/tenants/$t" && { ! real_dir "$ETC/releases/$t" || rm -rf "$ETC/releases/$t" 2> "$RT/rmerr"; } && { ! real_dir "$D/run" || rm -f "$D/run/$t.json"; }; then rec removed "$t"
  else rec remove-failed "$t" "$ETC/releases/$t not removed whole: $(shown "$(head -c 200 "$RT/rmerr" 2>/dev/null | tr '\n' ' ')")"; fi
done < "$RT/in"
# (Q: a release live and past its gate is no longer quarantined; only clawops' own real dirs and files)
while IFS='	' read -r k t id _rest; do
  [ "$k" = Q ] && is_safe "$t" && is_id "$id" || continue
  q="$D/quarantine/$t/$id"
  real_dir "$D/quarantine" && real_dir "$D/quarantine/$t" && [ -f "$q" ] && [ ! -L "$q" ] && rm -f "$q" && rec unquarantined "$t" "$id"
done < "$RT/in"
while IFS='	' read -r k t _rest; do
  [ "$k" = P ] || continue
  is_safe "$t" && real_dir "$ETC/releases/$t" || continue
  tenant_links "$t"; tenant_refusal_t "$t" "$lk_cur" "$lk_prev"; [ -z "$why" ] || continue
  cur=$lk_cur_id; prev=$lk_prev_id
  # find lists only real directories with hex names, so its output is line-safe; ls orders them newest first
  find "$ETC/releases/$t" -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' ! -name '*[!0-9a-f]*' -exec ls -1td {} + 2>/dev/null > "$RT/rel"
  n=0
  while IFS= read -r p; do
    id=${"$"}{p##*/}
    n=$((n+1))
    [ $n -le "$KEEP" ] && continue
    [ "$id" = "$cur" ] || [ "$id" = "$prev" ] && continue
    real_dir "$p" && ! mount_inside "$p" && rm -rf "$p" && rec pruned "$t" "$id"
  done < "$RT/rel"
done < "$RT/in"
L="$D/node.lock"
rm -f "$D/want.$RUN"
if lock_release; then rec unlocked; else rec lock-lost; fi
`}`;

/**
 * UNLOCK: sh -c UNLOCK x ETC VARDB RUN
 * After a failure: records the swaps of this run that did happen (its intent file), removes its staging dirs and
 * temp links, releases the lock if it is ours. Prints recorded/record-failed lines like FINISH, then unlocked.
 */
export const UNLOCK_SCRIPT = `${PRELUDE}${LOCK_SH}${JOURNAL_SH}${String.raw`
ETC=$1; D="$2/clawops"; RUN=$3; L="$D/node.lock"
settle_run_intents
rm -f "$D/.intent.$RUN.tmp"
if real_dir "$ETC/releases"; then
  # (releases/<t> itself a real dir too: through a link it would be someone else's dir emptied)
  for s in "$ETC"/releases/*/*.tmp-"$RUN"; do real_dir "${"$"}{s%/*}" && real_dir "$s" && ! mount_inside "$s" && rm -rf "$s"; done
fi
for e in "$ETC"/tenants/.clawops-"$RUN"-*; do [ -L "$e" ] && rm -f "$e"; done
rm -f "$D/want.$RUN"
lock_release && echo unlocked
`}`;

/**
 * TAKEOVER: sh -c TAKEOVER x VARDB RUN OWNER PID TTL ; stdin: the stale lock's exact bytes.
 * Replaces the lock only if it still holds those bytes (another taker loses the race and sees it held).
 */
export const TAKEOVER_SCRIPT = `${PRELUDE}${LOCK_SH}
D="$1/clawops"; L="$D/node.lock"; RUN=$2; OWNER=$3; PID=$4; TTL=$5
own_dir "$D" || exit 3
NOW=$(date +%s)
E=$(mktemp "$D/stale.XXXXXX"); cat > "$E"
lock_json "$OWNER" "$PID" "$TTL" "$NOW" > "$L.new.$RUN"
# rename is the arbiter: of several takers only one moves the stale file away; it then checks it moved the lock it
# judged stale (not one refreshed meanwhile) and links its own in place (link fails if anyone else got there first)
if mv "$L" "$L.stale.$RUN" 2>/dev/null; then
  if cmp -s "$E" "$L.stale.$RUN" && ln "$L.new.$RUN" "$L" 2>/dev/null; then rm -f "$L.stale.$RUN"; rec lock taken
  else ln "$L.stale.$RUN" "$L" 2>/dev/null; rm -f "$L.stale.$RUN"; rec lock held "$(lock_b64)"; fi
else
  rec lock held "$(lock_b64)"
fi
rm -f "$E" "$L.new.$RUN"
`;

/**
 * LINKS: sh -c LINKS x ETC TENANT — for rollback: why the tenant is not clawops' to touch (if so), and the release
 * ids of current and .prev with whether each is a complete release.
 * Prints: refused WHY | link current|prev ID COMPLETE(0|1)
 */
export const LINKS_SCRIPT = `${PRELUDE}${String.raw`
ETC=$1; t=$2
why=$(tenant_refusal "$t")
if [ -n "$why" ]; then rec refused "$why"; exit 0; fi
for s in '' .prev; do
  slot=current; [ -n "$s" ] && slot=prev
  if [ -L "$ETC/tenants/$t$s" ]; then
    l=$(link_id "$t" "$s")
    # (a release dir that is a mount point, or holds one, is a volume someone mounted, not a release clawops made:
    # never switched onto)
    if release_ok "$t" "$l" && ! mount_inside "$ETC/releases/$t/$l"; then rec link $slot "$l" 1; else rec link $slot "$l" 0; fi
  fi
done
`}`;
