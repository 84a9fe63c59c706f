# shellcheck shell=bash
# Shared by the provisioning scripts: read the host's apt configuration at run time.
# Registry and mirror names are never written in this project's files.

# Print this host's Debian release codename (empty when /etc/os-release has none).
host_codename() {
    local VERSION_CODENAME=""
    # shellcheck disable=SC1091
    . /etc/os-release
    printf '%s\n' "$VERSION_CODENAME"
}

# Print the first URI the host's apt configuration uses for SUITE. Registry
# and mirror names are never written here: they come from the host at run time.
host_apt_uri() {
    local suite=$1 uri=""
    shopt -s nullglob
    local deb822=(/etc/apt/sources.list.d/*.sources)
    local oneline=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
    shopt -u nullglob
    if ((${#deb822[@]})); then
        uri=$(awk -v want="$suite" '
            function flush() {
                if ((" " types " ") ~ / deb / && enabled != "no" && uris != "" &&
                    index(" " suites " ", " " want " ") > 0) {
                    split(uris, u, " "); print u[1]; done = 1; exit
                }
                types = uris = suites = enabled = ""
            }
            FNR == 1 && NR > 1 { flush() }
            /^[[:space:]]*#/ { next }
            /^[[:space:]]*$/ { flush(); next }
            {
                key = tolower($0); sub(/:.*/, "", key)
                val = $0; sub(/^[^:]*:[[:space:]]*/, "", val); gsub(/[[:space:]]+/, " ", val)
                if (key == "types") types = val
                else if (key == "uris") uris = val
                else if (key == "suites") suites = val
                else if (key == "enabled") enabled = tolower(val)
            }
            END { if (!done) flush() }' "${deb822[@]}")
    fi
    if [[ -z $uri ]] && ((${#oneline[@]})); then
        uri=$(awk -v want="$suite" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) == want) { print $i; exit }
            }' "${oneline[@]}" 2>/dev/null)
    fi
    printf '%s\n' "${uri%/}"
}

# Print the Debian mirror URI: DEBIAN_MIRROR, else the one the host's apt configuration uses
# for its own release, else for any SUITE given as an argument. Calls die() when none.
debian_mirror() {
    local uri=${DEBIAN_MIRROR:-} suite
    [[ -n $uri ]] || uri=$(host_apt_uri "$(host_codename)")
    for suite in "$@"; do
        [[ -n $uri ]] || uri=$(host_apt_uri "$suite")
    done
    [[ -n $uri ]] || die "no Debian mirror found in the host's apt configuration (set DEBIAN_MIRROR)"
    printf '%s\n' "${uri%/}"
}
