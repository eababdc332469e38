package backend

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/respa-exchange/respa-exchange-operator/internal/ews"
	"github.com/respa-exchange/respa-exchange-operator/internal/respa"
)

// OwnWrites remembers the Exchange items the operator has just written, with the ChangeKey each
// write produced, so that the notification Exchange sends about exactly that version is known
// as the echo of our own write and does not start another pass. A notification with any other
// ChangeKey is somebody's change and still does.
type OwnWrites struct {
	mu sync.Mutex
	m  map[string]ownWrite
}

type ownWrite struct {
	changeKey string
	deleted   bool
	at        time.Time
}

// ownWriteTTL is how long a write is remembered: notifications arrive within seconds.
const ownWriteTTL = 2 * time.Minute

// Wrote records a create or update that left the item at changeKey.
func (w *OwnWrites) Wrote(itemID, changeKey string) { w.put(itemID, ownWrite{changeKey: changeKey}) }

// Deleted records a delete.
func (w *OwnWrites) Deleted(itemID string) { w.put(itemID, ownWrite{deleted: true}) }

func (w *OwnWrites) put(id string, o ownWrite) {
	if w == nil || id == "" {
		return
	}
	o.at = time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]ownWrite{}
	}
	if len(w.m) > 10000 {
		for k, v := range w.m {
			if time.Since(v.at) > ownWriteTTL {
				delete(w.m, k)
			}
		}
	}
	w.m[id] = o
}

// IsEcho reports whether an item notification reports one of our own writes. Folder
// notifications (no ItemId) are never echoes: the caller decides what they mean.
func (w *OwnWrites) IsEcho(n ews.Notification) bool {
	if w == nil || n.ItemID.ID == "" {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	o, ok := w.m[n.ItemID.ID]
	if !ok || time.Since(o.at) > ownWriteTTL {
		return false
	}
	if n.Kind == ews.EventDeleted {
		return o.deleted
	}
	return !o.deleted && o.changeKey != "" && o.changeKey == n.ItemID.ChangeKey
}

// respaKey keeps Respa reservations apart from Exchange ItemIds in the same log.
func respaKey(id int64) string { return "respa:" + strconv.FormatInt(id, 10) }

// RespaWrote records a reservation as Respa stored it after our create or update.
func (w *OwnWrites) RespaWrote(r respa.Reservation) {
	w.put(respaKey(r.ID), ownWrite{changeKey: ReservationHash(r)})
}

// RespaCancelled records our cancellation of a reservation.
func (w *OwnWrites) RespaCancelled(id int64) { w.put(respaKey(id), ownWrite{deleted: true}) }

// IsRespaEcho reports whether a listed reservation is exactly as our last write left it:
// the same synced fields, or cancelled by us.
func (w *OwnWrites) IsRespaEcho(r respa.Reservation) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	o, ok := w.m[respaKey(r.ID)]
	if !ok || time.Since(o.at) > ownWriteTTL {
		return false
	}
	if o.deleted {
		return r.State == respa.StateCancelled
	}
	return o.changeKey == ReservationHash(r)
}

// ReservationHash hashes the fields of a reservation that a sync carries to Exchange: id,
// begin, end, state, subject, description, reserver and comments.
func ReservationHash(r respa.Reservation) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00%s\x00%q\x00%q\x00%q\x00%q\x00%q\x00%q\x00%q",
		r.ID, r.Begin.UTC().Format(time.RFC3339Nano), r.End.UTC().Format(time.RFC3339Nano), r.State,
		r.EventSubject, r.EventDescription, r.ReserverName, r.ReserverEmailAddress, r.ReserverPhoneNumber, r.HostName, r.Comments)
	return hex.EncodeToString(h.Sum(nil)[:16])
}
