// Package dynamo implements keygate's storage on DynamoDB through the AWS SDK v2 client.
//
// Every read treats an item whose ttl has passed as absent: DynamoDB deletes expired items
// lazily (typically within days), so TTL alone never enforces expiry. Reads of credentials are
// strongly consistent, so a revocation is seen by the next request.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
}

var _ API = (*dynamodb.Client)(nil)

// KeyIDIndex is the GSI of the keys table that finds a key by its public id.
const KeyIDIndex = "key_id-index"

// Keys stores API keys in the keys table (pk = "key#<hash>").
type Keys struct {
	api   API
	table string
	now   func() time.Time
}

// NewKeys returns a key store on table.
func NewKeys(api API, table string, now func() time.Time) *Keys {
	return &Keys{api: api, table: table, now: now}
}

// keyItem is the DynamoDB shape of store.Key. Times are Unix seconds (ttl must be).
type keyItem struct {
	PK         string   `dynamodbav:"pk"`
	KeyID      string   `dynamodbav:"key_id"`
	Name       string   `dynamodbav:"name"`
	OwnerID    string   `dynamodbav:"owner_id,omitempty"`
	Scopes     []string `dynamodbav:"scopes"`
	AllowedIPs []string `dynamodbav:"allowed_ips"`
	RateLimit  int      `dynamodbav:"rate_limit"`
	Tier       string   `dynamodbav:"tier,omitempty"`
	Status     string   `dynamodbav:"status"`
	CreatedAt  int64    `dynamodbav:"created_at"`
	ExpiresAt  int64    `dynamodbav:"expires_at,omitempty"`
	TTL        int64    `dynamodbav:"ttl,omitempty"`
	KeyGen     int64    `dynamodbav:"key_gen"`
	LastUsedAt int64    `dynamodbav:"last_used_at,omitempty"`
}

func keyPK(hash string) string { return "key#" + hash }

func toItem(k store.Key) keyItem {
	it := keyItem{
		PK: keyPK(k.Hash), KeyID: k.KeyID, Name: k.Name, OwnerID: k.OwnerID,
		Scopes: k.Scopes, AllowedIPs: k.AllowedIPs, RateLimit: k.RateLimit, Tier: k.Tier,
		Status: k.Status, CreatedAt: k.CreatedAt.Unix(), KeyGen: k.KeyGen,
	}
	if it.Scopes == nil {
		it.Scopes = []string{}
	}
	if it.AllowedIPs == nil {
		it.AllowedIPs = []string{}
	}
	if !k.ExpiresAt.IsZero() {
		it.ExpiresAt = k.ExpiresAt.Unix()
		it.TTL = it.ExpiresAt
	}
	if !k.LastUsedAt.IsZero() {
		it.LastUsedAt = k.LastUsedAt.Unix()
	}
	return it
}

func fromItem(hash string, it keyItem) store.Key {
	k := store.Key{
		Hash: hash, KeyID: it.KeyID, Name: it.Name, OwnerID: it.OwnerID,
		Scopes: it.Scopes, AllowedIPs: it.AllowedIPs, RateLimit: it.RateLimit, Tier: it.Tier,
		Status: it.Status, CreatedAt: time.Unix(it.CreatedAt, 0).UTC(), KeyGen: it.KeyGen,
	}
	if it.ExpiresAt != 0 {
		k.ExpiresAt = time.Unix(it.ExpiresAt, 0).UTC()
	}
	if it.LastUsedAt != 0 {
		k.LastUsedAt = time.Unix(it.LastUsedAt, 0).UTC()
	}
	return k
}

// CreateKey stores a new key. An existing item with the same hash is store.ErrConflict.
func (s *Keys) CreateKey(ctx context.Context, k store.Key) error {
	av, err := attributevalue.MarshalMap(toItem(k))
	if err != nil {
		return fmt.Errorf("marshal key %s: %w", k.KeyID, err)
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                av,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("put key %s: %w", k.KeyID, err)
	}
	return nil
}

// KeyByHash reads the key stored under hash with one strongly consistent GetItem. Missing and
// expired keys are store.ErrNotFound.
func (s *Keys) KeyByHash(ctx context.Context, hash string) (store.Key, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: keyPK(hash)}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return store.Key{}, fmt.Errorf("get key by hash: %w", err)
	}
	if out.Item == nil || expired(out.Item, s.now()) {
		return store.Key{}, store.ErrNotFound
	}
	var it keyItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return store.Key{}, fmt.Errorf("unmarshal key item: %w", err)
	}
	return fromItem(hash, it), nil
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
