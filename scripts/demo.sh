#!/usr/bin/env bash
# make demo: lint and render the example infra repo, then print what each node would get.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=tenants-example
echo "== clawops lint $repo"
./bin/clawops lint "$repo"
echo
echo "== clawops render $repo --tenant acme   (10-base.yaml + 20-overrides.yaml composed)"
./bin/clawops render "$repo" --tenant acme
echo
echo "== what each node would get"
./bin/clawops inventory "$repo"
