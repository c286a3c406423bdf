import { NO_FAULTS, parseFaults, type FaultPlan } from '../activities/faults';

// Apart from engine.ts, so that a copy worker reads its faults without loading TensorFlow.

/** The test-only faults STARRY_FAULTS (or `opts.faults`) names, said in the log when there are any; a copy worker's too. */
export function faultsFromEnv(opts: { faults?: string; log?: (line: string) => void } = {}): FaultPlan {
  const release = process.env.STARRY_STALL_RELEASE || undefined;
  const faults = parseFaults(opts.faults ?? process.env.STARRY_FAULTS, release);
  if (faults !== NO_FAULTS) {
    opts.log?.(`FAULT INJECTION ON (testing only): STARRY_FAULTS=${opts.faults ?? process.env.STARRY_FAULTS}${release ? `, stalls end once ${release} exists` : ''}`);
  }
  return faults;
}
