package exchangesim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func benchSim(b *testing.B, opts Options) (*Server, client) {
	b.Helper()
	sim := New(opts)
	if _, err := sim.AddMailbox(room1, ""); err != nil {
		b.Fatal(err)
	}
	if err := sim.AddAccount(Account{User: svcUser, Password: svcPass, Impersonate: []string{room1}}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	b.Cleanup(srv.Close)
	return sim, client{t: b, url: srv.URL, user: svcUser, pass: svcPass, impersonate: room1}
}

// BenchmarkFindItemCalendarView1000 is one CalendarView of 1000 items over HTTP.
func BenchmarkFindItemCalendarView1000(b *testing.B) {
	sim, c := benchSim(b, Options{})
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		s := base.Add(time.Duration(i) * 40 * time.Minute)
		if _, err := sim.CreateEvent(room1, Event{Subject: fmt.Sprint("m", i), Start: s, End: s.Add(30 * time.Minute)}); err != nil {
			b.Fatal(err)
		}
	}
	req := calendarView("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", 1000)
	b.ResetTimer()
	for b.Loop() {
		resp, body := c.raw(req)
		if resp.StatusCode != http.StatusOK || strings.Count(string(body), "<t:CalendarItem>") != 1000 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkCreateItemBatch100 is one CreateItem of 100 calendar items over HTTP.
func BenchmarkCreateItemBatch100(b *testing.B) {
	_, c := benchSim(b, Options{})
	var items strings.Builder
	for i := range 100 {
		fmt.Fprintf(&items, `<t:CalendarItem><t:Subject>b%d</t:Subject><t:Start>2026-12-01T%02d:00:00Z</t:Start><t:End>2026-12-01T%02d:30:00Z</t:End></t:CalendarItem>`, i, i%24, i%24)
	}
	req := `<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items>` + items.String() + `</m:Items></m:CreateItem>`
	b.ResetTimer()
	for b.Loop() {
		if resp, body := c.raw(req); resp.StatusCode != http.StatusOK || strings.Count(string(body), "NoError") != 100 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkStrictValidation is the cost strict mode adds to each request (an xmllint run).
func BenchmarkStrictValidation(b *testing.B) {
	schema := schemaPath(b)
	c := client{}
	body := []byte(c.envelope(calendarView("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", 100)))
	for b.Loop() {
		if v, err := validate(b.Context(), schema, body); err != nil || v != nil {
			b.Fatalf("%v %+v", err, v)
		}
	}
}

// BenchmarkStreamingNotificationDelay is the time from a change to its
// notification envelope arriving on an open stream.
func BenchmarkStreamingNotificationDelay(b *testing.B) {
	sim, c := benchSim(b, Options{KeepAliveInterval: time.Hour})
	resp, raw := c.raw(subscribeRequest())
	if resp.StatusCode != http.StatusOK {
		b.Fatal(resp.StatusCode)
	}
	s := string(raw)
	id := s[strings.Index(s, "SubscriptionId>")+len("SubscriptionId>") : strings.Index(s, "</m:SubscriptionId>")]
	req, _ := http.NewRequest(http.MethodPost, c.url+"/EWS/Exchange.asmx", strings.NewReader(c.envelope(streamingRequest(30, id))))
	req.SetBasicAuth(svcUser, svcPass)
	sresp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer sresp.Body.Close()
	envs, _ := readStream(sresp.Body)
	<-envs
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for b.Loop() {
		if _, err := sim.CreateEvent(room1, Event{Subject: "x", Start: start, End: start.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		if e := <-envs; len(e.events) == 0 {
			b.Fatalf("envelope without events: %+v", e)
		}
	}
	b.StopTimer()
	sim.KillStreams("")
}
