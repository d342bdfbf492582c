/**
 * `bin/gateway-run`, shipped in every tenant release: the program the gateway's launchd unit starts. Secrets reach
 * the process from the node's secret files, never from git, and a gateway never starts with one missing (OpenClaw
 * would accept an unset `${VAR}` as the literal string — a token that is in git).
 *
 *   sh …/tenants/<t>/bin/gateway-run TENANT ETC VARDB [--validate | --check | --config-get]
 *
 * 1. R = its own release directory, resolved physically once (the tenant link may move while it runs).
 * 2. For every line of $R/secrets.list (`env VAR name` / `file - name`), $VARDB/secrets/TENANT/name must be a
 *    regular file with mode 600 or 400, readable, of 1 byte to 64 KiB, at least 4 bytes besides newlines, UTF-8 text, else ONE line on stderr
 *    naming it and exit 78 (EX_CONFIG, which launchd reports as such); every file is checked before any is read.
 *    `env` secrets are then exported (trailing newlines stripped); when token.current is an env
 *    secret and token.next is present and valid, CLAWOPS_SECRET_TOKEN_NEXT is exported too (rotation). A secrets dir
 *    VARDB/secrets/TENANT that is a symlink is refused the same way (it would hand the tenant another's secrets).
 * 3. OPENCLAW_CONFIG_PATH = ETC/tenants/TENANT/openclaw.json (the link: a config reload reads the new release),
 *    OPENCLAW_STATE_DIR = VARDB/state/TENANT (0700), CLAWOPS_TENANT / _RELEASE_ID / _COMMIT / _TAG from the manifest.
 * 4. A run record VARDB/clawops/run/TENANT.json {pid, release_id, commit, tag, started_epoch} (write + rename):
 *    observe compares it with launchd's pid to tell a service that still runs an older release (NotReloaded). Never
 *    through a link: launchd runs this as root, and a link at clawops/ or clawops/run/ would put its files anywhere.
 * 5. exec ${CLAWOPS_OPENCLAW:-openclaw} --profile TENANT gateway run [--port BASE+OFFSET when
 *    VARDB/clawops/port-offset holds a number: nodes that share one network, e.g. a local fleet].
 * --validate: steps 1-2, then `config validate --json` of $R/openclaw.json with the same environment (and the state dir
 *   the gateway will have), its output scrubbed of the tenant's secret values, its exit code kept.
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
# fstat FILE: its permission bits and size in bytes ("600 42"), BSD stat or GNU stat
if stat -c %a / >/dev/null 2>&1; then fstat() { stat -c '%a %s' "$1"; }; else fstat() { stat -f '%Lp %z' "$1"; }; fi
# ok_secret NAME: the secret file is usable (prints its size; else why not, and fails): a regular file (no link), 0600/0400, 1 byte to 64 KiB
# (what the hot-reload client reads of it; a value over the kernel's limit for one environment string would make every
# later command fail), readable, and more than newlines (its value is what is left once they are stripped)
ok_secret() {
  # (a plain name in the tenant's own secrets dir: never ../another-tenant/…, never a path)
  case $1 in ''|.|..|*[!A-Za-z0-9._-]*) echo "secrets.list names $(printf '%s' "$1" | tr -c 'A-Za-z0-9._/-' '?'), not a plain file name"; return 1 ;; esac
  f="$VARDB/secrets/$T/$1"
  if [ -L "$f" ] || { [ -e "$f" ] && [ ! -f "$f" ]; }; then echo "secret file $f is not a regular file"; return 1; fi
  [ -f "$f" ] || { echo "secret file $f is missing"; return 1; }
  st=$(fstat "$f" 2>/dev/null) || { echo "secret file $f cannot be read"; return 1; }
  m=\${st%% *}; z=\${st#* }
  case $m in 600|400) ;; *) echo "secret file $f has mode 0$m (want 0600 or 0400)"; return 1 ;; esac
  [ "$z" -gt 0 ] 2>/dev/null || { echo "secret file $f is empty"; return 1; }
  [ "$z" -le ${SECRET_MAX_BYTES} ] || { echo "secret file $f is $z bytes (at most ${SECRET_MAX_BYTES})"; return 1; }
  [ -r "$f" ] || { echo "secret file $f cannot be read by $(id -un 2>/dev/null || id -u)"; return 1; }
  # (at least 4 bytes besides newlines: a shorter value is no secret, and --validate could not keep it out of what
  # openclaw prints without mangling everything else)
  n4=$(tr -d '\\r\\n' < "$f" 2>/dev/null | head -c ${SECRET_MIN_BYTES} | wc -c); n4=\${n4##* }
  [ "$n4" -gt 0 ] 2>/dev/null || { echo "secret file $f is empty (only newlines)"; return 1; }
  [ "$n4" -ge ${SECRET_MIN_BYTES} ] || { echo "secret file $f holds fewer than ${SECRET_MIN_BYTES} bytes"; return 1; }
  # (UTF-8 text: OpenClaw (Node) reads its environment and files as UTF-8, so other bytes would reach it changed, and
  # --validate's scrub would miss them in what it prints)
  if command -v iconv >/dev/null 2>&1; then iconv -f UTF-8 -t UTF-8 < "$f" >/dev/null 2>&1 || { echo "secret file $f is not UTF-8 text"; return 1; }; fi
  # (no environment string can hold a NUL: the shell would drop it and start the gateway with another value)
  nz=$(tr -d '\\000' < "$f" 2>/dev/null | wc -c); [ "\${nz##* }" = "$z" ] || { echo "secret file $f holds a NUL byte"; return 1; }
  echo "$z"
}
[ -f "$R/secrets.list" ] || die "$R/secrets.list is missing"
# the secrets dirs, the node's and the tenant's own: a link there (to another tenant's secrets, anywhere) is refused,
# as PROMOTE refuses it
for d in "$VARDB/secrets" "$VARDB/secrets/$T"; do [ -L "$d" ] && die "secret dir $d is a symlink, not the tenant's own"; done
# every secret file checked before any value is read or exported: a refusal names the file at fault, never another.
# The env values together stay under 512 KiB (the kernel takes ~1 MiB (macOS) to 2 MiB (Linux) for a program's
# arguments and environment: over it, every command after the exports would fail)
exec 3< "$R/secrets.list"
tot=0
while IFS=' ' read -r kind var name <&3; do
  case $kind in env|file) ;; *) continue ;; esac
  why=$(ok_secret "$name") || die "$why"
  [ "$kind" = env ] || continue
  tot=$((tot + why))
  [ "$tot" -le 524288 ] || die "secret file $VARDB/secrets/$T/$name brings the secrets in the environment to $tot bytes (at most 524288)"
done
exec 3<&-
exec 3< "$R/secrets.list"
while IFS=' ' read -r kind var name <&3; do
  [ "$kind" = env ] || continue
  val=$(cat "$VARDB/secrets/$T/$name" 2>/dev/null) || die "cannot read secret file $VARDB/secrets/$T/$name"
  export "$var=$(unend "$val")"
  if [ "$name" = token.current ] && ok_secret token.next >/dev/null; then
    nx=$(cat "$VARDB/secrets/$T/token.next" 2>/dev/null) && { CLAWOPS_SECRET_TOKEN_NEXT=$(unend "$nx"); export CLAWOPS_SECRET_TOKEN_NEXT; }
  fi
done
exec 3<&-
[ "$MODE" = --check ] && exit 0
mf() { sed -n "s/^  \\"$1\\": \\"\\\\([^\\"]*\\\\)\\",*$/\\\\1/p" "$R/.clawops/manifest.json" 2>/dev/null | head -n 1; }
CLAWOPS_TENANT=$T; CLAWOPS_RELEASE_ID=$(mf release_id); CLAWOPS_COMMIT=$(mf commit); CLAWOPS_TAG=$(mf tag)
export CLAWOPS_TENANT CLAWOPS_RELEASE_ID CLAWOPS_COMMIT CLAWOPS_TAG
if [ "$MODE" = --validate ]; then
  # the state dir the gateway will have (its .env too), read only; what openclaw prints is scrubbed of this tenant's
  # secret values (raw and JSON-escaped): some refusals quote the value they refuse (Unknown agent id '…'), and a
  # secret_ref put where an agent id goes would hand the token to apply's one-line refusal
  OPENCLAW_CONFIG_PATH="$R/openclaw.json"; OPENCLAW_STATE_DIR="$VARDB/state/$T"; export OPENCLAW_CONFIG_PATH OPENCLAW_STATE_DIR
  exec 4>&1
  rc=$( { { \${CLAWOPS_OPENCLAW_CLI:-openclaw} --profile "$T" config validate --json 2>&1; echo $? >&3; } | awk '
    # each value as JSON.stringify writes it (what openclaw --json prints): \\\\ \\" \\b \\f \\n \\r \\t, other controls \\u00xx
    function jesc(v,  o, i, c) { o = ""; for (i = 1; i <= length(v); i++) { c = substr(v, i, 1); if (c == "\\\\" || c == "\\"") o = o "\\\\" c; else if (c in esc) o = o esc[c]; else o = o c } return o }
    function add(v) { if (!(v in seen)) { seen[v] = 1; s[++n] = v } }
    BEGIN {
      for (i = 1; i < 32; i++) esc[sprintf("%c", i)] = sprintf("\\\\u%04x", i)
      esc["\\b"] = "\\\\b"; esc["\\f"] = "\\\\f"; esc["\\n"] = "\\\\n"; esc["\\r"] = "\\\\r"; esc["\\t"] = "\\\\t"
      for (k in ENVIRON) if (k ~ /^CLAWOPS_SECRET_/ && length(ENVIRON[k]) >= ${SECRET_MIN_BYTES}) { add(ENVIRON[k]); add(jesc(ENVIRON[k])) }
      # the longest first: a secret holding another is scrubbed whole, never around the shorter one
      for (i = 2; i <= n; i++) { v = s[i]; for (j = i - 1; j >= 1 && length(s[j]) < length(v); j--) s[j + 1] = s[j]; s[j + 1] = v }
      # the whole output as one record (a secret with a newline spans lines), \\001 aside
      RS = "\\001"; ORS = ""
    }
    { l = $0; for (i = 1; i <= n; i++) { o = ""; while ((p = index(l, s[i])) > 0) { o = o substr(l, 1, p - 1) "***"; l = substr(l, p + length(s[i])) } l = o l } if (NR > 1) printf "%c", 1; print l }' >&4; } 3>&1 )
  exec 4>&-
  exit "\${rc:-1}"
fi
# (only from a regular file, its first bytes only: a FIFO or a huge file would block the start for good; a decimal
# number, leading zeros dropped: the shell's arithmetic would read it as octal)
off=''; [ -f "$VARDB/clawops/port-offset" ] && [ ! -L "$VARDB/clawops/port-offset" ] && off=$(head -c 32 "$VARDB/clawops/port-offset" 2>/dev/null)
case $off in ''|*[!0-9]*) off='' ;; *) off=${"$"}{off#"${"$"}{off%%[!0]*}"}; off=${"$"}{off:-0} ;; esac
base=$(sed -n 's/^    "port": \\([0-9][0-9]*\\),*$/\\1/p' "$R/openclaw.json" | head -n 1)
if [ "$MODE" = --config-get ]; then
  # what the RUNNING gateway has applied (after a hot reload), asked over its own RPC with the same environment
  OPENCLAW_CONFIG_PATH="$ETC/tenants/$T/openclaw.json"; OPENCLAW_STATE_DIR="$VARDB/state/$T"
  export OPENCLAW_CONFIG_PATH OPENCLAW_STATE_DIR
  [ -n "$off" ] && { OPENCLAW_GATEWAY_PORT=$((${"$"}{base:-18789} + off)); export OPENCLAW_GATEWAY_PORT; }
  exec \${CLAWOPS_OPENCLAW_CLI:-openclaw} --profile "$T" gateway call config.get --params '{}' --json
fi
OPENCLAW_CONFIG_PATH="$ETC/tenants/$T/openclaw.json"; OPENCLAW_STATE_DIR="$VARDB/state/$T"
export OPENCLAW_CONFIG_PATH OPENCLAW_STATE_DIR
(umask 077; mkdir -p "$OPENCLAW_STATE_DIR") || die "cannot create $OPENCLAW_STATE_DIR"
set --
# gateway.port unset: OpenClaw's default base port
[ -n "$off" ] && set -- --port $((${"$"}{base:-18789} + off))
# the run record: only into clawops' own real dirs (a link there would take it anywhere), its temp created afresh
# (noclobber: a link planted under the temp name is removed, never written through); a record not written is no
# reason not to start
RD="$VARDB/clawops/run"
if [ ! -L "$VARDB/clawops" ] && [ ! -L "$RD" ] && { [ -d "$RD" ] || mkdir -p "$RD" 2>/dev/null; } && [ ! -L "$RD" ]; then
  rm -f "$RD/$T.json.$$"
  # (renamed over the record's name itself, never into a directory or a link's target there: mv -T / mv -h)
  (set -C; printf '{"pid":%s,"release_id":"%s","commit":"%s","tag":"%s","started_epoch":%s}\\n' "$$" "$CLAWOPS_RELEASE_ID" "$CLAWOPS_COMMIT" "$CLAWOPS_TAG" "$(date +%s)" > "$RD/$T.json.$$") 2>/dev/null &&
    { [ -d "$RD/$T.json" ] && [ ! -L "$RD/$T.json" ] || mv -fT "$RD/$T.json.$$" "$RD/$T.json" 2>/dev/null || mv -fh "$RD/$T.json.$$" "$RD/$T.json" 2>/dev/null; }
  rm -f "$RD/$T.json.$$"
fi
exec \${CLAWOPS_OPENCLAW:-openclaw} --profile "$T" gateway run "$@"
`;

/** The secrets.list of a release: what the wrapper checks and exports. Pure. */
export function secretsList(entries: readonly { kind: 'env' | 'file'; variable?: string; name: string }[]): string {
  return entries.map((e) => `${e.kind} ${e.kind === 'env' ? (e.variable ?? '-') : '-'} ${e.name}\n`).join('');
}
