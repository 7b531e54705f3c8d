// What the axios interceptor needs of a client, kept off the client's public surface (this
// module is not in package.json's exports).

import type { Endpoint, Logger, Settings, TokenState } from "./core.js";

export interface Internals {
  endpoint: Endpoint;
  settings: Settings;
  log: Logger;
  current(signal?: AbortSignal): Promise<TokenState>;
  /** Marks the held token refused by a protected route, if it is still the one with this access token. */
  invalidate(access: string): void;
}

export const internals = new WeakMap<object, Internals>();
