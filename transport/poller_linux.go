package transport

import (
	"errors"
	"fmt"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Poller watches the connections of idle sessions so that they need no
// reader goroutine: a peer whose client has been silent for a while hands
// its connection to the poller, and the poller starts a new reader when
// input arrives. One goroutine (blocked in epoll_wait) serves every
// connection. Peers without a Poller, and TLS connections, keep a reader
// goroutine all the time.
type Poller struct {
	epfd   int
	wakefd int // an eventfd that ends the loop

	mu      sync.Mutex
	waiters map[int]*pollWaiter // by file descriptor
	nextGen uint32
	parked  int    // waiters armed and not yet woken
	armings uint64 // ever
	closed  bool

	done chan struct{}
}

type pollWaiter struct {
	gen   uint32
	wake  func()
	armed bool
}

// pollRegistration is a peer's place in a Poller.
type pollRegistration struct {
	fd    int
	gen   uint32 // tells a reused descriptor from the one registered
	added bool
}

var errPollerClosed = errors.New("transport: poller closed")

// NewPoller starts a poller; Close stops it.
func NewPoller() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("transport: epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("transport: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, fmt.Errorf("transport: epoll_ctl: %w", err)
	}
	p := &Poller{epfd: epfd, wakefd: wakefd, waiters: map[int]*pollWaiter{}, done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// Parked returns how many connections wait for input without a reader
// goroutine.
func (p *Poller) Parked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.parked
}

// timesArmed returns how often a connection was parked.
func (p *Poller) timesArmed() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.armings
}

// arm asks for one call of wake, on the poller's goroutine, when rc has
// input (or is hung up). wake must not block.
func (p *Poller) arm(rc syscall.RawConn, reg *pollRegistration, wake func()) error {
	var armErr error
	err := rc.Control(func(fd uintptr) {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			armErr = errPollerClosed
			return
		}
		if !reg.added || reg.fd != int(fd) {
			p.nextGen++
			reg.fd, reg.gen, reg.added = int(fd), p.nextGen, false
		}
		w := p.waiters[reg.fd]
		if w == nil || w.gen != reg.gen {
			if w != nil && w.armed {
				p.parked-- // a closed connection's descriptor, reused
			}
			w = &pollWaiter{gen: reg.gen, wake: wake}
			p.waiters[reg.fd] = w
		}
		if !w.armed {
			w.armed = true
			p.parked++
			p.armings++
		}
		p.mu.Unlock()
		ev := unix.EpollEvent{
			Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT,
			Fd:     int32(reg.fd),
			Pad:    int32(reg.gen),
		}
		op := unix.EPOLL_CTL_MOD
		if !reg.added {
			op = unix.EPOLL_CTL_ADD
		}
		// Once armed, the wake may start a reader that uses reg: it must
		// not change after the epoll_ctl that succeeds.
		reg.added = true
		target := int(fd)
		armErr = unix.EpollCtl(p.epfd, op, target, &ev)
		if errors.Is(armErr, unix.EEXIST) {
			armErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, target, &ev)
		} else if errors.Is(armErr, unix.ENOENT) {
			armErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, target, &ev)
		}
		if armErr != nil {
			reg.added = false
			p.mu.Lock()
			if w.armed {
				w.armed = false
				p.parked--
			}
			p.mu.Unlock()
		}
	})
	if err != nil {
		return err
	}
	return armErr
}

// forget removes a registration (its connection is ending).
func (p *Poller) forget(rc syscall.RawConn, reg *pollRegistration) {
	if !reg.added {
		return
	}
	p.mu.Lock()
	if w, ok := p.waiters[reg.fd]; ok && w.gen == reg.gen {
		if w.armed {
			p.parked--
		}
		delete(p.waiters, reg.fd)
	}
	p.mu.Unlock()
	_ = rc.Control(func(fd uintptr) {
		if int(fd) == reg.fd {
			_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, reg.fd, nil)
		}
	})
	reg.added = false
}

func (p *Poller) loop() {
	defer close(p.done)
	defer p.wakeAll() // however the loop ends, no connection stays parked
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == p.wakefd {
				return
			}
			p.mu.Lock()
			w, ok := p.waiters[int(ev.Fd)]
			ok = ok && w.gen == uint32(ev.Pad) && w.armed
			if ok {
				w.armed = false
				p.parked--
			}
			p.mu.Unlock()
			if ok {
				w.wake()
			}
		}
	}
}

// wakeAll ends parking (arm fails from now on) and wakes every parked
// connection: their readers carry on as goroutines.
func (p *Poller) wakeAll() {
	p.mu.Lock()
	p.closed = true
	var wakes []func()
	for _, w := range p.waiters {
		if w.armed {
			w.armed = false
			p.parked--
			wakes = append(wakes, w.wake)
		}
	}
	p.mu.Unlock()
	for _, wake := range wakes {
		wake()
	}
}

// Close stops the poller. Connections still parked are woken, and read by
// goroutines of their own from then on.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	var one [8]byte
	one[0] = 1
	if _, err := unix.Write(p.wakefd, one[:]); err != nil {
		return fmt.Errorf("transport: wake poller: %w", err)
	}
	<-p.done
	return errors.Join(unix.Close(p.epfd), unix.Close(p.wakefd))
}
