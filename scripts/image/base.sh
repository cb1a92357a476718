#!/usr/bin/env bash
# Builds the base image `debian:bookworm-slim` locally with debootstrap, for machines that
# build with buildah and cannot pull from a registry. Skipped when the image already exists.
#   scripts/image/base.sh            (as root: debootstrap and buildah's vfs storage need it)
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-docker.io/library/debian:bookworm-slim}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BUILDAH=(buildah --storage-driver vfs)

if "${BUILDAH[@]}" inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "base image $BASE_IMAGE already exists"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/image-base.XXXXXX")
container=""
cleanup() {
  [ -n "$container" ] && "${BUILDAH[@]}" rm "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "debootstrap bookworm (minbase) from $MIRROR ..."
debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log"; exit 1; }

rootfs=$work/rootfs
# The official image's sources: the release, its updates and security updates.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<CFG
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
CFG
# What the official slim image also leaves out: package lists, caches, documentation, man pages
# and translations, now and in every later `apt-get install` (dpkg's path-exclude).
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
cat >"$rootfs/etc/apt/apt.conf.d/slim" <<'CFG'
APT::Install-Recommends "false";
Acquire::Languages "none";
CFG
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/* \
  "$rootfs"/usr/share/doc/*/[!c]* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
  "$rootfs"/usr/share/locale/*
rm -f "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"

tar -C "$rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
  -cf "$work/base.tar" .
container=$("${BUILDAH[@]}" from scratch)
"${BUILDAH[@]}" add "$container" "$work/base.tar" / >/dev/null
"${BUILDAH[@]}" config --cmd bash \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$container"
"${BUILDAH[@]}" commit --quiet "$container" "$BASE_IMAGE" >/dev/null
echo "base image $BASE_IMAGE built"
