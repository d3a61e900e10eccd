/** The environment programs run with (scrubbed of anything that looks like a credential). */
const KEPT_ENV = /^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|LC_[A-Z_]+|TZ|TMPDIR|TEMP|TMP|PYTHONPATH|PYTHONHOME|VIRTUAL_ENV|CONDA_PREFIX|CONDA_DEFAULT_ENV|LD_LIBRARY_PATH|DYLD_LIBRARY_PATH|SYSTEMROOT|WINDIR|COMSPEC|PATHEXT)$/i;
const SECRET_NAME = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION)/i;
const SECRET_PREFIX = /^(OPENAI_|VALOR_|HF_|HUGGING_?FACE|AWS_|AZURE_|GOOGLE_|GCP_|GEMINI_|ANTHROPIC_)/i;

/**
 * The environment programs run with: a short allow-list of essentials, minus anything whose name
 * looks like a credential, plus settings that keep numeric libraries to one thread per run (many
 * runs share the cores; threads would also eat the address-space cap) and hashing reproducible.
 */
export function programEnv(source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined || !KEPT_ENV.test(name) || SECRET_NAME.test(name) || SECRET_PREFIX.test(name)) continue;
    env[name] = value;
  }
  Object.assign(env, {
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONIOENCODING: 'utf-8',
    PYTHONHASHSEED: '0',
    OPENBLAS_NUM_THREADS: '1',
    OMP_NUM_THREADS: '1',
    MKL_NUM_THREADS: '1',
    NUMEXPR_NUM_THREADS: '1',
  });
  return env;
}
