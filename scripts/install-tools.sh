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
  "cosign|github.com/sigstore/cosign/v3/cmd/cosign@v3.1.2"
  "versitygw|github.com/versity/versitygw/cmd/versitygw@v1.8.0"
)
# Tools the proxy refuses to `go install module/cmd@version` for: that also asks for the module's
# version list (a deprecation check), which proxy.golang.org answers 403 for notation and helm-push.
# Download the exact version and build inside it; its go.sum pins every dependency.
GO_BUILD_TOOLS=(
  "notation|github.com/notaryproject/notation@v1.3.2|./cmd/notation"
)
# Helm 3 and Helm 4 both build a binary named `helm`: each gets its own GOBIN and a versioned
# link in .tools/bin (helm3, helm4). cm-push (ChartMuseum's upload plugin) becomes a plugin
# directory under .tools/helm-plugins that tests point HELM_PLUGINS at.
HELM_TOOLS=(
  "helm3|helm.sh/helm/v3/cmd/helm@v3.22.0"
  "helm4|helm.sh/helm/v4/cmd/helm@v4.3.1"
)
CM_PUSH_MODULE="github.com/chartmuseum/helm-push@v0.10.4"
CM_PUSH_STAMP="$CM_PUSH_MODULE cli-only"
CM_PUSH_PACKAGE="./cmd/helm-cm-push"
APT_PACKAGES=(skopeo gnupg openssl buildah chromium postgresql haproxy)

if command -v go >/dev/null 2>&1; then
  for entry in "${GO_TOOLS[@]}"; do
    name="${entry%%|*}"; module="${entry#*|}"
    stamp="$TOOLS/bin/.$name.version"
    if [ -x "$TOOLS/bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$module" ]; then continue; fi
    echo "install-tools: go install $module" >&2
    GOBIN="$TOOLS/bin" GOFLAGS=-trimpath go install "$module"
    echo "$module" > "$stamp"
  done

  for entry in "${GO_BUILD_TOOLS[@]}"; do
    IFS='|' read -r name module package <<<"$entry"
    stamp="$TOOLS/bin/.$name.version"
    if [ -x "$TOOLS/bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$module $package" ]; then continue; fi
    echo "install-tools: go build $module $package" >&2
    source_dir="$(go mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    (cd "$source_dir" && GOFLAGS=-trimpath go build -o "$TOOLS/bin/$name" "$package")
    echo "$module $package" > "$stamp"
  done

  for entry in "${HELM_TOOLS[@]}"; do
    name="${entry%%|*}"; module="${entry#*|}"
    stamp="$TOOLS/bin/.$name.version"
    if [ -x "$TOOLS/$name/helm" ] && [ -L "$TOOLS/bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$module" ]; then continue; fi
    echo "install-tools: go install $module (as $name)" >&2
    mkdir -p "$TOOLS/$name"
    GOBIN="$TOOLS/$name" GOFLAGS=-trimpath go install "$module"
    ln -sfn "../$name/helm" "$TOOLS/bin/$name"
    echo "$module" > "$stamp"
  done

  plugin="$TOOLS/helm-plugins/cm-push"
  stamp="$plugin/.version"
  if ! { [ -x "$plugin/bin/helm-cm-push" ] && [ -f "$plugin/plugin.yaml" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$CM_PUSH_STAMP" ]; }; then
    echo "install-tools: go build $CM_PUSH_MODULE $CM_PUSH_PACKAGE (as a helm plugin)" >&2
    mkdir -p "$plugin/bin"
    # Not `go install module/cmd@version`: that also asks the proxy for the module's version
    # list (a deprecation check), which proxy.golang.org refuses for helm-push (403). Download
    # the exact version and build inside it; its go.sum pins every dependency.
    source_dir="$(go mod download -json "$CM_PUSH_MODULE" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    (cd "$source_dir" && GOFLAGS=-trimpath go build -o "$plugin/bin/helm-cm-push" "$CM_PUSH_PACKAGE")
    # The upstream plugin.yaml without its install hooks (they download release binaries) and
    # without its cm:// downloader: Helm 4 turns a legacy plugin that has downloaders into a
    # getter only, and `helm cm-push` becomes an unknown command (AliyunContainerService/helm-acr#17).
    cat > "$plugin/plugin.yaml" <<'YAML'
name: "cm-push"
version: "0.10.4"
usage: "Push chart package to ChartMuseum"
description: "Push chart package to ChartMuseum"
command: "$HELM_PLUGIN_DIR/bin/helm-cm-push"
YAML
    echo "$CM_PUSH_STAMP" > "$stamp"
  fi
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
