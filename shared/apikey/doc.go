// Package apikey owns keygate's API keys: their format and checksum, the peppered hash that is
// all the store ever keeps, minting new keys, and authenticating a presented key in one straight
// line (parse without I/O → hash → one lookup → constant-time compare → status, expiry, source IP).
//
// It must never log a key or put one in an error; every way a key can be wrong is the same
// ErrInvalid, so callers answer all of them alike.
package apikey
