#!/usr/bin/env bash
# Build the mspasspy wheel from MsPASS's PyPI sdist (the Dockerfile's mspasspy-build stage).
#
#   build-wheel.sh VERSION OUTDIR
#
# Writes OUTDIR/mspasspy-VERSION-*-manylinux_*.whl: the shared libraries its extension loads
# (Boost.Serialization, GSL, yaml-cpp, LAPACK/BLAS, gfortran) are copied into the wheel by
# auditwheel, as PyPI's manylinux wheels do, so it runs without compilers or -dev packages
# on any Linux with this glibc or newer: in the image, and in a host's virtualenv (make
# install). VERSION "none" writes nothing (the slim image).
#
# The sdist is patched with patches/VERSION/*.patch (each file says why) so that it builds
# from the package registries alone: Debian's Boost linked shared, Debian's yaml-cpp,
# pybind11 from PyPI (never Debian's 2.10: it corrupts pickled data under NumPy 2), and
# libmseed from a source cache when one is given.
#
# Environment:
#   MSPASS_SOURCE_CACHE  directory of byte-identical upstream archives (libmseed-3.0.8.tar.gz,
#                        optionally mspasspy-VERSION.tar.gz), checked against its SHA256SUMS;
#                        without it the build downloads what upstream downloads
#   MSPASS_SDIST_SHA256  SHA-256 of the sdist for a VERSION not pinned below
#   PIP_CONSTRAINT       pins for the build tools of build-requirements.txt (pip reads it)
# Needs: Debian with the build packages installed (see the Dockerfile), python3 with venv.
set -euo pipefail

version=${1:?usage: build-wheel.sh VERSION OUTDIR}
out=${2:?usage: build-wheel.sh VERSION OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
cache=${MSPASS_SOURCE_CACHE:-}

say() { printf 'build-wheel: %s\n' "$*"; }
die() { printf 'build-wheel: ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$out"
if [ "$version" = none ]; then
    say "MSPASS_VERSION=none: no mspasspy"
    exit 0
fi

# SHA-256 of the PyPI sdists this project has built and patched
case $version in
2.4.3) sdist_sha=668b1ae37e7a800e196a82a58bbce9973220fe5237f08ea9582b53ef8518c602 ;;
*) sdist_sha=${MSPASS_SDIST_SHA256:-} ;;
esac
[ -n "$sdist_sha" ] || die "mspasspy $version is not pinned here; give its sdist's MSPASS_SDIST_SHA256"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -n "$cache" ]; then
    [ -d "$cache" ] || die "MSPASS_SOURCE_CACHE=$cache is not a directory"
    if [ -f "$cache/SHA256SUMS" ]; then
        (cd "$cache" && sha256sum --quiet --strict --ignore-missing -c SHA256SUMS) ||
            die "a file in MSPASS_SOURCE_CACHE=$cache does not match its SHA256SUMS"
    fi
    say "source cache: $cache ($(cd "$cache" && ls | grep -v -e '^SHA256SUMS$' -e '^README' | tr '\n' ' '))"
fi

# build tools, pinned by PIP_CONSTRAINT; the venv's python3 must come first on PATH
# because mspasspy's CMake looks for `python3` there
python3 -m venv "$work/venv"
export PATH="$work/venv/bin:$PATH"
pip install --disable-pip-version-check -q -r "$here/build-requirements.txt"
if [ -n "${PIP_CONSTRAINT:-}" ]; then  # every build tool pinned, or the wheel is not reproducible
    pip freeze --all | while IFS== read -r name _; do
        grep -qi "^${name//[-_]/[-_]}==" "$PIP_CONSTRAINT" || die "$name is not pinned (add it to build-requirements.txt)"
    done
fi

sdist="$work/mspasspy-$version.tar.gz"
if [ -n "$cache" ] && [ -f "$cache/mspasspy-$version.tar.gz" ]; then
    cp "$cache/mspasspy-$version.tar.gz" "$sdist"
else
    echo "mspasspy==$version --hash=sha256:$sdist_sha" >"$work/sdist.txt"
    pip download --disable-pip-version-check -q --no-deps --no-binary :all: --no-build-isolation \
        -r "$work/sdist.txt" -d "$work"
fi
echo "$sdist_sha  $sdist" | sha256sum --quiet -c - || die "$sdist does not have the pinned SHA-256"

mkdir "$work/src"
tar -xzf "$sdist" -C "$work/src" --strip-components=1
patches=("$here/patches/$version"/*.patch)
[ -f "${patches[0]}" ] || die "no patches for mspasspy $version in $here/patches/$version"
for p in "${patches[@]}"; do
    say "patch: $(basename "$p")"
    patch -s -p1 -d "$work/src" <"$p"
done

# the installed Boost's version, from its header (e.g. 107400 -> 1.74.0)
boost=$(sed -n 's/^#define BOOST_VERSION \([0-9]*\)$/\1/p' /usr/include/boost/version.hpp)
[ -n "$boost" ] || die "no Boost headers (/usr/include/boost/version.hpp)"
export MSPASS_BOOST_VERSION="$((boost / 100000)).$((boost / 100 % 1000)).$((boost % 100))"
export MSPASS_SOURCE_CACHE="$cache"
# pybind11 from the venv: its package dir is a prefix holding share/cmake/pybind11
# (CMAKE_PREFIX_PATH, since mspasspy's cmake policy level ignores pybind11_ROOT)
CMAKE_PREFIX_PATH=$(python -c 'import pathlib, pybind11; print(pathlib.Path(pybind11.get_cmake_dir()).parents[2])')
export CMAKE_PREFIX_PATH

say "building mspasspy $version (Boost $MSPASS_BOOST_VERSION shared, pybind11 $(python -c 'import pybind11; print(pybind11.__version__)'))"
start=$(date +%s)
if ! pip wheel --disable-pip-version-check -v --no-deps --no-build-isolation -w "$work/wheel" "$work/src" \
    >"$work/build.log" 2>&1; then
    tail -n 60 "$work/build.log" >&2
    die "the mspasspy build failed (last lines above)"
fi
grep -E 'pybind11_INCLUDE_DIR|Boost_LIBRARIES|MSEED_LIBRARIES|YAML_CPP_LIBRARIES' "$work/build.log" | sed 's/^/  /'
grep -q "pybind11_INCLUDE_DIR= *$work/venv/" "$work/build.log" ||
    die "the build did not use pybind11 from PyPI (see pybind11_INCLUDE_DIR above)"
wheel=$(ls "$work/wheel"/mspasspy-"$version"-*.whl 2>/dev/null) ||
    die "no mspasspy-$version wheel was built (the version comes from the sdist's PKG-INFO)"
say "built $(basename "$wheel") in $(($(date +%s) - start)) s"

# the libraries the extension loads, into the wheel (platform tag from the glibc symbols used)
auditwheel repair -w "$work/repaired" "$wheel" >"$work/repair.log" 2>&1 ||
    { cat "$work/repair.log" >&2; die "auditwheel could not repair $(basename "$wheel")"; }
repaired=$(ls "$work/repaired"/mspasspy-*.whl)
libs=$(python -c 'import re, sys, zipfile; print(" ".join(sorted(re.sub(r"-[0-9a-f]{8}[.]so.*", "", n.split("/")[-1])
    for n in zipfile.ZipFile(sys.argv[1]).namelist() if ".libs/" in n and not n.endswith("/"))))' "$repaired")
say "repaired: $(basename "$repaired") (libraries inside: $libs)"
cp "$repaired" "$out/"
