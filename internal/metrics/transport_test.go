package metrics

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newTestMetrics(t testing.TB) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func get(t *testing.T, c *http.Client, ctx context.Context, method, url string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// histogramCount is how many observations the duration histogram holds
// for backend and operation.
func histogramCount(t *testing.T, reg *prometheus.Registry, backend, op string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "respa_exchange_request_duration_seconds" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["backend"] == backend && labels["operation"] == op {
				return mt.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func TestTransportCountsRespaCallsByPathKind(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/reservation/":
			_, _ = io.WriteString(w, `{"count":0,"results":[]}`)
		case r.URL.Path == "/v1/reservation/42/" && r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	m, reg := newTestMetrics(t)
	c := &http.Client{Transport: m.Transport(BackendRespa, srv.Client().Transport)}
	ctx := context.Background()

	get(t, c, ctx, http.MethodGet, srv.URL+"/v1/reservation/?resource=aw2sbjwpjy4q&page_size=500")
	get(t, c, ctx, http.MethodGet, srv.URL+"/v1/reservation/?page=2")
	get(t, c, ctx, http.MethodDelete, srv.URL+"/v1/reservation/42/")
	get(t, c, ctx, http.MethodGet, srv.URL+"/v1/resource/aw2sbjwpjy4q/")

	for _, tc := range []struct {
		op, code string
		want     float64
	}{
		{"GET reservation-list", "200", 2},
		{"DELETE reservation-detail", "204", 1},
		{"GET resource-detail", "404", 1},
	} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(BackendRespa, tc.op, tc.code)); got != tc.want {
			t.Errorf("requests{respa,%q,%s} = %v, want %v", tc.op, tc.code, got, tc.want)
		}
	}
	if n := histogramCount(t, reg, BackendRespa, "GET reservation-list"); n != 2 {
		t.Errorf("duration observations for GET reservation-list = %d, want 2", n)
	}
	if got := testutil.CollectAndCount(m.requests); got != 3 {
		t.Errorf("request series = %d, want 3 (no id or query in labels)", got)
	}
	if got := testutil.ToFloat64(m.throttled.WithLabelValues(BackendRespa)); got != 0 {
		t.Errorf("throttled{respa} = %v, want 0", got)
	}
}

func TestTransportOperationOfExchangeCalls(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<ok/>")
	}))
	defer srv.Close()
	m, _ := newTestMetrics(t)
	c := &http.Client{Transport: m.Transport(BackendExchange, srv.Client().Transport)}

	get(t, c, WithOperation(context.Background(), "FindItem"), http.MethodPost, srv.URL+"/EWS/Exchange.asmx")
	get(t, c, WithOperation(context.Background(), "a message, not an operation"), http.MethodPost, srv.URL+"/EWS/Exchange.asmx")
	get(t, c, context.Background(), http.MethodPost, srv.URL+"/EWS/Exchange.asmx")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/tenant/oauth2/v2.0/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	for _, op := range []string{"FindItem", "token"} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(BackendExchange, op, "200")); got != 1 {
			t.Errorf("requests{exchange,%s,200} = %v, want 1", op, got)
		}
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues(BackendExchange, "other", "200")); got != 2 {
		t.Errorf("requests{exchange,other,200} = %v, want 2 (no operation, and a free-text one)", got)
	}
}

func TestTransportCountsTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	m, reg := newTestMetrics(t)
	c := &http.Client{Transport: m.Transport(BackendExchange, http.DefaultTransport)}
	req, _ := http.NewRequestWithContext(WithOperation(context.Background(), "GetItem"), http.MethodPost, url, nil)
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("request to a closed server succeeded")
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues(BackendExchange, "GetItem", "error")); got != 1 {
		t.Errorf("requests{exchange,GetItem,error} = %v, want 1", got)
	}
	if n := histogramCount(t, reg, BackendExchange, "GetItem"); n != 1 {
		t.Errorf("duration observations = %d, want 1", n)
	}
}

const busyFault = `<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode>
<faultstring xml:lang="en-US">The server cannot service this request right now. Try again later.</faultstring>
<detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode>
<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">The server cannot service this request right now. Try again later.</e:Message>
<t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><t:Value Name="BackOffMilliseconds">2000</t:Value></t:MessageXml>
</detail></s:Fault></s:Body></s:Envelope>`

func TestTransportDetectsThrottling(t *testing.T) {
	// A 500 larger than the peek, so the replayed head and the rest must
	// join up byte for byte.
	bigFault := strings.Replace(busyFault, "<detail>", "<detail>"+strings.Repeat("<!-- padding -->", 2000), 1)
	otherFault := strings.ReplaceAll(busyFault, "ErrorServerBusy", "ErrorInternalServerError")
	bodies := map[string]string{"/busy": busyFault, "/big": bigFault, "/other": otherFault}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/429":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/503":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, bodies[r.URL.Path])
		}
	}))
	defer srv.Close()
	m, _ := newTestMetrics(t)
	c := &http.Client{Transport: m.Transport(BackendExchange, srv.Client().Transport)}
	ctx := WithOperation(context.Background(), "FindItem")

	steps := []struct {
		path      string
		code      int
		throttled float64
	}{
		{"/429", 429, 1},
		{"/503", 503, 2},
		{"/other", 500, 2},
		{"/busy", 500, 3},
		{"/big", 500, 4},
	}
	for _, s := range steps {
		code, body := get(t, c, ctx, http.MethodPost, srv.URL+s.path)
		if code != s.code {
			t.Fatalf("%s: status %d, want %d", s.path, code, s.code)
		}
		if want := bodies[s.path]; string(body) != want {
			t.Errorf("%s: body of %d bytes differs from the %d the server sent", s.path, len(body), len(want))
		}
		if got := testutil.ToFloat64(m.throttled.WithLabelValues(BackendExchange)); got != s.throttled {
			t.Errorf("after %s: throttled{exchange} = %v, want %v", s.path, got, s.throttled)
		}
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues(BackendExchange, "FindItem", "500")); got != 3 {
		t.Errorf("requests{exchange,FindItem,500} = %v, want 3", got)
	}
}

func TestTransportLeavesStreamingBodiesStreaming(t *testing.T) {
	first := "<Envelope>OK</Envelope>"
	rest := "<Envelope>Closed</Envelope>"
	readFirst := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		_, _ = io.WriteString(w, first)
		w.(http.Flusher).Flush()
		select {
		case <-readFirst:
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Second):
			return // the client never saw the first part: the test fails below
		}
		_, _ = io.WriteString(w, rest)
	}))
	defer srv.Close()
	m, reg := newTestMetrics(t)
	c := &http.Client{Transport: m.Transport(BackendExchange, srv.Client().Transport)}

	req, _ := http.NewRequestWithContext(WithOperation(context.Background(), "GetStreamingEvents"), http.MethodPost, srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, len(first))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != first {
		t.Fatalf("first part: %q, %v", buf, err)
	}
	// The stream is still open, yet the call is already counted and timed.
	if got := testutil.ToFloat64(m.requests.WithLabelValues(BackendExchange, "GetStreamingEvents", "200")); got != 1 {
		t.Errorf("requests{exchange,GetStreamingEvents,200} while streaming = %v, want 1", got)
	}
	if n := histogramCount(t, reg, BackendExchange, "GetStreamingEvents"); n != 1 {
		t.Errorf("duration observations while streaming = %d, want 1", n)
	}
	close(readFirst)
	tail, err := io.ReadAll(resp.Body)
	if err != nil || string(tail) != rest {
		t.Fatalf("rest: %q, %v", tail, err)
	}
}

func TestTransportRecordsNoURLOrCredentials(t *testing.T) {
	const secret = "s3cr3t-T0ken-value"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	m, reg := newTestMetrics(t)
	for _, backend := range []string{BackendRespa, BackendExchange} {
		c := &http.Client{Transport: m.Transport(backend, srv.Client().Transport)}
		u := strings.Replace(srv.URL, "http://", "http://svc:"+secret+"@", 1)
		req, _ := http.NewRequest(http.MethodGet, u+"/v1/reservation/?access_token="+secret, nil)
		req.Header.Set("Authorization", "Token "+secret)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var seen int
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				seen++
				v := l.GetValue()
				if strings.Contains(v, secret) || strings.Contains(v, "127.0.0.1") || strings.Contains(v, "?") {
					t.Errorf("%s has label %s=%q", mf.GetName(), l.GetName(), v)
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("no labelled series gathered")
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues(BackendRespa, "GET reservation-list", "401")); got != 1 {
		t.Errorf("requests{respa,GET reservation-list,401} = %v, want 1", got)
	}
}

func TestRespaOperation(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/v1/reservation/", "GET reservation-list"},
		{"", "/v1/reservation/", "GET reservation-list"},
		{"POST", "/v1/reservation/", "POST reservation-list"},
		{"PUT", "/v1/reservation/123/", "PUT reservation-detail"},
		{"PATCH", "/v1/reservation/123/", "PATCH reservation-detail"},
		{"DELETE", "/v1/reservation/123/", "DELETE reservation-detail"},
		{"GET", "/v1/resource/aw2sbjwpjy4q/", "GET resource-detail"},
		{"GET", "/v1/resource/reservation/", "GET resource-detail"},
		{"GET", "/respa/api/v1/unit/", "GET unit-list"},
		{"GET", "/reservation/7/", "GET reservation-detail"},
		{"GET", "/v1/", "GET other"},
		{"GET", "/v1/aw2sbjwpjy4q/", "GET other"},
		{"GET", "/", "GET other"},
		{"PROPFIND", "/v1/reservation/", "OTHER reservation-list"},
	} {
		if got := respaOperation(tc.method, tc.path); got != tc.want {
			t.Errorf("respaOperation(%q, %q) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestPeekReplaysBody(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 2000)
	for _, n := range []int{1, 10, len(data), len(data) + 5} {
		head, body := peek(io.NopCloser(bytes.NewReader(data)), n)
		if want := min(n, len(data)); len(head) != want {
			t.Errorf("peek %d: head of %d bytes, want %d", n, len(head), want)
		}
		got, err := io.ReadAll(body)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("peek %d: replayed %d bytes (%v), want %d", n, len(got), err, len(data))
		}
	}
}
