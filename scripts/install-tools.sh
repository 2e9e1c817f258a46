#!/usr/bin/env bash
# Installs the real clients and peers the end-to-end tests and the benchmark drive.
# Go tools land in .tools/bin (git-ignored) and are reused when their version matches;
# Debian packages come from apt. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS/bin"

GO_TOOLS=(
  "oras|oras.land/oras/cmd/oras@v1.3.6"
  "crane|github.com/google/go-containerregistry/cmd/crane@v0.22.1"
  "regctl|github.com/regclient/regclient/cmd/regctl@v0.11.7"
  "conformance|github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111"
  "registry|github.com/distribution/distribution/v3/cmd/registry@v3.1.2"
)
APT_PACKAGES=(skopeo)

if command -v go >/dev/null 2>&1; then
  for entry in "${GO_TOOLS[@]}"; do
    name="${entry%%|*}"; module="${entry#*|}"
    stamp="$TOOLS/bin/.$name.version"
    if [ -x "$TOOLS/bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$module" ]; then continue; fi
    echo "install-tools: go install $module" >&2
    GOBIN="$TOOLS/bin" GOFLAGS=-trimpath go install "$module"
    echo "$module" > "$stamp"
  done
else
  echo "install-tools: no Go on this machine; the real-client tests will be skipped" >&2
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "install-tools: apt-get install ${missing[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "install-tools: cannot apt-get install ${missing[*]}; tests that need them will be skipped" >&2
  fi
fi
