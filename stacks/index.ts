import * as pulumi from "@pulumi/pulumi";
import { ConfigError, parseStackConfig, rawStackConfigFromPulumi } from "./config";
import { KosmosCluster } from "../components";
import { createEnvironment } from "./environment";

/** Config mistakes end the program with their message alone: a stack trace would only hide the list. */
function withConfigErrorsReported<T>(build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof ConfigError) throw new pulumi.RunError(error.message);
    throw error;
  }
}

const config = withConfigErrorsReported(() => parseStackConfig(rawStackConfigFromPulumi(pulumi.runtime.allConfig())));
const { cluster, decoderService, ingress, gateway, observability } = withConfigErrorsReported(() =>
  createEnvironment(pulumi.getStack(), config, pulumi.runtime.isDryRun()),
);

export const environmentName = config.environment;
export const clusterProtected = config.cluster.protect;
/** Scaleway's id of the cluster; absent with `cluster.existing`. */
export const clusterId = cluster instanceof KosmosCluster ? cluster.clusterId : undefined;
export const apiServerUrl = cluster.apiServerUrl;
export const kubeconfig = cluster.kubeconfig;
export const ingressNodeLabel = cluster.ingressNodeLabel;
export const ingressNodeTaint = cluster.ingressNodeTaint;
export const deviceSubnets = config.devices.subnets;
export const gatewayPublicIp = gateway.publicIp;
export const gatewayKiloPublicKey = gateway.kiloPublicKey;
export const gatewayUplinkPublicKey = gateway.uplinkPublicKey;
export const gatewayTunnelAddress = gateway.tunnelAddress;
export const gatewayPeerName = gateway.peerName;
/** With `gateway.externalHost`: the cloud-init to boot that machine with (secret: keys and a token). */
export const gatewayCloudInit = config.gateway.externalHost !== undefined ? gateway.cloudInit : undefined;
/**
 * The gateway's Scaleway servers, for operators: each one's ID and own public address and, with
 * `gateway.highAvailability`, its holderIdentity in `gatewayLease` (the active is the Lease's holder:
 * `kubectl get lease -n <namespace> <name>`). None with `gateway.externalHost`.
 */
export const gatewayServers = pulumi
  .all([gateway.serverIds, gateway.serverPublicIps])
  .apply(([ids, addresses]) =>
    ids.map((serverId, index) => ({
      serverId,
      publicIp: addresses[index],
      ...(gateway.leaseIdentities[index] === undefined ? {} : { leaseIdentity: gateway.leaseIdentities[index] }),
    })),
  );
/** With `gateway.highAvailability`: the Lease whose holder is the active gateway. */
export const gatewayLease = gateway.leaseName === undefined ? undefined : { namespace: gateway.leaseNamespace, name: gateway.leaseName };
/** What each concentrator's WireGuard peer for the gateway must hold (AllowedIPs), for the configured rewrite setting. */
export const concentratorPeers = gateway.concentratorPeers;
export const ingressAddress = gateway.ingressAddress;
export const ingressPort = config.ingress.port;
export const ingressNamespace = ingress.namespace;
export const envoyMaxConnectionsPerNode = ingress.sizing.maxConnections;
export const decoderServiceFqdn = decoderService.fqdn;
export const decoderPort = decoderService.port;
/** The gateway's metrics Service (no selector; its EndpointSlice is the tunnel address). */
export const gatewayMetricsService = gateway.metricsServiceName;
/** The Prometheus rules file for this stack (`pulumi stack output alertRules > iot-udp-ingress-rules.yaml`). */
export const alertRules = observability.alertRules;
