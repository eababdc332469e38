package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/internal/backend"
	"github.com/respa-exchange/respa-exchange-operator/internal/ews"
)

// maxPerConnection is how many subscriptions one streaming connection carries.
var maxPerConnection = ews.MaxSubscriptionsPerConnection

// group is the subscriptions carried by one streaming connection. They are all made with
// the same anchor mailbox, so that they live on the server the connection reaches.
type group struct {
	anchor  string
	members map[string]string // room address -> subscription id
	// gen counts connections; an error from an older one is stale.
	gen    int
	cancel context.CancelFunc
	done   chan struct{}
	// delivered is set once the current connection has carried an envelope: the
	// subscriptions worked, so a later loss starts the backoff from its minimum again.
	delivered *atomic.Bool
	dirty     bool
}

// streamEnd is a connection's end, reported to its mailbox's supervisor.
type streamEnd struct {
	g   *group
	gen int
	err error
}

// supervisor owns the subscriptions of one mailbox. Only its goroutine touches its fields.
type supervisor struct {
	n      *Notifier
	key    types.NamespacedName
	wake   <-chan struct{}
	ends   chan streamEnd
	groups []*group
	// lost are rooms whose subscription was lost: once renewed they get a catch-up pass.
	lost      map[string]bool
	lastErr   string
	backoff   time.Duration
	nextRetry time.Time
	// mb is the mailbox's spec last seen, for unsubscribing after it is no longer tracked.
	mb *v1alpha1.ExchangeMailbox
}

func (n *Notifier) startMailboxLocked(key types.NamespacedName, e *mailboxEntry) {
	ctx, cancel := context.WithCancel(n.ctx)
	e.cancel = cancel
	s := &supervisor{n: n, key: key, wake: e.wake, ends: make(chan streamEnd, 8), lost: map[string]bool{}, backoff: n.opts.RetryMin}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		s.run(ctx)
	}()
}

func (s *supervisor) run(ctx context.Context) {
	log := s.n.log.WithValues("mailbox", s.key.String())
	defer s.shutdown()
	poll := time.NewTicker(s.n.opts.ExchangePollInterval)
	defer poll.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		polled := s.step(ctx, log)
		if ctx.Err() != nil {
			return
		}
		s.n.setModes(s.key, polled)
		retry.Stop()
		if !s.nextRetry.IsZero() {
			retry.Reset(max(time.Until(s.nextRetry), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case end := <-s.ends:
			s.connectionEnded(ctx, end, log)
		case <-retry.C:
		case <-poll.C:
			for email := range polled {
				s.enqueueRoom(email, "polling")
			}
		}
	}
}

// step brings the subscriptions in line with the tracked rooms and returns the rooms that
// are polled, with the reason.
func (s *supervisor) step(ctx context.Context, log logr.Logger) map[string]string {
	mb, rooms := s.n.roomsOf(s.key)
	if mb == nil {
		return nil
	}
	s.mb = mb
	polled := map[string]string{}
	if mb.Spec.Exchange.AccessMode == "Delegate" {
		s.stopAll()
		for email := range rooms {
			polled[email] = fmt.Sprintf("delegate access cannot subscribe to notifications; polled every %s", s.n.opts.ExchangePollInterval)
		}
		return polled
	}
	// Rooms no longer tracked lose their subscription.
	for _, g := range s.groups {
		for email, id := range g.members {
			if _, ok := rooms[email]; !ok {
				delete(g.members, email)
				g.dirty = true
				s.unsubscribeLater(g.anchor, email, id)
			}
		}
	}
	var missing []string
	for email := range rooms {
		if s.groupOf(email) == nil {
			missing = append(missing, email)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 && !time.Now().Before(s.nextRetry) {
		s.subscribe(ctx, mb, missing, log)
	}
	s.restartDirty(ctx)
	for email := range rooms {
		if s.groupOf(email) == nil {
			polled[email] = fmt.Sprintf("no subscription, polled every %s: %s", s.n.opts.ExchangePollInterval, s.lastErr)
		}
	}
	return polled
}

// subscribe makes subscriptions for the rooms, in the first group with space.
func (s *supervisor) subscribe(ctx context.Context, mb *v1alpha1.ExchangeMailbox, emails []string, log logr.Logger) {
	c, err := s.n.clients(mb)
	if err != nil {
		s.failed(err)
		return
	}
	failed := false
	for _, email := range emails {
		g := s.groupWithSpace(email)
		if g == nil {
			// Every connection the server allows is full: the room is polled, and the
			// reason says so; it gets a subscription when another room leaves.
			s.lastErr = fmt.Sprintf("the mailbox's %d streaming connections of %d subscriptions each are full", s.n.opts.MaxConnections, maxPerConnection)
			continue
		}
		id, err := c.EWS.Subscribe(ctx, g.anchor, email)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if len(g.members) == 0 {
				s.dropGroup(g)
			}
			log.Info("subscribe failed; the room is polled", "room", email, "error", err.Error())
			s.lastErr = brief(err)
			failed = true
			continue
		}
		g.members[email] = id
		g.dirty = true
		if s.lost[email] {
			delete(s.lost, email)
			s.enqueueRoom(email, "catch-up after resubscribing")
		}
	}
	if failed {
		s.scheduleRetry()
		return
	}
	s.nextRetry = time.Time{}
}

func (s *supervisor) failed(err error) {
	s.lastErr = brief(err)
	s.scheduleRetry()
}

func (s *supervisor) scheduleRetry() {
	s.nextRetry = time.Now().Add(s.backoff)
	s.backoff = min(2*s.backoff, s.n.opts.RetryMax)
}

func (s *supervisor) groupOf(email string) *group {
	for _, g := range s.groups {
		if _, ok := g.members[email]; ok {
			return g
		}
	}
	return nil
}

// groupWithSpace is the first connection with room for another subscription, or a new one
// anchored on email; nil when the mailbox already has MaxConnections full connections.
func (s *supervisor) groupWithSpace(email string) *group {
	for _, g := range s.groups {
		if len(g.members) < maxPerConnection {
			return g
		}
	}
	if len(s.groups) >= s.n.opts.MaxConnections {
		return nil
	}
	g := &group{anchor: email, members: map[string]string{}}
	s.groups = append(s.groups, g)
	return g
}

func (s *supervisor) dropGroup(g *group) {
	s.stop(g)
	s.groups = slices.DeleteFunc(s.groups, func(x *group) bool { return x == g })
}

// restartDirty reopens the connections whose subscriptions changed. The subscriptions queue
// their events meanwhile, so nothing is missed.
func (s *supervisor) restartDirty(ctx context.Context) {
	for _, g := range slices.Clone(s.groups) {
		if len(g.members) == 0 {
			s.dropGroup(g)
			continue
		}
		if !g.dirty && g.cancel != nil {
			continue
		}
		s.stop(g)
		g.dirty = false
		s.open(ctx, g)
	}
}

// open starts the group's streaming connection.
func (s *supervisor) open(ctx context.Context, g *group) {
	mb, _ := s.n.roomsOf(s.key)
	if mb == nil {
		return
	}
	c, err := s.n.clients(mb)
	if err != nil {
		s.failed(err)
		s.loseGroup(g)
		return
	}
	g.gen++
	gen := g.gen
	ids := make([]string, 0, len(g.members))
	bySub := map[string]string{}
	for email, id := range g.members {
		ids = append(ids, id)
		bySub[id] = email
	}
	sort.Strings(ids)
	cctx, cancel := context.WithCancel(ctx)
	g.cancel, g.done = cancel, make(chan struct{})
	delivered := &atomic.Bool{}
	g.delivered = delivered
	done := g.done
	go func() {
		defer close(done)
		err := c.EWS.StreamEvents(cctx, g.anchor, ids, s.n.opts.StreamTimeout, func(m ews.StreamMessage) error {
			delivered.Store(true)
			for _, email := range roomsToSignal(m.Notifications, bySub, s.n.opts.OwnWrites) {
				s.signalRoom(email)
			}
			if len(m.Errors) > 0 && !m.Closed {
				return m.Errors[0]
			}
			return nil
		})
		if cctx.Err() != nil {
			return
		}
		// stop cancels cctx before it waits for this goroutine, so the send cannot block it.
		select {
		case s.ends <- streamEnd{g: g, gen: gen, err: err}:
		case <-cctx.Done():
		}
	}()
}

// connectionEnded handles a connection that broke off or was refused: the subscriptions it
// names (all of the group's, when it names none) are renewed after a backoff, and their
// rooms are polled meanwhile.
func (s *supervisor) connectionEnded(ctx context.Context, end streamEnd, log logr.Logger) {
	g := end.g
	if end.gen != g.gen || !slices.Contains(s.groups, g) {
		return
	}
	err := end.err
	if err == nil {
		err = errors.New("stream ended")
	}
	log.Info("notification stream lost; resubscribing", "anchor", g.anchor, "error", err.Error())
	if g.delivered != nil && g.delivered.Load() {
		s.backoff = s.n.opts.RetryMin
	}
	s.lastErr = brief(err)
	var ee *ews.Error
	if errors.As(err, &ee) && len(ee.SubscriptionIDs) > 0 {
		bad := map[string]bool{}
		for _, id := range ee.SubscriptionIDs {
			bad[id] = true
		}
		for email, id := range g.members {
			if bad[id] {
				delete(g.members, email)
				s.lost[email] = true
				s.unsubscribeLater(g.anchor, email, id)
			}
		}
		g.dirty = true
		if len(g.members) > 0 {
			s.stop(g)
		}
	} else {
		s.loseGroup(g)
	}
	s.scheduleRetry()
	// Rooms polled from now on get a first pass right away: their events may be lost already.
	for email := range s.lost {
		s.enqueueRoom(email, "subscription lost")
	}
}

// loseGroup forgets all of a group's subscriptions; they are made anew.
func (s *supervisor) loseGroup(g *group) {
	for email, id := range g.members {
		s.lost[email] = true
		s.unsubscribeLater(g.anchor, email, id)
	}
	g.members = map[string]string{}
	s.dropGroup(g)
}

func (s *supervisor) stop(g *group) {
	if g.cancel == nil {
		return
	}
	g.cancel()
	<-g.done
	g.cancel, g.done = nil, nil
}

func (s *supervisor) stopAll() {
	for _, g := range slices.Clone(s.groups) {
		for email, id := range g.members {
			s.unsubscribeLater(g.anchor, email, id)
		}
		s.dropGroup(g)
	}
}

// shutdown closes the connections and ends the subscriptions, so that they do not count
// against the mailbox's subscription budget (20 on Exchange Online).
func (s *supervisor) shutdown() {
	s.stopAll()
}

// unsubscribeLater ends a subscription in the background; one that is already gone is fine.
func (s *supervisor) unsubscribeLater(anchor, email, id string) {
	if s.mb == nil {
		return
	}
	c, err := s.n.clients(s.mb)
	if err != nil {
		return
	}
	s.n.wg.Add(1)
	go func() {
		defer s.n.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.EWS.Unsubscribe(ctx, anchor, email, id); err != nil && !errors.Is(err, ews.ErrSubscriptionNotFound) {
			s.n.log.V(1).Info("unsubscribe failed", "room", email, "error", err.Error())
		}
	}()
}

// signalRoom enqueues, debounced, the resources of a room that had a notification.
func (s *supervisor) signalRoom(email string) {
	_, rooms := s.n.roomsOf(s.key)
	for _, key := range rooms[email] {
		s.n.signal(key)
	}
}

// enqueueRoom enqueues the resources of a room for a catch-up or polling pass.
func (s *supervisor) enqueueRoom(email, why string) {
	_, rooms := s.n.roomsOf(s.key)
	for _, key := range rooms[email] {
		s.n.trigger(key, why)
	}
}

// brief bounds an error for status.stream.message.
func brief(err error) string {
	const limit = 300
	msg := err.Error()
	if len(msg) > limit {
		msg = strings.ToValidUTF8(msg[:limit], "") + "..."
	}
	return msg
}

// roomsToSignal picks the rooms a message of notifications should start a pass for. Exchange
// reports a calendar change as an item event, a free/busy event and a folder event; a room whose
// item events in this message all report our own writes (the exact ChangeKey a write of ours
// produced) needs no pass for them. A room with only folder events, or any other item event, does.
func roomsToSignal(ns []ews.Notification, bySub map[string]string, own *backend.OwnWrites) []string {
	type seen struct{ items, foreign bool }
	rooms := map[string]*seen{}
	var order []string
	for _, nt := range ns {
		email, ok := bySub[nt.SubscriptionID]
		if !ok {
			continue
		}
		r, ok := rooms[email]
		if !ok {
			r = &seen{}
			rooms[email] = r
			order = append(order, email)
		}
		if nt.ItemID.ID != "" {
			r.items = true
			if !own.IsEcho(nt) {
				r.foreign = true
			}
		}
	}
	out := order[:0]
	for _, email := range order {
		if r := rooms[email]; r.foreign || !r.items {
			out = append(out, email)
		}
	}
	return out
}
