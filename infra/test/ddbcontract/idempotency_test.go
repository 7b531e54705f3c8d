package ddbcontract_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/infra/test/emulatortest"
)

// The AWS SDKs fill in TransactWriteItems' ClientRequestToken and reuse it when they retry a
// call whose answer was lost (a client timeout, a closed connection). DynamoDB answers the retry
// of a transaction that succeeded with the same success and applies nothing twice; the same
// token with other parameters (within 10 minutes) is IdempotentParameterMismatchException.
// moto 5.2.5 ignores the token (a retried transaction then met its own conditions: a token
// request answered 503 under load); infra/local/stack/moto_serialised.py implements it.
func TestARetriedTransactionWithItsClientRequestTokenIsAppliedOnce(t *testing.T) {
	ctx := testContext(t)
	db := emulatortest.DynamoDB(t)
	tb := tokensTable(t, db)
	counter := tb.key("idem#"+emulatortest.UniqueName(""), "counter")
	created := tb.key("idem#"+emulatortest.UniqueName(""), "created")
	tx := func(token string, by int64) *dynamodb.TransactWriteItemsInput {
		return &dynamodb.TransactWriteItemsInput{
			ClientRequestToken: aws.String(token),
			TransactItems: []types.TransactWriteItem{
				{Update: &types.Update{TableName: aws.String(tb.name), Key: counter,
					UpdateExpression:          aws.String("ADD n :by"),
					ExpressionAttributeValues: item{":by": num(by)}}},
				{Put: &types.Put{TableName: aws.String(tb.name), Item: tb.item(text(created, tb.hash), text(created, tb.rng), nil),
					ConditionExpression: aws.String("attribute_not_exists(#h)"), ExpressionAttributeNames: map[string]string{"#h": tb.hash}}},
			},
		}
	}
	token := emulatortest.UniqueName("token-")
	for i := range 3 { // the call and two retries of it
		if _, err := db.TransactWriteItems(ctx, tx(token, 1), oneAttempt); err != nil {
			t.Fatalf("attempt %d with the same token: %v, want the first answer (success)", i+1, err)
		}
	}
	if n := text(get(ctx, t, db, tb, counter), "n"); n != "1" {
		t.Errorf("after one transaction sent three times with one token the counter is %s, want 1", n)
	}
	_, err := db.TransactWriteItems(ctx, tx(token, 2), oneAttempt)
	var mismatch *types.IdempotentParameterMismatchException
	if !errors.As(err, &mismatch) {
		t.Errorf("the same token with other parameters = %v (%s), want IdempotentParameterMismatchException", err, errorCode(err))
	}
	// A new token is a new transaction: its condition (the item it creates exists) decides.
	_, err = db.TransactWriteItems(ctx, tx(emulatortest.UniqueName("token-"), 1), oneAttempt)
	if codes, ok := reasons(err); !ok || len(codes) != 2 || codes[1] != "ConditionalCheckFailed" {
		t.Errorf("a new token = %v, want the transaction cancelled by its condition", err)
	}
	if n := text(get(ctx, t, db, tb, counter), "n"); n != "1" {
		t.Errorf("after the cancelled transaction the counter is %s, want still 1", n)
	}
}
