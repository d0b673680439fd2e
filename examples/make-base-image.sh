#!/usr/bin/env bash
# Make the local base image `cfgroll-example-base:latest` from this machine's static busybox,
# so the example builds without any registry. Idempotent.
set -euo pipefail
image=cfgroll-example-base:latest
if docker image inspect "$image" >/dev/null 2>&1; then exit 0; fi
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { echo "busybox (static) is needed: apt-get install busybox-static" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/www" "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
tar -C "$root" -c . | docker import - "$image" >/dev/null
echo "made $image from $busybox"
