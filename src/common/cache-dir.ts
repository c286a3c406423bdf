import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The per-user cache shared by every checkout: VGG19 weights and the native TensorFlow library
 * live here once, not once per clone.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.STARRY_CACHE_DIR ?? (env.XDG_CACHE_HOME ? join(env.XDG_CACHE_HOME, 'starry-render') : join(homedir(), '.cache', 'starry-render'));
}
