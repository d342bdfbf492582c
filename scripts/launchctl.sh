#!/bin/sh
# launchctl for clawops' test fleet and local demo fleets: a sh front end installed as <root>/usr/local/bin/launchctl
# before the Node stand-in, installed beside it as launchctl-standin (scripts/launchctl-standin.mjs).
#
# macOS' launchctl is a native program that answers `print` in a few ms. The Node stand-in costs ~30 ms of CPU a start,
# which every observe of every node paid (20 nodes sharing 2 CPUs: 0.6 CPU-s a controller pass). So the read-only
# `launchctl print system` and `launchctl print system/<label>` are answered here, from the answer each service's
# supervisor keeps beside its status (services/<label>/answer: the supervisor's pid, the service's row of
# `print system`, the status.json and job.json lines it was rendered from, then the whole `print system/<label>`,
# rendered by the stand-in's own formatter each time the status changes): byte for byte what the stand-in prints on the
# same state, with its exit codes (test/fleet/launchctl-sh.test.ts compares the two on the same states). Anything
# else, and any doubt, goes to the stand-in itself: another subcommand, a service whose supervisor is gone (the stand-in
# sweeps it) or has not written its first answer yet, an answer whose status.json or job.json no longer holds exactly
# the line it was rendered from (between the answer and its status.json, or rewritten since), an answer cut short,
# enable/disable overrides (disabled.json), a name outside [A-Za-z0-9._-] or starting with a dot, a state dir whose
# path the stand-in and the kernel would resolve differently (below). Not seen: a NUL byte in job.json or status.json
# (sh's read drops it; the stand-in's JSON.parse refuses it).
#
# The front end's own path, through symlinks (a link to it elsewhere: the stand-in is beside the file itself); run as
# `sh launchctl` it is the file in the current directory.
F=$0
case $F in
  */*) ;;
  *) [ -f "$F" ] || exec launchctl-standin "$@" ; F=./$F ;;
esac
n=0
while [ -L "$F" ] && [ $n -lt 40 ]; do
  t=$(readlink "$F" 2> /dev/null) && [ -n "$t" ] || break
  case $t in /*) F=$t ;; *) F=${F%/*}/$t ;; esac
  n=$((n + 1))
done
B=${F%/*}
S=$B/launchctl-standin
[ $# -eq 2 ] && [ "$1" = print ] || exec "$S" "$@"
# an answer sh cannot write (stdout or stderr closed, full, a pipe nobody reads: SIGPIPE ignored, so printf fails
# instead of killing sh) is the stand-in's to write, as it would, and to fail at, as it would
trap '' PIPE
# where the stand-in keeps its state: LAUNCHD_STANDIN_ROOT, else <root>/var/run/launchd-standin (the stand-in derives
# it the same way from its own path, <root>/usr/local/bin/launchctl-standin). The stand-in takes `..` lexically
# (path.resolve, path.join), the kernel through symlinks: a `..` in LAUNCHD_STANDIN_ROOT, or a symlink among the three
# dirs the default climbs over (or a `.`, `..` or empty name among them), sends the question to the stand-in.
if [ -n "${LAUNCHD_STANDIN_ROOT-}" ]; then
  D=$LAUNCHD_STANDIN_ROOT
  case /$D/ in */../*) exec "$S" "$@" ;; esac
else
  p=$B
  case $p in .) p= ;; ./*) p=${p#./} ;; esac
  case /$p/ in */./* | */../* | ?*//*) exec "$S" "$@" ;; esac
  n=0
  while [ $n -lt 3 ] && [ -n "$p" ]; do
    [ -L "$p" ] && exec "$S" "$@"
    case $p in */*) p=${p%/*} ;; *) p= ;; esac
    n=$((n + 1))
  done
  D=$B/../../../var/run/launchd-standin
fi

# the stand-in's alive(): kill(pid, 0) works and /proc does not call it a zombie (a kill that fails for any reason,
# EPERM included, sends the question to the stand-in; so does a /proc stat of more than one line, a name with a
# newline, which sh cannot read as the stand-in does)
up() {
  case $1 in '' | 0* | *[!0-9]*) return 1 ;; esac
  kill -0 "$1" 2> /dev/null || return 1
  st= x=
  { IFS= read -r st; IFS= read -r x; } < "/proc/$1/stat" 2> /dev/null
  [ -z "$x" ] || return 1
  [ -n "$st" ] || return 0
  st=${st##*) }
  case $st in Z* | X*) return 1 ;; esac
}

# cur DIR, the answer open on fd 3: the answer is the current one for the service in DIR, so what the stand-in would
# print from DIR's job.json and status.json: its row names DIR, status.json and job.json are each exactly the line the
# answer was rendered from (one line, same bytes), and its supervisor is up. Leaves fd 3 at the service block.
cur() {
  IFS= read -r spid <&3 && IFS= read -r row <&3 && IFS= read -r sj <&3 && IFS= read -r jj <&3 || return 1
  case $row in *"	${1##*/}") ;; *) return 1 ;; esac
  [ -f "$1/status.json" ] && [ -f "$1/job.json" ] || return 1
  x= y=
  { IFS= read -r x && ! IFS= read -r y && [ -z "$y" ] && [ "$x" = "$sj" ]; } < "$1/status.json" || return 1
  x= y=
  { IFS= read -r x && ! IFS= read -r y && [ -z "$y" ] && [ "$x" = "$jj" ]; } < "$1/job.json" || return 1
  up "$spid"
}

case $2 in
  system | system/)
    # the domain: every service dir must hold a current answer. In a subshell with LC_ALL=C so the glob sorts
    # bytewise, as the stand-in sorts the labels (JS code units, the same for these names).
    out=$(
      LC_ALL=C
      { [ -e "$D/disabled.json" ] || [ -L "$D/disabled.json" ]; } && exit 1
      for d in "$D"/services/.[!.]* "$D"/services/..?*; do
        { [ -e "$d" ] || [ -L "$d" ]; } && exit 1
      done
      n=0
      rows=
      for d in "$D"/services/*; do
        { [ -e "$d" ] || [ -L "$d" ]; } || continue
        case ${d##*/} in *[!A-Za-z0-9._-]*) exit 1 ;; esac
        [ -f "$d/answer" ] || exit 1
        cur "$d" 3< "$d/answer" 2> /dev/null || exit 1
        n=$((n + 1))
        rows="$rows$row
"
      done
      printf 'system = {\n\ttype = system\n\thandle = 0\n\tactive count = %d\n\tservice count = %d\n\n\tservices = {\n%s\t}\n\n\tdisabled services = {\n\t}\n}' "$n" "$n" "$rows"
    ) || exec "$S" "$@"
    printf '%s\n' "$out" 2> /dev/null && exit 0
    exec "$S" "$@"
    ;;
  system/.* | system/*[!A-Za-z0-9._-]*) ;;
  system/?*)
    l=${2#system/}
    if ! [ -e "$D/services/$l" ] && ! [ -L "$D/services/$l" ]; then
      printf 'Could not find service "%s" in domain for system\n' "$l" >&2 2> /dev/null && exit 113
      exec "$S" "$@"
    fi
    if [ -f "$D/services/$l/answer" ]; then
      # the answer read through one descriptor, so the checks and the block printed are from the same write; the
      # block by sh itself (no cat: the caller's PATH need not have one), whole (its last line `}`) or not at all
      blk=
      x=
      {
        if cur "$D/services/$l"; then
          while IFS= read -r x; do
            blk=$blk$x'
'
          done <&3
        fi
      } 3< "$D/services/$l/answer" 2> /dev/null
      case $blk$x in *'
}
')
          printf '%s' "$blk" 2> /dev/null && exit 0
          ;;
      esac
    fi
    ;;
esac
exec "$S" "$@"
