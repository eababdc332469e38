package metrics

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Backends, the values of the backend label.
const (
	BackendExchange = "exchange"
	BackendRespa    = "respa"
)

// Sides and verbs of CountWrites, as the sync engine reports them.
const (
	SideExchange = "exchange"
	SideRespa    = "respa"

	VerbCreate = "create"
	VerbUpdate = "update"
	VerbDelete = "delete"
)

// Stream modes of SetStreamState: a mailbox whose streaming connection is
// down is polled until it is back.
const (
	StreamStreaming = "streaming"
	StreamPolling   = "polling"
)

// other replaces label values outside the expected set, so a caller's
// mistake shows up as a series instead of growing the label space.
const other = "other"

// Request latency spans a quick GetItem to a FindItem over a busy year.
var requestBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// A pass spans a quiet poll to an initial import of thousands of events.
var passBuckets = []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Metrics is one set of the operator's collectors. Default is registered
// on controller-runtime's registry; tests make their own with New.
type Metrics struct {
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	throttled       *prometheus.CounterVec
	passDuration    *prometheus.HistogramVec
	lastSuccess     *prometheus.GaugeVec
	writes          *prometheus.CounterVec
	failures        *prometheus.CounterVec
	streaming       *prometheus.GaugeVec

	now func() time.Time
}

// Default is served on the manager's metrics endpoint; the package-level
// functions record into it.
var Default = mustNew(crmetrics.Registry)

func mustNew(reg prometheus.Registerer) *Metrics {
	m, err := New(reg)
	if err != nil {
		panic(err)
	}
	return m
}

// New makes the collectors and registers them on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "respa_exchange_requests_total",
			Help: "HTTP requests sent to Exchange and Respa, by backend, operation and HTTP status (\"error\" when no response came).",
		}, []string{"backend", "operation", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "respa_exchange_request_duration_seconds",
			Help:    "Time until the response headers of a request to Exchange or Respa arrived; for streaming calls, the time to open the stream.",
			Buckets: requestBuckets,
		}, []string{"backend", "operation"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "respa_exchange_throttled_total",
			Help: "Responses that asked the operator to back off: HTTP 429 or 503, or an EWS ErrorServerBusy fault.",
		}, []string{"backend"}),
		passDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "respa_exchange_sync_pass_duration_seconds",
			Help:    "Duration of sync passes by result (success or failure).",
			Buckets: passBuckets,
		}, []string{"result"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "respa_exchange_last_successful_sync_timestamp_seconds",
			Help: "Unix time of the last successful sync pass of an ExchangeResource.",
		}, []string{"namespace", "name"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "respa_exchange_sync_writes_total",
			Help: "Items created, updated or deleted by sync passes, by the side written to.",
		}, []string{"side", "verb"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "respa_exchange_sync_item_failures_total",
			Help: "Items a sync pass could not write, by reason.",
		}, []string{"reason"}),
		streaming: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "respa_exchange_stream_streaming",
			Help: "1 while a mailbox's Exchange notification stream is up, 0 while its resources are polled instead.",
		}, []string{"namespace", "mailbox"}),
		now: time.Now,
	}
	for _, c := range []prometheus.Collector{m.requests, m.requestDuration, m.throttled, m.passDuration,
		m.lastSuccess, m.writes, m.failures, m.streaming} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	// Series with a known label set start at zero, so rate() and
	// increase() see the first event rather than a new series.
	for _, b := range []string{BackendExchange, BackendRespa} {
		m.throttled.WithLabelValues(b)
	}
	for _, s := range []string{SideExchange, SideRespa} {
		for _, v := range []string{VerbCreate, VerbUpdate, VerbDelete} {
			m.writes.WithLabelValues(s, v)
		}
	}
	m.passDuration.WithLabelValues("success")
	m.passDuration.WithLabelValues("failure")
	return m, nil
}

// ObservePass records one sync pass of the ExchangeResource namespace/name;
// a successful one also moves its last-successful-sync time.
func (m *Metrics) ObservePass(namespace, name string, d time.Duration, ok bool) {
	result := "failure"
	if ok {
		result = "success"
		m.lastSuccess.WithLabelValues(namespace, name).Set(float64(m.now().UnixNano()) / 1e9)
	}
	m.passDuration.WithLabelValues(result).Observe(d.Seconds())
}

// CountWrites adds n items written to side (SideExchange or SideRespa)
// with verb (VerbCreate, VerbUpdate or VerbDelete).
func (m *Metrics) CountWrites(side, verb string, n int) {
	if n < 0 {
		return
	}
	if side != SideExchange && side != SideRespa {
		side = other
	}
	if verb != VerbCreate && verb != VerbUpdate && verb != VerbDelete {
		verb = other
	}
	m.writes.WithLabelValues(side, verb).Add(float64(n))
}

// CountFailures adds n items that failed for reason, a short code such as
// the sync engine's "Rejected/overlap" or "Conflict", never a message.
func (m *Metrics) CountFailures(reason string, n int) {
	if n < 0 {
		return
	}
	m.failures.WithLabelValues(labelValue(reason)).Add(float64(n))
}

// SetStreamState says whether the notification stream of the
// ExchangeMailbox namespace/mailbox (one stream carries all its resources)
// is up (StreamStreaming) or its resources are polled (StreamPolling or
// any other mode).
func (m *Metrics) SetStreamState(namespace, mailbox, mode string) {
	v := 0.0
	if mode == StreamStreaming {
		v = 1
	}
	m.streaming.WithLabelValues(namespace, mailbox).Set(v)
}

// Forget deletes the series of a deleted ExchangeResource, so it does not
// look like a resource that stopped syncing.
func (m *Metrics) Forget(namespace, name string) {
	m.lastSuccess.DeleteLabelValues(namespace, name)
}

// ForgetStream deletes the stream series of a deleted ExchangeMailbox.
func (m *Metrics) ForgetStream(namespace, mailbox string) {
	m.streaming.DeleteLabelValues(namespace, mailbox)
}

// ObservePass records a pass in Default; see Metrics.ObservePass.
func ObservePass(namespace, name string, d time.Duration, ok bool) {
	Default.ObservePass(namespace, name, d, ok)
}

// CountWrites counts writes in Default; see Metrics.CountWrites.
func CountWrites(side, verb string, n int) { Default.CountWrites(side, verb, n) }

// CountFailures counts failed items in Default; see Metrics.CountFailures.
func CountFailures(reason string, n int) { Default.CountFailures(reason, n) }

// SetStreamState sets a mailbox's stream state in Default; see Metrics.SetStreamState.
func SetStreamState(namespace, mailbox, mode string) {
	Default.SetStreamState(namespace, mailbox, mode)
}

// Forget deletes a resource's series from Default; see Metrics.Forget.
func Forget(namespace, name string) { Default.Forget(namespace, name) }

// ForgetStream deletes a mailbox's stream series from Default.
func ForgetStream(namespace, mailbox string) { Default.ForgetStream(namespace, mailbox) }

// maxLabelLen bounds values that come from callers.
const maxLabelLen = 64

// labelValue keeps a code-like value and folds anything else (a message,
// an id, a URL) into "other".
func labelValue(s string) string {
	if s == "" || len(s) > maxLabelLen {
		return other
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '_', r == '-', r == '.', r == '/':
		default:
			return other
		}
	}
	return s
}
