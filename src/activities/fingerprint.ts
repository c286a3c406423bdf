import { sha256 } from '../common/hash';
import type { StyleSettings } from '../engine/settings';

/**
 * Identity of an optimisation trajectory: everything that changes the image at a given step.
 * Epochs are left out on purpose, so a checkpoint stays valid when the user raises them mid-run.
 */
export function trajectoryFingerprint(styleHash: string, weightsId: string, s: StyleSettings): string {
  const { epochs: _epochs, ...trajectory } = s;
  return sha256(JSON.stringify({ styleHash, weightsId, trajectory: sortedEntries(trajectory) }));
}

/** Identity of a finished frame: the trajectory plus how far it ran. */
export function frameFingerprint(styleHash: string, weightsId: string, s: StyleSettings): string {
  return sha256(`${trajectoryFingerprint(styleHash, weightsId, s)}:${s.epochs * s.stepsPerEpoch}`);
}

function sortedEntries(o: object): [string, unknown][] {
  return Object.entries(o).sort(([a], [b]) => a.localeCompare(b));
}
