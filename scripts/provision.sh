#!/usr/bin/env bash
# Provision what the test suite talks to: Mosquitto, PostgreSQL 15 with
# TimescaleDB (Apache edition, built from Debian's source package), Chromium
# and ChromeDriver. Idempotent: a second run only checks and exits quickly.
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
TSDB_SO=/usr/lib/postgresql/$PG_MAJOR/lib/timescaledb.so
BUILD_DIR=${IOC_PROVISION_BUILD_DIR:-/var/tmp/ioc-provision}
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

log() { printf '[provision] %s\n' "$*"; }

apt_updated=0
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated = 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- Mosquitto (tests start their own instances on free ports) -----------------
apt_install mosquitto mosquitto-clients

# --- RabbitMQ (the clustered engine's tests start their own three nodes) --------
apt_install rabbitmq-server

# --- PostgreSQL ---------------------------------------------------------------
apt_install "postgresql-$PG_MAJOR" postgresql-client-common
if ! ls /etc/postgresql/$PG_MAJOR/main >/dev/null 2>&1; then
  log "creating cluster $PG_MAJOR/main"
  $SUDO pg_createcluster "$PG_MAJOR" main
fi
PG_CONF=/etc/postgresql/$PG_MAJOR/main/postgresql.conf
HBA=/etc/postgresql/$PG_MAJOR/main/pg_hba.conf

# --- TimescaleDB (Apache-only build from Debian trixie's source package) --------
if [ ! -f "$TSDB_SO" ]; then
  apt_install "postgresql-server-dev-$PG_MAJOR" cmake gcc make dpkg-dev libssl-dev libkrb5-dev
  if ! grep -rqs "trixie" /etc/apt/sources.list.d/ioc-trixie-src.sources; then
    uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1 | awk '{print $2}')
    uri=${uri:-http://deb.debian.org/debian}
    log "adding deb-src for trixie ($uri)"
    printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      | $SUDO tee /etc/apt/sources.list.d/ioc-trixie-src.sources >/dev/null
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  mkdir -p "$BUILD_DIR"
  cd "$BUILD_DIR"
  src=$(ls -d timescaledb-*/ 2>/dev/null | head -n1 || true)
  if [ -z "$src" ]; then
    log "fetching timescaledb source"
    apt-get source -qq timescaledb >/dev/null 2>&1
    src=$(ls -d timescaledb-*/ | head -n1)
  fi
  cd "$src"
  log "building $src (Apache-only)"
  rm -rf build
  ./bootstrap -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
    -DPG_CONFIG="$PG_BIN/pg_config" >/dev/null
  make -C build -j"$(nproc)" >/dev/null
  $SUDO make -C build install >/dev/null
  cd - >/dev/null
fi

restart=0
if ! grep -qE "^shared_preload_libraries\s*=.*timescaledb" "$PG_CONF"; then
  log "enabling timescaledb in $PG_CONF"
  echo "shared_preload_libraries = 'timescaledb'" | $SUDO tee -a "$PG_CONF" >/dev/null
  echo "timescaledb.telemetry_level = off" | $SUDO tee -a "$PG_CONF" >/dev/null
  restart=1
fi
# Tests connect over TCP as postgres without a password (loopback only).
if ! grep -qE "^host\s+all\s+all\s+127.0.0.1/32\s+trust" "$HBA"; then
  log "allowing trust auth on loopback in $HBA"
  $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$HBA"
  restart=1
fi

pg_running() { pg_lsclusters -h 2>/dev/null | awk -v v="$PG_MAJOR" '$1==v && $2=="main" {print $4}' | grep -q online; }
if pg_running && [ $restart = 1 ]; then
  log "restarting PostgreSQL"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main restart
elif ! pg_running; then
  log "starting PostgreSQL"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main start
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 0.5
done
pg_isready -h 127.0.0.1 -p 5432 >/dev/null || { log "PostgreSQL is not accepting connections"; exit 1; }

# --- Chromium for browser tests ------------------------------------------------
apt_install chromium chromium-driver

log "ready: mosquitto $(mosquitto -h 2>/dev/null | head -n1 | awk '{print $3}'), PostgreSQL $PG_MAJOR + timescaledb, $(chromium --version 2>/dev/null | head -n1)"
