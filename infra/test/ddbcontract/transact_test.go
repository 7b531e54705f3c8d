package ddbcontract_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/infra/test/emulatortest"
)

// txFixture builds TransactWriteItems entries on the tokens table (and the keys table, for
// the cross-table cases keygate writes: a refresh family with its key's last use) under a
// prefix of their own. Every item carries an attribute "v", so the state after a transaction
// is one value per item ("" for an absent item).
type txFixture struct {
	tokens, keys table
	p            string
}

func (f txFixture) tok(name string) item { return f.tokens.key(f.p+name, "x") }

func (f txFixture) put(name, v string) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(f.tokens.name), Item: f.tokens.item(f.p+name, "x", item{"v": str(v)}),
		ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": f.tokens.hash},
	}}
}

func (f txFixture) update(name, v string) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(f.tokens.name), Key: f.tok(name),
		UpdateExpression: aws.String("SET v = :v"), ExpressionAttributeValues: item{":v": str(v)},
	}}
}

// touch is keygate's last-use update: it must fail, not create, when the item is missing.
func (f txFixture) touch(table table, key item) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(table.name), Key: key,
		UpdateExpression: aws.String("SET v = :v"), ConditionExpression: aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": table.hash}, ExpressionAttributeValues: item{":v": str("touched")},
	}}
}

func (f txFixture) del(name string) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(f.tokens.name), Key: f.tok(name)}}
}

// check is a ConditionCheck that v of name equals v.
func (f txFixture) check(name, v string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: aws.String(f.tokens.name), Key: f.tok(name),
		ConditionExpression: aws.String("v = :v"), ExpressionAttributeValues: item{":v": str(v)},
	}}
}

// checkKey is a ConditionCheck that v of the keys table's item name equals v: a rotation of a
// refresh token checks its key's head item this way (store/dynamo Tokens.Rotate), in the same
// transaction as its writes in the tokens table.
func (f txFixture) checkKey(name, v string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: aws.String(f.keys.name), Key: f.keys.key(f.p+name, ""),
		ConditionExpression: aws.String("v = :v"), ExpressionAttributeValues: item{":v": str(v)},
	}}
}

// The setup every case starts from: "existing", "existing2" and "guard" hold v = "1", the keys
// table's "head" too; "new…" and "missing" are absent.
func (f txFixture) setup(t *testing.T, db *dynamodb.Client) {
	t.Helper()
	ctx := testContext(t)
	for _, n := range []string{"existing", "existing2", "guard"} {
		put(ctx, t, db, f.tokens, f.tokens.item(f.p+n, "x", item{"v": str("1")}))
	}
	put(ctx, t, db, f.keys, f.keys.item(f.p+"head", "", item{"v": str("1")}))
}

// state is the v of every item a case may touch, "" when absent.
func (f txFixture) state(t *testing.T, db *dynamodb.Client) map[string]string {
	t.Helper()
	ctx := testContext(t)
	out := map[string]string{}
	for _, n := range []string{"existing", "existing2", "guard", "new", "new2", "missing", "same"} {
		out[n] = text(get(ctx, t, db, f.tokens, f.tok(n)), "v")
	}
	out["keys:head"] = text(get(ctx, t, db, f.keys, f.keys.key(f.p+"head", "")), "v")
	out["keys:same"] = text(get(ctx, t, db, f.keys, f.keys.key(f.p+"same", "")), "v")
	return out
}

func TestTransactWriteItemsIsAllOrNothing(t *testing.T) {
	db := emulatortest.DynamoDB(t)
	tokens, keys := tokensTable(t, db), keysTable(t, db)
	untouched := map[string]string{"existing": "1", "existing2": "1", "guard": "1", "keys:head": "1"}
	with := func(changes map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range untouched {
			out[k] = v
		}
		for k, v := range changes {
			out[k] = v
		}
		return out
	}

	tests := []struct {
		name      string
		items     func(f txFixture) []types.TransactWriteItem
		wantCodes []string          // the cancellation reasons in request order; nil: the transaction commits
		want      map[string]string // v of each item afterwards; items not named are absent
	}{
		{
			name: "a failing condition on item 3 leaves items 1 and 2 unwritten: an Update of an existing item and a Put of a new one",
			items: func(f txFixture) []types.TransactWriteItem {
				return []types.TransactWriteItem{f.update("existing", "2"), f.put("new", "new"), f.check("guard", "other"), f.put("new2", "new")}
			},
			wantCodes: []string{"None", "None", "ConditionalCheckFailed", "None"},
			want:      untouched,
		},
		{
			name: "a failing condition on item 1 cancels the Update and the Delete after it",
			items: func(f txFixture) []types.TransactWriteItem {
				return []types.TransactWriteItem{f.check("guard", "other"), f.update("existing", "2"), f.del("existing2")}
			},
			wantCodes: []string{"ConditionalCheckFailed", "None", "None"},
			want:      untouched,
		},
		{
			name: "two failing conditions are both reported, each at its own position",
			items: func(f txFixture) []types.TransactWriteItem {
				return []types.TransactWriteItem{f.put("existing", "again"), f.update("existing2", "2"), f.check("guard", "other"), f.put("new", "new")}
			},
			wantCodes: []string{"ConditionalCheckFailed", "None", "ConditionalCheckFailed", "None"},
			want:      untouched,
		},
		{
			name: "a transaction across the keys and the tokens table is cancelled in both when a touched item is missing",
			items: func(f txFixture) []types.TransactWriteItem {
				return []types.TransactWriteItem{
					f.put("new", "new"), f.touch(f.keys, f.keys.key(f.p+"head", "")), f.touch(f.keys, f.keys.key(f.p+"missing", "")),
				}
			},
			wantCodes: []string{"None", "None", "ConditionalCheckFailed"},
			want:      untouched,
		},
		{
			name: "an Update conditioned on attribute_exists fails on a missing item instead of creating it",
			items: func(f txFixture) []types.TransactWriteItem {
				return []types.TransactWriteItem{f.touch(f.tokens, f.tok("missing"))}
			},
			wantCodes: []string{"ConditionalCheckFailed"},
			want:      untouched,
		},
		{
			name: "a transaction whose conditions all hold applies every write, and its ConditionCheck writes nothing",
			items: func(f txFixture) []types.TransactWriteItem {
				return []types.TransactWriteItem{
					f.update("existing", "2"), f.put("new", "new"), f.del("existing2"), f.check("guard", "1"),
					f.touch(f.keys, f.keys.key(f.p+"head", "")),
				}
			},
			want: with(map[string]string{"existing": "2", "new": "new", "existing2": "", "keys:head": "touched"}),
		},
		{
			name: "a failing ConditionCheck of a keys-table item cancels the tokens table's writes, reported at its own position",
			items: func(f txFixture) []types.TransactWriteItem {
				return []types.TransactWriteItem{f.update("existing", "2"), f.put("new", "new"), f.checkKey("head", "other"), f.put("new2", "new")}
			},
			wantCodes: []string{"None", "None", "ConditionalCheckFailed", "None"},
			want:      untouched,
		},
		{
			name: "a ConditionCheck of a keys-table item that is missing fails",
			items: func(f txFixture) []types.TransactWriteItem {
				return []types.TransactWriteItem{f.put("new", "new"), f.checkKey("missing", "1")}
			},
			wantCodes: []string{"None", "ConditionalCheckFailed"},
			want:      untouched,
		},
		{
			name: "a ConditionCheck of a keys-table item that holds lets the tokens table's writes commit and writes nothing itself",
			items: func(f txFixture) []types.TransactWriteItem {
				return []types.TransactWriteItem{f.update("existing", "2"), f.put("new", "new"), f.checkKey("head", "1")}
			},
			want: with(map[string]string{"existing": "2", "new": "new"}),
		},
		{
			name: "one key in two tables is two items: writing both in one transaction is allowed",
			items: func(f txFixture) []types.TransactWriteItem {
				return []types.TransactWriteItem{
					{Put: &types.Put{TableName: aws.String(f.keys.name), Item: f.keys.item(f.p+"same", "", item{"v": str("k")})}},
					{Put: &types.Put{TableName: aws.String(f.tokens.name), Item: f.tokens.item(f.p+"same", "x", item{"v": str("t")})}},
				}
			},
			want: with(map[string]string{"keys:same": "k", "same": "t"}),
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := txFixture{tokens: tokens, keys: keys, p: fmt.Sprintf("tx%d#", i)}
			f.setup(t, db)
			_, err := db.TransactWriteItems(testContext(t), &dynamodb.TransactWriteItemsInput{TransactItems: tt.items(f)})
			switch codes, cancelled := reasons(err); {
			case tt.wantCodes == nil && err != nil:
				t.Errorf("TransactWriteItems = %v (reasons %v), want it committed", err, codes)
			case tt.wantCodes != nil && !cancelled:
				t.Errorf("TransactWriteItems = %v, want a TransactionCanceledException", err)
			case !slices.Equal(codes, tt.wantCodes):
				t.Errorf("cancellation reasons = %v, want %v (one per item, in request order)", codes, tt.wantCodes)
			}
			if errors.As(err, new(*types.ConditionalCheckFailedException)) {
				t.Errorf("a transaction's failed condition came back as ConditionalCheckFailedException: keygate reads it from the cancellation reasons")
			}
			assertState(t, f.state(t, db), tt.want)
		})
	}
}

// DynamoDB validates a whole transaction before it applies any of it: two operations on one
// item, or an entry holding more than one operation, is a ValidationException and nothing is
// written. keygate builds its transactions so that this never happens (store.Keys.SaveKey's
// "never two operations on one item"); the pin makes sure a mistake there fails loudly and
// cleanly in tests, as it would on AWS.
func TestTransactWriteItemsRefusesTwoOperationsOnOneItemAndWritesNothing(t *testing.T) {
	db := emulatortest.DynamoDB(t)
	tokens, keys := tokensTable(t, db), keysTable(t, db)
	untouched := map[string]string{"existing": "1", "existing2": "1", "guard": "1", "keys:head": "1"}
	tests := []struct {
		name  string
		items func(f txFixture) []types.TransactWriteItem
	}{
		{"a Put and an Update of one new item", func(f txFixture) []types.TransactWriteItem {
			return []types.TransactWriteItem{f.put("new2", "new"), f.put("new", "new"), f.update("new", "2")}
		}},
		{"an Update and a Delete of one existing item", func(f txFixture) []types.TransactWriteItem {
			return []types.TransactWriteItem{f.update("existing", "2"), f.del("existing")}
		}},
		{"a ConditionCheck and an Update of one item", func(f txFixture) []types.TransactWriteItem {
			return []types.TransactWriteItem{f.update("existing2", "2"), f.check("guard", "1"), f.update("guard", "2")}
		}},
		{"an entry holding a Put and a Delete after a valid Put", func(f txFixture) []types.TransactWriteItem {
			both := f.put("new2", "new")
			both.Delete = f.del("existing").Delete
			return []types.TransactWriteItem{f.put("new", "new"), both}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name+" is a ValidationException that writes nothing", func(t *testing.T) {
			f := txFixture{tokens: tokens, keys: keys, p: fmt.Sprintf("dup%d#", i)}
			f.setup(t, db)
			_, err := db.TransactWriteItems(testContext(t), &dynamodb.TransactWriteItemsInput{TransactItems: tt.items(f)})
			if code := errorCode(err); code != "ValidationException" {
				t.Errorf("TransactWriteItems = %v (code %q), want ValidationException", err, code)
			}
			if codes, ok := reasons(err); ok {
				t.Errorf("a refused transaction came back as a cancellation %v; DynamoDB refuses it before running it", codes)
			}
			assertState(t, f.state(t, db), untouched)
		})
	}
}

func assertState(t *testing.T, got, want map[string]string) {
	t.Helper()
	for name, v := range got {
		if v != want[name] {
			if want[name] == "" {
				t.Errorf("item %s has v = %q, want it absent", name, v)
			} else {
				t.Errorf("item %s has v = %q, want %q", name, v, want[name])
			}
		}
	}
}
