package notify

import (
	"slices"
	"testing"

	"github.com/respa-exchange/respa-exchange-operator/internal/backend"
	"github.com/respa-exchange/respa-exchange-operator/internal/ews"
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
