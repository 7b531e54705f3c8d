// Package client is keygate's Go client: it exchanges an API key for short-lived access tokens
// and keeps a valid one at hand, so a backend calls protected routes without writing token
// handling by hand.
//
//	c, err := client.New("https://api.example.com", os.Getenv("KEYGATE_API_KEY"))
//	resp, err := c.HTTPClient().Get("https://api.example.com/v1/customers")
//
// What it does for the caller:
//   - Exchange and refresh. The first request exchanges the key (POST /v1/auth/token); later
//     ones reuse the access token until a margin (with jitter, so a fleet does not refresh in
//     step) before it expires, then spend the refresh token (POST /v1/auth/refresh). A refresh
//     token the service refuses (invalid_grant: expired, revoked, or its family revoked after a
//     reuse) falls back to a new exchange. Concurrent callers share one in-flight exchange or
//     refresh, so a refresh token is never spent twice by this process.
//   - 401 from a protected route. The token is refreshed once and the request retried, when its
//     body can be replayed (http.NewRequest sets GetBody for in-memory bodies).
//   - 429 and 503. Retried after the service's retry_after / Retry-After, or an exponential
//     backoff when it gives none, a bounded number of times, each wait bounded, and never past
//     the request's context.
//   - Errors. Non-2xx answers of the service become *Error values with the service's code;
//     errors.As gets the details, errors.Is compares with the Err* sentinels by code.
//
// Client implements golang.org/x/oauth2.TokenSource and offers an http.RoundTripper
// (Transport) that attaches the credential (the access token, or with WithoutTokenExchange the
// API key itself) only to requests whose scheme, host and port are the base URL's origin (or
// one named with WithAPIOrigins), and only when no earlier hop of their redirect chain was for
// another origin. So the credential never goes to a third party, never over plain http when
// the base URL is https, and never with a request another site redirected (a 307/308 replaying
// its body included) to the service.
//
// This package must never log or print a secret: API keys, access and refresh tokens appear in
// no log record and no error, and Client, Secret and CreatedKey redact them in String, every
// fmt verb and slog. The one exception is *oauth2.Token, whose AccessToken the TokenSource
// interface requires. It must never import another keygate package: it is built into callers'
// programs, which must not inherit the service's dependencies; so it keeps its own copy of the
// service's error codes, which a test on the service's side holds equal to the service's list.
package client
