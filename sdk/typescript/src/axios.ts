// The guides' axios interceptor, done right: one refresh shared by concurrent requests, the
// rotated refresh token kept (by the client), one retry per request, Retry-After honoured, and
// the token only for the API's origins.
//
//   import axios from "axios";
//   import { KeygateClient } from "@keygate/client";
//   import { useKeygate } from "@keygate/client/axios";
//
//   const api = axios.create({ baseURL: "https://api.example.com/v1" });
//   useKeygate(api, new KeygateClient({ baseUrl: "https://api.example.com/v1", apiKey }));
//   await api.get("/customers");

import { backoff } from "./core.js";
import type { KeygateClient } from "./client.js";
import { internals } from "./internal.js";

/* eslint-disable @typescript-eslint/no-explicit-any */

/** The part of an axios instance the interceptor uses (axios 1.x). */
export interface AxiosLike {
  interceptors: {
    request: { use(onFulfilled: (config: any) => any, onRejected?: (error: any) => any): number; eject(id: number): void };
    response: { use(onFulfilled: ((response: any) => any) | undefined, onRejected: (error: any) => any): number; eject(id: number): void };
  };
  request(config: any): Promise<any>;
  getUri?(config?: any): string;
}

/** What the interceptor keeps on a request's config (a string key: axios copies it on retry). */
const META = "__keygate";
/** Marks our beforeRedirect wrapper, holding the caller's own (or undefined). */
const WRAPPED = "__keygateWrapped";

interface Meta {
  access: string; // the token this request carries (axios deep-copies the config: no objects)
  refreshed: boolean;
  retries: number;
}

function setHeader(config: any, name: string, value: string | undefined): void {
  const h = config.headers ?? (config.headers = {});
  if (typeof h.set === "function") {
    if (value === undefined) h.delete(name);
    else h.set(name, value);
    return;
  }
  for (const k of Object.keys(h)) if (k.toLowerCase() === name.toLowerCase()) delete h[k];
  if (value !== undefined) h[name] = value;
}

function fullUrl(instance: AxiosLike, config: any): string | undefined {
  let uri: string;
  try {
    uri = instance.getUri ? instance.getUri(config) : String(config.url ?? "");
  } catch {
    return undefined;
  }
  try {
    const loc = (globalThis as { location?: { href?: string } }).location?.href;
    return new URL(uri, loc).href;
  } catch {
    return undefined;
  }
}

/** Whether axios can send this body again (after its transform: strings and buffers can). */
function replayable(data: unknown): boolean {
  if (data == null || typeof data === "string" || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return true;
  if (typeof data === "object" && typeof (data as { pipe?: unknown }).pipe === "function") return false; // a Node stream
  if (typeof ReadableStream !== "undefined" && data instanceof ReadableStream) return false;
  return true; // plain objects, URLSearchParams, FormData, Blob: rebuilt from the config
}

/**
 * Attaches the client's access token to the instance's requests for the API's origins and
 * handles their 401, 429 and 503 answers; returns a function that detaches it.
 *
 * In Node, a redirect off the API's origins drops the token (axios' beforeRedirect, chained
 * with any of the caller's); in browsers XHR follows redirects and drops Authorization on a
 * cross-origin hop itself.
 */
export function useKeygate(instance: AxiosLike, client: KeygateClient): () => void {
  const kg = internals.get(client);
  if (!kg) throw new TypeError("keygate: useKeygate needs a KeygateClient");
  const reqId = instance.interceptors.request.use(async (config: any) => {
    const url = fullUrl(instance, config);
    if (!url || !kg.endpoint.credentialed(url)) return config;
    const state = await kg.current(config.signal);
    setHeader(config, "Authorization", `Bearer ${state.access}`);
    const prev: Meta | undefined = config[META];
    config[META] = { access: state.access, refreshed: prev?.refreshed ?? false, retries: prev?.retries ?? 0 } satisfies Meta;
    const prevHook = config.beforeRedirect;
    const userBeforeRedirect = prevHook && WRAPPED in prevHook ? prevHook[WRAPPED] : prevHook;
    const beforeRedirect = (options: any, responseDetails: any, requestDetails: any) => {
      const next = options?.href ?? (options?.protocol && options?.hostname ? `${options.protocol}//${options.hostname}${options.port ? ":" + options.port : ""}${options.path ?? "/"}` : undefined);
      if (!next || !kg.endpoint.credentialed(next)) {
        for (const k of Object.keys(options?.headers ?? {})) if (k.toLowerCase() === "authorization") delete options.headers[k];
      }
      userBeforeRedirect?.(options, responseDetails, requestDetails);
    };
    (beforeRedirect as any)[WRAPPED] = userBeforeRedirect;
    config.beforeRedirect = beforeRedirect;
    return config;
  });
  const resId = instance.interceptors.response.use(undefined, async (error: any) => {
    const config = error?.config;
    const resp = error?.response;
    const meta: Meta | undefined = config?.[META];
    if (!config || !resp || !meta || !replayable(config.data)) throw error;
    const finalUrl: string | undefined = resp.request?.res?.responseUrl ?? resp.request?.responseURL;
    if (finalUrl && !kg.endpoint.credentialed(finalUrl)) throw error; // an answer from where a redirect led
    if (resp.status === 401 && !meta.refreshed) {
      meta.refreshed = true;
      kg.log.info?.("keygate: 401 from a protected route, refreshing the token and retrying once");
      kg.invalidate(meta.access);
      return instance.request(config);
    }
    if (resp.status === 429 || resp.status === 503) {
      const header = (n: string): string | undefined => {
        const h = resp.headers;
        const v = typeof h?.get === "function" ? h.get(n) : h?.[n] ?? h?.[n.toLowerCase()];
        return v == null ? undefined : String(v);
      };
      const body = typeof resp.data === "string" ? resp.data : JSON.stringify(resp.data ?? "");
      const wait = backoff(resp.status, header, body, meta.retries, kg.settings);
      if (wait !== undefined) {
        meta.retries++;
        kg.log.info?.("keygate: retrying", { status: resp.status, waitMs: wait });
        await kg.settings.clock.sleep(wait, config.signal);
        return instance.request(config);
      }
    }
    throw error;
  });
  return () => {
    instance.interceptors.request.eject(reqId);
    instance.interceptors.response.eject(resId);
  };
}
