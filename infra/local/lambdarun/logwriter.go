package lambdarun

import (
	"bytes"
	"io"
	"sync"
)

// lineWriter prefixes every line a process writes with the function id, so that the
// interleaved output of many instances stays attributable (and tests can scan it). Lines
// are written whole under a mutex shared by all writers of one runner.
type lineWriter struct {
	mu     *sync.Mutex
	out    io.Writer
	prefix []byte

	buf []byte // an unterminated last line
}

// maxLine bounds how much of an unterminated line is buffered before it is written anyway.
const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) >= maxLine {
				w.emit(w.buf)
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

// flush writes a final unterminated line.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

func (w *lineWriter) emit(line []byte) {
	out := make([]byte, 0, len(w.prefix)+len(line)+1)
	out = append(append(append(out, w.prefix...), line...), '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = w.out.Write(out) // a failing log sink must not fail the function
}
