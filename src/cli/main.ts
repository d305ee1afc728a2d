import { loadConfig, type HitlConfig } from '../base/config.js';
import { describeNatsError } from '../nats/retry.js';
import { fail, out, setCurrent, UsageError } from './commandKit.js';
import { COMMAND_HELP, HELP } from './help.js';
import { cancel, dlq, inbox, link, worker } from './operateCommands.js';
import { parked, pending, respond, retry, show, submit, tap } from './workflowCommands.js';

const commands: Record<string, (argv: string[], config: HitlConfig) => Promise<number>> = {
  worker,
  submit,
  pending,
  parked,
  respond,
  show,
  tap,
  retry,
  cancel,
  dlq,
  inbox,
  link,
  demo: async (argv) => (await import('./demo.js')).runDemo(argv),
};

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'help' && rest[0] !== undefined && COMMAND_HELP[rest[0]]) {
    out(COMMAND_HELP[rest[0]] as string);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    if (name) out(HELP);
    else process.stderr.write(HELP);
    return name ? 0 : 2;
  }
  const command = commands[name];
  const help = COMMAND_HELP[name];
  if (help && (rest.includes('--help') || rest.includes('-h'))) {
    out(help);
    return 0;
  }
  setCurrent(name);
  if (!command) {
    process.stderr.write(
      `hitl: unknown command '${name}' (commands: ${Object.keys(commands).join(', ')}; see hitl --help)\n`,
    );
    return 2;
  }
  try {
    return await command(rest, name === 'demo' ? ({} as HitlConfig) : loadConfig());
  } catch (err) {
    // Never a bare 'timeout': a NATS failure says what it likely means.
    fail(`hitl: ${describeNatsError(err)}`);
    return err instanceof UsageError ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
