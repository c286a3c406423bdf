/** Pure checks shared by the workflow (signals, updates) and the command line. */
export const MAX_EPOCHS = 1000;

export function epochsError(epochs: unknown): string | undefined {
  if (typeof epochs !== 'number' || !Number.isInteger(epochs) || epochs < 1 || epochs > MAX_EPOCHS) {
    return `epochs must be a whole number from 1 to ${MAX_EPOCHS} (got ${JSON.stringify(epochs)})`;
  }
  return undefined;
}
