/**
 * `valor doctor --preset valor DIR`: what of VALOR's configuration (src/core/valorPreset.ts) is in
 * place on this machine and what is not, one line each, with what to do.
 */
import { defaultModelsDir } from '../../server/options.js';
import { checkValorPreset, valorPreset } from '../../core/valorPreset.js';
import { type CliCommand, EXIT, UsageError, parseCliArgs } from '../command.js';

const usage = `Usage: valor doctor --preset valor DIR [--json]

Checks VALOR's configuration against your copy of VALOR's repository (DIR: the checkout, or its
valor/prompts folder): the generator prompt (valor/prompts/system_prompt.jinja), the four judge
templates and api_prompt.txt, VALOR's sampling, the generator / judge / vision endpoints
(VALOR_LLM_*, VALOR_JUDGE_*, VALOR_VLM_*) and the detector and depth model folders
(VALOR_MODELS_DIR; folder names VALOR_PRESET_DETECTOR_DIR, VALOR_PRESET_DEPTH_DIR).

Then use the same switch on the commands: --preset valor --valor-repo DIR (or VALOR_PRESET=valor
and VALOR_REPO=DIR).

Exit codes: 0 everything is in place; 1 something is missing (listed); 2 bad usage.
`;

export const doctorCommand: CliCommand = {
  name: 'doctor',
  summary: "check what of VALOR's configuration (prompts, models, endpoints) is in place",
  usage,
  async run(argv, io) {
    const parsed = parseCliArgs(argv, { allowPositionals: true, options: { preset: { type: 'string' }, json: { type: 'boolean' }, 'valor-repo': { type: 'string' } } });
    const { values, positionals } = parsed;
    if (values.preset !== 'valor') throw new UsageError(`give --preset valor and your VALOR checkout\n\n${usage}`);
    const repo = positionals[0] ?? values['valor-repo'] ?? io.env.VALOR_REPO;
    if (!repo || positionals.length > 1) throw new UsageError(`give one VALOR checkout folder: valor doctor --preset valor DIR\n\n${usage}`);
    const preset = valorPreset(repo, io.cwd);
    const { checks } = await checkValorPreset({ preset, env: io.env, modelsDir: defaultModelsDir(io.env) });
    if (values.json) {
      io.stdout.write(`${JSON.stringify({ repo: preset.repo, prompts: preset.promptsDir, checks })}\n`);
    } else {
      io.stdout.write(`VALOR preset from ${preset.repo}\n`);
      for (const c of checks) io.stdout.write(`  ${c.ok ? 'ok     ' : 'MISSING'} ${c.what.padEnd(33)} ${c.detail}\n`);
      const missing = checks.filter((c) => !c.ok).length;
      io.stdout.write(missing === 0 ? 'everything is in place\n' : `${missing} missing\n`);
    }
    return checks.every((c) => c.ok) ? EXIT.ok : EXIT.failed;
  },
};
