#!/usr/bin/env bash
# Make a Debian host ready to build and run the project's docker images:
#   1. a running Docker engine (Debian's docker.io when none is installed),
#   2. a docker CLI with buildx, and a working BuildKit build,
#   3. Compose v2 (`docker compose`),
#   4. debootstrap (to make the local base image, see make-base-image.sh).
#
# Idempotent: every step first checks and only acts when something is missing,
# so on a machine where Docker already runs it only checks and reports.
#
# Usage: scripts/host/provision-host.sh [--check]
#   --check   report only, change nothing; exit 1 when something is missing.
# Environment:
#   DOCKER_START_TIMEOUT  seconds to wait for a freshly started dockerd (60)
#   DOCKERD_LOG           log of a dockerd started here (/var/log/dockerd.log)
#   DEBIAN_MIRROR         Debian archive URI; default: read from the host's apt config
set -euo pipefail
# Non-root shells often lack the sbin directories (dockerd, debootstrap live there).
case :$PATH: in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac

PROG=provision-host
CHECK_ONLY=0
MISSING=0
DOCKER_START_TIMEOUT=${DOCKER_START_TIMEOUT:-60}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
WORK_DIR=""
export DEBIAN_FRONTEND=noninteractive

say() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

cleanup() { if [[ -n $WORK_DIR ]]; then rm -rf "$WORK_DIR"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM # run the EXIT trap on interruption too

# In --check mode record what is missing instead of fixing it. Returns 0 when
# the caller may go on and change the host.
may_change() {
    if ((CHECK_ONLY)); then
        say "MISSING: $*"
        MISSING=1
        return 1
    fi
    [[ $(id -u) -eq 0 ]] || die "need root to fix: $*"
    return 0
}

# shellcheck source=scripts/lib/apt-sources.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/apt-sources.sh"

apt_has_candidate() {
    local cand
    cand=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
    [[ -n $cand && $cand != "(none)" ]]
}

apt_update() {
    say "apt-get update"
    apt-get -qq update >/dev/null
}

# Install from the host's own suites. apt-get update runs only when a package
# has no candidate yet, or once more when the install fails (stale lists).
apt_install() {
    local pkg opts=(-y -qq --no-install-recommends -o DPkg::Lock::Timeout=300)
    for pkg in "$@"; do
        if ! apt_has_candidate "$pkg"; then apt_update; break; fi
    done
    if ! apt-get install "${opts[@]}" "$@" >/dev/null; then
        apt_update
        apt-get install "${opts[@]}" "$@" >/dev/null
    fi
}

docker_up() { docker info >/dev/null 2>&1; }

# A dockerd that is already starting (pid file of a live process) must not get
# a second one next to it.
dockerd_alive() {
    local pid
    pid=$(cat /var/run/docker.pid 2>/dev/null) || return 1
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# Milliseconds since the epoch (EPOCHREALTIME's separator depends on the locale).
now_ms() {
    local t=${EPOCHREALTIME//[!0-9]/}
    printf '%s\n' "$((10#$t / 1000))"
}

show_log() {
    if [[ -r $1 ]]; then
        say "last lines of $1:"
        tail -n 30 "$1" >&2 || true
    else
        say "see: $1"
    fi
}

# Probe `docker info` until it works or the deadline passes; stop early when
# the daemon we started has died.
wait_for_docker() {
    local pid=$1 log=$2 deadline
    deadline=$(($(now_ms) + DOCKER_START_TIMEOUT * 1000))
    until docker_up; do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            say "dockerd (pid $pid) exited"
            show_log "$log"
            return 1
        fi
        if (($(now_ms) >= deadline)); then
            say "docker info still fails after ${DOCKER_START_TIMEOUT}s"
            show_log "$log"
            return 1
        fi
        sleep 0.2 # probe interval, bounded by the deadline above
    done
}

start_dockerd() {
    local pid
    if dockerd_alive; then
        say "dockerd is already starting (pid $(cat /var/run/docker.pid)); waiting"
        wait_for_docker "" "$DOCKERD_LOG" || exit 1
        return
    fi
    # Prefer the init system when there is one. Debian's sysv script fails on
    # hosts that refuse its `ulimit -n 1048576`; then fall back to nohup.
    if [[ -d /run/systemd/system ]] && systemctl start docker 2>/dev/null; then
        wait_for_docker "" "journalctl -u docker" || exit 1
        say "started dockerd with systemctl"
        return
    fi
    if [[ -x /etc/init.d/docker ]] && service docker start >/dev/null 2>&1; then
        pid=$(cat /var/run/docker-ssd.pid 2>/dev/null || true)
        wait_for_docker "$pid" /var/log/docker.log || exit 1
        say "started dockerd with 'service docker start' (log /var/log/docker.log)"
        return
    fi
    # setsid: the daemon must outlive this script and its caller's process group.
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    pid=$!
    wait_for_docker "$pid" "$DOCKERD_LOG" || exit 1
    say "started dockerd in the background with nohup (pid $pid, log $DOCKERD_LOG)"
}

step_engine() {
    if docker_up; then
        say "docker engine: OK (running, server $(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
        return
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        if may_change "docker engine (dockerd) is not installed"; then
            say "installing docker.io from the host's Debian suites"
            apt_install docker.io
            say "docker engine: installed docker.io $(dpkg-query -W -f '${Version}' docker.io)"
        else
            return 0
        fi
    fi
    if may_change "docker engine is installed but not running"; then
        start_dockerd
        say "docker engine: OK (running, server $(docker info --format '{{.ServerVersion}}'))"
    fi
}

# Download one .deb from Debian sid into DEST, with an apt configuration of its
# own (sources, lists, cache): the host's apt never sees sid, so nothing else
# from sid can reach the host.
fetch_sid_deb() {
    local pkg=$1 dest=$2 mirror dir
    # shellcheck disable=SC2119 # no extra suites to try
    mirror=$(debian_mirror)
    dir=$WORK_DIR/sid-apt
    mkdir -p "$dir/sources.list.d" "$dir/lists/partial" "$dir/cache/archives/partial"
    # Signatures are still checked; only Release expiry is relaxed because
    # mirrors and caches may serve a sid Release that is a few days old.
    cat >"$dir/sources.list.d/sid.sources" <<EOF
Types: deb
URIs: $mirror
Suites: sid
Components: main
Targets: Packages
Check-Valid-Until: no
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    local apt_opts=(
        -qq
        -o Dir::Etc::SourceList=/dev/null
        -o Dir::Etc::SourceParts="$dir/sources.list.d"
        -o Dir::Etc::Preferences=/dev/null
        -o Dir::Etc::PreferencesParts=/dev/null
        -o Dir::State::Lists="$dir/lists"
        -o Dir::Cache="$dir/cache"
        -o APT::Sandbox::User=root
    )
    apt-get "${apt_opts[@]}" update >/dev/null
    (cd "$dest" && apt-get "${apt_opts[@]}" download "$pkg" >/dev/null)
}

# Install one package from Debian sid (a docker CLI plugin: it only needs libc); print
# the .deb's name. dpkg -i installs exactly this file and never fetches dependencies.
install_sid_deb() {
    local pkg=$1 dest=$WORK_DIR/debs deb
    mkdir -p "$dest"
    say "downloading $pkg from Debian sid (this package only)" >&2
    fetch_sid_deb "$pkg" "$dest"
    deb=$(printf '%s\n' "$dest/${pkg}"_*.deb)
    if ! dpkg -i "$deb" >/dev/null; then
        dpkg -r "$pkg" >/dev/null 2>&1 || true
        die "could not install $(basename "$deb") (unmet dependencies?)"
    fi
    basename "$deb"
}

# Smoke test: a BuildKit build exporting to a local directory, so that it
# leaves no image behind and needs no base image.
buildkit_smoke_test() {
    local ctx
    ctx=$WORK_DIR/buildkit-ctx
    mkdir -p "$ctx/src"
    echo ok >"$ctx/src/probe"
    printf 'FROM scratch\nCOPY probe /probe\n' >"$ctx/src/Dockerfile"
    if DOCKER_BUILDKIT=1 docker build -q -o "type=local,dest=$ctx/out" "$ctx/src" >/dev/null 2>"$ctx/err" \
        && [[ $(cat "$ctx/out/probe" 2>/dev/null) == ok ]]; then
        return 0
    fi
    cat "$ctx/err" >&2
    return 1
}

step_buildx() {
    local docker_bin deb
    docker_bin=$(command -v docker || true)
    [[ -n $docker_bin ]] || { may_change "no docker CLI on PATH" || true; return; }
    if docker buildx version >/dev/null 2>&1; then
        say "buildx: OK ($docker_bin buildx $(docker buildx version | awk '{print $2; exit}'))"
    elif dpkg-query -W -f '${Status}' docker-buildx 2>/dev/null | grep -q 'ok installed'; then
        die "docker-buildx is installed but '$docker_bin buildx version' fails"
    elif may_change "'$docker_bin buildx' does not work"; then
        # Debian bookworm has no docker-buildx; sid's only needs libc >= 2.34.
        deb=$(install_sid_deb docker-buildx)
        docker buildx version >/dev/null 2>&1 || die "'$docker_bin buildx version' fails after installing docker-buildx"
        say "buildx: installed $deb ($docker_bin buildx $(docker buildx version | awk '{print $2; exit}'))"
    else
        return 0
    fi
    if ! docker_up; then
        say "BuildKit build: not tested (docker engine not running)"
    elif buildkit_smoke_test; then
        say "BuildKit build: OK (DOCKER_BUILDKIT=1 $docker_bin build)"
    elif ((CHECK_ONLY)); then
        say "MISSING: a BuildKit build with $docker_bin fails"
        MISSING=1
    else
        die "a BuildKit build with $docker_bin fails"
    fi
}

step_compose() {
    local docker_bin deb
    docker_bin=$(command -v docker || true)
    [[ -n $docker_bin ]] || return 0 # reported by step_buildx
    if docker compose version >/dev/null 2>&1; then
        say "compose: OK ($docker_bin compose $(docker compose version --short))"
    elif may_change "'$docker_bin compose' (Compose v2) does not work"; then
        # bookworm's docker-compose is v1 (1.29, another CLI); sid's is the v2 CLI plugin
        deb=$(install_sid_deb docker-compose)
        docker compose version >/dev/null 2>&1 || die "'$docker_bin compose version' fails after installing docker-compose"
        say "compose: installed $deb ($docker_bin compose $(docker compose version --short))"
    fi
}

step_debootstrap() {
    if command -v debootstrap >/dev/null 2>&1; then
        say "debootstrap: OK"
    elif may_change "debootstrap is not installed"; then
        apt_install debootstrap
        say "debootstrap: installed $(dpkg-query -W -f '${Version}' debootstrap)"
    fi
}

usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; }

main() {
    while (($#)); do
        case $1 in
            --check) CHECK_ONLY=1 ;;
            -h | --help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument: $1" ;;
        esac
        shift
    done
    [[ -r /etc/debian_version ]] || die "this script provisions Debian hosts only"
    WORK_DIR=$(mktemp -d) # scratch space for downloads and the smoke test
    step_engine
    step_buildx
    step_compose
    step_debootstrap
    if ((MISSING)); then
        say "check: something is missing (run without --check to fix it)"
        exit 1
    fi
    say "host ready"
}

main "$@"
