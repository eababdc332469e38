package exchangesim

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
)

// event is one notification waiting for its subscriber.
type event struct {
	kind      string // CreatedEvent, ModifiedEvent, DeletedEvent, FreeBusyChangedEvent
	itemID    string
	changeKey string // of the item, after the change
	folderID  string // set for folder events
	parentID  string
	at        time.Time
	watermark string
}

// subscription is a streaming or pull subscription on one mailbox.
type subscription struct {
	id        string
	mb        *mailbox
	owner     string // the principal that subscribed; only it may read the subscription
	backend   string // the mailbox server holding it: the anchor's, see subscriptionBackend
	streaming bool
	types     map[string]bool
	queue     []event
	wake      chan struct{} // signalled when events are queued or the subscription dies
	killed    bool
	stream    *stream // the connection currently reading it
	watermark int64
	lastPoll  time.Time
	timeout   time.Duration // pull subscriptions die after this idle time
}

// stream is one open GetStreamingEvents response.
type stream struct {
	kill       chan struct{} // closed to end the connection
	once       sync.Once
	superseded []string // subscriptions a newer connection took over; guarded by store.mu
}

func (st *stream) stop() { st.once.Do(func() { close(st.kill) }) }

func (sub *subscription) signal() {
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

// fanOut turns a change into events for the mailbox's subscriptions: the
// item event, a FreeBusyChangedEvent, and a ModifiedEvent of the calendar
// folder, as Exchange reports a calendar edit. Called with store.mu held.
func (s *Server) fanOut(mb *mailbox, c change) {
	for _, sub := range s.subs {
		if sub.mb != mb || sub.killed {
			continue
		}
		add := func(e event) {
			if sub.types[e.kind] {
				sub.watermark++
				e.watermark = encodeID([]byte(fmt.Sprintf("WM:%d", sub.watermark)))
				sub.queue = append(sub.queue, e)
			}
		}
		add(event{kind: c.kind + "Event", itemID: c.itemID, changeKey: c.changeKey, parentID: mb.folderID, at: c.at})
		add(event{kind: "FreeBusyChangedEvent", itemID: c.itemID, changeKey: c.changeKey, parentID: mb.folderID, at: c.at})
		add(event{kind: "ModifiedEvent", folderID: mb.folderID, parentID: rootFolderID(mb), at: c.at})
		sub.signal()
	}
}

func (s *Server) subscribe(c *call) *etree.Document {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	doc, body := envelope()
	msgs := responseRoot(body, "Subscribe")
	var req *etree.Element
	for _, e := range c.req.ChildElements() {
		if e.Tag == "StreamingSubscriptionRequest" || e.Tag == "PullSubscriptionRequest" {
			req = e
		}
	}
	if req == nil {
		message(msgs, "Subscribe", errf("ErrorInvalidSubscriptionRequest", "The simulator supports streaming and pull subscriptions."))
		return doc
	}
	mb := c.mb
	for _, fe := range childElements(child(req, nsTypes, "FolderIds")) {
		fmb, _, err := s.folderTarget(c, fe)
		if err != nil {
			message(msgs, "Subscribe", err)
			return doc
		}
		if mb != nil && fmb != mb {
			message(msgs, "Subscribe", errf("ErrorSubscriptionDelegateAccessNotSupported", "Subscriptions are not supported for delegate user access."))
			return doc
		}
		mb = fmb
	}
	if mb == nil {
		message(msgs, "Subscribe", errf("ErrorMissingEmailAddress", "When making a request as an account that does not have a mailbox, you must specify the mailbox primary SMTP address for any distinguished folders."))
		return doc
	}
	n := 0
	for _, sub := range s.subs {
		if sub.mb == mb && !sub.killed {
			n++
		}
	}
	if n >= s.opts.MaxSubscriptionsPerMailbox {
		message(msgs, "Subscribe", errf("ErrorExceededSubscriptionCount", "You have exceeded the available subscriptions for your account. Remove unnecessary subscriptions and try your request again."))
		return doc
	}
	sub := &subscription{id: newSubscriptionID(), mb: mb, owner: c.principal, backend: s.subscriptionBackend(c, mb), streaming: req.Tag == "StreamingSubscriptionRequest",
		types: map[string]bool{}, wake: make(chan struct{}, 1), lastPoll: s.opts.Now()}
	for _, t := range children(child(req, nsTypes, "EventTypes"), nsTypes, "EventType") {
		sub.types[text(t)] = true
	}
	if !sub.streaming {
		minutes, _ := strconv.Atoi(text(child(req, nsTypes, "Timeout")))
		if minutes < 1 {
			minutes = 30
		}
		sub.timeout = time.Duration(minutes) * s.opts.StreamTimeoutUnit
	}
	s.subs[sub.id] = sub
	setAffinityCookie(c.w, sub.backend)
	m := message(msgs, "Subscribe", nil)
	m.CreateElement("m:SubscriptionId").SetText(sub.id)
	if !sub.streaming {
		m.CreateElement("m:Watermark").SetText(encodeID([]byte("WM:0")))
	}
	return doc
}

func newSubscriptionID() string {
	// Like Exchange's: the backend host name and a GUID, base64.
	host := "SIMMBX01.sim.local"
	b := append([]byte{byte(len(host)), 0}, host...)
	b = append(b, 0x10, 0, 0, 0)
	return encodeID(append(b, randomBytes(16)...))
}

func (s *Server) unsubscribe(c *call) *etree.Document {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	doc, body := envelope()
	msgs := responseRoot(body, "Unsubscribe")
	id := text(child(c.req, nsMessages, "SubscriptionId"))
	sub := s.subs[id]
	if sub == nil || sub.killed {
		message(msgs, "Unsubscribe", errSubscriptionNotFound())
		return doc
	}
	s.dropSubscriptionLocked(sub)
	message(msgs, "Unsubscribe", nil)
	return doc
}

func errSubscriptionNotFound() *ewsError {
	return errf("ErrorSubscriptionNotFound", "The specified subscription was not found.")
}

func (s *Server) dropSubscriptionLocked(sub *subscription) {
	sub.killed = true
	delete(s.subs, sub.id)
	sub.signal()
}

// getEvents serves pull subscriptions: queued events, or a StatusEvent.
func (s *Server) getEvents(c *call) *etree.Document {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	doc, body := envelope()
	msgs := responseRoot(body, "GetEvents")
	id := text(child(c.req, nsMessages, "SubscriptionId"))
	sub := s.subs[id]
	if sub != nil && !sub.streaming && s.opts.Now().Sub(sub.lastPoll) > sub.timeout {
		s.dropSubscriptionLocked(sub)
		sub = nil
	}
	if sub == nil || sub.streaming || !s.hasAffinity(c, sub) {
		message(msgs, "GetEvents", errSubscriptionNotFound())
		return doc
	}
	sub.lastPoll = s.opts.Now()
	m := message(msgs, "GetEvents", nil)
	n := m.CreateElement("m:Notification")
	n.CreateElement("t:SubscriptionId").SetText(sub.id)
	n.CreateElement("t:PreviousWatermark").SetText(text(child(c.req, nsMessages, "Watermark")))
	batch := sub.queue
	if len(batch) > 50 {
		batch = batch[:50]
	}
	sub.queue = sub.queue[len(batch):]
	n.CreateElement("t:MoreEvents").SetText(strconv.FormatBool(len(sub.queue) > 0))
	if len(batch) == 0 {
		st := n.CreateElement("t:StatusEvent")
		st.CreateElement("t:Watermark").SetText(encodeID([]byte(fmt.Sprintf("WM:%d", sub.watermark))))
	}
	for _, e := range batch {
		writeEvent(n, e)
	}
	return doc
}

func writeEvent(n *etree.Element, e event) {
	ev := n.CreateElement("t:" + e.kind)
	if e.watermark != "" {
		ev.CreateElement("t:Watermark").SetText(e.watermark)
	}
	ev.CreateElement("t:TimeStamp").SetText(fmtTime(e.at))
	if e.folderID != "" {
		f := ev.CreateElement("t:FolderId")
		f.CreateAttr("Id", e.folderID)
		f.CreateAttr("ChangeKey", "AQAAAA==")
	} else {
		it := ev.CreateElement("t:ItemId")
		it.CreateAttr("Id", e.itemID)
		ck := e.changeKey
		if ck == "" {
			ck = "AAAAAA=="
		}
		it.CreateAttr("ChangeKey", ck)
	}
	p := ev.CreateElement("t:ParentFolderId")
	p.CreateAttr("Id", e.parentID)
	p.CreateAttr("ChangeKey", "AQAAAA==")
	if e.kind == "ModifiedEvent" && e.folderID != "" {
		ev.CreateElement("t:UnreadCount").SetText("0")
	}
}

// maxStreamSubscriptions is the documented cap of SubscriptionIds per request.
const maxStreamSubscriptions = 200

// getStreamingEvents holds the connection open and writes one SOAP envelope
// per keep-alive or batch of notifications into a single chunked response,
// ending with ConnectionStatus Closed when ConnectionTimeout elapses.
func (s *Server) getStreamingEvents(c *call) *etree.Document {
	ids := children(child(c.req, nsMessages, "SubscriptionIds"), nsTypes, "SubscriptionId")
	minutes, _ := strconv.Atoi(text(child(c.req, nsMessages, "ConnectionTimeout")))
	if minutes < 1 || minutes > 30 {
		return streamError(errf("ErrorInvalidArgument", "ConnectionTimeout must be between 1 and 30 minutes."), nil)
	}
	if len(ids) > maxStreamSubscriptions {
		return streamError(errf("ErrorInvalidSubscriptionRequest", "A request can include at most %d subscriptions.", maxStreamSubscriptions), nil)
	}
	st := &stream{kill: make(chan struct{})}
	var subs []*subscription
	var bad []string
	s.store.mu.Lock()
	for _, e := range ids {
		sub := s.subs[text(e)]
		if sub == nil || sub.killed || !sub.streaming || sub.owner != c.principal || !s.hasAffinity(c, sub) {
			bad = append(bad, text(e))
			continue
		}
		subs = append(subs, sub)
	}
	if len(bad) > 0 || len(subs) == 0 {
		s.store.mu.Unlock()
		return streamError(errSubscriptionNotFound(), bad)
	}
	for _, sub := range subs {
		if sub.stream != nil {
			// A newer connection takes the subscription over; the old one is told so.
			sub.stream.superseded = append(sub.stream.superseded, sub.id)
			sub.stream.stop()
		}
		sub.stream = st
	}
	s.streams[st] = true
	s.store.mu.Unlock()
	defer func() {
		s.store.mu.Lock()
		delete(s.streams, st)
		for _, sub := range subs {
			if sub.stream == st {
				sub.stream = nil
			}
		}
		s.store.mu.Unlock()
	}()

	w, flusher := c.w, c.w.(http.Flusher)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	send := func(doc *etree.Document) bool {
		var buf bytes.Buffer
		doc.WriteSettings.CanonicalEndTags = false
		doc.Indent(etree.NoIndent)
		if _, err := doc.WriteTo(&buf); err != nil {
			return false
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return false
		}
		flusher.Flush()
		return true
	}
	if !send(streamEnvelope(nil, "OK", nil, nil)) {
		return nil
	}
	timeout := time.NewTimer(time.Duration(minutes) * s.opts.StreamTimeoutUnit)
	defer timeout.Stop()
	keepAlive := time.NewTicker(s.opts.KeepAliveInterval)
	defer keepAlive.Stop()
	wake := make(chan struct{}, 1)
	for _, sub := range subs {
		go func(sub *subscription) {
			for {
				select {
				case <-sub.wake:
					select {
					case wake <- struct{}{}:
					default:
					}
				case <-st.kill:
					return
				case <-c.r.Context().Done():
					return
				}
			}
		}(sub)
	}
	defer st.stop()
	for {
		select {
		case <-c.r.Context().Done():
			return nil
		case <-st.kill:
			s.store.mu.Lock()
			taken := st.superseded
			s.store.mu.Unlock()
			if len(taken) > 0 {
				send(streamEnvelope(nil, "Closed", errf("ErrorNewEventStreamConnectionOpened",
					"The request was terminated because a new event stream connection was opened."), taken))
				return nil
			}
			// Killed streams are cut, not closed politely.
			panic(http.ErrAbortHandler)
		case <-timeout.C:
			send(streamEnvelope(nil, "Closed", nil, nil))
			return nil
		case <-keepAlive.C:
			if !send(streamEnvelope(nil, "OK", nil, nil)) {
				return nil
			}
		case <-wake:
			s.store.mu.Lock()
			var notes []*subscription
			batches := map[*subscription][]event{}
			dead := false
			for _, sub := range subs {
				if sub.killed {
					dead = true
				}
				if len(sub.queue) == 0 {
					continue
				}
				n := len(sub.queue)
				if n > 50 {
					n = 50
				}
				batches[sub] = sub.queue[:n]
				sub.queue = sub.queue[n:]
				notes = append(notes, sub)
				if len(sub.queue) > 0 {
					sub.signal()
				}
			}
			s.store.mu.Unlock()
			if len(notes) > 0 {
				doc := streamEnvelope(func(ns *etree.Element) {
					for _, sub := range notes {
						n := ns.CreateElement("t:Notification")
						n.CreateElement("t:SubscriptionId").SetText(sub.id)
						for _, e := range batches[sub] {
							writeEvent(n, e)
						}
					}
				}, "OK", nil, nil)
				if !send(doc) {
					return nil
				}
			}
			if dead {
				panic(http.ErrAbortHandler)
			}
		}
	}
}

// streamEnvelope is one envelope of a stream, shaped as Exchange writes them
// (default-namespace Envelope, soap11: Header and Body).
func streamEnvelope(notifications func(*etree.Element), status string, failure *ewsError, failedIDs []string) *etree.Document {
	doc := etree.NewDocument()
	env := doc.CreateElement("Envelope")
	env.CreateAttr("xmlns", nsSOAP)
	hdr := env.CreateElement("soap11:Header")
	hdr.CreateAttr("xmlns:soap11", nsSOAP)
	svi := hdr.CreateElement("ServerVersionInfo")
	for _, a := range [][2]string{{"MajorVersion", "15"}, {"MinorVersion", "2"}, {"MajorBuildNumber", "1748"}, {"MinorBuildNumber", "10"}, {"Version", "V2017_07_11"}} {
		svi.CreateAttr(a[0], a[1])
	}
	svi.CreateAttr("xmlns", nsTypes)
	b := env.CreateElement("soap11:Body")
	b.CreateAttr("xmlns:soap11", nsSOAP)
	r := b.CreateElement("m:GetStreamingEventsResponse")
	r.CreateAttr("xmlns:m", nsMessages)
	r.CreateAttr("xmlns:t", nsTypes)
	m := message(r.CreateElement("m:ResponseMessages"), "GetStreamingEvents", failure)
	if notifications != nil {
		notifications(m.CreateElement("m:Notifications"))
	}
	if len(failedIDs) > 0 {
		list := m.CreateElement("m:ErrorSubscriptionIds")
		for _, id := range failedIDs {
			list.CreateElement("t:SubscriptionId").SetText(id)
		}
	}
	m.CreateElement("m:ConnectionStatus").SetText(status)
	return doc
}

// streamError is the plain (not streamed) answer to a bad GetStreamingEvents.
func streamError(err *ewsError, badIDs []string) *etree.Document {
	doc, body := envelope()
	msgs := responseRoot(body, "GetStreamingEvents")
	m := message(msgs, "GetStreamingEvents", err)
	if len(badIDs) > 0 {
		list := m.CreateElement("m:ErrorSubscriptionIds")
		for _, id := range badIDs {
			list.CreateElement("t:SubscriptionId").SetText(id)
		}
	}
	m.CreateElement("m:ConnectionStatus").SetText("Closed")
	return doc
}

// KillStreams cuts every open GetStreamingEvents connection of the mailbox
// (all when empty) without a Closed envelope, as a dropped connection would.
func (s *Server) KillStreams(mailbox string) int {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	n := 0
	for st := range s.streams {
		match := mailbox == ""
		for _, sub := range s.subs {
			if sub.stream == st && strings.EqualFold(sub.mb.smtp, mailbox) {
				match = true
			}
		}
		if match {
			st.stop()
			n++
		}
	}
	return n
}

// KillSubscriptions forgets the mailbox's subscriptions (all when empty), as
// an EWS process restart does: later calls get ErrorSubscriptionNotFound and
// streams reading them are cut.
func (s *Server) KillSubscriptions(mailbox string) int {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	n := 0
	for _, sub := range s.subs {
		if mailbox == "" || strings.EqualFold(sub.mb.smtp, mailbox) {
			s.dropSubscriptionLocked(sub)
			n++
		}
	}
	return n
}
