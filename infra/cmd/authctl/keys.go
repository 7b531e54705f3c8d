package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// keysUsage lists the keys subcommands.
const keysUsage = `usage: authctl keys <command> [flags]

commands:
  create  -name NAME -scopes s1,s2 [-allowed-ips cidr,…] [-rate-limit N] [-tier T] [-owner ID] [-expires-at RFC3339]
  list    [-limit N] [-cursor C]
  get     KEY_ID
  update  KEY_ID [-name …] [-scopes …] [-allowed-ips …] [-rate-limit N] [-tier T] [-expires-at RFC3339]
  rotate  KEY_ID [-grace 24h]
  revoke  KEY_ID
  events  KEY_ID [-limit N] [-cursor C]

common flags: -url BASE (env KEYGATE_URL, default http://127.0.0.1:3000)
              -admin-key KEY (env KEYGATE_ADMIN_KEY; an admin:full API key or access token)
              -json (print the API's JSON instead of a table)`

// admin is a small client of the /v1/keys admin API.
type admin struct {
	base string
	key  string
	http *http.Client
}

func (a *admin) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.base, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(out, &e) == nil && e.Error.Code != "" {
			return nil, fmt.Errorf("%d %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return nil, fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	return out, nil
}

type keyView struct {
	Key        string   `json:"key"`
	KeyID      string   `json:"key_id"`
	Name       string   `json:"name"`
	Scopes     []string `json:"scopes"`
	AllowedIPs []string `json:"allowed_ips"`
	RateLimit  int      `json:"rate_limit"`
	Tier       string   `json:"tier"`
	Status     string   `json:"status"`
	KeyGen     int64    `json:"key_gen"`
	CreatedAt  string   `json:"created_at"`
	ExpiresAt  string   `json:"expires_at"`
	LastUsedAt string   `json:"last_used_at"`
	GraceUntil string   `json:"previous_key_valid_until"`
	Warning    string   `json:"warning"`
}

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", envOr("KEYGATE_URL", "http://127.0.0.1:3000"), "API base URL")
	adminKey := fs.String("admin-key", os.Getenv("KEYGATE_ADMIN_KEY"), "admin:full API key or access token")
	asJSON := fs.Bool("json", false, "print JSON")
	name := fs.String("name", "", "key name")
	scopes := fs.String("scopes", "", "comma-separated scopes")
	ips := fs.String("allowed-ips", "", "comma-separated CIDRs (empty string clears on update)")
	rate := fs.Int("rate-limit", 0, "requests per minute")
	tier := fs.String("tier", "", "tier label")
	owner := fs.String("owner", "", "owner id")
	expires := fs.String("expires-at", "", "expiry, RFC 3339")
	grace := fs.Duration("grace", 24*time.Hour, "how long the old secret keeps working (0 to 168h)")
	limit := fs.Int("limit", 0, "page size")
	cursor := fs.String("cursor", "", "page cursor")

	// Flags may follow the positional KEY_ID.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *adminKey == "" {
		return errors.New("no admin credential: set KEYGATE_ADMIN_KEY or pass -admin-key")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	a := &admin{base: *base, key: *adminKey, http: &http.Client{Timeout: 30 * time.Second}}
	needID := func() error {
		if id == "" {
			return fmt.Errorf("keys %s needs a KEY_ID", cmd)
		}
		return nil
	}

	var out []byte
	var err error
	switch cmd {
	case "create":
		body := map[string]any{"name": *name, "scopes": splitList(*scopes)}
		if set["allowed-ips"] {
			body["allowed_ips"] = splitList(*ips)
		}
		if set["rate-limit"] {
			body["rate_limit"] = *rate
		}
		if set["tier"] {
			body["tier"] = *tier
		}
		if set["owner"] {
			body["owner_id"] = *owner
		}
		if set["expires-at"] {
			body["expires_at"] = *expires
		}
		out, err = a.do(ctx, http.MethodPost, "/v1/keys", body)
	case "list":
		out, err = a.do(ctx, http.MethodGet, "/v1/keys"+pageQuery(*limit, *cursor), nil)
	case "get":
		if err = needID(); err == nil {
			out, err = a.do(ctx, http.MethodGet, "/v1/keys/"+url.PathEscape(id), nil)
		}
	case "update":
		if err = needID(); err != nil {
			break
		}
		body := map[string]any{}
		if set["name"] {
			body["name"] = *name
		}
		if set["scopes"] {
			body["scopes"] = splitList(*scopes)
		}
		if set["allowed-ips"] {
			body["allowed_ips"] = splitList(*ips)
		}
		if set["rate-limit"] {
			body["rate_limit"] = *rate
		}
		if set["tier"] {
			body["tier"] = *tier
		}
		if set["expires-at"] {
			body["expires_at"] = *expires
		}
		out, err = a.do(ctx, http.MethodPatch, "/v1/keys/"+url.PathEscape(id), body)
	case "rotate":
		if err = needID(); err == nil {
			out, err = a.do(ctx, http.MethodPost, "/v1/keys/"+url.PathEscape(id)+"/rotate",
				map[string]any{"grace_period_seconds": int(grace.Seconds())})
		}
	case "revoke":
		if err = needID(); err == nil {
			out, err = a.do(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(id), nil)
		}
	case "events":
		if err = needID(); err == nil {
			out, err = a.do(ctx, http.MethodGet, "/v1/keys/"+url.PathEscape(id)+"/events"+pageQuery(*limit, *cursor), nil)
		}
	default:
		return errors.New(keysUsage)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		_, err = stdout.Write(append(out, '\n'))
		return err
	}
	return printHuman(cmd, out, stdout)
}

func printHuman(cmd string, out []byte, w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch cmd {
	case "list":
		var page struct {
			Data       []keyView `json:"data"`
			NextCursor string    `json:"next_cursor"`
		}
		if err := json.Unmarshal(out, &page); err != nil {
			return err
		}
		fmt.Fprintln(tw, "KEY_ID\tNAME\tSTATUS\tSCOPES\tRATE_LIMIT\tTIER\tCREATED")
		for _, k := range page.Data {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", k.KeyID, k.Name, k.Status, strings.Join(k.Scopes, " "), k.RateLimit, k.Tier, k.CreatedAt)
		}
		if page.NextCursor != "" {
			fmt.Fprintf(tw, "\nmore: -cursor %s\n", page.NextCursor)
		}
	case "events":
		var page struct {
			Data []struct {
				Time, Action, ActorKeyID, SourceIP, RequestID, Detail string
			} `json:"data"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(out, &page); err != nil {
			return err
		}
		fmt.Fprintln(tw, "TIME\tACTION\tACTOR\tSOURCE_IP\tREQUEST_ID\tDETAIL")
		for _, e := range page.Data {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time, e.Action, e.ActorKeyID, e.SourceIP, e.RequestID, e.Detail)
		}
		if page.NextCursor != "" {
			fmt.Fprintf(tw, "\nmore: -cursor %s\n", page.NextCursor)
		}
	default:
		var k keyView
		if err := json.Unmarshal(out, &k); err != nil {
			return err
		}
		rows := [][2]string{
			{"key_id", k.KeyID}, {"name", k.Name}, {"status", k.Status},
			{"scopes", strings.Join(k.Scopes, " ")}, {"allowed_ips", strings.Join(k.AllowedIPs, " ")},
			{"rate_limit", fmt.Sprint(k.RateLimit)}, {"tier", k.Tier}, {"key_gen", fmt.Sprint(k.KeyGen)},
			{"created_at", k.CreatedAt}, {"expires_at", k.ExpiresAt}, {"last_used_at", k.LastUsedAt},
			{"previous_key_valid_until", k.GraceUntil},
		}
		for _, r := range rows {
			if r[1] != "" {
				fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
			}
		}
		if k.Key != "" {
			fmt.Fprintf(tw, "\nkey\t%s\n%s\n", k.Key, k.Warning)
		}
	}
	return nil
}

func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func pageQuery(limit int, cursor string) string {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
