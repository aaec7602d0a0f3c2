#!/usr/bin/env bash
# Build Headscale from its Go module for the real-Headscale tests (tests/headscale_real),
# once per version: the binary is cached in
#   ${XDG_CACHE_HOME:-~/.cache}/reconciler-test/headscale/<version>/headscale
# and a second run only checks that it is there. Usage: scripts/build-headscale.sh [VERSION...]
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
    if [ -x "$dest/headscale" ] && "$dest/headscale" version >/dev/null 2>&1; then
        echo "build-headscale: $version cached at $dest/headscale"
        continue
    fi
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    printf 'module reconcilertest/headscale\n\ngo 1.26.4\n\nrequire github.com/juanfont/headscale %s\n' \
        "$version" > "$work/go.mod"
    mkdir -p "$dest"
    start=$(date +%s)
    echo "build-headscale: building $version (a cold build takes minutes on 2 cores)"
    (cd "$work" && GOFLAGS=-mod=mod go build -o "$dest/headscale.new" \
        github.com/juanfont/headscale/cmd/headscale)
    mv "$dest/headscale.new" "$dest/headscale"
    echo "build-headscale: $version built in $(( $(date +%s) - start ))s: $dest/headscale"
    rm -rf "$work"
    trap - EXIT
done
