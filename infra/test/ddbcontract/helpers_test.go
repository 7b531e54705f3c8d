package ddbcontract_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/keygate/keygate/infra/test/emulatortest"
)

// item is one DynamoDB item or key.
type item = map[string]types.AttributeValue

// table is a throwaway table with the schema of one of template.yaml's tables, and the names
// of its key attributes as the template gives them, so the suite follows the template.
type table struct {
	name       string
	hash, rng  string // rng is "" for a table without a sort key
	index      string // the first GSI, "" when the table has none
	ihash, irn string // the index's partition and sort key
}

// newTable creates a table like template.yaml's logicalID on db for the test.
func newTable(t *testing.T, db *dynamodb.Client, logicalID string) table {
	t.Helper()
	spec := emulatortest.TemplateTable(t, logicalID)
	tb := table{name: emulatortest.Table(t, db, logicalID)}
	for _, k := range spec.KeySchema {
		switch k.KeyType {
		case "HASH":
			tb.hash = k.AttributeName
		case "RANGE":
			tb.rng = k.AttributeName
		}
	}
	if len(spec.GlobalSecondaryIndexes) > 0 {
		g := spec.GlobalSecondaryIndexes[0]
		tb.index = g.IndexName
		for _, k := range g.KeySchema {
			switch k.KeyType {
			case "HASH":
				tb.ihash = k.AttributeName
			case "RANGE":
				tb.irn = k.AttributeName
			}
		}
	}
	return tb
}

// keysTable is the keys table: a partition key only, and a GSI with a sort key (list-index).
func keysTable(t *testing.T, db *dynamodb.Client) table {
	t.Helper()
	tb := newTable(t, db, "KeysTable")
	if tb.hash == "" || tb.rng != "" || tb.index == "" || tb.ihash == "" || tb.irn == "" {
		t.Fatalf("template.yaml's KeysTable is %+v: this suite expects a partition key only and a GSI with a sort key; "+
			"update the suite with the schema", tb)
	}
	return tb
}

// tokensTable is the tokens table: a partition key and a sort key.
func tokensTable(t *testing.T, db *dynamodb.Client) table {
	t.Helper()
	tb := newTable(t, db, "TokensTable")
	if tb.hash == "" || tb.rng == "" {
		t.Fatalf("template.yaml's TokensTable is %+v: this suite expects a partition and a sort key", tb)
	}
	return tb
}

// key is the primary key (h, r); r is ignored on a table without a sort key.
func (tb table) key(h, r string) item {
	k := item{tb.hash: str(h)}
	if tb.rng != "" {
		k[tb.rng] = str(r)
	}
	return k
}

// item is the key (h, r) with attrs added.
func (tb table) item(h, r string, attrs item) item {
	it := tb.key(h, r)
	for n, v := range attrs {
		it[n] = v
	}
	return it
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue  { return &types.AttributeValueMemberN{Value: fmt.Sprint(n)} }

// text returns the string or number in attribute name of it, "" when absent.
func text(it item, name string) string {
	switch v := it[name].(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	}
	return ""
}

// testContext bounds every call of a test: a hung emulator fails the test, not the binary.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// oneAttempt makes a call without the SDK's retries, so an error comes back at once.
func oneAttempt(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }

func put(ctx context.Context, t *testing.T, db *dynamodb.Client, tb table, it item) {
	t.Helper()
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tb.name), Item: it}); err != nil {
		t.Fatalf("put %v into %s: %v", it, tb.name, err)
	}
}

// get reads key with a strongly consistent GetItem; nil when absent.
func get(ctx context.Context, t *testing.T, db *dynamodb.Client, tb table, key item) item {
	t.Helper()
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tb.name), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("get %v from %s: %v", key, tb.name, err)
	}
	return out.Item
}

// errorCode is the AWS error code of err ("" for nil or a non-API error).
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatus is the HTTP status of the response that carried err (0 without one).
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// reasons are the cancellation reason codes of a TransactionCanceledException, in order; ok
// is false when err is not one.
func reasons(err error) (codes []string, ok bool) {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil, false
	}
	for _, r := range tce.CancellationReasons {
		codes = append(codes, aws.ToString(r.Code))
	}
	return codes, true
}

// race runs write(i) for i in [0, workers) at once (all goroutines released together, so
// the requests reach the emulator as close together as the client allows) and returns the
// workers whose write succeeded and the error of every other worker.
func race(ctx context.Context, workers int, write func(ctx context.Context, worker int) error) (winners []int, losses map[int]error) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	losses = map[int]error{}
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := write(ctx, i)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				winners = append(winners, i)
			} else {
				losses[i] = err
			}
		}()
	}
	close(start)
	wg.Wait()
	return winners, losses
}

// lostInTransport reports whether err carries no answer from the emulator at all (a connection
// closed or reset mid-answer): the write's outcome is unknown, so a race judges it by the
// stored state rather than count it as a win or a loss.
func lostInTransport(err error) bool {
	var api smithy.APIError
	return err != nil && !errors.As(err, &api)
}
