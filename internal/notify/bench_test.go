package notify

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/respa-exchange/respa-exchange-operator/internal/exchangesim"
	"github.com/respa-exchange/respa-exchange-operator/internal/respasim"
)

// BenchmarkExchangeEditToSignal measures the time from an edit in the Exchange simulator to
// the resource being enqueued, debounce included (the --notification-debounce default, 500ms),
// over one streaming connection carrying 50 rooms.
func BenchmarkExchangeEditToSignal(b *testing.B) {
	const rooms = 50
	bn := newBench(b, rooms, Options{}, exchangesim.Options{})
	var keys []types.NamespacedName
	for i := range rooms {
		keys = append(keys, bn.track(i))
	}
	for _, k := range keys {
		bn.waitMode(b, k, ModeStreaming, 10*time.Second)
	}
	time.Sleep(300 * time.Millisecond)
	bn.drain()
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		room := i % rooms
		start := time.Now()
		if _, err := bn.ex.CreateEvent(bn.rooms[room], exchangesim.Event{Subject: fmt.Sprint("Bench ", i), Start: tomorrow(9), End: tomorrow(10)}); err != nil {
			b.Fatal(err)
		}
		bn.waitChanged(b, keys[room], 5*time.Second, "edit")
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	report(b, lat)
}

// BenchmarkRespaPoll measures one poll of 200 resources of one Respa instance with 5
// reservations each: the requests it takes and how long.
func BenchmarkRespaPoll(b *testing.B) {
	const rooms = 200
	bn := newBench(b, rooms, Options{RespaPollInterval: time.Hour}, exchangesim.Options{})
	bn.n.mu.Lock()
	for i := range rooms {
		// Track without Exchange: only the Respa side is measured here.
		key := types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("r%d", i)}
		r := room{email: bn.rooms[i], mailbox: types.NamespacedName{Namespace: "ns", Name: "mb"}, resourceID: fmt.Sprintf("res%d", i),
			respaURL: bn.mb.Spec.Respa.URL, future: 30 * 24 * time.Hour, respaChanges: true}
		bn.n.resources[key] = r
		e := bn.n.mailboxes[r.mailbox]
		if e == nil {
			e = &mailboxEntry{mb: bn.mb, rooms: map[types.NamespacedName]room{}, wake: make(chan struct{}, 1)}
			bn.n.mailboxes[r.mailbox] = e
		}
		e.rooms[key] = r
	}
	bn.n.mu.Unlock()
	for i := range rooms {
		for h := range 5 {
			if _, err := bn.rs.CreateAs("citizen", respasim.ReservationRequest{ResourceID: fmt.Sprintf("res%d", i), Begin: tomorrow(8 + 2*h), End: tomorrow(9 + 2*h), EventSubject: "x"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	p := &respaPoller{n: bn.n, url: bn.mb.Spec.Respa.URL, seen: map[types.NamespacedName]resourceState{}, failing: map[types.NamespacedName]string{}}
	before := bn.rs.APIRequests()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.poll(b.Context())
	}
	b.StopTimer()
	b.ReportMetric(float64(bn.rs.APIRequests()-before)/float64(b.N), "requests/poll")
}

func report(b *testing.B, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.95), "p95-ms")
}
