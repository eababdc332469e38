package backend

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/controllers"
	syncengine "github.com/respa-exchange/respa-exchange-operator/internal/sync"
)

func rigResourceObject(r *rig) *v1alpha1.ExchangeResource {
	return &v1alpha1.ExchangeResource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "room", UID: "1234"},
		Spec: v1alpha1.ExchangeResourceSpec{
			MailboxRef: v1alpha1.LocalObjectReference{Name: "mb"},
			Exchange:   v1alpha1.ResourceExchange{Email: r.room},
			Respa:      v1alpha1.ResourceRespa{ResourceID: rigResource},
			Window:     v1alpha1.SyncWindow{Future: &metav1.Duration{Duration: r.pass.Options.Window.End.Sub(r.pass.Options.Window.Start)}},
		},
	}
}

func newSyncer(r *rig) *Syncer {
	f := NewFactory(logr.Discard())
	f.RespaRateLimit = 10000
	return &Syncer{Factory: f, Ledgers: func(*v1alpha1.ExchangeResource) syncengine.LedgerStore { return r.ledger }}
}

func TestSyncerMassDeletionNeedsTheShownToken(t *testing.T) {
	r := newRig(t)
	r.seedExchange(t, 10)
	s := newSyncer(r)
	res := rigResourceObject(r)
	ctx := context.Background()
	req := controllers.SyncRequest{Resource: res, Mailbox: r.mb, Credentials: r.creds}

	out, err := s.Sync(ctx, req)
	if err != nil || out.Counts.Respa.Created != 10 {
		t.Fatalf("import: %v, %d created", err, out.Counts.Respa.Created)
	}
	// Someone empties the room's calendar: ten deletions of ten linked pairs trip the guard.
	items, err := r.ex.Items(r.room)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if err := r.ex.DeleteEvent(r.room, it.ID); err != nil {
			t.Fatal(err)
		}
	}
	out, err = s.Sync(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if out.MassDeletion == nil || out.MassDeletion.Planned != 10 || out.MassDeletion.Token == "" || out.Counts.Respa.Deleted != 0 {
		t.Fatalf("guard: %+v, %d deleted; want 10 held back with a token", out.MassDeletion, out.Counts.Respa.Deleted)
	}
	token := out.MassDeletion.Token

	// A wrong token changes nothing.
	req.AcknowledgedMassDeletion = "not-" + token
	out, err = s.Sync(ctx, req)
	if err != nil || out.Counts.Respa.Deleted != 0 || out.MassDeletion == nil {
		t.Fatalf("wrong token: %v, %d deleted, guard %+v", err, out.Counts.Respa.Deleted, out.MassDeletion)
	}
	// The shown token carries the deletions out.
	req.AcknowledgedMassDeletion = token
	out, err = s.Sync(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Counts.Respa.Deleted != 10 || out.MassDeletion != nil {
		t.Fatalf("acknowledged: %d cancelled, guard %+v; want 10 and none", out.Counts.Respa.Deleted, out.MassDeletion)
	}
	cancelled := 0
	for _, rv := range r.rs.Reservations() {
		if rv.State == "cancelled" {
			cancelled++
		}
	}
	if cancelled != 10 {
		t.Errorf("%d reservations cancelled in Respa, want 10", cancelled)
	}
}

func TestSyncerStallsOnUnknownResourceAndBadTemplate(t *testing.T) {
	r := newRig(t)
	s := newSyncer(r)
	ctx := context.Background()

	res := rigResourceObject(r)
	res.Spec.Respa.ResourceID = "no-such-room"
	_, err := s.Sync(ctx, controllers.SyncRequest{Resource: res, Mailbox: r.mb, Credentials: r.creds})
	var st *controllers.StallingError
	if !asStalling(err, &st) || st.Reason != v1alpha1.RespaResourceNotFoundReason || !strings.Contains(err.Error(), "no-such-room") {
		t.Errorf("unknown resource: %v, want a RespaResourceNotFound stall naming it", err)
	}

	res = rigResourceObject(r)
	res.Spec.Templates = &v1alpha1.EventTemplates{Subject: "Respa - {{.Reservation.ReserverName}}"}
	_, err = s.Sync(ctx, controllers.SyncRequest{Resource: res, Mailbox: r.mb, Credentials: r.creds})
	if !asStalling(err, &st) || st.Reason != "InvalidTemplate" || !strings.Contains(err.Error(), "spec.templates.subject") {
		t.Errorf("bad template: %v, want an InvalidTemplate stall naming the field", err)
	}
}

func asStalling(err error, target **controllers.StallingError) bool {
	s, ok := err.(*controllers.StallingError)
	if ok {
		*target = s
	}
	return ok
}

func TestSyncerReportsWhatThePolicyKeeps(t *testing.T) {
	r := newRig(t)
	r.seedExchange(t, 2)
	s := newSyncer(r)
	res := rigResourceObject(r)
	res.Spec.DeletionPolicy = v1alpha1.DeletionNone
	ctx := context.Background()
	req := controllers.SyncRequest{Resource: res, Mailbox: r.mb, Credentials: r.creds}
	if out, err := s.Sync(ctx, req); err != nil || out.Counts.Respa.Created != 2 {
		t.Fatalf("import: %v, %+v", err, out.Counts)
	}
	items, err := r.ex.Items(r.room)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ex.DeleteEvent(r.room, items[0].ID); err != nil {
		t.Fatal(err)
	}
	out, err := s.Sync(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Counts.Respa.Deleted != 0 || out.Counts.Skipped == 0 {
		t.Errorf("deletion policy None: %d cancelled, %d skipped; want 0 and the kept deletion counted", out.Counts.Respa.Deleted, out.Counts.Skipped)
	}
}

func TestFactoryForgetsADeletedMailbox(t *testing.T) {
	r := newRig(t)
	f := NewFactory(logr.Discard())
	first, err := f.For(r.mb, r.creds)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := f.For(r.mb, r.creds); again != first {
		t.Fatal("the same mailbox got new clients without a change")
	}
	f.Forget(r.mb.Namespace, r.mb.Name)
	if again, _ := f.For(r.mb, r.creds); again == first {
		t.Error("a forgotten mailbox's clients were kept")
	}
}
