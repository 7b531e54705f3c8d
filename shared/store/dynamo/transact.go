package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/shared/store"
)

// ErrTransactionConflict means a transaction was still cancelled by TransactionConflict (other
// transactions holding its items) after every retry, or the caller's context ended while it
// waited to retry. Nothing was written. It is a dependency failure (503 with Retry-After), and
// deliberately not store.ErrConflict: no condition was evaluated and lost, so callers must not
// take a lost race's path. The refresh handler, on ErrConflict, rereads the token, finds it
// still active and revokes its whole family as reused; revoking a family treats ErrConflict as
// "already gone" and would report success while it is still active; the admin API would answer
// 409 "changed by another request" when nothing changed. A 503 asks for a retry that will very
// likely succeed, and leaves every credential as it was.
var ErrTransactionConflict = errors.New("dynamo: transaction conflict outlasted the retries")

// Retry bounds of a transaction that DynamoDB cancels with TransactionConflict: 4 tries in all,
// waiting 10–20, 20–40 and 40–80 ms between them. That is at most 140 ms of waiting on top of
// the round trips, well inside every function's deadline (10 s, of which the handler's context
// keeps back 300 ms to answer), and long enough for the transaction in the way to finish:
// DynamoDB transactions take milliseconds.
const (
	txAttempts = 4
	txBackoff  = 20 * time.Millisecond
)

// transactWriter is the one call a transactional write needs.
type transactWriter interface {
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// txRetry is how a transactional write retries TransactionConflict cancellations: attempts tries
// in all, the wait before retry n drawn from [b/2, b] with b = backoff·2^(n-1).
type txRetry struct {
	attempts int
	backoff  time.Duration
}

func defaultTxRetry() txRetry { return txRetry{attempts: txAttempts, backoff: txBackoff} }

// write is the one way this package runs a TransactWriteItems; every transactional write of
// the keys and tokens tables goes through it, so all of them read DynamoDB's answer alike:
//
//   - Cancelled only because other transactions hold its items (every reason that is not None
//     is TransactionConflict): DynamoDB documents this as transient and the SDK does not retry
//     it, so it is retried here a few times with short jittered backoff (a cancelled
//     transaction wrote nothing, so a retry is safe); if it persists, or ctx ends while
//     waiting, the answer is ErrTransactionConflict (503), never store.ErrConflict.
//     Emulators never answer this; real DynamoDB does whenever two requests touch one item at
//     the same time (twenty concurrent refreshes of one token, a rotation racing a token
//     issuance).
//   - A condition failed (any ConditionalCheckFailed, with or without conflicts elsewhere):
//     store.ErrConflict, the caller lost a race. The conditions decide, as they did before. The
//     error (a *conditionFailed) names the items whose conditions failed, by their index in
//     items as the caller passed them, so a caller can tell which race it lost.
//   - The items at the bestEffort indices alone failed (their condition or a conflict): they
//     are dropped and the rest written at once. A best-effort write (a key's last_used_at)
//     must never fail or delay the write it rides with.
//   - Anything else: a dependency error wrapped with what.
func (p txRetry) write(ctx context.Context, api transactWriter, what string, items []types.TransactWriteItem, bestEffort ...int) error {
	pos := make([]int, len(items)) // pos[i] is the index items[i] had in the caller's items
	for i := range pos {
		pos[i] = i
	}
	for attempt := 1; ; attempt++ {
		_, err := api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			return fmt.Errorf("%s: %w", what, err)
		}
		switch {
		case len(bestEffort) > 0 && onlyAt(tce.CancellationReasons, bestEffort):
			items, pos, bestEffort = without(items, bestEffort), without(pos, bestEffort), nil
			continue
		case anyReason(tce.CancellationReasons, "ConditionalCheckFailed"):
			return &conditionFailed{items: failedAt(tce.CancellationReasons, "ConditionalCheckFailed", pos)}
		case !onlyReason(tce.CancellationReasons, "TransactionConflict"):
			return fmt.Errorf("%s: %w", what, err)
		case attempt >= p.attempts:
			return fmt.Errorf("%s: %w (%d attempts): %w", what, ErrTransactionConflict, attempt, err)
		}
		if werr := p.wait(ctx, attempt); werr != nil {
			return fmt.Errorf("%s: %w (gave up waiting: %w): %w", what, ErrTransactionConflict, werr, err)
		}
	}
}

// wait sleeps before retry n, or until ctx ends.
func (p txRetry) wait(ctx context.Context, n int) error {
	b := p.backoff << (n - 1)
	t := time.NewTimer(b/2 + rand.N(b/2+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func failed(r types.CancellationReason) bool {
	code := aws.ToString(r.Code)
	return code != "" && code != "None"
}

// anyReason reports whether some item was cancelled with code.
func anyReason(rs []types.CancellationReason, code string) bool {
	for _, r := range rs {
		if aws.ToString(r.Code) == code {
			return true
		}
	}
	return false
}

// onlyReason reports whether some item was cancelled with code and none with another.
func onlyReason(rs []types.CancellationReason, code string) bool {
	for _, r := range rs {
		if failed(r) && aws.ToString(r.Code) != code {
			return false
		}
	}
	return anyReason(rs, code)
}

// onlyAt reports whether the transaction failed because of the items at idx alone: their
// condition failed or another writer held them, and every other item is None.
func onlyAt(rs []types.CancellationReason, idx []int) bool {
	hit := false
	for i, r := range rs {
		if !failed(r) {
			continue
		}
		code := aws.ToString(r.Code)
		if !slices.Contains(idx, i) || code != "ConditionalCheckFailed" && code != "TransactionConflict" {
			return false
		}
		hit = true
	}
	return hit
}

func without[T any](items []T, idx []int) []T {
	out := make([]T, 0, len(items))
	for i, it := range items {
		if !slices.Contains(idx, i) {
			out = append(out, it)
		}
	}
	return out
}

// failedAt returns the caller's indices (through pos) of the items cancelled with code.
func failedAt(rs []types.CancellationReason, code string, pos []int) []int {
	var out []int
	for i, r := range rs {
		if aws.ToString(r.Code) == code && i < len(pos) {
			out = append(out, pos[i])
		}
	}
	return out
}

// conditionFailed is the store.ErrConflict of a transaction cancelled because conditions
// failed; items are the indices (in the caller's items) of the items whose conditions failed.
type conditionFailed struct{ items []int }

func (e *conditionFailed) Error() string {
	return fmt.Sprintf("%v (failed conditions at items %v)", store.ErrConflict, e.items)
}

// Is makes a conditionFailed a store.ErrConflict for every caller that only needs to know it
// lost a race.
func (e *conditionFailed) Is(target error) bool { return target == store.ErrConflict }

// failed reports whether the condition of the caller's item i failed.
func (e *conditionFailed) failed(i int) bool { return slices.Contains(e.items, i) }
