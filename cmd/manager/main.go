// Command manager runs respa-exchange-operator's controllers.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/respa-exchange/respa-exchange-operator/internal/manager"
)

func main() {
	var (
		opts      manager.Options
		logLevel  string
		logFormat string
	)
	flag.StringVar(&opts.MetricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 turns it off")
	flag.StringVar(&opts.ProbeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints; 0 turns them off")
	flag.BoolVar(&opts.LeaderElection, "leader-elect", false, "elect a leader so that only one replica reconciles")
	flag.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election lease (default: the pod's namespace)")
	flag.IntVar(&opts.Concurrency, "concurrency", 4, "resources reconciled in parallel by each controller")
	flag.StringVar(&opts.Namespace, "namespace", "", "watch only this namespace (default: all)")
	flag.DurationVar(&opts.Notify.RespaPollInterval, "respa-poll-interval", 15*time.Second, "how often each Respa instance is listed for changes")
	flag.DurationVar(&opts.Notify.ExchangePollInterval, "exchange-poll-interval", 30*time.Second, "how often rooms are synced while their Exchange notifications are down (and in delegate mode)")
	flag.DurationVar(&opts.Notify.Debounce, "notification-debounce", 500*time.Millisecond, "how long Exchange notifications for a room are gathered into one pass")
	flag.IntVar(&opts.Notify.MaxConnections, "max-streaming-connections", 10, "streaming connections per ExchangeMailbox (Exchange Online allows 10, Exchange 2013 3); rooms past 200 per connection are polled")
	flag.Float64Var(&opts.RespaRateLimit, "respa-rate-limit", 25, "requests per second to each Respa instance, shared by all its resources")
	flag.StringVar(&logLevel, "log-level", "info", "log level: debug, info or error")
	flag.StringVar(&logFormat, "log-format", "json", "log format: json or console")
	flag.Parse()

	logger, err := newLogger(logLevel, logFormat)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	opts.Logger = zapr.NewLogger(logger)
	log := opts.Logger.WithName("setup")

	ctx := ctrl.SetupSignalHandler()
	mgr, err := manager.New(ctx, ctrl.GetConfigOrDie(), opts)
	if err != nil {
		log.Error(err, "unable to set up the manager")
		os.Exit(1)
	}
	log.Info("starting manager")
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func newLogger(level, format string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	switch format {
	case "json":
	case "console":
		cfg = zap.NewDevelopmentConfig()
	default:
		return nil, fmt.Errorf("-log-format: want json or console, got %q", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	return cfg.Build()
}
