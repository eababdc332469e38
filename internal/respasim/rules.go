package respasim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Respa's own messages (English; Respa answers in Finnish unless the
// request asks for English with Accept-Language).
const (
	msgPast            = "You cannot make a reservation in the past"
	msgEndAfterBegin   = "You must end the reservation after it has begun"
	msgOverlap         = "The resource is already reserved for some of the period"
	msgMultiDay        = "You cannot make a multi day reservation"
	msgMaxPerUser      = "Maximum number of active reservations for this resource exceeded."
	msgStaffOnly       = "Only allowed to be set by staff members"
	msgManagersOnly    = "Only allowed to be set by resource managers"
	msgTypeNotAllowed  = "You are not allowed to make a reservation of this type"
	msgIllegalState    = "Illegal state change"
	msgNotAllowedToRes = "You are not allowed to make reservations in this resource."
	msgNoPermission    = "You do not have permission to perform this action."
	msgNotFound        = "Not found."
	msgRequired        = "This field is required."
	msgNotProvided     = "Authentication credentials were not provided."
	msgInvalidToken    = "Invalid token."
	msgBadSignature    = "Error decoding signature."
	msgBadDatetime     = "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)

// apiError is a response Respa would give instead of success.
type apiError struct {
	status int
	body   any
}

func (e *apiError) Error() string { return fmt.Sprintf("respa %d: %v", e.status, e.body) }

func detailError(status int, msg string) *apiError {
	return &apiError{status: status, body: map[string]string{"detail": msg}}
}

func nonFieldError(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, body: map[string][]string{"non_field_errors": {msg}}}
}

// modelCleanError renders an error raised by Reservation.clean(). Respa's
// serializer re-raises a message-only Django ValidationError as
// DRF ValidationError(exc), and DRF turns that object into text with str(),
// which for Django is the repr of its message list. Real Respa therefore
// answers {"non_field_errors": ["['The resource is already reserved ...']"]}
// for these messages, and the simulator does the same so clients cope.
func modelCleanError(msg string) *apiError {
	return nonFieldError("['" + msg + "']")
}

func fieldError(field, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, body: map[string][]string{field: {msg}}}
}

// reservationInput is a decoded write body; present records which keys the
// client sent, since Respa's rules look at presence ("comments" in data).
type reservationInput struct {
	present              map[string]bool
	ResourceID           string
	Begin, End           time.Time
	State                string
	Comments             string
	StaffEvent           bool
	Type                 string
	UserID               string
	EventSubject         string
	EventDescription     string
	ReserverName         string
	ReserverEmailAddress string
	ReserverPhoneNumber  string
	HostName             string
	Participants         string
	NumberOfParticipants *int
}

func (in *reservationInput) has(k string) bool { return in.present[k] }

func (s *Server) resourceDefaults(r *Resource) (minPeriod, slot time.Duration) {
	minPeriod, slot = time.Duration(r.MinPeriod), time.Duration(r.SlotSize)
	if minPeriod == 0 {
		minPeriod = 30 * time.Minute
	}
	if slot == 0 {
		slot = 30 * time.Minute
	}
	return minPeriod, slot
}

func supportedFields(r *Resource) []string {
	if r.SupportedFields == nil {
		return DefaultSupportedFields
	}
	return r.SupportedFields
}

// visibleTo is Respa's ReservationViewSet.get_queryset: general admins see
// everything, others see confirmed, requested and waiting-for-payment
// reservations plus their own, on resources visible to them.
func (s *Server) visibleTo(u *User, r *Reservation) bool {
	if u != nil && u.Staff {
		return true
	}
	res := s.resources[r.ResourceID]
	if res == nil || !res.Public {
		return false
	}
	switch r.State {
	case StateConfirmed, StateRequested, StateWaitingForPayment:
		return true
	}
	return u != nil && r.UserID == u.ID
}

// canModify is Reservation.can_modify.
func (s *Server) canModify(u *User, r *Reservation) bool {
	if u == nil || r.State == StateWaitingForPayment {
		return false
	}
	res := s.resources[r.ResourceID]
	if res.NeedManualConfirmation && r.State == StateConfirmed && !u.Staff {
		return false
	}
	return r.UserID == u.ID || u.Staff
}

func (s *Server) collides(resourceID string, begin, end time.Time, exceptID int, now time.Time) bool {
	for _, id := range s.byResource[resourceID] {
		o := s.reservations[id]
		if o.ID == exceptID || !o.active() || o.End.Before(now) {
			continue
		}
		if o.End.After(begin) && o.Begin.Before(end) {
			return true
		}
	}
	return false
}

// validate runs ReservationSerializer.validate and Reservation.clean in
// Respa's order. orig is the reservation being replaced (nil on create).
func (s *Server) validate(u *User, in *reservationInput, res *Resource, orig *Reservation, now time.Time) *apiError {
	staff := u.Staff
	if !res.Reservable && !staff {
		return detailError(http.StatusForbidden, msgNotAllowedToRes)
	}
	if in.has("end") && in.End.Before(now) {
		return nonFieldError(msgPast)
	}
	if !staff {
		in.UserID = ""
		delete(in.present, "user")
		if err := s.validatePeriod(in, res); err != nil {
			return err
		}
	}
	if in.StaffEvent && !staff {
		return fieldError("staff_event", msgManagersOnly)
	}
	if in.has("type") && in.Type != "normal" && !staff {
		return fieldError("type", msgTypeNotAllowed)
	}
	if in.has("comments") && !staff {
		return fieldError("comments", msgStaffOnly)
	}
	if orig == nil && !staff && res.MaxReservationsPerUser > 0 {
		n := 0
		for _, id := range s.byResource[res.ID] {
			o := s.reservations[id]
			if o.UserID == u.ID && o.active() && !o.End.Before(now) {
				n++
			}
		}
		if n >= res.MaxReservationsPerUser {
			return nonFieldError(msgMaxPerUser)
		}
	}
	// Reservation.clean()
	if !in.End.After(in.Begin) {
		return modelCleanError(msgEndAfterBegin)
	}
	exceptID := 0
	if orig != nil {
		exceptID = orig.ID
	}
	if s.collides(res.ID, in.Begin, in.End, exceptID, now) {
		return modelCleanError(msgOverlap)
	}
	minPeriod, slot := s.resourceDefaults(res)
	length := in.End.Sub(in.Begin)
	if !staff {
		if length < minPeriod {
			return modelCleanError("The minimum reservation length is " + humanizeDuration(minPeriod))
		}
	} else if length%slot != 0 {
		return modelCleanError("The minimum reservation length is " + humanizeDuration(slot))
	}
	return nil
}

// validatePeriod is Resource.validate_reservation_period for non-admins.
// Opening hours are not modelled: every resource is open around the clock.
func (s *Server) validatePeriod(in *reservationInput, res *Resource) *apiError {
	loc := s.unitLocation(res.UnitID)
	b, e := in.Begin.In(loc), in.End.In(loc)
	if b.Year() != e.Year() || b.YearDay() != e.YearDay() {
		return nonFieldError(msgMultiDay)
	}
	if res.MaxPeriod > 0 && in.End.Sub(in.Begin) > time.Duration(res.MaxPeriod) {
		return nonFieldError("The maximum reservation length is " + humanizeDuration(time.Duration(res.MaxPeriod)))
	}
	return nil
}

// humanizeDuration is Respa's humanize_duration: "2 hours 30 minutes".
func humanizeDuration(d time.Duration) string {
	hours := int(d / time.Hour)
	mins := int(d/time.Minute) % 60
	var parts []string
	if hours == 1 {
		parts = append(parts, "1 hour")
	} else if hours > 1 {
		parts = append(parts, fmt.Sprintf("%d hours", hours))
	}
	if mins == 1 {
		parts = append(parts, "1 minute")
	} else if mins > 1 {
		parts = append(parts, fmt.Sprintf("%d minutes", mins))
	}
	return strings.Join(parts, " ")
}

// validateStateChange is ReservationSerializer.validate_state for updates.
func (s *Server) validateStateChange(u *User, r *Reservation, to string) *apiError {
	if to == "" || to == r.State {
		return nil
	}
	approvable := []string{StateRequested, StateConfirmed, StateDenied, StateWaitingForPayment}
	if u.Staff && slices.Contains(approvable, r.State) && slices.Contains(approvable, to) {
		return nil
	}
	if to == StateCancelled && s.canModify(u, r) {
		return nil
	}
	return fieldError("state", msgIllegalState)
}

// touch moves modified_at forward, strictly, so every change is visible.
func (s *Server) touch(r *Reservation, now time.Time) {
	if !now.After(r.ModifiedAt) {
		now = r.ModifiedAt.Add(time.Microsecond)
	}
	r.ModifiedAt = now
}

func (s *Server) applyInput(r *Reservation, in *reservationInput, res *Resource) {
	r.ResourceID = res.ID
	r.Begin, r.End = in.Begin, in.End
	if in.has("comments") {
		r.Comments = in.Comments
	}
	if in.has("staff_event") {
		r.StaffEvent = in.StaffEvent
	}
	if in.has("type") {
		r.Type = in.Type
	}
	if in.has("user") && in.UserID != "" {
		r.UserID = in.UserID
	}
	sup := supportedFields(res)
	set := func(name string, dst *string, v string) {
		if in.has(name) && slices.Contains(sup, name) {
			*dst = v
		}
	}
	set("event_subject", &r.EventSubject, in.EventSubject)
	set("event_description", &r.EventDescription, in.EventDescription)
	set("reserver_name", &r.ReserverName, in.ReserverName)
	set("reserver_email_address", &r.ReserverEmailAddress, in.ReserverEmailAddress)
	set("reserver_phone_number", &r.ReserverPhoneNumber, in.ReserverPhoneNumber)
	set("host_name", &r.HostName, in.HostName)
	set("participants", &r.Participants, in.Participants)
	if in.has("number_of_participants") && slices.Contains(sup, "number_of_participants") {
		r.NumberOfParticipants = in.NumberOfParticipants
	}
}

func (s *Server) checkRequired(in *reservationInput, res *Resource) *apiError {
	errs := map[string][]string{}
	for _, f := range res.RequiredFields {
		if !in.has(f) {
			errs[f] = []string{msgRequired}
		}
	}
	if len(errs) > 0 {
		return &apiError{status: http.StatusBadRequest, body: errs}
	}
	return nil
}

// create is POST /v1/reservation/ followed by perform_create.
func (s *Server) create(u *User, in *reservationInput) (*Reservation, *apiError) {
	now := s.now()
	if aerr := s.checkUser(in); aerr != nil {
		return nil, aerr
	}
	res, aerr := s.inputResource(u, in)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.checkRequired(in, res); aerr != nil {
		return nil, aerr
	}
	if aerr := s.validate(u, in, res, nil, now); aerr != nil {
		return nil, aerr
	}
	s.nextID++
	r := &Reservation{ID: s.nextID, UserID: u.ID, State: StateCreated, Type: "normal", CreatedAt: now}
	s.applyInput(r, in, res)
	if res.NeedManualConfirmation && !u.Staff {
		r.State = StateRequested
	} else {
		r.State = StateConfirmed
	}
	s.touch(r, now)
	s.reservations[r.ID] = r
	s.byResource[res.ID] = append(s.byResource[res.ID], r.ID)
	return r, nil
}

// checkUser is the serializer's to_internal_value for "user": an unknown
// id is refused for anyone, before any permission check.
func (s *Server) checkUser(in *reservationInput) *apiError {
	if !in.has("user") {
		return nil
	}
	for _, u := range s.users {
		if u.ID == in.UserID {
			return nil
		}
	}
	return &apiError{status: http.StatusBadRequest, body: map[string]any{
		"user": map[string][]string{"id": {fmt.Sprintf("Invalid pk \"%s\" - object does not exist.", in.UserID)}},
	}}
}

// inputResource resolves the body's resource the way DRF's primary key
// field does: missing is "required", unknown is "Invalid pk". Its queryset
// is every resource, so a hidden one is found too.
func (s *Server) inputResource(u *User, in *reservationInput) (*Resource, *apiError) {
	if !in.has("resource") || in.ResourceID == "" {
		return nil, fieldError("resource", msgRequired)
	}
	res := s.resources[in.ResourceID]
	if res == nil {
		return nil, fieldError("resource", fmt.Sprintf("Invalid pk \"%s\" - object does not exist.", in.ResourceID))
	}
	return res, nil
}

// lookup finds a reservation the user may see, else Respa's 404.
func (s *Server) lookup(u *User, id int) (*Reservation, *apiError) {
	r := s.reservations[id]
	if r == nil || !s.visibleTo(u, r) {
		return nil, detailError(http.StatusNotFound, msgNotFound)
	}
	return r, nil
}

// update is PUT (partial=false) or PATCH (partial=true) on a reservation.
func (s *Server) update(u *User, id int, in *reservationInput, partial bool) (*Reservation, *apiError) {
	now := s.now()
	r, aerr := s.lookup(u, id)
	if aerr != nil {
		return nil, aerr
	}
	if !s.canModify(u, r) {
		return nil, detailError(http.StatusForbidden, msgNoPermission)
	}
	if in.has("state") {
		if aerr := s.validateStateChange(u, r, in.State); aerr != nil {
			return nil, aerr
		}
	}
	res := s.resources[r.ResourceID]
	if partial {
		if !res.Reservable && !u.Staff {
			return nil, detailError(http.StatusForbidden, msgNotAllowedToRes)
		}
		for k := range in.present {
			if k != "state" && k != "cancel_reason" {
				return nil, nonFieldError(fmt.Sprintf("Patching of field %s is not allowed", k))
			}
		}
	} else {
		if aerr := s.checkUser(in); aerr != nil {
			return nil, aerr
		}
		if res, aerr = s.inputResource(u, in); aerr != nil {
			return nil, aerr
		}
		if aerr := s.checkRequired(in, res); aerr != nil {
			return nil, aerr
		}
		if aerr := s.validate(u, in, res, r, now); aerr != nil {
			return nil, aerr
		}
		if res.ID != r.ResourceID {
			s.byResource[r.ResourceID] = slices.DeleteFunc(s.byResource[r.ResourceID], func(x int) bool { return x == r.ID })
			s.byResource[res.ID] = append(s.byResource[res.ID], r.ID)
		}
		s.applyInput(r, in, res)
	}
	if in.has("state") && in.State != "" {
		r.State = in.State
	}
	s.touch(r, now)
	return r, nil
}

// cancel is DELETE: Respa keeps the row and sets state cancelled; an
// already cancelled reservation is left as it is and still answers 204.
func (s *Server) cancel(u *User, id int) *apiError {
	r, aerr := s.lookup(u, id)
	if aerr != nil {
		return aerr
	}
	if !s.canModify(u, r) {
		return detailError(http.StatusForbidden, msgNoPermission)
	}
	if r.State != StateCancelled {
		r.State = StateCancelled
		s.touch(r, s.now())
	}
	return nil
}
