export { DECODER_DEFAULTS, DECODER_PLAN_SUBJECT, isCidrPeer, resolveDecoderPlan } from "./plan";
export type {
  DecoderEgressCidr,
  DecoderEgressPeer,
  DecoderEgressPort,
  DecoderEgressRule,
  DecoderEgressSelector,
  DecoderPlan,
  DecoderPlanInput,
} from "./plan";
