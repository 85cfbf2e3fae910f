package routertest

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// Main runs a package's tests and then fails them if any goroutine is left
// over. Idle keep-alive connections of http.DefaultClient are closed first:
// they belong to the tests' HTTP client, not to the router. Use it as
// TestMain: func TestMain(m *testing.M) { routertest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	http.DefaultClient.CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes, for capturing
// logs in tests.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
