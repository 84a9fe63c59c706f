#!/usr/bin/env bash
# Ensure a local Debian base image exists for the project's Dockerfiles.
#
#   1. the image is already there (docker image inspect): do nothing;
#   2. else, for a name a registry may serve, try `docker pull` briefly;
#   3. else build it: debootstrap --variant=minbase SUITE into a temporary
#      directory (mirror read from the host's apt configuration) and import
#      that root filesystem as IMAGE.
# Idempotent: a second run only finds the image. Needs root, a running Docker
# engine and debootstrap (scripts/host/provision-host.sh provides them).
#
# Usage: scripts/build/make-base-image.sh [IMAGE]
# Environment:
#   BASE_IMAGE         image name when no argument is given (mspass-base:bookworm)
#   BASE_SUITE         Debian suite to bootstrap; default: the tag's first word when
#                      it names a suite (mspass-base:trixie -> trixie), else bookworm
#   BASE_ARCH          Debian architecture (default: the host's, dpkg --print-architecture)
#   BASE_PULL          0: never try docker pull (default 1: try, except for mspass-base)
#   BASE_PULL_TIMEOUT  seconds allowed for that pull (30)
#   DEBIAN_MIRROR      Debian archive URI; default: read from the host's apt config
set -euo pipefail
# Non-root shells often lack the sbin directories (dockerd, debootstrap live there).
case :$PATH: in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac

PROG=make-base-image
IMAGE=${1:-${BASE_IMAGE:-mspass-base:bookworm}}
SUITE=""
ARCH=${BASE_ARCH:-$(dpkg --print-architecture)}
BASE_PULL=${BASE_PULL:-1}
BASE_PULL_TIMEOUT=${BASE_PULL_TIMEOUT:-30}
WORK_DIR=""

say() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

# debootstrap mounts proc/sys inside the target while it works; unmount any
# leftovers before removing, and never let rm cross into another file system.
cleanup() {
    [[ -n $WORK_DIR && -d $WORK_DIR ]] || return 0
    local mnt
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v d="$WORK_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r)
    rm -rf --one-file-system "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # run the EXIT trap on interruption too

# shellcheck source=scripts/lib/apt-sources.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/apt-sources.sh"

# The security archive is a separate URI; take it from the host too (if any).
security_mirror() {
    local uri
    uri=$(host_apt_uri "$SUITE-security")
    [[ -n $uri ]] || uri=$(host_apt_uri "$(host_codename)-security")
    printf '%s\n' "$uri"
}

# Debian architecture name -> docker/OCI platform architecture.
docker_arch() {
    case $1 in
        amd64 | arm64 | s390x | riscv64) printf '%s\n' "$1" ;;
        i386) echo 386 ;;
        armhf | armel) echo arm ;;
        ppc64el) echo ppc64le ;;
        *) die "unsupported architecture: $1" ;;
    esac
}

# Debian architecture name -> qemu binfmt handler name.
qemu_arch() {
    case $1 in
        arm64) echo aarch64 ;;
        armhf | armel) echo arm ;;
        ppc64el) echo ppc64le ;;
        *) printf '%s\n' "$1" ;;
    esac
}

# The project's own base name (mspass-base) is never published: no pull.
pull_worth_trying() {
    local repo=${IMAGE%%@*}
    repo=${repo%:*}
    [[ $BASE_PULL != 0 && $repo != mspass-base ]]
}

try_pull() {
    say "trying docker pull $IMAGE (timeout ${BASE_PULL_TIMEOUT}s)"
    if timeout "$BASE_PULL_TIMEOUT" docker pull -q --platform "linux/$(docker_arch "$ARCH")" "$IMAGE" >/dev/null 2>&1; then
        say "pulled $IMAGE"
        return 0
    fi
    say "pull failed; building $IMAGE locally"
    return 1
}

check_prerequisites() {
    [[ $(id -u) -eq 0 ]] || die "debootstrap needs root"
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing: run scripts/host/provision-host.sh"
    local host_arch
    host_arch=$(dpkg --print-architecture)
    [[ $ARCH == "$host_arch" ]] && return 0
    [[ $host_arch == amd64 && $ARCH == i386 ]] && return 0
    # Other architectures run their binaries (debootstrap's second stage)
    # through qemu; provision-host.sh does not install that.
    [[ -e /proc/sys/fs/binfmt_misc/qemu-$(qemu_arch "$ARCH") ]] \
        || die "building a $ARCH image needs qemu binfmt handlers on this host (mount binfmt_misc; apt-get install qemu-user-static binfmt-support)"
    docker buildx version >/dev/null 2>&1 || die "building a $ARCH image needs docker buildx: run scripts/host/provision-host.sh"
}

bootstrap_rootfs() {
    local rootfs=$1 mirror=$2 log=$WORK_DIR/debootstrap.log
    say "debootstrap --variant=minbase --arch=$ARCH $SUITE from $mirror"
    if ! debootstrap --variant=minbase --arch="$ARCH" "$SUITE" "$rootfs" "$mirror" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "debootstrap failed (see the lines above)"
    fi
}

# Give the root filesystem what the official Debian images have: deb822
# sources for the suite, its updates and security archive (Dockerfiles switch
# suites by editing the suite names there), no services started by package
# installs, and no apt lists or caches in the image.
configure_rootfs() {
    local rootfs=$1 mirror=$2 security
    security=$(security_mirror)
    rm -f "$rootfs/etc/apt/sources.list"
    {
        printf 'Types: deb\nURIs: %s\n' "$mirror"
        case $SUITE in
            sid | unstable | experimental) printf 'Suites: %s\n' "$SUITE" ;;
            *) printf 'Suites: %s %s-updates\n' "$SUITE" "$SUITE" ;;
        esac
        printf 'Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        case $SUITE in
            sid | unstable | experimental) ;;
            *) if [[ -n $security ]]; then
                printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\n' "$security" "$SUITE"
                printf 'Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
            fi ;;
        esac
    } >"$rootfs/etc/apt/sources.list.d/debian.sources"
    printf '#!/bin/sh\n# no service starts inside image builds\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
    chmod 755 "$rootfs/usr/sbin/policy-rc.d"
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*
    # debootstrap copies these from the build host; docker provides its own.
    echo localhost >"$rootfs/etc/hostname"
    : >"$rootfs/etc/resolv.conf"
}

import_rootfs() {
    local rootfs=$1 darch host_darch ctx
    darch=$(docker_arch "$ARCH")
    host_darch=$(docker_arch "$(dpkg --print-architecture)")
    if [[ $darch == "$host_darch" ]]; then
        tar --numeric-owner -C "$rootfs" -c . \
            | docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' - "$IMAGE" >/dev/null
        return
    fi
    # `docker import --platform` is ignored by this daemon (the image would be
    # labelled with the host's architecture), so wrap the rootfs in a
    # FROM scratch build for the target platform instead.
    ctx=$WORK_DIR/ctx
    mkdir -p "$ctx"
    tar --numeric-owner -C "$rootfs" -cf "$ctx/rootfs.tar" .
    printf 'FROM scratch\nADD rootfs.tar /\nENV LANG=C.UTF-8\nCMD ["bash"]\n' >"$ctx/Dockerfile"
    docker buildx build -q --platform "linux/$darch" --load -t "$IMAGE" "$ctx" >/dev/null
}

describe_image() {
    docker image inspect -f '{{.Os}}/{{.Architecture}}, {{.Size}} bytes, {{.Id}}' "$IMAGE" \
        | awk -F', ' '{printf "%s, %.0f MB, %s\n", $1, $2 / 1e6, substr($3, 1, 19)}'
}

# A tag like bookworm, trixie-slim or sid names the suite the image must hold.
default_suite() {
    local tag="" name=${IMAGE%%@*}
    [[ ${name##*/} == *:* ]] && tag=${name##*:}
    case ${tag%%-*} in
        bullseye | bookworm | trixie | forky | sid | unstable | testing | stable) printf '%s\n' "${tag%%-*}" ;;
        *) echo bookworm ;;
    esac
}

main() {
    SUITE=${BASE_SUITE:-$(default_suite)}
    case ${1:-} in -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
    (($# <= 1)) || die "usage: $0 [IMAGE]"
    docker info >/dev/null 2>&1 || die "docker engine not reachable: run scripts/host/provision-host.sh"

    local have
    if have=$(docker image inspect -f '{{.Architecture}}' "$IMAGE" 2>/dev/null); then
        # Only an explicit BASE_ARCH is a demand on an existing image.
        [[ -z ${BASE_ARCH:-} || $have == "$(docker_arch "$ARCH")" ]] \
            || die "$IMAGE exists but is $have, not $(docker_arch "$ARCH"); remove it or choose another name"
        say "$IMAGE: OK (present: $(describe_image))"
        return 0
    fi
    if pull_worth_trying && try_pull; then
        say "$IMAGE: OK ($(describe_image))"
        return 0
    fi

    check_prerequisites
    local mirror rootfs
    mirror=$(debian_mirror "$SUITE")
    WORK_DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/mspass-base.XXXXXX")
    rootfs=$WORK_DIR/rootfs
    bootstrap_rootfs "$rootfs" "$mirror"
    configure_rootfs "$rootfs" "$mirror"
    import_rootfs "$rootfs"
    say "$IMAGE: built ($(describe_image))"
}

main "$@"
