// The token goes only to the API's origin (scheme, host, port): never to another host, never
// over plain http when the base is https, never after a redirect through another origin.

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";

import { KeygateClient, KeygateError } from "../../src/index.js";
import { API_KEY, FakeKeygate, ManualClock, serve } from "../support/fake.js";

const cases: [string, string, string, boolean][] = [
  ["the base URL's origin gets it", "https://api.example.com", "https://api.example.com/v1/customers", true],
  ["the default port spelt out is the same origin", "https://api.example.com", "https://api.example.com:443/v1/customers", true],
  ["a base with the default port spelt out matches one without", "https://api.example.com:443", "https://api.example.com/v1/customers", true],
  ["host names compare without case", "https://api.example.com", "https://API.Example.COM/v1/customers", true],
  ["a base path prefix does not narrow the origin", "https://api.example.com/auth", "https://api.example.com/v1/customers", true],
  ["a plain-HTTP base gets it over HTTP", "http://127.0.0.1:3000", "http://127.0.0.1:3000/v1/customers", true],
  ["http's default port spelt out is the same origin", "http://localhost", "http://localhost:80/v1/customers", true],
  ["plain HTTP to an HTTPS base's host never does", "https://api.example.com", "http://api.example.com/v1/customers", false],
  ["plain HTTP on port 443 never does", "https://api.example.com", "http://api.example.com:443/v1/customers", false],
  ["HTTPS to an HTTP base's host:port is another origin", "http://127.0.0.1:3000", "https://127.0.0.1:3000/v1/customers", false],
  ["another port of the same host is another origin", "https://api.example.com", "https://api.example.com:8443/v1/customers", false],
  ["a host that merely starts with the API's is another origin", "https://api.example.com", "https://api.example.com.evil.test/v1/customers", false],
  ["a subdomain is another origin", "https://example.com", "https://api.example.com/v1/customers", false],
  ["a third party gets nothing", "https://api.example.com", "https://evil.test/v1/customers", false],
];

/** Answers everything: token requests with a token, redirects as scripted, others 200; records Authorization per URL. */
function recorder() {
  const auth = new Map<string, string[]>();
  const redirects = new Map<string, [number, string]>();
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = new Request(input, init);
    if (new URL(req.url).pathname.endsWith("/v1/auth/token")) {
      return Response.json({ access_token: "eyJfake.token.sig", token_type: "Bearer", expires_in: 900, refresh_token: "kgr_" + "x".repeat(43), scope: "" });
    }
    auth.set(req.url, [...(auth.get(req.url) ?? []), req.headers.get("authorization") ?? ""]);
    const r = redirects.get(req.url);
    if (r) return new Response(null, { status: r[0], headers: { location: r[1] } });
    return Response.json({});
  };
  return { auth, redirects, fetch };
}

describe("origins", () => {
  for (const [name, base, url, attached] of cases) {
    it(name, async () => {
      const rec = recorder();
      const client = new KeygateClient({ baseUrl: base, apiKey: API_KEY, fetch: rec.fetch, clock: new ManualClock() });
      await client.fetch(url);
      assert.deepEqual(rec.auth.get(new URL(url).href), [attached ? "Bearer eyJfake.token.sig" : ""]);
    });
  }

  it("adds origins, not hosts, with apiOrigins", async () => {
    const rec = recorder();
    const client = new KeygateClient({ baseUrl: "https://api.example.com", apiKey: API_KEY, apiOrigins: ["https://api2.example.com", "https://api.example.com:8443/"], fetch: rec.fetch });
    for (const u of ["https://api2.example.com/v1/x", "https://api.example.com:8443/v1/x", "https://api2.example.com:8443/v1/x", "http://api2.example.com/v1/x"]) await client.fetch(u);
    assert.deepEqual(rec.auth.get("https://api2.example.com/v1/x"), ["Bearer eyJfake.token.sig"]);
    assert.deepEqual(rec.auth.get("https://api.example.com:8443/v1/x"), ["Bearer eyJfake.token.sig"]);
    assert.deepEqual(rec.auth.get("https://api2.example.com:8443/v1/x"), [""]);
    assert.deepEqual(rec.auth.get("http://api2.example.com/v1/x"), [""]);
  });

  for (const o of ["api2.example.com", "https://api2.example.com/v1", "https://u:p@api2.example.com", "https://api2.example.com?x", "ftp://api2.example.com", "http://api2.example.com"]) {
    it(`refuses apiOrigins entry ${o} for an https base`, () => {
      assert.throws(() => new KeygateClient({ baseUrl: "https://api.example.com", apiKey: API_KEY, apiOrigins: [o] }), TypeError);
    });
  }
});

describe("redirects (the client follows them)", () => {
  for (const [name, target] of [["another host", "https://evil.test/steal"], ["a downgrade to plain http", "http://api.example.com/v1/customers"], ["another port", "https://api.example.com:8443/v1/customers"]] as const) {
    it(`drops the token on a redirect to ${name}`, async () => {
      const rec = recorder();
      rec.redirects.set("https://api.example.com/v1/moved", [307, target]);
      const client = new KeygateClient({ baseUrl: "https://api.example.com", apiKey: API_KEY, fetch: rec.fetch, followRedirects: "client" });
      assert.equal((await client.fetch("/moved")).status, 200);
      assert.deepEqual(rec.auth.get("https://api.example.com/v1/moved"), ["Bearer eyJfake.token.sig"]);
      assert.deepEqual(rec.auth.get(target), [""]);
    });
  }

  it("carries nothing back after leaving and coming back", async () => {
    const rec = recorder();
    rec.redirects.set("https://api.example.com/v1/out", [302, "https://evil.test/bounce"]);
    rec.redirects.set("https://evil.test/bounce", [302, "https://api.example.com/v1/customers"]);
    const client = new KeygateClient({ baseUrl: "https://api.example.com", apiKey: API_KEY, fetch: rec.fetch, followRedirects: "client" });
    await client.fetch("/out");
    assert.deepEqual(rec.auth.get("https://evil.test/bounce"), [""]);
    assert.deepEqual(rec.auth.get("https://api.example.com/v1/customers"), [""]);
  });

  it("turns a 303 into a GET without a body, keeps a 307's method and body", async () => {
    const fake = new FakeKeygate();
    fake.script("POST /v1/a", new Response(null, { status: 303, headers: { location: "/v1/customers" } }));
    fake.script("POST /v1/b", new Response(null, { status: 307, headers: { location: "/v1/inference/completions" } }));
    const client = new KeygateClient({ baseUrl: "https://api.example.com", apiKey: API_KEY, fetch: fake.fetch, followRedirects: "client" });
    await client.fetch("/a", { method: "POST", body: '{"x":1}', headers: { "content-type": "application/json" } });
    await client.fetch("/b", { method: "POST", body: '{"y":2}', headers: { "content-type": "application/json" } });
    assert.equal(fake.sentTo("GET /v1/customers")[0]!.body, "");
    assert.equal(fake.sentTo("POST /v1/inference/completions")[0]!.body, '{"y":2}');
    assert.ok(fake.sentTo("POST /v1/inference/completions")[0]!.auth.startsWith("Bearer eyJ"), "same origin: the token stays");
  });

  it("honours redirect: manual and redirect: error", async () => {
    const fake = new FakeKeygate();
    fake.script("GET /v1/m", new Response(null, { status: 302, headers: { location: "https://evil.test/" } }));
    fake.script("GET /v1/e", new Response(null, { status: 302, headers: { location: "https://evil.test/" } }));
    const client = new KeygateClient({ baseUrl: "https://api.example.com", apiKey: API_KEY, fetch: fake.fetch, followRedirects: "client" });
    assert.equal((await client.fetch("/m", { redirect: "manual" })).status, 302);
    await assert.rejects(client.fetch("/e", { redirect: "error" }), TypeError);
    assert.equal(fake.sent.filter((s) => s.url.startsWith("https://evil.test")).length, 0);
  });

  it("never follows a redirect on its own calls", async () => {
    const fake = new FakeKeygate();
    fake.script("POST /v1/auth/token", new Response(null, { status: 307, headers: { location: "https://evil.test/token" } }));
    const client = new KeygateClient({ baseUrl: "https://api.example.com", apiKey: API_KEY, fetch: fake.fetch });
    await assert.rejects(client.accessToken(), (e: unknown) => e instanceof KeygateError && e.status === 307);
    assert.deepEqual(fake.sent.map((s) => s.url), ["https://api.example.com/v1/auth/token"]);
  });

  it("leaves redirects to fetch in runtime mode", async () => {
    const rec = recorder();
    const seen: (RequestRedirect | undefined)[] = [];
    const client = new KeygateClient({
      baseUrl: "https://api.example.com",
      apiKey: API_KEY,
      followRedirects: "runtime",
      fetch: (input, init) => {
        seen.push(init?.redirect);
        return rec.fetch(input, init);
      },
    });
    await client.fetch("/customers");
    assert.deepEqual(seen, ["manual", undefined], "its own token call: manual; the caller's: fetch's default");
  });
});

describe("redirects through Node's own fetch (real sockets)", () => {
  const servers: { close(): Promise<void> }[] = [];
  after(async () => Promise.all(servers.map((s) => s.close())));

  it("a redirect from the API to another origin does not carry the token, nor one back", async () => {
    const seen: { where: string; auth: string }[] = [];
    const fake = new FakeKeygate();
    // "other" is the same server reached as localhost: another origin for the client.
    const api = await serve(async (req) => {
      const u = new URL(req.url);
      seen.push({ where: u.pathname, auth: req.headers.get("authorization") ?? "" });
      if (u.pathname === "/v1/leave") return new Response(null, { status: 307, headers: { location: `http://localhost:${u.port}/elsewhere` } });
      if (u.pathname === "/elsewhere") return new Response(null, { status: 302, headers: { location: `http://127.0.0.1:${u.port}/v1/customers` } });
      return fake.fetch(req);
    });
    servers.push(api);
    const client = new KeygateClient({ baseUrl: api.url + "/v1", apiKey: API_KEY });
    const resp = await client.fetch("/leave");
    assert.equal(resp.status, 401, "the API saw no token on the hop back, and the client did not retry it");
    const hops = seen.filter((s) => !s.where.startsWith("/v1/auth/"));
    assert.deepEqual(hops.map((h) => h.where), ["/v1/leave", "/elsewhere", "/v1/customers"]);
    assert.ok(hops[0]!.auth.startsWith("Bearer eyJ"));
    assert.equal(hops[1]!.auth, "");
    assert.equal(hops[2]!.auth, "");
  });

  for (const status of [301, 302, 303, 307, 308]) {
    it(`no token reaches the API through a ${status} from another origin`, async () => {
      const seen: { where: string; auth: string }[] = [];
      const fake = new FakeKeygate();
      const api = await serve(async (req) => {
        const u = new URL(req.url);
        seen.push({ where: u.pathname, auth: req.headers.get("authorization") ?? "" });
        if (u.pathname === "/go") return new Response(null, { status, headers: { location: `http://127.0.0.1:${u.port}/v1/customers` } });
        return fake.fetch(req);
      });
      servers.push(api);
      const port = new URL(api.url).port;
      const client = new KeygateClient({ baseUrl: api.url, apiKey: API_KEY });
      await client.accessToken();
      const resp = await client.fetch(`http://localhost:${port}/go`, { method: "POST", body: "{}" });
      assert.equal(resp.status, 401);
      assert.deepEqual(seen.filter((s) => !s.where.startsWith("/v1/auth/")), [{ where: "/go", auth: "" }, { where: "/v1/customers", auth: "" }]);
    });
  }
});
