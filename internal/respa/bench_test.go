package respa_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/respa-exchange/respa-exchange-operator/internal/respa"
	"github.com/respa-exchange/respa-exchange-operator/internal/respasim"
)

// BenchmarkListReservations lists 10 000 reservations across 100 resources
// through the client against the simulator over loopback HTTP, and reports
// the requests one listing takes (from the simulator's counters).
func BenchmarkListReservations(b *testing.B) {
	for _, bc := range []struct {
		name string
		per  int // resources per request
	}{{"chunks-of-50", 50}, {"one-chunk-of-100", 100}} {
		b.Run(bc.name, func(b *testing.B) {
			sim := respasim.New(respasim.Options{})
			srv := httptest.NewServer(sim)
			defer func() { sim.Close(); srv.Close() }()
			start := time.Now().Truncate(time.Hour).Add(24 * time.Hour)
			ids, err := sim.Seed(respasim.SeedOptions{Units: 5, Resources: 100, ReservationsPerResource: 100, Start: start, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			sim.AddUser(respasim.User{Username: "operator", Staff: true})
			if err := sim.AddToken(respasim.Token{Kind: "Token", Key: staffKey, Username: "operator"}); err != nil {
				b.Fatal(err)
			}
			c, err := respa.New(respa.Config{BaseURL: srv.URL + "/v1/", Token: staffKey})
			if err != nil {
				b.Fatal(err)
			}
			opts := respa.ListOptions{ResourceIDs: ids, Start: start, End: start.AddDate(1, 0, 0), ResourcesPerRequest: bc.per}
			sim.ResetCounters()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rs, err := c.ListReservations(context.Background(), opts)
				if err != nil {
					b.Fatal(err)
				}
				if len(rs) != 10000 {
					b.Fatalf("listed %d, want 10000", len(rs))
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(sim.APIRequests())/float64(b.N), "requests/op")
			b.ReportMetric(10000, "reservations/op")
		})
	}
}

// BenchmarkListReservationsClientOnly replays the simulator's pages from
// memory, so time and allocations are the client's own (HTTP, JSON
// decoding, conversion), without the simulator's filtering and encoding.
func BenchmarkListReservationsClientOnly(b *testing.B) {
	sim := respasim.New(respasim.Options{})
	defer sim.Close()
	start := time.Now().Truncate(time.Hour).Add(24 * time.Hour)
	ids, err := sim.Seed(respasim.SeedOptions{Units: 5, Resources: 100, ReservationsPerResource: 100, Start: start, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	sim.AddUser(respasim.User{Username: "operator", Staff: true})
	if err := sim.AddToken(respasim.Token{Kind: "Token", Key: staffKey, Username: "operator"}); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	canned := map[string][]byte{}
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		body, ok := canned[r.URL.RequestURI()]
		mu.Unlock()
		if !ok {
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, r)
			body = rec.Body.Bytes()
			mu.Lock()
			canned[r.URL.RequestURI()] = body
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	c, err := respa.New(respa.Config{BaseURL: srv.URL + "/v1/", Token: staffKey})
	if err != nil {
		b.Fatal(err)
	}
	opts := respa.ListOptions{ResourceIDs: ids, Start: start, End: start.AddDate(1, 0, 0)}
	if _, err := c.ListReservations(context.Background(), opts); err != nil { // fill the cache
		b.Fatal(err)
	}
	requests = 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rs, err := c.ListReservations(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) != 10000 {
			b.Fatalf("listed %d, want 10000", len(rs))
		}
	}
	b.StopTimer()
	mu.Lock()
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
	mu.Unlock()
}
