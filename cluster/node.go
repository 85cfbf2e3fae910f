package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/realms"
	"github.com/switchboard-wamp/switchboard/transport"
)

// Options configure a node's connection to the cluster.
type Options struct {
	// URL is the NATS server URL, or a comma-separated list of them.
	URL string
	// Node names this node (in NATS's connection name and logs).
	Node string
	// CredentialsFile is a NATS credentials (.creds) file; "" for none.
	CredentialsFile string
	// CAFile is a PEM file of CAs for a NATS server's TLS certificate; ""
	// for the system's.
	CAFile string
	// Deliver hands another node's publication to this node's broker.
	Deliver func(realm string, pub broker.RemotePublication) error
	Logger  *slog.Logger
	// Observer counts the node's cluster traffic; nil for none.
	Observer Observer
}

// Observer counts a node's cluster traffic (for metrics).
type Observer interface {
	// Sent and Received count publications sent to and received from the
	// cluster.
	Sent()
	Received()
	// Lost counts a publication that could not be sent or was dropped on
	// arrival, by reason (not_connected, too_large, slow_consumer,
	// undecodable, forged, ...).
	Lost(reason string)
	// Connected reports the NATS connection's state.
	Connected(bool)
	// Subjects reports how many NATS subscriptions the node holds.
	Subjects(n int)
}

// Node is this router's membership in the cluster; it implements
// broker.Cluster.
type Node struct {
	name    string
	nc      *nats.Conn
	log     *slog.Logger
	obs     Observer
	deliver func(string, broker.RemotePublication) error
	codec   serialize.MessagePackSerializer

	// in receives every subscription's messages, in the order NATS sent
	// them (one channel for all: a publication that several subjects
	// match arrives as consecutive copies, and order is kept).
	in chan *nats.Msg

	// Interest changes are applied by one goroutine, in order, without
	// blocking the broker.
	opsMu   sync.Mutex
	ops     []interestOp
	opsWake chan struct{}

	subs map[string]*natsInterest // by subject; only the ops goroutine

	members *membership
	queue   *inboxQueue

	rpcMu    sync.Mutex
	rpc      *rpcRouter              // nil until StartRPC
	js       jetstream.JetStream     // nil until StartHistory
	history  map[string]HistoryRealm // realms whose history is in JetStream
	retained map[string]bool         // realms whose retained events are in JetStream
	reads    chan struct{}           // the JetStream reads in progress (maxConcurrentReads)
	kv       jetstream.KeyValue      // registration claims; nil until StartRegistry

	done chan struct{}
	wg   sync.WaitGroup
}

var _ broker.Cluster = (*Node)(nil)

type interestOp struct {
	subject string
	on      bool
	barrier chan struct{} // InterestReady: closed when the ops before it are applied
}

type natsInterest struct {
	refs int
	sub  *nats.Subscription
}

// inboxSize is the capacity of the channel NATS hands messages to; a pump
// moves them at once into the byte-bounded queue (inboxBytes), which the
// delivery goroutine reads. What the node holds of other nodes'
// publications is at most inboxBytes plus inboxSize messages.
const (
	inboxSize  = 4096
	inboxBytes = 64 << 20
)

// Connect joins the cluster: it connects to NATS (failing if no server
// answers) and starts delivering other nodes' publications.
func Connect(opts Options) (*Node, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{name: opts.Node, log: log.With("node", opts.Node), obs: opts.Observer, deliver: opts.Deliver,
		in: make(chan *nats.Msg, inboxSize), opsWake: make(chan struct{}, 1),
		subs: map[string]*natsInterest{}, done: make(chan struct{}), reads: make(chan struct{}, maxConcurrentReads)}
	if n.obs == nil {
		n.obs = nopObserver{}
	}
	natsOpts := []nats.Option{
		nats.Name("switchboard " + opts.Node),
		nats.NoEcho(), // this node delivered its own publications already
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			n.obs.Connected(false)
			n.log.Warn("cluster: NATS connection lost; local delivery goes on", "error", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			n.obs.Connected(true)
			n.log.Info("cluster: NATS connection restored", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				n.obs.Lost("slow_consumer")
				n.log.Error("cluster: publications from other nodes dropped: this node is not keeping up", "error", err)
				return
			}
			n.log.Warn("cluster: NATS error", "error", err)
		}),
	}
	if opts.CredentialsFile != "" {
		natsOpts = append(natsOpts, nats.UserCredentials(opts.CredentialsFile))
	}
	if opts.CAFile != "" {
		natsOpts = append(natsOpts, nats.RootCAs(opts.CAFile))
	}
	nc, err := nats.Connect(opts.URL, natsOpts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to NATS at %s: %w", redactURLs(opts.URL), err)
	}
	n.nc = nc
	n.obs.Connected(true)
	if err := n.startMembership(); err != nil {
		nc.Close()
		return nil, err
	}
	n.queue = newInboxQueue(inboxBytes)
	n.wg.Add(3)
	go n.applyInterest()
	go n.pump()
	go n.receive()
	n.log.Info("cluster: joined", "server", nc.ConnectedUrlRedacted())
	return n, nil
}

// redactURLs removes credentials from NATS URLs for messages.
func redactURLs(urls string) string {
	var out []string
	for u := range strings.SplitSeq(urls, ",") {
		u = strings.TrimSpace(u)
		if at := strings.LastIndexByte(u, '@'); at >= 0 {
			if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
				u = u[:scheme+3] + "***@" + u[at+1:]
			}
		}
		out = append(out, u)
	}
	return strings.Join(out, ",")
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Ping checks the connection with a round trip to the NATS server.
func (n *Node) Ping(ctx context.Context) error {
	timeout := time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if err := n.nc.FlushTimeout(timeout); err != nil {
		return fmt.Errorf("cluster: NATS round trip: %w", err)
	}
	return nil
}

// Done is closed when the node leaves the cluster.
func (n *Node) Done() <-chan struct{} { return n.done }

// Close leaves the cluster.
func (n *Node) Close() {
	select {
	case <-n.done:
		return
	default:
	}
	n.rpcMu.Lock()
	rt := n.rpc
	n.rpcMu.Unlock()
	if rt != nil {
		rt.sayGoodbye() // the others let this node's registrations go now, not after nodeExpiry
	}
	close(n.done)
	n.nc.Close()
	n.wg.Wait()
}

// Interest implements broker.Cluster.
func (n *Node) Interest(realm string, p realms.Pattern, on bool) {
	n.opsMu.Lock()
	for _, subject := range interestSubjects(realm, p) {
		n.ops = append(n.ops, interestOp{subject: boundedInterest(subject), on: on})
	}
	n.opsMu.Unlock()
	select {
	case n.opsWake <- struct{}{}:
	default:
	}
}

// applyInterest subscribes to and unsubscribes from NATS subjects as the
// broker's subscriptions come and go, counting references per subject.
func (n *Node) applyInterest() {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case <-n.opsWake:
		}
		n.opsMu.Lock()
		ops := n.ops
		n.ops = nil
		n.opsMu.Unlock()
		for _, op := range ops {
			if op.barrier != nil {
				close(op.barrier)
				continue
			}
			n.apply(op)
		}
		n.obs.Subjects(len(n.subs))
	}
}

func (n *Node) apply(op interestOp) {
	in := n.subs[op.subject]
	if !op.on {
		if in == nil {
			return
		}
		if in.refs--; in.refs > 0 {
			return
		}
		delete(n.subs, op.subject)
		if err := in.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			n.log.Warn("cluster: unsubscribe", "subject", op.subject, "error", err)
		}
		return
	}
	if in != nil {
		in.refs++
		return
	}
	sub, err := n.nc.ChanSubscribe(op.subject, n.in)
	if err != nil {
		n.log.Error("cluster: subscribe: other nodes' publications will not arrive", "subject", op.subject, "error", err)
		return
	}
	// The shared channel is the bound; NATS's own per-subscription limit
	// must not drop before it.
	_ = sub.SetPendingLimits(-1, -1)
	n.subs[op.subject] = &natsInterest{refs: 1, sub: sub}
}

// maxSubjectLength bounds the subjects the node publishes and subscribes
// to: a NATS server closes a connection that sends a protocol line over
// its max_control_line (4 KiB by default), and the client does not
// reconnect. An escaped topic takes up to three times its length.
const maxSubjectLength = 4000

// boundedInterest returns subject, or for one over maxSubjectLength the
// enclosing subject of its leading tokens that fit, then '>': it receives
// more than asked for, and the broker delivers by topic.
func boundedInterest(subject string) string {
	if len(subject) <= maxSubjectLength {
		return subject
	}
	return subject[:strings.LastIndexByte(subject[:maxSubjectLength-1], '.')] + ".>"
}

// Forward implements broker.Cluster: one NATS message per publication.
func (n *Node) Forward(realm string, pub broker.RemotePublication) error {
	if !n.nc.IsConnected() {
		n.obs.Lost("not_connected")
		return errors.New("not connected to NATS")
	}
	data, err := n.encode(realm, pub)
	if err != nil {
		n.obs.Lost("unencodable")
		return err
	}
	subject := topicSubject(realm, pub.Topic)
	if len(subject) > maxSubjectLength {
		n.obs.Lost("too_long")
		return fmt.Errorf("topic of %d bytes: its NATS subject exceeds %d bytes", len(pub.Topic), maxSubjectLength)
	}
	if err := n.nc.Publish(subject, data); err != nil {
		reason := "publish_failed"
		if errors.Is(err, nats.ErrMaxPayload) {
			reason = "too_large"
		}
		n.obs.Lost(reason)
		return fmt.Errorf("publish to NATS: %w", err)
	}
	if retain, _ := pub.Options["retain"].(bool); retain {
		if err := n.forwardRetained(realm, pub.Topic, data); err != nil {
			n.obs.Lost("retained_not_kept")
			return fmt.Errorf("keep the retained publication in JetStream: %w", err)
		}
	}
	n.obs.Sent()
	return nil
}

// Keys of the cluster's own options in a forwarded PUBLISH.
const (
	optRealm     = "_sb_realm"
	optPublisher = "_sb_publisher"
	optDisclose  = "_sb_disclose"
)

// encode packs a publication as a MessagePack PUBLISH (binary payloads
// survive): the publication ID as its request, the cluster's own keys and
// the forwarded options as its options.
func (n *Node) encode(realm string, pub broker.RemotePublication) ([]byte, error) {
	opts := wamp.Dict{optRealm: realm}
	for k, v := range pub.Options {
		opts[k] = v
	}
	if pub.Publisher != nil {
		opts[optPublisher] = wamp.List{pub.Publisher.Session, pub.Publisher.AuthID, pub.Publisher.AuthRole}
	}
	if pub.Disclose {
		opts[optDisclose] = true
	}
	return n.codec.Serialize(&wamp.Publish{Request: pub.ID, Options: opts, Topic: wamp.URI(pub.Topic),
		Arguments: pub.Args, ArgumentsKw: pub.Kwargs})
}

// maxNodeNesting bounds how deeply what other nodes send may nest: the
// deepest a client's message may be on any node (limits.max_nesting_depth
// is at most config.MaxNestingDepthCeiling), plus 8 levels of a node's own wrapping (options,
// snapshots of registrations). The same on every node, whatever its
// limits: nodes in the middle of a change of limits still understand each
// other.
const maxNodeNesting = config.MaxNestingDepthCeiling + 8

// decodeMessage decodes a WAMP message another node sent, once its nesting
// is within bounds: the decoder recurses per level, and a message nested a
// million deep (from a NATS account shared with something else) would
// exhaust the stack. Its size is bounded by NATS's max_payload.
func (n *Node) decodeMessage(data []byte) (wamp.Message, error) {
	if err := checkFromNode(data); err != nil {
		return nil, err
	}
	return n.codec.Deserialize(data)
}

func checkFromNode(data []byte) error {
	if err := transport.CheckNesting("msgpack", data, maxNodeNesting, 0); err != nil {
		return fmt.Errorf("cluster message: %w", err)
	}
	return nil
}

// decodeItem decodes a value another node sent (a snapshot, a claim) into
// v, within the nesting bound of decodeMessage.
func (n *Node) decodeItem(data []byte, v *any) error {
	if err := checkFromNode(data); err != nil {
		return err
	}
	return n.codec.DeserializeDataItem(data, v)
}

func (n *Node) decode(data []byte) (string, broker.RemotePublication, error) {
	msg, err := n.decodeMessage(data)
	if err != nil {
		return "", broker.RemotePublication{}, err
	}
	m, ok := msg.(*wamp.Publish)
	if !ok {
		return "", broker.RemotePublication{}, fmt.Errorf("unexpected %s", msg.MessageType())
	}
	realm, _ := wamp.AsString(m.Options[optRealm])
	pub := broker.RemotePublication{ID: m.Request, Topic: string(m.Topic), Args: m.Arguments, Kwargs: m.ArgumentsKw}
	pub.Disclose, _ = m.Options[optDisclose].(bool)
	if p, ok := wamp.AsList(m.Options[optPublisher]); ok && len(p) == 3 {
		id, _ := wamp.AsID(p[0])
		authID, _ := wamp.AsString(p[1])
		authRole, _ := wamp.AsString(p[2])
		pub.Publisher = &broker.RemotePublisher{Session: id, AuthID: authID, AuthRole: authRole}
	}
	for k, v := range m.Options {
		if !strings.HasPrefix(k, "_sb_") {
			if pub.Options == nil {
				pub.Options = wamp.Dict{}
			}
			pub.Options[k] = v
		}
	}
	return realm, pub, nil
}

// receive delivers other nodes' publications in the order they arrive,
// each once.
// pump moves what NATS delivers into the byte-bounded queue, in order;
// past its bound a publication is dropped, counted and logged.
func (n *Node) pump() {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			n.queue.close()
			return
		case msg := <-n.in:
			if !n.queue.push(msg) {
				n.obs.Lost("slow_consumer")
				n.log.Error("cluster: a publication from another node dropped: this node is not keeping up",
					"queued_bytes", n.queue.size(), "max_bytes", inboxBytes)
			}
		}
	}
}

func (n *Node) receive() {
	defer n.wg.Done()
	seen := newRecent(dedupWindow)
	for {
		msg, ok := n.queue.pop()
		if !ok {
			return
		}
		realm, pub, err := n.decode(msg.Data)
		if err != nil {
			n.obs.Lost("undecodable")
			n.log.Error("cluster: undecodable publication", "subject", msg.Subject, "error", err)
			continue
		}
		// The realm and topic are the payload's: a message whose
		// subject is not theirs (a NATS user allowed one realm's
		// subjects, another client of the account) is not another
		// node's. The router's own wamp.* events travel in their own
		// subject space (switchboard.sys.>), which NATS permissions
		// can keep to the nodes (docs/cluster.md).
		if msg.Subject != topicSubject(realm, pub.Topic) {
			n.obs.Lost("forged")
			n.log.Warn("cluster: publication refused: its realm and topic do not match its subject",
				"subject", msg.Subject, "realm", realm)
			continue
		}
		if !seen.add(pub.ID) {
			continue // a second subject of this node matched it
		}
		n.obs.Received()
		if err := n.deliver(realm, pub); err != nil {
			n.obs.Lost("undeliverable")
			n.log.Error("cluster: publication not delivered", "realm", realm, "topic", pub.Topic, "error", err)
		}
	}
}

// dedupWindow is how many recent publication IDs are remembered: copies
// of one publication arrive back to back, so a small window suffices.
const dedupWindow = 4096

// recent remembers the last few IDs.
type recent struct {
	ring []wamp.ID
	next int
	set  map[wamp.ID]struct{}
}

func newRecent(n int) *recent {
	return &recent{ring: make([]wamp.ID, n), set: make(map[wamp.ID]struct{}, n)}
}

// add reports whether id is new, remembering it.
func (r *recent) add(id wamp.ID) bool {
	if _, ok := r.set[id]; ok {
		return false
	}
	if old := r.ring[r.next]; old != 0 {
		delete(r.set, old)
	}
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
	r.set[id] = struct{}{}
	return true
}

type nopObserver struct{}

func (nopObserver) Sent()          {}
func (nopObserver) Received()      {}
func (nopObserver) Lost(string)    {}
func (nopObserver) Connected(bool) {}
func (nopObserver) Subjects(int)   {}
