import type { ChainTarget, StyleContentTerms } from '../engine/settings';

/**
 * How a chain's target is kept in a frame's sidecar and a run-up frame's: flat, `target` as earlier
 * releases wrote it, and `targetTerms` since the stop on terms (absent in their chains).
 */
export interface ChainTargetFields {
  target?: number;
  targetTerms?: StyleContentTerms;
}

/** The chain target a sidecar holds; undefined when it holds none usable (a copied frame, an earlier release's). */
export function chainTargetFrom(fields: ChainTargetFields | undefined): ChainTarget | undefined {
  const loss = fields?.target;
  if (loss === undefined || !Number.isFinite(loss) || loss <= 0) return undefined;
  return { loss, ...(fields!.targetTerms && { terms: fields!.targetTerms }) };
}

/** The sidecar fields of `chain` (none without one). */
export function chainTargetFields(chain: ChainTarget | undefined): ChainTargetFields {
  return chain ? { target: chain.loss, ...(chain.terms && { targetTerms: chain.terms }) } : {};
}
