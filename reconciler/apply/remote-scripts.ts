/**
 * The POSIX sh run on a node during apply and rollback (dash, and bash-as-sh with BSD userland on macOS).
 * Three commands per node and pass: BEGIN (lock + version facts + what is already staged), PROMOTE (verify staged
 * files, rename them into place, validate with the real openclaw), FINISH (reload log, prune, unlock).
 * Every script takes its paths as positional parameters and its data on stdin; nothing is interpolated.
 */

import { OPENCLAW_FACTS_SH } from '../openclaw-sh.js';

/** Helpers every script starts with. */
const PRELUDE = String.raw`
set -u
PATH="$PATH:/usr/local/bin:/opt/homebrew/bin"
export PATH LC_ALL=C
if command -v sha256sum >/dev/null 2>&1; then SHA="sha256sum"; else SHA="shasum -a 256"; fi
b64() { base64 | tr -d '\n'; }
rec() { printf '%s' "$1"; shift; for f in "$@"; do printf '\t%s' "$f"; done; printf '\n'; }
`;

/** The node lock's shell side; needs $L (the lock file) and $RUN. */
const LOCK_SH = String.raw`
lock_json() { printf '{"run":"%s","owner":"%s","pid":%s,"ttl_sec":%s,"acquired_epoch":%s,"host":"%s"}\n' "$RUN" "$1" "$2" "$3" "$4" "$(hostname 2>/dev/null || echo '?')"; }
lock_is_ours() { grep -q "\"run\":\"$RUN\"" "$1" 2>/dev/null; }
# release by rename first: only one process can move the file, so a lock another run just took is never removed
lock_release() {
  mv "$L" "$L.release.$RUN" 2>/dev/null || return 1
  if lock_is_ours "$L.release.$RUN"; then rm -f "$L.release.$RUN"; return 0; fi
  ln "$L.release.$RUN" "$L" 2>/dev/null; rm -f "$L.release.$RUN"; return 1
}
`;

/**
 * BEGIN: sh -c BEGIN x ETC VARDB RUN OWNER PID TTL DAEMON_SHA ; stdin: `F<TAB>tenant<TAB>id<TAB>path<TAB>sha256` for
 * every file of every release this pass wants on the node.
 * Only when the daemon hash matches DAEMON_SHA (the lock) does it touch anything beyond the lock: it then removes
 * stale staging dirs and pre-fills the staging dir of each missing release with the files the current release
 * already has byte-identical (so apply sends only what changed).
 * Takes the node lock by link(2) of a complete file (atomic, fails if held). Prints:
 *   now EPOCH
 *   lock acquired | lock held BASE64(holder)
 * and, only when acquired:
 *   daemon PATH SHA256 / version RC LINE   (what `openclaw` is; the version line cached by binary hash like observe)
 *   have TENANT ID | need TENANT ID | corrupt TENANT ID      is that release already complete on the node?
 *   gc PATH                                                  stale staging dirs removed (a killed earlier apply)
 *   reuse TENANT PATH                                        copied into releases/<t>/<id>.tmp-RUN from the current release
 *   gate-mismatch                                            daemon hash differs: nothing else was done
 */
export const BEGIN_SCRIPT = `${PRELUDE}${LOCK_SH}
ETC=$1; VARDB=$2; RUN=$3; OWNER=$4; PID=$5; TTL=$6; WANT_SHA=$7
NOW=$(date +%s)
rec now "$NOW"
D="$VARDB/clawops"; L="$D/node.lock"
mkdir -p "$D" 2>/dev/null || { echo "cannot create $D" >&2; exit 3; }
T="$L.new.$RUN"
lock_json "$OWNER" "$PID" "$TTL" "$NOW" > "$T" || { echo "cannot write $T" >&2; exit 3; }
if ln "$T" "$L" 2>/dev/null; then rm -f "$T"; rec lock acquired
elif lock_is_ours "$L"; then rm -f "$T"; rec lock acquired
else rm -f "$T"; rec lock held "$(head -c 4096 "$L" 2>/dev/null | b64)"; exit 0; fi
${OPENCLAW_FACTS_SH}${String.raw`
oc_facts "$D"
if [ "$dsha" != "$WANT_SHA" ]; then rec gate-mismatch; exit 0; fi
# the wanted files stay on the node for PROMOTE (this run's only; older ones are stale, we hold the lock)
rm -f "$D"/want.*
W="$D/want.$RUN"; trap 'rm -f "$W.sums"' EXIT
cat > "$W"
awk -F '\t' '$1 == "F" { print $2 "\t" $3 }' "$W" | sort -u | while IFS='	' read -r t id; do
  for s in "$ETC/releases/$t"/*.tmp-*; do [ -e "$s" ] && rm -rf "$s" && rec gc "$s"; done
  R="$ETC/releases/$t/$id"
  if [ ! -d "$R" ]; then rec need "$t" "$id"; continue; fi
  ok=1
  awk -F '\t' -v t="$t" -v id="$id" '$1 == "F" && $2 == t && $3 == id { print $5 "  " $4 }' "$W" > "$W.sums"
  (cd "$R" && $SHA -c "$W.sums" >/dev/null 2>&1) || ok=0
  if [ $ok = 1 ]; then
    n_want=$(wc -l < "$W.sums"); n_have=$(cd "$R" && find . -type f ! -path './.clawops/*' | wc -l)
    [ "$n_want" -eq "$n_have" ] || ok=0
    [ -f "$R/.clawops/manifest.json" ] || ok=0
  fi
  rm -f "$W.sums"
  if [ $ok = 1 ]; then rec have "$t" "$id"; continue; fi
  rec corrupt "$t" "$id"
done
# pre-fill staging dirs from the current release: only changed files cross the wire
awk -F '\t' '$1 == "F" { print $2 "\t" $3 }' "$W" | sort -u | while IFS='	' read -r t id; do
  [ -d "$ETC/releases/$t/$id" ] && [ -f "$ETC/releases/$t/$id/.clawops/manifest.json" ] && continue
  C="$ETC/tenants/$t"; [ -d "$C" ] || continue
  S="$ETC/releases/$t/$id.tmp-$RUN"
  awk -F '\t' -v t="$t" -v id="$id" '$1 == "F" && $2 == t && $3 == id { print $5 "\t" $4 }' "$W" | while IFS='	' read -r sum f; do
    [ -f "$C/$f" ] && [ ! -L "$C/$f" ] || continue
    [ "$($SHA "$C/$f" 2>/dev/null | cut -c1-64)" = "$sum" ] || continue
    mkdir -p "$(dirname "$S/$f")" && cp "$C/$f" "$S/$f" && rec reuse "$t" "$f"
  done
done
`}`;

/**
 * PROMOTE: sh -c PROMOTE x ETC RUN VARDB ; stdin lines (nothing is done unless the node lock is still this run's;
 * the F lines come from the list BEGIN kept in VARDB/clawops/want.RUN, so they cross the wire once):
 *   S<TAB>tenant<TAB>id                     staged into releases/<t>/<id>.tmp-RUN: verify, then move into place
 *   F<TAB>tenant<TAB>id<TAB>path<TAB>sha    the expected files (for S and V lines)
 *   V<TAB>tenant<TAB>id                     validate releases/<t>/<id>/openclaw.json with the real openclaw
 * A staged release whose target dir exists (a hand-edited copy) is repaired in place: each file renamed over its
 * damaged twin, strays removed; the directory (and any link to it) never disappears.
 * Prints: bad TENANT PATH (staged bytes differ; staging removed) | placed TENANT ID | repaired TENANT ID |
 *         valid TENANT ID RC BASE64(output) | link TENANT current|prev TARGET
 */
export const PROMOTE_SCRIPT = `${PRELUDE}${LOCK_SH}
ETC=$1; RUN=$2; VARDB=$3
W=$(mktemp -d 2>/dev/null || mktemp -d -t clawops); trap 'rm -rf "$W"' EXIT
cat > "$W/in"
lock_is_ours "$VARDB/clawops/node.lock" || { rec lock-lost; exit 0; }
# the F lines BEGIN kept: nothing is placed unverified, so their absence is an error
cat "$VARDB/clawops/want.$RUN" >> "$W/in" 2>/dev/null || { echo "the wanted-file list of run $RUN is missing on the node" >&2; exit 3; }
${String.raw`
fail=0
awk -F '\t' '$1 == "S" { print $2 "\t" $3 }' "$W/in" > "$W/staged"
while IFS='	' read -r t id; do
  R="$ETC/releases/$t/$id"; S="$R.tmp-$RUN"
  awk -F '\t' -v t="$t" -v id="$id" '$1 == "F" && $2 == t && $3 == id { print $5 "  " $4 }' "$W/in" > "$W/sums"
  bad=$(cd "$S" 2>/dev/null && $SHA -c "$W/sums" 2>/dev/null | awk -F ': ' '$NF != "OK" { print $1 }')
  if [ ! -d "$S" ]; then bad="(staging dir missing)"; fi
  if [ -n "$bad" ]; then printf '%s\n' "$bad" | while IFS= read -r f; do rec bad "$t" "$f"; done; rm -rf "$S"; fail=1; continue; fi
  if [ ! -d "$R" ]; then
    mv "$S" "$R" && rec placed "$t" "$id" || { rec bad "$t" "(rename failed)"; rm -rf "$S"; fail=1; }
  else
    (cd "$S" && find . -type d) | while IFS= read -r d; do
      { [ -L "$R/$d" ] || { [ -e "$R/$d" ] && [ ! -d "$R/$d" ]; }; } && rm -f "$R/$d"
      mkdir -p "$R/$d"
    done
    (cd "$S" && find . ! -type d) | while IFS= read -r f; do
      [ -L "$R/$f" ] || [ -d "$R/$f" ] && rm -rf "$R/$f"
      mv -f "$S/$f" "$R/$f"
    done
    (cd "$R" && find . ! -type d ! -path './.clawops/*') | while IFS= read -r f; do
      p=$(printf '%s' "$f" | sed 's,^\./,,'); awk -F '\t' -v t="$t" -v id="$id" -v p="$p" 'BEGIN { k = 0 } $1 == "F" && $2 == t && $3 == id && $4 == p { k = 1 } END { exit k ? 0 : 1 }' "$W/in" || rm -rf "$R/$f"
    done
    rm -rf "$S"
    # a repair that could not put every byte back (a dir where a file belongs, a full disk) is not a release
    bad=$(cd "$R" 2>/dev/null && $SHA -c "$W/sums" 2>/dev/null | awk -F ': ' '$NF != "OK" { print $1 }')
    if [ -n "$bad" ]; then printf '%s\n' "$bad" | while IFS= read -r f; do rec bad "$t" "$f"; done; fail=1; continue; fi
    rec repaired "$t" "$id"
  fi
done < "$W/staged"
[ $fail = 0 ] || exit 0
awk -F '\t' '$1 == "V" { print $2 "\t" $3 }' "$W/in" > "$W/validate"
# validations run in parallel, at most one per CPU (each is a Node process costing ~1 CPU-second)
J=$(getconf _NPROCESSORS_ONLN 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)
case $J in ''|*[!0-9]*|0) J=2 ;; esac
i=0
while IFS='	' read -r t id; do
  i=$((i+1))
  touch "$ETC/releases/$t/$id" 2>/dev/null
  ( OPENCLAW_CONFIG_PATH="$ETC/releases/$t/$id/openclaw.json" openclaw --profile "$t" config validate --json > "$W/v$i.out" 2>&1; echo $? > "$W/v$i.rc" ) &
  [ $((i % J)) -eq 0 ] && wait
done < "$W/validate"
wait
i=0
while IFS='	' read -r t id; do
  i=$((i+1))
  rec valid "$t" "$id" "$(cat "$W/v$i.rc")" "$(head -c 65536 "$W/v$i.out" | b64)"
  rec link "$t" current "$(readlink "$ETC/tenants/$t" 2>/dev/null)"
  rec link "$t" prev "$(readlink "$ETC/tenants/$t.prev" 2>/dev/null)"
done < "$W/validate"
`}`;

/**
 * FINISH: sh -c FINISH x ETC VARDB RUN KEEP ; stdin: `P<TAB>tenant` (prune these tenants' old releases), then
 * `J<TAB>json` reload-log records. Appends the records, prunes releases beyond the newest KEEP that are neither
 * current nor .prev, removes the tenant links of `X<TAB>tenant` (unassigned tenants, with --prune), and releases
 * the node lock if it is still ours. Prints: pruned TENANT ID | removed TENANT | unlocked | lock-lost
 */
export const FINISH_SCRIPT = `${PRELUDE}${LOCK_SH}
ETC=$1; VARDB=$2; RUN=$3; KEEP=$4
D="$VARDB/clawops"
W=$(mktemp 2>/dev/null || mktemp -t clawops); trap 'rm -f "$W"' EXIT
cat > "$W"
${String.raw`
sed -n 's/^J	//p' "$W" >> "$D/reload.log"
awk -F '\t' '$1 == "X" { print $2 }' "$W" | while IFS= read -r t; do
  rm -f "$ETC/tenants/$t.prev" "$ETC/tenants/$t" && rm -rf "$ETC/releases/$t" && rec removed "$t"
done
awk -F '\t' '$1 == "P" { print $2 }' "$W" | while IFS= read -r t; do
  [ -d "$ETC/releases/$t" ] || continue
  cur=$(basename "$(readlink "$ETC/tenants/$t" 2>/dev/null)" 2>/dev/null); prev=$(basename "$(readlink "$ETC/tenants/$t.prev" 2>/dev/null)" 2>/dev/null)
  n=0
  ls -1t "$ETC/releases/$t" | while IFS= read -r id; do
    case $id in *.tmp-*) continue ;; esac
    n=$((n+1))
    [ $n -le "$KEEP" ] && continue
    [ "$id" = "$cur" ] || [ "$id" = "$prev" ] && continue
    rm -rf "$ETC/releases/$t/$id" && rec pruned "$t" "$id"
  done
done
L="$D/node.lock"
rm -f "$D/want.$RUN"
if lock_release; then rec unlocked; else rec lock-lost; fi
`}`;

/**
 * UNLOCK: sh -c UNLOCK x ETC VARDB RUN ; stdin: `J<TAB>json` reload-log records of swaps that did happen.
 * After a failure: records those swaps, removes every staging dir of this run, releases the lock if it is ours.
 */
export const UNLOCK_SCRIPT = `${LOCK_SH}${String.raw`
ETC=$1; D="$2/clawops"; RUN=$3; L="$D/node.lock"
sed -n 's/^J	//p' >> "$D/reload.log" 2>/dev/null
for s in "$ETC"/releases/*/*.tmp-"$RUN"; do [ -e "$s" ] && rm -rf "$s"; done
rm -f "$D/want.$RUN"
lock_release && echo unlocked
`}`;

/**
 * TAKEOVER: sh -c TAKEOVER x VARDB RUN OWNER PID TTL ; stdin: the stale lock's exact bytes.
 * Replaces the lock only if it still holds those bytes (another taker loses the race and sees it held).
 */
export const TAKEOVER_SCRIPT = `${PRELUDE}${LOCK_SH}
D="$1/clawops"; L="$D/node.lock"; RUN=$2; OWNER=$3; PID=$4; TTL=$5
NOW=$(date +%s)
E=$(mktemp "$D/stale.XXXXXX"); cat > "$E"
lock_json "$OWNER" "$PID" "$TTL" "$NOW" > "$L.new.$RUN"
# rename is the arbiter: of several takers only one moves the stale file away; it then checks it moved the lock it
# judged stale (not one refreshed meanwhile) and links its own in place (link fails if anyone else got there first)
if mv "$L" "$L.stale.$RUN" 2>/dev/null; then
  if cmp -s "$E" "$L.stale.$RUN" && ln "$L.new.$RUN" "$L" 2>/dev/null; then rm -f "$L.stale.$RUN"; rec lock taken
  else ln "$L.stale.$RUN" "$L" 2>/dev/null; rm -f "$L.stale.$RUN"; rec lock held "$(head -c 4096 "$L" 2>/dev/null | b64)"; fi
else
  rec lock held "$(head -c 4096 "$L" 2>/dev/null | b64)"
fi
rm -f "$E" "$L.new.$RUN"
`;

/** LINKS: sh -c LINKS x ETC TENANT — the current and .prev targets (rollback), and whether .prev resolves. */
export const LINKS_SCRIPT = String.raw`
printf 'current\t%s\n' "$(readlink "$1/tenants/$2" 2>/dev/null)"
printf 'prev\t%s\n' "$(readlink "$1/tenants/$2.prev" 2>/dev/null)"
if [ -d "$1/tenants/$2.prev/" ]; then echo 'prevok	1'; else echo 'prevok	0'; fi
`;
