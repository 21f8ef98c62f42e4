/**
 * EndpointSlices -> EDS, typed for TypeScript callers. The implementation lives in the sidecar's
 * own file so that the sidecar and the tests run the same code.
 */
import endpoints = require("./eds-sidecar/endpoints.js");

export type EndpointSlice = import("./eds-sidecar/endpoints.js").EndpointSlice;
export type SliceEndpoint = import("./eds-sidecar/endpoints.js").SliceEndpoint;
export type SlicePort = import("./eds-sidecar/endpoints.js").SlicePort;
export type EdsSelection = import("./eds-sidecar/endpoints.js").EdsSelection;
export type ClusterLoadAssignment = import("./eds-sidecar/endpoints.js").ClusterLoadAssignment;
export type EdsDiscoveryResponse = import("./eds-sidecar/endpoints.js").EdsDiscoveryResponse;

/** "@type" of the resource in the EDS file. */
export const CLUSTER_LOAD_ASSIGNMENT_TYPE: string = endpoints.CLUSTER_LOAD_ASSIGNMENT_TYPE;

export const buildClusterLoadAssignment: (slices: readonly EndpointSlice[], selection: EdsSelection) => ClusterLoadAssignment =
  endpoints.buildClusterLoadAssignment;
export const buildEdsDiscoveryResponse: (assignment: ClusterLoadAssignment) => EdsDiscoveryResponse =
  endpoints.buildEdsDiscoveryResponse;
export const serializeEdsDiscoveryResponse: (response: EdsDiscoveryResponse) => string = endpoints.serializeEdsDiscoveryResponse;
export const renderEdsFile: (slices: readonly EndpointSlice[], selection: EdsSelection) => string = endpoints.renderEdsFile;
