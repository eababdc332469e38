// Package metrics holds the operator's Prometheus series: one instrumented
// HTTP transport that every outgoing call to Exchange and Respa goes
// through, and a few calls the reconcilers make after each sync pass.
//
// Series, all registered on controller-runtime's metrics.Registry so the
// manager serves them on its metrics endpoint:
//
//	respa_exchange_requests_total{backend,operation,code}
//	respa_exchange_request_duration_seconds{backend,operation}
//	respa_exchange_throttled_total{backend}
//	respa_exchange_sync_pass_duration_seconds{result}
//	respa_exchange_sync_writes_total{side,verb}
//	respa_exchange_sync_item_failures_total{reason}
//	respa_exchange_last_successful_sync_timestamp_seconds{namespace,name}
//	respa_exchange_stream_streaming{namespace,mailbox}
//
// Label values are bounded: operations are EWS operation names or Respa
// path kinds ("GET reservation-list"), never URLs, query strings or item
// ids; free-form values outside the expected sets are folded into "other".
//
// The request duration is the time until the response headers arrive.
// For ordinary calls Exchange and Respa answer only once the work is done,
// so that is the call's latency; for GetStreamingEvents, which stays open
// for up to half an hour, it is the time to open the stream, not its
// lifetime.
package metrics
