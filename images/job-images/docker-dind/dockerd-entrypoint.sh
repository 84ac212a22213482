#!/bin/sh
# Like the official docker:dind entrypoint: no arguments or options alone run dockerd (with them); with
# DOCKER_TLS_CERTDIR (default /certs) it makes a CA, a server and a client certificate, the client's in
# $DOCKER_TLS_CERTDIR/client for the build container, and serves TLS on 2376; with DOCKER_TLS_CERTDIR="" plain TCP
# on 2375. What differs from upstream (the host network shared by every task here): see the Containerfile.
set -eu
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  set -- dockerd "$@"
fi
[ "$1" = dockerd ] || exec "$@"
shift
address="${SGR_TASK_ADDRESS:-127.0.0.1}"
certs="${DOCKER_TLS_CERTDIR-/certs}"

# One certificate signed by the CA: $1 directory, $2 common name, $3 extensions.
certify() {
  openssl genrsa -out "$1/key.pem" 2048 2>/dev/null
  openssl req -new -key "$1/key.pem" -subj "/CN=$2" -out "$1/csr.pem"
  printf '%s\n' "$3" >"$1/openssl.cnf"
  openssl x509 -req -in "$1/csr.pem" -CA "$certs/ca/cert.pem" -CAkey "$certs/ca/key.pem" -CAcreateserial \
    -days 825 -extfile "$1/openssl.cnf" -out "$1/cert.pem" 2>/dev/null
  cp "$certs/ca/cert.pem" "$1/ca.pem"
  rm -f "$1/csr.pem" "$1/openssl.cnf"
}

if [ -n "$certs" ]; then
  if [ ! -s "$certs/server/cert.pem" ]; then
    mkdir -p "$certs/ca" "$certs/server" "$certs/client"
    openssl genrsa -out "$certs/ca/key.pem" 2048 2>/dev/null
    openssl req -new -x509 -days 825 -key "$certs/ca/key.pem" -subj "/CN=docker:dind CA" -out "$certs/ca/cert.pem"
    certify "$certs/server" docker \
      "subjectAltName = DNS:docker, DNS:localhost, IP:127.0.0.1, IP:$address
extendedKeyUsage = serverAuth"
    certify "$certs/client" docker:dind-client "extendedKeyUsage = clientAuth"
    chmod 0644 "$certs/client/key.pem"
  fi
  set -- --host=unix:///var/run/docker.sock --host="tcp://$address:2376" --tlsverify \
    --tlscacert="$certs/server/ca.pem" --tlscert="$certs/server/cert.pem" --tlskey="$certs/server/key.pem" "$@"
else
  set -- --host=unix:///var/run/docker.sock --host="tcp://$address:2375" "$@"
fi
exec dockerd --bridge=none --iptables=false --ip6tables=false --storage-driver=vfs "$@"
