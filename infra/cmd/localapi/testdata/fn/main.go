// Command fn plays both functions of testdata/template.yaml, chosen by
// AWS_LAMBDA_FUNCTION_NAME: a REQUEST authorizer that accepts "Bearer good", and a backend
// that echoes what it received.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") == "AuthorizerFunction" {
		lambda.Start(authorize)
	}
	lambda.Start(echo)
}

func authorize(_ context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	if ev.Headers["Authorization"] != "Bearer good" {
		return events.APIGatewayCustomAuthorizerResponse{}, errors.New("Unauthorized")
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: "user-1",
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{
			{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{ev.MethodArn}},
		}},
		Context: map[string]any{"tier": "gold", "n": 3},
	}, nil
}

func echo(_ context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	body, _ := json.Marshal(map[string]any{
		"id":         ev.PathParameters["id"],
		"authorizer": ev.RequestContext.Authorizer,
		"greeting":   os.Getenv("GREETING"),
		"dynamodb":   os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"),
	})
	return events.APIGatewayProxyResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(body)}, nil
}
