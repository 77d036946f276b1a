package shardmap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// answer is a GET's status, body (none for a 304) and ETag.
type answer struct {
	status int
	body   []byte
	etag   string
}

// watchdog cancels a request when keyway is silent for the timeout (no answer, then no chunk of
// the body) and at the bound of the transfer in all.
type watchdog struct {
	mu      sync.Mutex
	silence *time.Timer
	total   *time.Timer
	timeout time.Duration
	cancel  context.CancelCauseFunc
	bound   time.Duration
	started time.Time
	stopped bool
}

func newWatchdog(timeout time.Duration, cancel context.CancelCauseFunc) *watchdog {
	w := &watchdog{timeout: timeout, cancel: cancel, bound: max(maxTransfer, timeout), started: time.Now()}
	w.silence = time.AfterFunc(timeout, func() { cancel(errSilent) })
	w.total = time.AfterFunc(w.bound, func() { cancel(errTooLong) })
	return w
}

// progressed: a chunk arrived, so keyway is not silent.
func (w *watchdog) progressed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.silence.Reset(w.timeout)
	}
}

// declared: a body of length bytes gets the time it takes at MinTransferBytesPerS, if longer.
func (w *watchdog) declared(length int64) {
	atFloor := time.Duration(float64(length) / MinTransferBytesPerS * float64(time.Second))
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || atFloor <= w.bound {
		return
	}
	w.bound = atFloor
	w.total.Reset(max(time.Millisecond, atFloor-time.Since(w.started)))
}

func (w *watchdog) stop() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.silence.Stop()
	w.total.Stop()
	return w.bound
}

// get GETs route below the base URL; a status outside accept becomes keyway's own error code when
// its error body names one. A 304 (asked for with ifNoneMatch) has no body. Call with reqMu held.
func (c *Client) get(ctx context.Context, route string, accept []int, maxBytes int64, ifNoneMatch string) (answer, error) {
	return c.getOnce(ctx, route, accept, maxBytes, ifNoneMatch, false)
}

func (c *Client) getOnce(ctx context.Context, route string, accept []int, maxBytes int64, ifNoneMatch string, retried bool) (answer, error) {
	u := c.urlOf(route)
	parent := ctx
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	untrack, _ := c.track(cancel, false)
	defer untrack()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return answer{}, newError(CodeKeywayUnavailable, "GET %s: %v", u, err)
	}
	req.Header.Set("Accept", "application/json")
	sentToken := *c.token.Load()
	if sentToken != "" {
		req.Header.Set("Authorization", "Bearer "+sentToken)
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	if time.Since(c.connSince) >= maxConnectionReuse {
		// The connection is closed after this request, so the next opens a new one and resolves
		// keyway's name again.
		req.Close = true
		c.connSince = time.Now()
	}
	dog := newWatchdog(c.timeout, cancel)
	answered := false
	failed := func(err error) (answer, error) {
		bound := dog.stop()
		why := err.Error()
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errClosed):
			return answer{}, &KeywayError{Code: CodeKeywayUnavailable, Message: fmt.Sprintf("GET %s: the client was closed", u), Err: errClosed}
		case errors.Is(cause, errSilent) && answered:
			why = fmt.Sprintf("no byte of the answer for %s", c.timeout)
		case errors.Is(cause, errSilent):
			why = fmt.Sprintf("no answer within %s", c.timeout)
		case errors.Is(cause, errTooLong):
			why = fmt.Sprintf("the answer took over %s in all (the bound of a transfer)", bound)
		case cause != nil:
			// The caller's context: wrapped, so errors.Is(err, context.Canceled) holds.
			return answer{}, &KeywayError{Code: CodeKeywayUnavailable, Message: fmt.Sprintf("GET %s: %v", u, cause), Err: cause}
		}
		return answer{}, &KeywayError{Code: CodeKeywayUnavailable, Message: fmt.Sprintf("GET %s: %s", u, why), Err: err}
	}
	res, err := c.http.Do(req)
	if err != nil {
		return failed(err)
	}
	defer res.Body.Close()
	answered = true
	dog.progressed()
	over := func() (answer, error) {
		dog.stop()
		return answer{}, newError(CodeKeywayUnavailable, "GET %s: the answer is over the %d-byte limit: is it keyway's REST API?", u, maxBytes)
	}
	if res.ContentLength > maxBytes {
		return over()
	}
	if res.ContentLength > 0 {
		dog.declared(res.ContentLength)
	}
	body, err := readBody(res.Body, res.ContentLength, maxBytes, dog.progressed)
	if errors.Is(err, errOver) {
		return over()
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) && res.ContentLength > 0 && context.Cause(ctx) == nil {
			// The body was cut short (keyway restarted mid-transfer): said as such, not as a body
			// that is not JSON.
			dog.stop()
			return answer{}, newError(CodeKeywayUnavailable, "GET %s: the connection closed after %d of the %d bytes the answer declared (Content-Length)", u, len(body), res.ContentLength)
		}
		return failed(err)
	}
	dog.stop()
	etag := res.Header.Get("ETag")
	if res.StatusCode == http.StatusNotModified && slices.Contains(accept, 304) {
		return answer{status: 304, etag: etag}, nil
	}
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		where := ""
		if loc := res.Header.Get("Location"); loc != "" {
			where = " to " + truncate(loc, 200)
		}
		return answer{}, newError(CodeKeywayUnavailable, "GET %s answered %d, a redirect%s: the client follows no redirect; give baseURL as the URL keyway answers at", u, res.StatusCode, where)
	}
	// A leading byte order mark is dropped, as TextDecoder drops it in the TypeScript client:
	// encoding/json calls such a body not JSON.
	body = bytes.TrimPrefix(body, []byte("\ufeff"))
	if !json.Valid(body) {
		return answer{}, newError(CodeKeywayUnavailable, "GET %s answered %d with a body that is not JSON: is it keyway's REST API?", u, res.StatusCode)
	}
	if !slices.Contains(accept, res.StatusCode) {
		// A token SetToken replaced while this request was in flight: no failure of the token in
		// use, so it is sent again with the new one rather than reported as UNAUTHENTICATED.
		if res.StatusCode == http.StatusUnauthorized && !retried && sentToken != *c.token.Load() && !c.isClosed() {
			return c.getOnce(parent, route, accept, maxBytes, ifNoneMatch, true)
		}
		var e struct {
			Error *struct {
				Code    any `json:"code"`
				Message any `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		code, detail := CodeKeywayUnavailable, truncate(string(body), 200)
		if e.Error != nil {
			if s, ok := e.Error.Code.(string); ok && knownCode(s) {
				code = s
			}
			if s, ok := e.Error.Message.(string); ok {
				detail = s
			}
		}
		return answer{}, newError(code, "GET %s answered %d: %s", u, res.StatusCode, detail)
	}
	return answer{status: res.StatusCode, body: body, etag: etag}, nil
}

var errOver = errors.New("over the limit")

// readBody reads r to its end, refused past maxBytes as it arrives; progressed after each chunk.
// A declared length (checked against maxBytes before) sizes the buffer once.
func readBody(r io.Reader, declared, maxBytes int64, progressed func()) ([]byte, error) {
	var out []byte
	if declared > 0 {
		out = make([]byte, 0, declared)
	}
	buf := make([]byte, 64*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if int64(len(out))+int64(n) > maxBytes {
				return out, errOver
			}
			out = append(out, buf[:n]...)
			progressed()
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// readyzVersion is the version of a /readyz body. keyway's not-ready answer (no map yet, as after
// a restart) is SOURCE_UNAVAILABLE, as /v1/shardmap would say; anything else without a version is
// not keyway.
func readyzVersion(body []byte, u string) (string, error) {
	var r struct {
		Version any `json:"version"`
		Ready   any `json:"ready"`
		Status  any `json:"status"`
		Reason  any `json:"reason"`
	}
	if json.Unmarshal(body, &r) == nil {
		if v, ok := r.Version.(string); ok {
			return v, nil
		}
		reason, isText := r.Reason.(string)
		if r.Ready == false && r.Status == "not-ready" && isText {
			return "", newError(CodeSourceUnavailable, "GET %s: keyway is not ready: %s", u, reason)
		}
	}
	return "", newError(CodeKeywayUnavailable, "GET %s answered without a version: is it keyway's REST API?", u)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
