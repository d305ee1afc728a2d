import { readFile } from 'node:fs/promises';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { NatsSettings } from './config.js';

/**
 * Connects to NATS with the contract's settings (URL, credentials file, user and password, or
 * token). Reconnects forever: a worker outlives a restart of its server.
 *
 * @example
 * const nc = await connectNats({ url: 'nats://127.0.0.1:4222' }, 'hitl-worker');
 */
export async function connectNats(settings: NatsSettings, name = 'hitl'): Promise<NatsConnection> {
  const options: Parameters<typeof connect>[0] = {
    servers: settings.url.split(',').map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  };
  if (settings.credsFile) {
    options.authenticator = credsAuthenticator(await readFile(settings.credsFile));
  }
  if (settings.user) options.user = settings.user;
  if (settings.pass) options.pass = settings.pass;
  if (settings.token) options.token = settings.token;
  try {
    return await connect(options);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot connect to NATS at ${settings.url}: ${reason}`, { cause: err });
  }
}
