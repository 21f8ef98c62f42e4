#!/bin/bash
# First boot of the IoT gateway: verified tool downloads, kernel settings, firewall, services.
# cloud-init runs it after the packages and files are in place; any failure stops it before a service starts, and
# cloud-init reports the failure.
set -euo pipefail

# Parameters: readonly variables rendered from the gateway options by infra/gateway/bootstrap.ts.
# @parameters

# Downloads $1, checks it against the sha256 $2 and installs it as the executable $3.
install_verified() {
  local url=$1 sha256=$2 target=$3 download
  download=$(mktemp)
  curl --fail --silent --show-error --location --retry 5 --retry-connrefused --output "$download" "$url"
  if ! printf '%s  %s\n' "$sha256" "$download" | sha256sum --check --status; then
    printf 'sha256 mismatch for %s: refusing to install %s\n' "$url" "$target" >&2
    rm -f "$download"
    return 1
  fi
  install -m 0755 "$download" "$target"
  rm -f "$download"
}

install_verified "$KGCTL_URL" "$KGCTL_SHA256" "$KGCTL"
install_verified "$KUBECTL_URL" "$KUBECTL_SHA256" "$KUBECTL"

# Connection tracking must exist before its sysctls; the hash size is also set for later boots in modprobe.d.
modprobe nf_conntrack
printf '%s\n' "$CONNTRACK_HASHSIZE" >/sys/module/nf_conntrack/parameters/hashsize
sysctl --quiet --load="$SYSCTL_CONF"
"$NFT" -f "$NFTABLES_CONF"

# The steering agent writes its metrics here (its unit may write nowhere else under /var).
install -d -m 0755 "$TEXTFILE_DIR"

systemctl daemon-reload
systemctl enable --now "${UNITS[@]}"
systemctl restart "${RESTART_UNITS[@]}"
