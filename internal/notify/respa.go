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
	"github.com/respa-exchange/respa-exchange-operator/internal/respa"
)

func (n *Notifier) ensureRespaPollerLocked(url string) {
	if url == "" || n.respaPolled[url] {
		return
	}
	n.respaPolled[url] = true
	p := &respaPoller{n: n, url: url, digests: map[types.NamespacedName]string{}, failing: map[types.NamespacedName]string{}}
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
	// digests are the last digest seen per ExchangeResource; a resource seen for the first
	// time is only recorded.
	digests map[types.NamespacedName]string
	// failing holds the last error of each mailbox's listing while it fails.
	failing map[types.NamespacedName]string
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
		digests, err := p.list(ctx, b)
		if err != nil {
			// Logged when it starts or changes, not at every interval of an outage.
			if msg := err.Error(); ctx.Err() == nil && p.failing[mbKey] != msg {
				p.n.log.Info("Respa poll failed; passes for Respa changes wait for the resync interval", "instance", p.url, "mailbox", mbKey.String(), "error", msg)
				p.failing[mbKey] = msg
			}
			// Keep the last digests: the next poll compares against them.
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
			d := digests[r.resourceID]
			if prev, ok := p.digests[key]; ok && prev != d {
				p.n.trigger(key, "respa data changed")
			}
			p.digests[key] = d
		}
	}
	for key := range p.digests {
		if !seen[key] {
			delete(p.digests, key)
		}
	}
}

// list returns the digest of each resource of the batch: its reservations in the window from
// now to the farthest future of the batch, all in a few requests (the client sends the ids as
// a comma list, chunked).
func (p *respaPoller) list(ctx context.Context, b *respaBatch) (map[string]string, error) {
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
	return Digests(list), nil
}

// Digests hashes, per resource, the fields of its reservations that a sync carries to
// Exchange: id, begin, end, state, subject, description, reserver and comments. modified_at
// alone is not enough: Respa's serializer does not send it. Reservations are ordered by id, so
// the listing order does not matter.
func Digests(list []respa.Reservation) map[string]string {
	by := map[string][]respa.Reservation{}
	for _, r := range list {
		by[r.ResourceID] = append(by[r.ResourceID], r)
	}
	out := make(map[string]string, len(by))
	for id, rs := range by {
		sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
		h := sha256.New()
		for _, r := range rs {
			fmt.Fprintf(h, "%d\x00%s\x00%s\x00%s\x00%q\x00%q\x00%q\x00%q\x00%q\x00%q\x00%q\n",
				r.ID, r.Begin.UTC().Format(time.RFC3339Nano), r.End.UTC().Format(time.RFC3339Nano), r.State,
				r.EventSubject, r.EventDescription, r.ReserverName, r.ReserverEmailAddress, r.ReserverPhoneNumber, r.HostName, r.Comments)
		}
		out[id] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}
