package metrics_test

// The real EWS and Respa clients, through the instrumented transport,
// against the project's simulators on 127.0.0.1: the operation names come
// from the clients themselves, not from hand-built requests.

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/respa-exchange/respa-exchange-operator/internal/ews"
	"github.com/respa-exchange/respa-exchange-operator/internal/exchangesim"
	"github.com/respa-exchange/respa-exchange-operator/internal/metrics"
	"github.com/respa-exchange/respa-exchange-operator/internal/respa"
	"github.com/respa-exchange/respa-exchange-operator/internal/respasim"
)

const (
	room      = "sali@example.com"
	appID     = "respa-operator-app"
	appSecret = "app-secret-value-123"
)

// sample sums the counters, or the histograms' sums and counts, of the
// series of name whose labels include labels.
func sample(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (value float64, count uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, mt := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range mt.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			if h := mt.GetHistogram(); h != nil {
				value += h.GetSampleSum()
				count += h.GetSampleCount()
				continue
			}
			value += mt.GetCounter().GetValue()
		}
	}
	return value, count
}

func TestEWSClientCallsAreCountedByOperation(t *testing.T) {
	sim := exchangesim.New(exchangesim.Options{
		StreamTimeoutUnit: 200 * time.Millisecond,
		KeepAliveInterval: 50 * time.Millisecond,
	})
	if _, err := sim.AddMailbox(room, "Sali"); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddApp(exchangesim.App{ClientID: appID, ClientSecret: appSecret, Impersonate: []string{room}}); err != nil {
		t.Fatal(err)
	}
	base, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ews.New(ews.Config{
		URL:       base + "/EWS/Exchange.asmx",
		Auth:      ews.OAuth2ClientCredentials{TokenURL: base + "/oauth2/v2.0/token", ClientID: appID, ClientSecret: appSecret},
		Transport: m.Transport(metrics.BackendExchange, nil),
		Retry:     ews.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The first FindItem meets a busy server and is retried.
	if err := sim.InjectFault(exchangesim.Fault{Operation: "FindItem", Kind: "ServerBusy", BackOffMilliseconds: 10, Times: 1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := c.FindCalendarView(ctx, room, now, now.Add(7*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		op, code string
		want     float64
	}{
		{"token", "200", 1},
		{"FindItem", "500", 1},
		{"FindItem", "200", 1},
	} {
		got, _ := sample(t, reg, "respa_exchange_requests_total", map[string]string{"backend": "exchange", "operation": tc.op, "code": tc.code})
		if got != tc.want {
			t.Errorf("requests{exchange,%s,%s} = %v, want %v", tc.op, tc.code, got, tc.want)
		}
	}
	if got, _ := sample(t, reg, "respa_exchange_throttled_total", map[string]string{"backend": "exchange"}); got != 1 {
		t.Errorf("throttled{exchange} = %v, want 1 (the ErrorServerBusy fault)", got)
	}

	// A stream is counted once and timed to its opening: the observation
	// is made before the client can have read the first envelope.
	sub, err := c.Subscribe(ctx, room, room)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var firstEnvelope time.Duration
	err = c.GetStreamingEvents(ctx, room, []string{sub}, time.Minute, func(ews.StreamMessage) error {
		if firstEnvelope == 0 {
			firstEnvelope = time.Since(start)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lifetime := time.Since(start)
	if got, _ := sample(t, reg, "respa_exchange_requests_total", map[string]string{"operation": "GetStreamingEvents", "code": "200"}); got != 1 {
		t.Errorf("requests{GetStreamingEvents,200} = %v, want 1", got)
	}
	sum, n := sample(t, reg, "respa_exchange_request_duration_seconds", map[string]string{"operation": "GetStreamingEvents"})
	if n != 1 || sum > firstEnvelope.Seconds() {
		t.Errorf("GetStreamingEvents observed %d times, %.3fs in all; want once, at most the %.3fs to the first envelope (the stream lived %.3fs)",
			n, sum, firstEnvelope.Seconds(), lifetime.Seconds())
	}
	if got, _ := sample(t, reg, "respa_exchange_requests_total", map[string]string{"operation": "Subscribe", "code": "200"}); got != 1 {
		t.Errorf("requests{Subscribe,200} = %v, want 1", got)
	}
}

func TestRespaClientCallsMatchTheSimulatorsCount(t *testing.T) {
	const token = "respa-token-abcdef123456"
	sim := respasim.New(respasim.Options{})
	defer sim.Close()
	ids, err := sim.Seed(respasim.SeedOptions{Resources: 1, ReservationsPerResource: 3, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	sim.AddUser(respasim.User{Username: "operator", Staff: true})
	if err := sim.AddToken(respasim.Token{Key: token, Username: "operator"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()

	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := respa.New(respa.Config{
		BaseURL:   srv.URL + "/v1/",
		Token:     token,
		Transport: m.Transport(metrics.BackendRespa, nil),
		Retry:     respa.RetryPolicy{InitialBackoff: 10 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	sim.InjectFault(respasim.Fault{Method: "GET", PathPrefix: "/v1/reservation/", Status: 503, Times: 1})
	got, err := c.ListReservations(ctx, respa.ListOptions{ResourceIDs: ids, All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("listed %d reservations, want 3", len(got))
	}
	if _, err := c.GetResource(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CancelReservation(ctx, got[0].ID); err != nil {
		t.Fatal(err)
	}

	// The simulator names endpoints the same way; every API request it
	// saw is counted once under that name.
	var total float64
	for kind, n := range sim.Counters() {
		if strings.Contains(kind, "admin") {
			continue
		}
		v, _ := sample(t, reg, "respa_exchange_requests_total", map[string]string{"backend": "respa", "operation": kind})
		total += v
		if v != float64(n) {
			t.Errorf("requests{respa,%s} = %v, simulator saw %d", kind, v, n)
		}
	}
	if api := float64(sim.APIRequests()); total != api {
		t.Errorf("requests counted %v, simulator answered %v", total, api)
	}
	if v, _ := sample(t, reg, "respa_exchange_requests_total", map[string]string{"operation": "GET reservation-list", "code": "503"}); v != 1 {
		t.Errorf("requests{GET reservation-list,503} = %v, want 1", v)
	}
	if v, _ := sample(t, reg, "respa_exchange_throttled_total", map[string]string{"backend": "respa"}); v != 1 {
		t.Errorf("throttled{respa} = %v, want 1", v)
	}
}
