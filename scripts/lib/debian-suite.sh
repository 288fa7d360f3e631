# Sourced by scripts that need another Debian suite's packages on this bookworm machine.
#
# add_suite_source SUITE TYPES: an apt source for SUITE ("deb" or "deb-src"), derived from
# the machine's own /etc/apt/sources.list.d/debian.sources (its URIs and Signed-By), never
# from a mirror host written here, pinned at priority 100 so that nothing else on the
# machine is upgraded from it. Prints nothing and returns 0 when it is already there;
# returns 10 when it added it (the caller then runs apt-get update).
add_suite_source() {
    local suite=$1 types=$2
    local src=/etc/apt/sources.list.d/debian.sources
    local out="/etc/apt/sources.list.d/wsgi-lab-${suite}${types#deb}.sources"
    [ -f "$out" ] && return 0
    [ -f "$src" ] || { echo "cannot find $src to derive a $suite source from" >&2; return 1; }
    # The first stanza whose suites include plain "bookworm" is the main archive.
    local stanza uris signed
    stanza=$(awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm( |$|\n)/ {print; exit}' "$src")
    uris=$(sed -n 's/^URIs:[[:space:]]*//p' <<<"$stanza" | head -n1)
    signed=$(sed -n 's/^Signed-By:[[:space:]]*//p' <<<"$stanza" | head -n1)
    [ -n "$uris" ] || { echo "no URIs line for bookworm in $src" >&2; return 1; }
    printf 'Types: %s\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
        "$types" "$uris" "$suite" "${signed:-/usr/share/keyrings/debian-archive-keyring.gpg}" >"$out"
    printf 'Package: *\nPin: release n=%s\nPin-Priority: 100\n' "$suite" \
        >"/etc/apt/preferences.d/wsgi-lab-${suite}"
    return 10
}
