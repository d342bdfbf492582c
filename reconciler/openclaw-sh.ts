/**
 * Shell shared by the observe and apply scripts: what `openclaw` on a node really is.
 * `oc_facts CACHE_DIR` resolves the command to its entry point, hashes it (the lock's daemon hash), and asks
 * `openclaw --version` only when that binary is new to CACHE_DIR/openclaw-version.cache (start-up of the CLI costs
 * ~1 s; the hash ~1 ms). Needs $SHA and rec(); sets $dsha. Prints:
 *   daemon PATH SHA256
 *   version EXITCODE FIRST-LINE CACHED(0|1)      (version 127 "" 0 when there is no openclaw)
 */
export const OPENCLAW_FACTS_SH = String.raw`
oc_facts() {
  dsha=""
  oc=$(command -v openclaw 2>/dev/null || true)
  if [ -z "$oc" ]; then rec version 127 "" 0; return 0; fi
  p=$oc; n=0
  while [ -L "$p" ] && [ $n -lt 40 ]; do
    t=$(readlink "$p"); case $t in /*) p=$t ;; *) p=$(dirname "$p")/$t ;; esac; n=$((n+1))
  done
  dsha=$($SHA "$p" 2>/dev/null | cut -c1-64)
  rec daemon "$p" "$dsha"
  key="$dsha:$($SHA "$(dirname "$p")/package.json" 2>/dev/null | cut -c1-64)"
  cache="$1/openclaw-version.cache"; line=""
  [ -f "$cache" ] && line=$(awk -F '\t' -v k="$key" '$1 == k { print $2; exit }' "$cache" 2>/dev/null)
  if [ -n "$line" ]; then rec version 0 "$line" 1; return 0; fi
  line=$(openclaw --version </dev/null 2>/dev/null); rc=$?
  line=$(printf '%s\n' "$line" | head -n 1)
  rec version "$rc" "$line" 0
  case $line in OpenClaw*) [ -d "$1" ] && [ -w "$1" ] && printf '%s\t%s\n' "$key" "$line" > "$cache.tmp.$$" && mv -f "$cache.tmp.$$" "$cache" ;; esac
  return 0
}
`;
