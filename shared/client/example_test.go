package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/keygate/keygate/shared/client"
)

// A backend calls a protected route with a token obtained from its API key. The client
// exchanges the key on the first request and refreshes the token before it expires; the same
// code runs against the local stack in infra/test/e2e (TestClientExampleBackend).
func Example() {
	base := os.Getenv("KEYGATE_URL") // e.g. http://127.0.0.1:3000 with `make run`
	c, err := client.New(base, os.Getenv("KEYGATE_API_KEY"), client.WithScopes("customers:read"))
	if err != nil {
		log.Fatal(err)
	}
	hc := c.HTTPClient() // any code that takes an *http.Client now sends the token

	resp, err := hc.Get(base + "/v1/customers")
	if err != nil {
		log.Fatal(err) // transport errors, or the key itself refused (errors.Is(err, client.ErrInvalidAPIKey))
	}
	defer resp.Body.Close()
	if err := client.CheckResponse(resp); err != nil {
		var e *client.Error
		if errors.As(err, &e) && e.Code == "insufficient_permissions" {
			log.Fatalf("the key needs %s", e.RequiredScope)
		}
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, len(body) > 0)
}

// The admin helpers need a key with admin:full; authctl is built on them.
func ExampleClient_Keys() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("KEYGATE_URL"), os.Getenv("KEYGATE_ADMIN_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	created, err := c.Keys().Create(ctx, client.KeySpec{Name: "billing-svc", Scopes: []string{"billing:read"}, RateLimit: 600})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(created.KeyID, created.Secret) // the secret prints redacted: kg_live_…[redacted]
	store(created.Secret.Reveal())             // the one place that sees it

	if _, err := c.Keys().Rotate(ctx, created.KeyID, time.Hour); err != nil {
		log.Fatal(err)
	}
}

// Client is an oauth2.TokenSource, so it also plugs into code built on golang.org/x/oauth2.
func ExampleClient_Token() {
	c, err := client.New(os.Getenv("KEYGATE_URL"), os.Getenv("KEYGATE_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	tok, err := c.Token()
	if err != nil {
		log.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, os.Getenv("KEYGATE_URL")+"/v1/billing", nil)
	tok.SetAuthHeader(req) // e.g. to hand a short-lived token to another process
	fmt.Println(time.Until(tok.Expiry) > 0)
}

func store(string) {}
