package ddbcontract_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/infra/test/emulatortest"
)

// keygate authenticates every request with one strongly consistent GetItem, so a revocation
// or rotation is seen by the very next request, whichever write made it.
func TestAStronglyConsistentGetItemSeesTheWriteJustBeforeIt(t *testing.T) {
	db := emulatortest.DynamoDB(t)
	tb := tokensTable(t, db)
	ctx := testContext(t)
	tests := []struct {
		name  string
		write func(key item) error
		want  string // v afterwards, "" for absent
	}{
		{"a PutItem", func(key item) error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tb.name), Item: withV(key, "put")})
			return err
		}, "put"},
		{"an UpdateItem", func(key item) error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(tb.name), Key: key,
				UpdateExpression: aws.String("SET v = :v"), ExpressionAttributeValues: item{":v": str("updated")}})
			return err
		}, "updated"},
		{"a DeleteItem", func(key item) error {
			_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tb.name), Key: key})
			return err
		}, ""},
		{"a TransactWriteItems", func(key item) error {
			_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				{Update: &types.Update{TableName: aws.String(tb.name), Key: key,
					UpdateExpression: aws.String("SET v = :v"), ExpressionAttributeValues: item{":v": str("revoked")}}},
			}})
			return err
		}, "revoked"},
	}
	for i, tt := range tests {
		t.Run("the read right after "+tt.name+" returns what it wrote", func(t *testing.T) {
			// Several rounds on one item: each read must see the write just before it, not an
			// earlier state.
			key := tb.key(fmt.Sprintf("read#%d", i), "x")
			for round := range 5 {
				put(ctx, t, db, tb, withV(key, fmt.Sprint("before", round)))
				if err := tt.write(key); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if got := text(get(ctx, t, db, tb, key), "v"); got != tt.want {
					t.Fatalf("round %d: consistent read = %q, want %q", round, got, tt.want)
				}
			}
		})
	}
}

func withV(key item, v string) item {
	out := item{"v": str(v)}
	for k, a := range key {
		out[k] = a
	}
	return out
}

// pageAll queries with in.Limit = limit, following LastEvaluatedKey until it is absent, and
// returns the items of every page in order; it fails the test on a page over the limit or a
// listing that never ends.
func pageAll(ctx context.Context, t *testing.T, db *dynamodb.Client, in dynamodb.QueryInput, limit int32) []item {
	t.Helper()
	in.Limit = aws.Int32(limit)
	var out []item
	for pages := 0; ; pages++ {
		if pages > 50 {
			t.Fatalf("paging with limit %d never ended", limit)
		}
		page, err := db.Query(ctx, &in)
		if err != nil {
			t.Fatalf("query page %d (limit %d): %v", pages, limit, err)
		}
		if len(page.Items) > int(limit) {
			t.Errorf("page %d has %d items, over the limit %d", pages, len(page.Items), limit)
		}
		out = append(out, page.Items...)
		if len(page.LastEvaluatedKey) == 0 {
			return out
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// keygate lists a key's audit events (tokens table: one partition per key, newest first) and
// reads a key's deny-list (one partition, paged) with Query on the table, and lists keys
// through the keys table's sparse GSI newest first, all paged with Limit and ExclusiveStartKey
// (the cursor a client passes back). Every item must come back exactly once, in key order,
// whatever the page size, and nothing from another partition or outside the sparse index.
func TestQueryPagesReturnEveryItemExactlyOnceInKeyOrder(t *testing.T) {
	db := emulatortest.DynamoDB(t)
	tokens, keys := tokensTable(t, db), keysTable(t, db)
	ctx := testContext(t)

	// Tokens table: partition "audit#key_a" with 7 events, a neighbour partition on each side.
	var events []string
	for i := range 7 {
		sk := fmt.Sprintf("%020d#req%d", 1000+i, i)
		events = append(events, sk)
		put(ctx, t, db, tokens, tokens.item("audit#key_a", sk, nil))
	}
	put(ctx, t, db, tokens, tokens.item("audit#key_0", "00000000000000001000#x", nil))
	put(ctx, t, db, tokens, tokens.item("audit#key_b", "00000000000000001000#x", nil))

	// Keys table: 7 head items in the "key" listing (two with the same sort key: a GSI's sort
	// key need not be unique), lookup items without the index attributes (not in the sparse
	// index), and a head in another listing partition.
	var heads []string
	for i := range 7 {
		sk := fmt.Sprintf("%012d#key_%d", 1700000000+i, i)
		if i == 4 {
			sk = fmt.Sprintf("%012d#key_%d", 1700000000+3, 3) // ties with key_3's
		}
		pk := fmt.Sprintf("id#key_%d", i)
		heads = append(heads, pk)
		put(ctx, t, db, keys, keys.item(pk, "", item{keys.ihash: str("key"), keys.irn: str(sk)}))
		put(ctx, t, db, keys, keys.item(fmt.Sprintf("key#hash%d", i), "", item{"key_id": str(pk)}))
	}
	put(ctx, t, db, keys, keys.item("id#elsewhere", "", item{keys.ihash: str("other"), keys.irn: str("000000000000#x")}))

	tests := []struct {
		name string
		in   dynamodb.QueryInput
		id   func(item) string // what identifies an item
		sort func(item) string // the order the query promises
		want []string          // the ids in ascending order of sort
	}{
		{
			name: "a Query on the table's partition",
			in: dynamodb.QueryInput{TableName: aws.String(tokens.name),
				KeyConditionExpression:    aws.String("#h = :h"),
				ExpressionAttributeNames:  map[string]string{"#h": tokens.hash},
				ExpressionAttributeValues: item{":h": str("audit#key_a")}},
			id:   func(it item) string { return text(it, tokens.rng) },
			sort: func(it item) string { return text(it, tokens.rng) },
			want: events,
		},
		{
			name: "a Query on the sparse GSI",
			in: dynamodb.QueryInput{TableName: aws.String(keys.name), IndexName: aws.String(keys.index),
				KeyConditionExpression:    aws.String("#h = :h"),
				ExpressionAttributeNames:  map[string]string{"#h": keys.ihash},
				ExpressionAttributeValues: item{":h": str("key")}},
			id:   func(it item) string { return text(it, keys.hash) },
			sort: func(it item) string { return text(it, keys.irn) },
			want: heads,
		},
	}
	for _, tt := range tests {
		for _, forward := range []bool{true, false} {
			for _, limit := range []int32{1, 2, 3, 6, 7, 8, 100} {
				dir := "oldest first"
				if !forward {
					dir = "newest first"
				}
				t.Run(fmt.Sprintf("%s, %s, %d per page, returns every item once in order", tt.name, dir, limit), func(t *testing.T) {
					in := tt.in
					in.ScanIndexForward = aws.Bool(forward)
					got := pageAll(ctx, t, db, in, limit)
					ids := make([]string, len(got))
					for i, it := range got {
						ids[i] = tt.id(it)
					}
					sorted := slices.Clone(ids)
					slices.Sort(sorted)
					want := slices.Clone(tt.want)
					slices.Sort(want)
					if !slices.Equal(sorted, want) {
						t.Fatalf("paged items = %v, want each of %v exactly once", ids, tt.want)
					}
					if !slices.IsSortedFunc(got, func(a, b item) int {
						c := strings.Compare(tt.sort(a), tt.sort(b))
						if !forward {
							c = -c
						}
						return c
					}) {
						t.Errorf("paged items = %v: not in %s order of the sort key", ids, dir)
					}
				})
			}
		}
	}
}

// A strongly consistent Query is refused on a GSI, by DynamoDB and by the emulator alike:
// listing keys through list-index can never be made to read its own write.
func TestAConsistentReadOnTheGSIIsAValidationException(t *testing.T) {
	db := emulatortest.DynamoDB(t)
	keys := keysTable(t, db)
	_, err := db.Query(testContext(t), &dynamodb.QueryInput{
		TableName: aws.String(keys.name), IndexName: aws.String(keys.index), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("#h = :h"),
		ExpressionAttributeNames:  map[string]string{"#h": keys.ihash},
		ExpressionAttributeValues: item{":h": str("key")},
	}, oneAttempt)
	if code := errorCode(err); code != "ValidationException" {
		t.Errorf("consistent Query on %s = %v (code %q), want ValidationException", keys.index, err, code)
	}
}
