package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/dynamo"
	"github.com/keygate/keygate/shared/store/storetest"
)

var _ storetest.TokenStore = (*dynamo.Tokens)(nil)

// The token store on the DynamoDB emulator, with the key store whose keys it touches and whose
// audit trail (in the tokens table) it writes to, as the functions wire them.
func TestDynamoTokensConformToTheTokenStoreContract(t *testing.T) {
	db := emulatortest.DynamoDB(t)
	storetest.RunTokens(t, func(t *testing.T, now func() time.Time) storetest.TokenStores {
		keys := emulatortest.Table(t, db, "KeysTable")
		tokens := emulatortest.Table(t, db, "TokensTable")
		events := dynamo.NewEvents(db, tokens, 0, now)
		return storetest.TokenStores{
			Tokens:     dynamo.NewTokens(db, tokens, keys, now, events),
			Keys:       dynamo.NewKeys(db, keys, now, events),
			SeedDenied: seedDenied(db, tokens),
		}
	})
}

// seedDenied puts deny-list entries in batches of 25, laid out as DenyAccessToken writes them:
// thousands of single transactions would take the emulator seconds.
func seedDenied(db *dynamodb.Client, table string) func(ctx context.Context, keyID string, until time.Time, jtis []string) error {
	return func(ctx context.Context, keyID string, until time.Time, jtis []string) error {
		for len(jtis) > 0 {
			n := min(len(jtis), 25)
			batch := make([]types.WriteRequest, n)
			for i, jti := range jtis[:n] {
				batch[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
					"pk":  &types.AttributeValueMemberS{Value: "deny#" + keyID},
					"sk":  &types.AttributeValueMemberS{Value: "jti#" + jti},
					"ttl": &types.AttributeValueMemberN{Value: strconv.FormatInt(until.Unix(), 10)},
				}}}
			}
			out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: batch}})
			if err != nil {
				return err
			}
			if len(out.UnprocessedItems) > 0 {
				return fmt.Errorf("BatchWriteItem left %d items unprocessed", len(out.UnprocessedItems[table]))
			}
			jtis = jtis[n:]
		}
		return nil
	}
}

// The access-token deny-list against the DynamoDB emulator through the real SDK client: per key,
// expired entries absent before TTL deletion, one Query lists a key's entries.
func TestTheDenyListIsPerKeyAndHonoursExpiry(t *testing.T) {
	ctx := context.Background()
	db := emulatortest.DynamoDB(t)
	table := emulatortest.Table(t, db, "TokensTable")
	now := storetest.Start
	clock := func() time.Time { return now }
	s := dynamo.NewTokens(db, table, "unused-keys-table", clock, nil)

	if err := s.DenyAccessToken(ctx, "key_a", "jti-1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.DenyAccessToken(ctx, "key_a", "jti-2", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.DenyAccessToken(ctx, "key_b", "jti-3", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key, jti string
		at       time.Duration
		want     bool
	}{
		{"key_a", "jti-1", 0, true},
		{"key_a", "jti-2", 0, true},
		{"key_a", "jti-3", 0, false}, // another key's entry
		{"key_b", "jti-3", 0, true},
		{"key_a", "jti-2", 2 * time.Minute, false}, // past its expiry, not yet deleted by TTL
		{"key_a", "jti-1", 2 * time.Minute, true},
	}
	for _, tt := range tests {
		now = storetest.Start.Add(tt.at)
		got, err := s.AccessTokenDenied(ctx, tt.key, tt.jti, "")
		if err != nil || got != tt.want {
			t.Errorf("AccessTokenDenied(%s, %s) at +%v = %v, %v; want %v", tt.key, tt.jti, tt.at, got, err, tt.want)
		}
	}

	now = storetest.Start
	list, err := s.DeniedTokens(ctx, "key_a")
	if err != nil || len(list) != 2 || !list["jti-1"].Equal(now.Add(time.Hour).Truncate(time.Second)) {
		t.Fatalf("DeniedTokens(key_a) = %v, %v", list, err)
	}
	now = storetest.Start.Add(2 * time.Minute)
	if list, err = s.DeniedTokens(ctx, "key_a"); err != nil || len(list) != 1 || list["jti-2"] != (time.Time{}) {
		t.Fatalf("after jti-2 expired: %v, %v", list, err)
	}
	if list, err = s.DeniedTokens(ctx, "key_none"); err != nil || len(list) != 0 {
		t.Fatalf("a key without revoked tokens: %v, %v", list, err)
	}
}

// scriptedTx answers TransactWriteItems from a script, then with rest, and records the requests.
type scriptedTx struct {
	dynamo.TokensAPI
	errs  []error
	rest  error
	calls []*dynamodb.TransactWriteItemsInput
}

func (s *scriptedTx) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	s.calls = append(s.calls, in)
	err := s.rest
	if len(s.errs) > 0 {
		err, s.errs = s.errs[0], s.errs[1:]
	}
	return &dynamodb.TransactWriteItemsOutput{}, err
}

func cancelled(codes ...string) error {
	var rs []types.CancellationReason
	for _, c := range codes {
		rs = append(rs, types.CancellationReason{Code: aws.String(c)})
	}
	return &types.TransactionCanceledException{CancellationReasons: rs}
}

// Creating a family retries without the best-effort last_used_at touch only when the touch is
// what failed; a failed condition on the family or the token itself is a conflict.
func TestCreateFamilyRetriesWithoutTheTouchOnlyWhenTheTouchFailed(t *testing.T) {
	now := storetest.Start
	fam := store.Family{ID: "f1", KeyID: "key_1", Status: store.StatusActive, ExpiresAt: now.Add(time.Hour)}
	first := store.RefreshToken{Hash: "h1", FamilyID: "f1", KeyID: "key_1", Status: store.StatusActive, ExpiresAt: now.Add(time.Hour)}
	touch := &store.Touch{KeyID: "key_1", Hash: "kh", At: now}
	tests := []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   error
	}{
		{"no failure", nil, 1, nil},
		{"the touched key item changed", []error{cancelled("None", "None", "ConditionalCheckFailed", "None")}, 2, nil},
		{"a rotation held the touched items", []error{cancelled("None", "None", "None", "TransactionConflict")}, 2, nil},
		{"the family already exists", []error{cancelled("ConditionalCheckFailed", "None", "None", "None")}, 1, store.ErrConflict},
		{"the family and the touch both failed", []error{cancelled("ConditionalCheckFailed", "None", "ConditionalCheckFailed", "None")}, 1, store.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &scriptedTx{errs: tt.errs}
			s := dynamo.NewTokens(api, "tokens", "keys", func() time.Time { return now }, nil)
			err := s.CreateFamily(context.Background(), fam, first, touch)
			if len(api.calls) != tt.wantCalls || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("%d transactions, err %v; want %d, %v", len(api.calls), err, tt.wantCalls, tt.wantErr)
			}
			if tt.wantCalls == 2 && len(api.calls[1].TransactItems) != 2 {
				t.Fatalf("the retry wrote %d items, want the family and the token only", len(api.calls[1].TransactItems))
			}
		})
	}
}

// Every transactional write of both stores retries a transaction DynamoDB cancelled because
// another one held its items (emulators never do this; the e2e suite injects it through the
// proxy), and one that keeps conflicting is a dependency error: never ErrConflict (a lost race),
// nor ErrNotFound for a family revocation (which callers would report as done).
func TestEveryTransactionalWriteRetriesATransactionConflict(t *testing.T) {
	now := storetest.Start
	clock := func() time.Time { return now }
	key := store.Key{Hash: "h1", KeyID: "key_1", Status: store.StatusActive, Version: 1}
	rotated := key
	rotated.Hash, rotated.PreviousHash, rotated.GraceUntil, rotated.KeyGen = "h2", "h1", now.Add(time.Hour), 1
	parent := store.RefreshToken{Hash: "p", FamilyID: "f1", KeyID: "key_1", Status: store.StatusActive, ExpiresAt: now.Add(time.Hour)}
	child := store.RefreshToken{Hash: "c", FamilyID: "f1", KeyID: "key_1", Status: store.StatusActive, ExpiresAt: now.Add(2 * time.Hour)}
	fam := store.Family{ID: "f1", KeyID: "key_1", Status: store.StatusActive, ExpiresAt: now.Add(time.Hour)}
	writes := []struct {
		name  string
		write func(api *scriptedTx) error
	}{
		{"CreateKey", func(api *scriptedTx) error {
			return dynamo.NewKeys(api, "keys", clock, nil).CreateKey(context.Background(), key)
		}},
		{"SaveKey (a rotation)", func(api *scriptedTx) error {
			return dynamo.NewKeys(api, "keys", clock, nil).SaveKey(context.Background(), &key, rotated)
		}},
		{"CreateFamily", func(api *scriptedTx) error {
			return dynamo.NewTokens(api, "tokens", "keys", clock, nil).CreateFamily(context.Background(), fam, parent, &store.Touch{KeyID: "key_1", Hash: "h1", At: now})
		}},
		{"Rotate (a refresh)", func(api *scriptedTx) error {
			return dynamo.NewTokens(api, "tokens", "keys", clock, nil).Rotate(context.Background(), parent, child)
		}},
		{"RevokeFamily", func(api *scriptedTx) error {
			return dynamo.NewTokens(api, "tokens", "keys", clock, nil).RevokeFamily(context.Background(), "key_1", "f1", time.Time{})
		}},
		{"DenyAccessToken", func(api *scriptedTx) error {
			return dynamo.NewTokens(api, "tokens", "keys", clock, nil).DenyAccessToken(context.Background(), "key_1", "j1", now.Add(time.Hour))
		}},
	}
	for _, w := range writes {
		t.Run(w.name+" succeeds after one conflict", func(t *testing.T) {
			api := &scriptedTx{errs: []error{cancelled("TransactionConflict")}}
			if err := w.write(api); err != nil || len(api.calls) != 2 {
				t.Fatalf("%d transactions, err %v; want 2, nil", len(api.calls), err)
			}
			if len(api.calls[0].TransactItems) != len(api.calls[1].TransactItems) {
				t.Fatalf("the retry wrote %d items, the first try %d", len(api.calls[1].TransactItems), len(api.calls[0].TransactItems))
			}
		})
		t.Run(w.name+" is a dependency error when the conflict persists", func(t *testing.T) {
			api := &scriptedTx{rest: cancelled("TransactionConflict")}
			err := w.write(api)
			if !errors.Is(err, dynamo.ErrTransactionConflict) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
				t.Fatalf("err = %v, want ErrTransactionConflict (→ 503), never ErrConflict or ErrNotFound", err)
			}
			if len(api.calls) < 2 || len(api.calls) > 5 {
				t.Fatalf("%d transactions: want a few retries, bounded", len(api.calls))
			}
		})
	}
}

// The revoke endpoint stops adding at MaxDeniedPerKey but concurrent revocations can pass it;
// a reader accepts up to MaxDeniedRead and fails closed (ErrTooManyDenied) only beyond.
func TestADenyListIsReadableUpToMaxDeniedRead(t *testing.T) {
	ctx := context.Background()
	db := emulatortest.DynamoDB(t)
	table := emulatortest.Table(t, db, "TokensTable")
	now := storetest.Start
	s := dynamo.NewTokens(db, table, "unused-keys-table", func() time.Time { return now }, nil)

	// The first entries in batches, for speed, laid out as DenyAccessToken writes them; the
	// last two through DenyAccessToken itself.
	jtis := make([]string, store.MaxDeniedRead-1)
	for i := range jtis {
		jtis[i] = fmt.Sprintf("jti-%d", i)
	}
	if err := seedDenied(db, table)(ctx, "key_full", now.Add(time.Hour), jtis); err != nil {
		t.Fatalf("BatchWriteItem: %v", err)
	}
	deny := func(jti string) {
		t.Helper()
		if err := s.DenyAccessToken(ctx, "key_full", jti, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	deny("jti-last")
	if list, err := s.DeniedTokens(ctx, "key_full"); err != nil || len(list) != store.MaxDeniedRead {
		t.Fatalf("DeniedTokens with %d entries = %d entries, %v; want all of them", store.MaxDeniedRead, len(list), err)
	}
	deny("jti-one-too-many")
	if list, err := s.DeniedTokens(ctx, "key_full"); !errors.Is(err, store.ErrTooManyDenied) || list != nil {
		t.Fatalf("DeniedTokens with %d entries = %d entries, %v; want ErrTooManyDenied", store.MaxDeniedRead+1, len(list), err)
	}
}

// Revoking a family with a deny time puts the family on its key's deny-list in the same
// transaction: AccessTokenDenied and DeniedTokens see it (until it expires) for every access
// token that names the family; without a deny time only the family's status changes.
func TestRevokingAFamilyDeniesItsAccessTokens(t *testing.T) {
	ctx := context.Background()
	db := emulatortest.DynamoDB(t)
	table := emulatortest.Table(t, db, "TokensTable")
	now := storetest.Start
	clock := func() time.Time { return now }
	s := dynamo.NewTokens(db, table, "unused-keys-table", clock, nil)
	for _, id := range []string{"fam_denied", "fam_kept"} {
		fam := store.Family{ID: id, KeyID: "key_a", Status: store.StatusActive, ExpiresAt: now.Add(24 * time.Hour)}
		first := store.RefreshToken{Hash: "h-" + id, FamilyID: id, KeyID: "key_a", KeyGen: 1, Status: store.StatusActive,
			CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
		if err := s.CreateFamily(ctx, fam, first, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeFamily(ctx, "key_a", "fam_denied", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeFamily(ctx, "key_a", "fam_kept", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeFamily(ctx, "key_a", "fam_unknown", now.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking an unknown family = %v, want ErrNotFound", err)
	}
	for _, id := range []string{"fam_denied", "fam_kept"} {
		if f, err := s.Family(ctx, id); err != nil || f.Status != store.StatusRevoked {
			t.Errorf("family %s = %+v, %v; want revoked", id, f, err)
		}
	}
	tests := []struct {
		name, key, jti, fid string
		at                  time.Duration
		want                bool
	}{
		{"a token of the denied family", "key_a", "jti-x", "fam_denied", 0, true},
		{"a token of a family revoked without a deny time", "key_a", "jti-x", "fam_kept", 0, false},
		{"a token without a family", "key_a", "jti-x", "", 0, false},
		{"the same family id under another key", "key_b", "jti-x", "fam_denied", 0, false},
		{"past the entry's expiry, before TTL deletion", "key_a", "jti-x", "fam_denied", 2 * time.Hour, false},
	}
	for _, tt := range tests {
		now = storetest.Start.Add(tt.at)
		if got, err := s.AccessTokenDenied(ctx, tt.key, tt.jti, tt.fid); err != nil || got != tt.want {
			t.Errorf("%s: AccessTokenDenied = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	now = storetest.Start
	list, err := s.DeniedTokens(ctx, "key_a")
	if err != nil || len(list) != 1 || !list[store.DeniedFamily("fam_denied")].Equal(now.Add(time.Hour)) {
		t.Errorf("DeniedTokens(key_a) = %v, %v; want the one family entry", list, err)
	}
	// The family's entry is keyed apart from jtis, so it can never be read as one.
	if _, ok := list["fam_denied"]; ok {
		t.Errorf("the family entry reads as a jti: %v", list)
	}
}

// A rotation checks in its one transaction what a refresh used to read before it: the family
// (active and unexpired) and, when the child carries a key snapshot, the key's head item at the
// snapshot's version. Which condition failed decides the answer, the family first.
func TestRotateChecksTheFamilyAndTheKeyInItsTransaction(t *testing.T) {
	now := storetest.Start
	parent := store.RefreshToken{Hash: "p", FamilyID: "f1", KeyID: "key_1", Status: store.StatusActive, ExpiresAt: now.Add(time.Hour)}
	child := store.RefreshToken{Hash: "c", FamilyID: "f1", KeyID: "key_1", Status: store.StatusActive, ExpiresAt: now.Add(2 * time.Hour),
		Key: &store.KeySnapshot{Version: 7, KeyGen: 3, Status: store.StatusActive, RateLimit: 60}}
	tests := []struct {
		name    string
		reasons []string // parent, child, family, key
		want    error
	}{
		{"the family is over", []string{"None", "None", "ConditionalCheckFailed", "None"}, store.ErrFamilyInactive},
		{"the parent was spent", []string{"ConditionalCheckFailed", "None", "None", "None"}, store.ErrConflict},
		{"the child's hash is taken", []string{"None", "ConditionalCheckFailed", "None", "None"}, store.ErrConflict},
		{"the key changed", []string{"None", "None", "None", "ConditionalCheckFailed"}, store.ErrKeyChanged},
		{"the family is over and the key changed", []string{"None", "None", "ConditionalCheckFailed", "ConditionalCheckFailed"}, store.ErrFamilyInactive},
		{"the parent was spent and the key changed", []string{"ConditionalCheckFailed", "None", "None", "ConditionalCheckFailed"}, store.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &scriptedTx{errs: []error{cancelled(tt.reasons...)}}
			s := dynamo.NewTokens(api, "tokens", "keys", func() time.Time { return now }, nil)
			err := s.Rotate(context.Background(), parent, child)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Rotate = %v, want %v", err, tt.want)
			}
			for _, other := range []error{store.ErrFamilyInactive, store.ErrKeyChanged} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("Rotate = %v, which is also %v", err, other)
				}
			}
		})
	}

	t.Run("the transaction's conditions", func(t *testing.T) {
		api := &scriptedTx{}
		s := dynamo.NewTokens(api, "tokens", "keys", func() time.Time { return now }, nil)
		if err := s.Rotate(context.Background(), parent, child); err != nil {
			t.Fatal(err)
		}
		items := api.calls[0].TransactItems
		if len(items) != 4 {
			t.Fatalf("%d items, want parent, child, family and the key's check", len(items))
		}
		nowValue := fmt.Sprint(now.Unix())
		for i, u := range []*types.Update{items[0].Update, items[2].Update} {
			if u == nil || aws.ToString(u.ConditionExpression) != "#s = :active AND #t > :now" ||
				u.ExpressionAttributeNames["#t"] != "ttl" || u.ExpressionAttributeValues[":now"].(*types.AttributeValueMemberN).Value != nowValue {
				t.Errorf("item %d = %+v: want it conditioned on being active and its ttl after now (TTL deletion lags)", []int{0, 2}[i], u)
			}
		}
		cc := items[3].ConditionCheck
		if cc == nil || aws.ToString(cc.TableName) != "keys" || cc.Key["pk"].(*types.AttributeValueMemberS).Value != "id#key_1" ||
			aws.ToString(cc.ConditionExpression) != "version = :v" || cc.ExpressionAttributeValues[":v"].(*types.AttributeValueMemberN).Value != "7" {
			t.Errorf("the key's check = %+v, want the head item of key_1 in the keys table at version 7", cc)
		}
	})

	t.Run("a child without a snapshot checks no key", func(t *testing.T) {
		api := &scriptedTx{}
		s := dynamo.NewTokens(api, "tokens", "keys", func() time.Time { return now }, nil)
		bare := child
		bare.Key = nil
		if err := s.Rotate(context.Background(), parent, bare); err != nil {
			t.Fatal(err)
		}
		for _, it := range api.calls[0].TransactItems {
			if it.ConditionCheck != nil {
				t.Errorf("a ConditionCheck without a snapshot: %+v", it.ConditionCheck)
			}
		}
	})
}

// scriptedUpdate answers UpdateItem with err and records the requests.
type scriptedUpdate struct {
	dynamo.TokensAPI
	err   error
	calls []*dynamodb.UpdateItemInput
}

func (s *scriptedUpdate) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	s.calls = append(s.calls, in)
	return &dynamodb.UpdateItemOutput{}, s.err
}

// Retiring a token that is not active (its condition fails) is not an error; any other failure
// is, wrapped; the write is conditioned so that it never creates an item.
func TestRetireIsAConditionalUpdateOfAnActiveToken(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantErr bool
	}{
		{"an active token", nil, false},
		{"a token that is not active, or not there", &types.ConditionalCheckFailedException{}, false},
		{"an outage", errors.New("dial tcp: i/o timeout"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &scriptedUpdate{err: tt.err}
			s := dynamo.NewTokens(api, "tokens", "keys", func() time.Time { return storetest.Start }, nil)
			err := s.Retire(context.Background(), "h1")
			if (err != nil) != tt.wantErr {
				t.Fatalf("Retire = %v, want an error: %v", err, tt.wantErr)
			}
			in := api.calls[0]
			if aws.ToString(in.ConditionExpression) != "#s = :active" || in.Key["pk"].(*types.AttributeValueMemberS).Value != "rt#h1" ||
				in.ExpressionAttributeValues[":revoked"].(*types.AttributeValueMemberS).Value != store.StatusRevoked {
				t.Errorf("UpdateItem = %+v, want rt#h1 set revoked on condition that it is active", in)
			}
		})
	}
}
