package router

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// teardown is the ordered list of what Start has set up, each with the step
// that undoes it. A Start that fails part-way and Shutdown both run it, in
// reverse order, so that whatever was set up is undone once and nothing
// that was not is touched.
type teardown struct {
	mu    sync.Mutex
	steps []teardownStep
}

type teardownStep struct {
	name string
	undo func(ctx context.Context)
}

// add records that name was set up and how to undo it.
func (t *teardown) add(name string, undo func(ctx context.Context)) {
	t.mu.Lock()
	t.steps = append(t.steps, teardownStep{name: name, undo: undo})
	t.mu.Unlock()
}

// run undoes every step, the last set up first, and forgets them.
func (t *teardown) run(ctx context.Context, log *slog.Logger) {
	t.mu.Lock()
	steps := t.steps
	t.steps = nil
	t.mu.Unlock()
	for i := len(steps) - 1; i >= 0; i-- {
		start := time.Now()
		steps[i].undo(ctx)
		log.Debug("teardown step done", "step", steps[i].name, "duration", time.Since(start).Round(time.Microsecond).String())
	}
}
