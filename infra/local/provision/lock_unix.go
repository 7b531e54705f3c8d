//go:build unix

package provision

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockUsagePlans takes a lock that every process of this user on this machine shares, for
// ApplyUsagePlans: API Gateway names are not unique, so two stacks provisioning the same stage
// at once (make test runs several suites in parallel on one emulator) would each find no REST
// API or plan and each create one. The lock is released when the returned function runs or the
// process ends.
func lockUsagePlans(ctx context.Context) (func(), error) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("keygate-%d-usageplans.lock", os.Getuid()))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("provision: usage-plan lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			f.Close()
			return nil, fmt.Errorf("provision: usage-plan lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("provision: waiting for the usage-plan lock %s: %w", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
