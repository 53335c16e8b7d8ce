#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Checks what `meson install --destdir DESTDIR` produced.
#
# Usage: check-install.sh DESTDIR [PREFIX [SYSCONFDIR]]
#
#   PREFIX      meson's prefix (default /usr/local)
#   SYSCONFDIR  meson's sysconfdir as an absolute path (default /etc when
#               PREFIX is /usr, PREFIX/etc otherwise, as meson does)
#
# Every expected file is checked and each one missing or wrong is reported;
# the exit status is 0 when all are there, 1 otherwise, 2 on a usage error.
# Files installed but not expected are listed for information only.
#
# In CI:
#   meson install -C build --no-rebuild --destdir "$PWD/destdir"
#   tests/check-install.sh "$PWD/destdir" /usr/local

set -u

usage() {
    echo "usage: $0 DESTDIR [PREFIX [SYSCONFDIR]]" >&2
    exit 2
}

if [ $# -lt 1 ] || [ $# -gt 3 ]; then usage; fi
case "$1" in -h|--help) usage ;; esac

destdir=${1%/}
prefix=${2:-/usr/local}
prefix=${prefix%/}
if [ $# -ge 3 ]; then
    sysconfdir=${3%/}
elif [ "$prefix" = /usr ]; then
    sysconfdir=/etc
else
    sysconfdir=$prefix/etc
fi
case "$prefix$sysconfdir" in
    /*) ;;
    *) echo "$0: PREFIX and SYSCONFDIR must be absolute" >&2; exit 2 ;;
esac

if [ ! -d "$destdir" ]; then
    echo "FAIL: $destdir is not a directory (run meson install --destdir first)"
    exit 1
fi

failures=0
checked=0
expected_list=$(mktemp) || exit 1
trap 'rm -f "$expected_list"' EXIT

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# expect KIND PATH: PATH is absolute (without DESTDIR); KIND is
# "exec" (an executable file) or "file" (a regular file, not writable by
# group or others).
expect() {
    kind=$1 path=$2 what=$3
    full=$destdir$path
    checked=$((checked + 1))
    echo "$path" >> "$expected_list"
    if [ ! -e "$full" ] && [ ! -L "$full" ]; then
        fail "$path missing ($what)"
        return 1
    fi
    if [ ! -f "$full" ]; then
        fail "$path is not a regular file ($what)"
        return 1
    fi
    case $kind in
        exec)
            if [ ! -x "$full" ]; then
                fail "$path is not executable ($what)"
                return 1
            fi ;;
        file)
            if [ -n "$(find "$full" -perm /022 2>/dev/null)" ]; then
                fail "$path is writable by group or others ($what)"
                return 1
            fi ;;
    esac
    echo "ok:   $path"
    return 0
}

# contains PATH REGEX WHAT: the installed file has a line matching REGEX.
contains() {
    if [ -f "$destdir$1" ] && ! grep -Eq "$2" "$destdir$1"; then
        fail "$1 has no line matching '$2' ($3)"
    fi
}

xml_ok() {
    [ -f "$destdir$1" ] || return 0
    if command -v xmllint >/dev/null 2>&1; then
        xmllint --noout --nonet "$destdir$1" 2>/dev/null || fail "$1 is not well-formed XML"
    elif [ -x /usr/bin/python3 ]; then
        /usr/bin/python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' \
            "$destdir$1" 2>/dev/null || fail "$1 is not well-formed XML"
    fi
}

sbin=$prefix/sbin
bin=$prefix/bin
share=$prefix/share
lib=$prefix/lib
unitdir=$lib/systemd/system

echo "Checking $destdir (prefix $prefix, sysconfdir $sysconfdir)"

# Programs.
expect exec "$sbin/pngwd" "the gateway daemon"
expect exec "$sbin/cpns-server" "the reference CPNS Server"
expect exec "$sbin/cpns-admin" "the server's admin tool"
expect exec "$bin/pngwctl" "the command-line client and agent"

# D-Bus.
if expect file "$share/dbus-1/system.d/org.cpns.Gateway1.conf" "system bus policy"; then
    xml_ok "$share/dbus-1/system.d/org.cpns.Gateway1.conf"
    contains "$share/dbus-1/system.d/org.cpns.Gateway1.conf" 'own="org\.cpns\.Gateway1"' \
        "root must own the name"
    contains "$share/dbus-1/system.d/org.cpns.Gateway1.conf" 'group="pngw"' \
        "the group pngw must be allowed"
fi
if expect file "$share/dbus-1/system-services/org.cpns.Gateway1.service" "D-Bus activation"; then
    contains "$share/dbus-1/system-services/org.cpns.Gateway1.service" \
        '^Name=org\.cpns\.Gateway1$' "activation name"
    contains "$share/dbus-1/system-services/org.cpns.Gateway1.service" \
        '^SystemdService=pngwd\.service$' "activation through systemd"
fi
if expect file "$share/dbus-1/interfaces/org.cpns.Gateway1.xml" "introspection data"; then
    xml_ok "$share/dbus-1/interfaces/org.cpns.Gateway1.xml"
fi

# systemd.
if expect file "$unitdir/pngwd.service" "systemd unit"; then
    contains "$unitdir/pngwd.service" "^ExecStart=$sbin/pngwd( |\$)" \
        "ExecStart must name the installed daemon"
    contains "$unitdir/pngwd.service" '^BusName=org\.cpns\.Gateway1$' "Type=dbus unit"
    contains "$unitdir/pngwd.service" '^Alias=dbus-org\.cpns\.Gateway1\.service$' \
        "D-Bus alias"
fi
if expect file "$unitdir/cpns-server.service" "systemd unit"; then
    contains "$unitdir/cpns-server.service" "^ExecStart=$sbin/cpns-server( |\$)" \
        "ExecStart must name the installed server"
fi
if expect file "$lib/sysusers.d/pngw.conf" "creates the group pngw"; then
    contains "$lib/sysusers.d/pngw.conf" '^g[[:space:]]+pngw[[:space:]]' "group pngw"
fi

# Manual pages.
expect file "$share/man/man8/pngwd.8" "manual page"
expect file "$share/man/man8/cpns-server.8" "manual page"
expect file "$share/man/man8/cpns-admin.8" "manual page"
expect file "$share/man/man1/pngwctl.1" "manual page"

# Shell completion.
expect file "$share/bash-completion/completions/pngwctl" "bash completion"

# Default configuration.
expect file "$sysconfdir/pngw/pngwd.conf" "default pngwd configuration"
expect file "$sysconfdir/cpns/cpns-server.conf" "default cpns-server configuration"

# Anything else installed: for information.
extra=$(cd "$destdir" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort |
        grep -vxF -f "$expected_list")
if [ -n "$extra" ]; then
    echo "Also installed (not checked):"
    echo "$extra" | sed 's/^/      /'
fi

if [ "$failures" -gt 0 ]; then
    echo "$failures problem(s) in $checked expected files"
    exit 1
fi
echo "All $checked expected files are installed"
exit 0
