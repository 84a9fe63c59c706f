#!/usr/bin/env bash
# Apply this project's patches to installed Python packages (each patch says why).
#
#   scripts/build/python/apply-patches.sh PYTHON
#
# patches/DIST-VERSION/*.patch apply to distribution DIST when PYTHON has exactly that
# VERSION installed (constraints.txt pins it, or MSPASS_VERSION for mspasspy); another
# version is an error, so a moved pin makes someone look at the patch again. A DIST not
# installed is skipped, saying so: mspasspy comes later in the image (which runs this again
# after its wheel) and not at all with MSPASS_VERSION=none. Applying twice is a no-op.
set -euo pipefail

python=${1:?usage: apply-patches.sh PYTHON}
here=$(cd "$(dirname "$0")" && pwd)
say() { echo "apply-patches: $*"; }
die() { echo "apply-patches: ERROR: $*" >&2; exit 1; }

site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for dir in "$here"/patches/*/; do
    dist_version=$(basename "$dir")
    dist=${dist_version%-*} version=${dist_version##*-}
    if ! installed=$("$python" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$dist" 2>/dev/null); then
        say "$dist is not installed in $python: its patches skipped"
        continue
    fi
    [ "$installed" = "$version" ] || die "$dist $installed is installed; patches in $dir are for $version (see constraints.txt; for mspasspy, MSPASS_VERSION)"
    for p in "$dir"*.patch; do
        if patch -s -p1 -R --dry-run -f -d "$site" <"$p" >/dev/null 2>&1; then
            say "$dist $version: $(basename "$p") already applied"
            continue
        fi
        patch -s -p1 -f -d "$site" <"$p" || die "$(basename "$p") does not apply to $dist $version in $site"
        say "$dist $version: $(basename "$p") applied"
    done
done
