#!/usr/bin/env bash
# tools/deps.sh: install what dwc needs to build, run and test, and nothing that is already there.
#
# Used by both README commands: `tools/deps.sh run` (./dwcctl up: what building and running
# need) and `tools/deps.sh test` (./dwcctl test: that and the test tools). Run as root on
# Debian 12 it installs the missing packages with apt-get; run as another user it lists what
# is missing and stops, because only root may install packages.
set -euo pipefail
mode=${1:-test}
case "$mode" in
	run|test) ;;
	*) echo "usage: tools/deps.sh run|test" >&2; exit 2 ;;
esac

# The server major version to build against: the newest PostgreSQL >= 15 already installed,
# or DWC_PG_MAJOR, or Debian 12's own (15) when there is none.
pg_major() {
	if [ -n "${DWC_PG_MAJOR:-}" ]; then echo "$DWC_PG_MAJOR"; return; fi
	local best=""
	for d in /usr/lib/postgresql/*/bin/postgres; do
		[ -x "$d" ] || continue
		local v; v=$(basename "$(dirname "$(dirname "$d")")")
		[ "$v" -ge 15 ] 2>/dev/null || continue
		if [ -z "$best" ] || [ "$v" -gt "$best" ]; then best=$v; fi
	done
	echo "${best:-15}"
}

major=$(pg_major)
wanted=(
	"postgresql-$major"              # the server itself
	"postgresql-server-dev-$major"   # PGXS and server headers, matching the server
	libcurl4-openssl-dev             # outbound HTTP (OpenSSL flavour)
	libjson-c-dev                    # JSON in C
	libopenblas-dev                  # dense linear algebra, with LAPACK
	libssl-dev                       # libcrypto: HMAC, SHA, AES-GCM, CSPRNG
	libargon2-dev                    # Argon2id password hashing
	libwebsockets-dev                # the real-time WebSocket gateway
	libcmark-dev                     # CommonMark to HTML (chain exports)
	libhiredis-dev                   # the AI response cache's optional Redis tier
	make gcc pkg-config
	python3 python3-psycopg2         # the local cluster tool (tools/dwcctl.py)
)
if [ "$mode" = test ]; then
	wanted+=(
		python3-pytest                # the integration tests
		python3-aiosmtpd              # a loopback SMTP server (notifications)
		python3-cryptography          # decrypting Web Push messages (notifications)
		python3-websockets            # a WebSocket client (the real-time gateway)
		python3-prometheus-client     # a real parser of the Prometheus exposition (metrics)
		chromium                      # a real browser on the gateway (headless)
		clang-14 libclang-rt-14-dev   # libFuzzer targets (test/fuzz)
		pandoc                        # chain exports to DOCX, ODT and EPUB, as docs/chains.md shows
		redis-server                  # a real Redis on loopback for the cache's Redis tier
		prometheus                    # promtool: checks dwc's Prometheus exposition (metrics)
		nginx-light libnginx-mod-http-lua lua-cjson   # contrib/seed-api in a real nginx (test_seed_api)
		debhelper dpkg-dev postgresql-server-dev-all   # building the Debian package (debian/, pg_buildext)
		liblz4-dev libzstd-dev libkrb5-dev   # building Citus from ../shared/vendor/citus (tools/citus.sh)
		patroni etcd-server           # high availability: a Patroni cluster on loopback (test_patroni)
	)
fi

missing=()
for p in "${wanted[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "dwc: missing packages: ${missing[*]}" >&2
	echo "dwc: install them as root: apt-get install -y ${missing[*]}" >&2
	exit 1
fi

echo "dwc: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "dwc: packages installed"
