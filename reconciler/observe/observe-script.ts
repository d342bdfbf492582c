/**
 * The ONE remote command of an observe pass: a portable POSIX sh script (dash, bash-as-sh on macOS; BSD and GNU
 * userlands) that prints one JSON document describing the node. Runs as `sh -c SCRIPT clawops-observe ETC VARDB`;
 * stdin carries what the planner expects, one record a line:
 *   T<TAB>tenant                     a tenant assigned to this node
 *   F<TAB>tenant<TAB>path<TAB>sha256 a file of the tenant's desired release
 * so the node can send back the old content of exactly the files that differ (for unified diffs) and nothing else.
 *
 * Output: {"v":1,"records":[[kind, field…], …]} where kind is one of
 *   version  exitcode  first-line-of-`openclaw --version`  cached(0|1)
 *   daemon   path  sha256                      the file `openclaw` resolves to
 *   disk     free-kb  total-kb                 for ETC
 *   link     tenant  current|prev  target      readlink of tenants/<t> and tenants/<t>.prev
 *   release  tenant  id                        a directory under releases/<t>/
 *   file     tenant  path  sha256|symlink      every entry of the current release (what is really there)
 *   content  tenant  path  base64              current content of files that differ from what is desired
 *   manifest tenant  current|prev  base64      .clawops/manifest.json of each release
 *   launchd  tenant  exitcode  base64          `launchctl print system/ai.openclaw.<t>`
 *   token    tenant  name  mode  mtime  fp     secrets/<t>/<name> metadata; fp = first 12 hex of its sha256
 *   token    tenant  name  missing
 *   lock     base64                            the node lock file, if any
 *   error    message
 * Secrets are never read except to hash them.
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
if stat -c %a / >/dev/null 2>&1; then fstat() { stat -c '%a %Y' "$1"; }; else fstat() { stat -f '%Lp %m' "$1"; }; fi
b64() { base64 | tr -d '\n'; }
rec() { printf '%s' "$1"; shift; for f in "$@"; do printf '\t%s' "$f"; done; printf '\n'; }
${OPENCLAW_FACTS_SH}
{
  oc_facts "$VARDB/clawops"
  df -Pk "$ETC" 2>/dev/null | awk 'NR == 2 { printf "disk\t%s\t%s\n", $4, $2 }'
  [ -f "$VARDB/clawops/node.lock" ] && rec lock "$(b64 < "$VARDB/clawops/node.lock")"

  # tenants: the ones we expect plus whatever the node has (so unassigned ones are reported)
  { awk -F '\t' '$1 == "T" { print $2 }' "$TMP/want"
    if [ -d "$ETC/tenants" ]; then ls -A "$ETC/tenants" 2>/dev/null | sed -n -e '/^\./d' -e 's/\.prev$//' -e '/\.tmp/d' -e 'p'; fi
  } | sort -u > "$TMP/tenants"
  while IFS= read -r t; do
    [ -n "$t" ] || continue
    for slot in current prev; do
      l="$ETC/tenants/$t"; [ $slot = prev ] && l="$l.prev"
      if [ -L "$l" ]; then
        tgt=$(readlink "$l"); rec link "$t" $slot "$tgt"
        case $tgt in /*) d=$tgt ;; *) d="$ETC/tenants/$tgt" ;; esac
        [ -f "$d/.clawops/manifest.json" ] && rec manifest "$t" $slot "$(b64 < "$d/.clawops/manifest.json")"
        if [ $slot = current ] && [ -d "$d" ]; then
          ( cd "$d" && find . -type f -exec $SHA {} + 2>/dev/null ) | awk -v t="$t" '{ h = $1; sub(/^[0-9a-f]+ [ *]?\.\//, ""); printf "file\t%s\t%s\t%s\n", t, $0, h }' > "$TMP/have"
          ( cd "$d" && find . -type l 2>/dev/null ) | awk -v t="$t" '{ sub(/^\.\//, ""); printf "file\t%s\t%s\tsymlink\n", t, $0 }' >> "$TMP/have"
          cat "$TMP/have"
          # old content of files that differ from the desired release, for unified diffs
          awk -F '\t' -v t="$t" 'NR == FNR { if ($1 == "F" && $2 == t) want[$3] = $4; next }
            $4 != "symlink" && $3 != ".clawops/manifest.json" && want[$3] != $4 { print $3 }' "$TMP/want" "$TMP/have" |
          while IFS= read -r f; do
            sz=$(wc -c < "$d/$f" 2>/dev/null | tr -d ' '); [ -n "$sz" ] || sz=0
            [ "$sz" -le 262144 ] && rec content "$t" "$f" "$(b64 < "$d/$f")"
          done
        fi
      elif [ -e "$l" ]; then
        rec error "$l exists but is not a symlink"
      fi
    done
    if [ -d "$ETC/releases/$t" ]; then
      ls -A "$ETC/releases/$t" 2>/dev/null | while IFS= read -r r; do rec release "$t" "$r"; done
    fi
    out=$(launchctl print "system/ai.openclaw.$t" 2>&1); rc=$?
    rec launchd "$t" $rc "$(printf '%s' "$out" | b64)"
    for name in token.current token.next; do
      s="$VARDB/secrets/$t/$name"
      if [ -f "$s" ]; then
        meta=$(fstat "$s" 2>/dev/null | tr ' ' '\t')
        fp=$($SHA < "$s" 2>/dev/null | cut -c1-12)
        printf 'token\t%s\t%s\t%s\t%s\n' "$t" "$name" "$meta" "$fp"
      else
        rec token "$t" "$name" missing
      fi
    done
  done < "$TMP/tenants"
} | awk -F '\t' '
  function esc(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/[\001-\037]/, " ", s); return s }
  BEGIN { printf "{\"v\":1,\"records\":[" }
  { printf "%s[", (NR > 1 ? "," : ""); for (i = 1; i <= NF; i++) printf "%s\"%s\"", (i > 1 ? "," : ""), esc($i); printf "]" }
  END { printf "]}\n" }'
`;
