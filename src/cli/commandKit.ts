import { parseArgs, type ParseArgsConfig } from 'node:util';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { ActorDefinition } from '../runtime/actorDefinition.js';
// The runtime is imported when a command runs, not for --help: the CLI answers help at once.
import type { HitlClient } from '../client/client.js';
import type { HitlConfig } from '../base/config.js';
import { describeError } from '../base/errors.js';
import type { TicketIntake } from '../worker/worker.js';
import { printable, terminalSafe } from './format.js';

/** A usage or input error: one line on stderr, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Prints a line to stdout; what came from the wire in it was made terminal-safe already. */
export function out(line: string): void {
  process.stdout.write(`${printable(line)}\n`);
}

/** Prints a line to stderr, made terminal-safe whole (reasons quote what was sent). */
export function fail(line: string): void {
  process.stderr.write(`${terminalSafe(line)}\n`);
}

/** The command being run, for usage errors that point at its help. */
let current = '';

/** Names the command being run (for its usage errors). */
export function setCurrent(name: string): void {
  current = name;
}

type Options = NonNullable<ParseArgsConfig['options']>;
/** What {@link parse} returns: named so that the declaration build can write it out. */
type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

/** Parses a command's arguments; an unknown or malformed option is a usage error. */
export function parse<O extends Options>(argv: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const reason = describeError(err).replace(/\.? To specify a positional argument.*$/, '');
    throw new UsageError(`${reason} (see hitl ${current ? `${current} ` : ''}--help)`);
  }
}

/** A `--timeout MS` option: a positive whole number of milliseconds, 30 s when absent. */
export function timeoutOption(value: string | boolean | undefined): number {
  if (value === undefined) return 30_000;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new UsageError(
      `--timeout must be a positive integer of milliseconds, got '${String(value)}'`,
    );
  }
  return ms;
}

export async function withClient<T>(
  config: HitlConfig,
  fn: (client: HitlClient) => Promise<T>,
): Promise<T> {
  const { HitlClient } = await import('../client/client.js');
  const client = await HitlClient.connect({ config });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

export async function loadActors(
  config: HitlConfig,
  modulePath: string | undefined,
): Promise<{ definitions: ActorDefinition[]; intake?: TicketIntake }> {
  // `.js` names the compiled actors beside the compiled CLI; tsx maps it to the `.ts` source.
  const url = modulePath
    ? pathToFileURL(resolve(modulePath)).href
    : new URL('../../actors/index.js', import.meta.url).href;
  const mod = (await import(url)) as {
    createActors?: (c: HitlConfig) => { definitions: ActorDefinition[]; intake?: TicketIntake };
  };
  if (typeof mod.createActors !== 'function') {
    throw new UsageError(`module '${modulePath ?? url}' does not export createActors(config)`);
  }
  return mod.createActors(config);
}
