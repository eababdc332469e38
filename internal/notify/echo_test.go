package notify

import (
	"slices"
	"testing"
	"time"

	"github.com/respa-exchange/respa-exchange-operator/internal/backend"
	"github.com/respa-exchange/respa-exchange-operator/internal/ews"
	"github.com/respa-exchange/respa-exchange-operator/internal/respa"
)

func TestRoomsToSignalSkipsOnlyOurOwnWrites(t *testing.T) {
	own := &backend.OwnWrites{}
	own.Wrote("item-ours", "ck-2")
	own.Deleted("item-gone")
	bySub := map[string]string{"sub-a": "a@x", "sub-b": "b@x", "sub-c": "c@x", "sub-d": "d@x"}
	item := func(sub string, kind ews.EventKind, id, ck string) ews.Notification {
		return ews.Notification{SubscriptionID: sub, Kind: kind, ItemID: ews.ItemID{ID: id, ChangeKey: ck}}
	}
	folder := func(sub string) ews.Notification {
		return ews.Notification{SubscriptionID: sub, Kind: ews.EventModified, FolderID: "calendar"}
	}
	ns := []ews.Notification{
		// a: our create and its free/busy and folder events: no pass.
		item("sub-a", ews.EventCreated, "item-ours", "ck-2"), item("sub-a", ews.EventFreeBusyChange, "item-ours", "ck-2"), folder("sub-a"),
		// b: somebody edited our item after us (another ChangeKey): a pass.
		item("sub-b", ews.EventModified, "item-ours", "ck-3"), folder("sub-b"),
		// c: only a folder event: a pass, since we cannot tell what changed.
		folder("sub-c"),
		// d: our delete, and an unknown subscription: no pass.
		item("sub-d", ews.EventDeleted, "item-gone", "ck-9"), item("sub-unknown", ews.EventCreated, "x", "y"),
	}
	got := roomsToSignal(ns, bySub, own)
	slices.Sort(got)
	if want := []string{"b@x", "c@x"}; !slices.Equal(got, want) {
		t.Errorf("rooms signalled %v, want %v", got, want)
	}
	// Without a log every item event counts.
	got = roomsToSignal(ns, bySub, nil)
	slices.Sort(got)
	if want := []string{"a@x", "b@x", "c@x", "d@x"}; !slices.Equal(got, want) {
		t.Errorf("without a write log: %v, want %v", got, want)
	}
	// A modification reported for an item we deleted is not ours.
	if own.IsEcho(item("sub-d", ews.EventModified, "item-gone", "")) {
		t.Error("a modification of an item we deleted was taken for our own")
	}
}

func TestRespaChangesThatAreOnlyOurOwnWrites(t *testing.T) {
	at := time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC)
	a := respa.Reservation{ID: 1, ResourceID: "r", Begin: at, End: at.Add(time.Hour), State: respa.StateConfirmed, EventSubject: "A"}
	b := respa.Reservation{ID: 2, ResourceID: "r", Begin: at.Add(2 * time.Hour), End: at.Add(3 * time.Hour), State: respa.StateConfirmed, EventSubject: "B"}
	before := stateOf([]respa.Reservation{a, b})

	own := &backend.OwnWrites{}
	// We created c and moved a; Respa lists exactly what we wrote.
	c := respa.Reservation{ID: 3, ResourceID: "r", Begin: at.Add(4 * time.Hour), End: at.Add(5 * time.Hour), State: respa.StateConfirmed, EventSubject: "C"}
	moved := a
	moved.Begin, moved.End = at.Add(6*time.Hour), at.Add(7*time.Hour)
	own.RespaWrote(c)
	own.RespaWrote(moved)
	if !onlyOurs(before, []respa.Reservation{moved, b, c}, own) {
		t.Error("a listing changed only by our writes was taken for somebody's change")
	}
	// Somebody retitles b meanwhile: a pass is needed.
	retitled := b
	retitled.EventSubject = "B, renamed"
	if onlyOurs(before, []respa.Reservation{moved, retitled, c}, own) {
		t.Error("a retitle by somebody else was taken for our own write")
	}
	// Somebody edits our reservation after us: its fields no longer match what we wrote.
	edited := c
	edited.EventDescription = "added by a person"
	if onlyOurs(before, []respa.Reservation{moved, b, edited}, own) {
		t.Error("an edit after our write was taken for our own write")
	}
	// A reservation that left the listing is not ours to explain.
	if onlyOurs(before, []respa.Reservation{moved}, own) {
		t.Error("a reservation gone from the listing was taken for our own write")
	}
	// Our cancellation shows as the state cancelled.
	own.RespaCancelled(2)
	cancelled := b
	cancelled.State = respa.StateCancelled
	if !onlyOurs(before, []respa.Reservation{moved, cancelled, c}, own) {
		t.Error("our cancellation was taken for somebody's change")
	}
	if onlyOurs(before, []respa.Reservation{moved, cancelled, c}, nil) {
		t.Error("without a write log every change must count")
	}
}
