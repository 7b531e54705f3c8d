package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Keys is the admin API for API keys (/v1/keys); the client's key needs admin:full. Every
// method returns the service's *Error on a non-2xx answer.
type Keys struct{ c *Client }

// Keys returns the admin helpers of the client.
func (c *Client) Keys() *Keys { return &Keys{c: c} }

// raw keeps the service's JSON answer, for tools that print it unchanged (authctl -json).
type raw struct{ body []byte }

// RawJSON returns the service's answer exactly as it came.
func (r raw) RawJSON() []byte { return r.body }

// Key is an API key as the admin API shows it: never its secret, never a hash.
type Key struct {
	raw
	KeyID      string    `json:"key_id"`
	Name       string    `json:"name"`
	OwnerID    string    `json:"owner_id,omitempty"`
	Scopes     []string  `json:"scopes"`
	AllowedIPs []string  `json:"allowed_ips"`
	RateLimit  int       `json:"rate_limit"`
	Tier       string    `json:"tier"`
	Status     string    `json:"status"` // "active" or "revoked"
	KeyGen     int64     `json:"key_gen"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	// GraceUntil is when the previous secret stops working after a rotation with grace.
	GraceUntil time.Time `json:"previous_key_valid_until,omitzero"`
}

// CreatedKey is a key with its plain secret, returned once by Create and Rotate.
type CreatedKey struct {
	raw
	Key
	Secret  Secret `json:"key"` // redacted when printed; Secret.Reveal() to store it
	Warning string `json:"warning"`
}

// KeyPage is one page of List.
type KeyPage struct {
	raw
	Keys       []Key  `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Event is one entry of a key's audit trail.
type Event struct {
	Time       time.Time `json:"time"`
	Action     string    `json:"action"` // key.created, token.issued, key.rotated, …
	KeyID      string    `json:"key_id"`
	ActorKeyID string    `json:"actor_key_id,omitempty"`
	SourceIP   string    `json:"source_ip,omitempty"`
	RequestID  string    `json:"request_id,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// EventPage is one page of Events.
type EventPage struct {
	raw
	Events     []Event `json:"data"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// PageOptions selects a page: Limit 1..100 (0 = the service's default), Cursor from the
// previous page's NextCursor.
type PageOptions struct {
	Limit  int
	Cursor string
}

func (p PageOptions) query() string {
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// KeySpec is the body of Create. Zero values are left out, so the service's defaults apply
// (rate limit 1000/min, tier "standard", no expiry, any IP).
type KeySpec struct {
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	OwnerID    string     `json:"owner_id,omitempty"`
	AllowedIPs []string   `json:"allowed_ips,omitempty"`
	RateLimit  int        `json:"rate_limit,omitempty"`
	Tier       string     `json:"tier,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
}

// KeyUpdate is the body of Update: nil fields stay as they are; an empty AllowedIPs slice
// clears the allowlist.
type KeyUpdate struct {
	Name       *string    `json:"name,omitempty"`
	Scopes     *[]string  `json:"scopes,omitempty"`
	AllowedIPs *[]string  `json:"allowed_ips,omitempty"`
	RateLimit  *int       `json:"rate_limit,omitempty"`
	Tier       *string    `json:"tier,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
}

// Create creates a key; the returned Secret is shown this once.
func (k *Keys) Create(ctx context.Context, spec KeySpec) (*CreatedKey, error) {
	return do[CreatedKey](ctx, k.c, http.MethodPost, "/v1/keys", spec)
}

// List returns a page of keys.
func (k *Keys) List(ctx context.Context, p PageOptions) (*KeyPage, error) {
	return do[KeyPage](ctx, k.c, http.MethodGet, "/v1/keys"+p.query(), nil)
}

// Get returns one key.
func (k *Keys) Get(ctx context.Context, id string) (*Key, error) {
	return do[Key](ctx, k.c, http.MethodGet, "/v1/keys/"+url.PathEscape(id), nil)
}

// Update changes the fields set in u.
func (k *Keys) Update(ctx context.Context, id string, u KeyUpdate) (*Key, error) {
	return do[Key](ctx, k.c, http.MethodPatch, "/v1/keys/"+url.PathEscape(id), u)
}

// Rotate gives the key a new secret; the old one keeps working for grace (0 to 7 days).
func (k *Keys) Rotate(ctx context.Context, id string, grace time.Duration) (*CreatedKey, error) {
	body := map[string]int{"grace_period_seconds": int(grace / time.Second)}
	return do[CreatedKey](ctx, k.c, http.MethodPost, "/v1/keys/"+url.PathEscape(id)+"/rotate", body)
}

// Revoke revokes the key and every token minted from it (idempotent).
func (k *Keys) Revoke(ctx context.Context, id string) (*Key, error) {
	return do[Key](ctx, k.c, http.MethodDelete, "/v1/keys/"+url.PathEscape(id), nil)
}

// Events returns a page of the key's audit trail.
func (k *Keys) Events(ctx context.Context, id string, p PageOptions) (*EventPage, error) {
	return do[EventPage](ctx, k.c, http.MethodGet, "/v1/keys/"+url.PathEscape(id)+"/events"+p.query(), nil)
}

// Usage is a key's calls per UTC day in its usage plan (GET /v1/keys/{id}/usage).
type Usage struct {
	raw
	KeyID string `json:"key_id"`
	Tier  string `json:"tier"`
	Plan  struct {
		Name        string `json:"name"`
		RateLimit   int    `json:"rate_limit"` // per minute
		Burst       int    `json:"burst"`
		QuotaLimit  int    `json:"quota_limit"`
		QuotaPeriod string `json:"quota_period"` // DAY, WEEK or MONTH; "" without a quota
	} `json:"plan"`
	Days []struct {
		Date      string `json:"date"`
		Used      int64  `json:"used"`
		Remaining int64  `json:"remaining"`
	} `json:"days"`
	// Remaining is the quota left in the current period; nil without a quota.
	Remaining *int64 `json:"remaining"`
}

// Usage returns the key's calls per day over the last days days (0: the service's default, 7).
func (k *Keys) Usage(ctx context.Context, id string, days int) (*Usage, error) {
	q := ""
	if days > 0 {
		q = "?days=" + strconv.Itoa(days)
	}
	return do[Usage](ctx, k.c, http.MethodGet, "/v1/keys/"+url.PathEscape(id)+"/usage"+q, nil)
}

func (r *raw) setRaw(b []byte) { r.body = b }

// do sends one admin request and decodes the answer into a new T, keeping the raw JSON.
func do[T any, PT interface {
	*T
	setRaw([]byte)
}](ctx context.Context, c *Client, method, path string, body any) (*T, error) {
	var keep json.RawMessage
	if err := c.call(ctx, true, method, path, "", body, &keep); err != nil {
		return nil, err
	}
	out := PT(new(T))
	if err := json.Unmarshal(keep, out); err != nil {
		return nil, err
	}
	out.setRaw(keep)
	return out, nil
}
