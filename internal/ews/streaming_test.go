package ews

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func streamEnvelope(inner string) string {
	return `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><soap11:Header xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/">` +
		`<ServerVersionInfo xmlns="` + nsTypes + `" MajorVersion="15" MinorVersion="2" MajorBuildNumber="1748" MinorBuildNumber="10"/></soap11:Header>` +
		`<soap11:Body xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/"><m:GetStreamingEventsResponse xmlns:m="` + nsMessages + `" xmlns:t="` + nsTypes + `">` +
		`<m:ResponseMessages>` + inner + `</m:ResponseMessages></m:GetStreamingEventsResponse></soap11:Body></Envelope>`
}

func notificationMsg(sub, kind, id string) string {
	return `<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Notifications><m:Notification>` +
		`<t:SubscriptionId>` + sub + `</t:SubscriptionId><t:` + kind + `><t:TimeStamp>2026-11-29T10:00:00Z</t:TimeStamp><t:ItemId Id="` + id + `" ChangeKey="DwAAAA=="/>` +
		`<t:ParentFolderId Id="cal" ChangeKey="AQAAAA=="/></t:` + kind + `></m:Notification></m:Notifications><m:ConnectionStatus>OK</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>`
}

const keepAlive = `<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:ConnectionStatus>OK</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>`

const closedMsg = `<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:ConnectionStatus>Closed</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>`

// writeOdd writes s in pieces of awkward sizes, flushing each, so that
// envelopes and even tags are split across chunks.
func writeOdd(w http.ResponseWriter, s string) {
	sizes := []int{1, 7, 13, 64, 3, 250}
	for i := 0; len(s) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(s))
		_, _ = io.WriteString(w, s[:n])
		w.(http.Flusher).Flush()
		s = s[n:]
	}
}

// TestStreamingDeliversEnvelopesAsTheyArrive runs Subscribe and one
// GetStreamingEvents connection against a server that streams envelopes
// in odd-sized chunks and sends the second batch only after the client
// has handed on the first: nothing may wait for the end of the response.
func TestStreamingDeliversEnvelopesAsTheyArrive(t *testing.T) {
	delivered := make(chan struct{})
	var mu sync.Mutex
	var heads []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		heads = append(heads, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		switch {
		case bytes.Contains(body, []byte("<m:Subscribe>")):
			http.SetCookie(w, &http.Cookie{Name: "X-BackEndOverrideCookie", Value: "MBX07~1942062214"})
			_, _ = w.Write(respWrap("Subscribe", successMsg("Subscribe", "<m:SubscriptionId>sub-1</m:SubscriptionId>")))
		case bytes.Contains(body, []byte("<m:GetStreamingEvents>")):
			if !bytes.Contains(body, []byte("<m:ConnectionTimeout>2</m:ConnectionTimeout>")) ||
				!bytes.Contains(body, []byte("<t:SmtpAddress>room1@example.org</t:SmtpAddress>")) {
				t.Errorf("timeout not sent in minutes: %s", body)
			}
			// Two envelopes in one chunk sequence, then wait.
			writeOdd(w, `<?xml version="1.0" encoding="utf-8"?>`+streamEnvelope(keepAlive)+"\r\n"+
				streamEnvelope(notificationMsg("sub-1", "CreatedEvent", "item-1")+notificationMsg("sub-1", "ModifiedEvent", "item-2")))
			select {
			case <-delivered:
			case <-time.After(5 * time.Second):
				t.Error("client did not deliver the first envelopes before the stream went on")
			}
			writeOdd(w, `<?xml version="1.0" encoding="utf-8"?><!-- keep-alive comment -->`+streamEnvelope(
				`<m:GetStreamingEventsResponseMessage ResponseClass="Error"><m:MessageText>The subscription was not found.</m:MessageText>`+
					`<m:ResponseCode>ErrorSubscriptionNotFound</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>`+
					`<m:ErrorSubscriptionIds><m:SubscriptionId>sub-9</m:SubscriptionId></m:ErrorSubscriptionIds></m:GetStreamingEventsResponseMessage>`)+
				streamEnvelope(closedMsg))
		default:
			t.Errorf("unexpected request %s", body)
		}
	}))
	defer srv.Close()
	c := testClient(t, srv.URL)
	id, err := c.Subscribe(ctx, "room1@example.org", "room2@example.org")
	if err != nil || id != "sub-1" {
		t.Fatalf("subscribe %q %v", id, err)
	}
	var msgs []StreamMessage
	err = c.GetStreamingEvents(ctx, "room1@example.org", []string{"sub-1", "sub-9"}, 2*time.Minute, func(m StreamMessage) error {
		msgs = append(msgs, m)
		if len(msgs) == 2 {
			close(delivered)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 4 {
		t.Fatalf("%d messages: %+v", len(msgs), msgs)
	}
	if len(msgs[0].Notifications) != 0 || msgs[0].Closed {
		t.Errorf("keep-alive %+v", msgs[0])
	}
	n := msgs[1].Notifications
	if len(n) != 2 || n[0].Kind != EventCreated || n[0].ItemID.ID != "item-1" || n[1].Kind != EventModified ||
		n[1].SubscriptionID != "sub-1" || !n[1].TimeStamp.Equal(utc("2026-11-29T10:00:00Z")) || n[1].ParentFolderID != "cal" {
		t.Errorf("notifications %+v", n)
	}
	if len(msgs[2].Errors) != 1 || !errors.Is(msgs[2].Errors[0], ErrSubscriptionNotFound) || msgs[2].Errors[0].SubscriptionIDs[0] != "sub-9" {
		t.Errorf("subscription errors %+v", msgs[2].Errors)
	}
	if !msgs[3].Closed || msgs[3].ServerVersion.MajorBuildNumber != 1748 {
		t.Errorf("closing message %+v", msgs[3])
	}

	mu.Lock()
	defer mu.Unlock()
	sub, get := heads[0], heads[1]
	if sub.Get("X-AnchorMailbox") != "room1@example.org" || sub.Get("X-PreferServerAffinity") != "true" {
		t.Errorf("subscribe headers %v", sub)
	}
	if get.Get("X-AnchorMailbox") != "room1@example.org" || get.Get("X-PreferServerAffinity") != "true" ||
		!strings.Contains(get.Get("Cookie"), "X-BackEndOverrideCookie=MBX07~1942062214") {
		t.Errorf("streaming headers %v", get)
	}
}

func TestStreamingEndsWithContextAndBrokenStreams(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		writeOdd(w, streamEnvelope(keepAlive))
		if r.Header.Get("X-Test") == "drop" {
			writeOdd(w, streamEnvelope(keepAlive)[:40])
			return
		}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	c := testClient(t, srv.URL)
	cctx, cancel := context.WithCancel(ctx)
	err := c.GetStreamingEvents(cctx, "room1@example.org", []string{"sub-1"}, time.Minute, func(StreamMessage) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled stream: %v", err)
	}

	drop := testClient(t, srv.URL, func(c *Config) {
		c.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r.Header.Set("X-Test", "drop")
			return http.DefaultTransport.RoundTrip(r)
		})
	})
	err = drop.GetStreamingEvents(ctx, "room1@example.org", []string{"sub-1"}, time.Minute, func(StreamMessage) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Errorf("dropped stream: %v", err)
	}

	stop := errors.New("enough")
	err = c.GetStreamingEvents(ctx, "room1@example.org", []string{"sub-1"}, time.Minute, func(StreamMessage) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("handler error: %v", err)
	}
	if err := c.GetStreamingEvents(ctx, "room1@example.org", make([]string, 201), time.Minute, nil); err == nil {
		t.Error("201 subscriptions on one connection accepted")
	}
}

func TestStreamEventsReconnectsAndDetectsSilence(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		conns++
		mu.Unlock()
		writeOdd(w, streamEnvelope(keepAlive))
		if r.Header.Get("X-Test") == "silent" {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		writeOdd(w, streamEnvelope(closedMsg))
	}))
	defer srv.Close()
	c := testClient(t, srv.URL)
	cctx, cancel := context.WithCancel(ctx)
	closed := 0
	err := c.StreamEvents(cctx, "room1@example.org", []string{"sub-1"}, time.Minute, func(m StreamMessage) error {
		if m.Closed {
			closed++
			if closed == 3 {
				cancel()
			}
		}
		return nil
	})
	mu.Lock()
	n := conns
	mu.Unlock()
	if !errors.Is(err, context.Canceled) || n != 3 {
		t.Errorf("err %v after %d connections", err, n)
	}

	silent := testClient(t, srv.URL, func(c *Config) {
		c.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r.Header.Set("X-Test", "silent")
			return http.DefaultTransport.RoundTrip(r)
		})
	})
	silent.silentAfter = 150 * time.Millisecond
	got := 0
	err = silent.StreamEvents(ctx, "room1@example.org", []string{"sub-1"}, time.Minute, func(StreamMessage) error { got++; return nil })
	if !errors.Is(err, errStreamSilent) || got != 1 {
		t.Errorf("silent stream: %v after %d messages", err, got)
	}
}

// TestStreamEventsStopsWhenRefused: a Closed envelope with an error (the
// server forgot the subscription) ends StreamEvents with that error even
// when the handler ignores m.Errors; reopening would be refused forever.
func TestStreamEventsStopsWhenRefused(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	const refused = `<m:GetStreamingEventsResponseMessage ResponseClass="Error"><m:MessageText>The specified subscription was not found.</m:MessageText>` +
		`<m:ResponseCode>ErrorSubscriptionNotFound</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>` +
		`<m:ErrorSubscriptionIds><t:SubscriptionId>sub-1</t:SubscriptionId></m:ErrorSubscriptionIds><m:ConnectionStatus>Closed</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		conns++
		mu.Unlock()
		writeOdd(w, streamEnvelope(refused))
	}))
	defer srv.Close()
	c := testClient(t, srv.URL)
	seen := 0
	err := c.StreamEvents(ctx, "room1@example.org", []string{"sub-1"}, time.Minute, func(m StreamMessage) error {
		seen += len(m.Errors)
		return nil
	})
	var e *Error
	if !errors.Is(err, ErrSubscriptionNotFound) || !errors.As(err, &e) || len(e.SubscriptionIDs) != 1 || e.SubscriptionIDs[0] != "sub-1" {
		t.Errorf("refused stream: %v, want ErrSubscriptionNotFound for sub-1", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 || seen != 1 {
		t.Errorf("%d connections, handler saw %d errors; want 1 and 1", conns, seen)
	}
}
