/**
 * Recognises out-of-memory failures from every backend: TensorFlow's ResourceExhausted / "OOM when
 * allocating tensor" (tfjs-node, -node-gpu), and allocation failures of the wasm and cpu backends.
 */
const OOM_PATTERNS = [
  /ResourceExhausted/i,
  /OOM when allocating/i,
  /out of memory/i,
  /failed to allocate/i,
  /cannot allocate/i,
  /Array buffer allocation failed/i,
  /Invalid typed array length/i,
  /WebAssembly\.Memory.*grow/i,
  /Aborted\(OOM\)/i,
];

export function isOutOfMemory(err: unknown): boolean {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return OOM_PATTERNS.some((p) => p.test(text));
}
