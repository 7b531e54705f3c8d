package usageplan

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/shared/store"
)

// KeyLister pages through every key of the stage (the keys store's admin listing).
type KeyLister interface {
	ListKeys(ctx context.Context, limit int, cursor string) (store.Page, error)
}

// AllKeys yields every key of keys, page by page, for Sync.
func AllKeys(ctx context.Context, keys KeyLister) func(yield func(store.Key) bool) error {
	return func(yield func(store.Key) bool) error {
		cursor := ""
		for {
			page, err := keys.ListKeys(ctx, 100, cursor)
			if err != nil {
				return err
			}
			for _, k := range page.Keys {
				if !yield(k) {
					return nil
				}
			}
			if page.Next == "" {
				return nil
			}
			cursor = page.Next
		}
	}
}

// Scheduled is the PlansFunction's handler: one Sync of the stage per scheduled event, so an
// expired key's API key goes within a schedule period, and whatever an admin call left half
// done is repaired without anyone running authctl keys sync. It logs the report (key ids and
// plan names, never a secret) and fails when a key could not be repaired, so the function's
// Errors metric, and the alarm on it, see it; the next run tries again.
func Scheduled(m *Manager, keys KeyLister, log *slog.Logger) func(ctx context.Context, ev events.CloudWatchEvent) error {
	return func(ctx context.Context, _ events.CloudWatchEvent) error {
		r, err := m.Sync(ctx, AllKeys(ctx, keys))
		log.InfoContext(ctx, "usage plans synced",
			slog.Int("keys", r.Keys), slog.Int("in_plans", r.Ensured), slog.Int("api_keys_removed", r.Removed),
			slog.Int("plans_deleted", r.PlansDeleted), slog.String("unknown_tiers", strings.Join(r.UnknownTiers, ", ")),
			slog.String("failed", strings.Join(r.Failed, "; ")))
		if err != nil {
			return fmt.Errorf("usage plan sync: %w", err)
		}
		if len(r.Failed) > 0 {
			return fmt.Errorf("usage plan sync: %d repairs failed", len(r.Failed))
		}
		return nil
	}
}
