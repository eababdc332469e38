package backend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/template"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/controllers"
	"github.com/respa-exchange/respa-exchange-operator/internal/ews"
	"github.com/respa-exchange/respa-exchange-operator/internal/metrics"
	"github.com/respa-exchange/respa-exchange-operator/internal/respa"
	syncengine "github.com/respa-exchange/respa-exchange-operator/internal/sync"
)

// Syncer runs a resource's pass with the sync engine over EWS and Respa, keeping the ledger
// in a ConfigMap the resource owns.
type Syncer struct {
	Factory *Factory
	Client  client.Client
	Reader  client.Reader
	Now     func() time.Time
	// Writes, when set, learns every Exchange write, for the notifier to recognise echoes.
	Writes *OwnWrites
	// Ledgers gives a resource's ledger store; nil means a ConfigMap the resource owns.
	Ledgers func(*v1alpha1.ExchangeResource) syncengine.LedgerStore

	mu        sync.Mutex
	names     map[string]*syncengine.NameCache // per mailbox: EX addresses resolved once
	details   map[string]*DetailCache          // per room: GetItem details by ChangeKey
	resources map[string]cachedResource        // Respa resources by API root and id
}

// cachedResource is a Respa resource read recently: its name and unit change rarely, so a
// pass does not read it every time.
type cachedResource struct {
	resource respa.Resource
	read     time.Time
}

// resourceTTL is how long a Respa resource's name and unit are reused.
const resourceTTL = 10 * time.Minute

var _ controllers.Syncer = (*Syncer)(nil)

// Sync runs one pass.
func (s *Syncer) Sync(ctx context.Context, req controllers.SyncRequest) (controllers.SyncResult, error) {
	res, mb := req.Resource, req.Mailbox
	clients, err := s.Factory.For(mb, req.Credentials)
	if err != nil {
		return controllers.SyncResult{}, err
	}
	opts, err := s.options(ctx, clients, res, mb)
	if err != nil {
		return controllers.SyncResult{}, err
	}
	send := ews.SendToNone
	switch res.Spec.Notifications {
	case v1alpha1.NotificationsSendToAll:
		send = ews.SendOnlyToAll
	case v1alpha1.NotificationsSendToAllAndSaveCopy:
		send = ews.SendToAllAndSaveCopy
	}
	calendar := &ExchangeCalendar{Client: clients.EWS, Room: res.Spec.Exchange.Email, Send: send, Details: s.detailCache(res.Spec.Exchange.Email), Writes: s.Writes}
	pass := syncengine.Pass{
		Exchange: calendar,
		Respa:    &RespaReservations{Client: clients.Respa, ResourceID: res.Spec.Respa.ResourceID, Writes: s.Writes},
		Ledger:   s.ledger(res),
		Options:  opts,
		DryRun:   res.Spec.DryRun,
		Names:    s.nameCache(mb.Namespace + "/" + mb.Name),
	}
	began := time.Now()
	rep, err := syncengine.Run(ctx, pass)
	if err == nil && len(rep.Guard) > 0 && req.AcknowledgedMassDeletion != "" && req.AcknowledgedMassDeletion == guardToken(res, rep.Guard[0]) {
		// The person acknowledged exactly the deletions this pass held back (same side, count
		// and linked pairs): a second pass, with the rest already written, carries them out.
		first := rep
		pass.Options.MassDeletionAcknowledged = true
		if rep, err = syncengine.Run(ctx, pass); err == nil {
			rep.Exchange = addCounts(first.Exchange, rep.Exchange)
			rep.Respa = addCounts(first.Respa, rep.Respa)
		}
	}
	metrics.ObservePass(res.Namespace, res.Name, time.Since(began), err == nil)
	if err != nil {
		return controllers.SyncResult{}, passError(err)
	}
	recordMetrics(rep)
	return result(res, rep, calendar.Describe), nil
}

// options turns the spec into the engine's options; a resource Respa does not know, or a
// time zone Go does not know, stalls the resource.
func (s *Syncer) options(ctx context.Context, clients *Clients, res *v1alpha1.ExchangeResource, mb *v1alpha1.ExchangeMailbox) (syncengine.Options, error) {
	resource, err := s.respaResource(ctx, clients.Respa, mb.Spec.Respa.URL, res.Spec.Respa.ResourceID)
	if err != nil {
		if errors.Is(err, respa.ErrNotFound) {
			return syncengine.Options{}, &controllers.StallingError{Reason: v1alpha1.RespaResourceNotFoundReason,
				Err: fmt.Errorf("Respa has no resource %q (spec.respa.resourceID)", res.Spec.Respa.ResourceID)}
		}
		return syncengine.Options{}, fmt.Errorf("read Respa resource %q: %w", res.Spec.Respa.ResourceID, RespaError(err))
	}
	zone := res.Spec.TimeZone
	if zone == "" {
		zone = "Europe/Helsinki"
	}
	tz, err := time.LoadLocation(zone)
	if err != nil {
		return syncengine.Options{}, &controllers.StallingError{Reason: "InvalidTimeZone", Err: fmt.Errorf("spec.timeZone %q: %v", zone, err)}
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	future, past := 365*24*time.Hour, time.Duration(0)
	if res.Spec.Window.Future != nil {
		future = res.Spec.Window.Future.Duration
	}
	if res.Spec.Window.Past != nil {
		past = res.Spec.Window.Past.Duration
	}
	o := syncengine.Options{
		Direction:      syncengine.Direction(or(res.Spec.Direction, v1alpha1.DirectionBidirectional)),
		ConflictPolicy: syncengine.ConflictPolicy(or(res.Spec.ConflictPolicy, v1alpha1.ConflictOriginWins)),
		DeletionPolicy: syncengine.DeletionPolicy(or(res.Spec.DeletionPolicy, v1alpha1.DeletionBoth)),
		Window:         syncengine.Window{Start: now.Add(-past).UTC(), End: now.Add(future).UTC()},
		Now:            now.UTC(),
		RoomEmail:      res.Spec.Exchange.Email,
		ResourceID:     res.Spec.Respa.ResourceID,
		ResourceName:   resource.Name,
		UnitName:       resource.Unit.Name,
		TimeZone:       tz,
		Instance:       Instance(mb.Spec.Respa.URL),
	}
	if g := res.Spec.MassDeletionGuard; g.MaxPercent != nil {
		o.MassDeletionThresholdPercent = int(*g.MaxPercent)
		if *g.MaxPercent == 0 {
			o.MassDeletionThresholdPercent = -1
		}
	}
	if g := res.Spec.MassDeletionGuard; g.MinItems != nil {
		o.MassDeletionMinimum = int(*g.MinItems)
		if *g.MinItems == 0 {
			// The engine reads 0 as "its default"; below zero allows no deletions past the share.
			o.MassDeletionMinimum = -1
		}
	}
	if t := res.Spec.Templates; t != nil {
		o.SubjectTemplate, o.BodyTemplate = t.Subject, t.Body
		if err := checkTemplates(t); err != nil {
			return syncengine.Options{}, &controllers.StallingError{Reason: "InvalidTemplate", Err: err}
		}
	}
	return o, nil
}

// checkTemplates parses the templates and runs them on a sample reservation, so that a
// template naming a field that does not exist stops the resource with a message instead of
// failing each event alone.
func checkTemplates(t *v1alpha1.EventTemplates) error {
	sample := syncengine.TemplateData{Reserver: "Matti", ReserverName: "Matti", ReserverEmail: "matti@example.org", Subject: "s", Description: "d",
		Resource: "r", Unit: "u", ReservationID: "1", Begin: time.Unix(0, 0), End: time.Unix(3600, 0)}
	for field, text := range map[string]string{"spec.templates.subject": t.Subject, "spec.templates.body": t.Body} {
		if text == "" {
			continue
		}
		tmpl, err := template.New(field).Option("missingkey=error").Parse(text)
		if err == nil {
			err = tmpl.Execute(io.Discard, sample)
		}
		if err != nil {
			return fmt.Errorf("%s: %v", field, err)
		}
	}
	return nil
}

// Instance names a Respa instance in identity stamps: a short hash of its API root, which
// must not change for a given Respa.
func Instance(respaURL string) string {
	u := strings.TrimRight(strings.ToLower(strings.TrimSpace(respaURL)), "/")
	sum := sha256.Sum256([]byte(u))
	return hex.EncodeToString(sum[:])[:10]
}

func or(v, fallback string) string {
	if v == "" {
		return fallback
	}
	return v
}

// passError maps what stopped a pass onto stalling and waiting outcomes.
func passError(err error) error {
	var ewsErr *ews.Error
	if errors.As(err, &ewsErr) {
		return ExchangeError(err)
	}
	if errors.Is(err, respa.ErrUnauthorized) || errors.Is(err, respa.ErrForbidden) || errors.Is(err, respa.ErrNotFound) || errors.Is(err, respa.ErrUnavailable) {
		return RespaError(err)
	}
	return err
}

// guardToken names one trip of the mass-deletion guard: the resource, the side, how many
// deletions and of how many linked pairs. The acknowledge annotation must carry it.
func guardToken(res *v1alpha1.ExchangeResource, g syncengine.GuardTrip) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%s/%d/%d", res.UID, res.Name, g.Side, g.Deletes, g.Linked))
	return hex.EncodeToString(sum[:])[:12]
}

func addCounts(a, b syncengine.SideCounts) syncengine.SideCounts {
	return syncengine.SideCounts{Creates: a.Creates + b.Creates, Updates: a.Updates + b.Updates, Deletes: a.Deletes + b.Deletes}
}

// recordMetrics counts a pass's writes and failures.
func recordMetrics(rep syncengine.Report) {
	for _, w := range []struct {
		side   string
		counts syncengine.SideCounts
	}{{metrics.SideExchange, rep.Exchange}, {metrics.SideRespa, rep.Respa}} {
		metrics.CountWrites(w.side, metrics.VerbCreate, w.counts.Creates)
		metrics.CountWrites(w.side, metrics.VerbUpdate, w.counts.Updates)
		metrics.CountWrites(w.side, metrics.VerbDelete, w.counts.Deletes)
	}
	for _, f := range rep.Failed {
		metrics.CountFailures(f.Reason, 1)
	}
	if extra := rep.FailedCount - len(rep.Failed); extra > 0 {
		metrics.CountFailures("Unreported", extra)
	}
}

// result turns the engine's report into what the reconciler writes to status.
func result(res *v1alpha1.ExchangeResource, rep syncengine.Report, describe func(key string) string) controllers.SyncResult {
	out := controllers.SyncResult{
		Counts: v1alpha1.SyncCounts{
			ExchangeItems:     int32(rep.Items),
			RespaReservations: int32(rep.Reservations),
			LinkedPairs:       int32(rep.Linked),
			Exchange:          v1alpha1.WriteCounts{Created: int32(rep.Exchange.Creates), Updated: int32(rep.Exchange.Updates), Deleted: int32(rep.Exchange.Deletes)},
			Respa:             v1alpha1.WriteCounts{Created: int32(rep.Respa.Creates), Updated: int32(rep.Respa.Updates), Deleted: int32(rep.Respa.Deletes)},
			Failed:            int32(rep.FailedCount),
			Skipped:           int32(rep.Skipped),
		},
		Changed: rep.Writes() > 0,
	}
	for _, f := range rep.Failed {
		msg := f.Message
		if d := describe(f.Item); d != "" {
			msg = d + ": " + msg
		}
		out.FailedItems = append(out.FailedItems, v1alpha1.FailedItem{Side: string(f.Side), Key: f.Item, Reason: f.Reason, Message: msg})
	}
	if rep.Plan != nil {
		for _, a := range rep.Plan.Actions() {
			reason := a.Reason
			if a.Fields != "" {
				reason += " (" + a.Fields + ")"
			}
			out.PlannedActions = append(out.PlannedActions, v1alpha1.PlannedAction{Side: string(a.Side), Action: a.Verb, Key: a.Item, Reason: reason})
		}
	}
	if len(rep.Guard) > 0 {
		g := rep.Guard[0]
		out.MassDeletion = &v1alpha1.MassDeletionStatus{Side: string(g.Side), Planned: int32(g.Deletes), Linked: int32(g.Linked), Token: guardToken(res, g)}
	}
	if out.Changed {
		var parts []string
		add := func(n int, what string) {
			if n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, what))
			}
		}
		add(rep.Respa.Creates, "created in Respa")
		add(rep.Respa.Updates, "updated in Respa")
		add(rep.Respa.Deletes, "cancelled in Respa")
		add(rep.Exchange.Creates, "created in Exchange")
		add(rep.Exchange.Updates, "updated in Exchange")
		add(rep.Exchange.Deletes, "deleted in Exchange")
		out.Summary = strings.Join(parts, ", ")
	}
	return out
}

func (s *Syncer) respaResource(ctx context.Context, c *respa.Client, base, id string) (respa.Resource, error) {
	key := base + "\x00" + id
	s.mu.Lock()
	cached, ok := s.resources[key]
	s.mu.Unlock()
	if ok && time.Since(cached.read) < resourceTTL {
		return cached.resource, nil
	}
	r, err := c.GetResource(ctx, id)
	if err != nil {
		return r, err
	}
	s.mu.Lock()
	if s.resources == nil {
		s.resources = map[string]cachedResource{}
	}
	s.resources[key] = cachedResource{resource: r, read: time.Now()}
	s.mu.Unlock()
	return r, nil
}

func (s *Syncer) ledger(res *v1alpha1.ExchangeResource) syncengine.LedgerStore {
	if s.Ledgers != nil {
		return s.Ledgers(res)
	}
	return &controllers.ConfigMapLedger{Client: s.Client, Reader: s.Reader, Resource: res}
}

func (s *Syncer) nameCache(mailbox string) *syncengine.NameCache {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names == nil {
		s.names = map[string]*syncengine.NameCache{}
	}
	c, ok := s.names[mailbox]
	if !ok {
		c = &syncengine.NameCache{}
		s.names[mailbox] = c
	}
	return c
}

func (s *Syncer) detailCache(room string) *DetailCache {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.details == nil {
		s.details = map[string]*DetailCache{}
	}
	c, ok := s.details[strings.ToLower(room)]
	if !ok {
		c = &DetailCache{}
		s.details[strings.ToLower(room)] = c
	}
	return c
}
