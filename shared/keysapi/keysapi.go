// Package keysapi is the admin API for API keys (/v1/keys): create, list, get, update, rotate
// with a grace period, revoke, the audit trail of each key and its usage against its plan.
//
// Every write keeps API Gateway in step (Plans, package usageplan), gateway first: a key is
// stored only once its API key is in its usage plan, so a failure half-way leaves at worst an
// API key without a keygate key (deleted by authctl keys sync), never a key the gateway does
// not limit. A tier or rate_limit change moves the API key before the record changes; a
// revocation changes the record first (the authorizer refuses the key at once) and then
// deletes the API key, retried by a repeated DELETE or by the sync.
//
// The authorizer admits only callers holding admin:full; the handlers check it again (defence
// in depth against a route deployed without the authorizer). A plain key appears in exactly two
// responses — create and rotate — and never in a log, an audit event or any other response; one
// sent where a key id belongs (/v1/keys/kg_live_…) is refused unread and unrepeated.
package keysapi

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/httpapi"

	"github.com/keygate/keygate/shared/policy"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/usageplan"
)

// Store is the key storage the admin API needs.
type Store interface {
	CreateKey(ctx context.Context, k store.Key, audit ...store.Event) error
	SaveKey(ctx context.Context, prev *store.Key, next store.Key, audit ...store.Event) error
	KeyByID(ctx context.Context, id string) (store.Key, error)
	ListKeys(ctx context.Context, limit int, cursor string) (store.Page, error)
	ListEvents(ctx context.Context, keyID string, limit int, cursor string) (store.EventPage, error)
}

// Hashers yields the peppered hasher (apikey.Authenticator in production).
type Hashers interface {
	Hasher(ctx context.Context) (*apikey.Hasher, error)
}

// Plans keeps API Gateway's usage plans in step with the keys (usageplan.Manager).
type Plans interface {
	Tiers(ctx context.Context) ([]usageplan.Plan, error)
	Tier(ctx context.Context, name string) (usageplan.Plan, error)
	Ensure(ctx context.Context, k store.Key) error
	Remove(ctx context.Context, keyID string) error
	Usage(ctx context.Context, keyID string, from, to time.Time) (usageplan.Usage, error)
}

// Limits and defaults of the admin API.
//
// A key's rate_limit defaults to its tier's (the tier's usage plan); DefaultTier is the tier
// of a key created without one.
const (
	MaxRateLimit     = 1_000_000
	DefaultTier      = "startup"
	DefaultUsageDays = 7
	MaxUsageDays     = 90
	DefaultGrace     = 24 * time.Hour
	MaxGrace         = 7 * 24 * time.Hour
	MaxAllowedIPs    = 100
	DefaultPageSize  = 50
	MaxPageSize      = 100
)

// Handler serves the admin routes.
type Handler struct {
	Store   Store
	Hashers Hashers
	Plans   Plans
	Prefix  string
	Now     func() time.Time
	Random  io.Reader
	// Log records clean-ups that failed after the answer was decided (an API key left behind
	// by a revocation, which authctl keys sync deletes). Default: discard.
	Log *slog.Logger
}

// New returns a Handler with crypto/rand as its randomness.
func New(s Store, h Hashers, p Plans, prefix string, now func() time.Time, log *slog.Logger) *Handler {
	return &Handler{Store: s, Hashers: h, Plans: p, Prefix: prefix, Now: now, Random: rand.Reader, Log: log}
}

// Router returns the admin routes.
func (h *Handler) Router() *httpapi.Router {
	var rt httpapi.Router
	rt.Handle(http.MethodPost, "/v1/keys", h.admin(h.create))
	rt.Handle(http.MethodGet, "/v1/keys", h.admin(h.list))
	rt.Handle(http.MethodGet, "/v1/keys/{id}", h.admin(notAKey(h.get)))
	rt.Handle(http.MethodPatch, "/v1/keys/{id}", h.admin(notAKey(h.update)))
	rt.Handle(http.MethodDelete, "/v1/keys/{id}", h.admin(notAKey(h.revoke)))
	rt.Handle(http.MethodPost, "/v1/keys/{id}/rotate", h.admin(notAKey(h.rotate)))
	rt.Handle(http.MethodGet, "/v1/keys/{id}/events", h.admin(notAKey(h.events)))
	rt.Handle(http.MethodGet, "/v1/keys/{id}/usage", h.admin(notAKey(h.usage)))
	return &rt
}

// notAKey answers a path id that looks like an API key (an admin pasted the secret where its key
// id belongs, as in DELETE /v1/keys/kg_live_…) with a 404 saying so, before the body is read and
// without a storage read. Neither the answer nor the log record (request id, code, status; the
// error has no cause) repeats the id. The access log of API Gateway has recorded the path by
// then, hence the advice to rotate.
func notAKey(next httpapi.Handler) httpapi.Handler {
	return func(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
		if apikey.LooksLikeKey(r.PathParameters["id"]) {
			return nil, httpapi.NotFound("The path holds an API key, not a key id. A key in a URL is recorded by access logs: " +
				"rotate it. Key ids look like key_ followed by 20 letters and digits; GET /v1/keys lists them.")
		}
		return next(ctx, r)
	}
}

// admin refuses callers whose authorizer context lacks admin:full.
func (h *Handler) admin(next httpapi.Handler) httpapi.Handler {
	return func(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
		scope, _ := r.RequestContext.Authorizer["scope"].(string)
		if !policy.Allows(strings.Fields(scope), r.HTTPMethod, "/v1/keys") {
			return nil, httpapi.InsufficientPermissions(policy.Admin)
		}
		return next(ctx, r)
	}
}

// View is a key as the admin API shows it: never the secret, never a hash.
type View struct {
	KeyID      string   `json:"key_id"`
	Name       string   `json:"name"`
	OwnerID    string   `json:"owner_id,omitempty"`
	Scopes     []string `json:"scopes"`
	AllowedIPs []string `json:"allowed_ips"`
	RateLimit  int      `json:"rate_limit"`
	Tier       string   `json:"tier"`
	Status     string   `json:"status"`
	KeyGen     int64    `json:"key_gen"`
	CreatedAt  string   `json:"created_at"`
	UpdatedAt  string   `json:"updated_at,omitempty"`
	ExpiresAt  string   `json:"expires_at,omitempty"`
	LastUsedAt string   `json:"last_used_at,omitempty"`
	GraceUntil string   `json:"previous_key_valid_until,omitempty"`
}

func viewOf(k store.Key, now time.Time) View {
	v := View{
		KeyID: k.KeyID, Name: k.Name, OwnerID: k.OwnerID, Scopes: k.Scopes, AllowedIPs: k.AllowedIPs,
		RateLimit: k.RateLimit, Tier: k.Tier, Status: k.Status, KeyGen: k.KeyGen,
		CreatedAt: ts(k.CreatedAt), UpdatedAt: ts(k.UpdatedAt), ExpiresAt: ts(k.ExpiresAt),
		LastUsedAt: ts(k.LastUsedAt),
	}
	if k.Status == store.StatusActive && k.InGrace(now) {
		v.GraceUntil = ts(k.GraceUntil)
	}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	if v.AllowedIPs == nil {
		v.AllowedIPs = []string{}
	}
	return v
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// createRequest is the body of POST /v1/keys.
type createRequest struct {
	Name       string   `json:"name"`
	OwnerID    string   `json:"owner_id"`
	Scopes     []string `json:"scopes"`
	AllowedIPs []string `json:"allowed_ips"`
	RateLimit  *int     `json:"rate_limit"`
	Tier       string   `json:"tier"`
	ExpiresAt  *string  `json:"expires_at"`
}

// secretResponse is a view plus the plain key, returned once.
type secretResponse struct {
	View
	Key     string `json:"key"`
	Warning string `json:"warning"`
}

const onceWarning = "Store this key now: it is shown only once and cannot be recovered."

func (h *Handler) create(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	var req createRequest
	if err := httpapi.DecodeJSON(r, &req, httpapi.MaxBodyBytes); err != nil {
		return nil, err
	}
	now := h.Now()
	spec, err := validateCreate(req, now)
	if err != nil {
		return nil, err
	}
	tier, err := h.tier(ctx, spec.Tier)
	if err != nil {
		return nil, err
	}
	if spec.RateLimit == 0 {
		spec.RateLimit = tier.RatePerMinute
	}
	hasher, err := h.Hashers.Hasher(ctx)
	if err != nil {
		return nil, httpapi.Unavailable(err)
	}
	plain, rec, err := apikey.Mint(h.Prefix, hasher, spec, h.Random, now)
	if err != nil {
		return nil, httpapi.Internal(err)
	}
	rec.UpdatedAt = rec.CreatedAt
	if err := h.Plans.Ensure(ctx, rec); err != nil {
		h.cleanUp(ctx, rec.KeyID) // a half-made API key has no owner
		return nil, planErr(err)
	}
	if err := h.Store.CreateKey(ctx, rec, h.event(r, rec.KeyID, "key.created", "")); err != nil {
		h.cleanUp(ctx, rec.KeyID)
		return nil, storeErr(err)
	}
	rec.Version = 1
	resp, err := httpapi.JSON(http.StatusCreated, secretResponse{View: viewOf(rec, now), Key: plain, Warning: onceWarning})
	if err != nil {
		return nil, err
	}
	// Relative to the request URL (RFC 9110 allows it), so it resolves under whatever prefix
	// the caller used: the stage of the execute-api URL (/dev/v1/keys), a custom domain's
	// base path, or none. "/v1/keys/…" would lose the stage.
	resp.Headers = map[string]string{"Location": "keys/" + rec.KeyID}
	return resp, nil
}

type listResponse struct {
	Data       []View `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func (h *Handler) list(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return nil, err
	}
	page, err := h.Store.ListKeys(ctx, limit, cursor)
	if err != nil {
		return nil, storeErr(err)
	}
	now := h.Now()
	out := listResponse{Data: make([]View, 0, len(page.Keys)), NextCursor: page.Next}
	for _, k := range page.Keys {
		out.Data = append(out.Data, viewOf(k, now))
	}
	return httpapi.JSON(http.StatusOK, out)
}

func (h *Handler) get(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	k, err := h.load(ctx, r)
	if err != nil {
		return nil, err
	}
	return httpapi.JSON(http.StatusOK, viewOf(k, h.Now()))
}

// updateRequest is the body of PATCH /v1/keys/{id}; absent fields stay as they are.
type updateRequest struct {
	Name       *string   `json:"name"`
	Scopes     *[]string `json:"scopes"`
	AllowedIPs *[]string `json:"allowed_ips"`
	RateLimit  *int      `json:"rate_limit"`
	Tier       *string   `json:"tier"`
	ExpiresAt  *string   `json:"expires_at"`
}

func (h *Handler) update(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	var req updateRequest
	if err := httpapi.DecodeJSON(r, &req, httpapi.MaxBodyBytes); err != nil {
		return nil, err
	}
	k, err := h.loadActive(ctx, r)
	if err != nil {
		return nil, err
	}
	now := h.Now()
	next, changed, err := applyUpdate(k, req, now)
	if err != nil {
		return nil, err
	}
	moved := next.Tier != k.Tier || next.RateLimit != k.RateLimit
	if moved {
		// The new tier, or the kept one of a key made before tiers were plans: either must be
		// one of the stage's, and the answer says which there are.
		tier, err := h.tier(ctx, next.Tier)
		if err != nil {
			return nil, err
		}
		if next.Tier != k.Tier && req.RateLimit == nil { // a new tier brings its rate unless the request sets one
			next.RateLimit = tier.RatePerMinute
		}
	}
	next.UpdatedAt = now
	if moved {
		if err := h.Plans.Ensure(ctx, next); err != nil {
			h.restore(ctx, k)
			return nil, planErr(err)
		}
	}
	if err := h.Store.SaveKey(ctx, &k, next, h.event(r, k.KeyID, "key.updated", strings.Join(changed, ","))); err != nil {
		if moved {
			h.restore(ctx, k) // the gateway follows the record, which did not change
		}
		return nil, storeErr(err)
	}
	next.Version = k.Version + 1
	return httpapi.JSON(http.StatusOK, viewOf(next, now))
}

type rotateRequest struct {
	GracePeriodSeconds *int `json:"grace_period_seconds"`
}

func (h *Handler) rotate(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	var req rotateRequest
	if strings.TrimSpace(r.Body) != "" {
		if err := httpapi.DecodeJSON(r, &req, httpapi.MaxBodyBytes); err != nil {
			return nil, err
		}
	}
	grace := DefaultGrace
	if req.GracePeriodSeconds != nil {
		// Compare before converting: a huge value would overflow the Duration and wrap into
		// range (9223372037 s became a negative grace, i.e. none).
		if *req.GracePeriodSeconds < 0 || *req.GracePeriodSeconds > int(MaxGrace/time.Second) {
			return nil, httpapi.InvalidRequest("grace_period_seconds must be between 0 and 604800 (7 days).")
		}
		grace = time.Duration(*req.GracePeriodSeconds) * time.Second
	}
	k, err := h.loadActive(ctx, r)
	if err != nil {
		return nil, err
	}
	hasher, err := h.Hashers.Hasher(ctx)
	if err != nil {
		return nil, httpapi.Unavailable(err)
	}
	plain, err := apikey.Generate(h.Prefix, h.Random)
	if err != nil {
		return nil, httpapi.Internal(err)
	}
	now := h.Now()
	next := k
	next.Hash = hasher.Hash(plain)
	next.KeyGen = k.KeyGen + 1
	next.UpdatedAt = now
	next.PreviousHash, next.GraceUntil = "", time.Time{}
	if grace > 0 {
		// The old secret, and tokens minted from it, keep working until the grace ends.
		next.PreviousHash, next.GraceUntil = k.Hash, now.Add(grace).Truncate(time.Second)
	}
	detail := "grace_period_seconds=" + strconv.Itoa(int(grace/time.Second))
	if err := h.Store.SaveKey(ctx, &k, next, h.event(r, k.KeyID, "key.rotated", detail)); err != nil {
		return nil, storeErr(err)
	}
	next.Version = k.Version + 1
	return httpapi.JSON(http.StatusOK, secretResponse{View: viewOf(next, now), Key: plain, Warning: onceWarning})
}

func (h *Handler) revoke(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	k, err := h.load(ctx, r)
	if err != nil {
		return nil, err
	}
	now := h.Now()
	if k.Status == store.StatusRevoked {
		h.cleanUp(ctx, k.KeyID)                            // a retry finishes what a failed clean-up left
		return httpapi.JSON(http.StatusOK, viewOf(k, now)) // idempotent
	}
	next := k
	next.Status = store.StatusRevoked
	next.KeyGen = k.KeyGen + 1 // every token minted from the key stops working
	next.PreviousHash, next.GraceUntil = "", time.Time{}
	next.UpdatedAt = now
	if err := h.Store.SaveKey(ctx, &k, next, h.event(r, k.KeyID, "key.revoked", "")); err != nil {
		return nil, storeErr(err)
	}
	// The authorizer refuses the key from here on; its API key only named its bucket.
	h.cleanUp(ctx, k.KeyID)
	next.Version = k.Version + 1
	return httpapi.JSON(http.StatusOK, viewOf(next, now))
}

// tier returns the plan of the named tier, or a 400 listing the tiers there are.
func (h *Handler) tier(ctx context.Context, name string) (usageplan.Plan, error) {
	p, err := h.Plans.Tier(ctx, name)
	if !errors.Is(err, usageplan.ErrUnknownTier) {
		return p, planErr(err)
	}
	tiers, terr := h.Plans.Tiers(ctx)
	if terr != nil {
		return p, planErr(terr)
	}
	names := make([]string, 0, len(tiers))
	for _, t := range tiers {
		names = append(names, t.Tier)
	}
	return p, httpapi.InvalidRequest("tier must be one of " + strings.Join(names, ", ") + " (each is a usage plan of this stage).")
}

// cleanUp deletes a key's API key after a failed create or a revocation. It cannot change the
// answer any more, so a failure is logged for the sync to finish.
func (h *Handler) cleanUp(ctx context.Context, keyID string) {
	if err := h.Plans.Remove(ctx, keyID); err != nil {
		h.log().WarnContext(ctx, "usage plan clean-up failed; authctl keys sync finishes it",
			slog.String("key_id", keyID), slog.String("cause", err.Error()))
	}
}

// restore puts the API key of k back in k's plan after a failed move.
func (h *Handler) restore(ctx context.Context, k store.Key) {
	if err := h.Plans.Ensure(ctx, k); err != nil {
		h.log().WarnContext(ctx, "usage plan restore failed; authctl keys sync repairs it",
			slog.String("key_id", k.KeyID), slog.String("cause", err.Error()))
	}
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// usageResponse is GET /v1/keys/{id}/usage: calls per UTC day in the key's plan.
type usageResponse struct {
	KeyID string          `json:"key_id"`
	Tier  string          `json:"tier"`
	Plan  planView        `json:"plan"`
	Days  []usageplan.Day `json:"days"`
	// Remaining is the quota left in the current period, as of the last day reported.
	Remaining *int64 `json:"remaining,omitempty"`
}

type planView struct {
	Name        string `json:"name"`
	RateLimit   int    `json:"rate_limit"` // per minute
	Burst       int    `json:"burst"`
	QuotaLimit  int    `json:"quota_limit,omitempty"`
	QuotaPeriod string `json:"quota_period,omitempty"`
}

func (h *Handler) usage(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	days := DefaultUsageDays
	if v, ok := r.QueryStringParameters["days"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxUsageDays {
			return nil, httpapi.InvalidRequest("days must be a whole number from 1 to 90.")
		}
		days = n
	}
	k, err := h.load(ctx, r)
	if err != nil {
		return nil, err
	}
	to := h.Now().UTC()
	u, err := h.Plans.Usage(ctx, k.KeyID, to.AddDate(0, 0, 1-days), to)
	if errors.Is(err, usageplan.ErrNotProvisioned) {
		return nil, httpapi.NotFound("The key has no usage plan (revoked, expired, or made before usage plans: authctl keys sync adds it).")
	}
	if err != nil {
		return nil, planErr(err)
	}
	out := usageResponse{KeyID: k.KeyID, Tier: k.Tier, Days: u.Days, Plan: planView{
		Name: u.Plan.Name, RateLimit: u.Plan.RatePerMinute, Burst: u.Plan.Burst, QuotaLimit: u.Plan.QuotaLimit, QuotaPeriod: u.Plan.QuotaPeriod}}
	if out.Days == nil {
		out.Days = []usageplan.Day{}
	}
	if n := len(u.Days); n > 0 && u.Plan.QuotaLimit > 0 {
		out.Remaining = &u.Days[n-1].Remaining
	}
	return httpapi.JSON(http.StatusOK, out)
}

type eventView struct {
	Time       string `json:"time"`
	Action     string `json:"action"`
	KeyID      string `json:"key_id"`
	ActorKeyID string `json:"actor_key_id,omitempty"`
	SourceIP   string `json:"source_ip,omitempty"`
	RequestID  string `json:"request_id,omitempty"`
	Detail     string `json:"detail,omitempty"`
}

type eventsResponse struct {
	Data       []eventView `json:"data"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func (h *Handler) events(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return nil, err
	}
	k, err := h.load(ctx, r)
	if err != nil {
		return nil, err
	}
	page, err := h.Store.ListEvents(ctx, k.KeyID, limit, cursor)
	if err != nil {
		return nil, storeErr(err)
	}
	out := eventsResponse{Data: make([]eventView, 0, len(page.Events)), NextCursor: page.Next}
	for _, e := range page.Events {
		out.Data = append(out.Data, eventView{
			Time: e.Time.UTC().Format(time.RFC3339Nano), Action: e.Action, KeyID: e.KeyID,
			ActorKeyID: e.ActorKeyID, SourceIP: e.SourceIP, RequestID: e.RequestID, Detail: e.Detail,
		})
	}
	return httpapi.JSON(http.StatusOK, out)
}

// load reads the key named by the {id} path parameter.
func (h *Handler) load(ctx context.Context, r *httpapi.Request) (store.Key, error) {
	id := r.PathParameters["id"]
	if !apikey.ValidKeyID(id) {
		return store.Key{}, httpapi.NotFound("No key with that id. Key ids look like key_ followed by 20 letters and digits.")
	}
	k, err := h.Store.KeyByID(ctx, id)
	if err != nil {
		return store.Key{}, storeErr(err)
	}
	return k, nil
}

// loadActive is load for actions that a revoked key no longer allows.
func (h *Handler) loadActive(ctx context.Context, r *httpapi.Request) (store.Key, error) {
	k, err := h.load(ctx, r)
	if err != nil {
		return store.Key{}, err
	}
	if k.Status != store.StatusActive {
		return store.Key{}, httpapi.New(httpapi.CodeKeyRevoked, "The key is revoked; create a new key instead.")
	}
	return k, nil
}

// event builds the audit record of an admin action: who (the caller's key id), from where,
// which request. Never a secret.
func (h *Handler) event(r *httpapi.Request, keyID, action, detail string) store.Event {
	actor, _ := r.RequestContext.Authorizer["key_id"].(string)
	return store.Event{
		KeyID: keyID, Time: h.Now(), Action: action, ActorKeyID: actor,
		SourceIP: r.RequestContext.Identity.SourceIP, RequestID: r.RequestContext.RequestID, Detail: detail,
	}
}

func pageParams(r *httpapi.Request) (int, string, error) {
	limit := DefaultPageSize
	if v, ok := r.QueryStringParameters["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return 0, "", httpapi.InvalidRequest("limit must be a whole number from 1 to 100.")
		}
		limit = n
	}
	return limit, r.QueryStringParameters["cursor"], nil
}

// planErr maps a failure to keep API Gateway in step to an answer.
func planErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, usageplan.ErrUnknownTier):
		return httpapi.InvalidRequest("The key's tier has no usage plan on this stage: set tier to one of the stage's tiers.").WithCause(err)
	case errors.Is(err, usageplan.ErrPlanLimit):
		return httpapi.New(httpapi.CodeUsagePlanLimitReached,
			"No usage plan can be added for this rate_limit (the stage's MaxUsagePlans or AWS's quota of usage plans or API keys is reached). "+
				"Use the rate_limit of a tier, or ask the operator to raise the limit.").WithCause(err)
	case errors.Is(err, usageplan.ErrThrottled):
		return httpapi.RateLimited(1).WithCause(err)
	default:
		return httpapi.Unavailable(err)
	}
}

func storeErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return httpapi.NotFound("No key with that id.")
	case errors.Is(err, store.ErrConflict):
		return httpapi.New(httpapi.CodeConflict,
			"The key was changed by another request at the same time; read it again and retry.").WithCause(err)
	case errors.Is(err, store.ErrBadCursor):
		return httpapi.InvalidRequest("cursor is not valid; pass next_cursor from the previous page unchanged.")
	default:
		return httpapi.Unavailable(err)
	}
}
