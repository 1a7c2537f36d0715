#!/bin/sh
# Creates an admin token on first start (in the state volume), then runs
# geodnsd, which binds its ports as root and switches to the geodns user.
set -eu
token=/var/lib/geodnsd/admin.token
if [ ! -s "$token" ]; then
  umask 077
  printf 'admin:%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$token"
  echo "entrypoint: created $token (docker exec <container> cat $token)" >&2
fi
chown geodns:geodns /var/lib/geodnsd "$token"
exec /usr/sbin/geodnsd --user geodns "$@"
