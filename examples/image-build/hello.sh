#!/bin/sh
# The built image's command: says how it was built and as whom it runs.
printf 'hello as uid %s, %s\n' "$(id -u)" "$(cat /etc/build-info)"
