import { PREVIEW_EXPECTATIONS, describeStackProgram } from "./program-shared";

describeStackProgram("preview", PREVIEW_EXPECTATIONS);
