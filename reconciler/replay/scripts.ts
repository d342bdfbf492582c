/**
 * The POSIX sh replay runs on a node (dash, and bash-as-sh with BSD userland on macOS). Paths and names arrive as
 * positional parameters, data on stdin; nothing is interpolated. A secret is read from its file into a shell
 * variable and used only by shell builtins and files in a 0700 temp dir: it is never on a command line (where `ps`
 * on a shared Mac would show it), never printed, and never sent back to clawops.
 */
import { SECRET_MAX_BYTES } from '../units/gateway-run-sh.js';

const PRELUDE = String.raw`
set -u
PATH="$PATH:/usr/local/bin:/opt/homebrew/bin:/usr/bin:/bin"
export PATH LC_ALL=C
umask 077
rec() { printf '%s' "$1"; shift; for f in "$@"; do printf '\t%s' "$f"; done; printf '\n'; }
oneline() { tr '\t\r\n' '   ' | cut -c 1-300; }
`;

/**
 * READ ETC TENANT… → per tenant `wh TENANT RELEASE_ID BASE64(webhook.json)`, or `missing TENANT RELEASE_ID WHAT`.
 * Reads the tenant's current release (the `tenants/<t>` link); at most 1 MiB of the file.
 */
export const READ_WEBHOOKS_SCRIPT = String.raw`${PRELUDE}
ETC=$1; shift
for t in "$@"; do
  l="$ETC/tenants/$t"
  id=''
  # only a link of clawops' own form (../releases/<t>/<hex id>) to a real release dir; the file read there, not
  # through the link: a link pointing anywhere else is never followed
  if [ ! -L "$l" ]; then rec missing "$t" '' 'no current release'; continue; fi
  id=$(readlink "$l" 2>/dev/null)
  case $id in "../releases/$t/"*) id=${"$"}{id#"../releases/$t/"} ;; *) id='' ;; esac
  case $id in ''|*[!0-9a-f]*) rec missing "$t" '' 'no current release (its link does not point at one of its releases)'; continue ;; esac
  R="$ETC/releases/$t/$id"
  if [ -L "$ETC/releases" ] || [ -L "$ETC/releases/$t" ] || [ -L "$R" ] || [ ! -d "$R" ]; then rec missing "$t" "$id" 'no current release (not a real release dir)'; continue; fi
  f="$R/webhook.json"
  if [ -L "$f" ] || [ ! -f "$f" ]; then rec missing "$t" "$id" 'webhook.json missing from the current release'; continue; fi
  rec wh "$t" "$id" "$(head -c 1048576 "$f" | base64 | tr -d '\n')"
done
`;

/**
 * DELIVER URL METHOD AUTH SECRET_FILE SECRET_NAME MAX_TIME [HEADER…] with the body on stdin.
 *   AUTH: hmac (X-OpenClaw-Signature-256: sha256=HMAC-SHA256(secret, body)), bearer (Authorization: Bearer secret)
 *         or none. HEADER: `name: value` lines from the fixture (non-secret), passed to curl as -H.
 * Prints one line: `result HTTP_CODE CURL_EXIT TIME_TOTAL STARTED_AT CURL_ERROR` or `error MESSAGE`.
 * The HMAC is computed with `openssl dgst -sha256 -binary` over (key ^ ipad) || body and (key ^ opad) || inner,
 * the RFC 2104 construction, because `openssl dgst -hmac KEY` would put the key on openssl's command line.
 */
export const DELIVER_SCRIPT = String.raw`${PRELUDE}
url=$1 method=$2 auth=$3 sf=$4 sname=$5 maxt=$6; shift 6
RT=$(mktemp -d 2>/dev/null || mktemp -d -t clawops) || { rec error 'mktemp failed on the node'; exit 0; }
trap 'rm -rf "$RT"' EXIT
cat > "$RT/body"
command -v curl >/dev/null 2>&1 || { rec error 'curl not found on the node'; exit 0; }
: > "$RT/h"
hexof() { od -An -v -tx1 | tr -d ' \n'; }
if [ "$auth" != none ]; then
  # never through a link (the file or the tenant's secrets dir: another tenant's secret, a file anywhere), never
  # more than 64 KiB (read with a bound, as the gateway wrapper accepts it)
  if [ -L "$sf" ] || [ -L "${"$"}{sf%/*}" ]; then rec error "secret $sname: a symlink (the file or its secrets dir) on the node, never followed"; exit 0; fi
  if [ ! -f "$sf" ] || [ ! -r "$sf" ]; then rec error "secret $sname: missing or unreadable on the node"; exit 0; fi
  n=$(head -c ${SECRET_MAX_BYTES + 1} "$sf" 2>/dev/null | wc -c); n=${"$"}{n##* }
  [ "${"$"}{n:-0}" -le ${SECRET_MAX_BYTES} ] || { rec error "secret $sname: larger than 64 KiB on the node"; exit 0; }
  key=$(head -c ${SECRET_MAX_BYTES} "$sf" 2>/dev/null) || { rec error "secret $sname: cannot read"; exit 0; }
  [ -n "$key" ] || { rec error "secret $sname: empty"; exit 0; }
  case $key in *"$(printf '\r')"*|*'
'*) rec error "secret $sname: contains a line break"; exit 0;; esac
  if [ "$auth" = bearer ]; then
    printf 'Authorization: Bearer %s\n' "$key" > "$RT/h"
  else
    command -v openssl >/dev/null 2>&1 || { rec error 'openssl not found on the node (needed to sign)'; exit 0; }
    kh=$(printf '%s' "$key" | hexof)
    if [ ${"$"}{#kh} -gt 128 ]; then kh=$(printf '%s' "$key" | openssl dgst -sha256 -binary | hexof); fi
    ip=''; op=''; i=0; rest=$kh
    while [ $i -lt 64 ]; do
      if [ -n "$rest" ]; then b=${"$"}{rest%"${"$"}{rest#??}"}; rest=${"$"}{rest#??}; else b=00; fi
      x=$(( 0x$b ^ 54 )); ip="$ip\\$((x / 64))$((x / 8 % 8))$((x % 8))"
      x=$(( 0x$b ^ 92 )); op="$op\\$((x / 64))$((x / 8 % 8))$((x % 8))"
      i=$((i + 1))
    done
    printf "$ip" > "$RT/ipad"; printf "$op" > "$RT/opad"
    cat "$RT/ipad" "$RT/body" | openssl dgst -sha256 -binary > "$RT/inner" 2>/dev/null &&
      sig=$(cat "$RT/opad" "$RT/inner" | openssl dgst -sha256 -binary 2>/dev/null | hexof) &&
      [ ${"$"}{#sig} -eq 64 ] || { rec error 'openssl failed to sign the body'; exit 0; }
    printf 'X-OpenClaw-Signature-256: sha256=%s\n' "$sig" > "$RT/h"
    ip=''; op=''; kh=''; rest=''
  fi
  key=''
fi
n=$#; i=0
while [ $i -lt $n ]; do h=$1; shift; set -- "$@" -H "$h"; i=$((i + 1)); done
set -- -g -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time "$maxt" -H 'Expect:' -H @"$RT/h" "$@"
case $method in
  HEAD) set -- "$@" -I ;;
  GET) [ -s "$RT/body" ] && set -- "$@" -X GET --data-binary @"$RT/body" ;;
  *) set -- "$@" -X "$method" --data-binary @"$RT/body" ;;
esac
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
out=$(curl "$@" "$url" 2>"$RT/err" </dev/null); rc=$?
set -- $out
rec result "${"$"}{1:-000}" "$rc" "${"$"}{2:-0}" "$started" "$(sed 's/^curl: ([0-9]*) //' "$RT/err" | head -n 1 | oneline)"
`;

/**
 * NOTIFY SOCKET with NDJSON failure lines on stdin → `sent CLIENT`, `nosocket`, or `error MESSAGE`.
 * The client is perl's IO::Socket::UNIX (perl ships with macOS and is essential on Debian), else `nc -U`.
 */
export const NOTIFY_SCRIPT = String.raw`${PRELUDE}
s=$1
# clawops' own socket in its own real dir: never one a link there names
if [ -L "$s" ] || [ -L "${"$"}{s%/*}" ]; then rec error "the notifier socket $(printf '%s' "$s" | tr -c 'A-Za-z0-9._/-' '?') is reached through a symlink: nothing sent"; exit 0; fi
if [ ! -S "$s" ]; then rec nosocket; exit 0; fi
RT=$(mktemp -d 2>/dev/null || mktemp -d -t clawops) || { rec error 'mktemp failed on the node'; exit 0; }
trap 'rm -rf "$RT"' EXIT
cat > "$RT/lines"
if command -v perl >/dev/null 2>&1; then
  perl -MSocket -MIO::Socket::UNIX -e '
    my $c = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $ARGV[0]) or do { print "error\tconnect: $!\n"; exit 0 };
    open(my $in, "<", $ARGV[1]) or do { print "error\tcannot read the lines\n"; exit 0 };
    local $/; my $d = <$in>; $d = "" unless defined $d;
    print {$c} $d or do { print "error\twrite: $!\n"; exit 0 };
    shutdown($c, 1); close($c); print "sent\tperl\n";' "$s" "$RT/lines"
elif command -v nc >/dev/null 2>&1; then
  if nc -w 2 -U "$s" < "$RT/lines" > /dev/null 2> "$RT/err"; then rec sent nc; else rec error "nc: $(oneline < "$RT/err")"; fi
else
  rec error 'no UNIX socket client on the node (perl or nc)'
fi
`;
