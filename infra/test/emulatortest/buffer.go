package emulatortest

import (
	"bytes"
	"sync"
)

// Buffer collects what several goroutines or processes write (function logs, a command's
// stderr) for a test to read afterwards: bytes.Buffer is not safe for concurrent use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
