#!/usr/bin/env bash
# Installs Debian's PostgreSQL server for the tests when it is missing. The tests start their own
# throwaway cluster (tests/integration/hosts.py) on a free loopback port; nothing here starts one.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
