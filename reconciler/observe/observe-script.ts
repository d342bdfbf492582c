/**
 * The ONE remote command of an observe pass: a portable POSIX sh script (dash, bash-as-sh on macOS; BSD and GNU
 * userlands) that prints one JSON document describing the node. Runs as `sh -c SCRIPT clawops-observe ETC VARDB`;
 * stdin carries what the planner expects, one record a line:
 *   T<TAB>tenant                     a tenant assigned to this node
 *   F<TAB>tenant<TAB>path<TAB>sha256 a file of the tenant's desired release
 * so the node can send back the old content of exactly the files that differ (for unified diffs) and nothing else.
 *
 * Output: {"v":1,"records":[[kind, field…], …]} where kind is one of
 *   version   exitcode  first-line-of-`openclaw --version`  cached(0|1)
 *   daemon    path  sha256                     the file `openclaw` resolves to
 *   disk      free-kb  total-kb                for ETC
 *   link      tenant  current|prev  target     readlink of tenants/<t> and tenants/<t>.prev
 *   release   tenant  id                       a directory under releases/<t>/
 *   file      tenant  path  sha256|symlink     every entry of the current release (what is really there)
 *   content   tenant  path  base64             current content of files that differ from what is desired
 *   manifestj tenant  current|prev  json       .clawops/manifest.json of each release (its lines joined)
 *   svc       label  pid  last-exit            an ai.openclaw.* service in `launchctl print system`
 *   launchd-list  exitcode                     `launchctl print system` failed (no service state known)
 *   token     tenant  name  mode  mtime  fp    secrets/<t>/<name> metadata; fp = first 12 hex of its sha256
 *   token     tenant  name  missing
 *   lock      base64                           the node lock file, if any
 *   error     message
 * Secrets are never read except to hash them.
 *
 * Cost matters (it runs on every node on every pass): the work is done in bulk, a fixed number of processes per node
 * whatever the number of tenants: one `ls -l` for every link, one awk for every manifest, one `find … -exec sha256`
 * for every file, one `launchctl print system` for every service, one `stat` and one hash for every token.
 */
import { OPENCLAW_FACTS_SH } from '../openclaw-sh.js';

export const OBSERVE_SCRIPT = String.raw`
set -u
ETC=$1; VARDB=$2
PATH="$PATH:/usr/local/bin:/opt/homebrew/bin"
export PATH LC_ALL=C
TMP=$(mktemp -d 2>/dev/null || mktemp -d -t clawops)
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/want"
if command -v sha256sum >/dev/null 2>&1; then SHA="sha256sum"; else SHA="shasum -a 256"; fi
if stat -c %a / >/dev/null 2>&1; then fstat() { stat -c '%a	%Y	%n' "$@"; }; else fstat() { stat -f '%Lp	%m	%N' "$@"; }; fi
b64() { base64 | tr -d '\n'; }
rec() { printf '%s' "$1"; shift; for f in "$@"; do printf '\t%s' "$f"; done; printf '\n'; }
${OPENCLAW_FACTS_SH}
{
  oc_facts "$VARDB/clawops"
  df -Pk "$ETC" 2>/dev/null | awk 'NR == 2 { printf "disk\t%s\t%s\n", $4, $2 }'
  [ -f "$VARDB/clawops/node.lock" ] && rec lock "$(b64 < "$VARDB/clawops/node.lock")"

  # links: one listing of tenants/ (names are tenant ids and <id>.prev; ids never contain blanks). Prints link and
  # manifestj records, and writes the tenants to look at (expected ones plus whatever the node has) and their dirs.
  L="$ETC/tenants"
  awk -F '\t' '$1 == "T" { print $2 }' "$TMP/want" > "$TMP/names"
  : > "$TMP/ls"
  [ -d "$L" ] && ls -lA "$L" > "$TMP/ls" 2>/dev/null
  awk -v L="$L" -v D="$TMP/dirs" -v N="$TMP/names" '
    /^total / || NF < 3 { next }
    {
      link = ($1 ~ /^l/ && $(NF-1) == "->")
      name = link ? $(NF-2) : $NF
      if (name ~ /^\./ || name ~ /\.tmp/) next
      t = name; slot = "current"
      if (t ~ /\.prev$/) { sub(/\.prev$/, "", t); slot = "prev" }
      print t >> N
      if (!link) { printf "error\t%s/%s exists but is not a symlink\n", L, name; next }
      tgt = $NF
      printf "link\t%s\t%s\t%s\n", t, slot, tgt
      d = (tgt ~ /^\//) ? tgt : L "/" tgt
      printf "%s\t%s\t%s\n", t, slot, d >> D
      m = d "/.clawops/manifest.json"; j = ""; n = 0
      while ((getline line < m) > 0) { j = j (n++ ? " " : "") line }
      close(m)
      if (n > 0) { gsub(/\t/, " ", j); printf "manifestj\t%s\t%s\t%s\n", t, slot, j }
    }' "$TMP/ls"
  [ -f "$TMP/dirs" ] || : > "$TMP/dirs"
  sort -u "$TMP/names" > "$TMP/tenants"

  # what is really in every current release: one find and one hashing process for all of them
  set --
  while IFS='	' read -r t slot d; do [ "$slot" = current ] && [ -d "$d" ] && set -- "$@" "$d"; done < "$TMP/dirs"
  : > "$TMP/have"
  if [ $# -gt 0 ]; then
    find -H "$@" -type f -exec $SHA {} + > "$TMP/sums" 2>/dev/null
    find -H "$@" -type l > "$TMP/symlinks" 2>/dev/null
    awk -F '\t' -v S="$TMP/sums" -v Y="$TMP/symlinks" '
      function owner(p,   i) { for (i = 1; i <= nd; i++) if (index(p, dir[i] "/") == 1) { rel = substr(p, length(dir[i]) + 2); return ten[i] } return "" }
      $2 == "current" { nd++; ten[nd] = $1; dir[nd] = $3 }
      END {
        while ((getline line < S) > 0) {
          h = substr(line, 1, 64); p = substr(line, 67); if (substr(line, 66, 1) != "*" && substr(line, 66, 1) != " ") p = substr(line, 66)
          t = owner(p); if (t != "") printf "file\t%s\t%s\t%s\n", t, rel, h
        }
        while ((getline line < Y) > 0) { t = owner(line); if (t != "") printf "file\t%s\t%s\tsymlink\n", t, rel }
      }' "$TMP/dirs" > "$TMP/have"
    cat "$TMP/have"
  fi
  # old content of the (few) files that differ from the desired release, for unified diffs
  awk -F '\t' 'FILENAME == ARGV[1] { if ($2 == "current") dir[$1] = $3; next }
    FILENAME == ARGV[2] { if ($1 == "F") want[$2 SUBSEP $3] = $4; next }
    $4 != "symlink" && $3 != ".clawops/manifest.json" && want[$2 SUBSEP $3] != $4 { printf "%s\t%s\t%s/%s\n", $2, $3, dir[$2], $3 }' \
    "$TMP/dirs" "$TMP/want" "$TMP/have" |
  while IFS='	' read -r t f p; do
    sz=$(wc -c < "$p" 2>/dev/null | tr -d ' '); [ -n "$sz" ] || sz=0
    [ "$sz" -le 262144 ] && rec content "$t" "$f" "$(b64 < "$p")"
  done

  # release dirs of the tenants we look at
  if [ -d "$ETC/releases" ]; then
    find "$ETC/releases" -mindepth 2 -maxdepth 2 2>/dev/null | awk -v R="$ETC/releases/" 'NR == FNR { want[$0] = 1; next }
      index($0, R) == 1 { s = substr($0, length(R) + 1); i = index(s, "/"); t = substr(s, 1, i - 1); if (t in want) printf "release\t%s\t%s\n", t, substr(s, i + 1) }' "$TMP/tenants" -
  fi

  # launchd: every ai.openclaw.* service of the system domain in one call (pid and last exit status columns)
  if launchctl print system > "$TMP/domain" 2>/dev/null; then
    awk '/^\tservices = \{/ { s = 1; next } s && /^\t\}/ { s = 0 } s && $3 ~ /^ai\.openclaw\./ { printf "svc\t%s\t%s\t%s\n", $3, $1, $2 }' "$TMP/domain"
  else
    rec launchd-list $?
  fi

  # tokens: metadata and a fingerprint of each, never the content
  set --
  while IFS= read -r t; do
    [ -n "$t" ] || continue
    for name in token.current token.next; do
      s="$VARDB/secrets/$t/$name"
      if [ -f "$s" ]; then set -- "$@" "$s"; else rec token "$t" "$name" missing; fi
    done
  done < "$TMP/tenants"
  if [ $# -gt 0 ]; then
    fstat "$@" > "$TMP/tstat" 2>/dev/null
    $SHA "$@" > "$TMP/tsha" 2>/dev/null
    awk -F '\t' -v H="$TMP/tsha" '
      BEGIN { while ((getline line < H) > 0) { p = substr(line, 67); if (substr(line, 66, 1) != "*" && substr(line, 66, 1) != " ") p = substr(line, 66); fp[p] = substr(line, 1, 12) } }
      { n = split($3, parts, "/"); printf "token\t%s\t%s\t%s\t%s\t%s\n", parts[n-1], parts[n], $1, $2, fp[$3] }' "$TMP/tstat"
  fi
} | awk -F '\t' '
  function esc(s) { gsub(/\\/, "&&", s); gsub(/"/, "\\\"", s); gsub(/[\001-\037]/, " ", s); return s }
  BEGIN { printf "{\"v\":1,\"records\":[" }
  { printf "%s[", (NR > 1 ? "," : ""); for (i = 1; i <= NF; i++) printf "%s\"%s\"", (i > 1 ? "," : ""), esc($i); printf "]" }
  END { printf "]}\n" }'
`;
