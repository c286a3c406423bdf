/**
 * Layers below the command line never spell a flag: a message names a setting by its key in braces
 * (`Give {input} a video`, `lower {size}`), and the layer that owns the flag names it where a person
 * reads the message (the command line, from the option table and the worker's flags). This is the
 * one renderer; a message that crosses Temporal keeps its keys until the client shows it.
 */

/** `{size}`, `{heartbeatTimeoutSeconds}`: a lower-case key in braces. */
export const SETTING_PLACEHOLDER = /\{([a-z][A-Za-z]*)\}/g;

/** The keys `text` names, in order. */
export function settingKeysIn(text: string): string[] {
  return [...text.matchAll(SETTING_PLACEHOLDER)].map((m) => m[1]);
}

/**
 * `text` with each `{key}` that `nameOf` knows replaced by its name. Other braces are left as they
 * are: a path or ffmpeg's own words may hold them, and a test keeps every key below the client known.
 */
export function nameSettings(text: string, nameOf: (key: string) => string | undefined): string {
  return text.replace(SETTING_PLACEHOLDER, (whole, key: string) => nameOf(key) ?? whole);
}
