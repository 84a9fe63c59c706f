#!/usr/bin/env bash
# Build the MsPASS image (called by `make build`; every setting comes from the environment).
#
#   IMAGE, TAG          name of the result (mspass, latest); also tagged TAG-ENGINE
#   MSPASS_VERSION      mspasspy version built into the image (2.4.3); none: the slim image
#   SOURCE_CACHE        directory of byte-identical upstream source archives with a SHA256SUMS
#                       file, for builds that cannot download them (air-gapped sites, this
#                       project's CI); copied into scripts/build/source-cache/, where later
#                       builds find it without the setting
#   OUTPUT              instead of an image, export the mspasspy wheel and its runtime package
#                       list to this directory (the Dockerfile's mspasspy-wheel stage)
#   BASE_IMAGE          base image (debian:bookworm-slim). When it is neither present nor
#                       pullable (no registry), a local Debian base made with debootstrap
#                       is used instead (LOCAL_BASE_IMAGE, mspass-base:bookworm), with a notice.
#   MSPASS_DB_ENGINE    auto | mongodb | ferretdb. auto: mongodb when MongoDB's package
#                       repository answers (for this platform), else ferretdb, with a notice.
#   MONGODB_APT_SOURCE, MONGODB_APT_KEY_URL   MongoDB's apt repository ("URI SUITE COMPONENT")
#                       and its key; default: MongoDB's public one (the Dockerfile's ARGs)
#   MONGODB_VERSION, MONGOSH_VERSION, MONGODB_TOOLS_VERSION   the pinned packages (default: the Dockerfile's)
#   EXTRA_CA_CERT       CA bundle handed to the build as a BuildKit secret (never stored in
#                       the image); empty: none. Default: the host's bundle when present.
#   PLATFORM            e.g. linux/arm64 (one platform per build); empty: this machine's
#   DOCKER              docker command (docker)
#   BUILD_ARGS          extra `docker build` arguments, e.g. --no-cache
# Package indexes are read from this host's configuration (pip, go) at run time.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

IMAGE=${IMAGE:-mspass}
TAG=${TAG:-latest}
BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
LOCAL_BASE_IMAGE=${LOCAL_BASE_IMAGE:-mspass-base:bookworm}
MSPASS_DB_ENGINE=${MSPASS_DB_ENGINE:-auto}
MSPASS_VERSION=${MSPASS_VERSION:-2.4.3}
SOURCE_CACHE=${SOURCE_CACHE:-}
OUTPUT=${OUTPUT:-}
EXTRA_CA_CERT=${EXTRA_CA_CERT-/etc/ssl/certs/ca-certificates.crt}
PLATFORM=${PLATFORM:-}
DOCKER=${DOCKER:-docker}

say() { printf 'build-image: %s\n' "$*"; }
die() { printf 'build-image: ERROR: %s\n' "$*" >&2; exit 2; }

"$DOCKER" info >/dev/null 2>&1 || die "Docker is not running; run 'make deps' (scripts/host/provision-host.sh)"

[ -z "$EXTRA_CA_CERT" ] || [ -r "$EXTRA_CA_CERT" ] || die "EXTRA_CA_CERT=$EXTRA_CA_CERT is not a readable file"
[[ $MSPASS_VERSION =~ ^(none|[0-9]+(\.[0-9]+)*)$ ]] ||
    die "MSPASS_VERSION='$MSPASS_VERSION' is not a version; valid: a mspasspy release such as 2.4.3, or none"

# --- source cache: verified here, then copied into the build context, where it stays for
# later builds (changing it would rebuild MsPASS)
staged=scripts/build/source-cache
if [ -n "$SOURCE_CACHE" ]; then
    find "$staged" -mindepth 1 ! -name README.md ! -name .gitignore -delete
    [ -f "$SOURCE_CACHE/SHA256SUMS" ] || die "SOURCE_CACHE=$SOURCE_CACHE has no SHA256SUMS file"
    (cd "$SOURCE_CACHE" && sha256sum --quiet --strict -c SHA256SUMS) ||
        die "SOURCE_CACHE=$SOURCE_CACHE: a file does not match its SHA256SUMS"
    while read -r _ name; do cp -p "$SOURCE_CACHE/$name" "$staged/"; done <"$SOURCE_CACHE/SHA256SUMS"
    cp -p "$SOURCE_CACHE/SHA256SUMS" "$staged/"
    say "source cache: $SOURCE_CACHE ($(awk '{printf "%s ", $2}' "$SOURCE_CACHE/SHA256SUMS"))"
fi

# --- what mspasspy's build downloads (libmseed, named by its patch 04) must be in the source
# cache or answer from here: said now, not after minutes of compiling
if [ "$MSPASS_VERSION" != none ]; then
    patches=(scripts/build/mspasspy/patches/"$MSPASS_VERSION"/*.patch)
    [ -f "${patches[0]}" ] ||
        die "MSPASS_VERSION=$MSPASS_VERSION: no patches for it in scripts/build/mspasspy/patches; valid: $(ls scripts/build/mspasspy/patches | tr '\n' ' ')or none"
    url=$(sed -n 's/^+ *set (MSEED_URL \(https:[^ )]*\)).*/\1/p' "${patches[@]}" | head -n 1)
    archive=$(grep -oh 'MSPASS_SOURCE_CACHE}/[^"]*' "${patches[@]}" | head -n 1 | cut -d/ -f2)
    if [ -n "$url" ] && [ ! -f "$staged/$archive" ] &&
        ! curl -fsSL --max-time 30 -r 0-0 -o /dev/null ${EXTRA_CA_CERT:+--cacert "$EXTRA_CA_CERT"} "$url" 2>/dev/null; then
        die "mspasspy $MSPASS_VERSION's build downloads $url, which does not answer here, and no source" \
            "cache holds $archive. Give SOURCE_CACHE=DIR, a directory with $archive and its SHA256SUMS" \
            "(scripts/build/source-cache/README.md), or build without MsPASS (MSPASS_VERSION=none)"
    fi
fi

# --- base image: present, pullable, or made here
if "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    :
elif timeout 120 "$DOCKER" pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
    say "pulled $BASE_IMAGE"
else
    say "NOTICE: cannot pull $BASE_IMAGE (no registry reachable?); building FROM $LOCAL_BASE_IMAGE," \
        "a Debian base made here with debootstrap (scripts/build/make-base-image.sh)"
    BASE_PULL=0 BASE_ARCH=${PLATFORM:+${PLATFORM#*/}} "$repo/scripts/build/make-base-image.sh" "$LOCAL_BASE_IMAGE"
    BASE_IMAGE=$LOCAL_BASE_IMAGE
fi

# --- database engine (an image needs one; the wheel does not)
# MongoDB's repository: from the environment, else the Dockerfile's defaults (declared there once)
dockerfile_arg() { sed -n "s/^ARG $1=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" Dockerfile; }
MONGODB_APT_SOURCE=${MONGODB_APT_SOURCE:-$(dockerfile_arg MONGODB_APT_SOURCE)}
MONGODB_APT_KEY_URL=${MONGODB_APT_KEY_URL:-$(dockerfile_arg MONGODB_APT_KEY_URL)}
# why MongoDB cannot be installed here (exit 0 and a reason), or exit 1 when it can
mongodb_unreachable() {
    local uri suite arch release
    read -r uri suite _ <<<"$MONGODB_APT_SOURCE"
    arch=${PLATFORM#*/}
    arch=${arch:-$("$DOCKER" version -f '{{.Server.Arch}}' 2>/dev/null || uname -m)}
    case $arch in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
    if [[ $uri == */debian && $arch != amd64 ]]; then
        echo "MongoDB publishes no $arch packages for Debian"
        return 0
    fi
    release="$uri/dists/$suite/Release"
    for url in "$MONGODB_APT_KEY_URL" "$release"; do
        if ! curl -fsS --max-time 20 -o /dev/null ${EXTRA_CA_CERT:+--cacert "$EXTRA_CA_CERT"} "$url" 2>/dev/null; then
            echo "MongoDB's repository does not answer ($url)"
            return 0
        fi
    done
    return 1
}
if [ -z "$OUTPUT" ]; then
    case $MSPASS_DB_ENGINE in
    auto)
        if why=$(mongodb_unreachable); then
            MSPASS_DB_ENGINE=ferretdb
            say "NOTICE: building with FerretDB (a MongoDB-compatible server built from source), not" \
                "MongoDB: $why. Set MONGODB_APT_SOURCE/MONGODB_APT_KEY_URL to a mirror, or" \
                "MSPASS_DB_ENGINE=mongodb to insist."
        else
            MSPASS_DB_ENGINE=mongodb
        fi
        ;;
    mongodb | ferretdb) ;;
    *) die "MSPASS_DB_ENGINE='$MSPASS_DB_ENGINE' is not an engine; valid: auto, mongodb, ferretdb" ;;
    esac
fi

# --- build arguments
args=(--build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "MSPASS_DB_ENGINE=$MSPASS_DB_ENGINE"
    --build-arg "MSPASS_VERSION=$MSPASS_VERSION")
add_arg() { if [ -n "$2" ]; then args+=(--build-arg "$1=$2"); fi; }
add_arg PIP_INDEX_URL "${PIP_INDEX_URL:-$(python3 -m pip config get global.index-url 2>/dev/null || true)}"
if command -v go >/dev/null; then
    add_arg GOPROXY "${GOPROXY:-$(go env GOPROXY)}"
    add_arg GOSUMDB "${GOSUMDB:-$(go env GOSUMDB)}"
fi
add_arg MONGODB_VERSION "${MONGODB_VERSION:-}"
add_arg MONGOSH_VERSION "${MONGOSH_VERSION:-}"
add_arg MONGODB_TOOLS_VERSION "${MONGODB_TOOLS_VERSION:-}"
add_arg MONGODB_APT_SOURCE "${MONGODB_APT_SOURCE:-}"
add_arg MONGODB_APT_KEY_URL "${MONGODB_APT_KEY_URL:-}"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then revision="$revision-dirty"; fi
source_url=$(git remote get-url origin 2>/dev/null || true)
case $source_url in https://*) ;; *) source_url="" ;; esac # a local path says nothing to users
add_arg VERSION "$version"
add_arg VCS_REF "$revision"
add_arg SOURCE "$source_url"
add_arg BUILD_DATE "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
if [ -n "$EXTRA_CA_CERT" ]; then args+=(--secret "id=ca,src=$EXTRA_CA_CERT"); fi
# shellcheck disable=SC2206 # BUILD_ARGS is a list of words on purpose
args+=(${BUILD_ARGS:-})

start=$(date +%s)
if [ -n "$OUTPUT" ]; then
    say "building the mspasspy $MSPASS_VERSION wheel into $OUTPUT (FROM $BASE_IMAGE${PLATFORM:+, $PLATFORM})"
    rm -rf "$OUTPUT"
    "$DOCKER" buildx build ${PLATFORM:+--platform "$PLATFORM"} --target mspasspy-wheel \
        --output "type=local,dest=$OUTPUT" "${args[@]}" .
    say "built $(cd "$OUTPUT" && ls | tr '\n' ' ')in $(($(date +%s) - start)) s"
    exit 0
fi
args+=(-t "$IMAGE:$TAG" -t "$IMAGE:$TAG-$MSPASS_DB_ENGINE")
say "building $IMAGE:$TAG (engine $MSPASS_DB_ENGINE, mspasspy $MSPASS_VERSION, FROM $BASE_IMAGE${PLATFORM:+, $PLATFORM})"
if [ -n "$PLATFORM" ]; then
    "$DOCKER" buildx build --load --platform "$PLATFORM" "${args[@]}" .
else
    DOCKER_BUILDKIT=1 "$DOCKER" build "${args[@]}" .
fi
say "built $IMAGE:$TAG in $(($(date +%s) - start)) s"
