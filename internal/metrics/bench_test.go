package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type stubTransport struct{ status int }

func (s stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: s.status, Body: http.NoBody, Request: r}, nil
}

// BenchmarkTransportOverhead is the cost the instrumentation adds to one
// call, with a transport that answers at once.
func BenchmarkTransportOverhead(b *testing.B) {
	for _, bc := range []struct {
		name, backend, url string
		ctx                context.Context
	}{
		{"exchange", BackendExchange, "http://127.0.0.1/EWS/Exchange.asmx", WithOperation(context.Background(), "FindItem")},
		{"respa", BackendRespa, "http://127.0.0.1/v1/reservation/123/", context.Background()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m, _ := newTestMetrics(b)
			rt := m.Transport(bc.backend, stubTransport{status: 200})
			req, _ := http.NewRequestWithContext(bc.ctx, http.MethodGet, bc.url, nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := rt.RoundTrip(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBusyPeek is a 500 fault read ahead and replayed, over
// loopback, against the same call without the transport.
func BenchmarkBusyPeek(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, busyFault)
	}))
	defer srv.Close()
	m, _ := newTestMetrics(b)
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"bare", srv.Client().Transport},
		{"instrumented", m.Transport(BackendExchange, srv.Client().Transport)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := &http.Client{Transport: bc.rt}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Post(srv.URL, "text/xml", strings.NewReader("<x/>"))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
