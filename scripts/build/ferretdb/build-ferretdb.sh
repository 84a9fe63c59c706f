#!/usr/bin/env bash
# Build FerretDB, a MongoDB wire-protocol server (v1 line: embedded SQLite backend, no other
# server needed), from the Go module proxy at a pinned version, with the project's patches
# (patches/VERSION/*.patch, each file says why). It is the project's MongoDB-compatible
# server where MongoDB itself cannot be downloaded.
#
#   scripts/build/ferretdb/build-ferretdb.sh [OUTPUT]     default OUTPUT: .build/bin/ferretdb
#
# FERRETDB_PATCHES selects the patches: all (the default), none (the release as published),
# or ..NN (01 to NN: what the image ran before the later ones).
# Idempotent: does nothing when OUTPUT already reports the pinned version and patch set.
# Cached: the Go module and build caches make a rebuild fast. Cross-compiles with
# GOOS/GOARCH (pure Go). Needs go >= 1.22 and patch.
set -euo pipefail

FERRETDB_VERSION="${FERRETDB_VERSION:-v1.24.0}"
# go.sum-style hash of the module zip for the pinned version; a different download fails
FERRETDB_SUM="${FERRETDB_SUM:-h1:7WJmezL48Bj9bYWnhT/bEJgX5gjT5s7LFdHTqkN25rA=}"
MODULE=github.com/FerretDB/FerretDB

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
out="${1:-$repo/.build/bin/ferretdb}"
case $out in /*) ;; *) out="$PWD/$out" ;; esac # the build itself runs in another directory

say() { echo "build-ferretdb: $*"; }

patches=("$here/patches/$FERRETDB_VERSION"/*.patch)
if [ ! -f "${patches[0]}" ]; then patches=(); fi
# a selection (bench/engine.py compares them): none, or ..NN (the patches numbered up to NN)
selection="${FERRETDB_PATCHES:-all}"
case $selection in
all) ;;
none) patches=() ;;
..[0-9][0-9])
    wanted=()
    for p in "${patches[@]}"; do
        n=$(basename "$p")
        [[ ${n:0:2} > ${selection:2} ]] || wanted+=("$p")
    done
    patches=("${wanted[@]}")
    ;;
*) say "ERROR: FERRETDB_PATCHES='$selection'; valid: all, none or ..NN (the patches up to NN)" >&2; exit 2 ;;
esac
# the binary names its patch set (`ferretdb --version`: package), so a changed patch rebuilds
package="mspass"
if ((${#patches[@]})); then
    package="mspass+$(cat "${patches[@]}" | sha256sum | cut -c1-12)"
fi

# (outputs are captured, not piped: with pipefail, `| head` can kill the writer with SIGPIPE)
installed=$("$out" --version 2>/dev/null || true)
if [[ -x $out && $'\n'$installed$'\n' == *$'\n'"version: $FERRETDB_VERSION"$'\n'* &&
    $'\n'$installed$'\n' == *$'\n'"package: $package"$'\n'* ]]; then
    say "$out is already FerretDB $FERRETDB_VERSION ($package)"
    exit 0
fi
if ! command -v go >/dev/null; then
    say "ERROR: 'go' is not on PATH; install Go >= 1.22 (the Go toolchain builds FerretDB)" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# `go install MODULE@VERSION` also asks the proxy for the module's version list (for a
# deprecation notice), which some proxies refuse; downloading the exact version does not.
# The download is verified against the checksum database and the pinned hash below.
info=$(cd "$work" && go mod download -json "$MODULE@$FERRETDB_VERSION")
dir=$(printf '%s' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
sum=$(printf '%s' "$info" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p')
if [ "$sum" != "$FERRETDB_SUM" ]; then
    say "ERROR: $MODULE@$FERRETDB_VERSION has hash '$sum', expected '$FERRETDB_SUM'" >&2
    exit 1
fi

# The module zip lacks the generated version file that FerretDB embeds and requires.
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
echo "$FERRETDB_VERSION" >"$work/src/build/version/version.txt"
echo "$package" >"$work/src/build/version/package.txt"
for p in "${patches[@]}"; do
    say "patch: $(basename "$p")"
    patch -s -p1 -d "$work/src" <"$p"
done

mkdir -p "$(dirname "$out")"
say "building FerretDB $FERRETDB_VERSION for ${GOOS:-$(go env GOOS)}/${GOARCH:-$(go env GOARCH)}"
(cd "$work/src" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out.tmp" ./cmd/ferretdb)
mv "$out.tmp" "$out"
if [ -z "${GOARCH:-}" ] || [ "${GOARCH}" = "$(go env GOHOSTARCH)" ]; then
    version=$("$out" --version)
    echo "${version%%$'\n'*}"
fi
say "built $out"
