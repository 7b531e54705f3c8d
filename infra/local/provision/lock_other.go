//go:build !unix

package provision

import "context"

// lockUsagePlans is a no-op where flock(2) is missing: provision one stack at a time there.
func lockUsagePlans(context.Context) (func(), error) { return func() {}, nil }
