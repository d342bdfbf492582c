/**
 * The POSIX sh that makes a node's services run what its links point at (issue 9): install the release's launchd
 * units, reload them the way the change needs, wait for a new process, gate on readiness, and the dead-man guard
 * that puts the old release back by itself when nobody confirms. Same rules as remote-scripts.ts: paths and data as
 * positional parameters or stdin, nothing interpolated, only clawops' own names touched.
 */
import { NODE_TREE_SH } from '../node-tree-sh.js';

const PRELUDE_NO_RT = String.raw`
set -u
PATH="$PATH:/usr/local/bin:/opt/homebrew/bin"
export PATH LC_ALL=C
b64() { base64 | tr -d '\n'; }
rec() { printf '%s' "$1"; shift; for f in "$@"; do printf '\t%s' "$f"; done; printf '\n'; }
${NODE_TREE_SH}`;
/** the scratch dir $RT, removed on exit (two processes: only for scripts that use it) */
const SCRATCH = String.raw`
RT=$(mktemp -d 2>/dev/null || mktemp -d -t clawops); trap 'rm -rf "$RT"' EXIT
`;
const PRELUDE = `${PRELUDE_NO_RT}${SCRATCH}`;

/**
 * Shell functions for launchd units. Needs $ETC, $LD (the LaunchDaemons dir), $RT.
 *   svc_pid LABEL        the running pid of system/LABEL ('' when not loaded or not running)
 *   svc_facts LABEL      `state = …; last exit code = …` from launchctl print, for messages
 *   unit_reload T ID     install every unit of releases/T/ID into $LD and reload it:
 *                        not loaded → bootstrap; plist changed → bootout + bootstrap; else kickstart -k.
 *                        Prints `reloaded LABEL METHOD OLDPID NEWPID` or `reload-failed LABEL MESSAGE`.
 *   unit_remove T        bootout and remove tenant T's units (a first deploy rolled back, a tenant pruned)
 */
const UNITS_SH = String.raw`
# the run is alive: its dead-man guard (if any) measures silence from the last beat
# (the heartbeat file is clawops' own name: never written through a link planted there)
beat() { [ -n "${"$"}{BEAT:-}" ] && [ ! -L "$BEAT" ] && date +%s > "$BEAT" 2>/dev/null; return 0; }
# ready_once URL ALLOW_DEGRADED: one readiness question; sets $code, leaves the body in $RT/body; true when ready (the
# composite probe answers 200 for ok and degraded: degraded passes only when allowed). The hot path asks the same
# question from its RPC client (gateway-rpc.ts readyOnce): the two say ready alike
ready_once() {
  code=$(curl -s -m 5 -o "$RT/body" -w '%{http_code}' "$1" 2>/dev/null) || code=${"$"}{code:-000}
  [ "$code" = 200 ] && { [ "$2" = 1 ] || ! grep -q '"status" *: *"degraded"' "$RT/body"; }
}
svc_pid() {
  launchctl print "system/$1" > "$RT/print" 2>/dev/null || return 0
  # the first "<TAB>pid = N" line (the shell's own read: no awk)
  while IFS= read -r _sp; do case $_sp in "	pid = "*) printf '%s\n' "${"$"}{_sp#"	pid = "}"; return 0 ;; esac; done < "$RT/print"
}
svc_runs() {
  launchctl print "system/$1" > "$RT/print" 2>/dev/null || { echo 0; return 0; }
  awk -F ' = ' '/^\truns = / { r = $2 } END { print r + 0 }' "$RT/print"
}
svc_facts() {
  if launchctl print "system/$1" > "$RT/print" 2> "$RT/perr"; then
    awk -F ' = ' '/^\tstate = / { s = $2 } /^\tlast exit code = / { e = $2 } END { printf "state = %s; last exit code = %s", s, e }' "$RT/print"
  else printf '%s' "$(head -c 200 "$RT/perr" "$RT/print" 2>/dev/null | tr '\n\t' '  ')"; fi
}
unit_reload() {
  R="$ETC/releases/$1/$2"
  # launchd opens StandardOutPath/StandardErrorPath before the job runs: their directory must exist, and be a real one
  # (launchd, as root, would write the gateway's logs wherever a link there points)
  for _lg in "$VARDB/logs" "$VARDB/logs/$1"; do
    if not_own_dir "$_lg"; then rec reload-failed "ai.openclaw.$1" "$_lg is not a directory clawops made (a symlink or a file)"; return 1; fi
  done
  mkdir -p "$VARDB/logs/$1" 2>/dev/null
  real_dir "$R/launchd" || { rec reload-failed "ai.openclaw.$1" "release $2 has no launchd units"; return 1; }
  for u in "$R/launchd"/*.plist; do
    [ -f "$u" ] && [ ! -L "$u" ] || continue
    n=${"$"}{u##*/}; label=${"$"}{n%.plist}
    is_safe "$n" || continue
    case $label in "ai.openclaw.$1"|"ai.openclaw.$1".*) ;; *) continue ;; esac
    install_reload "$u" "$label" || return 1
  done
  return 0
}
# install_reload SRC LABEL: install SRC as $LD/LABEL.plist (when it differs) and make launchd run it: bootstrap when not
# loaded, bootout + bootstrap when the plist changed, kickstart -k otherwise; then wait for a new pid
install_reload() {
  u=$1; label=$2
  # (LaunchDaemons a real directory, made when missing; no directory at the plist's name: plist_refusal. A link at
  # the plist's name is replaced, as a file is)
  plist_refusal "$label"
  if [ -n "$why" ]; then rec reload-failed "$label" "$why: nothing is installed"; return 1; fi
  [ -d "$LD" ] || mkdir -p "$LD" 2>/dev/null
  dst="$LD/$label.plist"
  old=$(svc_pid "$label"); runs0=$(svc_runs "$label")
  loaded=0; launchctl print "system/$label" >/dev/null 2>&1 && loaded=1
  changed=1; [ -f "$dst" ] && [ ! -L "$dst" ] && cmp -s "$u" "$dst" && changed=0
  if [ $changed = 1 ]; then
    # (the temp name is clawops' own: whatever is there, a link planted in LaunchDaemons among it, goes first; cp then
    # creates a fresh file, never writing through a link)
    # (mv -T / -h: the name itself replaced, a link there included, never a directory behind it entered)
    if ! { rm -f "$dst.clawops-tmp" && cp "$u" "$dst.clawops-tmp" 2> "$RT/err" && { mv -fT "$dst.clawops-tmp" "$dst" 2> "$RT/err" || mv -fh "$dst.clawops-tmp" "$dst" 2>> "$RT/err"; }; }; then
      rm -f "$dst.clawops-tmp"; rec reload-failed "$label" "cannot install $dst: $(shown "$(head -c 200 "$RT/err" | tr '\n' ' ')")"; return 1
    fi
  fi
  if [ $loaded = 0 ]; then method=bootstrap; launchctl bootstrap system "$dst" > "$RT/lerr" 2>&1
  elif [ $changed = 1 ]; then method=bootstrap; launchctl bootout "system/$label" > "$RT/lerr" 2>&1; launchctl bootstrap system "$dst" > "$RT/lerr" 2>&1
  else method=restart; launchctl kickstart -k "system/$label" > "$RT/lerr" 2>&1; fi
  rc=$?
  if [ $rc != 0 ]; then rec reload-failed "$label" "launchctl $method: $(shown "$(head -c 300 "$RT/lerr" | tr '\n\t' '  ')") (exit $rc)"; return 1; fi
  # a new process: a pid that is not the old one, still there a moment later
  new=''; i=0; exited=0
  while [ $i -lt $((WAIT_SEC * 5)) ]; do
    [ $((i % 5)) -eq 0 ] && beat
    p=$(svc_pid "$label")
    if [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$old" ]; then new=$p; break; fi
    # it ran (more runs than before) and is not running: it exited at start; one more look, then give up
    if [ -z "$p" ] || [ "$p" = 0 ]; then
      if [ "$(svc_runs "$label")" -gt "$runs0" ]; then exited=$((exited + 1)); [ "$exited" -ge 5 ] && break; fi
    fi
    sleep 0.2 2>/dev/null || sleep 1; i=$((i+1))
  done
  if [ -z "$new" ] && [ "$exited" -ge 5 ]; then rec reload-failed "$label" "exited at start: $(svc_facts "$label")"; return 1; fi
  if [ -z "$new" ]; then rec reload-failed "$label" "did not reach running within $WAIT_SEC s: $(svc_facts "$label")"; return 1; fi
  rec reloaded "$label" "$method" "${"$"}{old:-0}" "$new"
}
# plist_refusal LABEL: why $LD/LABEL.plist may not be written or removed, in $why ('' when it may): LaunchDaemons not
# a real directory (launchd runs what is put there as root: nothing goes through a link), or a directory at the
# plist's name (someone's: nothing is moved into it or removed)
plist_refusal() {
  why=''
  if not_own_dir "$LD"; then why="$(shown "$LD") is not a real directory (a symlink or a file)"; return 0; fi
  if [ -d "$LD/$1.plist" ] && [ ! -L "$LD/$1.plist" ]; then why="$(shown "$LD/$1.plist") is a directory, not a unit file"; fi
  return 0
}
# unit_remove_refusal T: why T's units cannot be removed whole, in $why ('' when they can): plist_refusal for either
# label, or LaunchDaemons not writable while a plist is there. Looked at for both labels before either is touched
unit_remove_refusal() {
  for _ul in "ai.openclaw.$1" "ai.openclaw.$1.probe"; do
    plist_refusal "$_ul"; [ -z "$why" ] || return 0
    _ud="$LD/$_ul.plist"
    { [ -e "$_ud" ] || [ -L "$_ud" ]; } && [ ! -w "$LD" ] && { why="cannot remove $(shown "$_ud"): $(shown "$LD") is not writable"; return 0; }
  done
  return 0
}
# unit_remove T: the units a release of T can hold (render-units.ts: ai.openclaw.T and ai.openclaw.T.probe), no other
# (an admin's ai.openclaw.T.backup, the node's ai.openclaw.clawops.*): checked whole first (unit_remove_refusal: else
# nothing is touched), then each booted out by label, whether or not its plist is still there, and its plist removed
# (a link: the link, never what it names). Prints 'removed-unit LABEL', or 'remove-failed LABEL MESSAGE' and fails
unit_remove() {
  unit_remove_refusal "$1"
  if [ -n "$why" ]; then rec remove-failed "ai.openclaw.$1" "$why: its units are left as they are"; return 1; fi
  _ur=0
  for label in "ai.openclaw.$1" "ai.openclaw.$1.probe"; do
    dst="$LD/$label.plist"
    launchctl bootout "system/$label" >/dev/null 2>&1
    [ -e "$dst" ] || [ -L "$dst" ] || continue
    if rm -f "$dst" 2>/dev/null && [ ! -e "$dst" ] && [ ! -L "$dst" ]; then rec removed-unit "$label"
    else rec remove-failed "$label" "cannot remove $(shown "$dst"): launchd would start it again at the next boot"; _ur=1; fi
  done
  return $_ur
}
`;

/**
 * RELOAD: sh -c RELOAD x ETC LD TENANT ID WAIT_SEC VARDB [BEAT] — install and reload the units of releases/TENANT/ID.
 * Prints reloaded/reload-failed lines (see unit_reload); exits 0 either way.
 */
export const RELOAD_SCRIPT = `${PRELUDE}${UNITS_SH}${String.raw`
ETC=$1; LD=$2; t=$3; id=$4; WAIT_SEC=$5; VARDB=$6; BEAT=${"$"}{7:-}
beat
unit_reload "$t" "$id"
exit 0
`}`;

/**
 * HOT: sh -c HOT x ETC TENANT VARDB PORT AUTH_KIND AUTH_FILE DEADLINE_MS BEAT AFTER CLIENT_JS ; stdin: the expected
 * values (JSON) — make a running gateway read its config again without a restart and verify it applied it, in ONE
 * command. OpenClaw's watcher holds the inode it resolved at start (an older release's openclaw.json), so every
 * release's openclaw.json of the tenant is touched (content unchanged; only clawops' own real release dirs). Then the
 * gateway is asked over its own WebSocket RPC (CLIENT_JS under the Node OpenClaw runs on, the wrapper's PATH order;
 * it sends the secret only to the process launchd's pid names, or one it started, which it learns from $RT/gw)
 * until it shows the new values as its applied revision. AFTER (JSON, gateway-rpc.ts' afterApply) has the client,
 * once applied, check the process is still the one before, write the run record (the process runs the new release),
 * ask the health gate's first question and, when told to, mark the dead-man guard passed: each was a program here.
 * Prints `hot-applied PID MS`, `hot-pending PID WHY` or `hot-no-pid`; after `hot-applied`, `ready 0` when the
 * readiness question was answered ready (else the caller runs the gate) and `passed` when the guard was marked.
 */
export const HOT_SCRIPT = `${PRELUDE}${UNITS_SH}${String.raw`
ETC=$1; t=$2; VARDB=$3; PORT=$4; KIND=$5; FILE=$6; DEADLINE=$7; BEAT=$8; AFTER=$9; JS=${"$"}{10}
# the expectations on stdin go to the client, started in the background (where stdin would be /dev/null)
exec 3<&0
# (one touch for all of them: the arguments above are all read)
set --
for f in "$ETC/releases/$t"/*/openclaw.json; do
  d=${"$"}{f%/openclaw.json}; n=${"$"}{d##*/}
  is_id "$n" && real_dir "$d" && [ -f "$f" ] && [ ! -L "$f" ] && set -- "$@" "$f"
done
[ $# -gt 0 ] && touch "$@"
# launchd's pid of the service and the RPC client start together (each is a process start; the gateway's watcher
# debounce runs meanwhile); a service that is not running ends the client unheard. The client beats for the guard.
svc_pid "ai.openclaw.$t" > "$RT/pid" 2>/dev/null &
pp=$!
# the client ends itself by DEADLINE; a \`node\` that does not (a shim waiting on something, a client stuck in a read)
# is killed a few seconds later by a watchdog that also beats for the guard meanwhile: the command always ends in
# time and falls back to a restart, never hangs until the caller's timeout fails the apply
: > "$RT/out"
PATH="/usr/local/bin:/opt/homebrew/bin:$PATH" node -e "$JS" "$PORT" "$KIND" "$FILE" "$DEADLINE" "$BEAT" "$RT/gw" "$AFTER" <&3 > "$RT/out" 2>/dev/null &
np=$!
exec 3<&-
wait $pp 2>/dev/null
pid=''; read -r pid < "$RT/pid" 2>/dev/null
case $pid in ''|0|*[!0-9]*) kill -9 $np 2>/dev/null; rec hot-no-pid; exit 0 ;; esac
# the client sends the secret only to this process or one it started (it waits for this file)
printf '%s\n' "$pid" > "$RT/gw"
lim=$(( DEADLINE / 1000 + 8 ))
( trap - EXIT; i=0; while [ $i -lt $lim ]; do sleep 1; kill -0 $np 2>/dev/null || exit 0; beat; i=$((i+1)); done; kill -9 $np ) </dev/null >/dev/null 2>&1 &
wp=$!
wait $np 2>/dev/null
kill $wp 2>/dev/null
out=''; read -r out < "$RT/out" 2>/dev/null
case $out in
  applied\ *)
    # \`applied MS [ready [passed]]\` (split by the shell's own expansions: no word splitting, no globbing)
    rest=${"$"}{out#applied }
    rec hot-applied "$pid" "${"$"}{rest%% *}"
    case " $rest " in *" ready "*) rec ready 0 ;; esac
    case " $rest " in *" passed "*) rec passed ;; esac ;;
  '') rec hot-pending "$pid" "the RPC client printed nothing (no node on PATH, or it did not end within $lim s)" ;;
  *) rec hot-pending "$pid" "$(shown "${"$"}{out#pending }")" ;;
esac
exit 0
`}`;

/**
 * GATE: sh -c GATE x URL DEADLINE_SEC POLL_MS ALLOW_DEGRADED LABEL [BEAT] — ask the tenant's readiness route on the node
 * itself until it answers 200 (and not "degraded" unless allowed) or the deadline passes; a service that stopped
 * running fails at once. Prints `ready SECONDS` or `not-ready CODE BASE64(body) FACTS`.
 */
export const GATE_SCRIPT = `${PRELUDE}${UNITS_SH}${String.raw`
URL=$1; DEADLINE=$2; POLL_MS=$3; ALLOW=$4; LABEL=$5; BEAT=${"$"}{6:-}
start=$(date +%s); code=000; : > "$RT/body"; runs0=''
while :; do
  beat
  if ready_once "$URL" "$ALLOW"; then rec ready "$(( $(date +%s) - start ))"; exit 0; fi
  now=$(date +%s)
  [ $((now - start)) -ge "$DEADLINE" ] && break
  # a unit that exited and was started again by launchd (KeepAlive) is crash-looping: it will not become ready. Its
  # run count is taken after the first answer that is not ready (a service ready at once costs no launchctl call)
  if [ -z "$runs0" ]; then runs0=$(svc_runs "$LABEL"); sleep_s=$(awk -v m="$POLL_MS" 'BEGIN { printf "%.3f", m / 1000 }')
  elif [ "$(svc_runs "$LABEL")" -gt "$runs0" ]; then break; fi
  # a unit that is no longer running will not become ready: stop waiting
  p=$(svc_pid "$LABEL")
  if [ -z "$p" ] || [ "$p" = 0 ]; then sleep 1; p=$(svc_pid "$LABEL"); [ -z "$p" ] || [ "$p" = 0 ] && break; fi
  sleep "$sleep_s" 2>/dev/null || sleep 1
done
rec not-ready "$code" "$(head -c 2048 "$RT/body" | b64)" "$(svc_facts "$LABEL")" "$(( $(date +%s) - start ))"
`}`;

/**
 * NODE_UNIT: sh -c NODE_UNIT x LD LABEL WAIT_SEC VARDB ; stdin: the unit's plist — a node-level unit (the notifier),
 * installed and reloaded like a tenant's. Prints reloaded/reload-failed.
 */
export const NODE_UNIT_SCRIPT = `${PRELUDE}${UNITS_SH}${String.raw`
LD=$1; label=$2; WAIT_SEC=$3; VARDB=$4
is_safe "$label" || { rec reload-failed "$label" "not a label clawops uses"; exit 0; }
mkdir -p "$VARDB/logs" 2>/dev/null
cat > "$RT/unit.plist"
install_reload "$RT/unit.plist" "$label"
exit 0
`}`;

/**
 * PRUNE: sh -c PRUNE x ETC LD VARDB RUN ; stdin: `TENANT<TAB>RECORD` a line — the tenants `apply --prune` removes
 * from this node, RECORD the reload-log record of the tenant going to no release (release_id ""). Each tenant is
 * checked whole before anything of it is touched: its links and dirs clawops' own (tenant_refusal), no volume mounted
 * in releases/TENANT, every dir of that tree ours and writable (else rm -rf stops half-way), LaunchDaemons writable
 * when a unit of it is there. Then RECORD goes into the run's intent (made afresh when the run has none), its units
 * are booted out and removed (unit_remove), its links removed and the record marked done: however the run ends, the
 * next settle records the removal once. FINISH removes the tree (X lines) of the tenants printed `unlinked`.
 * Prints `removed-unit LABEL`, `unlinked TENANT` or `prune-refused TENANT MESSAGE` (nothing of it changed).
 */
export const PRUNE_SCRIPT = `${PRELUDE}${UNITS_SH}${String.raw`
ETC=$1; LD=$2; VARDB=$3; RUN=$4
IJ="$VARDB/clawops/intent.$RUN"; me=$(id -u)
# (the list read first, from a file of its own: no command in the loop reads what is left of stdin)
cat > "$RT/in"; exec < /dev/null
while IFS='	' read -r t r <&3; do
  is_safe "$t" || continue
  why=$(tenant_refusal "$t")
  R="$ETC/releases/$t"
  if [ -z "$why" ] && real_dir "$R"; then
    if mount_inside "$R"; then why="$(shown "$_mt_m") is a volume mounted inside $(shown "$R"): the tenant is not removed through it"
    elif [ ! -w "$ETC/releases" ]; then why="$(shown "$ETC/releases") is not writable: the tree of $t cannot be removed"
    else
      # every dir of the tree ours, listable and writable (else rm -rf stops half-way); a dir find cannot read is one
      _pb=$(find "$R" -xdev -type d \( ! -user "$me" -o ! -perm -u+rwx \) -print 2> "$RT/ferr" | head -n 1)
      [ -n "$_pb" ] || [ ! -s "$RT/ferr" ] || _pb=$(head -n 1 "$RT/ferr")
      [ -z "$_pb" ] || why="$(shown "$_pb") is not listable and writable by $(id -un 2>/dev/null || echo "$me"): the tree of $t cannot be removed whole"
    fi
  fi
  if [ -z "$why" ] && { [ -L "$ETC/tenants/$t" ] || [ -L "$ETC/tenants/$t.prev" ]; } && [ ! -w "$ETC/tenants" ]; then
    why="$(shown "$ETC/tenants") is not writable: the links of $t cannot be removed"
  fi
  [ -n "$why" ] || unit_remove_refusal "$t"
  if [ -n "$why" ]; then rec prune-refused "$t" "$why"; continue; fi
  # journalled before anything moves, as a swap is (the intent is a regular file of one link, or made afresh: O_EXCL);
  # not when its links are gone already (a removal cut short: that run's intent records it)
  printf '%s\n' "$r" > "$RT/rec"
  if [ ! -L "$ETC/tenants/$t" ] && [ ! -L "$ETC/tenants/$t.prev" ]; then :
  elif [ -e "$IJ" ] || [ -L "$IJ" ]; then log_records "$IJ" < "$RT/rec" || { rec prune-refused "$t" "cannot journal the removal: $why"; continue; }
  elif ! ( set -C; cat "$RT/rec" > "$IJ" ) 2>/dev/null; then rec prune-refused "$t" "cannot write $(shown "$IJ"): nothing of $t removed"; continue; fi
  unit_remove "$t" > "$RT/ur"; _pr=$?
  cat "$RT/ur"
  if [ $_pr != 0 ]; then rec prune-refused "$t" "$(sed -n 's/^remove-failed	[^	]*	//p' "$RT/ur" | head -n 1)"; continue; fi
  if rm -f "$ETC/tenants/$t.prev" "$ETC/tenants/$t"; then printf 'done %s \n' "$t" > "$RT/rec"; [ ! -f "$IJ" ] || log_records "$IJ" < "$RT/rec" || :; rec unlinked "$t"
  else rec prune-refused "$t" "cannot remove its links in $ETC/tenants"; fi
done 3< "$RT/in"
exit 0
`}`;

/**
 * UNDO: sh -c UNDO x ETC LD TENANT TO PREV WAIT_SEC VARDB [RUN [RECORD [FROM]]] — put tenant back on release TO (the
 * one it ran): .prev to PREV (or left when empty), current to TO (removed when TO is empty: a first deploy), then its
 * units reloaded from TO. With FROM, only while the link still points at FROM (else `undo-skipped TENANT NOW`: the
 * other undoer, the run or the dead-man guard, was first). Used by automatic rollback and by the dead-man guard.
 * Prints the reload lines.
 * With RUN, the undo is journalled in that run's intent file (VARDB/clawops/intent.RUN, only when it is there): first
 * `done TENANT CUR` (the swap being undone happened: the link points at CUR), then RECORD (the reload-log record of
 * this undo's own swap) before the relink and `done TENANT TO` after it. So both swaps are recorded from the intent
 * however the run ends (settle_intent), and a swap back that did not happen is never claimed. Prints `noted N`: 2 the
 * intent took both, 1 only the mark, 0 nothing (unwritable: the caller records the rest itself), `gone` the intent
 * is no longer there (another run took the lock over and recorded the swap: the caller records only the undo).
 */
const UNDO_SH = String.raw`
relink() {
  # $1 link name, $2 target: a fresh symlink renamed over the old one (rename(2): never missing, never dangling).
  # With $3 $4 (TENANT FROM): only while TENANT's link still points at FROM, looked at the last moment before the
  # rename (3 when it no longer does: someone else moved it)
  tmp="$ETC/tenants/.clawops-undo-$$-$1"
  rm -f "$tmp"; ln -s "$2" "$tmp" || return 1
  if [ -n "${"$"}{4:-}" ] && [ "$(link_id "$3" '')" != "$4" ]; then rm -f "$tmp"; return 3; fi
  if mv -T "$tmp" "$ETC/tenants/$1" 2>/dev/null || mv -h "$tmp" "$ETC/tenants/$1" 2>/dev/null; then return 0; fi
  rm -f "$tmp"; return 1
}
# intent_note LINE: LINE appended to the run's intent file $IJ, only when one is set and there (never made here),
# never through a link, into a FIFO or a file with another name (log_records)
intent_note() { [ -n "${"$"}{IJ:-}" ] && [ -f "$IJ" ] && printf '%s\n' "$1" | log_records "$IJ"; }
undo_tenant() {
  t=$1; to=$2; prev=$3; _u_rec=${"$"}{4:-}; _u_from=${"$"}{5:-}
  why=$(tenant_refusal "$t")
  [ -z "$why" ] || { rec undo-failed "$t" "$why"; return 1; }
  # the swap undone here happened (its link points at its release): marked before the link moves away from it. With
  # FROM, only that swap is undone: a link already moved on (the run's own undo and the dead-man guard both at it)
  # is left to whoever moved it
  _u_cur=$(link_id "$t" '')
  if [ -n "$_u_from" ] && [ "$_u_cur" != "$_u_from" ]; then rec undo-skipped "$t" "${"$"}{_u_cur:--}"; return 3; fi
  _u_noted=0
  if [ -n "${"$"}{IJ:-}" ] && [ ! -e "$IJ" ] && [ ! -L "$IJ" ]; then
    # the run's intent is gone: another run took the lock over and recorded it (the swap, its link still here then)
    _u_noted=gone
  elif [ -n "${"$"}{IJ:-}" ] && [ -n "$_u_cur" ] && intent_note "done $t $_u_cur"; then
    _u_noted=1
    [ -n "$_u_rec" ] && intent_note "$_u_rec" && _u_noted=2
  fi
  [ -z "${"$"}{IJ:-}" ] || rec noted "$_u_noted"
  if [ -z "$to" ]; then
    if [ -n "$_u_from" ] && [ "$(link_id "$t" '')" != "$_u_from" ]; then rec undo-skipped "$t" "$(link_id "$t" '')"; return 3; fi
    # (a unit that cannot go keeps its link: the tenant stays whole, deployed and stopped, and the undo fails naming it)
    unit_remove "$t" || return 1
    rm -f "$ETC/tenants/$t" && { rec unlinked "$t"; [ "$_u_noted" != 2 ] || intent_note "done $t " || :; }
    return 0
  fi
  # (FROM looked at again right before each rename: another run may have swapped the tenant meanwhile)
  if [ -n "$prev" ]; then
    relink "$t.prev" "../releases/$t/$prev" "$t" "$_u_from"; _u_rc=$?
    [ $_u_rc = 3 ] && { rec undo-skipped "$t" "$(link_id "$t" '')"; return 3; }
    [ $_u_rc = 0 ] || { rec undo-failed "$t" "cannot point $t.prev back"; return 1; }
  fi
  relink "$t" "../releases/$t/$to" "$t" "$_u_from"; _u_rc=$?
  [ $_u_rc = 3 ] && { rec undo-skipped "$t" "$(link_id "$t" '')"; return 3; }
  [ $_u_rc = 0 ] || { rec undo-failed "$t" "cannot point $t back at $to"; return 1; }
  rec relinked "$t" "$to"
  [ "$_u_noted" != 2 ] || intent_note "done $t $to" || :
  unit_reload "$t" "$to"
}
`;

export const UNDO_SCRIPT = `${PRELUDE}${UNITS_SH}${UNDO_SH}${String.raw`
ETC=$1; LD=$2; WAIT_SEC=$6; VARDB=$7
IJ=''; [ -n "${"$"}{8:-}" ] && IJ="$VARDB/clawops/intent.$8"
undo_tenant "$3" "$4" "$5" "${"$"}{9:-}" "${"$"}{10:-}"
exit 0
`}`;

/**
 * GUARD_START: sh -c GUARD_START x ETC VARDB LD RUN SECONDS CONFIRM_SEC GUARD_BODY ; stdin: `tenant<TAB>new<TAB>old<TAB>oldprev`
 * lines. Writes VARDB/clawops/guard.RUN and starts a detached guard (nohup, HUP ignored: it outlives the ssh
 * connection) that waits: CONFIRM_SEC after clawops wrote `passed` into the file, or CONFIRM_SEC of silence (the
 * reload and gate scripts write guard.RUN.beat while they work; a killed run stops beating), at most SECONDS; then,
 * unless the file was removed (confirmed) by then, puts every tenant whose link still points at its new
 * release back on the old one, reloads it and logs a DeadManRollback line. Prints `guard PID`.
 */
export const GUARD_START_SCRIPT = `${PRELUDE_NO_RT}${String.raw`
ETC=$1; VARDB=$2; LD=$3; RUN=$4; SECS=$5; CONFIRM=$6; GUARD_BODY=$7
D="$VARDB/clawops"; G="$D/guard.$RUN"
own_dir "$D" || exit 3
# (a fresh file, O_EXCL: a link planted under the temp name is removed, never written through; the rows copied by the
# shell itself: no cat)
rm -f "$G.tmp"
set -C
{ printf 'deadline\t%s\n' "$(( $(date +%s) + SECS ))"; while IFS= read -r _gl; do printf '%s\n' "$_gl"; done; } > "$G.tmp" && mv -f "$G.tmp" "$G" || { echo "cannot write $G" >&2; exit 3; }
set +C
nohup sh -c "$GUARD_BODY" clawops-guard "$ETC" "$VARDB" "$LD" "$RUN" "$CONFIRM" </dev/null >/dev/null 2>&1 &
# (its pid in its file: a later run tells a guard that is gone, after a reboot, from one still waiting)
[ ! -L "$G" ] && printf 'pid\t%s\n' "$!" >> "$G"
rec guard "$!"
`}`;

/** The detached guard itself (run by GUARD_START through `nohup sh -c`). */
export const GUARD_BODY = `${PRELUDE_NO_RT}${UNITS_SH}${UNDO_SH}${String.raw`
trap '' HUP
ETC=$1; VARDB=$2; LD=$3; RUN=$4; CONFIRM=$5; WAIT_SEC=60
# (numbers for the shell's arithmetic: digits without a leading zero, which it would read as octal and fail on)
case $CONFIRM in ''|*[!0-9]*|0?*) CONFIRM=0 ;; esac
D="$VARDB/clawops"; G="$D/guard.$RUN"; started=$(date +%s)
# fire when: the gate passed CONFIRM s ago without a confirmation; or the run fell silent (no beat, no pass) for
# CONFIRM s — it died or lost the node; or the overall deadline passed. Each second costs a date and a sleep: the
# beat and the guard's file are read by the shell itself
while [ -f "$G" ]; do
  now=$(date +%s)
  b=''; read -r b 2>/dev/null < "$G.beat"; case $b in ''|*[!0-9]*|0*) b=$started ;; esac
  # the file's deadline and passed lines, as the awk this was read them (anything but a number counts as 0)
  d=''; pz=''
  while IFS='	' read -r _gk _gv _gr; do
    case $_gk in
      deadline) case $_gv in ''|*[!0-9]*|0*) d=0 ;; *) d=$_gv ;; esac ;;
      passed) case $_gv in ''|*[!0-9]*|0*) pz=$CONFIRM ;; *) pz=$((_gv + CONFIRM)) ;; esac ;;
    esac
  done 2>/dev/null < "$G"
  deadline=$((b + CONFIRM))
  case $pz in ''|0) ;; *) deadline=$pz ;; esac
  case $d in ''|0) ;; *) [ "$d" -lt "$deadline" ] && deadline=$d ;; esac
  [ "$now" -ge "$deadline" ] && break
  sleep 1
done
[ -f "$G" ] || { rm -f "$G.beat"; exit 0; }
${SCRATCH}
mv -f "$G" "$G.firing" 2>/dev/null || exit 0
rm -f "$G.beat"
awk -F '\t' 'NF == 4 && $1 != "deadline" && $1 != "passed"' "$G.firing" > "$RT/todo"
# the run's intent (when it is still there): each swap undone here is marked done in it first, so the run's record of
# it is kept whatever becomes of the run (settle_intent)
IJ="$D/intent.$RUN"
while IFS='	' read -r g_t g_new g_old g_oldprev; do
  is_safe "$g_t" && is_id "$g_new" || continue
  [ "$(link_id "$g_t" '')" = "$g_new" ] || continue
  [ "$g_old" = - ] && g_old=''; [ "$g_oldprev" = - ] && g_oldprev=''
  # (only while the link is still on the new release: the run's own undo may have been first)
  undo_tenant "$g_t" "$g_old" "$g_oldprev" '' "$g_new" > "$RT/undo" 2>&1
  [ $? = 3 ] && continue
  # (the detail quotes launchctl's messages: quotes, backslashes and every byte outside printable ASCII (controls, C1,
  # U+2028, bytes that are not UTF-8; the awk runs under LC_ALL=C) become ' so the record stays one line of JSON in
  # the form settle_intent copies, with nothing for a terminal to act on)
  res=$(awk -F '\t' '$1 == "reloaded" { m = m " " $2 " pid " $4 "->" $5 } $1 == "reload-failed" || $1 == "undo-failed" { m = m " FAILED " $2 ": " $3 } END { gsub(/[^ -~]|["\\]/, "\047", m); print m }' "$RT/undo")
  dmr=$(printf '{"time":"%s","action":"DeadManRollback","tenant":"%s","release_id":"%s","prev_release_id":"%s","run":"%s","detail":"%s"}' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$g_t" "$g_old" "$g_new" "$RUN" "$res")
  # never through a link, into a FIFO or into a file with another name (log_records). A log that cannot take it: the
  # record waits in an intent file of its own, intent.RUN.gPID.TENANT, created afresh (O_EXCL; never the run's own
  # intent, which a settle may be reading right now), for the next run, which reports it meanwhile and records it
  printf '%s\n' "$dmr" | log_records "$D/reload.log" && continue
  rm -f "$IJ.g$$.$g_t"; ( set -C; printf '%s\n' "$dmr" > "$IJ.g$$.$g_t" ) 2>/dev/null || :
done < "$RT/todo"
rm -f "$G.firing"
`}`;

/** CONFIRM: sh -c CONFIRM x VARDB RUN — the guard stands down (run over a new ssh connection). Prints confirmed|missing. */
export const CONFIRM_SCRIPT = String.raw`
G="$1/clawops/guard.$2"
rm -f "$G.beat"
if [ -f "$G" ] && rm -f "$G"; then echo confirmed; else echo missing; fi
`;

/** PASSED: sh -c PASSED x VARDB RUN — the health gate passed: the guard now waits CONFIRM_SEC more for a confirm. */
export const PASSED_SCRIPT = String.raw`
G="$1/clawops/guard.$2"
[ -f "$G" ] && [ ! -L "$G" ] && printf 'passed\t%s\n' "$(date +%s)" >> "$G" && echo passed
`;
