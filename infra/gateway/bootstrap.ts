import type { ResolvedGatewayOptions } from "./options";
import { DEFAULT_GATEWAY_PATHS, type GatewayPaths } from "./paths";
import { conntrackBucketsFor, conntrackMaxFor } from "./sysctl";
import { shellQuote } from "./steering-agent";
import { KILO_CONNECT_UNIT, STEERING_TIMER_UNIT } from "./units";
import { uplinkUnitName } from "./uplink";

/**
 * First-boot script run by cloud-init after the packages and files are in place: installs kgctl and kubectl only if
 * their sha256 sums match the pinned ones, applies the kernel settings and the firewall, then starts the services.
 * Any failure stops it before a service starts, and cloud-init reports the failure.
 */
export function renderBootstrapScript(options: ResolvedGatewayOptions, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): string {
  const q = shellQuote;
  const tools = options.tools;
  const units = ["chrony.service", "nftables.service", uplinkUnitName(options), KILO_CONNECT_UNIT, STEERING_TIMER_UNIT];
  return `#!/bin/bash
# First boot of the IoT gateway: verified tool downloads, kernel settings, firewall, services.
set -euo pipefail

# Downloads $1, checks it against the sha256 $2 and installs it as the executable $3.
install_verified() {
  local url=$1 sha256=$2 target=$3 download
  download=$(mktemp)
  curl --fail --silent --show-error --location --retry 5 --retry-connrefused --output "$download" "$url"
  if ! printf '%s  %s\\n' "$sha256" "$download" | sha256sum --check --status; then
    printf 'sha256 mismatch for %s: refusing to install %s\\n' "$url" "$target" >&2
    rm -f "$download"
    return 1
  fi
  install -m 0755 "$download" "$target"
  rm -f "$download"
}

# kgctl ${tools.kgctl.version}
install_verified ${q(tools.kgctl.url)} ${q(tools.kgctl.sha256)} ${q(paths.kgctl)}
# kubectl ${tools.kubectl.version}
install_verified ${q(tools.kubectl.url)} ${q(tools.kubectl.sha256)} ${q(paths.kubectl)}

# Connection tracking must exist before its sysctls; the hash size is also set for later boots in modprobe.d.
modprobe nf_conntrack
printf '%s\\n' ${conntrackBucketsFor(conntrackMaxFor(options.devices.expectedCount))} >/sys/module/nf_conntrack/parameters/hashsize
sysctl --quiet --load=${q(paths.sysctlConf)}
${q(paths.nft)} -f ${q(paths.nftablesConf)}

systemctl daemon-reload
systemctl enable --now ${units.join(" ")}
`;
}
