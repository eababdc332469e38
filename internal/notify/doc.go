// Package notify turns changes in Exchange and Respa into sync passes within seconds, instead
// of waiting for each resource's resync interval.
//
// Exchange: each ExchangeMailbox in impersonation mode gets streaming subscriptions for the
// rooms of its resources, carried by one GetStreamingEvents connection per group of at most
// 200 (EWS's limit per connection). A notification for a room enqueues its ExchangeResource
// after a short debounce, so the burst of events one edit causes becomes one pass. A
// subscription that is lost (ErrorSubscriptionNotFound, a dropped or refused stream) is
// replaced by a new one, without the old watermark, after a backoff; since missed events are
// never replayed, its rooms then get a catch-up pass. Until then, and for mailboxes in delegate
// mode (EWS refuses delegate subscriptions), the rooms are polled: enqueued every
// ExchangePollInterval.
//
// Respa has no push: one poller per Respa instance lists the window of its resources, many per
// request, and enqueues only the resources whose reservations' digest changed since the last
// poll.
//
// The ExchangeResource reconciler tells the Notifier which rooms to watch (Track, Untrack),
// asks it whether a change was signalled (TakeChanged) and copies its stream state into
// status; the Notifier enqueues the objects through controller-runtime channel sources whenever
// that state changes, so status is written only by the reconcilers.
package notify
