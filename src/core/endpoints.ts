/**
 * The three language-model endpoints VALOR uses (program generator, reward judges, vision model),
 * named once for both front ends: the CLI reads them from VALOR_<PREFIX>_* variables, the
 * extension from valor.<role>.* settings; both report a missing one with `noEndpointMessage`.
 */

export type EndpointRole = 'generator' | 'judge' | 'vision';

/** What each role does, in the words error messages use. */
export const ROLE_WORDS: Record<EndpointRole, string> = {
  generator: 'the program generator',
  judge: 'the reward judges',
  vision: 'the vision model (VQA and box verification)',
};

/** The prefix of a role's environment variables (VALOR_LLM_BASE_URL, ...). */
export const ROLE_ENV_PREFIX = { generator: 'LLM', judge: 'JUDGE', vision: 'VLM' } as const satisfies Record<EndpointRole, string>;
export type EndpointEnvPrefix = (typeof ROLE_ENV_PREFIX)[EndpointRole];

/** The message for a role whose endpoint lacks a base URL or model; `missing` names the settings to fill in. */
export function noEndpointMessage(role: EndpointRole, missing: readonly string[]): string {
  return `no endpoint is configured for ${ROLE_WORDS[role]}: set ${missing.join(' and ')} (any OpenAI-compatible server, e.g. http://localhost:8000/v1 for vLLM)`;
}
