// Package respasim is a stateful simulator of Respa's REST API
// (github.com/City-of-Helsinki/respa) with Respa's rules, for the
// operator's tests and the local demo. It is an http.Handler; run it with
// httptest.NewServer or the respa-sim command.
//
// # API (under /v1/)
//
//	GET    /v1/resource/                 resources, paginated (unit=<id> filter)
//	GET    /v1/resource/<id>/            one resource with its unit nested
//	GET    /v1/reservation/              list with resource (comma list), start, end,
//	                                     all, state (comma list), is_own, unit,
//	                                     event_subject, ordering=begin|-begin,
//	                                     page, page_size (default 20, cap 500)
//	POST   /v1/reservation/              create
//	GET    /v1/reservation/<id>/         read
//	PUT    /v1/reservation/<id>/         replace (full body)
//	PATCH  /v1/reservation/<id>/         state and cancel_reason only
//	DELETE /v1/reservation/<id>/         cancel (state cancelled, 204)
//	GET    /v1/user/                     the caller (JWT/Bearer only, as in Respa)
//
// The rules follow Respa's source as summarised in package respa's
// documentation: states created/confirmed/requested/cancelled/denied/
// waiting_for_payment; new reservations confirmed, or requested on
// need_manual_confirmation resources unless the user is staff; validation
// in Respa's order with its status codes and English messages (past,
// multi-day and maximum length for non-staff, staff-only fields, end after
// begin, overlap with active reservations only, minimum length or slot
// multiple); clean() messages wrapped "['...']" as real Respa sends them;
// visibility (staff see all, others confirmed/requested/waiting plus their
// own; comments and user only to staff; extra fields to owner and staff;
// only fields in the resource's supported set are stored); filters with
// inclusive overlap and past reservations hidden without start/end/all;
// DRF pagination with absolute next/previous links and "Invalid page."
// 404s; ordering by begin, unit name, resource name and then id (the id
// tie-breaker is the simulator's, to keep paging stable).
//
// Differences from Respa, on purpose: opening hours, reservable_before/
// after, payments, access codes, catering and cancel reasons are not
// modelled (every resource is open around the clock); Users are either
// Staff (a general administrator holding every permission) or plain; Bearer
// and JWT tokens are opaque strings looked up in the token table, without
// JWT cryptography; messages are English only; created_at and modified_at
// are included in reservation bodies (Respa's serializer omits them) unless
// Options.OmitTimestamps is set. modified_at moves forward strictly on every
// change.
//
// Authorization: "Token <key>" (DRF) and "Bearer <key>" or "JWT <key>".
// No header is anonymous (reads only); an unknown credential is 401
// {"detail": "Invalid token."} or {"detail": "Error decoding signature."}.
//
// # Admin interface
//
// Every admin action is a Go method on *Server and a JSON route under
// /admin/ (not subject to faults or latency; counted as kind "admin"):
//
//	POST   /admin/units                     Unit                  AddUnit
//	POST   /admin/resources                 Resource              AddResource
//	POST   /admin/users                     User                  AddUser
//	POST   /admin/tokens                    Token                 AddToken
//	POST   /admin/seed                      SeedOptions           Seed
//	GET    /admin/reservations              all, incl. cancelled  Reservations
//	GET    /admin/reservations/<id>                               Reservation
//	POST   /admin/reservations?as=<user>    {resource, begin, end, event_subject, ...}  CreateAs
//	POST   /admin/reservations/<id>/move?as=<user>     {Begin, End}                   MoveAs
//	POST   /admin/reservations/<id>/cancel?as=<user>                                  CancelAs
//	POST   /admin/reservations/<id>/confirm?as=<user>  (and /deny)                    SetStateAs
//	POST   /admin/faults                    Fault                 InjectFault
//	DELETE /admin/faults                                          ClearFaults
//	GET    /admin/counters                  {"GET reservation-list": n, ...}  Counters
//	DELETE /admin/counters                                        ResetCounters
//	POST   /admin/reset                                           Reset
//
// Acting "as a user" goes through the same rules as the API, so a refusal
// comes back with Respa's status and body (*Error in Go).
//
// Faults match by method and path prefix and answer a status (with an
// optional body and Retry-After), add a delay, or hang until the client
// gives up; Times limits how many requests they hit. Counters count every
// request by method and path kind (reservation-list, reservation-detail,
// resource-list, resource-detail, user, admin, other).
//
// # Command
//
// cmd/respa-sim serves a seeded simulator; flags: -listen (default
// 127.0.0.1:8082, loopback only), -seed, -latency, -units, -resources,
// -reservations, -omit-timestamps. Tokens come from RESPA_SIM_STAFF_TOKEN
// and RESPA_SIM_USER_TOKEN (defaults "staff-token", "user-token").
package respasim
