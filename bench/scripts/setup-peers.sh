#!/usr/bin/env bash
# Installs the peers of the side-by-side benchmark from the registries into versioned cache
# directories (nothing is vendored), and prints `KEY=path` lines for run-all.sh:
#   ETCD_BIN     etcd server + etcd's `benchmark` tool, built from Go modules via etcd-wrapper/
#                (scripts/go-tool.sh)
#   OZONE_LIB    Apache Ozone jars (SCM, OM, freon, admin CLI) resolved from Maven Central via ozone/pom.xml
#   OZONE_DRIVER ozone/OmDriver.java compiled against them (needs javac: openjdk-17-jdk-headless)
#   PYTHON       a python3 with matplotlib (PyPI, in a venv) for the chart
# Cached results are reused; a second run returns at once.
# Env: OMRING_CACHE (default ~/.cache/omring), GO, MVN, ONLY (space list of etcd|ozone|python).
set -euo pipefail
# Our KEY=path lines are the only thing on stdout (callers parse or eval it): everything the
# installers print goes to stderr. Maven writes colour codes to stdout even with -B -q, and a
# line starting with them was not parsed (a fresh machine's first `make test` failed on it).
exec 3>&1 1>&2
out() { echo "$1" >&3; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${OMRING_CACHE:-$HOME/.cache/omring}
ONLY=${ONLY:-"etcd ozone python"}
log() { echo "setup-peers: $*" >&2; }
GO_TOOL=$HERE/../../scripts/go-tool.sh
modver() { "$GO_TOOL" version "$HERE/etcd-wrapper" "$1"; }

if [[ " $ONLY " == *" etcd "* ]]; then
  ETCD_VERSION=$(modver go.etcd.io/etcd/server/v3)
  TOOL_VERSION=$(modver go.etcd.io/etcd/v3)
  ETCD_BIN=$CACHE/bench-etcd-$ETCD_VERSION-benchmark-$TOOL_VERSION/bin
  "$GO_TOOL" build "$HERE/etcd-wrapper" "$ETCD_BIN" \
    etcd=go.etcd.io/etcd/server/v3 benchmark=go.etcd.io/etcd/v3/tools/benchmark >/dev/null
  out "ETCD_BIN=$ETCD_BIN"
fi

if [[ " $ONLY " == *" ozone "* ]]; then
  OZONE_VERSION=$(sed -n 's|.*<ozone.version>\(.*\)</ozone.version>.*|\1|p' "$HERE/ozone/pom.xml")
  OZONE_HOME=$CACHE/ozone-$OZONE_VERSION
  OZONE_LIB=$OZONE_HOME/lib
  OZONE_DRIVER=$OZONE_HOME/driver
  # The marker holds the POM's hash: a changed dependency list resolves the classpath again.
  POM_SUM=$(sha256sum "$HERE/ozone/pom.xml" | cut -c1-16)
  # One installer at a time: tests run this in parallel, and a second run's `rm -rf` of the
  # lib directory under a first run that just reported it complete failed both on a fresh machine.
  mkdir -p "$OZONE_HOME"
  exec 9>"$OZONE_HOME/.lock"
  flock 9
  if [[ ! -f $OZONE_HOME/.complete || $(cat "$OZONE_HOME/.complete") != "$POM_SUM" ]]; then
    command -v javac >/dev/null || {
      log "installing Java 17 (Debian openjdk-17-jdk-headless)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
    }
    MVN=${MVN:-$(command -v mvn || true)}
    if [[ -z $MVN ]]; then
      log "installing maven (Debian)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null
      MVN=mvn
    fi
    # Ozone $OZONE_VERSION's POMs name a parent, hdds-hadoop-dependency-client, that Maven Central
    # does not have; without it no Maven build can read their dependencies. Install a stand-in
    # (ozone/missing-parent.pom.in) into the local repository, only when Central lacks it.
    if ! "$MVN" -B -q -Dstyle.color=never dependency:get -Dtransitive=false \
        -Dartifact="org.apache.ozone:hdds-hadoop-dependency-client:$OZONE_VERSION:pom" >/dev/null 2>&1; then
      log "org.apache.ozone:hdds-hadoop-dependency-client:$OZONE_VERSION is not on Maven Central: installing a stand-in parent POM"
      stand_in=$(mktemp --suffix=.pom)
      sed "s/@VERSION@/$OZONE_VERSION/g" "$HERE/ozone/missing-parent.pom.in" > "$stand_in"
      "$MVN" -B -q -Dstyle.color=never install:install-file -Dfile="$stand_in" -DpomFile="$stand_in" -Dpackaging=pom
      rm -f "$stand_in"
    fi
    log "resolving Apache Ozone $OZONE_VERSION from Maven Central ..."
    rm -rf "$OZONE_LIB"
    (cd "$HERE/ozone" && nice -n 10 "$MVN" -B -q -Dstyle.color=never dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$OZONE_LIB")
    echo "$POM_SUM" > "$OZONE_HOME/.complete"
  fi
  # The driver is ours and small: rebuild it when its source is newer than the class.
  if [[ ! -f $OZONE_DRIVER/OmDriver.class || $HERE/ozone/OmDriver.java -nt $OZONE_DRIVER/OmDriver.class ]]; then
    mkdir -p "$OZONE_DRIVER"
    # A failed compile must not leave the previous driver behind to be used.
    rm -f "$OZONE_DRIVER"/*.class
    javac -nowarn -cp "$OZONE_LIB/*" -d "$OZONE_DRIVER" "$HERE/ozone/OmDriver.java" 2>&1 | grep -v '^Note:' >&2 || true
    [[ -f $OZONE_DRIVER/OmDriver.class ]] || { log "compiling OmDriver.java failed"; exit 1; }
  fi
  flock -u 9
  out "OZONE_LIB=$OZONE_LIB"
  out "OZONE_DRIVER=$OZONE_DRIVER"
fi

if [[ " $ONLY " == *" python "* ]]; then
  VENV=$CACHE/bench-venv
  if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
    log "installing matplotlib from PyPI into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q matplotlib
  fi
  out "PYTHON=$VENV/bin/python"
fi
