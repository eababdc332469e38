package exchangesim

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// envelopeSeen summarises one envelope of a GetStreamingEvents body.
type envelopeSeen struct {
	status string
	code   string
	events []string
	raw    string
}

// readStream splits a chunked GetStreamingEvents body into envelopes as they
// arrive; the channel closes when the body ends, and err reports how.
func readStream(body io.Reader) (<-chan envelopeSeen, <-chan error) {
	out := make(chan envelopeSeen, 32)
	errc := make(chan error, 1)
	go func() {
		defer close(out)
		dec := xml.NewDecoder(body)
		depth := 0
		cur := envelopeSeen{}
		var inStatus, inCode bool
		for {
			tok, err := dec.Token()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				errc <- err
				return
			}
			switch tk := tok.(type) {
			case xml.StartElement:
				depth++
				switch tk.Name.Local {
				case "CreatedEvent", "ModifiedEvent", "DeletedEvent", "FreeBusyChangedEvent":
					cur.events = append(cur.events, tk.Name.Local)
				case "ConnectionStatus":
					inStatus = true
				case "ResponseCode":
					inCode = true
				}
			case xml.CharData:
				if inStatus {
					cur.status += strings.TrimSpace(string(tk))
				}
				if inCode {
					cur.code += strings.TrimSpace(string(tk))
				}
			case xml.EndElement:
				depth--
				inStatus, inCode = false, false
				if depth == 0 && tk.Name.Local == "Envelope" && tk.Name.Space == nsSOAP {
					out <- cur
					cur = envelopeSeen{}
				}
			}
		}
	}()
	return out, errc
}

func subscribeRequest() string {
	return `<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="calendar"/></t:FolderIds><t:EventTypes>
<t:EventType>CreatedEvent</t:EventType><t:EventType>ModifiedEvent</t:EventType><t:EventType>DeletedEvent</t:EventType><t:EventType>FreeBusyChangedEvent</t:EventType>
</t:EventTypes></m:StreamingSubscriptionRequest></m:Subscribe>`
}

func streamingRequest(minutes int, ids ...string) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(`<t:SubscriptionId>` + id + `</t:SubscriptionId>`)
	}
	return fmt.Sprintf(`<m:GetStreamingEvents><m:SubscriptionIds>%s</m:SubscriptionIds><m:ConnectionTimeout>%d</m:ConnectionTimeout></m:GetStreamingEvents>`, b.String(), minutes)
}

func subscribe(t *testing.T, c client) (string, *http.Response) {
	t.Helper()
	resp, raw := c.raw(subscribeRequest())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe: %d %s", resp.StatusCode, raw)
	}
	i := strings.Index(string(raw), "SubscriptionId>")
	j := strings.Index(string(raw), "</m:SubscriptionId>")
	if i < 0 || j < 0 {
		t.Fatalf("no SubscriptionId in %s", raw)
	}
	return string(raw[i+len("SubscriptionId>") : j]), resp
}

// openStream starts GetStreamingEvents and returns its envelopes as they come.
func openStream(t *testing.T, c client, ids ...string) (<-chan envelopeSeen, <-chan error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.url+"/EWS/Exchange.asmx", strings.NewReader(c.envelope(streamingRequest(1, ids...))))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(c.user, c.pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GetStreamingEvents status %d", resp.StatusCode)
	}
	if te := resp.TransferEncoding; len(te) == 0 || te[0] != "chunked" {
		t.Errorf("GetStreamingEvents is not chunked: %v", te)
	}
	return readStream(resp.Body)
}

func next(t *testing.T, envs <-chan envelopeSeen, within time.Duration) (envelopeSeen, bool) {
	t.Helper()
	select {
	case e, ok := <-envs:
		return e, ok
	case <-time.After(within):
		t.Fatalf("no envelope within %v", within)
	}
	return envelopeSeen{}, false
}

func TestStreamingDeliversChangesLiveAndClosesAtTimeout(t *testing.T) {
	sim, url := testSim(t, Options{StreamTimeoutUnit: 1500 * time.Millisecond, KeepAliveInterval: 300 * time.Millisecond})
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}
	id, resp := subscribe(t, c)
	var cookie bool
	for _, ck := range resp.Cookies() {
		cookie = cookie || ck.Name == "X-BackEndOverrideCookie" && ck.Value != ""
	}
	if !cookie {
		t.Error("Subscribe set no X-BackEndOverrideCookie")
	}
	envs, errc := openStream(t, c, id)
	first, _ := next(t, envs, 2*time.Second)
	if first.status != "OK" || first.code != "NoError" || len(first.events) != 0 {
		t.Fatalf("first envelope: %+v, want a keep-alive with ConnectionStatus OK", first)
	}
	// A person books the room while the stream is open.
	start := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Hour)
	info, err := sim.CreateEvent(room1, Event{Subject: "Walk-in booking", Start: start, End: start.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got := []envelopeSeen{first}
	var events []string
	// waitFor reads envelopes until one carries the event kind.
	waitFor := func(kind string) {
		t.Helper()
		for {
			e, ok := next(t, envs, 3*time.Second)
			if !ok {
				t.Fatalf("stream ended before a %s arrived", kind)
			}
			got = append(got, e)
			events = append(events, e.events...)
			if strings.Contains(strings.Join(e.events, " "), kind) {
				return
			}
		}
	}
	waitFor("CreatedEvent")
	// Then the booking is moved in Outlook and cancelled through EWS, within the same stream.
	if _, err := sim.UpdateEvent(room1, info.ID, EventChange{Subject: ptr("Walk-in booking (moved)")}); err != nil {
		t.Fatal(err)
	}
	waitFor("ModifiedEvent")
	if _, root := c.do(deleteRequest(info.ID)); codes(root)[0] != "NoError" {
		t.Fatalf("delete through EWS: %v", codes(root))
	}
	waitFor("DeletedEvent")
	for e := range envs {
		got = append(got, e)
	}
	if err := <-errc; err != nil {
		t.Fatalf("stream ended badly: %v", err)
	}
	if len(got) < 3 {
		t.Errorf("stream carried %d envelopes after the first, want several", len(got))
	}
	if last := got[len(got)-1]; last.status != "Closed" {
		t.Errorf("last envelope status %q, want Closed", last.status)
	}
	joined := strings.Join(events, " ")
	if !strings.Contains(joined, "CreatedEvent") || !strings.Contains(joined, "FreeBusyChangedEvent") || !strings.Contains(joined, "ModifiedEvent") {
		t.Errorf("events %v lack the create, modify and free/busy notifications", events)
	}
}

func TestStreamingErrorsAndLimits(t *testing.T) {
	sim, url := testSim(t, Options{MaxSubscriptionsPerMailbox: 2, StreamTimeoutUnit: time.Second, KeepAliveInterval: 100 * time.Millisecond})
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}
	id1, _ := subscribe(t, c)
	subscribe(t, c)
	if _, root := c.do(subscribeRequest()); codes(root)[0] != "ErrorExceededSubscriptionCount" {
		t.Errorf("third subscription: %v, want ErrorExceededSubscriptionCount", codes(root))
	}
	_, root := c.do(streamingRequest(1, "AAAAunknown"))
	if codes(root)[0] != "ErrorSubscriptionNotFound" || text(find(root, "ConnectionStatus")) != "Closed" {
		t.Errorf("unknown subscription: %v", codes(root))
	}
	many := make([]string, 201)
	for i := range many {
		many[i] = id1
	}
	if _, root := c.do(streamingRequest(1, many...)); codes(root)[0] != "ErrorInvalidSubscriptionRequest" {
		t.Errorf("201 ids: %v", codes(root))
	}
	if _, root := c.do(`<m:Unsubscribe><m:SubscriptionId>` + id1 + `</m:SubscriptionId></m:Unsubscribe>`); codes(root)[0] != "NoError" {
		t.Errorf("unsubscribe: %v", codes(root))
	}
	if _, root := c.do(`<m:Unsubscribe><m:SubscriptionId>` + id1 + `</m:SubscriptionId></m:Unsubscribe>`); codes(root)[0] != "ErrorSubscriptionNotFound" {
		t.Errorf("second unsubscribe: %v", codes(root))
	}

	// A killed stream is cut: the body ends without ConnectionStatus Closed.
	id3, _ := subscribe(t, c)
	envs, errc := openStream(t, c, id3)
	next(t, envs, 2*time.Second)
	if n := sim.KillStreams(room1); n != 1 {
		t.Errorf("KillStreams killed %d streams, want 1", n)
	}
	for e := range envs {
		if e.status == "Closed" {
			t.Error("a killed stream ended politely with Closed")
		}
	}
	if err := <-errc; err == nil {
		t.Error("a killed stream ended without a transport error")
	}
	// Killed subscriptions are gone, as after an EWS restart.
	sim.KillSubscriptions(room1)
	if _, root := c.do(streamingRequest(1, id3)); codes(root)[0] != "ErrorSubscriptionNotFound" {
		t.Errorf("killed subscription: %v", codes(root))
	}
}

func TestPullSubscription(t *testing.T) {
	sim, url := testSim(t, Options{})
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}
	_, root := c.do(`<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="calendar"/></t:FolderIds><t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes><t:Timeout>10</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`)
	id, wm := text(find(root, "SubscriptionId")), text(find(root, "Watermark"))
	if id == "" || wm == "" {
		t.Fatalf("pull subscribe: %v", codes(root))
	}
	if _, err := sim.CreateEvent(room1, Event{Subject: "x", Start: mustTime(t, "2026-12-01T08:00:00Z"), End: mustTime(t, "2026-12-01T09:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	_, root = c.do(`<m:GetEvents><m:SubscriptionId>` + id + `</m:SubscriptionId><m:Watermark>` + wm + `</m:Watermark></m:GetEvents>`)
	if find(root, "CreatedEvent") == nil {
		t.Errorf("GetEvents: no CreatedEvent")
	}
	_, root = c.do(`<m:GetEvents><m:SubscriptionId>` + id + `</m:SubscriptionId><m:Watermark>` + wm + `</m:Watermark></m:GetEvents>`)
	if find(root, "StatusEvent") == nil {
		t.Errorf("idle GetEvents: no StatusEvent")
	}
}

func TestStreamingAffinityAndSupersededConnection(t *testing.T) {
	_, url := testSim(t, Options{RequireAffinity: true, StreamTimeoutUnit: 5 * time.Second, KeepAliveInterval: time.Second})
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}
	id, resp := subscribe(t, c)
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "X-BackEndOverrideCookie" {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatal("no affinity cookie")
	}
	if _, root := c.do(streamingRequest(1, id)); codes(root)[0] != "ErrorSubscriptionNotFound" {
		t.Errorf("without the affinity cookie: %v, want ErrorSubscriptionNotFound", codes(root))
	}
	open := func() (<-chan envelopeSeen, <-chan error) {
		req, _ := http.NewRequest(http.MethodPost, url+"/EWS/Exchange.asmx", strings.NewReader(c.envelope(streamingRequest(1, id))))
		req.SetBasicAuth(svcUser, svcPass)
		req.Header.Set("X-AnchorMailbox", room1)
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return readStream(resp.Body)
	}
	first, _ := open()
	if e, _ := next(t, first, 2*time.Second); e.status != "OK" {
		t.Fatalf("with the cookie: %+v", e)
	}
	// A second connection for the same subscription ends the first with
	// ErrorNewEventStreamConnectionOpened.
	second, _ := open()
	next(t, second, 2*time.Second)
	var last envelopeSeen
	for e := range first {
		last = e
	}
	if last.status != "Closed" || last.code != "ErrorNewEventStreamConnectionOpened" {
		t.Errorf("superseded stream ended with %+v, want ErrorNewEventStreamConnectionOpened and Closed", last)
	}
}

func TestMissingAnchorMailboxIsCounted(t *testing.T) {
	sim, url := testSim(t, Options{})
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}
	c.do(getCalendar)
	if got := sim.Counters().ByOperation["MissingAnchorMailbox"]; got != 1 {
		t.Errorf("MissingAnchorMailbox = %d, want 1", got)
	}
}
