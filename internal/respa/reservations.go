package respa

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxPageSize is Respa's cap on page_size for reservations.
const MaxPageSize = 500

// DefaultResourcesPerRequest bounds the resource= comma list of one
// listing request, which keeps URLs well under common proxy limits.
const DefaultResourcesPerRequest = 50

// listAttempts is how often a chunk is listed again when it changed while paging.
const listAttempts = 3

// ListOptions select reservations. With neither Start, End nor All,
// Respa hides reservations that have ended.
type ListOptions struct {
	// ResourceIDs limits the listing to these resources; empty lists all
	// resources the token can see. Long lists are split into several
	// requests of ResourcesPerRequest ids each.
	ResourceIDs []string
	// Start and End select reservations that touch [Start, End]: Respa
	// keeps those with end >= Start and begin <= End, both inclusive, so a
	// reservation ending exactly at Start is included. Either may be zero.
	// Setting either one also includes past reservations.
	Start, End time.Time
	// All includes past reservations when Start and End are zero.
	All bool
	// States keeps only these states; empty keeps every state the token may
	// see. Cancelled and denied reservations are visible only to Respa's
	// general administrators and to the reservation's own user.
	States []State
	// PageSize defaults to and is capped at MaxPageSize.
	PageSize int
	// ResourcesPerRequest defaults to DefaultResourcesPerRequest.
	ResourcesPerRequest int
}

// wirePage is DRF's PageNumberPagination body.
type wirePage struct {
	Count   int               `json:"count"`
	Next    *string           `json:"next"`
	Results []wireReservation `json:"results"`
}

// ListReservations returns every matching reservation, following `next`
// to the last page, in Respa's order (by begin) within each chunk of
// resources. Respa pages by offset, so a reservation created, cancelled
// out of a state filter or moved while paging can shift items between
// pages; when the count changes or an item repeats, the chunk is listed
// again, and after repeated changes ErrListingChanged is returned rather
// than an incomplete listing.
func (c *Client) ListReservations(ctx context.Context, opts ListOptions) ([]Reservation, error) {
	chunks := chunkIDs(opts.ResourceIDs, opts.ResourcesPerRequest)
	var all []Reservation
	for _, chunk := range chunks {
		var got []Reservation
		var err error
		for try := 1; try <= listAttempts; try++ {
			got, err = c.listChunk(ctx, opts, chunk)
			if !errors.Is(err, ErrListingChanged) {
				break
			}
			c.log.Info("Respa listing changed while paging, listing again", "try", try, "resources", len(chunk))
		}
		if err != nil {
			return nil, err
		}
		all = append(all, got...)
	}
	return all, nil
}

// chunkIDs removes duplicate ids and splits them; no ids is one chunk
// without a resource filter.
func chunkIDs(ids []string, per int) [][]string {
	if len(ids) == 0 {
		return [][]string{nil}
	}
	if per <= 0 {
		per = DefaultResourcesPerRequest
	}
	seen := make(map[string]bool, len(ids))
	var uniq []string
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	if len(uniq) == 0 {
		return nil // only empty ids: nothing to list, not everything
	}
	var out [][]string
	for len(uniq) > per {
		out = append(out, uniq[:per])
		uniq = uniq[per:]
	}
	return append(out, uniq)
}

func listQuery(opts ListOptions, resources []string) url.Values {
	q := url.Values{}
	if len(resources) > 0 {
		q.Set("resource", strings.Join(resources, ","))
	}
	if !opts.Start.IsZero() {
		q.Set("start", opts.Start.UTC().Format(time.RFC3339))
	}
	if !opts.End.IsZero() {
		q.Set("end", opts.End.UTC().Format(time.RFC3339))
	}
	if opts.All {
		q.Set("all", "true")
	}
	if len(opts.States) > 0 {
		s := make([]string, len(opts.States))
		for i, st := range opts.States {
			s[i] = string(st)
		}
		q.Set("state", strings.Join(s, ","))
	}
	size := opts.PageSize
	if size <= 0 || size > MaxPageSize {
		size = MaxPageSize
	}
	q.Set("page_size", strconv.Itoa(size))
	return q
}

func (c *Client) listChunk(ctx context.Context, opts ListOptions, resources []string) ([]Reservation, error) {
	const path = "reservation/"
	ref := path + "?" + listQuery(opts, resources).Encode()
	var out []Reservation
	seen := map[int64]bool{}
	count := -1
	for pageNo := 1; ref != ""; pageNo++ {
		var pg wirePage
		if _, err := c.do(ctx, request{method: http.MethodGet, ref: ref, out: &pg}); err != nil {
			if pageNo > 1 && errors.Is(err, ErrNotFound) {
				// "Invalid page.": the listing shrank under us.
				return nil, fmt.Errorf("list reservations page %d: %w", pageNo, ErrListingChanged)
			}
			return nil, fmt.Errorf("list reservations page %d: %w", pageNo, err)
		}
		if count >= 0 && pg.Count != count {
			return nil, fmt.Errorf("list reservations: count went from %d to %d: %w", count, pg.Count, ErrListingChanged)
		}
		count = pg.Count
		for i := range pg.Results {
			r, err := pg.Results[i].reservation()
			if err != nil {
				return nil, fmt.Errorf("list reservations page %d: %w", pageNo, err)
			}
			if seen[r.ID] {
				return nil, fmt.Errorf("list reservations: reservation %d seen twice: %w", r.ID, ErrListingChanged)
			}
			seen[r.ID] = true
			out = append(out, r)
		}
		ref = ""
		if pg.Next != nil && *pg.Next != "" {
			// Follow only next's query, on our own path: a proxy may make
			// Respa build next with the wrong scheme or host, and the token
			// must never go anywhere but BaseURL.
			next, err := url.Parse(*pg.Next)
			if err != nil {
				return nil, fmt.Errorf("list reservations: bad next link: %w", err)
			}
			ref = path + "?" + next.RawQuery
		}
	}
	if len(out) != count {
		return nil, fmt.Errorf("list reservations: got %d of %d: %w", len(out), count, ErrListingChanged)
	}
	return out, nil
}

func reservationRef(id int64) string {
	return "reservation/" + strconv.FormatInt(id, 10) + "/"
}

func (c *Client) oneReservation(ctx context.Context, method, ref string, body any) (Reservation, error) {
	var w wireReservation
	if _, err := c.do(ctx, request{method: method, ref: ref, body: body, out: &w}); err != nil {
		return Reservation{}, err
	}
	return w.reservation()
}

// GetReservation reads one reservation. A reservation hidden from the
// token's user is ErrNotFound, as Respa answers.
func (c *Client) GetReservation(ctx context.Context, id int64) (Reservation, error) {
	r, err := c.oneReservation(ctx, http.MethodGet, reservationRef(id), nil)
	if err != nil {
		return Reservation{}, fmt.Errorf("get reservation %d: %w", id, err)
	}
	return r, nil
}

// CreateReservation POSTs r (ID and read-only fields are ignored) and
// returns the reservation as Respa stored it, with its id and state
// (confirmed, or requested on resources needing manual confirmation when
// the user may not bypass it). A 400 is a *Rejection. POST is never
// retried: a create that timed out may have happened, and the caller
// finds it again by its marker.
func (c *Client) CreateReservation(ctx context.Context, r Reservation) (Reservation, error) {
	got, err := c.oneReservation(ctx, http.MethodPost, "reservation/", r.writeBody())
	if err != nil {
		return Reservation{}, fmt.Errorf("create reservation on %s: %w", r.ResourceID, err)
	}
	return got, nil
}

// UpdateReservation replaces reservation r.ID with PUT and the full body.
// Respa's PATCH accepts only state and cancel_reason ("Patching of field
// ... is not allowed"), so times and texts can only change with PUT. PUT
// of the same body is idempotent, so it is retried like GET.
func (c *Client) UpdateReservation(ctx context.Context, r Reservation) (Reservation, error) {
	got, err := c.oneReservation(ctx, http.MethodPut, reservationRef(r.ID), r.writeBody())
	if err != nil {
		return Reservation{}, fmt.Errorf("update reservation %d: %w", r.ID, err)
	}
	return got, nil
}

// SetState changes only the state with PATCH, as Respa allows: staff may
// move between requested, confirmed, denied and waiting_for_payment, and
// whoever may modify a reservation may cancel it.
func (c *Client) SetState(ctx context.Context, id int64, state State) (Reservation, error) {
	got, err := c.oneReservation(ctx, http.MethodPatch, reservationRef(id), map[string]any{"state": state})
	if err != nil {
		return Reservation{}, fmt.Errorf("set reservation %d state %s: %w", id, state, err)
	}
	return got, nil
}

// CancelResult tells what a cancellation found.
type CancelResult int

const (
	// Cancelled: Respa answered 204. Respa answers the same for a
	// reservation that was already cancelled, so this does not prove that
	// this call changed anything.
	Cancelled CancelResult = iota + 1
	// NotFound: Respa answered 404; the reservation does not exist or is
	// no longer visible to the token's user (a plain user does not see
	// others' cancelled reservations). Nothing is left to cancel.
	NotFound
)

func (r CancelResult) String() string {
	switch r {
	case Cancelled:
		return "cancelled"
	case NotFound:
		return "not found"
	}
	return "unknown"
}

// CancelReservation DELETEs a reservation, which Respa turns into state
// cancelled (the row stays). DELETE is retried like GET: repeating it
// leaves the reservation cancelled either way.
func (c *Client) CancelReservation(ctx context.Context, id int64) (CancelResult, error) {
	_, err := c.do(ctx, request{method: http.MethodDelete, ref: reservationRef(id)})
	switch {
	case err == nil:
		return Cancelled, nil
	case errors.Is(err, ErrNotFound):
		return NotFound, nil
	}
	return 0, fmt.Errorf("cancel reservation %d: %w", id, err)
}
