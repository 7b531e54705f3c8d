package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/client"
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
  usage   KEY_ID [-days N]          calls per UTC day against the key's usage plan (default 7 days)
  sync    [-template T] [-param K=V] repair API Gateway's usage plans from the keys table (AWS
          credentials, not an admin key: API keys of revoked, expired or deleted keys go, keys
          without one get it, unused rate_limit plans go)

KEY_ID is a key's id (key_…, the KEY_ID column of list), never the key itself.

common flags: -url BASE (env KEYGATE_URL, default http://127.0.0.1:3000)
              -admin-key KEY (env KEYGATE_ADMIN_KEY; an admin:full API key or access token)
              -json (print the API's JSON instead of a table)`

// adminClient is the client of the /v1/keys admin API: the credential (an admin:full API key
// or access token) is presented as it is, with no token exchange per command.
func adminClient(base, key string) (*client.Keys, error) {
	c, err := client.New(base, key, client.WithoutTokenExchange(),
		client.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	if err != nil {
		return nil, err
	}
	return c.Keys(), nil
}

// rawResult is what every admin helper returns: the service's answer, printed unchanged by
// -json and decoded again for the tables.
type rawResult interface{ RawJSON() []byte }

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	cmd, args := args[0], args[1:]
	if cmd == "sync" {
		return runSync(ctx, args, stdout, stderr)
	}
	fs := flag.NewFlagSet("keys "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", envOr("KEYGATE_URL", "http://127.0.0.1:3000"), "API base URL")
	adminKey := fs.String("admin-key", os.Getenv("KEYGATE_ADMIN_KEY"), "admin:full API key or access token")
	asJSON := fs.Bool("json", false, "print JSON")
	name := fs.String("name", "", "key name")
	scopes := fs.String("scopes", "", "comma-separated scopes")
	ips := fs.String("allowed-ips", "", "comma-separated CIDRs (empty string clears on update)")
	rate := fs.Int("rate-limit", 0, "requests per minute")
	tier := fs.String("tier", "", "tier (a usage plan of the stage: free, startup, growth, enterprise by default)")
	days := fs.Int("days", 0, "usage: days to report, 1 to 90 (default 7)")
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
	if err := checkKeyID(cmd, id); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *adminKey == "" {
		return errors.New("no admin credential: set KEYGATE_ADMIN_KEY or pass -admin-key")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	keys, err := adminClient(*base, *adminKey)
	if err != nil {
		return err
	}
	needID := func() error {
		if id == "" {
			return fmt.Errorf("keys %s needs a KEY_ID", cmd)
		}
		return nil
	}
	var expiresAt *time.Time
	if set["expires-at"] {
		t, err := time.Parse(time.RFC3339, *expires)
		if err != nil {
			return fmt.Errorf("-expires-at %q is not an RFC 3339 time such as 2027-01-31T00:00:00Z", *expires)
		}
		expiresAt = &t
	}
	if set["rate-limit"] && *rate < 1 {
		return errors.New("-rate-limit must be a whole number of requests per minute from 1 to 1000000")
	}
	page := client.PageOptions{Limit: *limit, Cursor: *cursor}

	var res rawResult
	switch cmd {
	case "create":
		spec := client.KeySpec{Name: *name, Scopes: splitList(*scopes), OwnerID: *owner, Tier: *tier, ExpiresAt: expiresAt}
		if set["allowed-ips"] {
			spec.AllowedIPs = splitList(*ips)
		}
		if set["rate-limit"] {
			spec.RateLimit = *rate
		}
		res, err = result(keys.Create(ctx, spec))
	case "list":
		res, err = result(keys.List(ctx, page))
	case "get":
		if err = needID(); err == nil {
			res, err = result(keys.Get(ctx, id))
		}
	case "update":
		if err = needID(); err != nil {
			break
		}
		var u client.KeyUpdate
		if set["name"] {
			u.Name = name
		}
		if set["scopes"] {
			s := splitList(*scopes)
			u.Scopes = &s
		}
		if set["allowed-ips"] {
			s := splitList(*ips)
			u.AllowedIPs = &s
		}
		if set["rate-limit"] {
			u.RateLimit = rate
		}
		if set["tier"] {
			u.Tier = tier
		}
		u.ExpiresAt = expiresAt
		res, err = result(keys.Update(ctx, id, u))
	case "rotate":
		if err = needID(); err == nil {
			res, err = result(keys.Rotate(ctx, id, *grace))
		}
	case "revoke":
		if err = needID(); err == nil {
			res, err = result(keys.Revoke(ctx, id))
		}
	case "events":
		if err = needID(); err == nil {
			res, err = result(keys.Events(ctx, id, page))
		}
	case "usage":
		if err = needID(); err == nil {
			res, err = result(keys.Usage(ctx, id, *days))
		}
	default:
		return errors.New(keysUsage)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		_, err = stdout.Write(append(res.RawJSON(), '\n'))
		return err
	}
	return printHuman(cmd, res, stdout)
}

// checkKeyID refuses an API key given where a KEY_ID belongs, before anything is sent: every
// command that takes one puts it in the URL path (DELETE /v1/keys/<id>), which access logs
// record. apikey.Parse recognises a key (prefix and checksum, no I/O); anything else starting
// with kg_ is refused too, since a mistyped key is still mostly its secret. The error never
// repeats the key.
func checkKeyID(cmd, id string) error {
	if !apikey.LooksLikeKey(id) {
		return nil
	}
	what := "looks like an API key (a secret)"
	if n := len(id) - 1 - apikey.SecretLen - 1 - apikey.ChecksumLen; n > 0 && apikey.ValidPrefix(id[:n]) && apikey.Parse(id, id[:n]) == nil {
		what = "is an API key (a secret)"
	}
	return fmt.Errorf("keys %s: the argument %s, not a key id, and was not sent: it would travel in the URL path into access logs. "+
		"Find the key id (key_…) with \"authctl keys list\" (the KEY_ID column), then run \"authctl keys %s KEY_ID\"", cmd, what, cmd)
}

// result turns a helper's typed answer into a rawResult, keeping a nil interface on error.
func result[T rawResult](v T, err error) (rawResult, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

func printHuman(cmd string, res rawResult, w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch v := res.(type) {
	case *client.KeyPage:
		fmt.Fprintln(tw, "KEY_ID\tNAME\tSTATUS\tSCOPES\tRATE_LIMIT\tTIER\tCREATED")
		for _, k := range v.Keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", k.KeyID, k.Name, k.Status, strings.Join(k.Scopes, " "), k.RateLimit, k.Tier, ts(k.CreatedAt))
		}
		if v.NextCursor != "" {
			fmt.Fprintf(tw, "\nmore: -cursor %s\n", v.NextCursor)
		}
	case *client.EventPage:
		fmt.Fprintln(tw, "TIME\tACTION\tACTOR\tSOURCE_IP\tREQUEST_ID\tDETAIL")
		for _, e := range v.Events {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339Nano), e.Action, e.ActorKeyID, e.SourceIP, e.RequestID, e.Detail)
		}
		if v.NextCursor != "" {
			fmt.Fprintf(tw, "\nmore: -cursor %s\n", v.NextCursor)
		}
	case *client.CreatedKey:
		printKey(tw, &v.Key)
		fmt.Fprintf(tw, "\nkey\t%s\n%s\n", v.Secret.Reveal(), v.Warning)
	case *client.Key:
		printKey(tw, v)
	case *client.Usage:
		quota := "none"
		if v.Plan.QuotaLimit > 0 {
			quota = fmt.Sprintf("%d per %s", v.Plan.QuotaLimit, strings.ToLower(v.Plan.QuotaPeriod))
		}
		fmt.Fprintf(tw, "key_id\t%s\ntier\t%s\nplan\t%s (%d/min, burst %d, quota %s)\n", v.KeyID, v.Tier, v.Plan.Name, v.Plan.RateLimit, v.Plan.Burst, quota)
		if v.Remaining != nil {
			fmt.Fprintf(tw, "remaining\t%d this %s\n", *v.Remaining, strings.ToLower(v.Plan.QuotaPeriod))
		}
		fmt.Fprintln(tw, "\nDATE\tCALLS\tQUOTA_LEFT")
		for _, d := range v.Days {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", d.Date, d.Used, d.Remaining)
		}
	default:
		return fmt.Errorf("keys %s: nothing to print", cmd)
	}
	return nil
}

func printKey(w io.Writer, k *client.Key) {
	rows := [][2]string{
		{"key_id", k.KeyID}, {"name", k.Name}, {"status", k.Status},
		{"scopes", strings.Join(k.Scopes, " ")}, {"allowed_ips", strings.Join(k.AllowedIPs, " ")},
		{"rate_limit", fmt.Sprint(k.RateLimit)}, {"tier", k.Tier}, {"key_gen", fmt.Sprint(k.KeyGen)},
		{"created_at", ts(k.CreatedAt)}, {"expires_at", ts(k.ExpiresAt)}, {"last_used_at", ts(k.LastUsedAt)},
		{"previous_key_valid_until", ts(k.GraceUntil)},
	}
	for _, r := range rows {
		if r[1] != "" {
			fmt.Fprintf(w, "%s\t%s\n", r[0], r[1])
		}
	}
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
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

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
