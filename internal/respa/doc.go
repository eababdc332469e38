// Package respa is a client for the REST API of Respa, the reservation
// platform of Finnish cities (github.com/City-of-Helsinki/respa), as the
// operator needs it: list reservations of many resources, read, create,
// update and cancel one, read a resource, and check the endpoint and token.
//
//	c, err := respa.New(respa.Config{BaseURL: "https://respa.example.fi/v1/",
//		Token: key, TokenKind: respa.TokenKindDRF, Limiter: sharedPerInstance})
//	err = c.CheckAccess(ctx)                 // ErrUnauthorized / ErrUnavailable / nil
//	res, err := c.GetResource(ctx, "av3jzamtsqq") // ErrNotFound for an unknown id
//	rs, err := c.ListReservations(ctx, respa.ListOptions{ResourceIDs: ids, Start: from, End: to})
//	r, err = c.CreateReservation(ctx, r)     // *Rejection on 400
//	r, err = c.UpdateReservation(ctx, r)     // PUT, full body
//	result, err := c.CancelReservation(ctx, id) // Cancelled or NotFound
//
// # Errors
//
// A 400 is a *Rejection carrying Respa's own messages by field and in
// NonField (overlap, past time, minimum length...): a per-item outcome.
// 401, 403 and 404 are *APIError values that unwrap to ErrUnauthorized,
// ErrForbidden and ErrNotFound. 429, 5xx, timeouts and connection failures
// unwrap to ErrUnavailable; GET, PUT and DELETE are retried for them with
// exponential backoff (Retry-After honoured), POST never, because a POST
// that timed out may have created the reservation. The token is sent only
// to BaseURL (redirects are not followed; `next` links are followed by
// their query only) and is scrubbed from every error and log line, even
// when a server echoes it back.
//
// # What this relies on in Respa's source
//
// Read from City-of-Helsinki/respa at commit 58421a24 (2023-11-17); the
// facts are restated in our words.
//
//   - resources/api/reservation.py, ReservationFilterSet: `resource` takes
//     a comma-separated list of ids (an "in" lookup; unknown ids simply
//     match nothing). StateFilterBackend: `state` is a comma list too.
//   - ReservationFilterBackend: `start` keeps reservations whose end is at
//     or after it, `end` keeps those whose begin is at or before it (both
//     inclusive, so touching reservations are included). Either parameter
//     also switches on past reservations; without them, and unless
//     `all=true`, reservations whose end is before now are hidden. A bad
//     timestamp is a 400 {"detail": "'start' must be a timestamp in ISO 8601 format"}.
//   - The viewset orders by begin, then unit name, then resource name, with
//     no unique tie-breaker, and pages by offset, hence the consistency
//     checks in ListReservations.
//   - ReservationViewSet.get_queryset: general administrators see every
//     reservation; everybody else sees confirmed, requested and
//     waiting_for_payment ones plus their own. So the operator's account
//     must be a general administrator to see cancellations made by others.
//   - resources/pagination.py: ReservationPagination is DRF page-number
//     pagination (count, next, previous, results), default page size 20,
//     page_size up to 500 (a larger value is cut to 500; 0 or junk gives 20).
//   - Serializer fields: id, url, resource, user, begin, end, comments,
//     is_own, state, need_manual_confirmation, staff_event, access_code,
//     user_permissions, type, cancel_reason, and the extra fields
//     (event_subject, event_description, reserver_name,
//     reserver_email_address, number_of_participants, host_name, ...).
//     The extra fields are writable only when the resource's metadata set
//     supports them and are shown only to the owner or to users allowed to
//     see extra fields; comments are shown only to users with the comment
//     permission, user only to those allowed to see reservation users.
//     created_at and modified_at exist on the model but are not in the
//     serializer, so Reservation.CreatedAt/ModifiedAt are zero with real
//     Respa (the simulator sends them unless told not to); change
//     detection must hash content.
//   - Times are written in Respa's TIME_ZONE (Europe/Helsinki) with their
//     offset; this client sends UTC and converts answers to UTC.
//   - Only staff may set: comments ({"comments": ["Only allowed to be set
//     by staff members"]}), staff_event ("Only allowed to be set by
//     resource managers"), a non-normal type, and the user of a
//     reservation (silently dropped for others). A resource that is not
//     reservable gives 403 "You are not allowed to make reservations in
//     this resource." to users without the permission.
//   - Validation order and messages: end before now is
//     non_field "You cannot make a reservation in the past"; for non-admins
//     "You cannot make a multi day reservation", opening hours, and
//     "The maximum reservation length is ..."; then the model's clean():
//     "You must end the reservation after it has begun", "The resource is
//     already reserved for some of the period" (only active reservations,
//     i.e. not cancelled or denied and not ended, count), and "The minimum
//     reservation length is ..." (for admins the check is that the length
//     is a multiple of the slot size, default 30 minutes, with the same
//     message). clean()'s messages reach the wire wrapped as
//     "['The resource is already reserved for some of the period']"
//     because the serializer passes the Django error object to DRF, which
//     stringifies it; Rejection.NonField holds them unwrapped.
//   - PATCH may change only state and cancel_reason; everything else is
//     "Patching of field X is not allowed". Hence UpdateReservation uses PUT.
//   - DELETE calls set_state(cancelled): the row stays, state becomes
//     cancelled, 204 is answered also when it already was cancelled.
//     Modifying or cancelling needs Reservation.can_modify: own reservation
//     or the modify permission, never in waiting_for_payment, and a
//     confirmed reservation of a manual-confirmation resource only with the
//     approve permission; otherwise 403 "You do not have permission to
//     perform this action.". Unit and general admins get most permissions
//     through their role, but not approve (granted explicitly or by being a
//     superuser), so the operator's account needs it for such resources.
//   - perform_create: a new reservation is confirmed, or requested when the
//     resource needs manual confirmation and the user may not bypass it
//     (staff may), or waiting_for_payment when it has an order.
//   - Authentication: the reservation viewset accepts JWT (helusers),
//     DRF tokens and sessions; unknown credentials are 401, missing ones
//     are anonymous (reads allowed, writes 401). /v1/user/ accepts only the
//     default (JWT) authentication, so CheckAccess lists reservations instead.
//   - resources/api/resource.py: the detail view nests the unit
//     ({id, name, time_zone, ...}), the list view gives its id. Names are
//     translation maps {"fi": ..., "en": ..., "sv": ...} without empty
//     languages. Non-public resources are hidden (404) from others than staff.
//   - Respa answers in Finnish by default (LANGUAGE_CODE fi, LocaleMiddleware);
//     the client asks for English with Accept-Language so messages match.
package respa
