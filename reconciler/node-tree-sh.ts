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
 *   tenant_refusal T    prints why tenant T's tree is not clawops' to touch (nothing when it is)
 *   tenant_refusal_t T CUR PREV
 *                       tenant_refusal without a fork, for loops over every tenant of a node (observe): the links
 *                       tenants/<T> and tenants/<T>.prev already read, each as `n` (not a symlink) or `l<target>`
 *                       (tabs and newlines in the target as '?'); sets $why instead of printing it. Same verdicts
 *                       and messages as tenant_refusal (test/observe checks both on the same trees).
 *   link_id T [.prev]   the release id tenants/<T>[.prev] points at ('' when absent or not clawops' form)
 *   release_ok T ID     releases/<T>/<ID> is a complete release: real dir, manifest a regular file, every file
 *                       the manifest lists present with its hash (needs $SHA and a scratch dir $RT)
 */
export const NODE_TREE_SH = String.raw`
is_safe() { case $1 in ''|.|..|*[!A-Za-z0-9._-]*) return 1 ;; esac; return 0; }
is_id() { case $1 in ''|*[!0-9a-f]*) return 1 ;; esac; return 0; }
real_dir() { [ -d "$1" ] && [ ! -L "$1" ]; }
shown() { printf '%s' "$1" | tr -c 'A-Za-z0-9._/@:+=,~ -' '?'; }
tenant_refusal() {
  for p in "$ETC/tenants" "$ETC/releases" "$ETC/releases/$1"; do
    if [ -L "$p" ]; then echo "$p is a symlink ($(shown "$(readlink "$p")")), not a directory clawops owns"; return 0; fi
    if [ -e "$p" ] && [ ! -d "$p" ]; then echo "$p is not a directory"; return 0; fi
  done
  for s in '' .prev; do
    l="$ETC/tenants/$1$s"
    if [ -L "$l" ]; then
      tg=$(readlink "$l")
      case $tg in
        "../releases/$1/"*) id=${"$"}{tg#"../releases/$1/"} ;;
        *) echo "$l points at $(shown "$tg"), outside releases/$1/"; return 0 ;;
      esac
      is_id "$id" || { echo "$l points at $(shown "$tg"), which is not a release"; return 0; }
      if [ -L "$ETC/releases/$1/$id" ]; then echo "$ETC/releases/$1/$id is a symlink, not a release"; return 0; fi
      if [ -e "$ETC/releases/$1/$id" ] && [ ! -d "$ETC/releases/$1/$id" ]; then echo "$ETC/releases/$1/$id is not a directory"; return 0; fi
    elif [ -e "$l" ]; then echo "$l exists but is not a symlink"; return 0
    fi
  done
  return 0
}
tenant_refusal_t() {
  why=''
  for p in "$ETC/tenants" "$ETC/releases" "$ETC/releases/$1"; do
    if [ -L "$p" ]; then why="$p is a symlink ($(shown "$(readlink "$p")")), not a directory clawops owns"; return 0; fi
    if [ -e "$p" ] && [ ! -d "$p" ]; then why="$p is not a directory"; return 0; fi
  done
  for s in '' .prev; do
    l="$ETC/tenants/$1$s"
    if [ -z "$s" ]; then lk=$2; else lk=$3; fi
    case $lk in
      l*)
        tg=${"$"}{lk#l}
        case $tg in
          "../releases/$1/"*) id=${"$"}{tg#"../releases/$1/"} ;;
          *) why="$l points at $(shown "$tg"), outside releases/$1/"; return 0 ;;
        esac
        is_id "$id" || { why="$l points at $(shown "$tg"), which is not a release"; return 0; }
        if [ -L "$ETC/releases/$1/$id" ]; then why="$ETC/releases/$1/$id is a symlink, not a release"; return 0; fi
        if [ -e "$ETC/releases/$1/$id" ] && [ ! -d "$ETC/releases/$1/$id" ]; then why="$ETC/releases/$1/$id is not a directory"; return 0; fi
        ;;
      *) if [ -e "$l" ]; then why="$l exists but is not a symlink"; return 0; fi ;;
    esac
  done
  return 0
}
link_id() {
  l="$ETC/tenants/$1$2"
  [ -L "$l" ] || return 0
  tg=$(readlink "$l")
  case $tg in "../releases/$1/"*) id=${"$"}{tg#"../releases/$1/"}; is_id "$id" && printf '%s' "$id" ;; esac
  return 0
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
