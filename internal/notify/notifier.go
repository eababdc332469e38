package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/internal/backend"
)

// Stream modes, as status.stream.mode spells them.
const (
	ModeStreaming = "Streaming"
	ModePolling   = "Polling"
)

// Options tune the Notifier; zero values take the defaults.
type Options struct {
	// ExchangePollInterval is how often rooms without a working subscription are enqueued
	// (default 30s).
	ExchangePollInterval time.Duration
	// RespaPollInterval is how often each Respa instance is listed (default 15s).
	RespaPollInterval time.Duration
	// Debounce is how long notifications for a room are gathered into one pass (default 500ms).
	Debounce time.Duration
	// RetryMin and RetryMax bound the backoff between attempts to resubscribe (default 1s and 2m).
	RetryMin, RetryMax time.Duration
	// StreamTimeout is the ConnectionTimeout asked of Exchange, 1–30 minutes (default 30m).
	StreamTimeout time.Duration
	// MaxConnections bounds the streaming connections of one mailbox (default 10, Exchange
	// Online's HangingConnectionLimit; Exchange 2013 allows 3). Rooms past
	// MaxConnections × 200 subscriptions are polled.
	MaxConnections int
	// OwnWrites, when set, tells the notifications about the operator's own writes, which
	// start no pass.
	OwnWrites *backend.OwnWrites
}

func (o *Options) defaults() {
	if o.MaxConnections <= 0 {
		o.MaxConnections = 10
	}
	if o.ExchangePollInterval <= 0 {
		o.ExchangePollInterval = 30 * time.Second
	}
	if o.RespaPollInterval <= 0 {
		o.RespaPollInterval = 15 * time.Second
	}
	if o.Debounce <= 0 {
		o.Debounce = 500 * time.Millisecond
	}
	if o.RetryMin <= 0 {
		o.RetryMin = time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 2 * time.Minute
	}
	o.RetryMax = max(o.RetryMax, o.RetryMin)
	if o.StreamTimeout <= 0 {
		o.StreamTimeout = 30 * time.Minute
	}
}

// ClientsFunc returns the clients of a mailbox; an error means they cannot be had yet
// (credentials not resolved), and the mailbox's rooms are polled meanwhile.
type ClientsFunc func(mb *v1alpha1.ExchangeMailbox) (*backend.Clients, error)

// ErrNoCredentials is what a ClientsFunc returns before the mailbox's credentials are known.
var ErrNoCredentials = errors.New("credentials of the mailbox are not resolved yet")

// room is what the Notifier knows of one tracked ExchangeResource.
type room struct {
	email      string // lower case
	mailbox    types.NamespacedName
	resourceID string
	respaURL   string
	future     time.Duration
	// respaChanges is false for resources that only copy Exchange to Respa: a change in Respa
	// gives them nothing to do.
	respaChanges bool
}

// mailboxEntry is a mailbox with at least one tracked room.
type mailboxEntry struct {
	mb     *v1alpha1.ExchangeMailbox
	rooms  map[types.NamespacedName]room
	wake   chan struct{}
	cancel context.CancelFunc // of its supervisor; nil until started
}

func (e *mailboxEntry) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Notifier watches Exchange and Respa for the tracked resources and enqueues them when their
// data changed. It is a manager Runnable (Start), needing leader election like the controllers.
type Notifier struct {
	opts    Options
	clients ClientsFunc
	log     logr.Logger

	resEvents chan event.GenericEvent
	mbEvents  chan event.GenericEvent

	mu          sync.Mutex
	ctx         context.Context // set by Start
	wg          sync.WaitGroup
	resources   map[types.NamespacedName]room
	mailboxes   map[types.NamespacedName]*mailboxEntry
	changed     map[types.NamespacedName]bool
	timers      map[types.NamespacedName]*time.Timer
	resStreams  map[types.NamespacedName]v1alpha1.StreamStatus
	mbStreams   map[types.NamespacedName]v1alpha1.StreamStatus
	respaPolled map[string]bool // Respa instances with a running poller
}

// New returns a Notifier that gets clients from clients.
func New(opts Options, clients ClientsFunc, log logr.Logger) *Notifier {
	opts.defaults()
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	return &Notifier{
		opts:        opts,
		clients:     clients,
		log:         log,
		resEvents:   make(chan event.GenericEvent, 1024),
		mbEvents:    make(chan event.GenericEvent, 256),
		resources:   map[types.NamespacedName]room{},
		mailboxes:   map[types.NamespacedName]*mailboxEntry{},
		changed:     map[types.NamespacedName]bool{},
		timers:      map[types.NamespacedName]*time.Timer{},
		resStreams:  map[types.NamespacedName]v1alpha1.StreamStatus{},
		mbStreams:   map[types.NamespacedName]v1alpha1.StreamStatus{},
		respaPolled: map[string]bool{},
	}
}

// Start runs the supervisors and pollers until ctx ends, then unsubscribes.
func (n *Notifier) Start(ctx context.Context) error {
	n.mu.Lock()
	n.ctx = ctx
	for key, e := range n.mailboxes {
		n.startMailboxLocked(key, e)
	}
	for _, r := range n.resources {
		n.ensureRespaPollerLocked(r.respaURL)
	}
	n.mu.Unlock()
	<-ctx.Done()
	n.wg.Wait()
	return nil
}

// ResourceEvents carries the ExchangeResources to enqueue.
func (n *Notifier) ResourceEvents() <-chan event.GenericEvent { return n.resEvents }

// MailboxEvents carries the ExchangeMailboxes whose stream state changed.
func (n *Notifier) MailboxEvents() <-chan event.GenericEvent { return n.mbEvents }

func roomOf(res *v1alpha1.ExchangeResource, mb *v1alpha1.ExchangeMailbox) room {
	future := 365 * 24 * time.Hour
	if res.Spec.Window.Future != nil && res.Spec.Window.Future.Duration > 0 {
		future = res.Spec.Window.Future.Duration
	}
	return room{
		email:        strings.ToLower(res.Spec.Exchange.Email),
		mailbox:      types.NamespacedName{Namespace: mb.Namespace, Name: mb.Name},
		resourceID:   res.Spec.Respa.ResourceID,
		respaURL:     mb.Spec.Respa.URL,
		future:       future,
		respaChanges: res.Spec.Direction != v1alpha1.DirectionExchangeToRespa,
	}
}

// Track watches the resource's room through mb. Calling it again with the same data is cheap;
// a new mailbox, room or mailbox generation moves or renews the subscription.
func (n *Notifier) Track(res *v1alpha1.ExchangeResource, mb *v1alpha1.ExchangeMailbox) {
	key := types.NamespacedName{Namespace: res.Namespace, Name: res.Name}
	r := roomOf(res, mb)
	n.mu.Lock()
	defer n.mu.Unlock()
	old, had := n.resources[key]
	if had && old.mailbox != r.mailbox {
		n.removeRoomLocked(key, old)
	}
	n.resources[key] = r
	e := n.mailboxes[r.mailbox]
	switch {
	case e == nil:
		e = &mailboxEntry{mb: mb.DeepCopy(), rooms: map[types.NamespacedName]room{}, wake: make(chan struct{}, 1)}
		n.mailboxes[r.mailbox] = e
	case e.mb.Generation != mb.Generation || e.mb.UID != mb.UID:
		// New spec (URL, auth, access mode): start over with fresh subscriptions.
		e.mb = mb.DeepCopy()
		if e.cancel != nil {
			e.cancel()
			e.cancel = nil
		}
	}
	if cur, ok := e.rooms[key]; !ok || cur != r {
		e.rooms[key] = r
		e.poke()
	}
	if n.ctx != nil {
		if e.cancel == nil {
			n.startMailboxLocked(r.mailbox, e)
		}
		n.ensureRespaPollerLocked(r.respaURL)
	}
}

// Untrack stops watching the resource.
func (n *Notifier) Untrack(key types.NamespacedName) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r, ok := n.resources[key]
	if !ok {
		return
	}
	delete(n.resources, key)
	delete(n.changed, key)
	delete(n.resStreams, key)
	if t := n.timers[key]; t != nil {
		t.Stop()
		delete(n.timers, key)
	}
	n.removeRoomLocked(key, r)
}

func (n *Notifier) removeRoomLocked(key types.NamespacedName, r room) {
	e := n.mailboxes[r.mailbox]
	if e == nil {
		return
	}
	delete(e.rooms, key)
	if len(e.rooms) > 0 {
		e.poke()
		return
	}
	if e.cancel != nil {
		e.cancel()
	}
	delete(n.mailboxes, r.mailbox)
	if _, had := n.mbStreams[r.mailbox]; had {
		delete(n.mbStreams, r.mailbox)
		n.sendMailboxLocked(r.mailbox)
	}
}

// TakeChanged reports whether a change was signalled for the resource since the last call.
func (n *Notifier) TakeChanged(key types.NamespacedName) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.changed[key]
	delete(n.changed, key)
	return c
}

// ResourceStream is the resource's stream state, nil when it is not tracked or not yet known.
func (n *Notifier) ResourceStream(key types.NamespacedName) *v1alpha1.StreamStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.resStreams[key]
	if !ok {
		return nil
	}
	return s.DeepCopy()
}

// MailboxStream is the mailbox's stream state: Polling while any of its rooms is polled.
func (n *Notifier) MailboxStream(key types.NamespacedName) *v1alpha1.StreamStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.mbStreams[key]
	if !ok {
		return nil
	}
	return s.DeepCopy()
}

// signal enqueues the resource after the debounce; signals arriving meanwhile join it.
func (n *Notifier) signal(key types.NamespacedName) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, pending := n.timers[key]; pending {
		return
	}
	n.timers[key] = time.AfterFunc(n.opts.Debounce, func() {
		n.mu.Lock()
		delete(n.timers, key)
		n.mu.Unlock()
		n.trigger(key, "exchange notification")
	})
}

// trigger marks the resource changed and enqueues it now.
func (n *Notifier) trigger(key types.NamespacedName, why string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.resources[key]; !ok {
		return
	}
	n.log.V(1).Info("pass due", "resource", key.String(), "why", why)
	n.changed[key] = true
	n.sendResourceLocked(key)
}

// sendResourceLocked enqueues without blocking under the lock; when the buffer is full (the
// controller is not running yet) the send waits in its own goroutine.
func (n *Notifier) sendResourceLocked(key types.NamespacedName) {
	ev := event.GenericEvent{Object: &v1alpha1.ExchangeResource{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}}
	select {
	case n.resEvents <- ev:
	default:
		go func() { n.resEvents <- ev }()
	}
}

func (n *Notifier) sendMailboxLocked(key types.NamespacedName) {
	ev := event.GenericEvent{Object: &v1alpha1.ExchangeMailbox{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}}
	select {
	case n.mbEvents <- ev:
	default:
		go func() { n.mbEvents <- ev }()
	}
}

// setModes records how each room of a mailbox gets its changes, and enqueues the objects whose
// mode or message changed so that their reconcilers write it into status. polled maps the
// addresses of the rooms without a working subscription to the reason; the others stream.
func (n *Notifier) setModes(mbKey types.NamespacedName, polled map[string]string) {
	now := metav1.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	e := n.mailboxes[mbKey]
	if e == nil {
		return
	}
	var nPolled int
	var why string
	for key, r := range e.rooms {
		want := v1alpha1.StreamStatus{Mode: ModeStreaming}
		if msg, ok := polled[r.email]; ok {
			want = v1alpha1.StreamStatus{Mode: ModePolling, Message: msg}
			nPolled++
			why = msg
		}
		if n.updateLocked(n.resStreams, key, want, now) {
			n.sendResourceLocked(key)
		}
	}
	want := v1alpha1.StreamStatus{Mode: ModeStreaming}
	if nPolled > 0 {
		want = v1alpha1.StreamStatus{Mode: ModePolling, Message: pollingSummary(nPolled, len(e.rooms), why)}
	}
	if n.updateLocked(n.mbStreams, mbKey, want, now) {
		n.sendMailboxLocked(mbKey)
	}
}

func pollingSummary(polled, rooms int, why string) string {
	if polled == rooms {
		return why
	}
	return fmt.Sprintf("%d of %d rooms polled: %s", polled, rooms, why)
}

// updateLocked stores want, keeping Since while the mode holds; it reports a change.
func (n *Notifier) updateLocked(m map[types.NamespacedName]v1alpha1.StreamStatus, key types.NamespacedName, want v1alpha1.StreamStatus, now metav1.Time) bool {
	cur, ok := m[key]
	if ok && cur.Mode == want.Mode {
		if cur.Message == want.Message {
			return false
		}
		want.Since = cur.Since
	} else {
		want.Since = &now
	}
	m[key] = want
	return true
}

// roomsOf returns the mailbox's spec and its rooms' resources by room address.
func (n *Notifier) roomsOf(mbKey types.NamespacedName) (*v1alpha1.ExchangeMailbox, map[string][]types.NamespacedName) {
	n.mu.Lock()
	defer n.mu.Unlock()
	e := n.mailboxes[mbKey]
	if e == nil {
		return nil, nil
	}
	out := map[string][]types.NamespacedName{}
	for key, r := range e.rooms {
		out[r.email] = append(out[r.email], key)
	}
	return e.mb, out
}
