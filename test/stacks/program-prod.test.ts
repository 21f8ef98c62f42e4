import { PROD_EXPECTATIONS, describeStackProgram } from "./program-shared";

describeStackProgram("prod", PROD_EXPECTATIONS);
