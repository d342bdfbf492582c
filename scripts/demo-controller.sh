# shellcheck shell=bash
# The last act of `make demo` (sourced by scripts/demo.sh, which owns the fleet, the infra repo, the helpers and the
# cleanup trap): `clawops controller run` takes the demo fleet over. A commit merged to main reaches the canary gw-1;
# gw-2 is Gated; a release/ tag on that commit fans out to gw-2 only after gw-1 has been green on it for two passes
# and acme's recorded webhook fixture was replayed from gw-1 with its recorded status. Passes come every --interval
# and at once on a signed POST /hooks/git, the way a git host's push webhook triggers them.
#
# Needs from demo.sh: $work $infra $here $node24 $port1 $port2 $crm_log, root(), g(), say(), note(), clawops(),
# controller_pid (the trap stops it with SIGTERM).

ctl_state="$work/controller"
ctl_log="$work/controller.log"
ctl_interval=10s
green_needed=$(sed -n 's/.*green_passes: *\([0-9][0-9]*\).*/\1/p' "$infra/clawops.yaml" | head -n 1)
hook_secret="$work/webhook.secret"
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$hook_secret")
ctl_port=''
for p in $(seq 48440 17 49999); do port_free "$p" && { ctl_port=$p; break; }; done
[ -n "$ctl_port" ] || { echo "demo: no free port for the controller between 48440 and 49999" >&2; exit 2; }
ctl_url="http://127.0.0.1:$ctl_port"
act_t0=$(date +%s)
since() { printf '+%ss' "$(( $(date +%s) - act_t0 ))"; }

# GET /status, reduced by a small JS expression over the status document `d`
ctl_q() {
  curl -s -m 5 "$ctl_url/status" | "$node24" -e '
    let d; try { d = JSON.parse(require("fs").readFileSync(0, "utf8")); } catch { process.exit(1); }
    const out = new Function("d", "return (" + process.argv[1] + ")")(d);
    if (out !== undefined && out !== null && out !== "") console.log(String(out));' "$1"
}

# the controller exited without being asked: exit 0 means it got ^C/SIGTERM too (so the demo was interrupted)
ctl_gone() {
  local rc=0
  wait "$controller_pid" 2>/dev/null || rc=$?
  controller_pid=''
  [ "$rc" = 0 ] && exit 130
  echo "demo: the controller exited $rc; its log: $ctl_log" >&2; tail -n 20 "$ctl_log" >&2
  exit 1
}

# wait until a pass that started at or after $1 (ISO time) has finished, and print one line about it
ctl_wait_pass() { # since-iso what
  local i line
  for i in $(seq 1 300); do
    line=$(ctl_q "d.lastPass && d.lastPass.finishedAt && d.lastPass.startedAt >= \"$1\" ? \`pass \${d.passes} \${d.lastPass.id} \${d.lastPass.outcome} in \${(d.lastPass.durationMs/1000).toFixed(1)} s\` : \"\"" || true)
    if [ -n "$line" ]; then note "$(since) $line${2:+ ($2)}"; return 0; fi
    kill -0 "$controller_pid" 2>/dev/null || ctl_gone
    sleep 0.5
  done
  echo "demo: no controller pass finished within 150 s of $1; its log: $ctl_log" >&2
  exit 1
}

# wait until the pass after the one counted now has finished (a pass in flight counts)
ctl_wait_next() { # what
  local n i line
  n=$(ctl_q 'd.passes' || true); n=${n:-0}
  for i in $(seq 1 300); do
    line=$(ctl_q "d.passes > $n && d.lastPass.finishedAt ? \`pass \${d.passes} \${d.lastPass.id} \${d.lastPass.outcome} in \${(d.lastPass.durationMs/1000).toFixed(1)} s\` : \"\"" || true)
    if [ -n "$line" ]; then note "$(since) $line${1:+ ($1)}"; return 0; fi
    kill -0 "$controller_pid" 2>/dev/null || ctl_gone
    sleep 0.5
  done
  echo "demo: no controller pass finished within 150 s; its log: $ctl_log" >&2
  exit 1
}

# one look after a pass (one Node process, so the demo keeps pace with the passes on a busy machine): what the
# controller logged since line $1 of its log for the stages that tell the story, every node from GET /status on one
# line (state, what it runs, reason: message), and the canary evidence for commit $2
ctl_show() { # from-line [commit]
  "$node24" -e '
    const [url, logFile, from, commit, need] = process.argv.slice(1);
    const lines = require("fs").readFileSync(logFile, "utf8").split("\n").slice(Number(from) - 1);
    const cut = (s) => (s.length > 230 ? s.slice(0, 229) + "…" : s);
    for (const l of lines) {
      let j; try { j = JSON.parse(l); } catch { continue; }
      if (["gate", "replay", "status"].includes(j.stage) || (j.stage === "apply" && /^applying /.test(j.msg)) || j.http === "hook")
        console.log(cut(`      ${new Date(j.time).toISOString().slice(11, 19)} ${(j.stage ?? "http").padEnd(6)} ${j.msg}`));
    }
    fetch(url + "/status").then((r) => r.json()).then((d) => {
      for (const n of ["notifier-1", "gw-1", "gw-2"]) {
        const r = d.nodes[n];
        if (!r) { console.log(`      ${n.padEnd(11)} (no status yet)`); continue; }
        const runs = [...new Set(r.sync.running.map((x) => x.tag ?? (x.commit ?? "?").slice(0, 7)))].join(",") || "-";
        console.log(cut(`      ${n.padEnd(11)} ${r.state.padEnd(11)} runs ${runs.padEnd(18)} ${r.reason}${r.message ? ": " + r.message : ""}`));
      }
      const e = commit ? d.commits[commit] : undefined;
      if (commit && !e) console.log(`      no evidence yet for ${commit.slice(0, 7)}`);
      if (e) {
        const c = Object.entries(e.canaries).map(([n, x]) => `${n} running=${x.running}, green passes ${x.greenPasses} (${need} needed), health gate ${x.healthGate}`).join("; ");
        console.log(`      evidence ${commit.slice(0, 7)}${e.tag ? ` (${e.tag})` : ""}: ${c}; replay ${e.replay ?? "not yet"}; verdict ${e.verdict}`);
      }
    });' "$ctl_url" "$ctl_log" "$1" "${2:-}" "$green_needed"
}
ctl_mark() { wc -l < "$ctl_log" | tr -d ' '; }

# POST /hooks/git as a git host does on a push: X-Hub-Signature-256 = HMAC-SHA256 of the body with the shared secret
hook() { # ref commit
  local body sig
  body=$(printf '{"ref":"%s","after":"%s","repository":{"full_name":"demo/infra"}}' "$1" "$2")
  sig=$(printf '%s' "$body" | "$node24" -e '
    const fs = require("fs"), key = fs.readFileSync(process.argv[1], "utf8").trim();
    process.stdout.write(require("crypto").createHmac("sha256", key).update(fs.readFileSync(0)).digest("hex"));' "$hook_secret")
  note "$(since) POST $ctl_url/hooks/git (push $1 ${2:0:7}, X-Hub-Signature-256 sha256=${sig:0:12}…) → HTTP $(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "$ctl_url/hooks/git" \
    -H 'content-type: application/json' -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: sha256=$sig" --data-binary "$body")"
}
now_iso() { "$node24" -e 'process.stdout.write(new Date().toISOString())'; }

say "the controller takes over: main is reverted to v2's tree first (v3's port change is quarantined on gw-1)"
g revert --no-edit v3 >/dev/null
note "git revert v3 on main → $(g rev-parse --short HEAD) ($(g log -1 --format=%s))"
note "clawops.yaml: refs.canary refs/heads/main (gw-1), refs.fleet refs/tags/release/* (gw-2, notifier-1), gating.green_passes $green_needed;"
note "fixtures/webhooks/ records acme's crm delivery, so each commit must also be replayed from the canary; in this demo"
note "acme's crm url is a local stand-in of its receiver (hooks.acme.example is not reachable): it checks the signature"
note "no release/ tag exists yet: the fleet nodes are Gated (\"no release yet\") and left as they are (gw-2 keeps v1)"
note "\$ clawops controller run --repo $infra --state-dir $ctl_state \\"
note "      --listen 127.0.0.1:$ctl_port --webhook-secret-file $hook_secret --interval $ctl_interval   (pino JSON → $ctl_log)"
t=$(now_iso)
"$here/bin/clawops" controller run --repo "$infra" --state-dir "$ctl_state" --listen "127.0.0.1:$ctl_port" \
  --webhook-secret-file "$hook_secret" --interval "$ctl_interval" 2> "$ctl_log" &
controller_pid=$!
ctl_wait_pass "$t" "the first pass runs at start"
note "every node from GET /status: state, what it runs, reason: message"
ctl_show 1 "$(g rev-parse HEAD)"
note "gw-1 already runs the revert's content (v2's release id): nothing applied; gw-2 is not even observed without a release"

say "a PR is merged to main: acme logs warnings only (20-overrides.yaml: info → warn; hot-applies, no restart)"
sed -i.bak 's/level: info/level: warn/' "$infra/tenants/acme/gateway.d/20-overrides.yaml" && rm -f "$infra/tenants/acme/gateway.d/20-overrides.yaml.bak"
g commit -q -am "acme: warn logging (merged PR)"
c=$(g rev-parse HEAD)
note "main → ${c:0:7}; the git host calls the controller's webhook:"
m=$(ctl_mark); t=$(now_iso)
hook refs/heads/main "$c"
ctl_wait_pass "$t" "triggered by the webhook"
ctl_show "$m" "$c"
note "the fixture delivery, as acme's crm receiver saw it:"
tail -n 1 "$crm_log" | sed 's/^/      /'
reloadlog gw-1 1

say "release/1 is tagged on ${c:0:7}: gw-2 waits for the canary's green passes"
g tag -a release/1 -m "release 1: acme warn logging" "$c"
m=$(ctl_mark); t=$(now_iso)
hook refs/tags/release/1 "$c"
ctl_wait_pass "$t" "triggered by the webhook"
ctl_show "$m" "$c"
note "\$ clawops status --controller $ctl_url"
set +e; clawops status --controller "$ctl_url" > "$work/status-gated.out"; rc=$?; set -e
sed -e '/^$/d' -e 's/^/      /' "$work/status-gated.out"
note "clawops status exit $rc (1: not all green)"

say "the next passes come every $ctl_interval: green pass $green_needed proves ${c:0:7}, release/1 fans out to gw-2"
for i in $(seq 1 12); do
  m=$(ctl_mark)
  ctl_wait_next "interval"
  ctl_show "$m"
  [ "$(ctl_q 'Object.values(d.nodes).every((r) => r.state === "Synced") && d.fleetCommit ? "all" : ""')" = all ] && break
done
ctl_show "$(ctl_mark)" "$c" | tail -n 1
[ "$(ctl_q 'Object.values(d.nodes).every((r) => r.state === "Synced") ? "all" : ""')" = all ] \
  || { echo "demo: the fleet did not converge; the controller's log: $ctl_log" >&2; exit 1; }
readyz gw-2 "$port2"; runrec gw-2
reloadlog gw-2 1
set +e; clawops status --controller "$ctl_url" > "$work/status-synced.out"; rc=$?; set -e
note "\$ clawops status --controller $ctl_url   → exit $rc"
grep -E '^(source|gate|[0-9]+ node)|^Synced|^All|green' "$work/status-synced.out" | sed 's/^/      /'
[ "$rc" = 0 ] || { echo "demo: clawops status should exit 0 with every node Synced" >&2; sed 's/^/   /' "$work/status-synced.out" >&2; exit 1; }

say "SIGTERM to the controller (the pass in flight stops at a node step boundary; exit 0)"
kill -TERM "$controller_pid"
set +e; wait "$controller_pid"; rc=$?; set -e
controller_pid=''
note "controller exit $rc after $(ctl_passes=$(grep -c '"msg":"reconcile [^ ]* done' "$ctl_log"); echo "$ctl_passes") passes; the act took $(( $(date +%s) - act_t0 )) s"
[ "$rc" = 0 ] || { echo "demo: the controller exited $rc on SIGTERM" >&2; tail -n 5 "$ctl_log" >&2; exit 1; }
