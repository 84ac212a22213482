#!/bin/sh
# Like the official docker image's entrypoint: options alone go to `docker`; any other command runs as it is.
set -e
if [ "${1#-}" != "$1" ]; then
  set -- docker "$@"
fi
exec "$@"
