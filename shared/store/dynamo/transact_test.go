package dynamo

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/shared/store"
)

// scriptedWriter answers TransactWriteItems with script in order, then with rest, and records
// how many items each call carried.
type scriptedWriter struct {
	script []error
	rest   error
	sizes  []int
	onCall func()
}

func (w *scriptedWriter) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	w.sizes = append(w.sizes, len(in.TransactItems))
	if w.onCall != nil {
		w.onCall()
	}
	err := w.rest
	if len(w.script) > 0 {
		err, w.script = w.script[0], w.script[1:]
	}
	return &dynamodb.TransactWriteItemsOutput{}, err
}

func cancellation(codes ...string) error {
	rs := make([]types.CancellationReason, len(codes))
	for i, c := range codes {
		rs[i] = types.CancellationReason{Code: aws.String(c)}
	}
	return &types.TransactionCanceledException{CancellationReasons: rs}
}

func fourItems() []types.TransactWriteItem { return make([]types.TransactWriteItem, 4) }

func TestATransactionConflictIsRetriedThenTheConditionsDecide(t *testing.T) {
	conflict := cancellation("None", "TransactionConflict", "None", "None")
	fast := txRetry{attempts: 4, backoff: time.Millisecond}
	tests := []struct {
		name       string
		script     []error
		rest       error
		bestEffort []int
		wantSizes  []int
		want       error // nil: success
		wantDep    bool  // a dependency error that is neither ErrConflict nor ErrTransactionConflict
	}{
		{name: "a conflict, then success", script: []error{conflict}, wantSizes: []int{4, 4}},
		{name: "three conflicts, then success on the last try", script: []error{conflict, conflict, conflict}, wantSizes: []int{4, 4, 4, 4}},
		{name: "a conflict on every try", rest: conflict, wantSizes: []int{4, 4, 4, 4}, want: ErrTransactionConflict},
		{name: "a conflict beside a failed condition is a lost race at once",
			script: []error{cancellation("TransactionConflict", "ConditionalCheckFailed", "None", "None")}, wantSizes: []int{4}, want: store.ErrConflict},
		{name: "a conflict, then a failed condition",
			script: []error{conflict, cancellation("ConditionalCheckFailed", "None", "None", "None")}, wantSizes: []int{4, 4}, want: store.ErrConflict},
		{name: "a conflict beside throttling is a dependency error",
			script: []error{cancellation("TransactionConflict", "ThrottlingError", "None", "None")}, wantSizes: []int{4}, wantDep: true},
		{name: "a cancellation without reasons is a dependency error", script: []error{&types.TransactionCanceledException{}}, wantSizes: []int{4}, wantDep: true},
		{name: "a network error is a dependency error", script: []error{errors.New("dial tcp: i/o timeout")}, wantSizes: []int{4}, wantDep: true},
		{name: "best-effort items alone in conflict are dropped at once",
			script: []error{cancellation("None", "None", "TransactionConflict", "None")}, bestEffort: []int{2, 3}, wantSizes: []int{4, 2}},
		{name: "best-effort items alone failing their condition are dropped at once",
			script: []error{cancellation("None", "None", "None", "ConditionalCheckFailed")}, bestEffort: []int{2, 3}, wantSizes: []int{4, 2}},
		{name: "a conflict beyond the best-effort items keeps them and retries",
			script: []error{cancellation("TransactionConflict", "None", "TransactionConflict", "None")}, bestEffort: []int{2, 3}, wantSizes: []int{4, 4}},
		{name: "a failed condition beyond the best-effort items is a lost race",
			script: []error{cancellation("ConditionalCheckFailed", "None", "TransactionConflict", "None")}, bestEffort: []int{2, 3}, wantSizes: []int{4}, want: store.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &scriptedWriter{script: tt.script, rest: tt.rest}
			err := fast.write(context.Background(), api, "test write", fourItems(), tt.bestEffort...)
			if len(api.sizes) != len(tt.wantSizes) {
				t.Fatalf("%d calls %v, want %v", len(api.sizes), api.sizes, tt.wantSizes)
			}
			for i := range api.sizes {
				if api.sizes[i] != tt.wantSizes[i] {
					t.Fatalf("calls carried %v items, want %v", api.sizes, tt.wantSizes)
				}
			}
			switch {
			case tt.wantDep:
				if err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, ErrTransactionConflict) {
					t.Fatalf("err = %v, want a plain dependency error", err)
				}
			case tt.want == nil:
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
			case !errors.Is(err, tt.want):
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			// A conflict that outlasts the retries is never a lost race, and keeps DynamoDB's
			// answer for the log.
			var tce *types.TransactionCanceledException
			if errors.Is(err, ErrTransactionConflict) && (errors.Is(err, store.ErrConflict) || !errors.As(err, &tce)) {
				t.Fatalf("err = %v: a persistent conflict must not be ErrConflict and must wrap the cancellation", err)
			}
		})
	}
}

func TestARetryWaitEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api := &scriptedWriter{rest: cancellation("TransactionConflict"), onCall: func() { time.AfterFunc(20*time.Millisecond, cancel) }}
	slow := txRetry{attempts: 4, backoff: time.Hour} // the wait is at least 30 minutes
	done := make(chan error, 1)
	go func() { done <- slow.write(ctx, api, "test write", fourItems()) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrTransactionConflict) || errors.Is(err, store.ErrConflict) {
			t.Fatalf("err = %v, want ErrTransactionConflict and context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write kept waiting after its context ended")
	}
	if len(api.sizes) != 1 {
		t.Fatalf("%d calls, want 1 (no retry after the context ended)", len(api.sizes))
	}
}

// The default policy stays far inside a function's deadline: the waits add up to under 200 ms.
func TestTheDefaultRetriesWaitLessThanAFifthOfASecond(t *testing.T) {
	p := defaultTxRetry()
	var most time.Duration
	for n := 1; n < p.attempts; n++ {
		most += p.backoff << (n - 1)
	}
	if p.attempts < 2 || most >= 200*time.Millisecond {
		t.Fatalf("%d attempts waiting up to %v", p.attempts, most)
	}
}

// A failed condition names the items it failed at by their index in the caller's request, also
// after best-effort items were dropped from a retry (the items after them move up).
func TestAFailedConditionNamesTheCallersItems(t *testing.T) {
	fast := txRetry{attempts: 4, backoff: time.Millisecond}
	tests := []struct {
		name       string
		script     []error
		bestEffort []int
		want       []int
	}{
		{name: "one item", script: []error{cancellation("None", "None", "ConditionalCheckFailed", "None")}, want: []int{2}},
		{name: "two items", script: []error{cancellation("ConditionalCheckFailed", "None", "None", "ConditionalCheckFailed")}, want: []int{0, 3}},
		{name: "after the best-effort items 1 and 2 were dropped, the retry's item 1 is the caller's 3",
			script:     []error{cancellation("None", "TransactionConflict", "None", "None"), cancellation("None", "ConditionalCheckFailed")},
			bestEffort: []int{1, 2}, want: []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fast.write(context.Background(), &scriptedWriter{script: tt.script}, "test write", fourItems(), tt.bestEffort...)
			var cf *conditionFailed
			if !errors.As(err, &cf) || !errors.Is(err, store.ErrConflict) {
				t.Fatalf("err = %v, want a conditionFailed that is store.ErrConflict", err)
			}
			if !slices.Equal(cf.items, tt.want) {
				t.Fatalf("failed items = %v, want %v", cf.items, tt.want)
			}
			for i := range 4 {
				if cf.failed(i) != slices.Contains(tt.want, i) {
					t.Errorf("failed(%d) = %v", i, cf.failed(i))
				}
			}
		})
	}
}
