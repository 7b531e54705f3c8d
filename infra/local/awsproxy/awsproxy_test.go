package awsproxy_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/infra/local/awsproxy"
)

func TestCountsAndFaults(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") }))
	defer backend.Close()
	p, err := awsproxy.Start(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	send := func(op string) (*http.Response, error) {
		req, _ := http.NewRequest("POST", p.URL, strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
		return (&http.Client{Timeout: time.Second}).Do(req)
	}
	before := p.Snapshot()
	for _, op := range []string{"GetItem", "GetItem", "Query"} {
		resp, err := send(op)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", op, resp, err)
		}
		resp.Body.Close()
	}
	if ops, n := p.Since(before); n != 3 || ops["GetItem"] != 2 || ops["Query"] != 1 {
		t.Fatalf("Since = %v, %d", ops, n)
	}
	tests := []struct {
		f      awsproxy.Fault
		status int // 0: a transport error
	}{
		{awsproxy.Fault{Kind: awsproxy.Unreachable}, 0},
		{awsproxy.Fault{Kind: awsproxy.Throttled, ThrottleType: "ThrottlingException"}, 400},
		{awsproxy.Fault{Kind: awsproxy.Slow, Delay: 2 * time.Second}, 0}, // beyond the client timeout
	}
	for _, tt := range tests {
		p.Inject(tt.f)
		resp, err := send("GetItem")
		switch {
		case tt.status == 0 && err == nil:
			t.Errorf("fault %v: answered %d", tt.f.Kind, resp.StatusCode)
		case tt.status != 0 && (err != nil || resp.StatusCode != tt.status || resp.Header.Get("X-Amzn-ErrorType") != tt.f.ThrottleType):
			t.Errorf("fault %v: %v %v", tt.f.Kind, resp, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	p.Clear()
	if resp, err := send("GetItem"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after Clear: %v %v", resp, err)
	}
}

// A TransactionConflict fault answers as DynamoDB does, so the real SDK client decodes it into a
// TransactionCanceledException with a reason per item; it hits only its operation, and only
// the next Times requests of it when Times is set.
func TestTransactionConflictIsDynamoDBsCancellation(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		io.WriteString(w, "{}")
	}))
	defer backend.Close()
	p, err := awsproxy.Start(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	db := dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(p.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	})
	ctx := context.Background()
	put := func(pk string) types.TransactWriteItem {
		return types.TransactWriteItem{Put: &types.Put{TableName: aws.String("t"), Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}}}
	}
	transact := func() error {
		_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{put("a"), put("b"), put("c")}})
		return err
	}
	get := func() error {
		_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}}})
		return err
	}
	conflict := func(t *testing.T, err error, item int) {
		t.Helper()
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			t.Fatalf("err = %v, want a TransactionCanceledException", err)
		}
		var codes []string
		for _, r := range tce.CancellationReasons {
			codes = append(codes, aws.ToString(r.Code))
		}
		want := []string{"None", "None", "None"}
		want[item] = "TransactionConflict"
		if strings.Join(codes, ",") != strings.Join(want, ",") || aws.ToString(tce.CancellationReasons[item].Message) != "Transaction is ongoing for the item" {
			t.Fatalf("reasons = %v, want %v", codes, want)
		}
		if !strings.Contains(tce.ErrorMessage(), "["+strings.Join(want, ", ")+"]") {
			t.Fatalf("message %q does not list the reasons", tce.ErrorMessage())
		}
	}

	t.Run("once, then the transaction passes through", func(t *testing.T) {
		p.Inject(awsproxy.Fault{Kind: awsproxy.TransactionConflict, Op: "TransactWriteItems", Times: 1, ConflictItem: 1})
		defer p.Clear()
		if err := get(); err != nil {
			t.Fatalf("GetItem during the fault: %v", err)
		}
		conflict(t, transact(), 1)
		if err := transact(); err != nil {
			t.Fatalf("second TransactWriteItems: %v", err)
		}
		if p.Injected() != 1 {
			t.Fatalf("Injected = %d, want 1", p.Injected())
		}
	})
	t.Run("always, until Clear", func(t *testing.T) {
		p.Inject(awsproxy.Fault{Kind: awsproxy.TransactionConflict, Op: "TransactWriteItems", ConflictItem: 7})
		for i := 0; i < 3; i++ {
			conflict(t, transact(), 2) // an index past the items names the last one
			if err := get(); err != nil {
				t.Fatalf("GetItem during the fault: %v", err)
			}
		}
		if p.Injected() != 3 {
			t.Fatalf("Injected = %d, want 3", p.Injected())
		}
		p.Clear()
		if err := transact(); err != nil {
			t.Fatalf("after Clear: %v", err)
		}
	})
	t.Run("other kinds honour Op and Times too", func(t *testing.T) {
		p.Inject(awsproxy.Fault{Kind: awsproxy.Unreachable, Op: "GetItem", Times: 2})
		defer p.Clear()
		if err := transact(); err != nil {
			t.Fatalf("TransactWriteItems during a GetItem fault: %v", err)
		}
		for i := 0; i < 2; i++ {
			if err := get(); err == nil {
				t.Fatalf("GetItem %d passed during the fault", i+1)
			}
		}
		if err := get(); err != nil {
			t.Fatalf("GetItem after Times: %v", err)
		}
	})
}
