package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/internal/backend"
	"github.com/respa-exchange/respa-exchange-operator/internal/respa"
)

func (n *Notifier) ensureRespaPollerLocked(url string) {
	if url == "" || n.respaPolled[url] {
		return
	}
	n.respaPolled[url] = true
	p := &respaPoller{n: n, url: url, seen: map[types.NamespacedName]resourceState{}, failing: map[types.NamespacedName]string{}}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		p.run(n.ctx)
	}()
}

// respaPoller lists the reservations of one Respa instance's resources at each interval and
// enqueues the resources whose reservations changed.
type respaPoller struct {
	n   *Notifier
	url string
	// seen is the last state seen per ExchangeResource; a resource seen for the first time is
	// only recorded.
	seen map[types.NamespacedName]resourceState
	// failing holds the last error of each mailbox's listing while it fails.
	failing map[types.NamespacedName]string
}

// resourceState is a resource's reservations as the last poll saw them: one digest of all,
// and the hash of each reservation, to tell which ones changed.
type resourceState struct {
	digest string
	byID   map[int64]string
}

func stateOf(list []respa.Reservation) resourceState {
	st := resourceState{digest: digest(list), byID: make(map[int64]string, len(list))}
	for _, r := range list {
		st.byID[r.ID] = backend.ReservationHash(r)
	}
	return st
}

// onlyOurs reports whether every reservation that changed from before to now is one the
// operator itself just wrote, exactly as Respa stored it. A reservation that left the listing
// is not ours to explain.
func onlyOurs(before resourceState, now []respa.Reservation, own *backend.OwnWrites) bool {
	if own == nil {
		return false
	}
	present := make(map[int64]bool, len(now))
	for _, r := range now {
		present[r.ID] = true
		if before.byID[r.ID] != backend.ReservationHash(r) && !own.IsRespaEcho(r) {
			return false
		}
	}
	for id := range before.byID {
		if !present[id] {
			return false
		}
	}
	return true
}

// respaBatch is the resources listed with one mailbox's client (one token).
type respaBatch struct {
	mb     *v1alpha1.ExchangeMailbox
	rooms  map[types.NamespacedName]room
	future time.Duration
}

func (p *respaPoller) run(ctx context.Context) {
	t := time.NewTicker(p.n.opts.RespaPollInterval)
	defer t.Stop()
	for {
		p.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// batches groups the instance's tracked resources by mailbox: each mailbox has its own token,
// and a token sees only what its Respa user may see.
func (p *respaPoller) batches() map[types.NamespacedName]*respaBatch {
	p.n.mu.Lock()
	defer p.n.mu.Unlock()
	out := map[types.NamespacedName]*respaBatch{}
	for key, r := range p.n.resources {
		if r.respaURL != p.url || !r.respaChanges {
			continue
		}
		e := p.n.mailboxes[r.mailbox]
		if e == nil {
			continue
		}
		b := out[r.mailbox]
		if b == nil {
			b = &respaBatch{mb: e.mb, rooms: map[types.NamespacedName]room{}}
			out[r.mailbox] = b
		}
		b.rooms[key] = r
		b.future = max(b.future, r.future)
	}
	return out
}

// poll lists every batch once and enqueues the resources whose digest changed.
func (p *respaPoller) poll(ctx context.Context) {
	seen := map[types.NamespacedName]bool{}
	for mbKey, b := range p.batches() {
		lists, err := p.list(ctx, b)
		if err != nil {
			// Logged when it starts or changes, not at every interval of an outage.
			if msg := err.Error(); ctx.Err() == nil && p.failing[mbKey] != msg {
				p.n.log.Info("Respa poll failed; passes for Respa changes wait for the resync interval", "instance", p.url, "mailbox", mbKey.String(), "error", msg)
				p.failing[mbKey] = msg
			}
			// Keep the last states: the next poll compares against them.
			for key := range b.rooms {
				seen[key] = true
			}
			continue
		}
		if _, was := p.failing[mbKey]; was {
			p.n.log.Info("Respa poll works again", "instance", p.url, "mailbox", mbKey.String())
			delete(p.failing, mbKey)
		}
		for key, r := range b.rooms {
			seen[key] = true
			list := lists[r.resourceID]
			st := stateOf(list)
			if prev, ok := p.seen[key]; ok && prev.digest != st.digest {
				if onlyOurs(prev, list, p.n.opts.OwnWrites) {
					p.n.log.V(1).Info("respa change is our own write", "resource", key.String())
				} else {
					p.n.trigger(key, "respa data changed")
				}
			}
			p.seen[key] = st
		}
	}
	for key := range p.seen {
		if !seen[key] {
			delete(p.seen, key)
		}
	}
}

// list returns the reservations of each resource of the batch in the window from now to the
// farthest future of the batch, all in a few requests (the client sends the ids as a comma
// list, chunked).
func (p *respaPoller) list(ctx context.Context, b *respaBatch) (map[string][]respa.Reservation, error) {
	c, err := p.n.clients(b.mb)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, r := range b.rooms {
		if !slices.Contains(ids, r.resourceID) {
			ids = append(ids, r.resourceID)
		}
	}
	sort.Strings(ids)
	now := time.Now().UTC()
	list, err := c.Respa.ListReservations(ctx, respa.ListOptions{ResourceIDs: ids, Start: now, End: now.Add(b.future)})
	if err != nil {
		return nil, fmt.Errorf("list reservations of %d resources: %w", len(ids), err)
	}
	by := map[string][]respa.Reservation{}
	for _, r := range list {
		by[r.ResourceID] = append(by[r.ResourceID], r)
	}
	return by, nil
}

// Digests hashes, per resource, the fields of its reservations that a sync carries to
// Exchange (backend.ReservationHash): modified_at alone is not enough, since Respa's
// serializer does not send it. The listing order does not matter.
func Digests(list []respa.Reservation) map[string]string {
	by := map[string][]respa.Reservation{}
	for _, r := range list {
		by[r.ResourceID] = append(by[r.ResourceID], r)
	}
	out := make(map[string]string, len(by))
	for id, rs := range by {
		out[id] = digest(rs)
	}
	return out
}

// digest hashes one resource's reservations, ordered by id.
func digest(rs []respa.Reservation) string {
	rs = slices.Clone(rs)
	sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	h := sha256.New()
	for _, r := range rs {
		fmt.Fprintf(h, "%d\x00%s\n", r.ID, backend.ReservationHash(r))
	}
	return hex.EncodeToString(h.Sum(nil))
}
