// Package shardmap keeps a live copy of keyway's shard map in a Go application that routes by
// itself over HTTP (docs/clients.md "Go: the live shard map"): the Go port of ShardMapClient of
// keyway/client and of the Python keyway_client, the same REST contract (docs/api.md "Polling for
// changes").
//
// It learns S and every shard's owners from GET /v1/shardmap, polls GET /readyz (small, carries
// `version`) and fetches the map again only when the version changes, naming the held map's ETag
// in If-None-Match (a 304 keeps it). On a failure it keeps the last good map and reports a
// *KeywayError. A hot shard's requests are spread over its readers (Pick) as keyway's proxies
// spread them (docs/hot-shards.md). Standard library only.
package shardmap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The contract's defaults and limits, as in keyway/client and keyway_client (docs/clients.md).
const (
	// DefaultPollInterval is the wait between polls of /readyz.
	DefaultPollInterval = time.Second
	// DefaultTimeout is how long a request waits for keyway's answer, and then for each next
	// chunk of its body.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxBackoff is the longest wait between polls while they fail.
	DefaultMaxBackoff = 30 * time.Second
	// PollJitter: each wait is drawn within this fraction of it either way, so clients started
	// together (a rollout) do not poll, and fetch a new map, in step.
	PollJitter = 0.1
	// HeldMapGrace: a map older than the one in use (its versionSince earlier) is not taken while
	// a replica served the one in use within this long (or 10 polls, if longer): replicas at
	// different versions would otherwise flip the client between their maps poll after poll.
	HeldMapGrace = 30 * time.Second
	// RejectedMapRecheck: after this many 304s in a row to a refused map's tag with no replica
	// naming the held map, each fetch names the held map alone, so a change undone on the
	// replicas (v1, v2, v1 again) is taken.
	RejectedMapRecheck = 8
	// MaxRejectedTags is how many maps refused as older are named in If-None-Match beside the
	// held one (the latest).
	MaxRejectedTags = 4
	// MinTransferBytesPerS is the slowest steady rate a body with a Content-Length may arrive at
	// past MaxTransfer: clients fetching a new map at once share keyway's link, and cut together
	// they would refetch together.
	MinTransferBytesPerS = 16 * 1024
	// stallMin: a poll woken this late means the process did not run (paused, a throttled
	// cgroup); that time does not count toward HeldMapGrace.
	stallMin = time.Second
)

// The documented limits (docs/clients.md).
const (
	// MaxTransfer bounds one request in all (Timeout if longer, or the time a declared
	// Content-Length takes at MinTransferBytesPerS): a body that trickles in is cut there.
	MaxTransfer = 300 * time.Second
	// MaxConnectionReuse is the longest a connection to keyway is reused: the first request after
	// it sends Connection: close, so the next opens a new connection and resolves keyway's name
	// again (a DNS change; another replica behind a Service).
	MaxConnectionReuse = 300 * time.Second
	// MaxReadyzBytes bounds a /readyz answer (keyway's is a few hundred bytes): a wrong base URL
	// that streams without end costs at most this much memory.
	MaxReadyzBytes = 1 << 20
	// MaxShardMapBytes bounds a /v1/shardmap answer (keyway's at its work budget's edge is about
	// 29 MB).
	MaxShardMapBytes = 256 << 20
)

// The limits in force: the constants above, lowered by tests only.
var (
	maxTransfer              = MaxTransfer
	maxConnectionReuse       = MaxConnectionReuse
	maxReadyzBytes     int64 = MaxReadyzBytes
	maxShardMapBytes   int64 = MaxShardMapBytes
)

// Options configures a Client; the zero value of each field is its default.
type Options struct {
	// Token is the admin bearer token for a keyway run with --admin-token-file
	// (docs/security.md "The admin API"): one word of visible ASCII. Empty: none.
	Token string
	// PollInterval is the wait between polls of /readyz once Start returned; default 1 s.
	PollInterval time.Duration
	// Timeout bounds the wait for keyway's answer, then for each next chunk of its body; default 5 s.
	Timeout time.Duration
	// MaxBackoff caps the wait between polls while they fail (doubling from PollInterval); default
	// 30 s. A cap below PollInterval leaves the wait at PollInterval.
	MaxBackoff time.Duration
	// TLSConfig is used for an https base URL (nil: the system's roots).
	TLSConfig *tls.Config
	// OnUpdate is called with each new map after the first (the one Start waits for); OnError with
	// each failed poll or Refresh. Both run outside the client's locks, one call at a time, in
	// order, on the poll goroutine or the goroutine of Refresh; they may call Refresh. A panic in
	// one is the application's bug, not keyway's failure: it is recovered, the map stands,
	// polling goes on, and the first panic of each callback is logged.
	OnUpdate func(*Map)
	OnError  func(error)
	// Logger receives the callbacks' first panics; nil: slog.Default().
	Logger *slog.Logger
}

// Client is a live copy of keyway's shard map (docs/clients.md): New checks the options, Start
// fetches the first map and polls, Close stops. All methods are safe from any goroutine.
type Client struct {
	base         *url.URL
	pollInterval time.Duration
	timeout      time.Duration
	maxBackoff   time.Duration
	onUpdate     func(*Map)
	onError      func(error)
	logger       *slog.Logger
	http         *http.Client

	current atomic.Pointer[Map]
	token   atomic.Pointer[string]
	lastErr atomic.Pointer[KeywayError]

	// reqMu: one request at a time (a poll's or a Refresh's), and the polling state below.
	reqMu        reqLock
	failures     int
	heldSeenAt   time.Time
	rejectedTags []string
	rejectedHits int
	connSince    time.Time
	pollDue      time.Time // when the poll goroutine's next poll is due; zero when none is

	// Callbacks due, run after reqMu is released by whoever finds none running (in order).
	cbMu      sync.Mutex
	cbDue     []func()
	cbRunning bool
	warned    map[string]bool

	// inflight: cancel functions of the requests under way, ended by Close.
	stateMu  sync.Mutex
	inflight map[*int]context.CancelCauseFunc
	closed   bool
	started  bool
	stop     chan struct{}
	done     chan struct{}
	// pollGoroutine is the id of the poll goroutine (0 before it runs): Close called from a
	// callback on it must not wait for it, and Close from any other goroutine must.
	pollGoroutine atomic.Uint64
}

// testHookPollRegistered, when set (tests only), runs in a poll after its closed check and before
// its first request: where a Close used to find nothing to cancel.
var testHookPollRegistered func()

// testHookRefreshLocked, when set (tests only), runs in Refresh once it holds reqMu, before its
// request.
var testHookRefreshLocked func()

var (
	errClosed   = errors.New("the client was closed")
	errSilent   = errors.New("keyway was silent for the timeout")
	errTooLong  = errors.New("the transfer's bound in all")
	schemeStart = regexp.MustCompile(`(?i)^[a-z][a-z0-9+.-]*://`)
)

// New checks the options and returns a client that has no map yet and does not poll: Start
// fetches the first map and polls, Refresh fetches once. baseURL is keyway's REST base URL,
// http:// or https:// (a path prefix is kept), or a bare host:port that gets http:// as the CLI's
// --server does. A bad option is a *KeywayError BAD_ARGUMENT naming it (baseURL, Token,
// PollInterval, Timeout, MaxBackoff).
func New(baseURL string, opts Options) (*Client, error) {
	base, err := parseBase(baseURL)
	if err != nil {
		return nil, err
	}
	if err := checkToken(opts.Token); err != nil {
		return nil, err
	}
	durations := []struct {
		field string
		value *time.Duration
		def   time.Duration
	}{{"PollInterval", &opts.PollInterval, DefaultPollInterval}, {"Timeout", &opts.Timeout, DefaultTimeout}, {"MaxBackoff", &opts.MaxBackoff, DefaultMaxBackoff}}
	for _, d := range durations {
		if *d.value < 0 {
			return nil, badArgument(d.field, "must be a positive duration (0: the default, %s), got %s", d.def, *d.value)
		}
		if *d.value == 0 {
			*d.value = d.def
		}
	}
	c := &Client{
		base: base, pollInterval: opts.PollInterval, timeout: opts.Timeout, maxBackoff: opts.MaxBackoff,
		onUpdate: opts.OnUpdate, onError: opts.OnError, logger: opts.Logger,
		connSince: time.Now(), warned: map[string]bool{}, inflight: map[*int]context.CancelCauseFunc{},
		reqMu: make(reqLock, 1),
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	token := opts.Token
	c.token.Store(&token)
	transport := &http.Transport{
		Proxy:               nil, // no HTTP_PROXY, as the Python client: keyway is reached directly
		DialContext:         (&net.Dialer{Timeout: c.timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     opts.TLSConfig,
		TLSHandshakeTimeout: c.timeout,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true, // also with a TLSConfig of the application's
	}
	c.http = &http.Client{
		Transport: transport,
		// No redirect is followed (the Python client's rule): the token would go wherever it points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// Start fetches the first map (bounded by ctx as well as Timeout) and then polls /readyz on a
// goroutine of its own until Close; ctx does not bound the polling. It returns the error of the
// first fetch (KEYWAY_UNAVAILABLE, or keyway's own code such as SOURCE_UNAVAILABLE or
// UNAUTHENTICATED), and then nothing runs; Start may be called again. Start on a client already
// started is BAD_ARGUMENT, after Close KEYWAY_UNAVAILABLE.
func (c *Client) Start(ctx context.Context) error {
	c.stateMu.Lock()
	if c.closed {
		c.stateMu.Unlock()
		return newError(CodeKeywayUnavailable, "GET %s: the client was closed", c.urlOf("v1/shardmap"))
	}
	if c.started {
		c.stateMu.Unlock()
		return badArgument("Start", "the client is already started")
	}
	c.started = true
	c.stateMu.Unlock()
	if _, err := c.Refresh(ctx); err != nil {
		c.stateMu.Lock()
		c.started = false
		c.stateMu.Unlock()
		return err
	}
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.closed {
		return newError(CodeKeywayUnavailable, "GET %s: the client was closed", c.urlOf("v1/shardmap"))
	}
	c.stop = make(chan struct{})
	c.done = make(chan struct{})
	go c.run(c.stop, c.done)
	return nil
}

// Close stops polling and ends the requests in flight and those about to start (a poll's; a
// Refresh called before Close, even one waiting for its turn, returns KEYWAY_UNAVAILABLE "the
// client was closed"; OnError is not called), then waits for the poll goroutine to end, unless it
// is called from a callback on that goroutine, and closes the idle connection to keyway, so
// nothing of the client is left running. It never waits for keyway's answer, nor for the turn of
// a Refresh called after Close. The map in hand stays readable; a later Refresh still fetches.
// Close may be called more than once.
func (c *Client) Close() {
	c.stateMu.Lock()
	c.closed = true
	for _, cancel := range c.inflight {
		cancel(errClosed)
	}
	stop, done := c.stop, c.done
	c.stop = nil
	c.stateMu.Unlock()
	// An idle kept-alive connection keeps goroutines and a socket; a later Refresh opens a new one.
	c.http.CloseIdleConnections()
	if stop != nil {
		close(stop)
		if goroutineID() != c.pollGoroutine.Load() {
			<-done
		}
	}
}

// Map is the map in use, nil before the first. It never changes: a new map from keyway is a new
// *Map, so hold one for the requests that must see one map.
func (c *Client) Map() *Map { return c.current.Load() }

// Version is the version of the map in use, "" before the first.
func (c *Client) Version() string {
	if m := c.current.Load(); m != nil {
		return m.version
	}
	return ""
}

// LastError is the error of the latest poll or Refresh, nil after the next success.
func (c *Client) LastError() error {
	if e := c.lastErr.Load(); e != nil {
		return e
	}
	return nil
}

// Owners are the owners of key's shard, primary first (Map.Owners); SOURCE_UNAVAILABLE before
// the first map.
func (c *Client) Owners(key string) ([]Owner, error) {
	m, err := c.held()
	if err != nil {
		return nil, err
	}
	return m.Owners(key), nil
}

// Readers is Map.Readers of the map in use; SOURCE_UNAVAILABLE before the first map.
func (c *Client) Readers(key string) (int, error) {
	m, err := c.held()
	if err != nil {
		return 0, err
	}
	return m.Readers(key), nil
}

// Pick is the owner to send a request for key to (Map.Pick): route with it, not Owners(key)[0],
// so a hot shard's requests are spread over its readers. SOURCE_UNAVAILABLE before the first map;
// NOT_FOUND when the key's shard has no owner.
func (c *Client) Pick(key string) (Owner, error) {
	m, err := c.held()
	if err != nil {
		return Owner{}, err
	}
	shard := m.ShardFor(key)
	o, ok := m.pickOf(shard, rand.Float64)
	if !ok {
		return Owner{}, newError(CodeNotFound, "shard %d has no owner in keyway's map %s", shard, m.version)
	}
	return o, nil
}

func (c *Client) held() (*Map, error) {
	if m := c.current.Load(); m != nil {
		return m, nil
	}
	return nil, newError(CodeSourceUnavailable, "no shard map yet from keyway at %s", c.base)
}

// SetToken replaces the admin token ("" sends none) for every request that starts from now on,
// polls included, so an application takes a rotated token without a new client. A request in
// flight keeps the token it was sent with; if keyway refuses it (401), it is sent again once with
// the new one. It sends no request. A bad token is BAD_ARGUMENT (field Token); the one in use is
// then kept.
func (c *Client) SetToken(token string) error {
	if err := checkToken(token); err != nil {
		return err
	}
	c.token.Store(&token)
	return nil
}

// Refresh fetches GET /v1/shardmap now (bounded by ctx as well as Timeout) and uses it; true when
// the version in use changed. The answer comes from a request started at or after the call (calls
// from several goroutines take turns, a poll's among them; ctx bounds the wait for its turn too). On failure the last good map stays in use; a Refresh ended
// by ctx returns an error that wraps ctx's, and reports nothing to OnError.
func (c *Client) Refresh(ctx context.Context) (bool, error) {
	before := c.Version()
	// Tracked from the call on, not only once its request starts: a Close while it waits for its
	// turn or prepares its request ends it too ("a Refresh under way"), and one called after
	// Close still fetches.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	untrack, _ := c.track(cancel, false)
	defer untrack()
	// Its turn is waited for under ctx too: the request before it may take up to Timeout, or
	// MaxTransfer for a body that trickles in, and that request may be one Close does not end (a
	// Refresh called after Close).
	if !c.reqMu.lockUnless(ctx.Done()) {
		return c.Version() != before, c.fail(c.endedError("v1/shardmap", context.Cause(ctx)))
	}
	if testHookRefreshLocked != nil {
		testHookRefreshLocked()
	}
	err := c.fetchMap(ctx)
	c.reqMu.Unlock()
	c.runCallbacks()
	return c.Version() != before, err
}

// run is the poll goroutine: it waits a jittered interval (longer while polls fail), then polls.
func (c *Client) run(stop, done chan struct{}) {
	defer close(done)
	c.pollGoroutine.Store(goroutineID())
	// Once stop is closed the goroutine no longer waits for reqMu: a Refresh holding it (one
	// called after Close, which Close does not end) would hold Close up for its whole request.
	// The pollDue it leaves is ignored once closed (discountStall).
	for {
		if !c.reqMu.lockUnless(stop) {
			return
		}
		delay := PollDelay(c.pollInterval, c.failures, c.maxBackoff, rand.Float64)
		c.pollDue = time.Now().Add(delay)
		c.reqMu.Unlock()
		timer := time.NewTimer(delay)
		select {
		case <-stop:
			timer.Stop()
			return
		case <-timer.C:
		}
		if !c.reqMu.lockUnless(stop) {
			return
		}
		c.discountStall()
		c.pollDue = time.Time{}
		c.poll(stop)
		c.reqMu.Unlock()
		c.runCallbacks()
	}
}

// poll is one poll: /readyz, then the map only if its version differs. Call with reqMu held.
func (c *Client) poll(stop chan struct{}) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	// The closed check and the registration of the poll's cancel are one step (track): a Close
	// between them would find nothing to cancel and wait for the poll's request, up to Timeout.
	// Now a Close either comes first (no request is made) or cancels this one.
	untrack, open := c.track(cancel, true)
	if !open {
		return
	}
	defer untrack()
	if testHookPollRegistered != nil {
		testHookPollRegistered()
	}
	ans, err := c.get(ctx, "readyz", []int{200, 503}, maxReadyzBytes, "")
	var version string
	if err == nil {
		version, err = readyzVersion(ans.body, c.urlOf("readyz"))
	}
	if err != nil {
		c.fail(err)
		c.failures++
		return
	}
	select {
	case <-stop:
		return // close() came during /readyz: the poll is dropped, as Close says
	default:
	}
	if m := c.current.Load(); m != nil && version == m.version {
		c.sawHeld()
		c.lastErr.Store(nil)
		c.failures = 0
		return
	}
	if c.fetchMap(ctx) != nil {
		c.failures++ // fetchMap reported it, and resets failures on success
	}
}

// fetchMap fetches the map with If-None-Match (the held map's tag, and those of maps refused as
// older while the hold lasts) and takes what it brings unless it is older than the held one
// (HeldMapGrace). Call with reqMu held.
func (c *Client) fetchMap(ctx context.Context) error {
	// A Refresh on another goroutine may run before the poll goroutine wakes after a pause.
	c.discountStall()
	held := c.current.Load()
	var rejected []string
	if held != nil && c.heldRecently() && c.rejectedHits < RejectedMapRecheck {
		rejected = c.rejectedTags
	}
	var tags []string
	if held != nil && held.etag != "" {
		tags = append(tags, held.etag)
	}
	tags = append(tags, rejected...)
	ans, err := c.get(ctx, "v1/shardmap", []int{200, 304}, maxShardMapBytes, strings.Join(tags, ", "))
	var next *Map
	if err == nil {
		if ans.status == 200 {
			next, err = decodeMap(ans.body, c.urlOf("v1/shardmap"), ans.etag)
		} else if held == nil {
			err = newError(CodeKeywayUnavailable, "GET %s answered 304 to a request that named no ETag: is it keyway's REST API?", c.urlOf("v1/shardmap"))
		}
	}
	if err != nil {
		return c.fail(err)
	}
	c.lastErr.Store(nil)
	c.failures = 0
	if next == nil {
		// A 304 says the held map only when it names it (or when only the held map was named).
		if len(rejected) == 0 || (ans.etag != "" && held.etag != "" && sameTag(ans.etag, held.etag)) {
			c.sawHeld()
		} else {
			c.rejectedHits++
		}
		return nil
	}
	if held != nil && next.version == held.version {
		c.sawHeld()
		return nil
	}
	if held != nil && next.since < held.since && c.heldRecently() { // false when either is NaN
		// A replica behind the one the client followed: keep the newer map, name this one's tag.
		if next.etag != "" {
			kept := []string{next.etag}
			for _, t := range c.rejectedTags {
				if !sameTag(t, next.etag) && len(kept) < MaxRejectedTags {
					kept = append(kept, t)
				}
			}
			c.rejectedTags = kept
		}
		return nil
	}
	c.current.Store(next)
	c.rejectedTags = nil
	c.sawHeld()
	if held != nil && c.onUpdate != nil && !c.isClosed() {
		c.queue("OnUpdate", func() { c.onUpdate(next) })
	}
	return nil
}

// discountStall: the poll is 1 s or more past its due time, so the process did not run meanwhile
// (paused, a throttled cgroup, a VM migrating) and heard from no replica; that time does not age
// the held map's hold, or the first replica behind reached after the pause would take the client
// back to an older map. Counted once, by whichever request runs first. Call with reqMu held.
func (c *Client) discountStall() {
	if c.pollDue.IsZero() {
		return
	}
	if c.isClosed() {
		// No poll is due any more: the poll goroutine ended without clearing it.
		c.pollDue = time.Time{}
		return
	}
	if late := time.Since(c.pollDue); late >= stallMin {
		c.heldSeenAt = minTime(time.Now(), c.heldSeenAt.Add(late))
		c.pollDue = time.Now() // counted: only time from here on is late again
	}
}

func (c *Client) sawHeld() {
	c.heldSeenAt = time.Now()
	c.rejectedHits = 0
}

func (c *Client) heldRecently() bool {
	return time.Since(c.heldSeenAt) < max(HeldMapGrace, 10*c.pollInterval)
}

// fail records err as the last error and queues OnError, unless the client was closed or the
// caller's context ended the request (neither is keyway's failure).
func (c *Client) fail(err error) error {
	var ke *KeywayError
	if !errors.As(err, &ke) {
		ke = &KeywayError{Code: CodeKeywayUnavailable, Message: fmt.Sprintf("keyway at %s: %v", c.base, err), Err: err}
	}
	if errors.Is(ke, errClosed) || errors.Is(ke, context.Canceled) || errors.Is(ke, context.DeadlineExceeded) {
		return ke
	}
	c.lastErr.Store(ke)
	if c.onError != nil && !c.isClosed() {
		c.queue("OnError", func() { c.onError(ke) })
	}
	return ke
}

// endedError is the error of a request to route ended by its context before it was sent: by Close
// (cause errClosed) or by the caller's context (wrapped, so errors.Is(err, context.Canceled)
// holds), as getOnce reports the same ends of a request under way.
func (c *Client) endedError(route string, cause error) *KeywayError {
	u := c.urlOf(route)
	if errors.Is(cause, errClosed) {
		return &KeywayError{Code: CodeKeywayUnavailable, Message: fmt.Sprintf("GET %s: the client was closed", u), Err: errClosed}
	}
	return &KeywayError{Code: CodeKeywayUnavailable, Message: fmt.Sprintf("GET %s: %v", u, cause), Err: cause}
}

// track adds cancel to the requests Close ends and returns the function that removes it. With
// onlyOpen it adds nothing to a closed client (open false), in one step with the check.
func (c *Client) track(cancel context.CancelCauseFunc, onlyOpen bool) (untrack func(), open bool) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if onlyOpen && c.closed {
		return func() {}, false
	}
	handle := new(int)
	c.inflight[handle] = cancel
	return func() {
		c.stateMu.Lock()
		delete(c.inflight, handle)
		c.stateMu.Unlock()
	}, true
}

// reqLock is a mutex (capacity 1) the poll goroutine can stop waiting for.
type reqLock chan struct{}

func (l reqLock) Lock()   { l <- struct{}{} }
func (l reqLock) Unlock() { <-l }

// lockUnless takes the lock, or gives up (false) once stop is closed.
func (l reqLock) lockUnless(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return false
	default:
	}
	select {
	case l <- struct{}{}:
		return true
	case <-stop:
		return false
	}
}

func (c *Client) isClosed() bool {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.closed
}

func (c *Client) queue(name string, fn func()) {
	c.cbMu.Lock()
	c.cbDue = append(c.cbDue, func() { c.callback(name, fn) })
	c.cbMu.Unlock()
}

// runCallbacks runs the callbacks due, outside reqMu, one at a time and in order: a goroutine that
// finds them running leaves them to it (a callback that calls Refresh queues its own behind).
func (c *Client) runCallbacks() {
	for {
		c.cbMu.Lock()
		if c.cbRunning || len(c.cbDue) == 0 {
			c.cbMu.Unlock()
			return
		}
		fn := c.cbDue[0]
		c.cbDue = c.cbDue[1:]
		c.cbRunning = true
		c.cbMu.Unlock()
		if !c.isClosed() {
			fn()
		}
		c.cbMu.Lock()
		c.cbRunning = false
		c.cbMu.Unlock()
	}
}

// callback runs a user callback; its panic is recovered and the first of each callback logged.
func (c *Client) callback(name string, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			c.cbMu.Lock()
			first := !c.warned[name]
			c.warned[name] = true
			c.cbMu.Unlock()
			if first {
				c.logger.Warn("keyway shardmap: "+name+" panicked (later panics of it are not logged)", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			}
		}
	}()
	fn()
}

// PollDelay is the wait before the next poll (the rule of pollDelay in keyway/client and
// poll_delay in keyway_client): interval doubled for each poll failed in a row up to maxBackoff
// (never below interval), then drawn within ±PollJitter with random in [0, 1); at least 1 ms, at
// most the longest time.Duration.
func PollDelay(interval time.Duration, failures int, maxBackoff time.Duration, random func() float64) time.Duration {
	limit := float64(max(interval, maxBackoff))
	base := min(limit, math.Ldexp(float64(interval), min(failures, 32)))
	wait := base * (1 + PollJitter*(2*random()-1))
	if wait >= math.MaxInt64 {
		// Past time.Duration's range (an interval or cap near math.MaxInt64, meant as "never"):
		// converted as is it would come out negative, and the client would poll every millisecond.
		return time.Duration(math.MaxInt64)
	}
	return max(time.Millisecond, time.Duration(wait))
}

// goroutineID is the calling goroutine's id, read from the header of its stack trace
// ("goroutine 18 [running]:"), the one identity Go exposes: Close must tell the poll goroutine
// (a callback calling Close, which cannot wait for itself) from any other goroutine (which must
// wait for it, even while it runs a callback). 0 if the header cannot be read.
func goroutineID() uint64 {
	var buf [64]byte
	header := strings.TrimPrefix(string(buf[:runtime.Stack(buf[:], false)]), "goroutine ")
	id, _ := strconv.ParseUint(header[:max(0, strings.IndexByte(header, ' '))], 10, 64)
	return id
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// sameTag is the weak comparison of two entity tags (RFC 9110 §8.8.3.2): a W/ prefix is ignored.
func sameTag(a, b string) bool {
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// parseBase is keyway's REST base URL: an http(s) URL, or a bare host:port that gets http://. A
// path prefix is kept (routes resolve below it); the query and fragment are dropped.
func parseBase(raw string) (*url.URL, error) {
	const example = "an http:// or https:// URL such as http://keyway:8080, or host:port"
	text := strings.TrimSpace(raw)
	if !schemeStart.MatchString(text) {
		text = "http://" + text
	}
	u, err := url.Parse(text)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, badArgument("baseURL", "must be %s, got %q", example, raw)
	}
	if u.User != nil {
		// Not quoted: the part before @ may be a password.
		return nil, badArgument("baseURL", "must not hold a user name or password (user:password@host): pass the admin token as Options.Token")
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawPath, u.RawQuery, u.Fragment, u.RawFragment = "", "", "", ""
	return u, nil
}

// checkToken holds the token to the rule of keyway's --admin-token-file: one word of visible
// ASCII. The error says where, never what the token is: it is a secret.
func checkToken(token string) error {
	for i, r := range token {
		if r < 0x21 || r > 0x7e {
			what := "not ASCII"
			switch {
			case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f':
				what = "white space"
			case r < 0x20 || (r >= 0x7f && r < 0xa0):
				what = "a control character"
			}
			return badArgument("Token", "must be one word of visible ASCII characters, as keyway's --admin-token-file holds; character %d is %s", len([]rune(token[:i]))+1, what)
		}
	}
	return nil
}

func (c *Client) urlOf(route string) string { return c.base.String() + route }
