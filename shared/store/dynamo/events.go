package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/shared/store"
)

// DefaultEventRetention is how long audit events are kept (their ttl).
const DefaultEventRetention = 90 * 24 * time.Hour

// Events stores the audit trail in the tokens table: pk "audit#<key_id>", sk the event time
// (nanoseconds, zero-padded) and request id, ttl the end of retention.
type Events struct {
	api       API
	table     string
	now       func() time.Time
	retention time.Duration
}

// NewEvents returns an audit-trail store on table keeping events for retention.
func NewEvents(api API, table string, retention time.Duration, now func() time.Time) *Events {
	if retention <= 0 {
		retention = DefaultEventRetention
	}
	return &Events{api: api, table: table, now: now, retention: retention}
}

type eventItem struct {
	PK         string `dynamodbav:"pk"`
	SK         string `dynamodbav:"sk"`
	KeyID      string `dynamodbav:"key_id"`
	Time       int64  `dynamodbav:"time_ns"`
	Action     string `dynamodbav:"action"`
	ActorKeyID string `dynamodbav:"actor_key_id,omitempty"`
	SourceIP   string `dynamodbav:"source_ip,omitempty"`
	RequestID  string `dynamodbav:"request_id,omitempty"`
	Detail     string `dynamodbav:"detail,omitempty"`
	TTL        int64  `dynamodbav:"ttl"`
}

// EventItem returns the Put of e, for callers that write it inside their own transaction.
func (s *Events) EventItem(e store.Event) (*types.Put, error) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	av, err := attributevalue.MarshalMap(eventItem{
		PK: "audit#" + e.KeyID, SK: fmt.Sprintf("%020d#%s", e.Time.UnixNano(), e.RequestID),
		KeyID: e.KeyID, Time: e.Time.UnixNano(), Action: e.Action, ActorKeyID: e.ActorKeyID,
		SourceIP: e.SourceIP, RequestID: e.RequestID, Detail: e.Detail,
		TTL: e.Time.Add(s.retention).Unix(),
	})
	if err != nil {
		return nil, fmt.Errorf("marshal event: %w", err)
	}
	return &types.Put{TableName: aws.String(s.table), Item: av}, nil
}

// AppendEvent records e.
func (s *Events) AppendEvent(ctx context.Context, e store.Event) error {
	put, err := s.EventItem(e)
	if err != nil {
		return err
	}
	if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: put.TableName, Item: put.Item}); err != nil {
		return fmt.Errorf("append event %s: %w", e.Action, err)
	}
	return nil
}

// ListEvents returns up to limit events of keyID, newest first, from the opaque cursor on.
func (s *Events) ListEvents(ctx context.Context, keyID string, limit int, cursor string) (store.EventPage, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "audit#" + keyID}},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	}
	if cursor != "" {
		start, err := decodeCursor(cursor, "pk", "sk")
		if err != nil {
			return store.EventPage{}, err
		}
		if start["pk"].(*types.AttributeValueMemberS).Value != "audit#"+keyID {
			return store.EventPage{}, store.ErrBadCursor
		}
		in.ExclusiveStartKey = start
	}
	out, err := s.api.Query(ctx, in)
	if err != nil {
		return store.EventPage{}, fmt.Errorf("list events: %w", err)
	}
	page := store.EventPage{Events: make([]store.Event, 0, len(out.Items))}
	now := s.now()
	for _, av := range out.Items {
		if expired(av, now) {
			continue
		}
		var it eventItem
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return store.EventPage{}, fmt.Errorf("unmarshal event: %w", err)
		}
		page.Events = append(page.Events, store.Event{
			KeyID: it.KeyID, Time: time.Unix(0, it.Time).UTC(), Action: it.Action,
			ActorKeyID: it.ActorKeyID, SourceIP: it.SourceIP, RequestID: it.RequestID, Detail: it.Detail,
		})
	}
	if len(out.LastEvaluatedKey) > 0 {
		page.Next = encodeCursor(out.LastEvaluatedKey)
	}
	return page, nil
}

// AppendEvent records e in the audit trail of the store's events table.
func (s *Keys) AppendEvent(ctx context.Context, e store.Event) error {
	if s.events == nil {
		return fmt.Errorf("append event: no events store")
	}
	return s.events.AppendEvent(ctx, e)
}

// ListEvents lists keyID's audit events, newest first.
func (s *Keys) ListEvents(ctx context.Context, keyID string, limit int, cursor string) (store.EventPage, error) {
	if s.events == nil {
		return store.EventPage{}, fmt.Errorf("list events: no events store")
	}
	return s.events.ListEvents(ctx, keyID, limit, cursor)
}
