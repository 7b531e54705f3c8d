// useKeygate: the axios interceptor, with real axios over real sockets to the fake service.

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";

import axios from "axios";

import { KeygateClient } from "../../src/index.js";
import { useKeygate } from "../../src/axios.js";
import { API_KEY, FakeKeygate, ManualClock, error, serve } from "../support/fake.js";

const servers: { close(): Promise<void> }[] = [];
after(async () => Promise.all(servers.map((s) => s.close())));

async function setup(clock = new ManualClock()) {
  const fake = new FakeKeygate();
  const api = await serve(fake.fetch);
  servers.push(api);
  const client = new KeygateClient({ baseUrl: api.url + "/v1", apiKey: API_KEY, clock });
  const instance = axios.create({ baseURL: api.url + "/v1" });
  const eject = useKeygate(instance, client);
  return { fake, api, client, instance, eject, clock };
}

describe("useKeygate", () => {
  it("attaches the token to the API's requests only", async () => {
    const { fake, instance, api } = await setup();
    assert.equal((await instance.get("/customers")).status, 200);
    const port = new URL(api.url).port;
    await instance.get(`http://localhost:${port}/v1/customers`).catch((e) => e); // another origin: no token, 401
    const sent = fake.sentTo("GET /v1/customers");
    assert.ok(sent[0]!.auth.startsWith("Bearer eyJ"));
    assert.equal(sent[1]!.auth, "");
    assert.equal(fake.count("POST /v1/auth/token"), 1);
  });

  it("refreshes once on a 401 and retries the same body", async () => {
    const { fake, instance, client } = await setup();
    fake.revokeAccess(await client.accessToken());
    const r = await instance.post("/inference/completions", { prompt: "hi" });
    assert.deepEqual(r.data.body, { prompt: "hi" });
    assert.deepEqual(fake.sentTo("POST /v1/inference/completions").map((s) => s.body), ['{"prompt":"hi"}', '{"prompt":"hi"}']);
    assert.equal(fake.count("POST /v1/auth/refresh"), 1);
  });

  it("waits Retry-After on a 429, on the client's clock", async () => {
    const { fake, instance, clock } = await setup();
    fake.script("GET /v1/customers", error(429, "rate_limit_exceeded", "slow", "rate_limit_error", { retry_after: 3 }));
    assert.equal((await instance.get("/customers")).status, 200);
    assert.deepEqual(clock.slept, [3000]);
  });

  it("does not retry a spent quota", async () => {
    const fake = new FakeKeygate();
    const api = await serve(fake.fetch);
    servers.push(api);
    const clock = new ManualClock();
    const client = new KeygateClient({ baseUrl: api.url + "/v1", apiKey: API_KEY, clock, retry: { maxWaitMs: 7_200_000 } });
    const instance = axios.create({ baseURL: api.url + "/v1" });
    useKeygate(instance, client);
    fake.script("GET /v1/customers", error(429, "quota_exceeded", "used", "rate_limit_error", { retry_after: 3600 }));
    const e = await instance.get("/customers").catch((e) => e);
    assert.equal(e?.response?.status, 429);
    assert.equal(e.response.headers["retry-after"], "3600");
    assert.deepEqual(clock.slept, []);
    assert.equal(fake.count("GET /v1/customers"), 1);
  });

  it("shares one exchange among 20 concurrent requests", async () => {
    const { fake, instance } = await setup();
    fake.delayMs = 50;
    await Promise.all(Array.from({ length: 20 }, () => instance.get("/customers")));
    assert.equal(fake.count("POST /v1/auth/token"), 1);
  });

  it("drops the token on a redirect off the API, and still calls the caller's beforeRedirect", async () => {
    const { fake, instance, api } = await setup();
    const port = new URL(api.url).port;
    fake.script("GET /v1/moved", new Response(null, { status: 302, headers: { location: `http://localhost:${port}/v1/customers` } }));
    const called: string[] = [];
    await instance.get("/moved", { beforeRedirect: (o: { href?: string }) => void called.push(String(o.href)) } as object).catch((e) => e);
    const hop = fake.sentTo("GET /v1/customers").at(-1)!;
    assert.equal(hop.url.includes("localhost") || hop.auth === "", true);
    assert.equal(hop.auth, "");
    assert.equal(called.length, 1);
  });

  it("installs a beforeRedirect that drops the token for any hop off the API's origins", async () => {
    // axios 1.21 strips Authorization on a cross-origin redirect itself; older 1.x releases
    // left that to follow-redirects, which keeps it for a subdomain. The interceptor's own hook
    // covers both: seen here directly, on the config an adapter receives.
    const client = new KeygateClient({ baseUrl: "https://api.example.com/v1", apiKey: API_KEY, fetch: new FakeKeygate().fetch });
    let hook: ((o: { href: string; headers: Record<string, string> }, r: object, q: object) => void) | undefined;
    const user: string[] = [];
    const instance = axios.create({
      baseURL: "https://api.example.com/v1",
      adapter: async (config: { beforeRedirect?: typeof hook }) => {
        hook = config.beforeRedirect;
        return { data: {}, status: 200, statusText: "OK", headers: {}, config, request: {} };
      },
    } as object);
    useKeygate(instance, client);
    await instance.get("/customers", { beforeRedirect: (o: { href: string }) => void user.push(o.href) } as object);
    assert.ok(hook);
    for (const [href, kept] of [["https://api.example.com/v1/other", true], ["https://evil.api.example.com/v1/x", false], ["http://api.example.com/v1/x", false], ["https://api.example.com:8443/v1/x", false]] as const) {
      const o = { href, headers: { Authorization: "Bearer eyJx" } };
      hook!(o, {}, {});
      assert.equal("Authorization" in o.headers, kept, href);
    }
    assert.equal(user.length, 4, "the caller's own beforeRedirect still runs");
  });

  it("drops the token on a redirect to a subdomain over real sockets", async () => {
    const fake = new FakeKeygate();
    const seen: { host: string; path: string; auth: string }[] = [];
    const api = await serve(async (req) => {
      const u = new URL(req.url);
      seen.push({ host: req.headers.get("host") ?? "", path: u.pathname, auth: req.headers.get("authorization") ?? "" });
      if (u.pathname === "/v1/moved") return new Response(null, { status: 302, headers: { location: `http://evil.api.test:${u.port}/v1/customers` } });
      return fake.fetch(req);
    });
    servers.push(api);
    const port = new URL(api.url).port;
    const lookup = (_host: string, _opts: unknown, cb: (err: Error | null, address: string, family: number) => void) => cb(null, "127.0.0.1", 4);
    const client = new KeygateClient({ baseUrl: `http://api.test:${port}/v1`, apiKey: API_KEY, fetch: (input, init) => fake.fetch(input, init) });
    const instance = axios.create({ baseURL: `http://api.test:${port}/v1`, lookup } as object);
    useKeygate(instance, client);
    await instance.get("/moved").catch((e) => e);
    const hops = seen.filter((h) => !h.path.startsWith("/v1/auth/"));
    assert.deepEqual(hops.map((h) => h.host), [`api.test:${port}`, `evil.api.test:${port}`]);
    assert.ok(hops[0]!.auth.startsWith("Bearer eyJ"));
    assert.equal(hops[1]!.auth, "", "the subdomain got the token");
  });

  it("can be detached", async () => {
    const { fake, instance, eject } = await setup();
    eject();
    await instance.get("/customers").catch((e) => e);
    assert.equal(fake.sentTo("GET /v1/customers")[0]!.auth, "");
    assert.equal(fake.count("POST /v1/auth/token"), 0);
  });

  it("refuses something that is not a KeygateClient", () => {
    assert.throws(() => useKeygate(axios.create(), {} as KeygateClient), TypeError);
  });
});
