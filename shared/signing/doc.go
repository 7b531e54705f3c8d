// Package signing owns the JWT signing keys (not API keys): the secret's format in Secrets
// Manager, the kid (RFC 7638 thumbprint), the public JWK, and the Keyring that holds the
// AWSCURRENT/AWSPREVIOUS keys of one secret in memory, refreshed without per-request I/O.
//
// Private material leaves this package only inside Material (for Secrets Manager) and Key (for
// signing); neither prints it, and a JWK never carries it.
package signing
