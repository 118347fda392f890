# Sourced by the image scripts and the image test: where things are, and how to run podman/buildah here.
# shellcheck shell=bash
RUSTFS_IMAGE_ROOT=${RUSTFS_IMAGE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$RUSTFS_IMAGE_ROOT/scripts/image/containers.conf}
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
export RUSTFS_IMAGE_BASE=${RUSTFS_IMAGE_BASE:-localhost/rustfs-base:bookworm}
export RUSTFS_IMAGE_BUILDER=${RUSTFS_IMAGE_BUILDER:-localhost/rustfs-builder:bookworm}
export RUSTFS_IMAGE_CACHE=${RUSTFS_IMAGE_CACHE:-/var/cache/rustfs-image}
export RUSTFS_IMAGE=${RUSTFS_IMAGE:-localhost/rustfs-engine:dev}
