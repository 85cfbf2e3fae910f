package switchboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	nexus "github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
)

// Event is a received event.
type Event struct {
	Topic       string // the publication's topic (for pattern subscriptions too)
	Publication uint64
	Args        []any
	Kwargs      map[string]any
	Details     map[string]any
}

// Decode decodes the event's kwargs (or, if there are none, its first
// argument) into v, through JSON.
func (e Event) Decode(v any) error { return decode(e.Args, e.Kwargs, v) }

// Invocation is a call to a registered procedure.
type Invocation struct {
	Procedure string
	Args      []any
	Kwargs    map[string]any
	Details   map[string]any
}

// Decode decodes the call's kwargs (or first argument) into v.
func (i Invocation) Decode(v any) error { return decode(i.Args, i.Kwargs, v) }

// Result is a call's result.
type Result struct {
	Args   []any
	Kwargs map[string]any
}

// Decode decodes the result's kwargs (or first argument) into v.
func (r Result) Decode(v any) error { return decode(r.Args, r.Kwargs, v) }

// Handler answers invocations. Return an *RPCError to answer with a WAMP
// error URI; any other error is answered as wamp.error.runtime_error.
type Handler func(ctx context.Context, inv Invocation) (Result, error)

// RPCError is a WAMP error: from a callee, or from the router.
type RPCError struct {
	URI    string
	Args   []any
	Kwargs map[string]any
}

func (e *RPCError) Error() string {
	if len(e.Args) > 0 {
		return fmt.Sprintf("%s: %v", e.URI, e.Args[0])
	}
	return e.URI
}

func decode(args []any, kwargs map[string]any, v any) error {
	var src any = kwargs
	if len(kwargs) == 0 {
		if len(args) == 0 {
			return errors.New("switchboard: nothing to decode")
		}
		src = args[0]
	}
	b, err := json.Marshal(src)
	if err != nil {
		return fmt.Errorf("switchboard: decode: %w", err)
	}
	return json.Unmarshal(b, v)
}

func eventHandler(h func(Event)) nexus.EventHandler {
	return func(ev *wamp.Event) {
		topic, _ := wamp.AsString(ev.Details["topic"])
		h(Event{Topic: topic, Publication: uint64(ev.Publication), Args: ev.Arguments, Kwargs: ev.ArgumentsKw, Details: ev.Details})
	}
}

func invocationHandler(h Handler) nexus.InvocationHandler {
	return func(ctx context.Context, inv *wamp.Invocation) nexus.InvokeResult {
		proc, _ := wamp.AsString(inv.Details["procedure"])
		res, err := h(ctx, Invocation{Procedure: proc, Args: inv.Arguments, Kwargs: inv.ArgumentsKw, Details: inv.Details})
		if err != nil {
			var rpcErr *RPCError
			if errors.As(err, &rpcErr) {
				return nexus.InvokeResult{Err: wamp.URI(rpcErr.URI), Args: rpcErr.Args, Kwargs: rpcErr.Kwargs}
			}
			return nexus.InvokeResult{Err: "wamp.error.runtime_error", Args: wamp.List{err.Error()}}
		}
		return nexus.InvokeResult{Args: res.Args, Kwargs: res.Kwargs}
	}
}

// wrapErr turns nexus's errors into *RPCError.
func wrapErr(err error) error {
	var nerr nexus.RPCError
	if errors.As(err, &nerr) {
		return &RPCError{URI: string(nerr.Err.Error), Args: nerr.Err.Arguments, Kwargs: nerr.Err.ArgumentsKw}
	}
	return err
}

// Publish publishes without waiting for the router.
func (c *Client) Publish(topic string, args []any, kwargs map[string]any, options map[string]any) error {
	nc, err := c.session(context.Background())
	if err != nil {
		return err
	}
	return wrapErr(nc.Publish(topic, wamp.Dict(options), args, kwargs))
}

// PublishAck publishes and waits for the router's acknowledgement (or its
// error, such as wamp.error.not_authorized).
func (c *Client) PublishAck(ctx context.Context, topic string, args []any, kwargs map[string]any, options map[string]any) error {
	nc, err := c.session(ctx)
	if err != nil {
		return err
	}
	opts := wamp.Dict{}
	for k, v := range options {
		opts[k] = v
	}
	opts[wamp.OptAcknowledge] = true
	return wrapErr(nc.Publish(topic, opts, args, kwargs))
}

// Subscribe subscribes handler to topic; the subscription is restored after
// every reconnection. Handlers run one at a time, in order.
func (c *Client) Subscribe(topic string, handler func(Event), options map[string]any) error {
	nc, err := c.session(context.Background())
	if err != nil {
		return err
	}
	if err := nc.Subscribe(topic, eventHandler(handler), wamp.Dict(options)); err != nil {
		return wrapErr(err)
	}
	c.mu.Lock()
	c.subs[topic] = &subscription{handler: handler, options: wamp.Dict(options)}
	c.mu.Unlock()
	return nil
}

// SubscribeChan delivers topic's events on ch (blocking when ch is full).
func (c *Client) SubscribeChan(topic string, ch chan<- Event, options map[string]any) error {
	return c.Subscribe(topic, func(e Event) { ch <- e }, options)
}

// Unsubscribe ends a subscription.
func (c *Client) Unsubscribe(topic string) error {
	c.mu.Lock()
	delete(c.subs, topic)
	c.mu.Unlock()
	nc, err := c.session(context.Background())
	if err != nil {
		return err
	}
	return wrapErr(nc.Unsubscribe(topic))
}

// Register registers handler for procedure; restored after reconnections.
func (c *Client) Register(procedure string, handler Handler, options map[string]any) error {
	nc, err := c.session(context.Background())
	if err != nil {
		return err
	}
	if err := nc.Register(procedure, invocationHandler(handler), wamp.Dict(options)); err != nil {
		return wrapErr(err)
	}
	c.mu.Lock()
	c.regs[procedure] = &registration{handler: handler, options: wamp.Dict(options)}
	c.mu.Unlock()
	return nil
}

// CallOption changes a call.
type CallOption func(*callOptions)

type callOptions struct {
	options  wamp.Dict
	progress func(Result)
}

// WithProgress receives progressive results.
func WithProgress(f func(Result)) CallOption { return func(o *callOptions) { o.progress = f } }

// WithOptions sets CALL options ({"disclose_me": true}, ...).
func WithOptions(options map[string]any) CallOption {
	return func(o *callOptions) {
		for k, v := range options {
			o.options[k] = v
		}
	}
}

// Call calls procedure. ctx's deadline is the call's timeout; cancelling
// ctx cancels the call. WAMP errors are *RPCError; a call made while
// disconnected fails with ErrNotConnected (or waits, by option).
func (c *Client) Call(ctx context.Context, procedure string, args []any, kwargs map[string]any, opts ...CallOption) (Result, error) {
	o := callOptions{options: wamp.Dict{}}
	for _, opt := range opts {
		opt(&o)
	}
	nc, err := c.session(ctx)
	if err != nil {
		return Result{}, err
	}
	var progress nexus.ProgressHandler
	if o.progress != nil {
		progress = func(r *wamp.Result) { o.progress(Result{Args: r.Arguments, Kwargs: r.ArgumentsKw}) }
	}
	res, err := nc.Call(ctx, procedure, o.options, args, kwargs, progress)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("switchboard: call %s: %w", procedure, ctx.Err())
		}
		return Result{}, wrapErr(err)
	}
	return Result{Args: res.Arguments, Kwargs: res.ArgumentsKw}, nil
}

// SendProgress sends a progressive result from inside a Handler (ctx is
// the handler's); the caller receives it if it asked for progress.
func (c *Client) SendProgress(ctx context.Context, args []any, kwargs map[string]any) error {
	nc, err := c.session(ctx)
	if err != nil {
		return err
	}
	return wrapErr(nc.SendProgress(ctx, args, kwargs))
}
