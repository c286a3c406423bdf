/** A problem with what the user typed or pointed at: printed as is, exit code 2, nothing started. */
export class UsageError extends Error {
  override name = 'UsageError';
}
