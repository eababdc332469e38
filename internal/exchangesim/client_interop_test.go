package exchangesim_test

// The EWS client (internal/ews) against the simulator, over real HTTP on
// 127.0.0.1. The two were written apart; these tests are where they meet.
// Strict mode (xmllint on every request, ~0.2 s each) is used for one
// representative pass of each operation, non-strict for the bulk.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respa-exchange/respa-exchange-operator/internal/ews"
	"github.com/respa-exchange/respa-exchange-operator/internal/exchangesim"
	"github.com/respa-exchange/respa-exchange-operator/internal/testenv"
)

const (
	ioRoom1    = "room1@example.com"
	ioRoom2    = "room2@example.com"
	ioLocked   = "locked@example.com"
	ioOrg      = "organizer@example.com"
	ioUser     = "svc-sync"
	ioPassword = "Corr3ct-Horse-Battery"
	ioAppID    = "respa-operator-app"
	ioSecret   = "app-secret-value-123"
)

// interop is one simulator on 127.0.0.1 with rooms, an organizer, a
// service account and an app that may impersonate the rooms but not
// ioLocked.
type interop struct {
	sim  *exchangesim.Server
	url  string
	x500 map[string]string
}

func newInterop(t *testing.T, strict bool, tweak func(*exchangesim.Options)) *interop {
	t.Helper()
	opts := exchangesim.Options{
		StreamTimeoutUnit: time.Second,
		KeepAliveInterval: 300 * time.Millisecond,
	}
	if strict {
		opts.Strict = true
		opts.SchemaPath = interopSchema(t)
	}
	if tweak != nil {
		tweak(&opts)
	}
	sim := exchangesim.New(opts)
	io := &interop{sim: sim, x500: map[string]string{}}
	for _, mb := range []string{ioRoom1, ioRoom2, ioLocked, ioOrg} {
		info, err := sim.AddMailbox(mb, strings.TrimSuffix(mb, "@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		io.x500[mb] = info.X500
	}
	if err := sim.AddAccount(exchangesim.Account{User: ioUser, Password: ioPassword, Impersonate: []string{ioRoom1, ioRoom2}}); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddApp(exchangesim.App{ClientID: ioAppID, ClientSecret: ioSecret, Impersonate: []string{ioRoom1, ioRoom2}}); err != nil {
		t.Fatal(err)
	}
	base, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sim.Close()
		// Whatever a test did, every request the client built passed the
		// schema (when strict) and carried X-AnchorMailbox when impersonating.
		n := sim.Counters().ByOperation
		if n["SchemaValidationFailed"] != 0 || n["MissingAnchorMailbox"] != 0 {
			t.Errorf("%d requests failed the schema, %d impersonated requests lacked X-AnchorMailbox",
				n["SchemaValidationFailed"], n["MissingAnchorMailbox"])
		}
	})
	io.url = base
	return io
}

func interopSchema(t *testing.T) string {
	t.Helper()
	p := filepath.Join(testenv.SharedDir(t), "ews-schema", "soap-envelope.xsd")
	if _, err := os.Stat(p); err != nil {
		testenv.Skip(t, testenv.Shared, "EWS schema %s is absent; skipping", p)
	}
	testenv.XmllintPath(t)
	return p
}

// basic is a client with Basic auth and impersonation (the default).
func (io *interop) basic(t *testing.T, tweak func(*ews.Config)) *ews.Client {
	t.Helper()
	cfg := ews.Config{
		URL:   io.url + "/EWS/Exchange.asmx",
		Auth:  ews.Basic{Username: ioUser, Password: ioPassword},
		Retry: ews.RetryPolicy{BaseDelay: 20 * time.Millisecond, MaxDelay: 2 * time.Second},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := ews.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (io *interop) oauth(t *testing.T) *ews.Client {
	t.Helper()
	c, err := ews.New(ews.Config{
		URL: io.url + "/EWS/Exchange.asmx",
		Auth: ews.OAuth2ClientCredentials{
			TokenURL:     io.url + "/oauth2/v2.0/token",
			ClientID:     ioAppID,
			ClientSecret: ioSecret,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// day0 is a fixed Monday in the future, so views are stable.
var day0 = time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 7)

func (io *interop) event(t *testing.T, mailbox string, e exchangesim.Event) exchangesim.ItemInfo {
	t.Helper()
	info, err := io.sim.CreateEvent(mailbox, e)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func noSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{ioPassword, ioSecret} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error text carries a secret: %v", err)
		}
	}
}

// ---- auth, impersonation, access ----

func TestInteropAuthStrict(t *testing.T) {
	io := newInterop(t, true, nil)
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, nil)

	v, err := c.CheckAccess(ctx, ioRoom1)
	if err != nil {
		t.Fatalf("CheckAccess with Basic and impersonation: %v", err)
	}
	if v.MajorVersion != 15 {
		t.Errorf("server version = %+v, want major 15", v)
	}

	_, err = c.CheckAccess(ctx, ioLocked)
	if !errors.Is(err, ews.ErrImpersonateUserDenied) {
		t.Errorf("impersonating a mailbox without a grant: %v, want ErrImpersonateUserDenied", err)
	}
	_, err = c.CheckAccess(ctx, "nobody@example.com")
	if !errors.Is(err, ews.ErrNonExistentMailbox) {
		t.Errorf("unknown mailbox: %v, want ErrNonExistentMailbox", err)
	}

	bad, err := ews.New(ews.Config{URL: io.url + "/EWS/Exchange.asmx", Auth: ews.Basic{Username: ioUser, Password: "wrong-password-xyz"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.CheckAccess(ctx, ioRoom1)
	if !errors.Is(err, ews.ErrUnauthorized) {
		t.Errorf("wrong password: %v, want ErrUnauthorized", err)
	}
	if err != nil && strings.Contains(err.Error(), "wrong-password-xyz") {
		t.Errorf("error text carries the password: %v", err)
	}
	if n := io.sim.Counters().ByOperation["SchemaValidationFailed"]; n != 0 {
		t.Errorf("%d requests failed the schema", n)
	}
	if n := io.sim.Counters().ByOperation["MissingAnchorMailbox"]; n != 0 {
		t.Errorf("%d impersonated requests lacked X-AnchorMailbox", n)
	}
}

func TestInteropOAuth2(t *testing.T) {
	// Tokens live 12 s; x/oauth2 renews 10 s before expiry, so a token is
	// reused for about 2 s and then replaced.
	io := newInterop(t, false, func(o *exchangesim.Options) { o.TokenTTL = 12 * time.Second })
	ctx := ctxT(t, 30*time.Second)
	c := io.oauth(t)
	for range 3 {
		if _, err := c.CheckAccess(ctx, ioRoom1); err != nil {
			t.Fatalf("CheckAccess with OAuth2: %v", err)
		}
	}
	if n := io.sim.Counters().ByOperation["oauth2/token"]; n != 1 {
		t.Errorf("token requests after 3 calls = %d, want 1 (cached)", n)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := c.CheckAccess(ctx, ioRoom2); err != nil {
		t.Fatalf("CheckAccess after the token neared expiry: %v", err)
	}
	if n := io.sim.Counters().ByOperation["oauth2/token"]; n != 2 {
		t.Errorf("token requests after expiry = %d, want 2 (refreshed)", n)
	}

	_, err := c.CheckAccess(ctx, ioLocked)
	if !errors.Is(err, ews.ErrImpersonateUserDenied) {
		t.Errorf("app impersonating a mailbox without a grant: %v, want ErrImpersonateUserDenied", err)
	}

	// A token the server revoked early is refused; the client must get a
	// new one rather than fail until its cached token expires.
	io.sim.ExpireTokens()
	if _, err := c.CheckAccess(ctx, ioRoom1); err != nil {
		t.Errorf("CheckAccess after the server revoked the token: %v", err)
		noSecrets(t, err)
	}

	wrong, err := ews.New(ews.Config{URL: io.url + "/EWS/Exchange.asmx", Auth: ews.OAuth2ClientCredentials{
		TokenURL: io.url + "/oauth2/v2.0/token", ClientID: ioAppID, ClientSecret: "not-the-secret-456"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.CheckAccess(ctx, ioRoom1)
	if !errors.Is(err, ews.ErrUnauthorized) {
		t.Errorf("wrong client secret: %v, want ErrUnauthorized", err)
	}
	if err != nil && strings.Contains(err.Error(), "not-the-secret-456") {
		t.Errorf("error text carries the secret: %v", err)
	}
}

// ---- reading calendars ----

func TestInteropFindAndGetStrict(t *testing.T) {
	io := newInterop(t, true, nil)
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, nil)

	single := io.event(t, ioRoom1, exchangesim.Event{
		Subject: "Board meeting", Body: "agenda: budget", Location: "Room 1",
		Start: day0.Add(9 * time.Hour), End: day0.Add(10 * time.Hour),
		Organizer:         exchangesim.Person{Name: "organizer", SMTP: ioOrg, RoutingType: "EX"},
		RequiredAttendees: []exchangesim.Person{{SMTP: ioOrg}, {SMTP: "guest@outside.example"}},
		OptionalAttendees: []exchangesim.Person{{SMTP: ioRoom2}},
		ExtendedProperties: []exchangesim.ExtendedProperty{
			{PropertySetID: ews.PropertySetID, PropertyName: ews.PropertyLink, PropertyType: "String", Value: "respa:42"},
		},
	})
	series := io.event(t, ioRoom1, exchangesim.Event{
		Subject: "Daily standup", Start: day0.Add(8 * time.Hour), End: day0.Add(8*time.Hour + 15*time.Minute),
		Recurrence: &exchangesim.Recurrence{Pattern: "Daily", Interval: 1, NumberOfOccurrences: 3},
	})

	items, err := c.FindCalendarView(ctx, ioRoom1, day0, day0.AddDate(0, 0, 7))
	if err != nil {
		t.Fatalf("FindCalendarView: %v", err)
	}
	var occ []ews.CalendarItem
	var got *ews.CalendarItem
	for i := range items {
		switch items[i].Subject {
		case "Daily standup":
			occ = append(occ, items[i])
		case "Board meeting":
			got = &items[i]
		}
	}
	if got == nil || len(occ) != 3 || len(items) != 4 {
		t.Fatalf("view has %d items (%d occurrences, single found %v), want 1 single + 3 occurrences", len(items), len(occ), got != nil)
	}
	if got.ItemID != single.ID || got.CalendarItemType != ews.Single || got.UID == "" {
		t.Errorf("single from view = %+v", got)
	}
	if got.Organizer.RoutingType != "EX" || got.Organizer.Email != io.x500[ioOrg] {
		t.Errorf("FindItem organizer = %+v, want EX %s", got.Organizer, io.x500[ioOrg])
	}
	if got.ExtendedProperties[ews.PropertyLink] != "respa:42" {
		t.Errorf("FindItem extended properties = %v", got.ExtendedProperties)
	}
	for i, o := range occ {
		if o.CalendarItemType != ews.Occurrence || o.UID != series.UID || o.RecurrenceID.IsZero() {
			t.Errorf("occurrence %d = type %s uid %q recurrence-id %v, want Occurrence of uid %q", i, o.CalendarItemType, o.UID, o.RecurrenceID, series.UID)
		}
		if want := day0.Add(8*time.Hour).AddDate(0, 0, i); !o.RecurrenceID.Equal(want) || !o.Start.Equal(want) {
			t.Errorf("occurrence %d: RecurrenceID %v start %v, want %v", i, o.RecurrenceID, o.Start, want)
		}
	}

	full, itemErrs, err := c.GetCalendarItems(ctx, ioRoom1, []string{got.ItemID, occ[1].ItemID, "AAMkAGdvbmU="})
	if err != nil {
		t.Fatalf("GetCalendarItems: %v", err)
	}
	if len(full) != 3 || len(itemErrs) != 3 {
		t.Fatalf("GetCalendarItems gave %d items, %d errors, want 3 and 3", len(full), len(itemErrs))
	}
	if itemErrs[0] != nil || itemErrs[1] != nil {
		t.Fatalf("GetCalendarItems item errors: %v, %v", itemErrs[0], itemErrs[1])
	}
	if !errors.Is(itemErrs[2], ews.ErrItemNotFound) && !ews.IsCode(itemErrs[2], "ErrorInvalidIdMalformed") {
		t.Errorf("GetItem of an unknown id: %v, want ErrItemNotFound or a malformed id", itemErrs[2])
	}
	b := full[0]
	if b.Organizer.Email != ioOrg {
		t.Errorf("GetItem organizer = %+v, want SMTP %s", b.Organizer, ioOrg)
	}
	if len(b.RequiredAttendees) != 2 || b.RequiredAttendees[1].Mailbox.Email != "guest@outside.example" ||
		len(b.OptionalAttendees) != 1 || b.OptionalAttendees[0].Mailbox.Email != ioRoom2 {
		t.Errorf("GetItem attendees = %+v / %+v", b.RequiredAttendees, b.OptionalAttendees)
	}
	if !strings.Contains(b.Body, "agenda: budget") {
		t.Errorf("GetItem body = %q", b.Body)
	}
	if b.ExtendedProperties[ews.PropertyLink] != "respa:42" || b.UID != got.UID {
		t.Errorf("GetItem extended properties %v, UID %q", b.ExtendedProperties, b.UID)
	}
	if o := full[1]; o.UID != series.UID || !o.RecurrenceID.Equal(occ[1].RecurrenceID) || o.CalendarItemType != ews.Occurrence {
		t.Errorf("GetItem of an occurrence = uid %q recurrence-id %v type %s", o.UID, o.RecurrenceID, o.CalendarItemType)
	}

	mb, err := c.ResolveNames(ctx, ioRoom1, io.x500[ioOrg])
	if err != nil {
		t.Fatalf("ResolveNames of an EX address: %v", err)
	}
	if !strings.EqualFold(mb.Email, ioOrg) {
		t.Errorf("ResolveNames(%s) = %+v, want %s", io.x500[ioOrg], mb, ioOrg)
	}
	if n := io.sim.Counters().ByOperation["SchemaValidationFailed"]; n != 0 {
		t.Errorf("%d requests failed the schema", n)
	}
}

func TestInteropTruncatedViewIsSplit(t *testing.T) {
	io := newInterop(t, false, nil)
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, func(cfg *ews.Config) { cfg.MaxEntriesReturned = 10 })

	want := map[string]bool{}
	// 60 half-hour bookings over three days, plus a series and an item
	// that straddles a likely split point.
	for i := range 60 {
		st := day0.Add(time.Duration(i%20)*30*time.Minute + time.Duration(i/20)*24*time.Hour + 7*time.Hour)
		info := io.event(t, ioRoom1, exchangesim.Event{Subject: fmt.Sprintf("b%02d", i), Start: st, End: st.Add(30 * time.Minute)})
		want[info.ID] = true
	}
	long := io.event(t, ioRoom1, exchangesim.Event{Subject: "conference", Start: day0, End: day0.Add(72 * time.Hour)})
	want[long.ID] = true
	io.event(t, ioRoom1, exchangesim.Event{Subject: "series", Start: day0.Add(6 * time.Hour), End: day0.Add(6*time.Hour + 10*time.Minute),
		Recurrence: &exchangesim.Recurrence{Pattern: "Daily", Interval: 1, NumberOfOccurrences: 3}})

	items, err := c.FindCalendarView(ctx, ioRoom1, day0, day0.AddDate(0, 0, 3))
	if err != nil {
		t.Fatalf("FindCalendarView: %v", err)
	}
	seen := map[string]int{}
	series := 0
	for _, it := range items {
		seen[it.ItemID]++
		if it.Subject == "series" {
			series++
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("item %s returned %d times", id, n)
		}
	}
	for id := range want {
		if seen[id] == 0 {
			t.Errorf("item %s lost", id)
		}
	}
	if series != 3 || len(items) != len(want)+3 {
		t.Errorf("view has %d items (%d occurrences), want %d", len(items), series, len(want)+3)
	}
	finds := io.sim.Counters().ByOperation["FindItem"]
	if finds < 2 {
		t.Errorf("%d FindItem calls for 64 items at 10 per view: truncation was not split", finds)
	}
	t.Logf("%d items in %d FindItem calls", len(items), finds)

	// Three years: more than the two-year CalendarView limit.
	far := io.event(t, ioRoom1, exchangesim.Event{Subject: "far", Start: day0.AddDate(2, 6, 0), End: day0.AddDate(2, 6, 0).Add(time.Hour)})
	years, err := c.FindCalendarView(ctx, ioRoom1, day0, day0.AddDate(3, 0, 0))
	if err != nil {
		t.Fatalf("FindCalendarView over three years: %v", err)
	}
	if len(years) != len(items)+1 || years[len(years)-1].ItemID != far.ID {
		t.Errorf("three-year view: %d items, want %d ending with the far one", len(years), len(items)+1)
	}
}

// ---- writing calendars ----

func TestInteropWritesStrict(t *testing.T) {
	io := newInterop(t, true, nil)
	ctx := ctxT(t, 60*time.Second)
	c := io.basic(t, nil)
	writes(t, ctx, io, c)
	if n := io.sim.Counters().ByOperation["SchemaValidationFailed"]; n != 0 {
		t.Errorf("%d requests failed the schema", n)
	}
}

func writes(t *testing.T, ctx context.Context, io *interop, c *ews.Client) {
	t.Helper()
	mk := func(i int) ews.CalendarItem {
		st := day0.Add(time.Duration(10+i) * time.Hour)
		return ews.CalendarItem{
			Subject: fmt.Sprintf("Respa booking %d", i), Body: "from Respa", Location: "Room 1",
			Start: st, End: st.Add(45 * time.Minute),
			RequiredAttendees:  []ews.Attendee{{Mailbox: ews.Mailbox{Email: ioOrg}}},
			ExtendedProperties: map[string]string{ews.PropertyLink: fmt.Sprintf("respa:%d", i), ews.PropertyOrigin: "respa"},
		}
	}
	out, err := c.CreateCalendarItems(ctx, ioRoom1, []ews.CalendarItem{mk(0), mk(1), mk(2)}, ews.SendToNone)
	if err != nil {
		t.Fatalf("CreateCalendarItems: %v", err)
	}
	if len(out) != 3 {
		t.Fatalf("%d outcomes for 3 creates", len(out))
	}
	for i, o := range out {
		if o.Err != nil || o.ItemID.ID == "" || o.ItemID.ChangeKey == "" {
			t.Fatalf("create %d: %+v", i, o)
		}
	}

	// What the server stored, and what the client reads back.
	info, err := io.sim.Item(ioRoom1, out[1].ItemID.ID)
	if err != nil {
		t.Fatalf("simulator does not know created item: %v", err)
	}
	if info.Subject != "Respa booking 1" || !info.Start.Equal(day0.Add(11*time.Hour)) || len(info.RequiredAttendees) != 1 {
		t.Errorf("stored item = %+v", info)
	}
	view, err := c.FindCalendarView(ctx, ioRoom1, day0, day0.AddDate(0, 0, 1))
	if err != nil {
		t.Fatalf("FindCalendarView: %v", err)
	}
	if len(view) != 3 || view[1].ExtendedProperties[ews.PropertyLink] != "respa:1" || view[1].ExtendedProperties[ews.PropertyOrigin] != "respa" {
		t.Errorf("view after create = %d items, second's properties %v", len(view), func() any {
			if len(view) > 1 {
				return view[1].ExtendedProperties
			}
			return nil
		}())
	}
	got, errs, err := c.GetCalendarItems(ctx, ioRoom1, []string{out[2].ItemID.ID})
	if err != nil || errs[0] != nil {
		t.Fatalf("GetCalendarItems: %v %v", err, errs)
	}
	if got[0].ExtendedProperties[ews.PropertyLink] != "respa:2" || got[0].Body != "from Respa" || got[0].ChangeKey != out[2].ItemID.ChangeKey {
		t.Errorf("GetItem after create: props %v body %q changekey %q (create said %q)", got[0].ExtendedProperties, got[0].Body, got[0].ChangeKey, out[2].ItemID.ChangeKey)
	}

	// Someone edits item 0 in Outlook: our ChangeKey goes stale.
	subj := "moved by a person"
	if _, err := io.sim.UpdateEvent(ioRoom1, out[0].ItemID.ID, exchangesim.EventChange{Subject: &subj}); err != nil {
		t.Fatal(err)
	}
	changes := make([]ews.ItemChange, 2)
	for i := range changes {
		it := mk(i)
		it.ItemID, it.ChangeKey = out[i].ItemID.ID, out[i].ItemID.ChangeKey
		it.Subject += " (updated)"
		it.ExtendedProperties = map[string]string{ews.PropertyVersion: "v2"}
		changes[i] = ews.ItemChange{Item: it, DeleteExtendedProperties: []string{ews.PropertyOrigin}}
	}
	up, err := c.UpdateCalendarItems(ctx, ioRoom1, changes, ews.NeverOverwrite, ews.SendToNone)
	if err != nil {
		t.Fatalf("UpdateCalendarItems: %v", err)
	}
	if len(up) != 2 {
		t.Fatalf("%d outcomes for 2 updates", len(up))
	}
	if !errors.Is(up[0].Err, ews.ErrConflict) {
		t.Errorf("update with a stale ChangeKey: %v, want ErrConflict", up[0].Err)
	}
	if up[1].Err != nil || up[1].ItemID.ChangeKey == "" || up[1].ItemID.ChangeKey == out[1].ItemID.ChangeKey {
		t.Errorf("update 1 = %+v, want success with a new ChangeKey", up[1])
	}
	info, _ = io.sim.Item(ioRoom1, out[1].ItemID.ID)
	if info.Subject != "Respa booking 1 (updated)" {
		t.Errorf("stored subject after update = %q", info.Subject)
	}
	got, _, err = c.GetCalendarItems(ctx, ioRoom1, []string{out[1].ItemID.ID, out[0].ItemID.ID})
	if err != nil {
		t.Fatal(err)
	}
	if p := got[0].ExtendedProperties; p[ews.PropertyVersion] != "v2" || p[ews.PropertyLink] != "respa:1" || p[ews.PropertyOrigin] != "" {
		t.Errorf("extended properties after update = %v, want Link kept, Version set, Origin removed", p)
	}
	if got[1].Subject != subj {
		t.Errorf("conflicting update overwrote the person's edit: %q", got[1].Subject)
	}

	// Delete two, one of them twice in the same batch: the second is gone.
	del, err := c.DeleteCalendarItems(ctx, ioRoom1, []string{out[2].ItemID.ID, out[1].ItemID.ID}, ews.SendToNone)
	if err != nil {
		t.Fatalf("DeleteCalendarItems: %v", err)
	}
	for i, o := range del {
		if o.Err != nil || o.Gone {
			t.Errorf("delete %d = %+v, want deleted", i, o)
		}
	}
	del, err = c.DeleteCalendarItems(ctx, ioRoom1, []string{out[2].ItemID.ID, out[0].ItemID.ID}, ews.SendToNone)
	if err != nil {
		t.Fatalf("DeleteCalendarItems: %v", err)
	}
	if len(del) != 2 || !del[0].Gone || del[0].Err != nil || del[1].Gone || del[1].Err != nil {
		t.Errorf("delete of a gone item and a live one = %+v", del)
	}
	if items, _ := io.sim.Items(ioRoom1); len(items) != 0 {
		t.Errorf("%d items left after deleting all", len(items))
	}
}

// ---- throttling ----

func TestInteropServerBusy(t *testing.T) {
	io := newInterop(t, false, nil)
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, nil)
	io.event(t, ioRoom1, exchangesim.Event{Subject: "x", Start: day0.Add(time.Hour), End: day0.Add(2 * time.Hour)})

	if err := io.sim.InjectFault(exchangesim.Fault{Operation: "FindItem", Kind: "ServerBusy", BackOffMilliseconds: 300, Times: 2}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	items, err := c.FindCalendarView(ctx, ioRoom1, day0, day0.AddDate(0, 0, 1))
	took := time.Since(start)
	if err != nil || len(items) != 1 {
		t.Fatalf("FindCalendarView through two ServerBusy faults: %d items, %v", len(items), err)
	}
	if took < 600*time.Millisecond {
		t.Errorf("the client waited %v, less than the 2×300ms the server asked for", took)
	}
	if n := io.sim.Counters().ByOperation["FindItem"]; n != 3 {
		t.Errorf("FindItem requests = %d, want 3 (two busy, one served)", n)
	}

	if err := io.sim.InjectFault(exchangesim.Fault{Operation: "CreateItem", Kind: "ServerBusy", BackOffMilliseconds: 100, Times: 1}); err != nil {
		t.Fatal(err)
	}
	out, err := c.CreateCalendarItems(ctx, ioRoom1, []ews.CalendarItem{{Subject: "y", Start: day0.Add(3 * time.Hour), End: day0.Add(4 * time.Hour)}}, ews.SendToNone)
	busy := err
	if busy == nil && len(out) == 1 {
		busy = out[0].Err
	}
	if !errors.Is(busy, ews.ErrServerBusy) || ews.BackOffOf(busy) != 100*time.Millisecond {
		t.Errorf("busy CreateItem: %v (back-off %v), want ErrServerBusy with 100ms", busy, ews.BackOffOf(busy))
	}
	if n := io.sim.Counters().ByOperation["CreateItem"]; n != 1 {
		t.Errorf("CreateItem requests = %d, want 1 (writes are not retried)", n)
	}
}

// ---- streaming ----

func TestInteropStreamingStrict(t *testing.T) {
	io := newInterop(t, true, nil)
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, nil)
	sub, err := c.Subscribe(ctx, ioRoom1, ioRoom1)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	var mu sync.Mutex
	var created []ews.Notification
	gotOne := make(chan time.Time, 1)
	var changedAt time.Time
	closed := false
	done := make(chan error, 1)
	go func() {
		done <- c.GetStreamingEvents(ctx, ioRoom1, []string{sub}, time.Minute, func(m ews.StreamMessage) error {
			mu.Lock()
			defer mu.Unlock()
			for _, n := range m.Notifications {
				if n.Kind == ews.EventCreated {
					created = append(created, n)
					select {
					case gotOne <- time.Now():
					default:
					}
				}
			}
			if m.Closed {
				closed = true
			}
			return nil
		})
	}()
	time.Sleep(200 * time.Millisecond) // the stream is open
	mu.Lock()
	changedAt = time.Now()
	mu.Unlock()
	info := io.event(t, ioRoom1, exchangesim.Event{Subject: "walk-in", Start: day0.Add(time.Hour), End: day0.Add(2 * time.Hour)})
	select {
	case at := <-gotOne:
		if d := at.Sub(changedAt); d > time.Second {
			t.Errorf("notification arrived %v after the change, want within 1s", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no CreatedEvent within 2s of an admin change")
	}
	// ConnectionTimeout 1 "minute" is 1 s here: the server closes the stream.
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("GetStreamingEvents ended with %v, want nil after ConnectionStatus Closed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream not closed at ConnectionTimeout")
	}
	mu.Lock()
	if !closed || len(created) != 1 || created[0].ItemID.ID != info.ID || created[0].SubscriptionID != sub {
		t.Errorf("closed=%v created=%+v, want one CreatedEvent for %s", closed, created, info.ID)
	}
	mu.Unlock()
	if err := c.Unsubscribe(ctx, ioRoom1, ioRoom1, sub); err != nil {
		t.Errorf("Unsubscribe: %v", err)
	}
	if n := io.sim.Counters().ByOperation["SchemaValidationFailed"]; n != 0 {
		t.Errorf("%d requests failed the schema", n)
	}
}

func TestInteropStreamKilled(t *testing.T) {
	io := newInterop(t, false, func(o *exchangesim.Options) { o.StreamTimeoutUnit = time.Minute })
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, nil)
	sub, err := c.Subscribe(ctx, ioRoom1, ioRoom1)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}

	// A stream cut by the network: the caller gets an error, not silence.
	done := make(chan error, 1)
	go func() {
		done <- c.StreamEvents(ctx, ioRoom1, []string{sub}, time.Minute, func(ews.StreamMessage) error { return nil })
	}()
	time.Sleep(200 * time.Millisecond)
	if n := io.sim.KillStreams(ioRoom1); n != 1 {
		t.Fatalf("killed %d streams, want 1", n)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("a cut stream ended without an error")
		}
		noSecrets(t, err)
	case <-time.After(3 * time.Second):
		t.Fatal("StreamEvents did not notice the cut stream")
	}

	// A subscription the server forgot: the open stream is cut, and the
	// next connection is refused with ErrorSubscriptionNotFound, returned
	// as an error even to a handler that ignores m.Errors, so a caller
	// that reconnects on errors learns to resubscribe instead of spinning.
	ignore := func(ews.StreamMessage) error { return nil }
	go func() { done <- c.StreamEvents(ctx, ioRoom1, []string{sub}, time.Minute, ignore) }()
	time.Sleep(200 * time.Millisecond)
	if n := io.sim.KillSubscriptions(ioRoom1); n != 1 {
		t.Fatalf("killed %d subscriptions, want 1", n)
	}
	var streamErr error
	select {
	case streamErr = <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("StreamEvents did not notice the lost subscription")
	}
	if streamErr == nil {
		t.Fatal("lost subscription: no error")
	}
	before := io.sim.Counters().ByOperation["GetStreamingEvents"]
	if !errors.Is(streamErr, ews.ErrSubscriptionNotFound) {
		// The stream was cut first; reconnecting names the cause.
		streamErr = c.StreamEvents(ctx, ioRoom1, []string{sub}, time.Minute, ignore)
	}
	if !errors.Is(streamErr, ews.ErrSubscriptionNotFound) {
		t.Errorf("stream of a forgotten subscription: %v, want ErrSubscriptionNotFound", streamErr)
	}
	if n := io.sim.Counters().ByOperation["GetStreamingEvents"] - before; n > 1 {
		t.Errorf("StreamEvents reopened a refused connection %d times", n)
	}
	var e *ews.Error
	if errors.As(streamErr, &e) && (len(e.SubscriptionIDs) != 1 || e.SubscriptionIDs[0] != sub) {
		t.Errorf("error names subscriptions %v, want [%s]", e.SubscriptionIDs, sub)
	}
	if sub2, err := c.Subscribe(ctx, ioRoom1, ioRoom1); err != nil || sub2 == sub {
		t.Errorf("resubscribe: %q, %v", sub2, err)
	}
}

// ---- catch-up ----

func TestInteropSyncFolderItems(t *testing.T) {
	io := newInterop(t, false, nil)
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, nil)
	var ids []string
	for i := range 5 {
		info := io.event(t, ioRoom1, exchangesim.Event{Subject: fmt.Sprint("s", i), Start: day0.Add(time.Duration(i) * time.Hour), End: day0.Add(time.Duration(i)*time.Hour + 30*time.Minute)})
		ids = append(ids, info.ID)
	}
	// First sync, two per page.
	state := ""
	created := map[string]bool{}
	pages := 0
	for {
		r, err := c.SyncFolderItems(ctx, ioRoom1, state, 2)
		if err != nil {
			t.Fatalf("SyncFolderItems: %v", err)
		}
		pages++
		if len(r.Created)+len(r.Updated)+len(r.Deleted) > 2 {
			t.Errorf("page of %d changes, asked for 2", len(r.Created)+len(r.Updated)+len(r.Deleted))
		}
		for _, id := range r.Created {
			created[id.ID] = true
		}
		state = r.SyncState
		if r.IncludesLastItemInRange {
			break
		}
		if pages > 10 {
			t.Fatal("SyncFolderItems never reached the last item")
		}
	}
	if len(created) != 5 || pages != 3 {
		t.Errorf("first sync: %d creates in %d pages, want 5 in 3", len(created), pages)
	}
	subj := "edited"
	if _, err := io.sim.UpdateEvent(ioRoom1, ids[1], exchangesim.EventChange{Subject: &subj}); err != nil {
		t.Fatal(err)
	}
	r, err := c.SyncFolderItems(ctx, ioRoom1, state, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Updated) != 1 || r.Updated[0].ID != ids[1] || len(r.Created)+len(r.Deleted) != 0 {
		t.Errorf("after an edit: %+v", r)
	}
	if err := io.sim.DeleteEvent(ioRoom1, ids[3]); err != nil {
		t.Fatal(err)
	}
	r, err = c.SyncFolderItems(ctx, ioRoom1, r.SyncState, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Deleted) != 1 || r.Deleted[0].ID != ids[3] || len(r.Created)+len(r.Updated) != 0 || !r.IncludesLastItemInRange {
		t.Errorf("after a delete: %+v", r)
	}
	// An edit of one occurrence is an Update of its master: exceptions are
	// stored on the master (the simulator's model; EWS-NOTES §11 asks to
	// confirm it on a real server).
	series := io.event(t, ioRoom1, exchangesim.Event{Subject: "series", Start: day0.AddDate(0, 0, 1), End: day0.AddDate(0, 0, 1).Add(time.Hour),
		Recurrence: &exchangesim.Recurrence{Pattern: "Daily", Interval: 1, NumberOfOccurrences: 3}})
	r, err = c.SyncFolderItems(ctx, ioRoom1, r.SyncState, 0)
	if err != nil || len(r.Created) != 1 || r.Created[0].ID != series.ID {
		t.Fatalf("after creating a series: %+v, %v", r, err)
	}
	view, err := c.FindCalendarView(ctx, ioRoom1, day0.AddDate(0, 0, 1), day0.AddDate(0, 0, 4))
	if err != nil || len(view) != 3 {
		t.Fatalf("series view: %d, %v", len(view), err)
	}
	if _, err := io.sim.UpdateEvent(ioRoom1, view[1].ItemID, exchangesim.EventChange{Subject: &subj}); err != nil {
		t.Fatal(err)
	}
	r, err = c.SyncFolderItems(ctx, ioRoom1, r.SyncState, 0)
	if err != nil || len(r.Updated) != 1 || r.Updated[0].ID != series.ID {
		t.Errorf("after editing an occurrence: %+v, %v, want an Update of the master", r, err)
	}
	_, err = c.SyncFolderItems(ctx, ioRoom1, "bm90IGEgc3luYyBzdGF0ZQ==", 0)
	if !errors.Is(err, ews.ErrInvalidSyncStateData) {
		t.Errorf("bogus sync state: %v, want ErrInvalidSyncStateData", err)
	}
}

func TestInteropSyncStrict(t *testing.T) {
	io := newInterop(t, true, nil)
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, nil)
	io.event(t, ioRoom1, exchangesim.Event{Subject: "a", Start: day0, End: day0.Add(time.Hour)})
	r, err := c.SyncFolderItems(ctx, ioRoom1, "", 0)
	if err != nil || len(r.Created) != 1 {
		t.Fatalf("SyncFolderItems: %+v, %v", r, err)
	}
	r, err = c.SyncFolderItems(ctx, ioRoom1, r.SyncState, 0)
	if err != nil || len(r.Created)+len(r.Updated)+len(r.Deleted) != 0 {
		t.Fatalf("second SyncFolderItems: %+v, %v", r, err)
	}
	if n := io.sim.Counters().ByOperation["SchemaValidationFailed"]; n != 0 {
		t.Errorf("%d requests failed the schema", n)
	}
}

// ---- more of what a sync meets ----

func TestInteropGroupedStream(t *testing.T) {
	io := newInterop(t, false, func(o *exchangesim.Options) { o.RequireAffinity = true })
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, nil)
	// Both rooms' subscriptions ride one connection anchored on room1,
	// as the affinity guidance groups them.
	s1, err := c.Subscribe(ctx, ioRoom1, ioRoom1)
	if err != nil {
		t.Fatalf("Subscribe room1: %v", err)
	}
	s2, err := c.Subscribe(ctx, ioRoom1, ioRoom2)
	if err != nil {
		t.Fatalf("Subscribe room2: %v", err)
	}
	got := make(chan ews.Notification, 100)
	done := make(chan error, 1)
	go func() {
		done <- c.StreamEvents(ctx, ioRoom1, []string{s1, s2}, time.Minute, func(m ews.StreamMessage) error {
			for _, e := range m.Errors {
				return e
			}
			for _, n := range m.Notifications {
				got <- n
			}
			return nil
		})
	}()
	time.Sleep(200 * time.Millisecond)
	// wait reads notifications until one matches; others (the folder's
	// ModifiedEvent, FreeBusyChangedEvent) are skipped.
	wait := func(what string, match func(ews.Notification) bool) {
		t.Helper()
		deadline := time.After(time.Second)
		for {
			select {
			case n := <-got:
				if match(n) {
					return
				}
			case err := <-done:
				t.Fatalf("grouped stream ended while waiting for %s: %v", what, err)
			case <-deadline:
				t.Fatalf("no %s within 1s", what)
			}
		}
	}
	info := io.event(t, ioRoom2, exchangesim.Event{Subject: "in room 2", Start: day0, End: day0.Add(time.Hour)})
	wait("CreatedEvent for room2 on the room1-anchored connection", func(n ews.Notification) bool {
		return n.Kind == ews.EventCreated && n.ItemID.ID == info.ID && n.SubscriptionID == s2
	})
	// Past one ConnectionTimeout (1 s) StreamEvents has reopened the
	// connection; a change is still seen.
	time.Sleep(1500 * time.Millisecond)
	subj := "edited"
	if _, err := io.sim.UpdateEvent(ioRoom2, info.ID, exchangesim.EventChange{Subject: &subj}); err != nil {
		t.Fatal(err)
	}
	wait("ModifiedEvent after the connection was reopened", func(n ews.Notification) bool {
		return n.Kind == ews.EventModified && n.ItemID.ID == info.ID
	})
	if n := io.sim.Counters().ByOperation["GetStreamingEvents"]; n < 2 {
		t.Errorf("GetStreamingEvents calls = %d, want a reopen after Closed", n)
	}
}

func TestInteropOccurrencesAndExceptions(t *testing.T) {
	io := newInterop(t, false, nil)
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, nil)
	series := io.event(t, ioRoom1, exchangesim.Event{
		Subject: "weekly", Start: day0.Add(12 * time.Hour), End: day0.Add(13 * time.Hour),
		Recurrence: &exchangesim.Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: []string{day0.Weekday().String()}, NumberOfOccurrences: 4},
		ExtendedProperties: []exchangesim.ExtendedProperty{
			{PropertySetID: ews.PropertySetID, PropertyName: ews.PropertyLink, PropertyType: "String", Value: "respa:s"},
		},
	})
	view, err := c.FindCalendarView(ctx, ioRoom1, day0, day0.AddDate(0, 0, 28))
	if err != nil || len(view) != 4 {
		t.Fatalf("view: %d items, %v", len(view), err)
	}
	// A person moves the second occurrence by an hour and deletes the third.
	moved := view[1].Start.Add(time.Hour)
	movedEnd := view[1].End.Add(time.Hour)
	if _, err := io.sim.UpdateEvent(ioRoom1, view[1].ItemID, exchangesim.EventChange{Start: &moved, End: &movedEnd}); err != nil {
		t.Fatal(err)
	}
	if err := io.sim.DeleteEvent(ioRoom1, view[2].ItemID); err != nil {
		t.Fatal(err)
	}
	after, err := c.FindCalendarView(ctx, ioRoom1, day0, day0.AddDate(0, 0, 28))
	if err != nil || len(after) != 3 {
		t.Fatalf("view after edits: %d items, %v", len(after), err)
	}
	ex := after[1]
	if ex.CalendarItemType != ews.Exception || !ex.Start.Equal(moved) || !ex.RecurrenceID.Equal(view[1].RecurrenceID) || ex.UID != series.UID {
		t.Errorf("exception = type %s start %v recurrence-id %v uid %q", ex.CalendarItemType, ex.Start, ex.RecurrenceID, ex.UID)
	}
	if ex.ExtendedProperties[ews.PropertyLink] != "respa:s" {
		t.Errorf("exception's extended properties = %v", ex.ExtendedProperties)
	}
	// The client edits the last occurrence and deletes the first.
	last := after[2]
	last.Subject = "weekly (this one is special)"
	up, err := c.UpdateCalendarItems(ctx, ioRoom1, []ews.ItemChange{{Item: last, Fields: []ews.Field{ews.FieldSubject}}}, ews.AutoResolve, ews.SendToNone)
	if err != nil || up[0].Err != nil {
		t.Fatalf("update an occurrence: %v %+v", err, up)
	}
	del, err := c.DeleteCalendarItems(ctx, ioRoom1, []string{after[0].ItemID}, ews.SendToNone)
	if err != nil || del[0].Err != nil || del[0].Gone {
		t.Fatalf("delete an occurrence: %v %+v", err, del)
	}
	final, err := c.FindCalendarView(ctx, ioRoom1, day0, day0.AddDate(0, 0, 28))
	if err != nil || len(final) != 2 {
		t.Fatalf("view at the end: %d items, %v", len(final), err)
	}
	if final[1].Subject != last.Subject || final[1].CalendarItemType != ews.Exception {
		t.Errorf("edited occurrence = %q %s", final[1].Subject, final[1].CalendarItemType)
	}
	// A stale ChangeKey with AutoResolve is refused too.
	stale := final[1]
	stale.ChangeKey = last.ChangeKey
	stale.Subject = "again"
	up, err = c.UpdateCalendarItems(ctx, ioRoom1, []ews.ItemChange{{Item: stale, Fields: []ews.Field{ews.FieldSubject}}}, ews.AutoResolve, ews.SendToNone)
	if err != nil || !errors.Is(up[0].Err, ews.ErrConflict) {
		t.Errorf("AutoResolve with a stale ChangeKey: %v %+v, want ErrConflict", err, up)
	}
}

func TestInteropTimeZoneAllDayStrict(t *testing.T) {
	io := newInterop(t, true, nil)
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, func(cfg *ews.Config) { cfg.TimeZoneID = "FLE Standard Time" })
	hel, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		t.Skip("no tzdata for Europe/Helsinki")
	}
	y, m, d := day0.Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, hel)
	out, err := c.CreateCalendarItems(ctx, ioRoom1, []ews.CalendarItem{{Subject: "all day", IsAllDay: true, Start: start, End: start.AddDate(0, 0, 1)}}, ews.SendToNone)
	if err != nil || out[0].Err != nil {
		t.Fatalf("create all-day: %v %+v", err, out)
	}
	got, _, err := c.GetCalendarItems(ctx, ioRoom1, []string{out[0].ItemID.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].IsAllDay || !got[0].Start.Equal(start) || !got[0].End.Equal(start.AddDate(0, 0, 1)) {
		t.Errorf("all-day item = allday %v %v–%v, want Helsinki midnight %v", got[0].IsAllDay, got[0].Start, got[0].End, start.UTC())
	}
	if n := io.sim.Counters().ByOperation["SchemaValidationFailed"]; n != 0 {
		t.Errorf("%d requests failed the schema", n)
	}
}

func TestInteropDelegateStrict(t *testing.T) {
	io := newInterop(t, true, nil)
	ctx := ctxT(t, 30*time.Second)
	if err := io.sim.AddAccount(exchangesim.Account{User: "scheduler", Password: "sched-pass-1", Mailbox: ioOrg}); err != nil {
		t.Fatal(err)
	}
	if err := io.sim.Grant("user:scheduler", ioRoom1); err != nil {
		t.Fatal(err)
	}
	c, err := ews.New(ews.Config{URL: io.url + "/EWS/Exchange.asmx", Auth: ews.Basic{Username: "scheduler", Password: "sched-pass-1"}, AccessMode: ews.Delegate})
	if err != nil {
		t.Fatal(err)
	}
	io.event(t, ioRoom1, exchangesim.Event{Subject: "d", Start: day0, End: day0.Add(time.Hour)})
	if _, err := c.CheckAccess(ctx, ioRoom1); err != nil {
		t.Errorf("CheckAccess as a delegate: %v", err)
	}
	items, err := c.FindCalendarView(ctx, ioRoom1, day0, day0.AddDate(0, 0, 1))
	if err != nil || len(items) != 1 {
		t.Errorf("FindCalendarView as a delegate: %d items, %v", len(items), err)
	}
	out, err := c.CreateCalendarItems(ctx, ioRoom1, []ews.CalendarItem{{Subject: "by delegate", Start: day0.Add(2 * time.Hour), End: day0.Add(3 * time.Hour)}}, ews.SendToNone)
	if err != nil || out[0].Err != nil {
		t.Errorf("create as a delegate: %v %+v", err, out)
	} else if all, _ := io.sim.Items(ioRoom1); len(all) != 2 {
		t.Errorf("room1 has %d items after a delegate create, want 2", len(all))
	}
	if _, err := c.Subscribe(ctx, ioRoom1, ioRoom1); !ews.IsCode(err, ews.CodeSubscriptionDelegateAccess) {
		t.Errorf("Subscribe as a delegate: %v, want %s", err, ews.CodeSubscriptionDelegateAccess)
	}
	if _, err := c.FindCalendarView(ctx, ioRoom2, day0, day0.AddDate(0, 0, 1)); err == nil {
		t.Error("a delegate read a calendar it has no rights to")
	}
}

func TestInteropFaults(t *testing.T) {
	io := newInterop(t, false, func(o *exchangesim.Options) { o.FindCountLimit = 5 })
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, func(cfg *ews.Config) { cfg.GetItemBatchSize = 2; cfg.CreateBatchSize = 2 })
	var items []ews.CalendarItem
	for i := range 7 {
		st := day0.Add(time.Duration(i) * time.Hour)
		items = append(items, ews.CalendarItem{Subject: fmt.Sprint("f", i), Start: st, End: st.Add(30 * time.Minute)})
	}
	out, err := c.CreateCalendarItems(ctx, ioRoom1, items, ews.SendToNone)
	if err != nil || len(out) != 7 {
		t.Fatalf("create 7 in batches of 2: %v, %d outcomes", err, len(out))
	}
	ids := make([]string, len(out))
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("create %d: %v", i, o.Err)
		}
		info, _ := io.sim.Item(ioRoom1, o.ItemID.ID)
		if info.Subject != items[i].Subject {
			t.Errorf("outcome %d is %q, want %q: outcomes out of order", i, info.Subject, items[i].Subject)
		}
		ids[i] = o.ItemID.ID
	}
	if n := io.sim.Counters().ByOperation["CreateItem"]; n != 4 {
		t.Errorf("CreateItem calls = %d, want 4", n)
	}

	// The server's find budget (5) is below MaxEntriesReturned (250).
	view, err := c.FindCalendarView(ctx, ioRoom1, day0, day0.AddDate(0, 0, 1))
	if err != nil || len(view) != 7 {
		t.Errorf("view over a find budget of 5: %d items, %v", len(view), err)
	}

	// A dropped connection, an IIS 503 and a busy item are all retried for reads.
	for _, f := range []exchangesim.Fault{
		{Operation: "GetItem", Kind: "Drop", Times: 1},
		{Operation: "GetItem", Kind: "HTTP503", Times: 1},
		{Operation: "GetItem", Kind: "ItemError", InnerResponseCode: "ErrorServerBusy", BackOffMilliseconds: 50, Times: 1},
		{Operation: "GetItem", Kind: "HTTP500", Times: 1},
	} {
		if err := io.sim.InjectFault(f); err != nil {
			t.Fatal(err)
		}
		before := io.sim.Counters().ByOperation["GetItem"]
		got, errs, err := c.GetCalendarItems(ctx, ioRoom1, ids[:3])
		calls := io.sim.Counters().ByOperation["GetItem"] - before
		if f.Kind == "HTTP500" {
			// An HTML error page is not retried: it is not known to be transient.
			if err == nil && (errs[0] == nil) {
				t.Errorf("GetItem through an HTML 500 succeeded")
			}
			continue
		}
		if err != nil || len(got) != 3 || errs[0] != nil || errs[2] != nil || got[2].Subject != "f2" {
			t.Errorf("GetItem through %s: %v %v", f.Kind, err, errs)
		}
		if calls != 3 {
			t.Errorf("GetItem through %s: %d calls, want 3 (one retried batch of 2, one batch of 1)", f.Kind, calls)
		}
	}
}

func TestInteropUpdateEveryFieldStrict(t *testing.T) {
	io := newInterop(t, true, nil)
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, func(cfg *ews.Config) { cfg.TimeZoneID = "W. Europe Standard Time" })
	io.event(t, ioRoom1, exchangesim.Event{Subject: "series", Start: day0.Add(8 * time.Hour), End: day0.Add(9 * time.Hour),
		Recurrence: &exchangesim.Recurrence{Pattern: "Daily", Interval: 1, NumberOfOccurrences: 2}})
	single := io.event(t, ioRoom1, exchangesim.Event{Subject: "plain", Start: day0.Add(10 * time.Hour), End: day0.Add(11 * time.Hour),
		RequiredAttendees: []exchangesim.Person{{SMTP: ioOrg}}})
	view, err := c.FindCalendarView(ctx, ioRoom1, day0, day0.AddDate(0, 0, 2))
	if err != nil || len(view) != 3 {
		t.Fatalf("view: %d, %v", len(view), err)
	}
	all := []ews.Field{ews.FieldSubject, ews.FieldBody, ews.FieldStart, ews.FieldEnd, ews.FieldIsAllDay,
		ews.FieldLocation, ews.FieldRequiredAttendees, ews.FieldOptionalAttendees}
	var changes []ews.ItemChange
	for _, it := range view[:2] { // an occurrence and the single item
		it.Subject += " v2"
		it.Body = "new body"
		it.Location = "Hall"
		it.Start = it.Start.Add(30 * time.Minute)
		it.End = it.End.Add(30 * time.Minute)
		it.RequiredAttendees = []ews.Attendee{{Mailbox: ews.Mailbox{Email: ioRoom2}}}
		it.OptionalAttendees = nil
		it.ExtendedProperties = map[string]string{ews.PropertyVersion: "v2"}
		changes = append(changes, ews.ItemChange{Item: it, Fields: all})
	}
	up, err := c.UpdateCalendarItems(ctx, ioRoom1, changes, ews.AlwaysOverwrite, ews.SendToNone)
	if err != nil {
		t.Fatalf("UpdateCalendarItems: %v", err)
	}
	for i, o := range up {
		if o.Err != nil {
			t.Errorf("update %d: %v", i, o.Err)
		}
	}
	got, errs, err := c.GetCalendarItems(ctx, ioRoom1, []string{view[0].ItemID, single.ID})
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("GetCalendarItems: %v %v", err, errs)
	}
	for i, g := range got {
		if g.Subject != changes[i].Item.Subject || g.Body != "new body" || g.Location != "Hall" || !g.Start.Equal(changes[i].Item.Start) ||
			len(g.RequiredAttendees) != 1 || g.RequiredAttendees[0].Mailbox.Email != ioRoom2 || g.ExtendedProperties[ews.PropertyVersion] != "v2" {
			t.Errorf("item %d after update = %+v", i, g)
		}
	}
	if got[0].CalendarItemType != ews.Exception {
		t.Errorf("updated occurrence is %s, want Exception", got[0].CalendarItemType)
	}

	if _, err := c.ResolveNames(ctx, ioRoom1, "nobody-at-all"); !ews.IsCode(err, ews.CodeNameResolutionNoResults) {
		t.Errorf("ResolveNames of an unknown name: %v, want %s", err, ews.CodeNameResolutionNoResults)
	}
}

func TestInteropEdges(t *testing.T) {
	io := newInterop(t, false, nil)
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, nil)

	// An HTML body written in Outlook is read back as text.
	html := io.event(t, ioRoom1, exchangesim.Event{Subject: "html", Body: "<html><body><p>Hello <b>room</b></p></body></html>", BodyType: "HTML",
		Start: day0, End: day0.Add(time.Hour)})
	got, _, err := c.GetCalendarItems(ctx, ioRoom1, []string{html.ID})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got[0].Body, "<") || !strings.Contains(got[0].Body, "Hello") || got[0].BodyType != ews.BodyText {
		t.Errorf("HTML body read as text = %q (%s)", got[0].Body, got[0].BodyType)
	}

	// A back-off longer than the client will wait is handed to the caller.
	if err := io.sim.InjectFault(exchangesim.Fault{Operation: "FindItem", Kind: "ServerBusy", BackOffMilliseconds: 60000, Times: 1}); err != nil {
		t.Fatal(err)
	}
	before := io.sim.Counters().ByOperation["FindItem"]
	_, err = c.FindCalendarView(ctx, ioRoom1, day0, day0.AddDate(0, 0, 1))
	if !errors.Is(err, ews.ErrServerBusy) || ews.BackOffOf(err) != time.Minute {
		t.Errorf("long back-off: %v (%v), want ErrServerBusy asking for 1m", err, ews.BackOffOf(err))
	}
	if n := io.sim.Counters().ByOperation["FindItem"] - before; n != 1 {
		t.Errorf("%d FindItem calls, want 1: a long back-off is not waited out", n)
	}

	// The caller's deadline bounds a slow server.
	if err := io.sim.InjectFault(exchangesim.Fault{Operation: "GetFolder", Kind: "Latency", LatencyMilliseconds: 3000, Times: 1}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.CheckAccess(short, ioRoom1)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("slow server with a 200ms deadline: %v after %v, want DeadlineExceeded promptly", err, time.Since(start))
	}

	// Deleting a series master removes every occurrence.
	series := io.event(t, ioRoom2, exchangesim.Event{Subject: "s", Start: day0, End: day0.Add(time.Hour),
		Recurrence: &exchangesim.Recurrence{Pattern: "Daily", Interval: 1, NumberOfOccurrences: 3}})
	del, err := c.DeleteCalendarItems(ctx, ioRoom2, []string{series.ID}, ews.SendToNone)
	if err != nil || del[0].Err != nil {
		t.Fatalf("delete a master: %v %+v", err, del)
	}
	if view, err := c.FindCalendarView(ctx, ioRoom2, day0, day0.AddDate(0, 0, 7)); err != nil || len(view) != 0 {
		t.Errorf("after deleting the master: %d items, %v", len(view), err)
	}

	// Streaming as an OAuth2 app.
	app := io.oauth(t)
	sub, err := app.Subscribe(ctx, ioRoom2, ioRoom2)
	if err != nil {
		t.Fatalf("Subscribe as an app: %v", err)
	}
	seen := make(chan struct{})
	var once sync.Once
	go func() {
		_ = app.GetStreamingEvents(ctx, ioRoom2, []string{sub}, time.Minute, func(m ews.StreamMessage) error {
			for _, n := range m.Notifications {
				if n.Kind == ews.EventCreated {
					once.Do(func() { close(seen) })
				}
			}
			return nil
		})
	}()
	time.Sleep(200 * time.Millisecond)
	io.event(t, ioRoom2, exchangesim.Event{Subject: "n", Start: day0, End: day0.Add(time.Hour)})
	select {
	case <-seen:
	case <-time.After(time.Second):
		t.Error("an app's stream saw no CreatedEvent within 1s")
	}
}

func TestInteropSecondConnectionTakesOver(t *testing.T) {
	io := newInterop(t, false, func(o *exchangesim.Options) { o.StreamTimeoutUnit = time.Minute })
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, nil)
	sub, err := c.Subscribe(ctx, ioRoom1, ioRoom1)
	if err != nil {
		t.Fatal(err)
	}
	ignore := func(ews.StreamMessage) error { return nil }
	first := make(chan error, 1)
	go func() { first <- c.StreamEvents(ctx, ioRoom1, []string{sub}, time.Minute, ignore) }()
	time.Sleep(200 * time.Millisecond)
	secondCtx, stop := context.WithCancel(ctx)
	second := make(chan error, 1)
	go func() { second <- c.StreamEvents(secondCtx, ioRoom1, []string{sub}, time.Minute, ignore) }()
	// The old listener stops instead of taking the subscription back,
	// which would make the two connections evict each other forever.
	select {
	case err := <-first:
		if !ews.IsCode(err, "ErrorNewEventStreamConnectionOpened") {
			t.Errorf("superseded stream: %v, want ErrorNewEventStreamConnectionOpened", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the first stream kept running after a second connection took its subscription")
	}
	select {
	case err := <-second:
		t.Fatalf("the newer stream ended: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	stop()
	<-second
	if n := io.sim.Counters().ByOperation["GetStreamingEvents"]; n != 2 {
		t.Errorf("GetStreamingEvents calls = %d, want 2", n)
	}
}

// BenchmarkInteropFindCalendarView1000 reads a 1000-item month through the
// client from the simulator over loopback HTTP: client and server costs
// together, with 250-item views split on truncation.
func BenchmarkInteropFindCalendarView1000(b *testing.B) {
	sim := exchangesim.New(exchangesim.Options{})
	if _, err := sim.AddMailbox(ioRoom1, ""); err != nil {
		b.Fatal(err)
	}
	if err := sim.AddAccount(exchangesim.Account{User: ioUser, Password: ioPassword, Impersonate: []string{ioRoom1}}); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		st := day0.Add(time.Duration(i) * 40 * time.Minute)
		if _, err := sim.CreateEvent(ioRoom1, exchangesim.Event{Subject: fmt.Sprint("b", i), Start: st, End: st.Add(30 * time.Minute)}); err != nil {
			b.Fatal(err)
		}
	}
	base, err := sim.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	c, err := ews.New(ews.Config{URL: base + "/EWS/Exchange.asmx", Auth: ews.Basic{Username: ioUser, Password: ioPassword}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		items, err := c.FindCalendarView(ctx, ioRoom1, day0, day0.AddDate(0, 0, 28))
		if err != nil || len(items) != 1000 {
			b.Fatalf("%d items, %v", len(items), err)
		}
	}
	b.ReportMetric(float64(sim.Counters().ByOperation["FindItem"])/float64(b.N), "finds/op")
}

// BenchmarkInteropCreate100 writes 100 items (two CreateItem batches of 50)
// and deletes them again (one DeleteItem batch).
func BenchmarkInteropCreate100(b *testing.B) {
	sim := exchangesim.New(exchangesim.Options{})
	if _, err := sim.AddMailbox(ioRoom1, ""); err != nil {
		b.Fatal(err)
	}
	if err := sim.AddAccount(exchangesim.Account{User: ioUser, Password: ioPassword, Impersonate: []string{ioRoom1}}); err != nil {
		b.Fatal(err)
	}
	base, err := sim.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	c, err := ews.New(ews.Config{URL: base + "/EWS/Exchange.asmx", Auth: ews.Basic{Username: ioUser, Password: ioPassword}})
	if err != nil {
		b.Fatal(err)
	}
	items := make([]ews.CalendarItem, 100)
	for i := range items {
		st := day0.Add(time.Duration(i) * time.Hour)
		items[i] = ews.CalendarItem{Subject: fmt.Sprint("c", i), Body: "from Respa", Start: st, End: st.Add(30 * time.Minute),
			ExtendedProperties: map[string]string{ews.PropertyLink: fmt.Sprint("respa:", i)}}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out, err := c.CreateCalendarItems(ctx, ioRoom1, items, ews.SendToNone)
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]string, len(out))
		for i, o := range out {
			if o.Err != nil {
				b.Fatal(o.Err)
			}
			ids[i] = o.ItemID.ID
		}
		if _, err := c.DeleteCalendarItems(ctx, ioRoom1, ids, ews.SendToNone); err != nil {
			b.Fatal(err)
		}
	}
}

func TestInteropChangeKeysChainAndTextRoundTrips(t *testing.T) {
	io := newInterop(t, false, nil)
	ctx := ctxT(t, 30*time.Second)
	c := io.basic(t, nil)
	subject := `R&D <board> "quarterly" ‘ümlaut’ 🚀`
	out, err := c.CreateCalendarItems(ctx, ioRoom1, []ews.CalendarItem{{Subject: subject, Body: "a < b && c > d\nline 2", Location: "Sali & Aula",
		Start: day0, End: day0.Add(time.Hour), ExtendedProperties: map[string]string{ews.PropertyLink: "x&y<z>"}}}, ews.SendToNone)
	if err != nil || out[0].Err != nil {
		t.Fatalf("create: %v %+v", err, out)
	}
	got, _, err := c.GetCalendarItems(ctx, ioRoom1, []string{out[0].ItemID.ID})
	if err != nil {
		t.Fatal(err)
	}
	it := got[0]
	if it.Subject != subject || it.Body != "a < b && c > d\nline 2" || it.Location != "Sali & Aula" || it.ExtendedProperties[ews.PropertyLink] != "x&y<z>" {
		t.Errorf("round trip: subject %q body %q location %q props %v", it.Subject, it.Body, it.Location, it.ExtendedProperties)
	}
	// Each update's new ChangeKey is good for the next one.
	ck := out[0].ItemID.ChangeKey
	for i := range 3 {
		it.ChangeKey = ck
		it.Subject = fmt.Sprint("rev ", i)
		up, err := c.UpdateCalendarItems(ctx, ioRoom1, []ews.ItemChange{{Item: it, Fields: []ews.Field{ews.FieldSubject}}}, ews.NeverOverwrite, ews.SendToNone)
		if err != nil || up[0].Err != nil {
			t.Fatalf("update %d with the previous update's ChangeKey: %v %+v", i, err, up)
		}
		if up[0].ItemID.ChangeKey == ck {
			t.Errorf("update %d kept the ChangeKey", i)
		}
		ck = up[0].ItemID.ChangeKey
	}
	if info, _ := io.sim.Item(ioRoom1, it.ItemID); info.Subject != "rev 2" || info.ChangeKey != ck {
		t.Errorf("stored: %q %q, want rev 2 with ChangeKey %q", info.Subject, info.ChangeKey, ck)
	}
}
