//go:build !linux

package transport

import (
	"errors"
	"syscall"
)

// Poller parks the readers of idle connections; it needs Linux (epoll).
// Elsewhere NewPoller fails and every session keeps a reader goroutine.
type Poller struct{}

type pollRegistration struct{ added bool }

var errNoPoller = errors.New("transport: idle-connection polling needs Linux")

// NewPoller reports that polling is not available on this system.
func NewPoller() (*Poller, error) { return nil, errNoPoller }

// Parked returns 0.
func (p *Poller) Parked() int { return 0 }

func (p *Poller) arm(syscall.RawConn, *pollRegistration, func()) error { return errNoPoller }

func (p *Poller) forget(syscall.RawConn, *pollRegistration) {}

// Close does nothing.
func (p *Poller) Close() error { return nil }
