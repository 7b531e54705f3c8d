// The guides' JavaScript snippet, and what the client does instead.
//
// The guide refreshes with refreshToken(refreshToken), returns only data.access_token and so
// keeps presenting the first refresh token; its axios interceptor retries every 401 without
// end. Refresh tokens are single use: the second refresh with the spent token is reuse, which
// revokes the whole login. The client keeps the rotated refresh token, retries a 401 once, and
// recovers from a revoked login by exchanging the key again.

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";

import axios from "axios";

import { KeygateClient } from "../../src/index.js";
import { useKeygate } from "../../src/axios.js";
import { API_KEY, BASE, FakeKeygate, ManualClock, error, serve } from "../support/fake.js";

describe("the guides' snippet", () => {
  it("loses the login on its second refresh: it reuses the spent refresh token", async () => {
    const fake = new FakeKeygate();
    const pair = await (await fake.fetch(BASE + "/v1/auth/token", { method: "POST", headers: { authorization: "Bearer " + API_KEY } })).json();
    const refreshToken = pair.refresh_token; // the guide keeps this one for ever
    // The guide's function, verbatim but for the URL:
    async function guideRefresh(refreshToken: string) {
      const response = await fake.fetch(BASE + "/v1/auth/refresh", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: refreshToken }) });
      const data = await response.json();
      return data.access_token;
    }
    const access = await guideRefresh(refreshToken);
    assert.ok(access.startsWith("eyJ"), "works once…");
    assert.equal(await guideRefresh(refreshToken), undefined, "…then it is reuse: invalid_grant");
    // The reuse revoked the family: even the access token the first refresh gave is refused.
    assert.equal((await fake.fetch(BASE + "/v1/customers", { headers: { authorization: "Bearer " + access } })).status, 401);
  });

  it("the client keeps every rotated refresh token and never presents one twice", async () => {
    const fake = new FakeKeygate();
    const clock = new ManualClock();
    const client = new KeygateClient({ baseUrl: BASE, apiKey: API_KEY, fetch: fake.fetch, clock, refreshJitterMs: 0 });
    for (let i = 0; i < 5; i++) {
      assert.equal((await client.fetch("/customers")).status, 200);
      clock.advance(900_000);
    }
    const presented = fake.sentTo("POST /v1/auth/refresh").map((s) => JSON.parse(s.body).refresh_token);
    assert.equal(presented.length, 4);
    assert.equal(new Set(presented).size, 4);
    assert.equal(fake.count("POST /v1/auth/token"), 1);
  });

  it("after someone replays a spent token the client exchanges the key again", async () => {
    const fake = new FakeKeygate();
    const clock = new ManualClock();
    const client = new KeygateClient({ baseUrl: BASE, apiKey: API_KEY, fetch: fake.fetch, clock, refreshJitterMs: 0 });
    await client.fetch("/customers");
    clock.advance(900_000);
    await client.fetch("/customers"); // refresh: the first refresh token is spent now
    const first = JSON.parse(fake.sentTo("POST /v1/auth/refresh")[0]!.body).refresh_token;
    const replay = await fake.fetch(BASE + "/v1/auth/refresh", { method: "POST", body: JSON.stringify({ refresh_token: first }) });
    assert.equal((await replay.json()).error.code, "invalid_grant");
    // The family is revoked: one 401, one refused refresh, one exchange, one retry, a 200.
    assert.equal((await client.fetch("/customers")).status, 200);
    assert.equal(fake.count("GET /v1/customers"), 4);
    assert.equal(fake.count("POST /v1/auth/refresh"), 3); // the client's 2 + the replay
    assert.equal(fake.count("POST /v1/auth/token"), 2);
  });
});

describe("the guides' axios interceptor, done right", () => {
  const servers: { close(): Promise<void> }[] = [];
  after(async () => Promise.all(servers.map((s) => s.close())));

  it("retries a route that keeps refusing once, where the guide's loops for ever", async () => {
    const fake = new FakeKeygate();
    fake.script("GET /v1/customers", ...Array.from({ length: 50 }, () => error(401, "invalid_token", "no", "authentication_error")));
    const api = await serve(fake.fetch);
    servers.push(api);
    const instance = axios.create({ baseURL: api.url + "/v1" });
    useKeygate(instance, new KeygateClient({ baseUrl: api.url + "/v1", apiKey: API_KEY }));
    await assert.rejects(instance.get("/customers"), (e: { response?: { status: number } }) => e.response?.status === 401);
    assert.equal(fake.count("GET /v1/customers"), 2);
    assert.equal(fake.count("POST /v1/auth/refresh"), 1);
  });
});
