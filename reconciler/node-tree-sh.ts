/**
 * Shell shared by observe, apply and rollback: what on a node clawops owns (DESIGN §3, "the node is not trusted to
 * be tidy"). clawops acts only on
 *   - `releases/<t>/<id>`: a real directory (never a symlink) named by a release id (hex), inside a real
 *     `releases/<t>` directory inside a real `releases/`;
 *   - `tenants/<t>` and `tenants/<t>.prev`: symlinks whose target is exactly `../releases/<t>/<id>`.
 * Anything else is reported by name and left alone: nothing here ever deletes, copies or hashes through a link.
 * File names are checked against a safe set before they are parsed from a listing or fed to rm; names outside it
 * are handled by find(1) itself (NUL-safe) or reported, never split into lines.
 *
 * Needs $ETC. Functions:
 *   is_safe NAME        NAME uses only [A-Za-z0-9._-] (tenant ids, release ids, fragment names)
 *   is_id NAME          a release id (lower-case hex)
 *   real_dir PATH       a directory that is not a symlink
 *   shown STRING        STRING with anything outside a printable safe set replaced by '?', for messages
 *   tenant_refusal_t T CUR PREV
 *                       why tenant T's tree is not clawops' to touch, in $why ('' when it is), given its links
 *                       tenants/<T> and tenants/<T>.prev already read, each as `n` (not a symlink) or `l<target>`;
 *                       no fork, for loops over every tenant of a node (observe reads the links of all tenants in one
 *                       readlink, with tabs and newlines in a target as '?': the verdict is the same)
 *   tenant_links T      both links of T read in one readlink: sets lk_cur, lk_prev (tenant_refusal_t's form) and
 *                       lk_cur_id, lk_prev_id (the release ids they name, '' when absent or not clawops' form)
 *   tenant_refusal T    tenant_links and tenant_refusal_t, the verdict printed (nothing when it is clawops'): for a
 *                       subshell, `$(tenant_refusal T)` (it sets the variables above in the shell it runs in)
 *   link_id T [.prev]   the release id tenants/<T>[.prev] points at (tenant_links' answer), printed
 *   release_ok T ID     releases/<T>/<ID> is a complete release: real dir, manifest a regular file, every file
 *                       the manifest lists present with its hash (needs $SHA and a scratch dir $RT)
 *   not_own_dir PATH    PATH is there (or a link) but is no real directory: a symlink or a file, where clawops would
 *                       write, read and remove somewhere else
 *   own_dir DIR         DIR a real directory, made when missing; else says why on stderr and fails (the caller exits)
 *   first_line FILE MAX the first line of FILE's first MAX bytes, in $fl (a bounded read: never hangs)
 *   guard_alive FILE    a dead-man guard file's process runs (0), is gone (1), or is not known (2: no pid in it)
 *   log_refusal FILE    why clawops will not append to FILE (the reload log), in $why ('' when it may): a symlink,
 *                       anything but a regular file (a FIFO would block the append for good), a file with another
 *                       hard link (the records would land in that other file too)
 *   log_append FILE     stdin appended to FILE on lines of its own, whole or not at all: an append a full disk cuts
 *                       short is truncated away again, and a last line someone else left unended gets its newline
 *                       first, so no record is ever glued to a broken one
 *   log_records FILE    stdin recorded in FILE: log_refusal, then log_append; false with why in $why (the refusal,
 *                       or what the write said) when nothing was recorded (needs $RT)
 *   mount_inside PATH [ROOT]
 *                       PATH, or a directory below it, is a mount point, or (with ROOT) PATH lies on a volume mounted
 *                       below ROOT (the node's mount table, read once a script, against physical paths): clawops
 *                       never rm -rf's through one (it would empty the volume). A bind mount of the same file system
 *                       (one st_dev, which find -xdev cannot tell) is in the table too
 */
export const NODE_TREE_SH = String.raw`
NL='
'
is_safe() { case $1 in ''|.|..|*[!A-Za-z0-9._-]*) return 1 ;; esac; return 0; }
is_id() { case $1 in ''|*[!0-9a-f]*) return 1 ;; esac; return 0; }
real_dir() { [ -d "$1" ] && [ ! -L "$1" ]; }
shown() { printf '%s' "$1" | tr -c 'A-Za-z0-9._/@:+=,~ -' '?'; }
# (the rule itself is tenant_refusal_t's; this reads the links and prints its verdict, for callers in a subshell)
tenant_refusal() {
  tenant_links "$1"; tenant_refusal_t "$1" "$lk_cur" "$lk_prev"
  [ -z "$why" ] || printf '%s\n' "$why"
  return 0
}
tenant_refusal_t() {
  # (its own variable names: it runs in the caller's shell, whose loops have their own t, id, l…)
  why=''
  for _tr_p in "$ETC/tenants" "$ETC/releases" "$ETC/releases/$1"; do
    if [ -L "$_tr_p" ]; then why="$_tr_p is a symlink ($(shown "$(readlink "$_tr_p")")), not a directory clawops owns"; return 0; fi
    if [ -e "$_tr_p" ] && [ ! -d "$_tr_p" ]; then why="$_tr_p is not a directory"; return 0; fi
  done
  for _tr_s in '' .prev; do
    _tr_l="$ETC/tenants/$1$_tr_s"
    if [ -z "$_tr_s" ]; then _tr_lk=$2; else _tr_lk=$3; fi
    case $_tr_lk in
      l*)
        _tr_tg=${"$"}{_tr_lk#l}
        case $_tr_tg in
          "../releases/$1/"*) _tr_id=${"$"}{_tr_tg#"../releases/$1/"} ;;
          *) why="$_tr_l points at $(shown "$_tr_tg"), outside releases/$1/"; return 0 ;;
        esac
        is_id "$_tr_id" || { why="$_tr_l points at $(shown "$_tr_tg"), which is not a release"; return 0; }
        if [ -L "$ETC/releases/$1/$_tr_id" ]; then why="$ETC/releases/$1/$_tr_id is a symlink, not a release"; return 0; fi
        if [ -e "$ETC/releases/$1/$_tr_id" ] && [ ! -d "$ETC/releases/$1/$_tr_id" ]; then why="$ETC/releases/$1/$_tr_id is not a directory"; return 0; fi
        ;;
      *) if [ -e "$_tr_l" ]; then why="$_tr_l exists but is not a symlink"; return 0; fi ;;
    esac
  done
  return 0
}
# tenant_links T: both links of tenant T read with ONE readlink (a process each was a third of an apply's readlinks):
# lk_cur / lk_prev are \`n\` (not a symlink) or \`l<target>\` (tenant_refusal_t's form), lk_cur_id / lk_prev_id the
# release ids they name ('' when absent or not clawops' form, as link_id). Targets whose lines cannot be told apart
# (one holds a newline) are read one at a time, as link_id reads them.
tenant_links() {
  lk_cur=n; lk_prev=n; lk_cur_id=''; lk_prev_id=''
  _tl_a="$ETC/tenants/$1"; _tl_b="$ETC/tenants/$1.prev"
  if [ -L "$_tl_a" ] && [ -L "$_tl_b" ]; then
    _tl_o=$(readlink "$_tl_a" "$_tl_b" 2>/dev/null)
    case $_tl_o in
      *"$NL"*"$NL"*|"$NL"*|*"$NL") lk_cur=l$(readlink "$_tl_a"); lk_prev=l$(readlink "$_tl_b") ;;
      *"$NL"*) lk_cur=l${"$"}{_tl_o%%"$NL"*}; lk_prev=l${"$"}{_tl_o#*"$NL"} ;;
      *) lk_cur=l$(readlink "$_tl_a"); lk_prev=l$(readlink "$_tl_b") ;;
    esac
  elif [ -L "$_tl_a" ]; then lk_cur=l$(readlink "$_tl_a")
  elif [ -L "$_tl_b" ]; then lk_prev=l$(readlink "$_tl_b"); fi
  case $lk_cur in "l../releases/$1/"*) lk_cur_id=${"$"}{lk_cur#"l../releases/$1/"}; is_id "$lk_cur_id" || lk_cur_id='' ;; esac
  case $lk_prev in "l../releases/$1/"*) lk_prev_id=${"$"}{lk_prev#"l../releases/$1/"}; is_id "$lk_prev_id" || lk_prev_id='' ;; esac
  return 0
}
link_id() {
  tenant_links "$1"
  if [ -z "$2" ]; then printf '%s' "$lk_cur_id"; else printf '%s' "$lk_prev_id"; fi
  return 0
}
# first_line FILE MAX: the first line of FILE's first MAX bytes, in $fl: never the shell's own read of a whole file,
# which a FIFO or a huge file with no newline would hang
first_line() { fl=$(head -c "$2" "$1" 2>/dev/null); fl=${"$"}{fl%%"$NL"*}; }
# guard_alive FILE: a dead-man guard file's process still runs (0), is gone (1), or is not known (2: no pid line, an
# older clawops wrote it). The file's first 4 KiB only
guard_alive() {
  _ga=$(head -c 4096 "$1" 2>/dev/null | sed -n 's/^pid	\([0-9][0-9]*\)$/\1/p')
  _ga=${"$"}{_ga%%"$NL"*}
  [ -n "$_ga" ] || return 2
  kill -0 "$_ga" 2>/dev/null && return 0
  return 1
}
not_own_dir() { { [ -e "$1" ] || [ -L "$1" ]; } && ! real_dir "$1"; }
own_dir() {
  if not_own_dir "$1"; then echo "$1 is not a directory clawops made (a symlink or a file): nothing is done on this node" >&2; return 1; fi
  [ -d "$1" ] || mkdir -p "$1" 2>/dev/null || { echo "cannot create $1" >&2; return 1; }
}
log_refusal() {
  why=''
  if [ -L "$1" ]; then why="$1 is a symlink; clawops never writes through one"
  elif [ -e "$1" ] && [ ! -f "$1" ]; then why="$1 is not a regular file"
  elif [ -e "$1" ] && [ -n "$(find "$1" -links +1 2>/dev/null)" ]; then why="$1 has another hard link; clawops never writes into a file shared with another name"
  fi
  return 0
}
log_append() {
  _la_n=0
  if [ -s "$1" ]; then
    _la_n=$(wc -c < "$1"); _la_n=${"$"}{_la_n##* }
    case $_la_n in ''|*[!0-9]*) _la_n=0 ;; esac
    if [ -n "$(tail -c 1 "$1" 2>/dev/null)" ]; then printf '\n' >> "$1" || return 1; _la_n=$((_la_n + 1)); fi
  fi
  cat >> "$1" && return 0
  # (a full disk mid-append: what was written is taken back, dd truncating at the old end; whole lines or nothing)
  [ "$_la_n" -gt 0 ] && dd if=/dev/null of="$1" bs=1 seek="$_la_n" 2>/dev/null
  return 1
}
log_records() {
  log_refusal "$1"; [ -z "$why" ] || return 1
  # grouped, so a log that cannot even be opened says why too (the shell reports a redirection on its own stderr)
  { log_append "$1"; } 2> "$RT/log.err" && return 0
  why="$1: $(shown "$(head -c 300 "$RT/log.err" | tr '\n' ' ')")"
  return 1
}
mount_inside() {
  [ -n "${"$"}{_mt_read:-}" ] || { _mt=$(mount 2>/dev/null); _mt_read=1; }
  if [ -d "$1" ]; then _mt_p=$(cd "$1" 2>/dev/null && pwd -P) || return 1
  else _mt_p=$(cd "${"$"}{1%/*}" 2>/dev/null && pwd -P) || return 1; _mt_p=$_mt_p/${"$"}{1##*/}; fi
  _mt_r=''; [ -n "${"$"}{2:-}" ] && { _mt_r=$(cd "$2" 2>/dev/null && pwd -P) || return 1; }
  while IFS= read -r _mt_l; do
    # "SRC on MOUNTPOINT type T (…)" (Linux) or "SRC on MOUNTPOINT (…)" (macOS)
    _mt_m=${"$"}{_mt_l#* on }; _mt_m=${"$"}{_mt_m%% type *}; _mt_m=${"$"}{_mt_m%% (*}
    case $_mt_m in "$_mt_p"|"$_mt_p"/*) return 0 ;; esac
    # (with ROOT: PATH lies on a volume mounted below ROOT, a file of that volume)
    if [ -n "$_mt_r" ]; then case $_mt_m in "$_mt_r"/*) case $_mt_p in "$_mt_m"/*) return 0 ;; esac ;; esac; fi
  done <<MOUNTS
$_mt
MOUNTS
  return 1
}
release_ok() {
  R="$ETC/releases/$1/$2"
  real_dir "$ETC/releases/$1" && real_dir "$R" && real_dir "$R/.clawops" || return 1
  [ -f "$R/.clawops/manifest.json" ] && [ ! -L "$R/.clawops/manifest.json" ] || return 1
  # the manifest is clawops' own pretty-printed JSON: one "path": "sha256" pair a line inside "files"
  awk '/^  "files": \{/ { f = 1; next } f && /^  \}/ { f = 0 } f { line = $0; gsub(/^ +"|",?$/, "", line); n = index(line, "\": \""); if (n == 0) exit 1; p = substr(line, 1, n - 1); h = substr(line, n + 4); if (p ~ /(^|\/)\.\.(\/|$)/ || p ~ /^\//) exit 1; print h "  " p; c++ } END { if (c == 0) exit 1 }' "$R/.clawops/manifest.json" > "$RT/release_ok.sums" 2>/dev/null || return 1
  # every listed file a regular file reached without a link: never hash through a link (/dev/zero) or block on a FIFO
  # (its own variable names: shell functions share the caller's variables)
  while IFS= read -r _ro_line; do
    _ro_f=${"$"}{_ro_line#*  }
    case $_ro_f in */*) [ -L "$R/${"$"}{_ro_f%/*}" ] && return 1 ;; esac
    [ -f "$R/$_ro_f" ] && [ ! -L "$R/$_ro_f" ] || return 1
  done < "$RT/release_ok.sums"
  (cd "$R" && $SHA -c "$RT/release_ok.sums" >/dev/null 2>&1)
}
`;
