package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-wamp/switchboard/broker"
)

// The JetStream plumbing the retained events and the event history share:
// keeping a realm's stream (created, or widened to this node's
// configuration) and reading one subject of it.

// keepStreams creates or widens each realm's stream (cfgs, by realm), and
// calls kept for each realm whose stream is in place; it returns the
// errors by realm (what of the realm's retained events or history, for the
// messages).
func (n *Node) keepStreams(ctx context.Context, cfgs map[string]jetstream.StreamConfig, what string, kept func(realm string)) map[string]error {
	errs := map[string]error{}
	js, err := jetstream.New(n.nc)
	if err != nil {
		for realm := range cfgs {
			errs[realm] = fmt.Errorf("cluster: JetStream: %w", err)
		}
		return errs
	}
	for realm, cfg := range cfgs {
		if err := n.ensureStream(ctx, js, cfg); err != nil {
			errs[realm] = fmt.Errorf("cluster: JetStream stream %s for the %s of realm %q: %w", cfg.Name, what, realm, err)
			continue
		}
		n.rpcMu.Lock()
		n.js = js
		kept(realm)
		n.rpcMu.Unlock()
		n.log.Info("cluster: "+what+" kept in JetStream", "realm", realm, "stream", cfg.Name, "replicas", cfg.Replicas)
	}
	return errs
}

// ensureStream creates the stream cfg names, or widens the one that
// exists to cover cfg too (its subjects and cfg's, the larger of each
// limit): never narrowed, so that a node with a smaller event_history does
// not cut what the others keep.
func (n *Node) ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	stream, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another node was quicker
			return n.ensureStream(ctx, js, cfg)
		}
		return err
	}
	if err != nil {
		return err
	}
	cur := stream.CachedInfo().Config
	wider := cur
	wider.Subjects = withoutCovered(append(slices.Clone(cur.Subjects), cfg.Subjects...))
	widerLimit := func(a, b int64) int64 {
		if a < 0 || b < 0 {
			return -1
		}
		return max(a, b)
	}
	wider.MaxMsgsPerSubject = widerLimit(cur.MaxMsgsPerSubject, cfg.MaxMsgsPerSubject)
	wider.MaxMsgs = widerLimit(cur.MaxMsgs, cfg.MaxMsgs)
	wider.MaxBytes = widerLimit(cur.MaxBytes, cfg.MaxBytes)
	wider.Replicas = max(cur.Replicas, cfg.Replicas)
	slices.Sort(wider.Subjects)
	curSubjects := slices.Sorted(slices.Values(cur.Subjects))
	if slices.Equal(wider.Subjects, curSubjects) && wider.MaxMsgsPerSubject == cur.MaxMsgsPerSubject &&
		wider.MaxMsgs == cur.MaxMsgs && wider.MaxBytes == cur.MaxBytes && wider.Replicas == cur.Replicas {
		return nil
	}
	if _, err := js.UpdateStream(ctx, wider); err != nil {
		return err
	}
	n.log.Info("cluster: JetStream stream widened to this node's configuration", "stream", cfg.Name,
		"subjects", wider.Subjects, "max_msgs_per_subject", wider.MaxMsgsPerSubject, "max_bytes", wider.MaxBytes)
	return nil
}

// PermanentJetStreamError reports whether err is one that trying again
// will not mend: JetStream refused the request itself (replicas over the
// servers, subjects another stream has, resources it does not have).
func PermanentJetStreamError(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case 10074, // replicas > 1 not supported in non-clustered mode
		10065, // subjects overlap with an existing stream
		10023: // insufficient resources
		return true
	}
	return apiErr.Code >= 400 && apiErr.Code < 500
}

// NoJetStream reports whether err from StartHistory says that the NATS
// servers have no JetStream (rather than that it is not ready yet): no
// server answers JetStream's API, or one says it is not enabled.
func NoJetStream(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount)
}

// readStream reads the messages of stream on subject (from policy's start:
// all of them, or each subject's last), at most limit, within one of the
// node's concurrent reads, and hands f each publication of realm that
// arrived on the subject its topic maps to (subjectOf); anything else in
// the stream is skipped.
func (n *Node) readStream(ctx context.Context, realm, stream, subject string, policy jetstream.DeliverPolicy, limit int,
	subjectOf func(topic string) string, f func(pub broker.RemotePublication, at time.Time)) error {
	n.rpcMu.Lock()
	js := n.js
	n.rpcMu.Unlock()
	if js == nil {
		return errors.New("no JetStream")
	}
	release, err := n.acquireRead(ctx)
	if err != nil {
		return err
	}
	defer release()
	cons, done, err := readConsumer(ctx, js, stream, subject, policy)
	if err != nil {
		return err
	}
	defer done()
	skipped := 0
	err = readAll(ctx, cons, limit, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) {
		msgRealm, pub, err := n.decode(msg.Data())
		if err != nil || msgRealm != realm || msg.Subject() != subjectOf(pub.Topic) {
			skipped++ // not a node's: another writer on the stream's subjects
			n.obs.Lost("undecodable")
			return
		}
		f(pub, meta.Timestamp)
	})
	if skipped > 0 {
		n.log.Warn("cluster: stream entries that no node wrote were skipped", "stream", stream, "skipped", skipped)
	}
	return err
}

// readConsumer creates a consumer that reads stream's messages on
// subject once (no acks, in memory, one replica), and a function that
// deletes it.
func readConsumer(ctx context.Context, js jetstream.JetStream, stream, subject string, policy jetstream.DeliverPolicy) (jetstream.Consumer, func(), error) {
	cfg := jetstream.ConsumerConfig{
		FilterSubjects:    []string{subject},
		DeliverPolicy:     policy,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: 10 * time.Second, // if the delete below is lost
		MemoryStorage:     true,
		Replicas:          1,
	}
	var cons jetstream.Consumer
	var err error
	for {
		// A stream whose leader is changing answers nothing for a moment:
		// try again within ctx.
		if cons, err = js.CreateConsumer(ctx, stream, cfg); err == nil || PermanentJetStreamError(err) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, nil, err
	}
	name := cons.CachedInfo().Name
	return cons, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = js.DeleteConsumer(ctx, stream, name)
	}, nil
}

// readAll hands f every message cons had pending when it was created, at
// most limit of them.
func readAll(ctx context.Context, cons jetstream.Consumer, limit int, f func(jetstream.Msg, *jetstream.MsgMetadata)) error {
	pending := cons.CachedInfo().NumPending
	if pending > uint64(limit) { //nolint:gosec // limit > 0
		return fmt.Errorf("%d messages to read, over the bound of %d", pending, limit)
	}
	want, read := int(pending), 0 //nolint:gosec // at most limit
	for read < want {
		wait := time.Second
		if d, ok := ctx.Deadline(); ok {
			wait = max(time.Until(d), time.Millisecond)
		}
		batch, err := cons.Fetch(min(256, want-read), jetstream.FetchMaxWait(wait))
		if err != nil {
			// A consumer just created may not answer for a moment (its
			// server is still placing it): try again within ctx.
			if !PermanentJetStreamError(err) && ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			return err
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			read++
			meta, err := msg.Metadata()
			if err != nil {
				continue
			}
			f(msg, meta)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
			if got == 0 && !PermanentJetStreamError(err) && ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return err
		}
		if got == 0 { // nothing within the wait: the deadline passed
			if err := ctx.Err(); err != nil {
				return err
			}
			return fmt.Errorf("%d of %d messages read before the wait ended", read, want)
		}
	}
	return nil
}

// maxConcurrentReads bounds the JetStream reads (get_events, get_retained)
// a node runs at once; more wait, within their deadline.
const maxConcurrentReads = 16

// acquireRead takes one of the node's concurrent JetStream reads, or fails
// when ctx ends first.
func (n *Node) acquireRead(ctx context.Context) (func(), error) {
	select {
	case n.reads <- struct{}{}:
		return func() { <-n.reads }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("too many reads of JetStream at once (%d): %w", maxConcurrentReads, ctx.Err())
	}
}
