#!/usr/bin/env bash
# Build pgvector for the Debian PostgreSQL server and install it there, once: the peer of
# benchmarks/knowledge.py on PostgreSQL. Debian 12 packages no postgresql-15-pgvector, so:
#
#   - the source comes from the Go module proxy (it serves any GitHub tag as a module zip);
#   - the server headers come from the postgresql-server-dev-<major> package, downloaded with
#     `apt-get download` and unpacked in a scratch directory, not installed (installing it
#     pulls clang and may upgrade the running server's packages);
#   - it is built without -march=native (OPTFLAGS="") and without LLVM bitcode, and installed
#     with `make install` into the server's lib and extension directories (sudo when not
#     root). Nothing else changes: a database gets it with `CREATE EXTENSION vector`.
#
#   benchmarks/peers/pgvector/build.sh                 # a no-op when already installed
#   PGVECTOR_VERSION=v0.8.1 benchmarks/peers/pgvector/build.sh
#
# To remove it: rm "$(pg_config --pkglibdir)/vector.so" "$(pg_config --sharedir)"/extension/vector*
set -euo pipefail

VERSION="${PGVECTOR_VERSION:-v0.8.1}"
PG_CONFIG="${PG_CONFIG:-$(ls /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -1)}"
[[ -x "$PG_CONFIG" ]] || { echo "pgvector: no PostgreSQL server found (pg_config)" >&2; exit 1; }
SHAREDIR="$("$PG_CONFIG" --sharedir)"
if [[ -f "$SHAREDIR/extension/vector.control" ]]; then
    exit 0
fi
MAJOR="$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')"
SUDO=""; [[ "$(id -u)" == 0 ]] || SUDO="sudo"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
echo "pgvector: fetching $VERSION from the Go module proxy"
curl -fsSL -o pgvector.zip "https://proxy.golang.org/github.com/pgvector/pgvector/@v/$VERSION.zip"
unzip -q pgvector.zip
echo "pgvector: server headers from postgresql-server-dev-$MAJOR (unpacked, not installed)"
apt-get download -q "postgresql-server-dev-$MAJOR" >/dev/null 2>&1 \
    || { echo "pgvector: apt-get download postgresql-server-dev-$MAJOR failed" >&2; exit 1; }
dpkg -x postgresql-server-dev-*.deb dev
INCLUDE="$WORK/dev/usr/include/postgresql/$MAJOR/server"
[[ -f "$INCLUDE/postgres.h" ]] || { echo "pgvector: no server headers in the package" >&2; exit 1; }

cd "github.com/pgvector/pgvector@$VERSION"
chmod -R u+w .
ARGS=(PG_CONFIG="$PG_CONFIG" with_llvm=no OPTFLAGS="" PG_CPPFLAGS="-I$INCLUDE")
nice make -s "${ARGS[@]}"
$SUDO make -s install "${ARGS[@]}"
echo "pgvector: $VERSION installed for PostgreSQL $MAJOR"
