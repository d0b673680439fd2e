#!/usr/bin/env bash
# Make the local base image `cfgroll-example-base:latest` for the example, idempotent. Two paths:
# - registry-free (CI, offline hosts): from this machine's static busybox (Debian:
#   `apt-get install busybox-static`), imported as a one-file root file system;
# - anywhere else (macOS, Docker Desktop on Windows, hosts without a static busybox): the
#   pinned official `busybox` image, pulled and tagged.
# Says which path it took.
set -euo pipefail
image=cfgroll-example-base:latest
pinned=${CFGROLL_BUSYBOX_IMAGE:-busybox:1.36.1}
if docker image inspect "$image" >/dev/null 2>&1; then exit 0; fi

static_busybox() {
  local bb
  bb=$(command -v busybox 2>/dev/null) || return 1
  # a dynamically linked busybox would not run inside an image that holds nothing else
  # (ldd exits 1 for a static one: read its words, not its exit code)
  case "$(LC_ALL=C ldd "$bb" 2>&1 || true)" in
    *"not a dynamic executable"*|*"statically linked"*) echo "$bb" ;;
    *) return 1 ;;
  esac
}

if busybox=$(static_busybox); then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/www" "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  tar -C "$root" -c . | docker import - "$image" >/dev/null
  echo "made $image from $busybox (no registry needed)"
else
  echo "no static busybox on this machine: pulling $pinned" >&2
  docker pull -q "$pinned" >/dev/null
  docker tag "$pinned" "$image"
  echo "made $image from $pinned (pulled)"
fi
