#!/usr/bin/env bash
# tools/citus.sh: build and install Citus from ../shared/vendor/citus when this server has none.
#
# Debian ships no Citus package, so `./dwcctl test` builds the release kept beside the project
# (its README says how) for test/integration/test_citus.py. The built tree is kept in
# /var/cache/dwc (once per Citus and PostgreSQL version), so a second run only installs it.
# Never fails the caller: without the source, a compiler or root, it says why and the Citus
# tests report themselves skipped with that reason (written to the cache folder).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pg_config=${PG_CONFIG:-pg_config}
vendor=${DWC_CITUS_SOURCE:-$here/../shared/vendor/citus}
cache=/var/cache/dwc
mkdir -p "$cache" 2>/dev/null || cache=${TMPDIR:-/tmp}/dwc-cache && mkdir -p "$cache"
why="$cache/citus-skip-reason"
rm -f "$why"

skip() { echo "dwc: Citus tests will be skipped: $*"; echo "$*" > "$why"; exit 0; }

pkglib=$("$pg_config" --pkglibdir)
if [ -e "$pkglib/citus.so" ]; then
	exit 0
fi
[ -f "$vendor/citus-13.2.2.tar.gz" ] || skip "no Citus source at $vendor"
[ "$(id -u)" -eq 0 ] || skip "installing Citus into $pkglib needs root"
( cd "$vendor" && sha256sum -c --quiet SHA256SUMS ) || skip "the Citus source in $vendor does not match its SHA256SUMS"

pgver=$("$pg_config" --version | awk '{print $2}')
tree="$cache/citus-13.2.2-pg$pgver"
if [ ! -f "$tree/.built" ]; then
	echo "dwc: building Citus 13.2.2 for PostgreSQL $pgver (a few minutes, once) in $tree"
	rm -rf "$tree" "$tree.tmp" && mkdir -p "$tree.tmp"
	tar xzf "$vendor/citus-13.2.2.tar.gz" -C "$tree.tmp" || skip "cannot unpack the Citus source"
	( cd "$tree.tmp" && patch -p0 -s < "$vendor/pg15-minor-compat.patch" ) || skip "the Citus build patch does not apply"
	mv "$tree.tmp/citus-13.2.2" "$tree" && rm -rf "$tree.tmp"
	if ! ( cd "$tree" && ./configure PG_CONFIG="$pg_config" > build.log 2>&1 && make -j2 >> build.log 2>&1 ); then
		tail -20 "$tree/build.log"
		skip "Citus did not build (see $tree/build.log)"
	fi
	touch "$tree/.built"
fi
( cd "$tree" && make install PG_CONFIG="$pg_config" > install.log 2>&1 ) || skip "Citus did not install (see $tree/install.log)"
echo "dwc: Citus 13.2.2 installed into $pkglib"
