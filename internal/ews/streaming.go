package ews

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/beevik/etree"
)

// subscribedEvents are the calendar changes a sync reacts to.
var subscribedEvents = []EventKind{EventCreated, EventDeleted, EventModified, EventMoved}

// Subscribe opens a streaming subscription to the calendar folder of
// mailbox (impersonated) and returns its id. anchor is the mailbox whose
// server hosts the connection that will carry this subscription (the
// first mailbox of the group, or mailbox itself); the affinity cookie the
// server returns is kept per anchor and sent on later streaming calls.
func (c *Client) Subscribe(ctx context.Context, anchor, mailbox string) (string, error) {
	var id string
	req := c.buildSubscribe(mailbox)
	err := c.do(ctx, call{op: "Subscribe", mailbox: mailbox, anchor: anchor, streaming: true}, req, func(env *envelope) error {
		m, err := env.singleMessage("Subscribe")
		if err != nil {
			return err
		}
		id = childText(m, nsMessages, "SubscriptionId")
		if id == "" {
			return &Error{Op: "Subscribe", Code: CodeBadResponse, Message: "no SubscriptionId"}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("subscribe to calendar of %s: %w", mailbox, err)
	}
	return id, nil
}

func (c *Client) buildSubscribe(mailbox string) *request {
	r := c.newRequest(mailbox)
	ss := r.body.CreateElement("m:Subscribe").CreateElement("m:StreamingSubscriptionRequest")
	c.distinguishedFolder(ss.CreateElement("t:FolderIds"), "calendar", mailbox)
	et := ss.CreateElement("t:EventTypes")
	for _, k := range subscribedEvents {
		et.CreateElement("t:EventType").SetText(string(k))
	}
	return r
}

// Unsubscribe ends a subscription. ErrSubscriptionNotFound means it was
// already gone, which callers may treat as done.
func (c *Client) Unsubscribe(ctx context.Context, anchor, mailbox, subscriptionID string) error {
	r := c.newRequest(mailbox)
	r.body.CreateElement("m:Unsubscribe").CreateElement("m:SubscriptionId").SetText(subscriptionID)
	err := c.do(ctx, call{op: "Unsubscribe", mailbox: mailbox, anchor: anchor, streaming: true}, r, func(env *envelope) error {
		_, err := env.singleMessage("Unsubscribe")
		return err
	})
	if err != nil {
		return fmt.Errorf("unsubscribe %s: %w", mailbox, err)
	}
	return nil
}

// MaxSubscriptionsPerConnection is EWS's limit of subscription ids in one
// GetStreamingEvents request.
const MaxSubscriptionsPerConnection = 200

// errStreamSilent ends a streaming connection the server kept open past
// its own ConnectionTimeout.
var errStreamSilent = errors.New("stream outlived its ConnectionTimeout without ConnectionStatus Closed")

// streamLifetime is the ConnectionTimeout actually sent: whole minutes, 1–30.
func streamLifetime(timeout time.Duration) time.Duration {
	return time.Duration(max(1, min(30, int(timeout/time.Minute)))) * time.Minute
}

func (c *Client) buildGetStreamingEvents(anchor string, ids []string, timeout time.Duration) *request {
	minutes := int(streamLifetime(timeout) / time.Minute)
	// The connection acts as its anchor mailbox: app-only access must
	// impersonate some mailbox on every call, and the anchor is the one
	// whose server holds the group's subscriptions.
	r := c.newRequest(anchor)
	gs := r.body.CreateElement("m:GetStreamingEvents")
	list := gs.CreateElement("m:SubscriptionIds")
	for _, id := range ids {
		list.CreateElement("t:SubscriptionId").SetText(id)
	}
	gs.CreateElement("m:ConnectionTimeout").SetText(strconv.Itoa(minutes))
	return r
}

// GetStreamingEvents opens one streaming connection for the subscriptions
// (at most 200, all anchored on anchor) and calls handle with each
// envelope as soon as it has arrived whole. timeout is ConnectionTimeout
// (1–30 minutes). It returns nil after the server's ConnectionStatus
// Closed, the error handle returns, ctx's error, or an error for a
// connection that broke off or was refused. A Closed envelope that carries
// errors is a refusal: its first error is returned (handle sees them all).
func (c *Client) GetStreamingEvents(ctx context.Context, anchor string, subscriptionIDs []string, timeout time.Duration, handle func(StreamMessage) error) error {
	if len(subscriptionIDs) == 0 || len(subscriptionIDs) > MaxSubscriptionsPerConnection {
		return fmt.Errorf("get streaming events: %d subscription ids, want 1..%d", len(subscriptionIDs), MaxSubscriptionsPerConnection)
	}
	const op = "GetStreamingEvents"
	cl := call{op: op, mailbox: anchor, streaming: true}
	req := c.buildGetStreamingEvents(anchor, subscriptionIDs, timeout)
	body, err := req.bytes()
	if err != nil {
		return fmt.Errorf("get streaming events: build request: %w", err)
	}
	// The server closes the connection after ConnectionTimeout; a stream
	// still open a minute later has died silently (the failure the old
	// listener suffered from), so it is cut and reported.
	silent := streamLifetime(timeout) + time.Minute
	if c.silentAfter > 0 {
		silent = c.silentAfter
	}
	parent := ctx
	ctx, cancel := context.WithTimeoutCause(ctx, silent, errStreamSilent)
	defer cancel()
	resp, err := c.send(ctx, cl, body)
	if err != nil {
		return fmt.Errorf("get streaming events on %s: %w", anchor, err)
	}
	defer resp.Body.Close()
	if err := c.statusError(op, resp); err != nil {
		return fmt.Errorf("get streaming events on %s: %w", anchor, err)
	}
	sp := newEnvelopeSplitter(resp.Body, c.maxBody)
	for {
		data, err := sp.next()
		if err != nil {
			if parent.Err() != nil {
				return parent.Err()
			}
			if ctx.Err() != nil {
				return fmt.Errorf("get streaming events on %s: %w", anchor, context.Cause(ctx))
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("get streaming events on %s: stream ended without ConnectionStatus Closed", anchor)
			}
			return fmt.Errorf("get streaming events on %s: %w", anchor, c.streamError(err))
		}
		msg, err := parseStreamEnvelope(data)
		if err != nil {
			return fmt.Errorf("get streaming events on %s: %w", anchor, err)
		}
		c.noteVersion(msg.ServerVersion)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("get streaming events on %s: %w", anchor,
				&Error{Op: op, Code: CodeHTTPError, HTTPStatus: resp.StatusCode, Message: resp.Status})
		}
		if err := handle(msg); err != nil {
			return err
		}
		if msg.Closed && len(msg.Errors) > 0 {
			// The server refused the connection (ErrorSubscriptionNotFound
			// after a restart, ErrorNewEventStreamConnectionOpened...):
			// reopening it as is would only be refused again, so the
			// caller must resubscribe or stop.
			return fmt.Errorf("get streaming events on %s: %w", anchor, msg.Errors[0])
		}
		if msg.Closed {
			return nil
		}
	}
}

// StreamEvents keeps a streaming connection open until ctx ends: each time
// the server closes one (ConnectionStatus Closed) the next is opened with
// the same subscriptions. It returns the first error of a connection or
// of handle; resubscribing after ErrSubscriptionNotFound and catching up
// with SyncFolderItems is the caller's part.
func (c *Client) StreamEvents(ctx context.Context, anchor string, subscriptionIDs []string, timeout time.Duration, handle func(StreamMessage) error) error {
	for {
		if err := c.GetStreamingEvents(ctx, anchor, subscriptionIDs, timeout, handle); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func (c *Client) streamError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return c.transportError("GetStreamingEvents", err)
}

// parseStreamEnvelope reads one envelope of a streaming response: its
// notifications, per-subscription errors and connection status. A SOAP
// fault comes back as the error.
func parseStreamEnvelope(data []byte) (StreamMessage, error) {
	const op = "GetStreamingEvents"
	env, err := parseEnvelope(op, data)
	var out StreamMessage
	if env != nil {
		out.ServerVersion = env.version
	}
	if err != nil {
		return out, err
	}
	msgs, err := env.responseMessages(op)
	if err != nil {
		return out, err
	}
	for _, m := range msgs {
		if childText(m, nsMessages, "ConnectionStatus") == "Closed" {
			out.Closed = true
		}
		if err := messageError(op, m); err != nil {
			e := err.(*Error)
			for _, id := range eitherChildren(child(m, nsMessages, "ErrorSubscriptionIds"), "SubscriptionId") {
				e.SubscriptionIDs = append(e.SubscriptionIDs, text(id))
			}
			out.Errors = append(out.Errors, e)
		}
		for _, n := range eitherChildren(child(m, nsMessages, "Notifications"), "Notification") {
			out.Notifications = append(out.Notifications, parseNotification(n)...)
		}
	}
	return out, nil
}

// eitherChildren finds children in the types or the messages namespace:
// the schema puts them in types, while real servers write m:Notification.
func eitherChildren(e *etree.Element, local string) []*etree.Element {
	if e == nil {
		return nil
	}
	var out []*etree.Element
	for _, c := range e.ChildElements() {
		if c.Tag == local {
			if ns := c.NamespaceURI(); ns == nsTypes || ns == nsMessages {
				out = append(out, c)
			}
		}
	}
	return out
}

func parseNotification(n *etree.Element) []Notification {
	sub := childText(n, nsTypes, "SubscriptionId")
	var out []Notification
	for _, ev := range n.ChildElements() {
		if ev.NamespaceURI() != nsTypes || ev.Tag == "SubscriptionId" || ev.Tag == "PreviousWatermark" || ev.Tag == "MoreEvents" {
			continue
		}
		nt := Notification{
			SubscriptionID: sub,
			Kind:           EventKind(ev.Tag),
			TimeStamp:      parseTime(childText(ev, nsTypes, "TimeStamp")),
			ItemID:         itemIDOf(child(ev, nsTypes, "ItemId")),
			OldItemID:      itemIDOf(child(ev, nsTypes, "OldItemId")),
		}
		nt.FolderID = child(ev, nsTypes, "FolderId").NotNil().SelectAttrValue("Id", "")
		nt.ParentFolderID = child(ev, nsTypes, "ParentFolderId").NotNil().SelectAttrValue("Id", "")
		out = append(out, nt)
	}
	return out
}

// envelopeSplitter cuts a stream of back-to-back XML documents (what
// Exchange sends in one chunked GetStreamingEvents response) into whole
// root elements, each returned as soon as its end tag has been read.
// encoding/xml tokenizes the stream; the raw bytes of each root element
// are sliced out of a copy of what the tokenizer consumed, then parsed
// with etree on their own.
type envelopeSplitter struct {
	dec  *xml.Decoder
	tee  *teeBuffer
	max  int64
	done bool
}

// teeBuffer keeps the bytes read from the stream since base.
type teeBuffer struct {
	src  io.Reader
	buf  []byte
	base int64 // stream offset of buf[0]
	max  int64
}

var errEnvelopeTooLarge = errors.New("streamed envelope exceeds the size limit")

func (t *teeBuffer) Read(p []byte) (int, error) {
	n, err := t.src.Read(p)
	t.buf = append(t.buf, p[:n]...)
	if int64(len(t.buf)) > t.max+int64(len(p)) {
		return n, errEnvelopeTooLarge
	}
	return n, err
}

// discard drops the bytes before stream offset off.
func (t *teeBuffer) discard(off int64) {
	k := off - t.base
	if k <= 0 {
		return
	}
	t.buf = append(t.buf[:0], t.buf[k:]...)
	t.base = off
}

func newEnvelopeSplitter(r io.Reader, max int64) *envelopeSplitter {
	tee := &teeBuffer{src: r, max: max}
	dec := xml.NewDecoder(tee)
	dec.Strict = true
	return &envelopeSplitter{dec: dec, tee: tee, max: max}
}

// next returns the bytes of the next whole root element, or io.EOF when
// the stream ended between elements. Comments, processing instructions
// and whitespace between envelopes are skipped; a DOCTYPE is refused.
func (s *envelopeSplitter) next() ([]byte, error) {
	if s.done {
		return nil, io.EOF
	}
	depth := 0
	var start int64
	for {
		before := s.dec.InputOffset()
		tok, err := s.dec.RawToken()
		if err != nil {
			s.done = true
			if err == io.EOF && depth > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				start = before
				s.tee.discard(start)
			}
			depth++
		case xml.EndElement:
			depth--
			if depth < 0 {
				s.done = true
				return nil, fmt.Errorf("stray end tag </%s> between envelopes", t.Name.Local)
			}
			if depth == 0 {
				end := s.dec.InputOffset()
				data := bytes.Clone(s.tee.buf[start-s.tee.base : end-s.tee.base])
				s.tee.discard(end)
				return data, nil
			}
		case xml.Directive:
			s.done = true
			return nil, errors.New("DOCTYPE or other directive in the stream, refused")
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				s.done = true
				return nil, errors.New("text between envelopes")
			}
		}
		if depth > 0 && s.dec.InputOffset()-start > s.max {
			s.done = true
			return nil, errEnvelopeTooLarge
		}
	}
}
