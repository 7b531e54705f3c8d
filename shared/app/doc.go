// Package app builds what a keygate function needs once per container: its configuration
// (every setting validated at once), the JSON logger, the AWS SDK config and clients, the
// keyring and the stores. Thin mains call MustLoad during init and wire their own handler;
// nothing here runs per invocation.
package app
