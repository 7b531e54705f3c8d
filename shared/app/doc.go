// Package app is what every keygate function does at cold start: read and validate its
// configuration (every setting at once), build the Lambda logger and the AWS SDK config, and
// hand out the clients, stores and keyrings a main asks Deps for, each built once per
// container on first request and shared from then on. Each functions/<name>/main.go wires its
// own handler from Deps.
//
// It must never import a handler package (authapi, authorizer, keysapi, echo, rotation) or
// anything under infra/, and nothing here runs per invocation.
package app
