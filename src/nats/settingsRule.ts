import type { Logger } from '../base/logger.js';

/** A flat set of JetStream settings (a stream's or a consumer's config fields). */
export type Settings = Record<string, unknown>;

/** What a worker wants of one stream, bucket or consumer that may exist already. */
export interface WantedSettings {
  /** `stream 'HITL_EVENTS'`, `consumer 'hitl-responses'`: how the log names it. */
  what: string;
  /** Settings a variable names explicitly (`HITL_REPLICAS`, …): applied to what exists. */
  explicit: Settings;
  /** The runtime's defaults for the rest: used to create, compared (never applied) otherwise. */
  defaults: Settings;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The storage rule of contract v2: on an existing stream, bucket or consumer, a setting that a
 * variable names explicitly is applied and the change logged; anything else is left as the
 * operator set it, with a warning where it differs from the runtime's default. Returns the
 * settings to update (empty: nothing to change).
 *
 * @example
 * const changes = settingsToApply(info.config, { what: "stream 'HITL_EVENTS'", explicit: { max_age }, defaults }, log);
 * if (Object.keys(changes).length > 0) await jsm.streams.update(name, { ...info.config, ...changes });
 */
export function settingsToApply(current: Settings, wanted: WantedSettings, log: Logger): Settings {
  const changes: Settings = {};
  for (const [key, value] of Object.entries(wanted.explicit)) {
    if (value === undefined || same(current[key], value)) continue;
    changes[key] = value;
    log.info('setting applied', { on: wanted.what, setting: key, from: current[key], to: value });
  }
  for (const [key, value] of Object.entries(wanted.defaults)) {
    if (key in wanted.explicit || value === undefined || same(current[key], value)) continue;
    log.warn('setting differs from the runtime default; left as set', {
      on: wanted.what,
      setting: key,
      value: current[key],
      default: value,
    });
  }
  return changes;
}
