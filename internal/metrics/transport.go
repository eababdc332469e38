package metrics

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// busyPeekBytes is how much of an HTTP 500 body is read to look for an EWS
// ErrorServerBusy fault; the fault's ResponseCode comes early in a small
// envelope, and the bytes are handed back to the caller unchanged.
const busyPeekBytes = 8 << 10

var serverBusy = []byte("ErrorServerBusy")

// Transport instruments next for backend (BackendExchange or BackendRespa)
// in Default; see Metrics.Transport.
func Transport(backend string, next http.RoundTripper) http.RoundTripper {
	return Default.Transport(backend, next)
}

// Transport wraps next so that every request counts, by operation and
// status, with its latency and whether the server asked to back off. The
// response is passed on as it came: only the first few KB of an HTTP 500
// body are read ahead (and replayed), so streaming bodies stay streaming.
// nil next means http.DefaultTransport.
func (m *Metrics) Transport(backend string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{m: m, backend: backend, next: next}
}

type transport struct {
	m       *Metrics
	backend string
	next    http.RoundTripper
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	op := t.operation(r)
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	t.m.requestDuration.WithLabelValues(t.backend, op).Observe(time.Since(start).Seconds())
	if err != nil {
		t.m.requests.WithLabelValues(t.backend, op, "error").Inc()
		return resp, err
	}
	t.m.requests.WithLabelValues(t.backend, op, strconv.Itoa(resp.StatusCode)).Inc()
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		t.m.throttled.WithLabelValues(t.backend).Inc()
	case http.StatusInternalServerError:
		// Exchange reports throttling as a SOAP fault in a 500.
		if resp.Body != nil && resp.Body != http.NoBody {
			var head []byte
			head, resp.Body = peek(resp.Body, busyPeekBytes)
			if bytes.Contains(head, serverBusy) {
				t.m.throttled.WithLabelValues(t.backend).Inc()
			}
		}
	}
	return resp, nil
}

// operation names r's call: the one WithOperation put in its context, else
// for Respa the kind of its path, else "token" for an OAuth2 token request
// (form-encoded POST, made by the auth layer with no operation in context).
func (t *transport) operation(r *http.Request) string {
	if op := OperationFrom(r.Context()); op != "" {
		return labelValue(op)
	}
	if t.backend == BackendRespa {
		return respaOperation(r.Method, r.URL.Path)
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return "token"
	}
	return other
}

// respaCollections are the Respa API's collections this operator may call.
// Only these names become labels; ids and anything unknown do not.
var respaCollections = map[string]bool{
	"reservation": true, "resource": true, "unit": true, "user": true, "purpose": true,
	"type": true, "equipment": true, "equipment_category": true, "search": true,
}

// respaOperation is the method and the kind of path: "GET reservation-list"
// for /v1/reservation/?..., "PUT reservation-detail" for /v1/reservation/42/.
// The base URL's own prefix is skipped by looking for "v1" or, failing
// that, the first known collection.
func respaOperation(method, path string) string {
	switch method {
	case "":
		method = http.MethodGet
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions:
	default:
		method = "OTHER"
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	at := -1
	for i, s := range segs {
		if s == "v1" {
			at = i + 1
			break
		}
	}
	if at < 0 {
		for i, s := range segs {
			if respaCollections[s] {
				at = i
				break
			}
		}
	}
	if at < 0 || at >= len(segs) || !respaCollections[segs[at]] {
		return method + " " + other
	}
	kind := "-list"
	if at+1 < len(segs) {
		kind = "-detail"
	}
	return method + " " + segs[at] + kind
}

// peek reads up to n bytes of body and returns them with a body that
// yields the same bytes, then the rest (or the error the read hit).
func peek(body io.ReadCloser, n int) ([]byte, io.ReadCloser) {
	buf := make([]byte, n)
	k, err := io.ReadFull(body, buf)
	head := buf[:k]
	var rest io.Reader = body
	switch {
	case err == nil:
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		rest = eofReader{}
	default:
		rest = errReader{err}
	}
	return head, &replayBody{Reader: io.MultiReader(bytes.NewReader(head), rest), Closer: body}
}

type replayBody struct {
	io.Reader
	io.Closer
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
