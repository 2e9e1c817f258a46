#!/usr/bin/env bash
# Builds Berth's OCI image with buildah from deploy/Containerfile, FROM scratch (no base image is
# pulled): stages Node.js 24 with the libraries it links, dist/ and portal/dist/ (npm run build),
# and the production dependencies (npm ci --omit=dev), then labels the image with who built it,
# from which commit and which Containerfile, so `berth inspect` shows Berth's own provenance.
#
#   deploy/build-image.sh [image name, default localhost/berth:<version>] [extra buildah options...]
#
# Environment: BUILDAH_OPTIONS (global buildah options, e.g. "--root DIR --runroot DIR
# --storage-driver vfs"), IMAGE_COMMITTER (default: git's user.name, else $USER),
# IMAGE_DOCKERFILE (default: the Containerfile's URL at this commit when origin is on GitHub,
# else its path), IMAGE_SOURCE (default: origin's URL, if any).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export PATH="$root/node_modules/.bin:$PATH"
version="$(node -p 'require("./package.json").version')"
image="${1:-localhost/berth:$version}"
shift || true
read -r -a global <<<"${BUILDAH_OPTIONS:-}"

[ -f dist/.built ] && [ -f portal/dist/index.html ] || node scripts/build.mjs
sha="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
committer="${IMAGE_COMMITTER:-$(git config user.name 2>/dev/null || echo "${USER:-unknown}")}"
origin="$(git remote get-url origin 2>/dev/null || true)"
source="${IMAGE_SOURCE:-$origin}"
case "$origin" in
  https://github.com/*) dockerfile_url="${origin%.git}/blob/$sha/deploy/Containerfile" ;;
  *) dockerfile_url="deploy/Containerfile" ;;
esac
dockerfile="${IMAGE_DOCKERFILE:-$dockerfile_url}"

context="$(mktemp -d "${TMPDIR:-/tmp}/berth-image-XXXXXX")"
trap 'rm -rf "$context"' EXIT

# Node.js and what it links (ldd names each library once, with the loader).
node_bin="$(readlink -f node_modules/.bin/node)"
install -D -m 0755 "$node_bin" "$context/rootfs/usr/local/bin/node"
for lib in $(ldd "$node_bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
  cp --parents -L "$lib" "$context/rootfs/"
done
mkdir -p "$context/rootfs/tmp" "$context/data"
chmod 1777 "$context/rootfs/tmp"

# The program: the same files `npm ci && npm start` runs, without the sources and dev tools.
mkdir -p "$context/app/portal"
cp -r package.json package-lock.json bin dist "$context/app/"
cp -r portal/dist "$context/app/portal/dist"
(cd "$context/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
# Node itself is in /usr/local/bin; the npm package that carries it is not needed twice.
rm -rf "$context/app/node_modules/node" "$context/app/node_modules/node-linux-"* "$context/app/node_modules/.bin/node"

buildah "${global[@]}" bud --isolation chroot --format oci --layers=false \
  --build-arg "IMAGE_COMMITTER=$committer" \
  --build-arg "IMAGE_COMMIT_SHA=$sha" \
  --build-arg "IMAGE_DOCKERFILE=$dockerfile" \
  --build-arg "IMAGE_VERSION=$version" \
  --build-arg "IMAGE_SOURCE=$source" \
  -f "$root/deploy/Containerfile" -t "$image" "$@" "$context"
