// Package samtpl reads the project's SAM template (template.yaml) for local use.
//
// template.yaml is the single source of truth for routes, authorizers, gateway responses,
// tables, secrets and function settings. The local stack (the local API gateway, the Lambda
// runner and the emulator provisioning) reads it through this package instead of repeating
// any of it, so what runs locally is what deploys.
//
// The package resolves the CloudFormation intrinsics the template uses (Ref, Fn::Sub,
// Fn::GetAtt and Fn::If, in short and long form) to the values they would have locally, and
// evaluates the Conditions (Fn::Equals, Fn::Not, Fn::And, Fn::Or over parameters): a resource
// or output whose Condition is false does not exist, as in a deployment. Parameters take
// their overrides or defaults, a table's Ref is its TableName, a secret's Ref is its Name
// (deployed, Ref gives the secret's ARN; both are valid SecretIds), other resources' Refs are
// their logical ids, and GetAtt X.Arn is a plausible ARN in the configured region and account.
//
// It must never guess: a construct it does not understand (an unknown resource type or
// property that changes behaviour, an unsupported intrinsic) is an error that names where it
// is, because a local stack that silently differs from AWS is worse than none. Resources and
// properties that only matter to AWS (IAM roles and policies, log groups, alarms,
// architectures, encryption and its KMS key, backups, concurrency reservations, the WAF web
// ACL at the edge) are accepted and ignored; the lists are explicit in this package. The API's Cors setting is read (API.Cors); the local gateway answers the
// preflights SAM generates from it.
package samtpl
