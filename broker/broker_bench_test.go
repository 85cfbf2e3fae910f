package broker

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-wamp/switchboard/metrics"
	"github.com/switchboard-wamp/switchboard/realms"
	"github.com/switchboard-wamp/switchboard/transport"
)

// countingConn stands in for a subscriber's connection in micro-benchmarks:
// it counts the frames the broker queues (the real transport is exercised by
// the router tests and switchboard-bench).
type countingConn struct {
	name   string
	codec  serialize.Serializer
	frames atomic.Int64
	bytes  atomic.Int64
}

func (c *countingConn) SerializerName() string      { return c.name }
func (c *countingConn) Codec() serialize.Serializer { return c.codec }
func (c *countingConn) EnqueueFrame(b []byte) bool {
	c.frames.Add(1)
	c.bytes.Add(int64(len(b)))
	return true
}

func (c *countingConn) EnqueueFrameNow(b []byte) bool { return c.EnqueueFrame(b) }

// eventsQueued counts the EVENTs queued on subscribers' conns (each
// conn's frames but its SUBSCRIBED).
func eventsQueued(conns []*countingConn) int64 {
	var n int64
	for _, c := range conns {
		n += c.frames.Load() - 1
	}
	return n
}

func newConn(name string) *countingConn {
	switch name {
	case "msgpack":
		return &countingConn{name: name, codec: &serialize.MessagePackSerializer{}}
	case "cbor":
		return &countingConn{name: name, codec: &serialize.CBORSerializer{}}
	}
	return &countingConn{name: name, codec: transport.NewJSONCodec()} // as the router's peers
}

// metricsObserver counts like the router's observer: one add per
// publication and per delivered batch, on counters resolved beforehand.
type metricsObserver struct {
	published, delivered, events prometheus.Counter
	sent                         *metrics.MessageCounters
}

func newMetricsObserver(b *testing.B) *metricsObserver {
	m, err := metrics.New(prometheus.NewRegistry(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	return &metricsObserver{
		published: m.EventsPublished.WithLabelValues("realm1"), delivered: m.EventsDelivered.WithLabelValues("realm1"),
		events: m.MessagesSent.WithLabelValues("EVENT"), sent: metrics.Counters(m.MessagesSent),
	}
}

func (o *metricsObserver) Published(string) { o.published.Inc() }
func (o *metricsObserver) Delivered(_ string, n int) {
	o.delivered.Add(float64(n))
	o.events.Add(float64(n))
}
func (o *metricsObserver) Sent(t wamp.MessageType)       { o.sent.Add(t, 1) }
func (o *metricsObserver) LimitExceeded(string, string)  {}
func (o *metricsObserver) Retained(string, int, int)     {}
func (o *metricsObserver) History(string, int, int, int) {}

func benchBroker(b *testing.B, subscribers int, serializer string, obs Observer) (*Broker, *Session, []*countingConn) {
	authz := realms.NewAuthorizer([]realms.Role{{Name: "anonymous", Permissions: []realms.Permission{
		{URI: "", Match: realms.MatchPrefix, Allow: realms.Actions{Publish: true, Subscribe: true}},
	}}})
	br := New([]Realm{{Name: "realm1", Authorizer: authz}}, nil, obs)
	hello := &wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{"subscriber": wamp.Dict{}}}}
	join := func(c *countingConn, id int) *Session {
		return br.Join(c, hello, &wamp.Welcome{ID: wamp.ID(id), Details: wamp.Dict{"authid": fmt.Sprint(id), "authrole": "anonymous"}})
	}
	conns := make([]*countingConn, subscribers)
	for i := range conns {
		conns[i] = newConn(serializer)
		s := join(conns[i], i+1)
		s.Handle(&wamp.Subscribe{Request: 1, Topic: "bench.topic", Options: wamp.Dict{}})
	}
	pub := join(newConn(serializer), subscribers+1)
	return br, pub, conns
}

// BenchmarkFanOut measures one publication delivered to N subscribers:
//
//   - impl=broker: the broker's whole PUBLISH path (permission check,
//     matching, filters, one encoding per subscription and serializer, N
//     frames queued);
//   - impl=broker+metrics: the same with Prometheus counting on, as the
//     router runs it (its cost must stay under 3%);
//   - impl=per-subscriber: the baseline the broker avoids, as nexus v3.3.0
//     does it: a fresh EVENT encoded for every subscriber.
//
// Compare them with: go test -run XXX -bench FanOut -count 6 ./broker | benchstat -col /impl -
func BenchmarkFanOut(b *testing.B) {
	args := wamp.List{1, "payload of a typical event", 3.5}
	kwargs := wamp.Dict{"k": "v"}
	for _, n := range []int{1, 100, 1000} {
		for _, ser := range []string{"json", "msgpack"} {
			for _, withMetrics := range []bool{false, true} {
				impl := "broker"
				if withMetrics {
					impl = "broker+metrics"
				}
				b.Run(fmt.Sprintf("N=%d/%s/impl=%s", n, ser, impl), func(b *testing.B) {
					var obs Observer
					if withMetrics {
						obs = newMetricsObserver(b)
					}
					_, pub, conns := benchBroker(b, n, ser, obs)
					msg := &wamp.Publish{Request: 2, Topic: "bench.topic", Options: wamp.Dict{}, Arguments: args, ArgumentsKw: kwargs}
					b.ReportAllocs()
					for b.Loop() {
						pub.Handle(msg)
					}
					frames := eventsQueued(conns)
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/delivery")
					b.ReportMetric(float64(int64(b.N)*int64(n)-frames), "lost/op")
				})
			}
			b.Run(fmt.Sprintf("N=%d/%s/impl=per-subscriber", n, ser), func(b *testing.B) {
				conns := make([]*countingConn, n)
				for i := range conns {
					conns[i] = newConn(ser)
				}
				b.ReportAllocs()
				for b.Loop() {
					for _, c := range conns {
						ev := &wamp.Event{Subscription: 1, Publication: 2, Details: wamp.Dict{}, Arguments: args, ArgumentsKw: kwargs}
						frame, err := c.codec.Serialize(ev)
						if err != nil {
							b.Fatal(err)
						}
						c.EnqueueFrame(frame)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*int64(n)), "ns/delivery")
				b.ReportMetric(0, "lost/op")
			})
		}
	}
}

// BenchmarkPublishParallel: publishers, each its own session (as each
// client's reader goroutine publishes in the router), publish to one hot
// topic with 10 subscribers. Nothing serializes a realm's publications
// through one goroutine: compare -cpu 1 and -cpu 2,
//
//	go test -run XXX -bench PublishParallel -cpu 1,2 -count 6 ./broker | benchstat -col /cpu -
func BenchmarkPublishParallel(b *testing.B) {
	br, _, conns := benchBroker(b, 10, "json", nil)
	hello := &wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{"publisher": wamp.Dict{}}}}
	var ids atomic.Int64
	ids.Store(1000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		id := ids.Add(1)
		pub := br.Join(newConn("json"), hello, &wamp.Welcome{ID: wamp.ID(id), Details: wamp.Dict{"authid": fmt.Sprint(id), "authrole": "anonymous"}})
		msg := &wamp.Publish{Request: 2, Topic: "bench.topic", Options: wamp.Dict{}, Arguments: wamp.List{id, "payload"}}
		for pb.Next() {
			pub.Handle(msg)
		}
	})
	if frames := eventsQueued(conns); frames != int64(b.N)*10 {
		b.Fatalf("%d frames delivered for %d publications to 10 subscribers", frames, b.N)
	}
}
