#!/usr/bin/env bash
# Build the SIF from the locally built docker image (called by `make sif`).
#
#   IMAGE:TAG         the docker image (mspass:latest)
#   SIF_DIR           where mspass_TAG.sif and its .sha256 go (build)
#   APPTAINER         apptainer or singularity (apptainer)
#   APPTAINER_IMAGE   helper image with Apptainer, used when APPTAINER is not on this
#                     machine (mspass-apptainer:sid; `make apptainer-image` builds it)
# The helper container needs no --privileged: FUSE and relaxed seccomp are enough.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE=${IMAGE:-mspass}
TAG=${TAG:-latest}
SIF_DIR=${SIF_DIR:-$repo/build}
APPTAINER=${APPTAINER:-apptainer}
APPTAINER_IMAGE=${APPTAINER_IMAGE:-mspass-apptainer:sid}
DOCKER=${DOCKER:-docker}

say() { printf 'build-sif: %s\n' "$*"; }
die() { printf 'build-sif: ERROR: %s\n' "$*" >&2; exit 2; }

"$DOCKER" image inspect "$IMAGE:$TAG" >/dev/null 2>&1 || die "no image $IMAGE:$TAG; run 'make build'"
mkdir -p "$SIF_DIR"
SIF_DIR=$(cd "$SIF_DIR" && pwd) # docker binds absolute paths only
sif="mspass_$TAG.sif"
start=$SECONDS
# a private directory for the image tarball and recipe: cleaning up never touches
# anything else in SIF_DIR (which may be this checkout)
work=$(mktemp -d "$SIF_DIR/.sif-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
say "saving $IMAGE:$TAG"
"$DOCKER" save "$IMAGE:$TAG" -o "$work/mspass-image.tar"
cp "$repo/Singularity.def" "$work/Singularity.def"
build=("$APPTAINER" build --force "../$sif" Singularity.def)
if command -v "$APPTAINER" >/dev/null; then
    (cd "$work" && "${build[@]}")
else
    "$DOCKER" image inspect "$APPTAINER_IMAGE" >/dev/null 2>&1 ||
        die "no $APPTAINER here and no helper image $APPTAINER_IMAGE; run 'make apptainer-image'"
    say "no $APPTAINER on this machine: building in $APPTAINER_IMAGE"
    "$DOCKER" run --rm --security-opt seccomp=unconfined --security-opt systempaths=unconfined \
        --device /dev/fuse -v "$SIF_DIR:/build" -w "/build/$(basename "$work")" "$APPTAINER_IMAGE" \
        sh -c "$(printf '%q ' "${build[@]}") && chown $(id -u):$(id -g) ../$sif"
fi
(cd "$SIF_DIR" && sha256sum "$sif" >"$sif.sha256")
say "built $SIF_DIR/$sif ($(du -m "$SIF_DIR/$sif" | cut -f1) MB) in $((SECONDS - start)) s; sha256 in $sif.sha256"
