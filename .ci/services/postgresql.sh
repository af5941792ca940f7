# Sourced by .ci/run (which defines apt_install): PostgreSQL for the shared-store tests (test/storage). Each test
# file starts its own throw-away cluster on 127.0.0.1 (test/helpers/postgres.ts); nothing here starts a server.
# Debian keeps the server binaries off the PATH, under /usr/lib/postgresql/<major>/bin.
pg_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  return 1
}
pg_bindir >/dev/null || apt_install postgresql
if PG_BIN="$(pg_bindir)"; then
  echo "postgresql: $("$PG_BIN/postgres" --version) in $PG_BIN (test/storage runs against it)"
  # Debian's package starts its own cluster where an init system runs; the tests never use it.
  if [ "$(id -u)" = 0 ] && ! id -u postgres >/dev/null 2>&1; then
    echo "postgresql: no 'postgres' user to run initdb as (root cannot): PostgreSQL tests will fail" >&2
  fi
else
  echo "postgresql: not installed; PostgreSQL store tests will skip"
fi
unset PG_BIN
