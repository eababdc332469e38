package backend

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/respa-exchange/respa-exchange-operator/internal/respa"
	syncengine "github.com/respa-exchange/respa-exchange-operator/internal/sync"
)

// RespaReservations is one Respa resource's reservations, as the sync engine sees them.
type RespaReservations struct {
	Client     *respa.Client
	ResourceID string
	// Writes records what this resource writes, so the poller knows its own echoes.
	Writes *OwnWrites
}

var _ syncengine.RespaReservations = (*RespaReservations)(nil)

// ListWindow lists the resource's reservations that touch the window, in every state, so
// that cancellations and denials are seen.
func (r *RespaReservations) ListWindow(ctx context.Context, w syncengine.Window) (syncengine.ReservationListing, error) {
	list, err := r.Client.ListReservations(ctx, respa.ListOptions{ResourceIDs: []string{r.ResourceID}, Start: w.Start, End: w.End})
	if err != nil {
		return syncengine.ReservationListing{}, fmt.Errorf("list reservations of %s: %w", r.ResourceID, err)
	}
	out := make([]syncengine.Reservation, 0, len(list))
	for i := range list {
		if list[i].ResourceID != r.ResourceID {
			continue
		}
		out = append(out, toReservation(&list[i]))
	}
	return syncengine.ReservationListing{Reservations: out, Complete: true}, nil
}

// Lookup reads reservations missing from a complete listing; a 404 means gone.
func (r *RespaReservations) Lookup(ctx context.Context, ids []string) ([]syncengine.ReservationLookup, error) {
	out := make([]syncengine.ReservationLookup, len(ids))
	for i, s := range ids {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			continue
		}
		got, err := r.Client.GetReservation(ctx, id)
		switch {
		case errors.Is(err, respa.ErrNotFound):
			out[i].Gone = true
		case err != nil:
			if errors.Is(err, respa.ErrUnauthorized) || errors.Is(err, respa.ErrForbidden) {
				return nil, err
			}
		default:
			res := toReservation(&got)
			out[i].Reservation = &res
		}
	}
	return out, nil
}

// Create makes a reservation for an event born in Exchange.
func (r *RespaReservations) Create(ctx context.Context, res syncengine.Reservation) (syncengine.Reservation, error) {
	got, err := r.Client.CreateReservation(ctx, fromReservation(res, r.ResourceID))
	if err != nil {
		return syncengine.Reservation{}, rejection(err)
	}
	r.Writes.RespaWrote(got)
	return toReservation(&got), nil
}

// Update replaces a reservation's synced fields.
func (r *RespaReservations) Update(ctx context.Context, u syncengine.ReservationUpdate) (syncengine.Reservation, error) {
	body := fromReservation(u.Reservation, r.ResourceID)
	got, err := r.Client.UpdateReservation(ctx, body)
	if err != nil {
		return syncengine.Reservation{}, rejection(err)
	}
	r.Writes.RespaWrote(got)
	return toReservation(&got), nil
}

// Cancel cancels a reservation; one that is gone counts as cancelled.
func (r *RespaReservations) Cancel(ctx context.Context, s string) error {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("reservation id %q: %w", s, err)
	}
	if _, err := r.Client.CancelReservation(ctx, id); err != nil {
		return rejection(err)
	}
	r.Writes.RespaCancelled(id)
	return nil
}

// rejection turns Respa's 400 into the engine's per-item Rejection, with Respa's words.
func rejection(err error) error {
	var rej *respa.Rejection
	if errors.As(err, &rej) {
		reason := "Invalid"
		switch {
		case rej.Overlap():
			reason = "Overlap"
		case rej.InPast():
			reason = "Past"
		}
		return &syncengine.Rejection{Reason: reason, Message: rej.Message()}
	}
	if errors.Is(err, respa.ErrNotFound) {
		return fmt.Errorf("%w: %v", syncengine.ErrNotFound, err)
	}
	return err
}

func toReservation(r *respa.Reservation) syncengine.Reservation {
	return syncengine.Reservation{
		ID:            strconv.FormatInt(r.ID, 10),
		ResourceID:    r.ResourceID,
		Begin:         r.Begin.UTC(),
		End:           r.End.UTC(),
		State:         syncengine.State(r.State),
		Subject:       r.EventSubject,
		Description:   r.EventDescription,
		ReserverName:  r.ReserverName,
		ReserverEmail: r.ReserverEmailAddress,
		Comments:      r.Comments,
		ModifiedAt:    r.ModifiedAt,
	}
}

func fromReservation(r syncengine.Reservation, resourceID string) respa.Reservation {
	id, _ := strconv.ParseInt(r.ID, 10, 64)
	if r.ResourceID == "" {
		r.ResourceID = resourceID
	}
	return respa.Reservation{
		ID:                   id,
		ResourceID:           r.ResourceID,
		Begin:                r.Begin,
		End:                  r.End,
		EventSubject:         r.Subject,
		EventDescription:     r.Description,
		ReserverName:         r.ReserverName,
		ReserverEmailAddress: r.ReserverEmail,
		Comments:             r.Comments,
	}
}
