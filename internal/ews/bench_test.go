package ews

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkCalendarView1000 is the client's cost for one CalendarView of
// 1000 items: building the request, then parsing the response into
// CalendarItems (extended properties, organizer and all).
func BenchmarkCalendarView1000(b *testing.B) {
	start := utc("2026-01-01T00:00:00Z")
	resp := findItemResponse(genItems(1000, start), true)
	c := testClient(b, "https://ews.example.org/EWS/Exchange.asmx")
	b.SetBytes(int64(len(resp)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.buildFindItem("room1@example.org", start, start.Add(28*24*time.Hour)).bytes(); err != nil {
			b.Fatal(err)
		}
		env, err := parseEnvelope("FindItem", resp)
		if err != nil {
			b.Fatal(err)
		}
		items, _, err := parseFindItem(env)
		if err != nil || len(items) != 1000 {
			b.Fatal(err, len(items))
		}
	}
}

// BenchmarkCreateItem100 is the cost of one 100-item CreateItem batch:
// building the request and reading the 100 per-item outcomes.
func BenchmarkCreateItem100(b *testing.B) {
	items := genItems(100, utc("2026-01-01T00:00:00Z"))
	var msgs strings.Builder
	for i := range items {
		msgs.WriteString(successMsg("CreateItem", fmt.Sprintf(`<m:Items><t:CalendarItem><t:ItemId Id="AAMkAD%04d=" ChangeKey="DwAAAA=="/></t:CalendarItem></m:Items>`, i)))
	}
	resp := respWrap("CreateItem", msgs.String())
	c := testClient(b, "https://ews.example.org/EWS/Exchange.asmx")
	b.ReportAllocs()
	for b.Loop() {
		req, err := c.buildCreateItem("room1@example.org", items, SendToNone).bytes()
		if err != nil || len(req) == 0 {
			b.Fatal(err)
		}
		env, err := parseEnvelope("CreateItem", resp)
		if err != nil {
			b.Fatal(err)
		}
		out := make([]Outcome, len(items))
		if err := parseWriteResponse(env, "CreateItem", out); err != nil || out[99].ItemID.ID != "AAMkAD0099=" {
			b.Fatal(err, out[99])
		}
	}
}

// BenchmarkFindCalendarViewHTTP1000 adds the loopback HTTP round trip and
// the window logic: 1000 items over 42 days, 250 per view.
func BenchmarkFindCalendarViewHTTP1000(b *testing.B) {
	start := utc("2026-01-01T00:00:00Z")
	items := genItems(1000, start)
	t := &testing.T{}
	srv, _ := calendarServer(t, items)
	defer srv.Close()
	c := testClient(b, srv.URL)
	b.ReportAllocs()
	for b.Loop() {
		got, err := c.FindCalendarView(ctx, "room1@example.org", start, start.Add(1000*time.Hour))
		if err != nil || len(got) != 1000 {
			b.Fatal(err, len(got))
		}
	}
}
