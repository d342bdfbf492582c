/**
 * The ONE remote command of an observe pass: a portable POSIX sh script (dash, bash-as-sh on macOS; BSD and GNU
 * userlands) that prints one JSON document describing the node. Runs as `sh -c SCRIPT clawops-observe ETC VARDB`;
 * stdin carries what the planner expects, one record a line:
 *   T<TAB>tenant                     a tenant assigned to this node
 *   F<TAB>tenant<TAB>path<TAB>sha256 a file of the tenant's desired release
 *   S<TAB>tenant<TAB>name            a secret file the tenant's release references
 *   O<TAB>full                       (optional) every file record even of tenants in sync (no insync summary)
 * so the node can send back the old content of exactly the files that differ (for unified diffs) and nothing else,
 * and sum up in one record a tenant whose current release is exactly the desired one.
 * stdin is read only after the costly part (the walk and hashing of every linked release, launchd, the daemon's
 * hash), so a client may start the command before it knows what to expect and send stdin later (diff's early
 * logins); nothing before that point reads stdin, and no content is sent before it is known what is desired.
 *
 * It reads only what clawops owns (node-tree-sh.ts): a tenant whose links or release dirs are anything else is
 * reported as `unexpected` and nothing of it is read; content is sent only of files clawops writes (paths of the
 * desired release), never of anything else found on the node (only its size).
 *
 * Output: {"v":1,"records":[[kind, field…], …]} where kind is one of
 *   now       epoch                            the node's clock
 *   answer    full|kept  epoch                 full: everything below was read now; kept: nothing under the roots
 *                                              changed since the full answer of that time, which is sent again
 *                                              (cache_fresh) with the live records (now, answer, version, daemon,
 *                                              disk, svc, launchd-list) read afresh
 *   version   exitcode  first-line-of-`openclaw --version`  cached(0|1)
 *   daemon    path  sha256                     the file `openclaw` resolves to
 *   disk      free-kb  total-kb                for ETC
 *   link      tenant  current|prev  target     tenants/<t>[.prev] (only clawops' own form: ../releases/<t>/<id>)
 *   relok     tenant  current|prev  0|1        the link's release is complete (manifest + every hash)
 *   release   tenant  id                       a release directory under releases/<t>/
 *   insync    tenant  manifest-sha256          the current release is complete and its manifest lists exactly the F
 *                                              lines (every one of those files there with that hash): stands for a
 *                                              file record of each F line and of the manifest (report() below)
 *   file      tenant  path  sha256|symlink     every entry of the current release with a safe name (of a tenant in
 *                                              sync: only those that are not F lines)
 *   unsafe    tenant  path                     an entry of the current release whose name is outside the safe
 *                                              set (tabs/newlines shown as '?'; never parsed further)
 *   fsize     tenant  path  bytes              size of a differing file clawops did not write
 *   content   tenant  path  base64             current content of desired files that differ from what is desired
 *   manifestj tenant  current|prev  json       .clawops/manifest.json of each release (its lines joined); of a
 *                                              tenant in sync, and of a .prev release in clawops' own form, without
 *                                              the entries of its "files" block
 *   unexpected tenant|''  message              something clawops does not own where it acts; left alone
 *   leftover  templink|staging|want|intent|scratch  name   what a killed or failed run left behind
 *   intent    base64                           a pending swap record of a run that did not finish
 *   svc       label  pid  last-exit            an ai.openclaw.* service in `launchctl print system`
 *   launchd-list  exitcode                     `launchctl print system` failed (no service state known)
 *   token     tenant  name  mode  mtime  fp    secrets/<t>/<name> metadata; fp = first 12 hex of its sha256
 *   token     tenant  name  missing|link|dirlink  (token.current, token.next and every other referenced secret;
 *                                             link/dirlink: the file / the tenant's secrets dir a symlink, never followed)
 *   nodeunit  label  sha256                    a node-level unit installed in LD (the notifier)
 *   run       tenant  json                     the gateway wrapper's record: pid, release_id, commit, tag
 *   guard     run  deadline-epoch  tenants     a pending dead-man guard
 *   quarantined tenant  id  json               a release rolled back automatically, not applied again
 *   lock      base64                           the node lock file, if any
 *   error     message
 * Secrets are never read except to hash them.
 *
 * Cost matters (it runs on every node on every pass): the work is done in bulk, a fixed number of processes per node
 * whatever the number of tenants (24 on an in-sync node with 10 tenants and launchctl, 8 of them oc_facts'; it was 53
 * before manifests, hashes and differences shared one awk, and services, node units, run records, tokens and the JSON
 * another; rsync -c -n needs 6): one readlink for every link, two finds and one hash run for every file of every
 * linked release, one awk (report) for every manifest, release verdict and difference, one `launchctl print system`
 * (started first, in the background) for every service, one `stat` and one hash for every token, one awk for stdin
 * and one for the JSON and everything read from files at the end. Only files that differ cost a process each. Hashing is not where the time goes (560 files of 10 tenants'
 * current and .prev releases: ~6 ms CPU over the find alone, ~3 ms over a stat of each, bench host), processes are
 * (~1 ms each): a node-side hash cache keyed by stat data would save ~3 ms a node, so there is none.
 */
import { createHash } from 'node:crypto';
import { NODE_TREE_SH } from '../node-tree-sh.js';
import { OPENCLAW_FACTS_SH } from '../openclaw-sh.js';

/** how much of one intent file observe reads (the script reads one byte more, to tell a file cut short) */
export const INTENT_READ_BYTES = 65536;

/**
 * Comment lines (shell and awk alike: a line whose first non-blank character is #) are for readers here, not for the
 * node: dropped from what every observe sends (~35 % of the bytes; the shell's parse of the rest is well under 1 ms).
 */
const withoutComments = (sh: string): string => sh.replace(/^[ \t]*#.*\n/gm, '');

/**
 * The records a kept answer reads afresh every time (the clock, the answer's kind, openclaw, the disk, launchd): never
 * kept (cache_write), sent first (svc last) by a kept answer, and what reparse.ts parses of it.
 */
export const LIVE_KINDS = ['now', 'answer', 'version', 'daemon', 'disk', 'svc', 'launchd-list'] as const;

/**
 * awk functions of both programs that print the JSON (the full answer's and the kept one's): a record (tab-separated
 * fields) as a JSON array of strings, and one line of `launchctl print system` (its services block: pid, last exit
 * status, label of every ai.openclaw.* service) given to the program's own out() as a svc record.
 */
const AWK_JSON = String.raw`
  function esc(s) { gsub(/\\/, "&&", s); gsub(/"/, "\\\"", s); gsub(/[\001-\037]/, " ", s); return s }
  function elem(r,   f, n, i, j) {
    n = split(r, f, "\t"); j = "["
    for (i = 1; i <= n; i++) j = j (i > 1 ? ",\"" : "\"") esc(f[i]) "\""
    return j "]"
  }
  function domain(l,   a) {
    if (l ~ /^\tservices = \{/) { insvc = 1; return }
    if (insvc && l ~ /^\t\}/) insvc = 0
    if (insvc) { split(l, a, " "); if (a[3] ~ /^ai\.openclaw\./) out("svc\t" a[3] "\t" a[1] "\t" a[2]) }
  }`;

const BODY = withoutComments(String.raw`
set -u
ETC=$1; VARDB=$2; LD=${"$"}{3:-/Library/LaunchDaemons}; MODE=${"$"}{4:-}
PATH="$PATH:/usr/local/bin:/opt/homebrew/bin"
export PATH LC_ALL=C
if command -v sha256sum >/dev/null 2>&1; then SHA="sha256sum"; else SHA="shasum -a 256"; fi
# mode, mtime, name of files: GNU stat -c, else (BSD: -c is not an option, nothing printed) stat -f; no process spent
# finding out which beforehand. A GNU stat that printed something keeps it (a file gone meanwhile fails alone).
fstat() { stat -c '%a	%Y	%n' "$@" 2>/dev/null || [ -s "$TMP/tstat" ] || stat -f '%Lp	%m	%N' "$@" 2>/dev/null; }
b64() { base64 | tr -d '\n'; }
rec() { printf '%s' "$1"; shift; for f in "$@"; do printf '\t%s' "$f"; done; printf '\n'; }
${OPENCLAW_FACTS_SH}${NODE_TREE_SH}
read_links() {
  # the links tenants/<t> and tenants/<t>.prev of every tenant, read in ONE readlink call (one target a line; tabs as
  # '?'), joined per tenant into $TMP/tl: tenant, then for current and prev n (not a symlink) or l<target>. When
  # the lines do not match the links (a target with a newline, a link replaced meanwhile, a readlink that takes one
  # file only), one readlink a link instead, newlines and tabs as '?' (what shown() prints of them anyway).
  _rl_in=$1; _rl_out=$2
  set --
  : > "$TMP/lnames"
  while IFS= read -r t; do
    is_safe "$t" || continue
    for s in '' .prev; do
      if [ -L "$L/$t$s" ]; then set -- "$@" "$L/$t$s"; printf '%s\t%s\n' "$t" "$s" >> "$TMP/lnames"; fi
    done
  done < "$_rl_in"
  : > "$TMP/ltargets"
  [ $# -gt 0 ] && readlink "$@" > "$TMP/ltargets" 2>/dev/null
  if ! awk -F '\t' -v T="$_rl_in" -v N=$# '
    FILENAME == ARGV[1] { k++; nm[k] = $1 SUBSEP $2; next }
    { j++; gsub(/\t/, "?"); tg[j] = $0 }
    END {
      if (j != N || k != N) exit 1
      for (i = 1; i <= k; i++) lk[nm[i]] = "l" tg[i]
      while ((getline t < T) > 0) {
        c = ((t SUBSEP "") in lk) ? lk[t SUBSEP ""] : "n"; p = ((t SUBSEP ".prev") in lk) ? lk[t SUBSEP ".prev"] : "n"
        printf "%s\t%s\t%s\n", t, c, p
      }
    }' "$TMP/lnames" "$TMP/ltargets" > "$_rl_out" 2>/dev/null; then
    : > "$_rl_out"
    while IFS= read -r t; do
      is_safe "$t" || continue
      c=n; p=n
      [ -L "$L/$t" ] && c=l$(printf '%s' "$(readlink "$L/$t")" | tr '\t\n' '??')
      [ -L "$L/$t.prev" ] && p=l$(printf '%s' "$(readlink "$L/$t.prev")" | tr '\t\n' '??')
      printf '%s\t%s\t%s\n' "$t" "$c" "$p" >> "$_rl_out"
    done < "$_rl_in"
  fi
}
disk_rec() {
  # df's second line (-P: one line a file system), split by the shell: no file, no other process
  _df=$(df -Pk "$ETC" 2>/dev/null) || _df=''
  case $_df in
    *"
"*) _df=${"$"}{_df#*"
"}; _df=${"$"}{_df%%"
"*}; set -f; set -- $_df; set +f; [ $# -ge 4 ] && rec disk "$4" "$2" ;;
  esac
  return 0
}
cache_fresh() {
  # Whether the last full answer, kept in $C/cache (cache_write), may stand: its header. The cache holds
  #   line 1  the script's version CV, a tab, the time T0 (epoch seconds) the answer started
  #   line 2  the paths and roots ($ROOTS: each root's physical path, so a link above a root re-pointed is a change)
  #   then    the stdin it answered, one '+'-prefixed line a line; '--'
  #   then    its records except the live ones (clock, openclaw, disk, launchd: asked afresh every time), one JSON
  #           element a line; and a last line '--end', a tab, how many records (a cut or edited cache is refused)
  # It stands when
  #   - it is this script's, for these paths and roots, at most CACHE_MAX_AGE seconds old; one from the future is
  #     removed (the clock went back: once it caught up, changes made meanwhile would look older than it);
  #   - stdin is byte for byte the stdin of that answer (same desired state, same options): the kept awk;
  #   - AFTER stdin was read (so the kept answer is no older than what a full answer reads last), nothing under the
  #     roots changed since T0 - 1 s (cache_unchanged): no file, directory or link there has a status-change time
  #     (ctime: any write, chmod, rename, link or unlink in a directory, touch; no one sets it back but the clock)
  #     newer than $C/ref.T0, whose mtime is T0 - 1 s, and ref.T0 itself was not touched after the cache was written.
  #     T0 is the whole second the full answer started in, before it read anything; any change after that start has a
  #     ctime after T0 - 1 s even on a file system with whole-second times or a clock read a tick late. A change in
  #     the second or so before a full answer makes the next answers full ones too (they cannot tell it from a change
  #     after the reading) until a second has passed: harmless.
  # Sets _ck _h1 _h2 _t0 _rf. Any doubt (a missing or odd file) is a no.
  _ck="$C/cache"
  real_dir "$C" && [ -f "$_ck" ] && [ ! -L "$_ck" ] || return 1
  { IFS= read -r _h1 && IFS= read -r _h2; } < "$_ck" || return 1
  case $_h1 in "$CV	"*) _t0=${"$"}{_h1#"$CV	"} ;; *) return 1 ;; esac
  case $_t0 in ''|0*|*[!0-9]*) return 1 ;; esac
  [ ${"$"}{#_t0} -le 12 ] && [ "$_h2" = "$ROOTS" ] || return 1
  if [ "$NOW" -lt "$_t0" ]; then rm -f "$_ck" 2>/dev/null; return 1; fi
  [ $((NOW - _t0)) -le $CACHE_MAX_AGE ] || return 1
  _rf="$C/ref.$_t0"
  [ -f "$_rf" ] && [ ! -L "$_rf" ]
}
cache_unchanged() {
  # (args: the roots, real directories: nothing is followed, a link anywhere below is checked as a link) ONE find:
  # ref.T0 changed after the cache was written, or anything under the roots (but the cache dir) after ref.T0
  _ch=$(find "$_rf" "$@" \( -path "$_rf" \( -cnewer "$_ck" -print -quit -o -prune \) \) -o \( -path "$C" -prune \) -o \( -cnewer "$_rf" -print -quit \) 2>/dev/null) || return 1
  [ -z "$_ch" ]
}
cache_write() {
  # after a full answer (stdin in $TMP/want, the records to keep in $TMP/static, each ended by its writer with a
  # count: a piece cut short by a full scratch dir is not kept): kept for the next observes, with a reference file
  # dated T0 - 1 s (cache_fresh). Files made 0600 in a 0700 dir (the records name secrets' fingerprints), never
  # through a link (noclobber: O_EXCL), renamed into place so a reader sees one whole file. Anything failing
  # (read-only, full disk, a cache or ref that is not a plain file, no date/touch that can do this) leaves no cache:
  # the next observe is a full one.
  real_dir "$C" || { [ ! -e "$C" ] && [ ! -L "$C" ] && mkdir -m 700 "$C" 2>/dev/null && real_dir "$C"; } || return 0
  if [ -L "$C/cache" ] || { [ -e "$C/cache" ] && [ ! -f "$C/cache" ]; }; then return 0; fi
  # (the last thing before the script exits: umask and noclobber stay)
  umask 077; set -C
  _ok=
  # the ref: made here (O_EXCL) or one a concurrent observe of this same second made, a plain file either way
  # (true, not ':': a redirection that fails on a special builtin ends a POSIX shell); dated by GNU touch -d @epoch,
  # else (BSD) by touch -t with the time date -r formats
  { true > "$C/ref.$NOW"; } 2>/dev/null
  _rok=
  if [ -f "$C/ref.$NOW" ] && [ ! -L "$C/ref.$NOW" ]; then
    if touch -d "@$((NOW - 1))" "$C/ref.$NOW" 2>/dev/null; then _rok=1
    else
      _ts=$(date -u -r "$((NOW - 1))" +%Y%m%d%H%M.%S 2>/dev/null)
      case $_ts in [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9].[0-9][0-9]) TZ=UTC0 touch -t "$_ts" "$C/ref.$NOW" 2>/dev/null && _rok=1 ;; esac
    fi
  fi
  if [ -n "$_rok" ]; then
    if awk -v H="$CV	$NOW" -v R="$ROOTS" -v W="$TMP/want" -v S="$TMP/static" '
      BEGIN {
        print H; print R
        while ((getline l < W) > 0) { if (l ~ /^#end\t/) { wt = 1; we = substr(l, 6) + 0; break } print "+" l; nw++ }
        print "--"
        while ((getline l < S) > 0) { if (l ~ /^--end\t/) { st = 1; se = substr(l, 7) + 0; break } print l; ns++ }
        if (!wt || !st || we != nw || se != ns) exit 1
        printf "--end\t%d\n", ns
      }' > "$C/cache.$$" 2>/dev/null && mv -f "$C/cache.$$" "$C/cache" 2>/dev/null; then _ok=1; fi
  fi
  # what this and killed observes left: other refs (once two have piled up: one rm every other full answer), and
  # cache.<pid> of an observe no longer running
  set --
  _old=0
  for _f in "$C"/ref.* "$C"/cache.*; do
    [ -f "$_f" ] || [ -L "$_f" ] || continue
    case $_f in
      "$C/ref.$NOW") [ -n "$_ok" ] && continue ;;
      "$C"/ref.*) _old=$((_old + 1)) ;;
      "$C"/cache.*) _p=${"$"}{_f##*.}; case $_p in ''|*[!0-9]*) continue ;; esac; [ "$_p" != $$ ] && kill -0 "$_p" 2>/dev/null && continue ;;
    esac
    set -- "$@" "$_f"
  done
  [ $# -eq 0 ] || { [ $# -eq 1 ] && [ $_old -eq 1 ] && [ -n "$_ok" ]; } || rm -f "$@" 2>/dev/null
  return 0
}
walk_tenants() {
  _wt_in=$1; _wt_s=$2
  # per tenant: ownership first; only a tenant whose tree is clawops' own is read any further. No process is started
  # here (the links were read above; whether each release is complete is decided after stdin, from one hash pass).
  while IFS='	' read -r t lc lp; do
    is_safe "$t" || continue
    tenant_refusal_t "$t" "$lc" "$lp"
    if [ -n "$why" ]; then rec unexpected "$t" "$why"; continue; fi
    for slot in current prev; do
      if [ $slot = current ]; then lk=$lc; else lk=$lp; fi
      case $lk in l*) ;; *) continue ;; esac
      id=${"$"}{lk#l}; id=${"$"}{id#"../releases/$t/"}
      rec link "$t" "$slot" "../releases/$t/$id"
      R="$ETC/releases/$t/$id"
      real_dir "$R" || continue
      [ $slot = current ] && printf '%s\t%s\n' "$t" "$R" >> "$TMP/dirs$_wt_s"
      printf '%s\t%s\t%s\n' "$t" "$slot" "$R" >> "$TMP/rels$_wt_s"
      M="$R/.clawops/manifest.json"
      real_dir "$R/.clawops" && [ -f "$M" ] && [ ! -L "$M" ] && printf '%s\t%s\t%s\n' "$t" "$slot" "$M" >> "$TMP/manifests$_wt_s"
    done
    if real_dir "$ETC/releases/$t"; then
      for e in "$ETC/releases/$t"/* "$ETC/releases/$t"/.[!.]* "$ETC/releases/$t"/..?*; do
        [ -e "$e" ] || [ -L "$e" ] || continue
        n=${"$"}{e##*/}
        if is_id "$n" && real_dir "$e"; then rec release "$t" "$n"
        elif is_safe "$n" && real_dir "$e" && is_id "${"$"}{n%%.tmp-*}" && case $n in *.tmp-*) true ;; *) false ;; esac; then rec leftover staging "$t/$n"
        else rec unexpected "$t" "$ETC/releases/$t/$(shown "$n") is not a release clawops made (left alone)"; fi
      done
    fi
  done < "$_wt_in"
}
hash_releases() {
  # what is really in every linked release (current and prev): ONE find and ONE hash run for all of them. No -H/-L:
  # nothing is followed (a file under a linked directory is not reached, so it is missing); names outside the safe
  # set are pruned from the hashing, and those, symlinks and files with more than one link (a hard link: clawops never
  # makes one, so its content may be anything, a secret elsewhere on the node) of the current releases are listed by
  # the second find, NUL-separated. The sums are read by report() once stdin has said what is desired.
  _hr_s=$1
  set --
  while IFS='	' read -r t slot d; do set -- "$@" "$d"; done < "$TMP/rels$_hr_s"
  : > "$TMP/sums$_hr_s"; : > "$TMP/odd$_hr_s"
  if [ $# -gt 0 ]; then
    find "$@" -name '*[!A-Za-z0-9._-]*' -prune -o -type f -exec $SHA {} + > "$TMP/sums$_hr_s" 2>/dev/null
    set --
    while IFS='	' read -r t d; do set -- "$@" "$d"; done < "$TMP/dirs$_hr_s"
    [ $# -gt 0 ] && find "$@" \( -name '*[!A-Za-z0-9._-]*' -prune -exec printf 'U%s\0' {} + \) -o \( -type l -exec printf 'L%s\0' {} + \) -o \( -type f -links +1 -exec printf 'H%s\0' {} + \) 2>/dev/null | tr '\t\n\0' '??\n' > "$TMP/odd$_hr_s"
  fi
}
report() {
  # ONE awk for every linked release, after stdin: from the sums, whether each release is complete (relok:
  # release_ok's verdict: its manifest a regular file in a real .clawops/, every "path": "sha256" line of its "files"
  # well-formed, no absolute or .. path, and every file it lists there, reached without a link, with that hash), each
  # manifest (manifestj), what is in each current release (file, unsafe) and, into $TMP/diffs, the files whose old
  # content or size is sent.
  # Compact (unless stdin asks 'O full'): a tenant whose current release is complete and whose manifest lists exactly
  # the desired files (F lines: same paths, same hashes) is one 'insync' record instead of a file record for each of
  # those files; its manifestj is sent without the "files" entries (the parser puts the F lines back: they are what
  # the manifest lists). Only when that is provably the same document: the manifest's "files" block in clawops' own
  # form (an opening line exactly '  "files": {', one '    "path": "sha256"' entry a line, commas between, closing
  # '  }'/'  },'), no other line naming "files" and no backslash anywhere (no escaped key can spell it). Files that are
  # not desired (added by hand, symlinks, unsafe names) are still reported one by one. The same form lets a .prev
  # manifest be sent without its file list (nothing reads it: rollback is judged here, relok).
  awk -F '\t' -v S="$TMP/sums" -v Y="$TMP/odd" -v MF="$TMP/manifests" -v W="$TMP/want" -v DF="$TMP/diffs" '
    function owner(p,   i) { for (i = 1; i <= nd; i++) if (index(p, dir[i] "/") == 1) { rel = substr(p, length(dir[i]) + 2); return ten[i] } return "" }
    # the manifest m of tenant t: its lines in ml[1..nl]; canon = its "files" block in the form described above
    # (its entry lines in fl[1..fe]) with no other mention of "files" and no backslash
    function readman(m,   l, f, o) {
      nl = 0; canon = 1; f = 0; o = 0; fe = 0
      while ((getline l < m) > 0) {
        # a line past 64 KiB is cut (the manifest then no longer parses: not clawops' own as it is), never sent whole
        if (length(l) > 65536) { l = substr(l, 1, 65536); canon = 0 }
        ml[++nl] = l; if (nl > 4096) canon = 0
        if (index(l, "\\")) canon = 0
        if (l == "  \"files\": {" && !o) { o = 1; f = 1; bo = nl; continue }
        if (f && (l == "  }" || l == "  },")) { f = 0; bc = nl; continue }
        if (f) {
          if (l !~ /^    "[A-Za-z0-9._\/-]+": "[0-9a-f]+",?$/) canon = 0
          fe++; fl[fe] = l; continue
        }
        if (index(l, "files")) canon = 0
      }
      close(m)
      if (!o || f || fe == 0) canon = 0
      for (i2 = 1; canon && i2 <= fe; i2++) if ((i2 < fe) != (substr(fl[i2], length(fl[i2])) == ",")) canon = 0
    }
    function joined(strip,   j, i, n) {
      j = ""; n = 0
      for (i = 1; i <= nl && i <= 4096; i++) { if (strip && i > bo && i < bc) continue; j = j (n++ ? " " : "") ml[i] }
      gsub(/\t/, " ", j); return j
    }
    $2 == "current" { nd++; ten[nd] = $1; dir[nd] = $3; cur[$1] = $3 }
    { nr++; rt[nr] = $1; rs[nr] = $2; rd[nr] = $3 }
    END {
      while ((getline l < W) > 0) {
        split(l, a, "\t")
        if (a[1] == "F") { k = a[2] SUBSEP a[3]; if (!(k in want)) nw[a[2]]++; want[k] = a[4] }
        else if (a[1] == "O" && a[2] == "full") full = 1
      }
      while ((getline line < S) > 0) {
        h = substr(line, 1, 64); p = substr(line, 67)
        if (p in sum) continue
        sum[p] = h
        t = owner(p); if (t != "") { nf++; ft[nf] = t; fr[nf] = rel; fs[nf] = h }
      }
      while ((getline line < Y) > 0) {
        k = substr(line, 1, 1); t = owner(substr(line, 2)); if (t == "") continue
        # a hard-linked file: its hash is reported as any file's, its content never (not clawops' own bytes)
        if (k == "H") { hl[t SUBSEP rel] = 1; continue }
        no++; ot[no] = t; orl[no] = rel; ok2[no] = k
      }
      while ((getline m < MF) > 0) { split(m, a, "\t"); man[a[1] SUBSEP a[2]] = a[3] }
      for (i = 1; i <= nr; i++) {
        t = rt[i]; k = t SUBSEP rs[i]; ok = (k in man); c = 0; same = 0
        if (ok) {
          readman(man[k])
          # release_ok: every "path": "sha256" line of the block, as the node-tree check reads it
          f = 0; same = (rs[i] == "current" && !full && canon && (t in nw))
          for (x = 1; x <= nl; x++) {
            l = ml[x]
            if (l ~ /^  "files": \{/) { f = 1; continue }
            if (f && l ~ /^  \}/) f = 0
            if (!f) continue
            gsub(/^ +"|",?$/, "", l); n = index(l, "\": \""); if (n == 0) { ok = 0; break }
            p = substr(l, 1, n - 1); h = substr(l, n + 4)
            if (p ~ /(^|\/)\.\.(\/|$)/ || p ~ /^\//) { ok = 0; break }
            c++
            if (!((rd[i] "/" p) in sum) || sum[rd[i] "/" p] != h) { ok = 0; break }
            if (same && (!((t SUBSEP p) in want) || want[t SUBSEP p] != h || ((t SUBSEP p) in seen))) same = 0
            if (same) seen[t SUBSEP p]
          }
          if (c == 0) ok = 0
          # what the current manifest lists (as far as its block is well-formed): a file it lists with these bytes
          # is clawops own even when the desired release no longer has it
          if (rs[i] == "current") {
            f = 0
            for (x = 1; x <= nl; x++) {
              l = ml[x]
              if (l ~ /^  "files": \{/) { f = 1; continue } if (f && l ~ /^  \}/) break
              if (f) { gsub(/^ +"|",?$/, "", l); n = index(l, "\": \""); if (n > 0) mfh[t SUBSEP substr(l, 1, n - 1)] = substr(l, n + 4) }
            }
          }
          if (same && (!ok || c != nw[t] || c != fe)) same = 0
          if (same) insync[t] = sum[rd[i] "/.clawops/manifest.json"]
          if (nl > 0) printf "manifestj\t%s\t%s\t%s\n", t, rs[i], joined(same || (rs[i] == "prev" && !full && canon))
          for (x = 1; x <= nl; x++) delete ml[x]
        }
        printf "relok\t%s\t%s\t%d\n", t, rs[i], ok
      }
      for (t in insync) printf "insync\t%s\t%s\n", t, insync[t]
      for (i = 1; i <= nf; i++) {
        t = ft[i]; p = fr[i]; k = t SUBSEP p
        if (!(t in insync) || (!(k in want) && p != ".clawops/manifest.json")) printf "file\t%s\t%s\t%s\n", t, p, fs[i]
        if (p == ".clawops/manifest.json" || ((k in want) && want[k] == fs[i])) continue
        # clawops own: a path of the desired release, or an unmodified file the current release manifest lists
        ours = !(k in hl) && ((k in want) || ((k in mfh) && mfh[k] == fs[i]))
        printf "%s\t%s\t%s/%s\t%s\n", t, p, cur[t], p, (ours ? "ours" : "other") > DF
      }
      for (i = 1; i <= no; i++) printf "%s\t%s\t%s\n", (ok2[i] == "L" ? "file" : "unsafe"), ot[i], orl[i] (ok2[i] == "L" ? "\tsymlink" : "")
    }' "$TMP/rels"
}
NOW=$(date +%s)
D="$VARDB/clawops"
C="$D/observe"
IN=-
CACHEABLE=1
# the cache dir is pruned from the walk by a -path pattern: only where its name is plain; a 4th argument 'verify' skips
# the kept answer (a full observe, whose answer is kept as always)
case $C in *[!A-Za-z0-9._/-]*) CACHEABLE= ;; esac
real_dir "$D" || CACHEABLE=
# what an unchanged answer depends on, besides stdin: every file under these real directories (those that exist now;
# the list is part of the cache's key, so one appearing or going away is a change). A root that is a link (or not a
# directory) would hide what is behind it from the walk: no kept answer on such a node.
set --
for r in "$ETC" "$D" "$VARDB/secrets" "$LD"; do
  if real_dir "$r"; then set -- "$@" "$r"
  elif [ -e "$r" ] || [ -L "$r" ]; then CACHEABLE=
  fi
done
# each root with its physical path (one subshell for all): a link above a root re-pointed elsewhere is another key
ROOTS=$(_pwd=$PWD; for r in "$@"; do cd -P -- "$r" 2>/dev/null && printf '\t%s\t%s' "$r" "$PWD"; cd -- "$_pwd" 2>/dev/null; done)
ROOTS="$ETC	$VARDB	$LD	$ROOTS"
NL='
'
# openclaw's version line is cached (oc_facts) in the cache dir, which the walk skips: a kept answer that asked a new
# openclaw for its version is not undone by its own write (apply keeps its own in clawops/)
if [ -n "$CACHEABLE" ] && [ ! -e "$C" ] && [ ! -L "$C" ]; then mkdir -m 700 "$C" 2>/dev/null; fi
# (none when clawops' dir is not a real one: nothing is written through a link)
if real_dir "$D" && real_dir "$C"; then OCD=$C; elif real_dir "$D"; then OCD=$D; else OCD=''; fi

KEPT_IN=
unset LIVE DOM
# (the walk, cache_unchanged, runs once, after stdin is read: the steady pass's cost is that one walk, ~4 ms of a node's
# ~20 ms CPU. A node that changed finds out there and goes on to the full observe, which reuses launchd's, openclaw's
# and the disk's answers asked here)
if [ -n "$CACHEABLE" ] && [ "$MODE" != verify ] && cache_fresh; then
  # The kept answer: launchd, openclaw, disk and the clock asked now; ONE awk compares stdin with the kept answer's
  # and prints the JSON (the live records, the kept ones, the services), a line '~~' and stdin; on another stdin (or
  # a cache cut short or edited: its count does not match) only '~~' and stdin (exit 3), for the full observe below.
  # Only then, stdin read, the walk (cache_unchanged). No scratch dir: the answer goes through a variable.
  DOM=$(launchctl print system 2>/dev/null < /dev/null); _lrc=$?
  [ $_lrc -eq 0 ] || DOM=''
  FRESH=$(rec now "$NOW"; rec answer kept "$_t0"; oc_facts "$OCD"; disk_rec)
  # openclaw and the disk, asked once: a full observe after this one (another stdin, a change) sends the same lines
  LIVE=${"$"}{FRESH#*"$NL"}; LIVE=${"$"}{LIVE#*"$NL"}
  [ $_lrc -eq 0 ] || FRESH="$FRESH$NL$(rec launchd-list $_lrc)"
  # (launchctl's answer reaches awk in its environment, where Linux takes 128 KiB a variable at most: a larger
  # domain is read by the full observe)
  if [ ${"$"}{#DOM} -le 100000 ]; then
    KEPT=$(DOM=$DOM FRESH=$FRESH awk -v K="$_ck" -v H1="$_h1" -v H2="$_h2" '${AWK_JSON}
      function out(r) { printf "%s%s", (nr++ ? "," : ""), elem(r) }
      BEGIN {
        if ((getline hd1 < K) <= 0 || hd1 != H1 || (getline hd2 < K) <= 0 || hd2 != H2) bad = 1
        while (!bad && (getline l < K) > 0) {
          if (l == "--") { sep = 1; break }
          if (substr(l, 1, 1) != "+") { bad = 1; break }
          w[++n] = substr(l, 2)
        }
        if (!sep) bad = 1
        while (!bad && (getline l < K) > 0) {
          if (l ~ /^--end\t/) { ended = 1; if (substr(l, 7) + 0 != nk) bad = 1; break }
          kept[++nk] = l
        }
        if (!ended) bad = 1
        close(K)
      }
      { inl[++i] = $0; if (i > n || $0 != w[i]) bad = 1 }
      END {
        if (bad || i != n) { print "~~"; for (j = 1; j <= i; j++) print inl[j]; exit 3 }
        printf "{\"v\":1,\"records\":["
        m = split(ENVIRON["FRESH"], fr, "\n"); for (j = 1; j <= m; j++) if (fr[j] != "") out(fr[j])
        for (j = 1; j <= nk; j++) printf "%s%s", (nr++ ? "," : ""), kept[j]
        m = split(ENVIRON["DOM"], dl, "\n")
        for (j = 1; j <= m; j++) domain(dl[j])
        printf "]}\n~~\n"
        for (j = 1; j <= i; j++) print inl[j]
      }'); _krc=$?
    case $_krc in
      0) if cache_unchanged "$@"; then printf '%s\n' "${"$"}{KEPT%%"$NL~~"*}"; exit 0; fi
         KEPT=${"$"}{KEPT#*"$NL~~"} ;;
      3) KEPT=${"$"}{KEPT#"~~"} ;;
      *)
        # stdin is gone: say so (the cache goes, so the next observe is a full one)
        rm -f "$_ck" 2>/dev/null
        echo "observe: the kept answer could not be read (awk exit $_krc)" >&2; exit 1 ;;
    esac
    # what is left is stdin, one line a line after a newline
    KEPT=${"$"}{KEPT#"$NL"}
    KEPT_IN=1
  fi
fi
TMP=$(mktemp -d 2>/dev/null || mktemp -d -t clawops)
if [ -z "$TMP" ] || ! real_dir "$TMP"; then echo "observe: no scratch dir on the node (mktemp -d failed: TMPDIR full or unwritable?)" >&2; exit 1; fi
RT=$TMP
trap 'rm -rf "$TMP"' EXIT
if [ -n "$KEPT_IN" ]; then
  IN="$TMP/in"
  if [ -n "$KEPT" ]; then printf '%s\n' "$KEPT" > "$IN"; else : > "$IN"; fi
fi
# launchd is asked first, in the background (stdin /dev/null): its answer is read at the end, so its start-up overlaps
# everything else instead of adding to it
# (asked already by a kept answer that fell through: that answer is used)
if [ -n "${"$"}{DOM+x}" ]; then
  if [ $_lrc -eq 0 ]; then printf '%s\n' "$DOM" > "$TMP/domain"; else : > "$TMP/domain"; fi
  LAUNCHCTL=
else
  launchctl print system > "$TMP/domain" 2>/dev/null < /dev/null &
  LAUNCHCTL=$!
fi
: > "$TMP/static"
{
  rec now "$NOW"
  rec answer full "$NOW"
  if [ -n "${"$"}{LIVE+x}" ]; then printf '%s\n' "$LIVE"; else oc_facts "$OCD"; disk_rec; fi
  [ -f "$D/node.lock" ] && [ ! -L "$D/node.lock" ] && rec lock "$(head -c 4096 "$D/node.lock" | b64)"
  # what killed or failed runs left behind (clawops' own names are safe; anything else is not ours)
  # (and the scratch files of a run killed while it wrote its intent or took the lock: what the next run removes)
  # (an intent: its first 64 KiB and one byte more, so that the controller knows when it read only a part)
  for e in "$D"/want.* "$D"/intent.* "$D"/.intent.*.tmp "$D"/node.lock.new.* "$D"/node.lock.stale.* "$D"/node.lock.release.*; do
    [ -f "$e" ] && [ ! -L "$e" ] || continue
    n=${"$"}{e##*/}; is_safe "$n" || continue
    case $n in
      want.*) rec leftover want "$n" ;;
      intent.*) rec leftover intent "$n"; rec intent "$(head -c ${INTENT_READ_BYTES + 1} "$e" | b64)" "$n" ;;
      *) rec leftover scratch "$n" ;;
    esac
  done

  # tenants/: every entry by glob (NUL-safe: no listing is parsed); names outside the safe set are reported only.
  # Each tenant once (t and t.prev), deduplicated by the shell: no sort
  L="$ETC/tenants"
  : > "$TMP/tenants"; _seen=' '
  if [ -L "$L" ]; then rec unexpected '' "$L is a symlink ($(shown "$(readlink "$L")")), not a directory clawops owns"
  elif [ -d "$L" ]; then
    for e in "$L"/* "$L"/.[!.]* "$L"/..?*; do
      [ -e "$e" ] || [ -L "$e" ] || continue
      n=${"$"}{e##*/}
      if ! is_safe "$n"; then rec unexpected '' "$L/$(shown "$n") is not a name clawops uses (left alone)"; continue; fi
      case $n in
        .clawops-*) if [ -L "$e" ]; then rec leftover templink "$n"; else rec unexpected '' "$L/$n is not a symlink (left alone)"; fi; continue ;;
        .*) rec unexpected '' "$L/$n is not a name clawops uses (left alone)"; continue ;;
      esac
      n=${"$"}{n%.prev}
      case $_seen in *" $n "*) ;; *) _seen="$_seen$n "; printf '%s\n' "$n" >> "$TMP/tenants" ;; esac
    done
  fi
  [ -L "$ETC/releases" ] && rec unexpected '' "$ETC/releases is a symlink ($(shown "$(readlink "$ETC/releases")")), not a directory clawops owns"
  # and the tenants whose releases/<t> is there without a link (a removal cut short after its links went): walked
  # like the others, so that what is left of them is seen
  if real_dir "$ETC/releases"; then
    for e in "$ETC/releases"/*; do
      real_dir "$e" || continue
      n=${"$"}{e##*/}; is_safe "$n" || continue
      case $_seen in *" $n "*) ;; *) _seen="$_seen$n "; printf '%s\n' "$n" >> "$TMP/tenants" ;; esac
    done
  fi

  : > "$TMP/dirs"; : > "$TMP/rels"; : > "$TMP/manifests"
  read_links "$TMP/tenants" "$TMP/tl"
  walk_tenants "$TMP/tl" ''
  hash_releases ''

  # only now stdin, what the planner expects: the client sends it once it has built the desired state, and all of the
  # above (the costly part) ran meanwhile. Nothing above reads stdin. One awk reads it (kept in $TMP/want for
  # report) and finds the tenants assigned to this node that tenants/ does not have (the same checks follow; usually
  # nothing of theirs to hash), and the secrets to look at: token.current/next of every tenant, and every other secret
  # the desired release references (S lines)
  : > "$TMP/tenants2"; : > "$TMP/want"
  awk -F '\t' -v T2="$TMP/tenants2" -v W="$TMP/want" '
    function once(k) { if (!(k in seen)) { seen[k]; print k } }
    FILENAME == ARGV[1] { have[$0]; if ($0 != "") { once($0 "\ttoken.current"); once($0 "\ttoken.next") } next }
    { print > W; nw++ }
    $1 == "S" { once($2 "\t" $3); next }
    $1 == "T" && !($2 in have) { have[$2]; print $2 > T2; once($2 "\ttoken.current"); once($2 "\ttoken.next") }
    END { printf "#end\t%d\n", nw > W; close(W) }' "$TMP/tenants" "$IN" > "$TMP/secrets.u"
  if [ -s "$TMP/tenants2" ]; then
    : > "$TMP/dirs2"; : > "$TMP/rels2"; : > "$TMP/manifests2"
    read_links "$TMP/tenants2" "$TMP/tl2"
    walk_tenants "$TMP/tl2" 2
    if [ -s "$TMP/rels2" ]; then
      hash_releases 2
      cat "$TMP/sums2" >> "$TMP/sums"; cat "$TMP/odd2" >> "$TMP/odd"; cat "$TMP/rels2" >> "$TMP/rels"
      cat "$TMP/dirs2" >> "$TMP/dirs"; cat "$TMP/manifests2" >> "$TMP/manifests"
    fi
  fi
  : > "$TMP/diffs"
  [ -s "$TMP/rels" ] && report
  # files that differ from the desired release: the old content of clawops' own files (for unified diffs, up to
  # 256 KiB), only the size of anything else
  while IFS='	' read -r t f p whose; do
    # (wc's number without the spaces BSD wc puts before it: the shell's own expansion, no tr)
    sz=$(wc -c < "$p" 2>/dev/null); sz=${"$"}{sz##* }; [ -n "$sz" ] || sz=0
    if [ "$whose" = ours ]; then [ "$sz" -le 262144 ] && rec content "$t" "$f" "$(b64 < "$p")"; else rec fsize "$t" "$f" "$sz"; fi
  done < "$TMP/diffs"

  # node-level units clawops installs (the notifier): their installed plist's hash (one hash run for all)
  set --
  for f in "$LD"/ai.openclaw.clawops.*.plist; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    n=${"$"}{f##*/}; is_safe "$n" || continue
    set -- "$@" "$f"
  done
  : > "$TMP/usha"
  [ $# -gt 0 ] && $SHA "$@" > "$TMP/usha" 2>/dev/null
  # services: what each gateway was started for (the wrapper's run record, read by the awk that writes the JSON), pending dead-man
  # guards, quarantined releases (all clawops' own files; names checked before use)
  : > "$TMP/runs"
  [ -L "$D/run" ] && CACHEABLE=
  for f in "$D/run"/*.json; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    n=${"$"}{f##*/}; t=${"$"}{n%.json}; is_safe "$t" || continue
    printf '%s\t%s\n' "$t" "$f" >> "$TMP/runs"
  done
  for f in "$D"/guard.*; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    n=${"$"}{f##*/}; is_safe "$n" || continue
    # guard.RUN.beat: the heartbeat of a run the guard watches (apply/services-sh.ts), not a guard
    case $n in *.beat) continue ;; esac
    # (and whether its process still runs: 1, 0, or '' when the file names none)
    guard_alive "$f"; case $? in 0) _ga=1 ;; 1) _ga=0 ;; *) _ga='' ;; esac
    # (its first 64 KiB, read once: clawops writes a few lines; the deadline digits, else 0: unknown; the tenants of
    # its 4-field rows)
    _g=$(head -c 65536 "$f" | awk -F '\t' '$1 == "deadline" && $2 ~ /^[0-9]+$/ && length($2) < 16 { d = $2 } NF == 4 { t = t (n++ ? "," : "") $1 } END { printf "%d\t%s", d + 0, t }')
    rec guard "${"$"}{n#guard.}" "${"$"}{_g%%	*}" "${"$"}{_g#*	}" "$_ga"
  done
  if real_dir "$D/quarantine"; then
    for f in "$D/quarantine"/*/*; do
      # a tenant dir that is a link is not followed (what is behind it is not clawops')
      [ -f "$f" ] && [ ! -L "$f" ] && [ ! -L "${"$"}{f%/*}" ] || continue
      id=${"$"}{f##*/}; t=${"$"}{f%/*}; t=${"$"}{t##*/}
      is_safe "$t" && is_id "$id" && rec quarantined "$t" "$id" "$(head -c 1024 "$f" | tr -d '\n\t')"
    done
  fi

  # secrets: metadata and a fingerprint of each, never the content (token.current/next always, and every other
  # secret the desired release references: S lines)
  set --
  while IFS='	' read -r t name; do
    is_safe "$t" && is_safe "$name" || continue
    s="$VARDB/secrets/$t/$name"
    # a secret file or tenant secrets dir that is a link is never followed (the wrapper refuses it): reported as one
    # (and the answer is not kept: what a link names is outside the roots whose changes the cache notices)
    if [ -L "$VARDB/secrets/$t" ]; then CACHEABLE=; rec token "$t" "$name" dirlink
    elif [ -L "$s" ]; then CACHEABLE=; rec token "$t" "$name" link
    elif [ -f "$s" ]; then set -- "$@" "$s"; else rec token "$t" "$name" missing; fi
  done < "$TMP/secrets.u"
  : > "$TMP/tstat"; : > "$TMP/tsha"
  if [ $# -gt 0 ]; then
    fstat "$@" > "$TMP/tstat" 2>/dev/null
    $SHA "$@" > "$TMP/tsha" 2>/dev/null
  fi
  # the rest (services, node units, run records, tokens) is read from these files by the awk that writes the JSON;
  # this last line says the records file was written whole
  echo end
} > "$TMP/recs"
# launchd: every ai.openclaw.* service of the system domain in one call (read by the awk that writes the JSON)
if [ -z "$LAUNCHCTL" ]; then [ $_lrc -eq 0 ] || rec launchd-list $_lrc >> "$TMP/recs"
elif wait "$LAUNCHCTL"; then :; else rec launchd-list $? >> "$TMP/recs"; : > "$TMP/domain"; fi
awk -F '\t' -v DOM="$TMP/domain" -v US="$TMP/usha" -v RUNS="$TMP/runs" -v H="$TMP/tsha" -v TS="$TMP/tstat" -v KEEP="$TMP/static" '${AWK_JSON}
  # every record but the live ones (LIVE_KINDS) is also kept, one JSON element a line, for the node's next answer if
  # nothing changes meanwhile (cache_write)
  function out(r,   j) {
    j = elem(r); printf "%s%s", (nr++ ? "," : ""), j
    if (!(substr(r, 1, index(r "\t", "\t") - 1) in live)) { print j > KEEP; nkeep++ }
  }
  BEGIN { printf "{\"v\":1,\"records\":["; split("${LIVE_KINDS.join(' ')}", lv, " "); for (i in lv) live[lv[i]] }
  # the last line the records file must end with: without it the scratch dir filled up (or failed) while it was written
  $0 == "end" { ended = 1; next }
  { out($0) }
  # once the records above are all written: services (launchctl: pid, last exit status, label; the file is emptied
  # when it failed), node units hashes, run records (the first 4 KiB of each, newlines and tabs dropped), token
  # metadata and fingerprints. One process for all of that and the JSON.
  END {
    while ((getline l < DOM) > 0) domain(l)
    while ((getline l < US) > 0) { n = split(substr(l, 67), a, "/"); sub(/\.plist$/, "", a[n]); out("nodeunit\t" a[n] "\t" substr(l, 1, 64)) }
    while ((getline l < RUNS) > 0) {
      split(l, a, "\t"); r = ""
      while (length(r) < 4096 && (getline x < a[2]) > 0) r = r x "\n"
      close(a[2]); r = substr(r, 1, 4096); gsub(/[\n\t]/, "", r)
      out("run\t" a[1] "\t" r)
    }
    while ((getline l < H) > 0) { p = substr(l, 67); if (substr(l, 66, 1) != "*" && substr(l, 66, 1) != " ") p = substr(l, 66); fp[p] = substr(l, 1, 12) }
    while ((getline l < TS) > 0) { split(l, a, "\t"); n = split(a[3], parts, "/"); out("token\t" parts[n-1] "\t" parts[n] "\t" a[1] "\t" a[2] "\t" fp[a[3]]) }
    printf "]}\n"
    printf "--end\t%d\n", nkeep > KEEP
    if (!ended) { print "observe: the scratch dir on the node filled up (or failed) while the answer was written" > "/dev/stderr"; exit 4 }
  }' "$TMP/recs"
_rc=$?
[ $_rc -eq 0 ] && [ -n "$CACHEABLE" ] && cache_write
exit $_rc
`);

/** How old a node's kept answer may be and still be sent again when nothing changed (cache_fresh): past it, a full observe. */
export const OBSERVE_CACHE_MAX_AGE_S = 300;

/**
 * The script, headed by its own version (a hash of the body: a kept answer is used only by the script that wrote it)
 * and the cache's maximum age.
 */
export const OBSERVE_SCRIPT = `CV=${createHash('sha256').update(BODY).digest('hex').slice(0, 16)} CACHE_MAX_AGE=${OBSERVE_CACHE_MAX_AGE_S}\n${BODY}`;
