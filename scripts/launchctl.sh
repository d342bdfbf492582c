#!/bin/sh
# launchctl for clawops' test fleet and local demo fleets: a sh front end installed as <root>/usr/local/bin/launchctl
# before the Node stand-in, installed beside it as launchctl-standin (scripts/launchctl-standin.mjs).
#
# macOS' launchctl is a native program that answers `print` in a few ms. The Node stand-in costs ~30 ms of CPU a start,
# which every observe of every node paid (20 nodes sharing 2 CPUs: 0.6 CPU-s a controller pass). So the read-only
# `launchctl print system` and `launchctl print system/<label>` are answered here, from the answer each service's
# supervisor keeps beside its status (services/<label>/answer: the supervisor's pid, the service's row of
# `print system`, then the whole `print system/<label>`, rendered by the stand-in's own formatter each time the status
# changes): byte for byte what the stand-in prints on the same state, with its exit codes (test/fleet/launchctl-sh.test.ts
# compares the two on the same states). Anything else, and any doubt, goes to the stand-in itself: another subcommand,
# a service whose supervisor is gone (the stand-in sweeps it) or has not written its first answer yet, enable/disable
# overrides (disabled.json), a name outside [A-Za-z0-9._-] or starting with a dot.
case $0 in
  */*) B=${0%/*} ;;
  *) exec launchctl-standin "$@" ;;
esac
S=$B/launchctl-standin
# where the stand-in keeps its state: LAUNCHD_STANDIN_ROOT, else <root>/var/run/launchd-standin (the stand-in derives
# it the same way from its own path, <root>/usr/local/bin/launchctl-standin)
D=${LAUNCHD_STANDIN_ROOT:-$B/../../../var/run/launchd-standin}
[ $# -eq 2 ] && [ "$1" = print ] || exec "$S" "$@"

# the stand-in's alive(): kill(pid, 0) works and /proc does not call it a zombie (a kill that fails for any reason,
# EPERM included, sends the question to the stand-in)
up() {
  case $1 in '' | 0* | *[!0-9]*) return 1 ;; esac
  kill -0 "$1" 2> /dev/null || return 1
  { IFS= read -r st < "/proc/$1/stat"; } 2> /dev/null || return 0
  st=${st##*) }
  case $st in Z* | X*) return 1 ;; esac
}

case $2 in
  system | system/)
    # the domain: every service dir must hold a job and an answer whose supervisor is up. In a subshell with
    # LC_ALL=C so the glob sorts bytewise, as the stand-in sorts the labels (JS code units, the same for these names).
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
        [ -f "$d/job.json" ] && [ -f "$d/answer" ] || exit 1
        { IFS= read -r spid && IFS= read -r row; } < "$d/answer" || exit 1
        up "$spid" || exit 1
        n=$((n + 1))
        rows="$rows$row
"
      done
      printf 'system = {\n\ttype = system\n\thandle = 0\n\tactive count = %d\n\tservice count = %d\n\n\tservices = {\n%s\t}\n\n\tdisabled services = {\n\t}\n}' "$n" "$n" "$rows"
    ) || exec "$S" "$@"
    printf '%s\n' "$out"
    exit 0
    ;;
  system/.* | system/*[!A-Za-z0-9._-]*) ;;
  system/?*)
    l=${2#system/}
    if ! [ -e "$D/services/$l" ] && ! [ -L "$D/services/$l" ]; then
      printf 'Could not find service "%s" in domain for system\n' "$l" >&2
      exit 113
    fi
    if [ -f "$D/services/$l/job.json" ] && [ -f "$D/services/$l/answer" ]; then
      # the answer read through one descriptor, so the pid checked and the block printed are from the same write
      { IFS= read -r spid <&3 && IFS= read -r row <&3 && up "$spid" && exec cat <&3; } 3< "$D/services/$l/answer" 2> /dev/null
    fi
    ;;
esac
exec "$S" "$@"
