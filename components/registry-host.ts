/*
 * Which registry an image comes from. Pure functions (no Pulumi), so the stack's config checks can use them too.
 */

/** A Scaleway Container Registry endpoint: `rg.<region>.scw.cloud`. */
export const SCALEWAY_REGISTRY_HOST = /^rg\.(fr-par|nl-ams|pl-waw)\.scw\.cloud$/;

/**
 * The registry host of an image reference, as Docker and containerd resolve it: the part before the first `/` when
 * it looks like a host (has a `.` or a `:`, or is `localhost`), else Docker Hub (`docker.io`).
 */
export function registryHostOf(image: string): string {
  const slash = image.indexOf("/");
  if (slash < 0) return "docker.io";
  const first = image.slice(0, slash);
  return first.includes(".") || first.includes(":") || first === "localhost" ? first : "docker.io";
}

/** Whether an image is served by a Scaleway Container Registry (which needs credentials unless it is public). */
export function isScalewayRegistryImage(image: string): boolean {
  return SCALEWAY_REGISTRY_HOST.test(registryHostOf(image));
}
