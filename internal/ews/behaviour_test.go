package ews

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var viewAttrs = regexp.MustCompile(`MaxEntriesReturned="(\d+)" StartDate="([^"]+)" EndDate="([^"]+)"`)

// calendarServer answers CalendarView requests from a fixed item list the
// way Exchange does: items overlapping the window, at most
// MaxEntriesReturned, IncludesLastItemInRange="false" when cut short.
func calendarServer(t *testing.T, items []CalendarItem) (*httptest.Server, *[][2]time.Time) {
	var mu sync.Mutex
	var windows [][2]time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := r.Body.Read(buf)
			body.Write(buf[:n])
			if err != nil {
				break
			}
		}
		m := viewAttrs.FindStringSubmatch(body.String())
		if m == nil {
			t.Errorf("no CalendarView in %s", body.String())
			w.WriteHeader(400)
			return
		}
		var max int
		fmt.Sscan(m[1], &max)
		start, end := utc(m[2]), utc(m[3])
		mu.Lock()
		windows = append(windows, [2]time.Time{start, end})
		mu.Unlock()
		var in []CalendarItem
		for _, it := range items {
			if it.End.After(start) && it.Start.Before(end) {
				in = append(in, it)
			}
		}
		complete := len(in) <= max
		if !complete {
			in = in[:max]
		}
		_, _ = w.Write(findItemResponse(in, complete))
	}))
	t.Cleanup(srv.Close)
	return srv, &windows
}

func TestFindCalendarViewSplitsTruncatedWindows(t *testing.T) {
	start := utc("2026-01-05T00:00:00Z")
	items := genItems(60, start)
	// A week-long item straddles every window; it must come back once.
	long := genItems(1, start)[0]
	long.ItemID, long.End = "LONG=", start.Add(7*24*time.Hour)
	items = append(items, long)
	srv, windows := calendarServer(t, items)
	c := testClient(t, srv.URL, func(c *Config) { c.MaxEntriesReturned = 8; c.InitialViewSpan = 10 * 24 * time.Hour })
	got, err := c.FindCalendarView(ctx, "room1@example.org", start, start.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 61 {
		t.Fatalf("got %d items, want 61", len(got))
	}
	seen := map[string]bool{}
	for i, it := range got {
		if seen[it.ItemID] {
			t.Errorf("duplicate %s", it.ItemID)
		}
		seen[it.ItemID] = true
		if i > 0 && got[i-1].Start.After(it.Start) {
			t.Errorf("not sorted at %d", i)
		}
	}
	if got[0].ExtendedProperties[PropertyLink] != "respa:0" || got[0].UID == "" || got[0].Organizer.Email != "org@example.org" {
		t.Errorf("first item %+v", got[0])
	}
	if len(*windows) < 8 {
		t.Errorf("only %d views for 61 items at 8 per view", len(*windows))
	}
}

func TestFindCalendarViewNeverExceedsTwoYears(t *testing.T) {
	srv, windows := calendarServer(t, nil)
	c := testClient(t, srv.URL, func(c *Config) { c.InitialViewSpan = 5 * 365 * 24 * time.Hour })
	start := utc("2026-01-01T00:00:00Z")
	if _, err := c.FindCalendarView(ctx, "room1@example.org", start, start.Add(5*365*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, w := range *windows {
		if w[1].Sub(w[0]) > 2*365*24*time.Hour {
			t.Errorf("window %v longer than two years", w)
		}
	}
	if len(*windows) != 3 {
		t.Errorf("%d windows for five years", len(*windows))
	}
}

func TestFindCalendarViewRefusesUnsplittableTruncation(t *testing.T) {
	start := utc("2026-01-05T09:00:00Z")
	items := genItems(6, start)
	for i := range items {
		items[i].Start, items[i].End = start, start.Add(time.Hour)
	}
	srv, _ := calendarServer(t, items)
	c := testClient(t, srv.URL, func(c *Config) { c.MaxEntriesReturned = 5 })
	_, err := c.FindCalendarView(ctx, "room1@example.org", start.Add(-time.Hour), start.Add(2*time.Hour))
	if !errors.Is(err, ErrViewTruncated) {
		t.Fatalf("err = %v, want ErrViewTruncated", err)
	}
}

func TestRetryHonoursBackOffThenSucceeds(t *testing.T) {
	busy := reply{status: 500, body: faultBody(CodeServerBusy, "The server cannot service this request right now.", 60)}
	f := newFakeEWS(t, busy, busy, ok200(findItemResponse(nil, true)))
	c := testClient(t, f.srv.URL)
	began := time.Now()
	if _, err := c.FindCalendarView(ctx, "room1@example.org", utc("2026-01-01T00:00:00Z"), utc("2026-01-02T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	// Two waits of the server's 60 ms back-off, not the 1 ms base delay.
	if waited := time.Since(began); waited < 120*time.Millisecond {
		t.Errorf("waited only %s", waited)
	}
}

func TestRetryIsBounded(t *testing.T) {
	f := newFakeEWS(t, reply{status: 503})
	c := testClient(t, f.srv.URL)
	_, err := c.ResolveNames(ctx, "room1@example.org", "someone")
	if !errors.Is(err, ErrThrottled) || BackOffOf(err) != 0 {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("%d requests, want MaxAttempts=3", n)
	}
}

func TestRetryAfterBeyondCapIsReturned(t *testing.T) {
	f := newFakeEWS(t, reply{status: 429, headers: map[string]string{"Retry-After": "120"}})
	c := testClient(t, f.srv.URL)
	_, err := c.CheckAccess(ctx, "room1@example.org")
	if !errors.Is(err, ErrThrottled) || BackOffOf(err) != 2*time.Minute {
		t.Fatalf("err = %v (back-off %s)", err, BackOffOf(err))
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests; a back-off beyond the cap must not be waited out", n)
	}
}

func TestWritesAreNeverRetried(t *testing.T) {
	busy := reply{status: 500, body: faultBody(CodeServerBusy, "busy", 5)}
	f := newFakeEWS(t, busy, ok200(respWrap("CreateItem", successMsg("CreateItem", ""))))
	c := testClient(t, f.srv.URL)
	items := genItems(2, utc("2026-02-01T10:00:00Z"))
	out, err := c.CreateCalendarItems(ctx, "room1@example.org", items, "")
	if !errors.Is(err, ErrServerBusy) {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("CreateItem sent %d times", n)
	}
	for i, o := range out {
		if !errors.Is(o.Err, ErrServerBusy) {
			t.Errorf("outcome %d: %+v", i, o)
		}
	}
	for _, op := range []func() error{
		func() error {
			_, err := c.UpdateCalendarItems(ctx, "room1@example.org", []ItemChange{{Item: CalendarItem{ItemID: "a", ChangeKey: "b"}}}, "", "")
			return err
		},
		func() error { _, err := c.DeleteCalendarItems(ctx, "room1@example.org", []string{"a"}, ""); return err },
	} {
		f.mu.Lock()
		f.got, f.replies = nil, []reply{busy, ok200(nil)}
		f.mu.Unlock()
		if err := op(); !errors.Is(err, ErrServerBusy) || len(f.requests()) != 1 {
			t.Errorf("err %v after %d requests", err, len(f.requests()))
		}
	}
}

var itemCount = regexp.MustCompile(`<t:CalendarItem>|<t:ItemChange>|<t:ItemId Id=`)

// TestMixedBatchOutcomes sends 5 creates in batches of 2 and answers each
// item by its subject, so outcomes must land at the right index.
func TestMixedBatchOutcomes(t *testing.T) {
	subj := regexp.MustCompile(`<t:Subject>([^<]*)</t:Subject>`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := new(strings.Builder)
		b := make([]byte, 1<<16)
		for {
			n, err := r.Body.Read(b)
			buf.WriteString(string(b[:n]))
			if err != nil {
				break
			}
		}
		var msgs strings.Builder
		for _, m := range subj.FindAllStringSubmatch(buf.String(), -1) {
			if strings.HasSuffix(m[1], "bad") {
				msgs.WriteString(errorMsg("CreateItem", "ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate"))
			} else {
				msgs.WriteString(successMsg("CreateItem", `<m:Items><t:CalendarItem><t:ItemId Id="id-`+m[1]+`" ChangeKey="ck"/></t:CalendarItem></m:Items>`))
			}
		}
		_, _ = w.Write(respWrap("CreateItem", msgs.String()))
	}))
	defer srv.Close()
	c := testClient(t, srv.URL, func(c *Config) { c.CreateBatchSize = 2 })
	now := utc("2026-02-01T10:00:00Z")
	var items []CalendarItem
	for _, s := range []string{"a", "b-bad", "c", "d", "e-bad"} {
		items = append(items, CalendarItem{Subject: s, Start: now, End: now.Add(time.Hour)})
	}
	out, err := c.CreateCalendarItems(ctx, "room1@example.org", items, SendToNone)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		bad := strings.HasSuffix(items[i].Subject, "bad")
		if bad != IsCode(o.Err, "ErrorCalendarEndDateIsEarlierThanStartDate") || (!bad && o.ItemID.ID != "id-"+items[i].Subject) {
			t.Errorf("outcome %d (%s): %+v", i, items[i].Subject, o)
		}
	}
}

func TestUpdateConflictAndDeleteGoneOutcomes(t *testing.T) {
	f := newFakeEWS(t, ok200(respWrap("UpdateItem",
		successMsg("UpdateItem", `<m:Items><t:CalendarItem><t:ItemId Id="a" ChangeKey="new"/></t:CalendarItem></m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>`)+
			errorMsg("UpdateItem", CodeIrresolvableConflict, "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item."))))
	c := testClient(t, f.srv.URL)
	changes := []ItemChange{
		{Item: CalendarItem{ItemID: "a", ChangeKey: "k1", Subject: "x"}},
		{Item: CalendarItem{ItemID: "b", ChangeKey: "stale", Subject: "y"}, Fields: []Field{FieldSubject}},
	}
	out, err := c.UpdateCalendarItems(ctx, "room1@example.org", changes, NeverOverwrite, "")
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err != nil || out[0].ItemID.ChangeKey != "new" || !errors.Is(out[1].Err, ErrConflict) {
		t.Errorf("outcomes %+v", out)
	}
	body := f.requests()[0].body
	for _, want := range []string{`ConflictResolution="NeverOverwrite"`, `SendMeetingInvitationsOrCancellations="SendToNone"`,
		`<t:ItemId Id="b" ChangeKey="stale"/>`, `<t:FieldURI FieldURI="item:Subject"/>`} {
		if !strings.Contains(body, want) {
			t.Errorf("request lacks %s", want)
		}
	}

	f = newFakeEWS(t, ok200(respWrap("DeleteItem", errorMsg("DeleteItem", CodeItemNotFound, "The specified object was not found in the store.")+
		successMsg("DeleteItem", "")+errorMsg("DeleteItem", CodeAccessDenied, "Access is denied."))))
	out, err = testClient(t, f.srv.URL).DeleteCalendarItems(ctx, "room1@example.org", []string{"gone", "ok", "locked"}, SendOnlyToAll)
	if err != nil {
		t.Fatal(err)
	}
	if !out[0].Gone || out[0].Err != nil || out[1].Gone || out[1].Err != nil || out[2].Gone || !IsCode(out[2].Err, CodeAccessDenied) {
		t.Errorf("outcomes %+v", out)
	}
	if body := f.requests()[0].body; !strings.Contains(body, `SendMeetingCancellations="SendOnlyToAll"`) || !strings.Contains(body, `DeleteType="MoveToDeletedItems"`) {
		t.Errorf("delete request %s", body)
	}
}

func TestUnknownExtendedPropertyRefused(t *testing.T) {
	c := testClient(t, "http://127.0.0.1:1/")
	_, err := c.CreateCalendarItems(ctx, "room1@example.org", []CalendarItem{{ExtendedProperties: map[string]string{"Dynamic-123": "x"}}}, "")
	if err == nil || !strings.Contains(err.Error(), "Dynamic-123") {
		t.Errorf("err = %v", err)
	}
}

func TestImpersonationAndDelegateHeaders(t *testing.T) {
	f := newFakeEWS(t, ok200(findItemResponse(nil, true)))
	c := testClient(t, f.srv.URL)
	if _, err := c.FindCalendarView(ctx, "Room1@Example.org", utc("2026-01-01T00:00:00Z"), utc("2026-01-02T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	r := f.requests()[0]
	if r.header.Get("X-AnchorMailbox") != "Room1@Example.org" || r.header.Get("X-PreferServerAffinity") != "" ||
		!strings.Contains(r.body, "<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>Room1@Example.org</t:SmtpAddress>") ||
		r.header.Get("Content-Type") != "text/xml; charset=utf-8" {
		t.Errorf("impersonation request: %v\n%s", r.header, r.body)
	}

	f = newFakeEWS(t, ok200(findItemResponse(nil, true)))
	c = testClient(t, f.srv.URL, func(c *Config) { c.AccessMode = Delegate })
	if _, err := c.FindCalendarView(ctx, "room2@example.org", utc("2026-01-01T00:00:00Z"), utc("2026-01-02T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	r = f.requests()[0]
	if strings.Contains(r.body, "ExchangeImpersonation") || r.header.Get("X-AnchorMailbox") != "room2@example.org" ||
		!strings.Contains(r.body, `<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>room2@example.org</t:EmailAddress>`) {
		t.Errorf("delegate request: %s", r.body)
	}
}

func TestCheckAccess(t *testing.T) {
	f := newFakeEWS(t, ok200(respWrap("GetFolder", successMsg("GetFolder", `<m:Folders><t:CalendarFolder><t:FolderId Id="AQMk" ChangeKey="AgAA"/></t:CalendarFolder></m:Folders>`))))
	v, err := testClient(t, f.srv.URL).CheckAccess(ctx, "room1@example.org")
	if err != nil || v.String() != "15.1.2507.6 (V2017_07_11)" {
		t.Errorf("version %q, err %v", v, err)
	}
	if body := f.requests()[0].body; !strings.Contains(body, "<m:GetFolder>") || !strings.Contains(body, `Id="calendar"`) {
		t.Errorf("request %s", body)
	}

	denied := faultBody(CodeImpersonateUserDenied, "The account does not have permission to impersonate the requested user.", 0)
	f = newFakeEWS(t, reply{status: 500, body: denied})
	_, err = testClient(t, f.srv.URL).CheckAccess(ctx, "room1@example.org")
	if !errors.Is(err, ErrImpersonateUserDenied) || !strings.Contains(err.Error(), "does not have permission to impersonate") || len(f.requests()) != 1 {
		t.Errorf("denied: %v", err)
	}
	f = newFakeEWS(t, reply{status: 500, body: faultBody(CodeNonExistentMailbox, "The SMTP address has no mailbox associated with it.", 0)})
	if _, err = testClient(t, f.srv.URL).CheckAccess(ctx, "nobody@example.org"); !errors.Is(err, ErrNonExistentMailbox) {
		t.Errorf("no mailbox: %v", err)
	}
	f = newFakeEWS(t, reply{status: 401, headers: map[string]string{"WWW-Authenticate": "Negotiate"}})
	_, err = testClient(t, f.srv.URL).CheckAccess(ctx, "room1@example.org")
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "Negotiate") {
		t.Errorf("unauthorized: %v", err)
	}
	f = newFakeEWS(t, reply{status: 500, body: []byte("<html><body>Server Error in '/EWS' Application.</body></html>")})
	if _, err = testClient(t, f.srv.URL).CheckAccess(ctx, "room1@example.org"); !IsCode(err, CodeHTTPError) {
		t.Errorf("html error page: %v", err)
	}
}

func TestPerMailboxConcurrencyLimit(t *testing.T) {
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		_, _ = w.Write(respWrap("GetItem", successMsg("GetItem", `<m:Items><t:CalendarItem><t:ItemId Id="x" ChangeKey="y"/></t:CalendarItem></m:Items>`)))
	}))
	defer srv.Close()
	c := testClient(t, srv.URL, func(c *Config) { c.MaxConcurrentRequests = 2 })
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := c.GetCalendarItems(ctx, "room1@example.org", []string{"x"}); err != nil {
				t.Error(err)
			}
		}()
	}
	deadline := time.After(5 * time.Second)
	for inFlight.Load() < 2 {
		select {
		case <-deadline:
			t.Fatal("requests never arrived")
		case <-time.After(time.Millisecond):
		}
	}
	time.Sleep(50 * time.Millisecond) // give a third request the chance to slip through
	close(release)
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Errorf("peak in flight %d, want 2", p)
	}
}

func TestContextDeadlineHonoured(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	c := testClient(t, srv.URL)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := c.SyncFolderItems(cctx, "room1@example.org", "", 10)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestUnsafeXMLRefused(t *testing.T) {
	doctype := []byte(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>` +
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&lol2;</s:Body></s:Envelope>`)
	if _, err := parseEnvelope("FindItem", doctype); !IsCode(err, CodeBadResponse) {
		t.Errorf("DOCTYPE: %v", err)
	}
	noDTD := []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&lol;</s:Body></s:Envelope>`)
	if _, err := parseEnvelope("FindItem", noDTD); !IsCode(err, CodeBadResponse) {
		t.Errorf("undefined entity: %v", err)
	}
	sp := newEnvelopeSplitter(strings.NewReader(string(doctype)), 1<<20)
	if _, err := sp.next(); err == nil || !strings.Contains(err.Error(), "DOCTYPE") {
		t.Errorf("splitter DOCTYPE: %v", err)
	}
	big := newEnvelopeSplitter(strings.NewReader(`<a>`+strings.Repeat("<b>x</b>", 1000)+`</a>`), 512)
	if _, err := big.next(); !errors.Is(err, errEnvelopeTooLarge) {
		t.Errorf("oversized envelope: %v", err)
	}
}

func TestBasicAuthHeader(t *testing.T) {
	f := newFakeEWS(t, ok200(respWrap("GetFolder", successMsg("GetFolder", ""))))
	if _, err := testClient(t, f.srv.URL).CheckAccess(ctx, "room1@example.org"); err != nil {
		t.Fatal(err)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("svc-respa:s3cret-Pa55word"))
	if got := f.requests()[0].header.Get("Authorization"); got != want {
		t.Errorf("Authorization %q", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no url":        {Auth: Basic{Username: "u"}},
		"ftp":           {URL: "ftp://x/", Auth: Basic{Username: "u"}},
		"userinfo":      {URL: "https://u:hunter22@x/EWS/Exchange.asmx", Auth: Basic{Username: "u"}},
		"no auth":       {URL: "https://x/EWS/Exchange.asmx"},
		"version":       {URL: "https://x/", Auth: Basic{Username: "u"}, ServerVersion: "Exchange2003"},
		"mode":          {URL: "https://x/", Auth: Basic{Username: "u"}, AccessMode: "Owner"},
		"find limit":    {URL: "https://x/", Auth: Basic{Username: "u"}, MaxEntriesReturned: 5000},
		"oauth missing": {URL: "https://x/", Auth: OAuth2ClientCredentials{ClientID: "id"}},
	} {
		_, err := New(cfg)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "hunter22") {
			t.Errorf("%s: error shows the password: %v", name, err)
		}
	}
}

func TestFindCalendarViewSplitsOnFindCountLimit(t *testing.T) {
	limit := ok200(respWrap("FindItem", errorMsg("FindItem", CodeExceededFindCountLimit,
		"You have exceeded the maximum number of objects that can be returned for the find operation. Use paging to reduce the result size and try your request again.")))
	f := newFakeEWS(t, limit, ok200(findItemResponse(genItems(1, utc("2026-01-01T01:00:00Z")), true)), ok200(findItemResponse(nil, true)))
	items, err := testClient(t, f.srv.URL).FindCalendarView(ctx, "room1@example.org", utc("2026-01-01T00:00:00Z"), utc("2026-01-03T00:00:00Z"))
	if err != nil || len(items) != 1 || len(f.requests()) != 3 {
		t.Errorf("items %d, err %v, %d requests", len(items), err, len(f.requests()))
	}
	if !strings.Contains(f.requests()[1].body, `EndDate="2026-01-02T00:00:00Z"`) {
		t.Errorf("first half: %s", f.requests()[1].body)
	}
}
