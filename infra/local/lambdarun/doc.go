// Package lambdarun runs Lambda function binaries locally the way Lambda runs them: it
// serves the Lambda Runtime API to each bootstrap process and hands it one invocation at a
// time.
//
// Each function has a pool of instances (processes). An invocation goes to an idle
// instance or, when none is idle, to a newly started one (a cold start), up to a maximum per
// function, beyond which it waits. Each instance gets its own loopback Runtime API listener
// (AWS_LAMBDA_RUNTIME_API=127.0.0.1:port), so the function code is byte-for-byte what
// deploys: aws-lambda-go built with -tags lambda.norpc speaks only that API.
//
// The process environment is a minimal clean one (never the host's): what Lambda sets, the
// function's template variables and the runner's extra variables (the local stack sets the
// standard SDK endpoint variables AWS_ENDPOINT_URL_DYNAMODB and
// AWS_ENDPOINT_URL_SECRETS_MANAGER this way). HOME is deliberately not set, as on Lambda, so
// the AWS SDK inside a function cannot pick up the developer's ~/.aws profiles and
// credentials and behave differently from the deployed function.
//
// Failures are typed like Lambda's: a handler error is a *FunctionError, an invocation that
// outlives the function's timeout is a *TimeoutError (and the instance is killed, as Lambda
// does), a process that exits while holding an invocation is a *CrashError, and a process
// that fails before it asks for work is an *InitError.
//
// The runner must never leave a process or goroutine behind: Close stops every process
// (SIGTERM, then SIGKILL after a grace period) and every listener.
package lambdarun
