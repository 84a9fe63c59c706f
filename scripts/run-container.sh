#!/usr/bin/env bash
# Start the all-in-one container for `make run` and print the Jupyter URL once it is healthy.
#
#   IMAGE:TAG           image (mspass:latest)
#   WORK_DIR            host directory mounted as /home, the work dir (current directory)
#   RUN_NAME            container name (mspass)
#   JUPYTER_HOST_PORT   host port for Jupyter (8888); DASHBOARD_HOST_PORT for dask's (8787)
#   DOCKER_RUN_ARGS     extra `docker run` arguments, e.g. "--ulimit nofile=65536:65536"
# Ports are published on 127.0.0.1 only. The container runs as the calling user, so files
# it writes in WORK_DIR belong to that user. Stop it with `make stop`.
set -euo pipefail

IMAGE=${IMAGE:-mspass}
TAG=${TAG:-latest}
WORK_DIR=${WORK_DIR:-$PWD}
RUN_NAME=${RUN_NAME:-mspass}
JUPYTER_HOST_PORT=${JUPYTER_HOST_PORT:-8888}
DASHBOARD_HOST_PORT=${DASHBOARD_HOST_PORT:-8787}
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-300}
DOCKER=${DOCKER:-docker}

die() { printf 'run: ERROR: %s\n' "$*" >&2; exit 2; }

"$DOCKER" image inspect "$IMAGE:$TAG" >/dev/null 2>&1 || die "no image $IMAGE:$TAG; build it with 'make build'"
if [ ! -d "$WORK_DIR" ] || [ ! -w "$WORK_DIR" ]; then
    die "WORK_DIR=$WORK_DIR is not a writable directory"
fi
if "$DOCKER" container inspect "$RUN_NAME" >/dev/null 2>&1; then
    die "a container named $RUN_NAME exists already; stop it with 'make stop' (or use RUN_NAME=other)"
fi

# shellcheck disable=SC2086 # DOCKER_RUN_ARGS is a list of words on purpose
"$DOCKER" run -d --name "$RUN_NAME" --hostname "$RUN_NAME" \
    --user "$(id -u):$(id -g)" \
    -v "$(cd "$WORK_DIR" && pwd):/home" \
    -p "127.0.0.1:$JUPYTER_HOST_PORT:8888" -p "127.0.0.1:$DASHBOARD_HOST_PORT:8787" \
    ${DOCKER_RUN_ARGS:-} \
    "$IMAGE:$TAG" >/dev/null

printf 'run: started %s (work dir %s); waiting until it is healthy' "$RUN_NAME" "$WORK_DIR"
# Docker runs the health check every 15 s; rather than wait for its next turn, watch for
# the role's ready line and then run the same check (mspass-role health) ourselves.
deadline=$((SECONDS + HEALTH_TIMEOUT))
fail() {
    printf '\nrun: ERROR: %s; its log:\n' "$1" >&2
    "$DOCKER" logs --tail 60 "$RUN_NAME" >&2
    "$DOCKER" rm -f "$RUN_NAME" >/dev/null
    exit 1
}
until "$DOCKER" logs "$RUN_NAME" 2>&1 | grep -q '^mspass all: ready: ' &&
    "$DOCKER" exec "$RUN_NAME" mspass-role health >/dev/null 2>&1; do
    status=$("$DOCKER" inspect -f '{{.State.Status}}' "$RUN_NAME")
    [ "$status" = running ] || fail "the container is $status"
    ((SECONDS < deadline)) || fail "not healthy after $HEALTH_TIMEOUT s"
    printf '.'
    sleep 1 # polling interval of a probe with a deadline
done

token=$("$DOCKER" logs "$RUN_NAME" 2>&1 | sed -n 's|.*/lab?token=\([A-Za-z0-9._~-]*\).*|\1|p' | tail -1)
printf '\n\n  MsPASS is ready.\n'
printf '  JupyterLab:     http://127.0.0.1:%s/lab%s\n' "$JUPYTER_HOST_PORT" "${token:+?token=$token}"
printf '  dask dashboard: http://127.0.0.1:%s/status\n' "$DASHBOARD_HOST_PORT"
printf '  logs: docker logs -f %s      stop: make stop\n\n' "$RUN_NAME"
