import { describeStackProgramArtifacts } from "./program-system-shared";

describeStackProgramArtifacts("preview");
