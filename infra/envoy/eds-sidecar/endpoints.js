// @ts-check
"use strict";
/**
 * EndpointSlices of the decoder Service -> the Envoy EDS file for one node.
 *
 * Envoy on a node may only forward to decoder pods on that same node: a packet carrying a device
 * source address sent to another node is dropped by that node's WireGuard (the device subnets are
 * not in the sending node's AllowedIPs). So the assignment keeps only endpoints whose nodeName is
 * this node.
 *
 * Which endpoints count: `conditions.ready` unset or true (Kubernetes: "nil should be interpreted
 * as true"). A terminating pod always has ready=false, so it gets no traffic even while it is still
 * `serving`: its sessions are dropped when it leaves the assignment and the devices' next datagrams
 * open sessions to the remaining local pods. Only IPv4 slices are used because device traffic is
 * IPv4 and use_original_src_ip cannot send an IPv4 source from an IPv6 socket.
 *
 * Runs unchanged inside the sidecar container: Node.js builtins only.
 */

const crypto = require("node:crypto");

const CLUSTER_LOAD_ASSIGNMENT_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

/**
 * @typedef {object} EndpointConditions
 * @property {boolean | null} [ready]
 * @property {boolean | null} [serving]
 * @property {boolean | null} [terminating]
 */

/**
 * @typedef {object} SliceEndpoint discovery.k8s.io/v1 Endpoint (fields used here)
 * @property {string[]} addresses
 * @property {EndpointConditions} [conditions]
 * @property {string | null} [nodeName]
 */

/**
 * @typedef {object} SlicePort discovery.k8s.io/v1 EndpointPort
 * @property {string | null} [name]
 * @property {number | null} [port]
 * @property {string | null} [protocol]
 */

/**
 * @typedef {object} EndpointSlice discovery.k8s.io/v1 EndpointSlice (fields used here)
 * @property {{ name?: string, namespace?: string, resourceVersion?: string, labels?: Record<string, string> }} [metadata]
 * @property {string} addressType
 * @property {SliceEndpoint[] | null} [endpoints]
 * @property {SlicePort[] | null} [ports]
 */

/**
 * @typedef {object} EdsSelection
 * @property {string} nodeName node whose endpoints are kept
 * @property {string} clusterName Envoy cluster the assignment is for
 * @property {string} portName name of the UDP port in the Service ("" for an unnamed single port)
 */

/**
 * @typedef {object} UpstreamSocketAddress
 * @property {string} address
 * @property {number} port_value
 */

/**
 * @typedef {object} LbEndpoint
 * @property {{ address: { socket_address: UpstreamSocketAddress } }} endpoint
 */

/**
 * @typedef {object} LocalityLbEndpoints
 * @property {LbEndpoint[]} lb_endpoints
 */

/**
 * @typedef {object} ClusterLoadAssignment envoy.config.endpoint.v3.ClusterLoadAssignment (JSON form)
 * @property {string} cluster_name
 * @property {LocalityLbEndpoints[]} endpoints
 */

/**
 * @typedef {ClusterLoadAssignment & { "@type": string }} PackedClusterLoadAssignment
 */

/**
 * @typedef {object} EdsDiscoveryResponse envoy.service.discovery.v3.DiscoveryResponse as read from a path_config_source file
 * @property {string} version_info
 * @property {PackedClusterLoadAssignment[]} resources
 */

/**
 * The UDP port number the slice gives for the named port; undefined when it has none.
 * A missing protocol defaults to TCP in Kubernetes, so it does not match.
 * @param {EndpointSlice} slice
 * @param {string} portName
 * @returns {number | undefined}
 */
function udpPortOf(slice, portName) {
  const port = (slice.ports ?? []).find((p) => (p.name ?? "") === portName && p.protocol === "UDP");
  return port && typeof port.port === "number" ? port.port : undefined;
}

/**
 * @param {SliceEndpoint} endpoint
 * @param {string} nodeName
 * @returns {boolean}
 */
function isReadyOnNode(endpoint, nodeName) {
  return endpoint.nodeName === nodeName && endpoint.conditions?.ready !== false;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * @param {string} address dotted-quad IPv4
 * @returns {number}
 */
function ipv4ToNumber(address) {
  return address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

/**
 * @param {UpstreamSocketAddress} a
 * @param {UpstreamSocketAddress} b
 * @returns {number}
 */
function compareSocketAddresses(a, b) {
  return ipv4ToNumber(a.address) - ipv4ToNumber(b.address) || a.port_value - b.port_value;
}

/**
 * Ready IPv4 endpoints of this node, deduplicated (an endpoint can sit in two slices while the
 * controller moves it) and sorted by address then port so equal inputs give identical files.
 * @param {readonly EndpointSlice[]} slices
 * @param {EdsSelection} selection
 * @returns {UpstreamSocketAddress[]}
 */
function localReadyAddresses(slices, selection) {
  /** @type {Map<string, UpstreamSocketAddress>} */
  const unique = new Map();
  for (const slice of slices) {
    const port = slice.addressType === "IPv4" ? udpPortOf(slice, selection.portName) : undefined;
    if (port === undefined) continue;
    for (const endpoint of slice.endpoints ?? []) {
      if (!isReadyOnNode(endpoint, selection.nodeName)) continue;
      // Kubernetes: the addresses of one endpoint are fungible and consumers may use the first only;
      // using all of them would weigh a multi-address pod more than the others.
      const address = endpoint.addresses[0];
      if (address !== undefined && IPV4.test(address)) unique.set(`${address}:${port}`, { address, port_value: port });
    }
  }
  return [...unique.values()].sort(compareSocketAddresses);
}

/**
 * @param {readonly EndpointSlice[]} slices
 * @param {EdsSelection} selection
 * @returns {ClusterLoadAssignment}
 */
function buildClusterLoadAssignment(slices, selection) {
  const addresses = localReadyAddresses(slices, selection);
  const lbEndpoints = addresses.map((socketAddress) => ({ endpoint: { address: { socket_address: socketAddress } } }));
  return {
    cluster_name: selection.clusterName,
    endpoints: lbEndpoints.length > 0 ? [{ lb_endpoints: lbEndpoints }] : [],
  };
}

/**
 * The file Envoy reads through path_config_source. version_info is derived from the content, so
 * the same endpoints always give byte-identical files.
 * @param {ClusterLoadAssignment} assignment
 * @returns {EdsDiscoveryResponse}
 */
function buildEdsDiscoveryResponse(assignment) {
  const resource = { "@type": CLUSTER_LOAD_ASSIGNMENT_TYPE, ...assignment };
  const digest = crypto.createHash("sha256").update(JSON.stringify(resource)).digest("hex");
  return { version_info: digest.slice(0, 16), resources: [resource] };
}

/**
 * @param {EdsDiscoveryResponse} response
 * @returns {string}
 */
function serializeEdsDiscoveryResponse(response) {
  return `${JSON.stringify(response, null, 2)}\n`;
}

/**
 * @param {readonly EndpointSlice[]} slices
 * @param {EdsSelection} selection
 * @returns {string} the EDS file content
 */
function renderEdsFile(slices, selection) {
  return serializeEdsDiscoveryResponse(buildEdsDiscoveryResponse(buildClusterLoadAssignment(slices, selection)));
}

module.exports = {
  CLUSTER_LOAD_ASSIGNMENT_TYPE,
  buildClusterLoadAssignment,
  buildEdsDiscoveryResponse,
  serializeEdsDiscoveryResponse,
  renderEdsFile,
};
