/**
 * `bin/gateway-run`, shipped in every tenant release: the program the gateway's launchd unit starts. Secrets reach
 * the process from the node's secret files, never from git, and a gateway never starts with one missing (OpenClaw
 * would accept an unset `${VAR}` as the literal string — a token that is in git).
 *
 *   sh …/tenants/<t>/bin/gateway-run TENANT ETC VARDB [--validate | --check | --config-get]
 *
 * 1. R = its own release directory, resolved physically once (the tenant link may move while it runs).
 * 2. For every line of $R/secrets.list (`env CLAWOPS_SECRET_X name` / `file - name`; a line of any other form is
 *    refused, never skipped), $VARDB/secrets/TENANT/name must be a regular file with mode 600 or 400 and one name (no
 *    hard link), readable, of 1 byte to 64 KiB, at least 4 bytes besides newlines and blanks, UTF-8 text without a NUL
 *    or control byte (tab, CR, LF aside), else ONE line on stderr naming it and exit 78 (EX_CONFIG, which launchd
 *    reports as such); every file is checked before any is read. The files are checked and read by name from inside
 *    the tenant's secrets dir, which the shell stands in (checked by pwd -P to be that very directory, writable by its
 *    owner alone), and each is checked again after it is read: a dir or file swapped for a link meanwhile is refused.
 *    `env` secrets are then exported (trailing newlines stripped); when token.current is an env
 *    secret and token.next is present and valid, CLAWOPS_SECRET_TOKEN_NEXT is exported too (rotation). A secrets dir
 *    VARDB/secrets/TENANT that is a symlink is refused the same way (it would hand the tenant another's secrets).
 * 3. OPENCLAW_CONFIG_PATH = ETC/tenants/TENANT/openclaw.json (the link: a config reload reads the new release),
 *    OPENCLAW_STATE_DIR = VARDB/state/TENANT (0700), CLAWOPS_TENANT / _RELEASE_ID / _COMMIT / _TAG from the manifest.
 * 4. A run record VARDB/clawops/run/TENANT.json {pid, release_id, commit, tag, started_epoch} (write + rename, from
 *    inside run/ itself, checked by pwd -P; commit and tag as the manifest's JSON strings, empty when not well-formed):
 *    observe compares it with launchd's pid to tell a service that still runs an older release (NotReloaded). Never
 *    through a link: launchd runs this as root, and a link at clawops/ or clawops/run/ would put its files anywhere.
 * 5. exec ${CLAWOPS_OPENCLAW:-openclaw} --profile TENANT gateway run [--port BASE+OFFSET when
 *    VARDB/clawops/port-offset holds a number: nodes that share one network, e.g. a local fleet].
 * --validate: steps 1-2, then `config validate --json` of $R/openclaw.json with the same environment (and the state dir
 *   the gateway will have), its output scrubbed of the tenant's secret values (env and file secrets), its exit code
 *   kept (70 when the scrub itself failed).
 * --check: steps 1-2 only, exit 0 (silent) or 78 (one line): this node's part of validation when another node of the
 *   same run already ran `config validate` on this release (issue 12). Every `${VAR}` the rendered config names is
 *   either CLAWOPS_VAR_DB (always exported) or a CLAWOPS_SECRET_* listed in secrets.list, so a node whose secret
 *   files pass step 2 starts with every variable the validated config needs set.
 * --config-get: steps 1-2, then `gateway call config.get` against the running gateway (on base+offset): its config
 *   snapshot, for a person on the node. apply no longer runs it (issue 12: one OpenClaw CLI start is ~1 CPU-s a node;
 *   apply/gateway-rpc.ts asks the gateway's RPC directly and also compares the applied revision); it stays so that
 *   the wrapper's bytes, and with them every release id, do not change.
 * Portable POSIX sh (dash, macOS bash-as-sh; BSD stat -f with a GNU stat -c branch). Prints no secret, ever.
 */
/**
 * The most a secret file may hold (64 KiB), wherever clawops reads one: the wrapper refuses a bigger one, the
 * hot-reload client (apply/gateway-rpc.ts) and replay (replay/scripts.ts) read no more.
 */
export const SECRET_MAX_BYTES = 65536;
/**
 * The least a secret file must hold besides newlines (4 bytes): --validate scrubs every value at least this long
 * from what openclaw prints, so no shorter one may be exported (scrubbing one would mangle everything else).
 */
export const SECRET_MIN_BYTES = 4;

export const GATEWAY_RUN_SH = `#!/bin/sh
# clawops gateway wrapper (generated; see reconciler/units/gateway-run-sh.ts)
set -u
T=\${1:?tenant}; ETC=\${2:?etc}; VARDB=\${3:?var_db}; MODE=\${4:-run}
# launchd's PATH is /usr/bin:/bin:/usr/sbin:/sbin: the openclaw install (and the Node it needs) comes first
PATH="/usr/local/bin:/opt/homebrew/bin:$PATH"; export PATH
R=$(cd "$(dirname "$0")/.." && pwd -P) || { echo "clawops-gateway-run: $T: cannot resolve its release directory" >&2; exit 78; }
die() { echo "clawops-gateway-run: $T: $*; not starting" >&2; exit 78; }
# openclaw.json names its secret files under \${CLAWOPS_VAR_DB}: this node's var_db
CLAWOPS_VAR_DB=$VARDB; export CLAWOPS_VAR_DB
# unend VALUE: VALUE without its trailing CRs and LFs (a file saved with CRLF), as the hot-reload client reads it
CR=$(printf '\\r')
unend() { _v=$1; while :; do case $_v in *"$CR") _v=\${_v%"$CR"} ;; *"
") _v=\${_v%"
"} ;; *) break ;; esac; done; printf '%s' "$_v"; }
# fstat FILE: its permission bits, size in bytes and link count ("600 42 1"), BSD stat or GNU stat
if stat -c %a / >/dev/null 2>&1; then fstat() { stat -c '%a %s %h' "$1"; }; else fstat() { stat -f '%Lp %z %l' "$1"; }; fi
# ok_secret NAME: the secret file is usable (prints its size; else why not, and fails): a regular file (no link), 0600/0400, 1 byte to 64 KiB
# (what the hot-reload client reads of it; a value over the kernel's limit for one environment string would make every
# later command fail), readable, and more than newlines (its value is what is left once they are stripped)
ok_secret() {
  # (a plain name in the tenant's own secrets dir: never ../another-tenant/…, never a path)
  case $1 in ''|.|..|*[!A-Za-z0-9._-]*) echo "secrets.list names $(printf '%s' "$1" | tr -c 'A-Za-z0-9._/-' '?'), not a plain file name"; return 1 ;; esac
  # (read in the secrets dir the shell stands in, pinned below: a link planted at its path later is never followed)
  f="$SD/$1"; l="./$1"
  [ -n "$IN_SD" ] || { echo "secret file $f is missing"; return 1; }
  if [ -L "$l" ] || { [ -e "$l" ] && [ ! -f "$l" ]; }; then echo "secret file $f is not a regular file"; return 1; fi
  [ -f "$l" ] || { echo "secret file $f is missing"; return 1; }
  st=$(fstat "$l" 2>/dev/null) || { echo "secret file $f cannot be read"; return 1; }
  m=\${st%% *}; z=\${st#* }; h=\${z#* }; z=\${z%% *}; h=\${h%% *}
  case $m in 600|400) ;; *) echo "secret file $f has mode 0$m (want 0600 or 0400)"; return 1 ;; esac
  # (one name only: a hard link is another file's content under this name, a host key, another tenant's token)
  [ "$h" = 1 ] || { echo "secret file $f has $h names (a hard link): give it its own file"; return 1; }
  [ "$z" -gt 0 ] 2>/dev/null || { echo "secret file $f is empty"; return 1; }
  [ "$z" -le ${SECRET_MAX_BYTES} ] || { echo "secret file $f is $z bytes (at most ${SECRET_MAX_BYTES})"; return 1; }
  [ -r "$l" ] || { echo "secret file $f cannot be read by $(id -un 2>/dev/null || id -u)"; return 1; }
  # (at least 4 bytes besides newlines and blanks: a shorter value is no secret, and --validate could not keep it out
  # of what openclaw prints without mangling everything else; four spaces would turn openclaw's indentation into ***)
  n4=$(tr -d ' \\t\\r\\n' < "$l" 2>/dev/null | head -c ${SECRET_MIN_BYTES} | wc -c); n4=\${n4##* }
  [ "$n4" -gt 0 ] 2>/dev/null || { echo "secret file $f is empty (only newlines)"; return 1; }
  [ "$n4" -ge ${SECRET_MIN_BYTES} ] || { echo "secret file $f holds fewer than ${SECRET_MIN_BYTES} bytes"; return 1; }
  # (UTF-8 text: OpenClaw (Node) reads its environment and files as UTF-8, so other bytes would reach it changed, and
  # --validate's scrub would miss them in what it prints)
  if command -v iconv >/dev/null 2>&1; then iconv -f UTF-8 -t UTF-8 < "$l" >/dev/null 2>&1 || { echo "secret file $f is not UTF-8 text"; return 1; }; fi
  # (no environment string can hold a NUL: the shell would drop it and start the gateway with another value; and no
  # control character but tab, CR and LF: --validate's scrub splits its records at \\001)
  nz=$(tr -d '\\000-\\010\\013\\014\\016-\\037\\177' < "$l" 2>/dev/null | wc -c); [ "\${nz##* }" = "$z" ] || { echo "secret file $f holds a NUL or control byte"; return 1; }
  echo "$z"
}
[ -f "$R/secrets.list" ] || die "$R/secrets.list is missing"
# the secrets dirs, the node's and the tenant's own: a link there (to another tenant's secrets, anywhere) is refused,
# as PROMOTE refuses it. The shell then stands in the tenant's dir, checked to be that very directory (pwd -P), and
# reads every file by its name there: a dir swapped for a link after this check is never read through. The dir must be
# writable by its owner alone (no other user could swap a file in it between check and read; its owner, the account
# clawops deploys as, writes this wrapper itself).
SD="$VARDB/secrets/$T"
for d in "$VARDB/secrets" "$SD"; do [ -L "$d" ] && die "secret dir $d is a symlink, not the tenant's own"; done
OWD=$(pwd -P 2>/dev/null) || OWD=/
IN_SD=''
if [ -e "$SD" ]; then
  SP=$(cd -P "$VARDB/secrets" 2>/dev/null && pwd -P) || SP=''
  cd -P "$SD" 2>/dev/null || die "cannot enter secret dir $SD"
  [ -n "$SP" ] && [ "$(pwd -P)" = "$SP/$T" ] || die "secret dir $SD is not the tenant's own directory (a link?)"
  ds=$(fstat . 2>/dev/null) || die "cannot read secret dir $SD"
  dm=\${ds%% *}
  case $dm in *[2367]?|*[2367]) die "secret dir $SD has mode 0$dm: writable by group or others" ;; esac
  IN_SD=1
fi
# every secret file checked before any value is read or exported: a refusal names the file at fault, never another.
# The env values together stay under 512 KiB (the kernel takes ~1 MiB (macOS) to 2 MiB (Linux) for a program's
# arguments and environment: over it, every command after the exports would fail)
exec 3< "$R/secrets.list"
tot=0
# (every line is a comment, blank, or exactly \`env CLAWOPS_SECRET_X name\` / \`file - name\`; anything else is refused,
# never skipped: a skipped secret would start the gateway with its \${VAR} unset; a last line without a newline counts)
while kind=''; IFS=' ' read -r kind var name <&3 || [ -n "$kind" ]; do
  case $kind in ''|'#'*) continue ;; env|file) ;; *) die "secrets.list has a line clawops did not write" ;; esac
  case $kind:$var in env:CLAWOPS_SECRET_*) case $var in *[!A-Z0-9_]*) die "secrets.list names a variable clawops does not set" ;; esac ;; file:-) ;; *) die "secrets.list names a variable clawops does not set" ;; esac
  case $name in *' '*) die "secrets.list has a line clawops did not write" ;; esac
  why=$(ok_secret "$name") || die "$why"
  [ "$kind" = env ] || continue
  tot=$((tot + why))
  [ "$tot" -le 524288 ] || die "secret file $VARDB/secrets/$T/$name brings the secrets in the environment to $tot bytes (at most 524288)"
done
exec 3<&-
exec 3< "$R/secrets.list"
# (file secrets OpenClaw reads itself: their values, \\001-separated, go to --validate's scrub, never to the environment)
FS=''; SOH=$(printf '\\001')
while kind=''; IFS=' ' read -r kind var name <&3 || [ -n "$kind" ]; do
  case $kind in env|file) ;; *) continue ;; esac
  val=$(cat "./$name" 2>/dev/null) || die "cannot read secret file $SD/$name"
  # (still the regular file that was checked: one swapped for a link between check and read is refused)
  [ -f "./$name" ] && [ ! -L "./$name" ] || die "secret file $SD/$name changed while it was read"
  if [ "$kind" = file ]; then FS="$FS$SOH$(unend "$val")"; continue; fi
  export "$var=$(unend "$val")"
  if [ "$name" = token.current ] && ok_secret token.next >/dev/null; then
    nx=$(cat ./token.next 2>/dev/null) && { CLAWOPS_SECRET_TOKEN_NEXT=$(unend "$nx"); export CLAWOPS_SECRET_TOKEN_NEXT; }
  fi
done
exec 3<&-
[ -z "$IN_SD" ] || cd "$OWD" 2>/dev/null || cd /
[ "$MODE" = --check ] && exit 0
# the manifest's release_id, commit and tag, in ONE read: each as the JSON string it is in the file (for the run record,
# itself JSON) and decoded (for the environment). A value with an escape other than \\" or \\\\ (a control character, which
# no commit or git tag holds), or one that is no whole JSON string (a hand edit), is left empty
MF=$(awk 'function val(l,  m) { if (match(l, /^  "[a-z_]+": "([^"\\\\]|\\\\.)*",?$/) == 0) return ""; sub(/^  "[a-z_]+": "/, "", l); sub(/",?$/, "", l); m = l; gsub(/\\\\[\\\\"]/, "", m); return (m ~ /\\\\/) ? "" : substr(l, 1, 4096) }
  function dec(v,  o, i, c) { o = ""; for (i = 1; i <= length(v); i++) { c = substr(v, i, 1); if (c == "\\\\") c = substr(v, ++i, 1); o = o c } return o }
  /^  "(release_id|commit|tag)": / { k = $1; gsub(/[":]/, "", k); if (!(k in got)) { got[k] = 1; e[k] = val($0) } }
  END { for (i = 1; i <= 3; i++) { k = (i == 1 ? "release_id" : i == 2 ? "commit" : "tag"); print e[k]; print dec(e[k]) } }' "$R/.clawops/manifest.json" 2>/dev/null)
{ IFS= read -r J_RELEASE; IFS= read -r CLAWOPS_RELEASE_ID; IFS= read -r J_COMMIT; IFS= read -r CLAWOPS_COMMIT; IFS= read -r J_TAG; IFS= read -r CLAWOPS_TAG; } <<MF_END
$MF
MF_END
CLAWOPS_TENANT=$T
export CLAWOPS_TENANT CLAWOPS_RELEASE_ID CLAWOPS_COMMIT CLAWOPS_TAG
if [ "$MODE" = --validate ]; then
  # the state dir the gateway will have (its .env too), read only; what openclaw prints is scrubbed of this tenant's
  # secret values (raw and JSON-escaped): some refusals quote the value they refuse (Unknown agent id '…'), and a
  # secret_ref put where an agent id goes would hand the token to apply's one-line refusal
  OPENCLAW_CONFIG_PATH="$R/openclaw.json"; OPENCLAW_STATE_DIR="$VARDB/state/$T"; export OPENCLAW_CONFIG_PATH OPENCLAW_STATE_DIR
  exec 4>&1
  # (openclaw gets neither fd 3 nor 4: what it wrote there would pass the scrub by; a scrub that fails is a failed
  # validation, exit 70, whatever openclaw said; the file secrets' values reach awk only, in its own environment)
  rc=$( { { \${CLAWOPS_OPENCLAW_CLI:-openclaw} --profile "$T" config validate --json 2>&1 3>&- 4>&-; echo $? >&3; } | { CLAWOPS_SCRUB_FILES=$FS awk '
    # each value as JSON.stringify writes it (what openclaw --json prints): \\\\ \\" \\b \\f \\n \\r \\t, other controls \\u00xx
    function jesc(v,  o, i, c) { o = ""; for (i = 1; i <= length(v); i++) { c = substr(v, i, 1); if (c == "\\\\" || c == "\\"") o = o "\\\\" c; else if (c in esc) o = o esc[c]; else o = o c } return o }
    function add(v) { if (!(v in seen)) { seen[v] = 1; s[++n] = v } }
    BEGIN {
      for (i = 1; i < 32; i++) esc[sprintf("%c", i)] = sprintf("\\\\u%04x", i)
      esc["\\b"] = "\\\\b"; esc["\\f"] = "\\\\f"; esc["\\n"] = "\\\\n"; esc["\\r"] = "\\\\r"; esc["\\t"] = "\\\\t"
      for (k in ENVIRON) if (k ~ /^CLAWOPS_SECRET_/ && length(ENVIRON[k]) >= ${SECRET_MIN_BYTES}) { add(ENVIRON[k]); add(jesc(ENVIRON[k])) }
      m = split(ENVIRON["CLAWOPS_SCRUB_FILES"], fv, "\\001"); for (i = 1; i <= m; i++) if (length(fv[i]) >= ${SECRET_MIN_BYTES}) { add(fv[i]); add(jesc(fv[i])) }
      # the longest first: a secret holding another is scrubbed whole, never around the shorter one
      for (i = 2; i <= n; i++) { v = s[i]; for (j = i - 1; j >= 1 && length(s[j]) < length(v); j--) s[j + 1] = s[j]; s[j + 1] = v }
      # the whole output as one record (a secret with a newline spans lines), \\001 aside
      RS = "\\001"; ORS = ""
    }
    { l = $0; for (i = 1; i <= n; i++) { o = ""; while ((p = index(l, s[i])) > 0) { o = o substr(l, 1, p - 1) "***"; l = substr(l, p + length(s[i])) } l = o l } if (NR > 1) printf "%c", 1; print l }' >&4 || echo scrub-failed >&3; }; } 3>&1 )
  exec 4>&-
  case $rc in *scrub-failed*) echo "clawops-gateway-run: $T: the scrub of openclaw's output failed; validation not trusted" >&2; exit 70 ;; esac
  exit "\${rc:-1}"
fi
# (only from a regular file, its first bytes only: a FIFO or a huge file would block the start for good; the whole file
# a decimal number, leading zeros dropped (the shell's arithmetic would read it as octal), at most 5 digits, and base +
# offset a port (1..65535): anything else is no offset, never a dead start or a bogus --port)
off=''; [ -f "$VARDB/clawops/port-offset" ] && [ ! -L "$VARDB/clawops/port-offset" ] && off=$(head -c 40 "$VARDB/clawops/port-offset" 2>/dev/null)
[ ${"$"}{#off} -le 32 ] || off=''
case $off in *[!0-9]*) off='' ;; ?*) off=${"$"}{off#"${"$"}{off%%[!0]*}"}; off=${"$"}{off:-0} ;; esac
[ ${"$"}{#off} -le 5 ] || off=''
base=$(sed -n 's/^    "port": \\([0-9][0-9]*\\),*$/\\1/p' "$R/openclaw.json" | head -n 1)
case $base in ''|*[!0-9]*) base=18789 ;; esac
[ ${"$"}{#base} -le 5 ] || base=18789
[ -z "$off" ] || [ $((base + off)) -le 65535 ] || off=''
if [ "$MODE" = --config-get ]; then
  # what the RUNNING gateway has applied (after a hot reload), asked over its own RPC with the same environment
  OPENCLAW_CONFIG_PATH="$ETC/tenants/$T/openclaw.json"; OPENCLAW_STATE_DIR="$VARDB/state/$T"
  export OPENCLAW_CONFIG_PATH OPENCLAW_STATE_DIR
  [ -n "$off" ] && { OPENCLAW_GATEWAY_PORT=$((base + off)); export OPENCLAW_GATEWAY_PORT; }
  exec \${CLAWOPS_OPENCLAW_CLI:-openclaw} --profile "$T" gateway call config.get --params '{}' --json
fi
OPENCLAW_CONFIG_PATH="$ETC/tenants/$T/openclaw.json"; OPENCLAW_STATE_DIR="$VARDB/state/$T"
export OPENCLAW_CONFIG_PATH OPENCLAW_STATE_DIR
(umask 077; mkdir -p "$OPENCLAW_STATE_DIR") || die "cannot create $OPENCLAW_STATE_DIR"
set --
# gateway.port unset: OpenClaw's default base port
[ -n "$off" ] && set -- --port $((base + off))
# the run record: only into clawops' own real dirs (a link there would take it anywhere), its temp created afresh
# (noclobber: a link planted under the temp name is removed, never written through); a record not written is no
# reason not to start
# Written from inside run/ itself, checked to be that very directory (pwd -P): a dir swapped for a link after the check
# is never written through (a subshell: the gateway keeps the wrapper's working directory).
RD="$VARDB/clawops/run"
if [ ! -L "$VARDB/clawops" ] && [ ! -L "$RD" ] && { [ -d "$RD" ] || mkdir -p "$RD" 2>/dev/null; } && [ ! -L "$RD" ]; then
  VP=$(cd -P "$VARDB" 2>/dev/null && pwd -P) && (
    cd -P "$RD" 2>/dev/null && [ "$(pwd -P)" = "$VP/clawops/run" ] || exit 0
    rm -f "./$T.json.$$"
    # (renamed over the record's name itself, never into a directory or a link's target there: mv -T / mv -h)
    (set -C; printf '{"pid":%s,"release_id":"%s","commit":"%s","tag":"%s","started_epoch":%s}\\n' "$$" "$J_RELEASE" "$J_COMMIT" "$J_TAG" "$(date +%s)" > "./$T.json.$$") 2>/dev/null &&
      { [ -d "./$T.json" ] && [ ! -L "./$T.json" ] || mv -fT "./$T.json.$$" "./$T.json" 2>/dev/null || mv -fh "./$T.json.$$" "./$T.json" 2>/dev/null; }
    rm -f "./$T.json.$$"
  )
fi
exec \${CLAWOPS_OPENCLAW:-openclaw} --profile "$T" gateway run "$@"
`;

/** The secrets.list of a release: what the wrapper checks and exports. Pure. */
export function secretsList(entries: readonly { kind: 'env' | 'file'; variable?: string; name: string }[]): string {
  return entries.map((e) => `${e.kind} ${e.kind === 'env' ? (e.variable ?? '-') : '-'} ${e.name}\n`).join('');
}
