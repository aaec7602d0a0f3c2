#!/usr/bin/env bash
# Build Headscale from its Go module for the real-Headscale tests (tests/headscale_real),
# once per version, with the Tailscale client it is built against (tailscaled and
# tailscale from the same tailscale.com module version, for the real-nodes test):
#   ${XDG_CACHE_HOME:-~/.cache}/reconciler-test/headscale/<version>/{headscale,tailscaled,tailscale}
# A second run only checks that they are there. Usage: scripts/build-headscale.sh [VERSION...]
#
# Why not `go install github.com/juanfont/headscale/cmd/headscale@VERSION`: `go install`
# asks the module proxy for the module's version list (to report deprecation), and the
# proxy this project reaches refuses that list (403 "This module version is not
# available"). A throwaway module that requires the version and `go build`s the command
# needs only the version itself. Without Go this prints what to install and exits 0:
# the tests then skip on a developer machine and fail in CI (CI=true).
set -euo pipefail

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=("${HEADSCALE_VERSIONS:-v0.29.2}")
cache="${XDG_CACHE_HOME:-$HOME/.cache}/reconciler-test/headscale"

if ! command -v go >/dev/null 2>&1; then
    echo "build-headscale: go not found; install Go 1.26 or newer (e.g. apt-get install golang-go) to run the real-Headscale tests" >&2
    exit 0
fi

for version in ${versions[@]}; do
    dest="$cache/$version"
    if [ -x "$dest/headscale" ] && [ -x "$dest/tailscaled" ] && [ -x "$dest/tailscale" ] \
        && "$dest/headscale" version >/dev/null 2>&1; then
        echo "build-headscale: $version cached at $dest/headscale"
        continue
    fi
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    printf 'module reconcilertest/headscale\n\ngo 1.26.4\n\nrequire github.com/juanfont/headscale %s\n' \
        "$version" > "$work/go.mod"
    mkdir -p "$dest"
    start=$(date +%s)
    echo "build-headscale: building $version with tailscaled (a cold build takes minutes on 2 cores)"
    mkdir -p "$work/out"
    (cd "$work" && GOFLAGS=-mod=mod go build -o "$work/out/" \
        github.com/juanfont/headscale/cmd/headscale \
        tailscale.com/cmd/tailscaled tailscale.com/cmd/tailscale)
    mv "$work/out/tailscaled" "$work/out/tailscale" "$dest/"
    mv "$work/out/headscale" "$dest/headscale"  # last: its presence means complete
    echo "build-headscale: $version built in $(( $(date +%s) - start ))s: $dest/headscale"
    rm -rf "$work"
    trap - EXIT
done
