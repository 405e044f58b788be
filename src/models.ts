/**
 * Which model the Responses backend uses when nothing says otherwise, and how large each model's
 * context window is (for compaction). One place, so that a model retirement is a one-line change.
 */

/**
 * The Responses backend's model when neither the `model` option nor OPENAI_MODEL (nor a stored
 * prompt) sets one. Chosen in December 2026 from the model names in OpenAI's API description
 * (openai/openai-openapi, 2026-08-21): GPT-5.6 Terra is the balanced tier of the current family,
 * OpenAI's deprecations page names it as the replacement for gpt-5-mini (shut down 2026-12-11),
 * and no deprecation list announces a shutdown for it. gpt-4.1-mini, the default before, shuts
 * down on 2027-01-14.
 */
export const DEFAULT_MODEL = 'gpt-5.6-terra';

/**
 * Context windows in tokens, as OpenAI's model pages give them. Models not listed count as
 * FALLBACK_CONTEXT_WINDOW; the `compaction.contextWindow` option adds or overrides entries.
 */
export const CONTEXT_WINDOWS: Readonly<Record<string, number>> = {
  'gpt-5.6-sol': 1_050_000,
  'gpt-5.6-terra': 1_050_000,
  'gpt-5.6-luna': 1_050_000,
  'gpt-4.1': 1_047_576,
  'gpt-4.1-mini': 1_047_576,
  'gpt-4o': 128_000,
  'gpt-4o-mini': 128_000,
};

/**
 * The window assumed for a model the table does not know: the smallest of the current chat
 * models, so that compaction comes early rather than after the request is too long.
 */
export const FALLBACK_CONTEXT_WINDOW = 128_000;

/** The context window of `model`: the override, the table, or the fallback. */
export function contextWindowOf(
  model: string | undefined,
  overrides: Readonly<Record<string, number>> = {},
): number {
  if (model === undefined) return FALLBACK_CONTEXT_WINDOW;
  return overrides[model] ?? CONTEXT_WINDOWS[model] ?? FALLBACK_CONTEXT_WINDOW;
}
