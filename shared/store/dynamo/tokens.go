package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/shared/store"
)

// TokensAPI is the part of the DynamoDB client the token store uses.
type TokensAPI interface {
	API
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Tokens stores refresh-token families and revoked access-token ids in the tokens table:
// "rt#<hash>" (one refresh token, with its key's snapshot in a map attribute "key") and
// "fam#<id>" (its family), each with sk = its kind, and
// "deny#<key_id>" / "jti#<id>" (a revoked access token, grouped under its API key so that the
// authorizer reads a key's whole deny-list in one Query), each with a ttl. The same table holds
// the audit trail (Events) and the rate limiter's windows (Limiter).
type Tokens struct {
	api       TokensAPI
	table     string
	keysTable string
	now       func() time.Time
	events    *Events
	tx        txRetry
}

// NewTokens returns a token store on table. keysTable is where Touch records last use.
func NewTokens(api TokensAPI, table, keysTable string, now func() time.Time, events *Events) *Tokens {
	return &Tokens{api: api, table: table, keysTable: keysTable, now: now, events: events, tx: defaultTxRetry()}
}

type rtItem struct {
	PK            string   `dynamodbav:"pk"`
	SK            string   `dynamodbav:"sk"`
	FamilyID      string   `dynamodbav:"family_id"`
	KeyID         string   `dynamodbav:"key_id"`
	KeyGen        int64    `dynamodbav:"key_gen"`
	CustomerID    string   `dynamodbav:"customer_id,omitempty"`
	Scopes        []string `dynamodbav:"scopes"`
	Status        string   `dynamodbav:"status"`
	CreatedAt     int64    `dynamodbav:"created_at"`
	ExpiresAt     int64    `dynamodbav:"expires_at"`
	UsedAt        int64    `dynamodbav:"used_at,omitempty"`
	SuccessorHash string   `dynamodbav:"successor_hash,omitempty"`
	TTL           int64    `dynamodbav:"ttl"`
	// Key is the token's store.KeySnapshot, a map attribute (absent on tokens stored without).
	Key *keySnapshotItem `dynamodbav:"key,omitempty"`
}

// keySnapshotItem is the DynamoDB shape of store.KeySnapshot. Times are Unix seconds.
type keySnapshotItem struct {
	Version    int64    `dynamodbav:"version"`
	KeyGen     int64    `dynamodbav:"key_gen"`
	Status     string   `dynamodbav:"status"`
	ExpiresAt  int64    `dynamodbav:"expires_at,omitempty"`
	AllowedIPs []string `dynamodbav:"allowed_ips"`
	RateLimit  int      `dynamodbav:"rate_limit"`
	OwnerID    string   `dynamodbav:"owner_id,omitempty"`
	Tier       string   `dynamodbav:"tier,omitempty"`
}

func toSnapshotItem(k *store.KeySnapshot) *keySnapshotItem {
	if k == nil {
		return nil
	}
	it := &keySnapshotItem{
		Version: k.Version, KeyGen: k.KeyGen, Status: k.Status, ExpiresAt: unix(k.ExpiresAt),
		AllowedIPs: k.AllowedIPs, RateLimit: k.RateLimit, OwnerID: k.OwnerID, Tier: k.Tier,
	}
	if it.AllowedIPs == nil {
		it.AllowedIPs = []string{}
	}
	return it
}

func fromSnapshotItem(it *keySnapshotItem) *store.KeySnapshot {
	if it == nil {
		return nil
	}
	return &store.KeySnapshot{
		Version: it.Version, KeyGen: it.KeyGen, Status: it.Status, ExpiresAt: fromUnix(it.ExpiresAt),
		AllowedIPs: it.AllowedIPs, RateLimit: it.RateLimit, OwnerID: it.OwnerID, Tier: it.Tier,
	}
}

type famItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	KeyID     string `dynamodbav:"key_id"`
	Status    string `dynamodbav:"status"`
	ExpiresAt int64  `dynamodbav:"expires_at"`
	TTL       int64  `dynamodbav:"ttl"`
}

func rtKey(hash string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "rt#" + hash}, "sk": &types.AttributeValueMemberS{Value: "rt"},
	}
}

func famKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "fam#" + id}, "sk": &types.AttributeValueMemberS{Value: "fam"},
	}
}

func denyKey(keyID, jti string) map[string]types.AttributeValue {
	return denyEntryKey(keyID, "jti#"+jti)
}

// denyEntryKey is the item key of one entry of keyID's deny-list: "jti#<jti>" for an access
// token, store.DeniedFamily for a refresh-token family.
func denyEntryKey(keyID, entry string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "deny#" + keyID}, "sk": &types.AttributeValueMemberS{Value: entry},
	}
}

func toRT(t store.RefreshToken) rtItem {
	it := rtItem{
		PK: "rt#" + t.Hash, SK: "rt", FamilyID: t.FamilyID, KeyID: t.KeyID, KeyGen: t.KeyGen,
		CustomerID: t.CustomerID, Scopes: t.Scopes, Status: t.Status, CreatedAt: unix(t.CreatedAt),
		ExpiresAt: unix(t.ExpiresAt), UsedAt: unix(t.UsedAt), SuccessorHash: t.SuccessorHash,
		TTL: unix(t.ExpiresAt), Key: toSnapshotItem(t.Key),
	}
	if it.Scopes == nil {
		it.Scopes = []string{}
	}
	return it
}

func n(v int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// CreateFamily stores a new family and its first token, the audit events and, when touch is
// set, the key's last use, in one transaction (one round trip).
func (s *Tokens) CreateFamily(ctx context.Context, fam store.Family, first store.RefreshToken, touch *store.Touch, audit ...store.Event) error {
	rt, err := attributevalue.MarshalMap(toRT(first))
	if err != nil {
		return fmt.Errorf("marshal refresh token: %w", err)
	}
	fi, err := attributevalue.MarshalMap(famItem{
		PK: "fam#" + fam.ID, SK: "fam", KeyID: fam.KeyID, Status: fam.Status,
		ExpiresAt: unix(fam.ExpiresAt), TTL: unix(fam.ExpiresAt),
	})
	if err != nil {
		return fmt.Errorf("marshal family: %w", err)
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(s.table), Item: fi, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &types.Put{TableName: aws.String(s.table), Item: rt, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}
	var touchAt []int
	if touch != nil {
		// last_used_at is best effort: a rotation or revocation of the key racing this
		// issuance (the touched items changed, went away or are held by its transaction) must
		// not fail it, so the write drops them then. A token minted from a key revoked
		// meanwhile carries the old key_gen and is refused downstream.
		touchAt = []int{len(items), len(items) + 1}
		items = append(items, s.touchItems(*touch)...)
	}
	items, err = s.withAudit(items, audit)
	if err != nil {
		return err
	}
	return s.tx.write(ctx, s.api, "create refresh family", items, touchAt...)
}

func (s *Tokens) touchItems(t store.Touch) []types.TransactWriteItem {
	upd := func(pk string) types.TransactWriteItem {
		return types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.keysTable),
			Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
			UpdateExpression:          aws.String("SET last_used_at = :t"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":t": n(t.At.Unix())},
		}}
	}
	return []types.TransactWriteItem{upd(headPK(t.KeyID)), upd(hashPK(t.Hash))}
}

func (s *Tokens) withAudit(items []types.TransactWriteItem, audit []store.Event) ([]types.TransactWriteItem, error) {
	for _, e := range audit {
		if s.events == nil {
			return nil, errors.New("audit events need an events store")
		}
		put, err := s.events.EventItem(e)
		if err != nil {
			return nil, err
		}
		items = append(items, types.TransactWriteItem{Put: put})
	}
	return items, nil
}

func (s *Tokens) transact(ctx context.Context, items []types.TransactWriteItem, what string) error {
	return s.tx.write(ctx, s.api, what, items)
}

// RefreshToken reads the token stored under hash (strongly consistent); expired tokens are
// store.ErrNotFound.
func (s *Tokens) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	var it rtItem
	if err := s.get(ctx, rtKey(hash), &it); err != nil {
		return store.RefreshToken{}, err
	}
	return store.RefreshToken{
		Hash: hash, FamilyID: it.FamilyID, KeyID: it.KeyID, KeyGen: it.KeyGen, CustomerID: it.CustomerID,
		Scopes: it.Scopes, Status: it.Status, CreatedAt: fromUnix(it.CreatedAt), ExpiresAt: fromUnix(it.ExpiresAt),
		UsedAt: fromUnix(it.UsedAt), SuccessorHash: it.SuccessorHash, Key: fromSnapshotItem(it.Key),
	}, nil
}

// Family reads a family; expired families are store.ErrNotFound.
func (s *Tokens) Family(ctx context.Context, id string) (store.Family, error) {
	var it famItem
	if err := s.get(ctx, famKey(id), &it); err != nil {
		return store.Family{}, err
	}
	return store.Family{ID: id, KeyID: it.KeyID, Status: it.Status, ExpiresAt: fromUnix(it.ExpiresAt)}, nil
}

func (s *Tokens) get(ctx context.Context, key map[string]types.AttributeValue, dst any) error {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("get token item: %w", err)
	}
	if out.Item == nil || expired(out.Item, s.now()) {
		return store.ErrNotFound
	}
	if err := attributevalue.UnmarshalMap(out.Item, dst); err != nil {
		return fmt.Errorf("unmarshal token item: %w", err)
	}
	return nil
}

// Indices of Rotate's transaction items, which tell its refusals apart.
const (
	rotateParent = iota
	rotateChild
	rotateFamily
	rotateKey // present when the child carries a key snapshot
)

// Rotate spends parent and stores child as its successor in one transaction, conditioned on
// parent still being active and unexpired: of any number of concurrent rotations exactly one
// succeeds, the others get store.ErrConflict. The family's expiry follows the child's.
//
// The transaction also checks what a refresh used to read first, so a refresh costs no read of
// the family or the key: the family must be active and unexpired (else store.ErrFamilyInactive;
// DynamoDB's TTL deletion lags, so the ttl is compared, not trusted), and when child carries a
// key snapshot, the key's head item must still be at the snapshot's version (else
// store.ErrKeyChanged: revoked, rotated, edited or gone since). When several fail, the family
// decides first (the token is over), then a lost race, then the key.
func (s *Tokens) Rotate(ctx context.Context, parent, child store.RefreshToken, audit ...store.Event) error {
	now := s.now()
	ci, err := attributevalue.MarshalMap(toRT(child))
	if err != nil {
		return fmt.Errorf("marshal refresh token: %w", err)
	}
	active := &types.AttributeValueMemberS{Value: store.StatusActive}
	items := []types.TransactWriteItem{
		rotateParent: {Update: &types.Update{
			TableName:                aws.String(s.table),
			Key:                      rtKey(parent.Hash),
			UpdateExpression:         aws.String("SET #s = :used, used_at = :now, successor_hash = :succ"),
			ConditionExpression:      aws.String("#s = :active AND #t > :now"),
			ExpressionAttributeNames: map[string]string{"#s": "status", "#t": "ttl"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":used": &types.AttributeValueMemberS{Value: store.StatusUsed}, ":now": n(now.Unix()),
				":succ": &types.AttributeValueMemberS{Value: child.Hash}, ":active": active,
			},
		}},
		rotateChild: {Put: &types.Put{TableName: aws.String(s.table), Item: ci, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		rotateFamily: {Update: &types.Update{
			TableName:                aws.String(s.table),
			Key:                      famKey(parent.FamilyID),
			UpdateExpression:         aws.String("SET expires_at = :e, #t = :e"),
			ConditionExpression:      aws.String("#s = :active AND #t > :now"),
			ExpressionAttributeNames: map[string]string{"#s": "status", "#t": "ttl"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":e": n(child.ExpiresAt.Unix()), ":now": n(now.Unix()), ":active": active,
			},
		}},
	}
	if child.Key != nil {
		items = append(items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName:                 aws.String(s.keysTable),
			Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: headPK(child.KeyID)}},
			ConditionExpression:       aws.String("version = :v"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": n(child.Key.Version)},
		}})
	}
	items, err = s.withAudit(items, audit)
	if err != nil {
		return err
	}
	err = s.transact(ctx, items, "rotate refresh token")
	var cf *conditionFailed
	if !errors.As(err, &cf) {
		return err
	}
	switch {
	case cf.failed(rotateFamily):
		return store.ErrFamilyInactive
	case cf.failed(rotateParent) || cf.failed(rotateChild):
		return store.ErrConflict
	case child.Key != nil && cf.failed(rotateKey):
		return store.ErrKeyChanged
	}
	return err
}

// Retire marks the refresh token hash revoked if it is still active, so that a token whose
// family turned out to be over is refused at its read from then on, before anything else is
// spent on it. A token that is not active, or not there, is left as it is (nothing is created);
// that is not an error.
func (s *Tokens) Retire(ctx context.Context, hash string) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      rtKey(hash),
		UpdateExpression:         aws.String("SET #s = :revoked"),
		ConditionExpression:      aws.String("#s = :active"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":revoked": &types.AttributeValueMemberS{Value: store.StatusRevoked},
			":active":  &types.AttributeValueMemberS{Value: store.StatusActive},
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("retire refresh token: %w", err)
	}
	return nil
}

// RevokeFamily marks a family revoked: every refresh token in it stops working. With a
// non-zero denyUntil it also puts the family on its key's deny-list until then, in the same
// transaction, so the access tokens minted in it (fid claim) stop working too; the caller
// passes the latest moment one of them could still verify (now + the longest access-token
// lifetime + the verifiers' leeway). An unknown family is store.ErrNotFound, and then nothing
// is written.
func (s *Tokens) RevokeFamily(ctx context.Context, keyID, id string, denyUntil time.Time, audit ...store.Event) error {
	items := []types.TransactWriteItem{{Update: &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       famKey(id),
		UpdateExpression:          aws.String("SET #s = :r"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": &types.AttributeValueMemberS{Value: store.StatusRevoked}},
	}}}
	if !denyUntil.IsZero() {
		item := denyEntryKey(keyID, store.DeniedFamily(id))
		item["ttl"] = n(denyUntil.Unix())
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.table), Item: item}})
	}
	items, err := s.withAudit(items, audit)
	if err != nil {
		return err
	}
	err = s.transact(ctx, items, "revoke family")
	if errors.Is(err, store.ErrConflict) {
		return store.ErrNotFound
	}
	return err
}

// DenyAccessToken puts an access token's id on its key's deny-list until the given time (the
// caller passes the token's exp plus the verifiers' largest leeway).
func (s *Tokens) DenyAccessToken(ctx context.Context, keyID, jti string, until time.Time, audit ...store.Event) error {
	item := denyKey(keyID, jti)
	item["ttl"] = n(until.Unix())
	items := []types.TransactWriteItem{{Put: &types.Put{TableName: aws.String(s.table), Item: item}}}
	items, err := s.withAudit(items, audit)
	if err != nil {
		return err
	}
	return s.transact(ctx, items, "deny access token")
}

// AccessTokenDenied reports whether the access token jti of family familyID ("" for tokens
// minted before tokens named their family) is on keyID's deny-list, itself or through its
// family, and not yet past the entry's expiry. The two reads run concurrently: one round trip.
func (s *Tokens) AccessTokenDenied(ctx context.Context, keyID, jti, familyID string) (bool, error) {
	keys := []map[string]types.AttributeValue{denyKey(keyID, jti)}
	if familyID != "" {
		keys = append(keys, denyEntryKey(keyID, store.DeniedFamily(familyID)))
	}
	found := make([]bool, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			var it struct {
				PK string `dynamodbav:"pk"`
			}
			err := s.get(ctx, k, &it)
			found[i], errs[i] = err == nil, err
			if errors.Is(err, store.ErrNotFound) {
				errs[i] = nil
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return false, err
	}
	return slices.Contains(found, true), nil
}

// DeniedTokens returns keyID's deny-list entries that have not expired yet, → expiry: revoked
// access tokens by jti, revoked families by store.DeniedFamily.
// It is one strongly consistent Query (paged past 1 MB only for very long lists).
func (s *Tokens) DeniedTokens(ctx context.Context, keyID string) (map[string]time.Time, error) {
	now := s.now()
	out := map[string]time.Time{}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: "deny#" + keyID},
		},
		ProjectionExpression:     aws.String("sk, #ttl"),
		ExpressionAttributeNames: map[string]string{"#ttl": "ttl"},
		ConsistentRead:           aws.Bool(true),
	}
	for {
		page, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query deny-list: %w", err)
		}
		for _, item := range page.Items {
			if expired(item, now) {
				continue // TTL deletion lags; an expired entry is absent
			}
			// An entry that cannot be read must not silently un-revoke a token: fail (503).
			sk, _ := item["sk"].(*types.AttributeValueMemberS)
			ttl, _ := item["ttl"].(*types.AttributeValueMemberN)
			if sk == nil || ttl == nil {
				return nil, fmt.Errorf("deny-list of %s: an entry lacks sk or ttl", keyID)
			}
			exp, err := strconv.ParseInt(ttl.Value, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("deny-list of %s: unreadable ttl: %w", keyID, err)
			}
			out[strings.TrimPrefix(sk.Value, "jti#")] = time.Unix(exp, 0)
		}
		if len(out) > store.MaxDeniedRead {
			return nil, store.ErrTooManyDenied
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}
