package broker

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

// LimitExceededURI is the error a client gets for a request that would take
// it or its realm past a limit (retained topics or bytes, subscriptions or
// registrations per session).
const LimitExceededURI wamp.URI = "switchboard.error.limit_exceeded"

// ErrLimitExceeded is returned by Publish for a retained publication over a
// realm's limits.
var ErrLimitExceeded = errors.New("broker: limit exceeded")

// The limits, as named in metrics and logs.
const (
	LimitRetainedTopics          = "retained_topics"
	LimitRetainedBytes           = "retained_bytes"
	LimitSubscriptionsPerSession = "subscriptions_per_session"
	LimitRegistrationsPerSession = "registrations_per_session"
	// LimitClusterReads bounds the get_events of a node that read the
	// cluster's history at once (SetCluster's maxReads).
	LimitClusterReads = "cluster_reads"
)

// DefaultMaxClusterReads bounds the wamp.subscription.get_events a node
// reads from the cluster's history at once (each in a goroutine of its
// own) when SetCluster is given none; one more is answered
// switchboard.error.limit_exceeded at once.
const DefaultMaxClusterReads = 64

// Estimated sizes of decoded values (64-bit), for max_retained_bytes.
const (
	retainedOverhead          = 128 // the publication itself and its map entry
	scalarSize                = 16  // an interface holding a number, bool or nil
	stringHeader, sliceHeader = 16, 24
	mapHeader, mapEntry       = 48, 32
	// Values nested deeper than maxSizeDepth count deepValueSize each
	// (the decoders bound nesting well below).
	maxSizeDepth  = 64
	deepValueSize = 1 << 10
)

// limitError is a refusal over limit (its configured value max).
type limitError struct {
	limit string
	max   int
}

func (e *limitError) Error() string {
	return fmt.Sprintf("%s: %s limit of %d reached", ErrLimitExceeded.Error(), e.limit, e.max)
}

func (e *limitError) Unwrap() error { return ErrLimitExceeded }

// retain keeps p as the topic's retained event (WAMP event retention),
// replacing the previous one, unless the realm's retained topics or bytes
// would exceed their limits.
func (b *Broker) retain(r *realm, p *publication) error {
	size := retainedSize(p)
	r.retainMu.Lock()
	if r.retainedAt == nil {
		r.retainedAt = map[string]int32{}
	}
	at, replacing := r.retainedAt[p.topic]
	topics, bytes := len(r.retained), r.retainedBytes+size
	if replacing {
		bytes -= r.retained[at].size
	} else {
		topics++
	}
	var err error
	switch {
	case r.maxRetainedTopics > 0 && topics > r.maxRetainedTopics:
		err = &limitError{limit: LimitRetainedTopics, max: r.maxRetainedTopics}
	case r.maxRetainedBytes > 0 && bytes > r.maxRetainedBytes:
		err = &limitError{limit: LimitRetainedBytes, max: r.maxRetainedBytes}
	case topics > math.MaxInt32:
		err = &limitError{limit: LimitRetainedTopics, max: math.MaxInt32}
	case replacing:
		r.retained[at] = retainedEvent{pub: *p, size: size, at: time.Now().UnixNano()}
		r.retainedBytes = bytes
	default:
		r.retainedAt[p.topic] = int32(len(r.retained)) //nolint:gosec // below MaxInt32, checked above
		r.retained = append(r.retained, retainedEvent{pub: *p, size: size, at: time.Now().UnixNano()})
		r.retainedBytes = bytes
		r.retainedTopics.add(p.topic)
	}
	r.retainMu.Unlock()
	if err == nil && b.obs != nil {
		b.obs.Retained(r.name, topics, bytes)
	}
	return err
}

// retainedEvent is a topic's retained publication and its estimated size.
// A realm keeps them by value in one slice, indexed by topic: with 100,000
// retained topics, 200,000 objects fewer for the garbage collector to mark
// on every cycle (every allocation of the process pays for that work).
type retainedEvent struct {
	pub  publication
	size int
	at   int64 // when it was retained here, Unix ns (against the cluster's, newer wins; no pointer for the GC)
}

// retainedEvent returns a copy of topic's retained publication and when it
// was retained. The caller holds r.retainMu.
func (r *realm) retainedEvent(topic string) (publication, time.Time, bool) {
	at, ok := r.retainedAt[topic]
	if !ok {
		return publication{}, time.Time{}, false
	}
	return r.retained[at].pub, time.Unix(0, r.retained[at].at), true
}

// retainedSize estimates the memory a retained publication holds.
func retainedSize(p *publication) int {
	return retainedOverhead + 2*len(p.topic) + valueSize(p.args, 0) + valueSize(p.kwargs, 0) + valueSize(p.ppt, 0)
}

// valueSize estimates the memory of a decoded payload value.
func valueSize(v any, depth int) int {
	if depth > maxSizeDepth {
		return deepValueSize
	}
	switch x := v.(type) {
	case nil:
		return scalarSize
	case string:
		return stringHeader + len(x)
	case []byte:
		return sliceHeader + len(x)
	case wamp.List:
		return listSize(x, depth)
	case []any:
		return listSize(x, depth)
	case wamp.Dict:
		return dictSize(x, depth)
	case map[string]any:
		return dictSize(x, depth)
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return scalarSize
	}
	// Other decoded shapes (maps with non-string keys, typed slices).
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		n := sliceHeader
		for i := range rv.Len() {
			n += valueSize(rv.Index(i).Interface(), depth+1)
		}
		return n
	case reflect.Map:
		n := mapHeader
		iter := rv.MapRange()
		for iter.Next() {
			n += mapEntry + valueSize(iter.Key().Interface(), depth+1) + valueSize(iter.Value().Interface(), depth+1)
		}
		return n
	case reflect.String:
		return stringHeader + rv.Len()
	}
	return scalarSize
}

func listSize(l []any, depth int) int {
	n := sliceHeader
	for _, e := range l {
		n += valueSize(e, depth+1)
	}
	return n
}

func dictSize(d map[string]any, depth int) int {
	n := mapHeader
	for k, e := range d {
		n += mapEntry + len(k) + valueSize(e, depth+1)
	}
	return n
}

// limitRefused logs and counts a refusal over a limit (err, a limitError);
// the caller answers the client.
func (b *Broker) limitRefused(r *realm, msg string, sessionID wamp.ID, authID string, err error) {
	var le *limitError
	if !errors.As(err, &le) {
		return
	}
	b.log.Warn(msg, "realm", r.name, "session_id", uint64(sessionID), "authid", authID, "limit", le.limit, "max", le.max)
	if b.obs != nil {
		b.obs.LimitExceeded(r.name, le.limit)
	}
}
