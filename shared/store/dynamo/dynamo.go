// Package dynamo implements keygate's storage on DynamoDB through the AWS SDK v2 client.
//
// Keys table layout (pk only): a head item "id#<key_id>" holds the authoritative record and is
// what the admin API reads and lists (through the sparse list-index GSI); one lookup item
// "key#<hash>" per live secret (the current one and, during a rotation's grace period, the
// previous one) holds a copy of the record, so authenticating a key is one GetItem. Every write
// replaces head and lookup items in one transaction conditioned on the head's version, so
// concurrent rotations, updates and revocations are serialised and never half-applied.
//
// Every transactional write goes through one helper (transact.go) that retries a transaction
// DynamoDB cancels because another holds its items (TransactionConflict) and otherwise lets the
// conditions decide.
//
// Every read treats an item whose ttl has passed as absent: DynamoDB deletes expired items
// lazily (typically within days), so TTL alone never enforces expiry. Reads of credentials are
// strongly consistent, so a revocation is seen by the next request.
package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/shared/store"
)

// API is the part of the DynamoDB client this package uses.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// ListIndex is the sparse GSI over head items that lists keys newest first.
const ListIndex = "list-index"

// Keys stores API keys in the keys table.
type Keys struct {
	api    API
	table  string
	now    func() time.Time
	events *Events
	tx     txRetry
}

// NewKeys returns a key store on table. With events, SaveKey writes audit events in the same
// transaction as the key, so an action is never recorded without its effect or vice versa.
func NewKeys(api API, table string, now func() time.Time, events *Events) *Keys {
	return &Keys{api: api, table: table, now: now, events: events, tx: defaultTxRetry()}
}

const (
	kindHead     = "head"
	kindCurrent  = "current"
	kindPrevious = "previous"
	listPK       = "key"
)

// keyItem is the DynamoDB shape of store.Key for head and lookup items. Times are Unix seconds
// (ttl must be).
type keyItem struct {
	PK           string   `dynamodbav:"pk"`
	Kind         string   `dynamodbav:"kind"`
	ListPK       string   `dynamodbav:"list_pk,omitempty"`
	ListSK       string   `dynamodbav:"list_sk,omitempty"`
	Hash         string   `dynamodbav:"hash"`
	KeyID        string   `dynamodbav:"key_id"`
	Name         string   `dynamodbav:"name"`
	OwnerID      string   `dynamodbav:"owner_id,omitempty"`
	Scopes       []string `dynamodbav:"scopes"`
	AllowedIPs   []string `dynamodbav:"allowed_ips"`
	RateLimit    int      `dynamodbav:"rate_limit"`
	Tier         string   `dynamodbav:"tier,omitempty"`
	Status       string   `dynamodbav:"status"`
	CreatedAt    int64    `dynamodbav:"created_at"`
	UpdatedAt    int64    `dynamodbav:"updated_at,omitempty"`
	ExpiresAt    int64    `dynamodbav:"expires_at,omitempty"`
	TTL          int64    `dynamodbav:"ttl,omitempty"`
	KeyGen       int64    `dynamodbav:"key_gen"`
	LastUsedAt   int64    `dynamodbav:"last_used_at,omitempty"`
	PreviousHash string   `dynamodbav:"previous_hash,omitempty"`
	GraceUntil   int64    `dynamodbav:"grace_until,omitempty"`
	Version      int64    `dynamodbav:"version"`
}

func headPK(keyID string) string { return "id#" + keyID }
func hashPK(hash string) string  { return "key#" + hash }

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

func toItem(k store.Key, kind string) keyItem {
	it := keyItem{
		Kind: kind, Hash: k.Hash, KeyID: k.KeyID, Name: k.Name, OwnerID: k.OwnerID,
		Scopes: k.Scopes, AllowedIPs: k.AllowedIPs, RateLimit: k.RateLimit, Tier: k.Tier,
		Status: k.Status, CreatedAt: unix(k.CreatedAt), UpdatedAt: unix(k.UpdatedAt),
		ExpiresAt: unix(k.ExpiresAt), TTL: unix(k.ExpiresAt), KeyGen: k.KeyGen,
		LastUsedAt: unix(k.LastUsedAt), PreviousHash: k.PreviousHash, GraceUntil: unix(k.GraceUntil),
		Version: k.Version,
	}
	if it.Scopes == nil {
		it.Scopes = []string{}
	}
	if it.AllowedIPs == nil {
		it.AllowedIPs = []string{}
	}
	switch kind {
	case kindHead:
		it.PK = headPK(k.KeyID)
		it.ListPK = listPK
		it.ListSK = fmt.Sprintf("%012d#%s", it.CreatedAt, k.KeyID)
	case kindCurrent:
		it.PK = hashPK(k.Hash)
	case kindPrevious:
		it.PK = hashPK(k.PreviousHash)
		// The previous secret's lookup item disappears with its grace period.
		if it.TTL == 0 || it.GraceUntil < it.TTL {
			it.TTL = it.GraceUntil
		}
	}
	return it
}

func fromItem(it keyItem) store.Key {
	return store.Key{
		Hash: it.Hash, KeyID: it.KeyID, Name: it.Name, OwnerID: it.OwnerID,
		Scopes: it.Scopes, AllowedIPs: it.AllowedIPs, RateLimit: it.RateLimit, Tier: it.Tier,
		Status: it.Status, CreatedAt: fromUnix(it.CreatedAt), UpdatedAt: fromUnix(it.UpdatedAt),
		ExpiresAt: fromUnix(it.ExpiresAt), KeyGen: it.KeyGen, LastUsedAt: fromUnix(it.LastUsedAt),
		PreviousHash: it.PreviousHash, GraceUntil: fromUnix(it.GraceUntil), Version: it.Version,
	}
}

// CreateKey stores a new key (Version becomes 1). An existing key id or hash is
// store.ErrConflict.
func (s *Keys) CreateKey(ctx context.Context, k store.Key, audit ...store.Event) error {
	return s.SaveKey(ctx, nil, k, audit...)
}

// SaveKey replaces prev (nil when creating) with next in one transaction: the head item is
// written only if its version is still prev.Version, lookup items follow next's current and
// previous hashes, and lookup items of hashes next no longer has are deleted. A lost race is
// store.ErrConflict; next.Version is set to prev.Version+1 by the write. audit events are
// written in the same transaction (they need the store to have been built with an Events).
func (s *Keys) SaveKey(ctx context.Context, prev *store.Key, next store.Key, audit ...store.Event) error {
	var prevVersion int64
	if prev != nil {
		prevVersion = prev.Version
	}
	next.Version = prevVersion + 1
	head, err := attributevalue.MarshalMap(toItem(next, kindHead))
	if err != nil {
		return fmt.Errorf("marshal key %s: %w", next.KeyID, err)
	}
	put := &types.Put{TableName: aws.String(s.table), Item: head}
	if prev == nil {
		put.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		put.ConditionExpression = aws.String("version = :v")
		put.ExpressionAttributeValues = map[string]types.AttributeValue{
			":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(prevVersion, 10)},
		}
	}
	items := []types.TransactWriteItem{{Put: put}}

	live := map[string]bool{next.Hash: true}
	cur, err := attributevalue.MarshalMap(toItem(next, kindCurrent))
	if err != nil {
		return fmt.Errorf("marshal key %s: %w", next.KeyID, err)
	}
	curPut := &types.Put{TableName: aws.String(s.table), Item: cur}
	if prev == nil || prev.Hash != next.Hash {
		curPut.ConditionExpression = aws.String("attribute_not_exists(pk)")
	}
	items = append(items, types.TransactWriteItem{Put: curPut})
	if next.PreviousHash != "" && !next.GraceUntil.IsZero() && next.PreviousHash != next.Hash {
		live[next.PreviousHash] = true
		p, err := attributevalue.MarshalMap(toItem(next, kindPrevious))
		if err != nil {
			return fmt.Errorf("marshal key %s: %w", next.KeyID, err)
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.table), Item: p}})
	}
	if prev != nil {
		for _, h := range []string{prev.Hash, prev.PreviousHash} {
			if h != "" && !live[h] {
				live[h] = true // never two operations on one item
				items = append(items, types.TransactWriteItem{Delete: &types.Delete{
					TableName: aws.String(s.table),
					Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: hashPK(h)}},
				}})
			}
		}
	}
	for _, e := range audit {
		if s.events == nil {
			return fmt.Errorf("save key %s: audit events need an events store", next.KeyID)
		}
		put, err := s.events.EventItem(e)
		if err != nil {
			return err
		}
		items = append(items, types.TransactWriteItem{Put: put})
	}
	return s.tx.write(ctx, s.api, "save key "+next.KeyID, items)
}

// KeyByHash authenticates by hash with one strongly consistent GetItem. Missing, expired and
// past-grace keys are store.ErrNotFound. A key found by its in-grace previous hash is returned
// as of the previous generation (Hash = that hash, KeyGen - 1), so tokens minted with the old
// secret die with the grace period; callers compare Hash in constant time.
func (s *Keys) KeyByHash(ctx context.Context, hash string) (store.Key, error) {
	it, err := s.get(ctx, hashPK(hash))
	if err != nil {
		return store.Key{}, err
	}
	k := fromItem(it)
	now := s.now()
	switch it.Kind {
	case kindCurrent:
	case kindPrevious:
		if !k.InGrace(now) || k.PreviousHash != hash {
			return store.Key{}, store.ErrNotFound
		}
		k.Hash, k.KeyGen = hash, k.KeyGen-1
	default:
		return store.Key{}, store.ErrNotFound
	}
	return k, nil
}

// KeyByID returns the head record of keyID, revoked or not; expired keys are store.ErrNotFound.
func (s *Keys) KeyByID(ctx context.Context, keyID string) (store.Key, error) {
	it, err := s.get(ctx, headPK(keyID))
	if err != nil {
		return store.Key{}, err
	}
	return fromItem(it), nil
}

func (s *Keys) get(ctx context.Context, pk string) (keyItem, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return keyItem{}, fmt.Errorf("get key item: %w", err)
	}
	if out.Item == nil || expired(out.Item, s.now()) {
		return keyItem{}, store.ErrNotFound
	}
	var it keyItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return keyItem{}, fmt.Errorf("unmarshal key item: %w", err)
	}
	return it, nil
}

// ListKeys returns up to limit keys, newest first, from the opaque cursor on (empty: the
// start). Expired keys are left out.
//
// This is the only read of a GSI (list-index). On DynamoDB a GSI is eventually consistent and
// cannot be read with ConsistentRead: a key created, rotated or revoked a moment ago may be
// missing or show its former state for a short while (emulators answer at once, so no local
// test sees this). The listing is for display only: no code path lists what it just wrote,
// and nothing is decided from it; authentication and every admin action read the item itself
// with a strongly consistent GetItem (KeyByHash, KeyByID) and write conditioned on its version.
func (s *Keys) ListKeys(ctx context.Context, limit int, cursor string) (store.Page, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(ListIndex),
		KeyConditionExpression:    aws.String("list_pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: listPK}},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	}
	if cursor != "" {
		start, err := decodeCursor(cursor, "pk", "list_pk", "list_sk")
		if err != nil {
			return store.Page{}, err
		}
		// A start outside the listing's partition makes DynamoDB fail the query; that is the
		// client's bad cursor (400), not an outage (503).
		if start["list_pk"].(*types.AttributeValueMemberS).Value != listPK ||
			!strings.HasPrefix(start["pk"].(*types.AttributeValueMemberS).Value, headPK("")) {
			return store.Page{}, store.ErrBadCursor
		}
		in.ExclusiveStartKey = start
	}
	out, err := s.api.Query(ctx, in)
	if err != nil {
		return store.Page{}, fmt.Errorf("list keys: %w", err)
	}
	page := store.Page{Keys: make([]store.Key, 0, len(out.Items))}
	now := s.now()
	for _, av := range out.Items {
		if expired(av, now) {
			continue
		}
		var it keyItem
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return store.Page{}, fmt.Errorf("unmarshal key item: %w", err)
		}
		page.Keys = append(page.Keys, fromItem(it))
	}
	if len(out.LastEvaluatedKey) > 0 {
		page.Next = encodeCursor(out.LastEvaluatedKey)
	}
	return page, nil
}

// expired reports whether item's ttl attribute is at or before now.
func expired(item map[string]types.AttributeValue, now time.Time) bool {
	n, ok := item["ttl"].(*types.AttributeValueMemberN)
	if !ok {
		return false
	}
	ttl, err := strconv.ParseInt(n.Value, 10, 64)
	return err == nil && ttl <= now.Unix()
}

// encodeCursor turns a LastEvaluatedKey of string attributes into an opaque token.
func encodeCursor(key map[string]types.AttributeValue) string {
	m := map[string]string{}
	for k, v := range key {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			m[k] = s.Value
		}
	}
	b, _ := json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor accepts exactly the attributes names, each a bounded string.
func decodeCursor(cursor string, names ...string) (map[string]types.AttributeValue, error) {
	if len(cursor) > 1024 {
		return nil, store.ErrBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, store.ErrBadCursor
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil || len(m) != len(names) {
		return nil, store.ErrBadCursor
	}
	out := map[string]types.AttributeValue{}
	for _, n := range names {
		v, ok := m[n]
		if !ok || v == "" || len(v) > 256 {
			return nil, store.ErrBadCursor
		}
		out[n] = &types.AttributeValueMemberS{Value: v}
	}
	return out, nil
}
