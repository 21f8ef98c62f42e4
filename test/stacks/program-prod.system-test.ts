import { describeStackProgramArtifacts } from "./program-system-shared";

describeStackProgramArtifacts("prod");
