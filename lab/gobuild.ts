import { join } from "path";
import { buildGoModule } from "../harness/gobuild";

/** Builds the stand-ins (lab/standins) once per source content and Go version into a cache outside the repository. */
export function buildStandins(): string {
  return buildGoModule(join(__dirname, "standins"), { cache: "lab", binary: "standins", purpose: "build the lab's stand-ins" });
}
