// Package authorizer is the API Gateway REQUEST authorizer and the caches that keep its warm
// path free of network I/O: remembered verifications, API-key lookups and per-key revocation
// state (status, generation, deny-list), each bounded and expiring within the revocation bound.
//
// It never logs a credential nor puts one in the context, and an outage never yields an Allow
// or a Deny that API Gateway would cache.
package authorizer
