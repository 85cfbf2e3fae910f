package main

import (
	"math"
	"sync"
	"time"
)

// histogram records durations in log-spaced buckets (1% wide) for
// percentiles without keeping every sample.
type histogram struct {
	mu      sync.Mutex
	buckets map[int]int64
	count   int64
}

func newHistogram() *histogram { return &histogram{buckets: map[int]int64{}} }

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us < 1 {
		return 0
	}
	return int(math.Log(us)/math.Log(1.01)) + 1
}

func bucketValue(b int) time.Duration {
	if b == 0 {
		return 0
	}
	return time.Duration(math.Pow(1.01, float64(b-1)) * float64(time.Microsecond))
}

// merge adds a local per-goroutine tally.
func (h *histogram) merge(local map[int]int64) {
	h.mu.Lock()
	for b, n := range local {
		h.buckets[b] += n
		h.count += n
	}
	h.mu.Unlock()
}

func (h *histogram) percentile(p float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.count == 0 {
		return 0
	}
	maxB := 0
	for b := range h.buckets {
		maxB = max(maxB, b)
	}
	want := int64(math.Ceil(p / 100 * float64(h.count)))
	var seen int64
	for b := 0; b <= maxB; b++ {
		seen += h.buckets[b]
		if seen >= want {
			return bucketValue(b)
		}
	}
	return bucketValue(maxB)
}
