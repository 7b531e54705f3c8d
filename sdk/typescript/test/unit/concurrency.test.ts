// Concurrent callers share one exchange and one refresh (one promise).

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { KeygateClient } from "../../src/index.js";
import { API_KEY, BASE, FakeKeygate, ManualClock } from "../support/fake.js";

describe("concurrency", () => {
  it("50 concurrent callers cause one exchange, then one refresh", async () => {
    const fake = new FakeKeygate();
    fake.delayMs = 50; // each token answer takes 50 ms: the callers overlap
    const clock = new ManualClock();
    const client = new KeygateClient({ baseUrl: BASE, apiKey: API_KEY, fetch: fake.fetch, clock, refreshJitterMs: 0 });
    const round = async () => {
      const rs = await Promise.all(Array.from({ length: 50 }, () => client.fetch("/customers")));
      assert.ok(rs.every((r) => r.status === 200));
    };
    await round();
    assert.equal(fake.count("POST /v1/auth/token"), 1);
    clock.advance((900 - 30) * 1000);
    await round();
    assert.equal(fake.count("POST /v1/auth/refresh"), 1);
    assert.equal(fake.count("POST /v1/auth/token"), 1);
    assert.equal(fake.count("GET /v1/customers"), 100);
  });

  it("callers holding a refused token share one refresh", async () => {
    const fake = new FakeKeygate();
    fake.delayMs = 50;
    const client = new KeygateClient({ baseUrl: BASE, apiKey: API_KEY, fetch: fake.fetch });
    fake.revokeAccess(await client.accessToken());
    const rs = await Promise.all(Array.from({ length: 20 }, () => client.fetch("/customers")));
    assert.ok(rs.every((r) => r.status === 200));
    assert.equal(fake.count("POST /v1/auth/refresh"), 1);
    assert.equal(fake.count("POST /v1/auth/token"), 1);
  });

  it("a caller that gives up does not fail the others", async () => {
    const fake = new FakeKeygate();
    fake.delayMs = 100;
    const client = new KeygateClient({ baseUrl: BASE, apiKey: API_KEY, fetch: fake.fetch });
    const ac = new AbortController();
    const impatient = client.fetch("/customers", { signal: ac.signal });
    const patient = client.fetch("/customers");
    ac.abort(new Error("gave up"));
    await assert.rejects(impatient, /gave up/);
    assert.equal((await patient).status, 200);
    assert.equal(fake.count("POST /v1/auth/token"), 1);
  });
});
