/**
 * Shell shared by the observe and apply scripts: what `openclaw` on a node really is.
 * `oc_facts CACHE_DIR` resolves the command to its entry point, hashes it (the lock's daemon hash), and asks
 * `openclaw --version` only when that build is new to CACHE_DIR/openclaw-version.cache (start-up of the CLI costs
 * ~1 s; the hash ~1 ms): the entry point, its package.json and dist/build-info.json (the build's id: a rebuild of the
 * ~7,000 dist files behind an unchanged 25 KB launcher writes a new one) hashed in one run. Needs $SHA and rec();
 * sets $dsha. Prints:
 *   daemon PATH SHA256 BUILD-INFO-SHA256          (the last '' when the package has no dist/build-info.json)
 *   version EXITCODE FIRST-LINE CACHED(0|1)      (version 127 "" 0 when there is no openclaw)
 */
export const OPENCLAW_FACTS_SH = String.raw`
oc_dir() { case $1 in */*) _od=${"$"}{1%/*} ;; *) _od=. ;; esac; }
oc_facts() {
  # runs on every observe: no process but readlink (one a link) and ONE hash run for the entry point and its
  # package.json; dirname, cut and the cache lookup are the shell's own
  dsha=""; _opsha=""; _obsha=""
  oc=$(command -v openclaw 2>/dev/null || true)
  if [ -z "$oc" ]; then rec version 127 "" 0; return 0; fi
  p=$oc; n=0
  while [ -L "$p" ] && [ $n -lt 40 ]; do
    t=$(readlink "$p"); case $t in /*) p=$t ;; *) oc_dir "$p"; p=$_od/$t ;; esac; n=$((n+1))
  done
  oc_dir "$p"; _opj=$_od/package.json; _obi=$_od/dist/build-info.json
  _osums=$($SHA "$p" "$_opj" "$_obi" 2>/dev/null)
  while IFS= read -r _ol; do
    _oh=${"$"}{_ol%% *}
    case $_oh in *[!0-9a-f]*|'') continue ;; esac
    [ ${"$"}{#_oh} -eq 64 ] || continue
    case $_ol in "$_oh  $p"|"$_oh *$p") dsha=$_oh ;; "$_oh  $_opj"|"$_oh *$_opj") _opsha=$_oh ;; "$_oh  $_obi"|"$_oh *$_obi") _obsha=$_oh ;; esac
  done <<OC_SUMS
$_osums
OC_SUMS
  rec daemon "$p" "$dsha" "$_obsha"
  key="$dsha:$_opsha:$_obsha"
  # (no cache dir given: asked every time, kept nowhere)
  cache=''; [ -n "$1" ] && cache="$1/openclaw-version.cache"; line=""
  if [ -n "$cache" ] && [ -f "$cache" ] && [ ! -L "$cache" ]; then
    n=0
    while [ $n -lt 64 ] && IFS='	' read -r _ok _ov; do
      n=$((n+1))
      # (a kept line longer than a fresh one can be was not written here: asked again)
      if [ "$_ok" = "$key" ]; then line=${"$"}{_ov%%	*}; [ ${"$"}{#line} -le 512 ] || line=''; break; fi
    done < "$cache"
  fi
  if [ -n "$line" ]; then rec version 0 "$line" 1; return 0; fi
  line=$(openclaw --version </dev/null 2>/dev/null); rc=$?
  # (its first line, at most 512 bytes: what a node's openclaw prints goes into status lines)
  line=$(printf '%s\n' "$line" | awk 'NR == 1 { print substr($0, 1, 512); exit }')
  rec version "$rc" "$line" 0
  case $line in OpenClaw*) [ -n "$cache" ] && [ -d "$1" ] && [ -w "$1" ] && printf '%s\t%s\n' "$key" "$line" > "$cache.tmp.$$" && mv -f "$cache.tmp.$$" "$cache" ;; esac
  return 0
}
`;
