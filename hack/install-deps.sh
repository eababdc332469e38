#!/usr/bin/env bash
# Installs the Debian packages some tests use, when they are missing: xmllint (libxml2-utils)
# validates EWS requests and the Exchange simulator's answers against Microsoft's schema, and
# python3-exchangelib drives the simulator with a real EWS client. Without root or sudo it
# only says what is missing; those tests then skip with a message (or fail under CI, where
# .ci/run sets REQUIRE_XMLLINT and REQUIRE_EXCHANGELIB).
set -euo pipefail

need=()
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
{ [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import exchangelib' >/dev/null 2>&1; } || need+=(python3-exchangelib)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ]; then
	apt_get() { apt-get "$@"; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	apt_get() { sudo apt-get "$@"; }
else
	echo ">> missing Debian packages: ${need[*]} (install them with apt-get; the tests that need them skip)" >&2
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo ">> missing: ${need[*]}; no apt-get here, so the tests that need them skip" >&2
	exit 0
fi
echo ">> installing ${need[*]}"
apt_get update -qq
DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends "${need[@]}"
