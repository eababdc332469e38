// Package manager builds the operator's controller manager: the scheme, the reconcilers and
// their wiring. cmd/manager parses flags into Options; the demo and the end-to-end tests call
// the same New with their own.
package manager

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/controllers"
	"github.com/respa-exchange/respa-exchange-operator/internal/backend"
	"github.com/respa-exchange/respa-exchange-operator/internal/notify"
)

// Scheme knows the built-in kinds and this operator's kinds.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(v1alpha1.AddToScheme(Scheme))
}

// Options configure the manager.
type Options struct {
	// MetricsAddr serves Prometheus metrics; "0" turns them off.
	MetricsAddr string
	// ProbeAddr serves /healthz and /readyz; "0" turns them off.
	ProbeAddr string
	// LeaderElection makes only one replica reconcile at a time.
	LeaderElection          bool
	LeaderElectionNamespace string
	// Concurrency is the number of resources synced in parallel.
	Concurrency int
	// Namespace limits the manager to one namespace; empty watches all.
	Namespace string
	// Syncer runs passes; nil uses the real sync engine.
	Syncer controllers.Syncer
	// Checker checks mailbox endpoints; nil uses the real clients.
	Checker controllers.EndpointChecker
	// Notify tunes the Exchange notifications and the Respa poller (intervals, debounce).
	Notify notify.Options
	// RespaRateLimit is the client-side limit of requests per second to each Respa instance,
	// shared by all its resources and the poller; 0 means 25.
	RespaRateLimit float64
	// DisableNotifications leaves passes to the resync interval, spec changes and requestedAt.
	DisableNotifications bool
	Logger               logr.Logger
	// SkipControllerNameValidation lets one process build a second manager after the first
	// stopped (the demo's end-to-end tests restart it); controller names are otherwise
	// reserved for the life of the process.
	SkipControllerNameValidation bool
}

// New builds a manager with both reconcilers registered.
func New(ctx context.Context, cfg *rest.Config, opts Options) (ctrl.Manager, error) {
	ctrl.SetLogger(opts.Logger)
	mgrOpts := ctrl.Options{
		Scheme:                  Scheme,
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:  opts.ProbeAddr,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        "respa-exchange-operator.respa-exchange.io",
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		Logger:                  opts.Logger,
	}
	if opts.SkipControllerNameValidation {
		skip := true
		mgrOpts.Controller.SkipNameValidation = &skip
	}
	if opts.Namespace != "" {
		mgrOpts.Cache.DefaultNamespaces = map[string]cache.Config{opts.Namespace: {}}
	}
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}

	factory := backend.NewFactory(opts.Logger.WithName("backend"))
	factory.RespaRateLimit = opts.RespaRateLimit
	checker := opts.Checker
	if checker == nil {
		checker = &backend.Checker{Factory: factory}
	}
	creds := &controllers.CredentialCache{}
	// The sync passes record what they write to Exchange, and the notifier ignores the
	// notifications of exactly those versions: our own writes start no pass.
	writes := &backend.OwnWrites{}
	var feed controllers.ChangeFeed
	if !opts.DisableNotifications {
		notifyOpts := opts.Notify
		notifyOpts.OwnWrites = writes
		n := notify.New(notifyOpts, mailboxClients(factory, creds), opts.Logger.WithName("notify"))
		if err := mgr.Add(n); err != nil {
			return nil, fmt.Errorf("add notifier: %w", err)
		}
		feed = n
	}
	mbr := &controllers.ExchangeMailboxReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("exchangemailbox-controller"),
		Checker:                 checker,
		Credentials:             creds,
		MaxConcurrentReconciles: opts.Concurrency,
		Feed:                    feed,
		// A deleted mailbox's clients (and the credentials inside them) are not kept.
		Forget: func(k types.NamespacedName) { factory.Forget(k.Namespace, k.Name) },
	}
	if err := mbr.SetupWithManager(ctx, mgr); err != nil {
		return nil, fmt.Errorf("set up ExchangeMailbox controller: %w", err)
	}
	syncer := opts.Syncer
	if syncer == nil {
		syncer = &backend.Syncer{Factory: factory, Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Writes: writes}
	}
	rr := &controllers.ExchangeResourceReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("exchangeresource-controller"),
		Syncer:                  syncer,
		Credentials:             creds,
		MaxConcurrentReconciles: opts.Concurrency,
		Feed:                    feed,
	}
	if err := rr.SetupWithManager(ctx, mgr); err != nil {
		return nil, fmt.Errorf("set up ExchangeResource controller: %w", err)
	}
	return mgr, nil
}

// mailboxClients gives the notifier the clients of a mailbox once the mailbox controller has
// resolved its credentials, the same clients (and limits) its resources' passes use.
func mailboxClients(f *backend.Factory, creds *controllers.CredentialCache) notify.ClientsFunc {
	return func(mb *v1alpha1.ExchangeMailbox) (*backend.Clients, error) {
		c, ok := creds.Get(types.NamespacedName{Namespace: mb.Namespace, Name: mb.Name}, mb.Generation)
		if !ok {
			return nil, notify.ErrNoCredentials
		}
		return f.For(mb, c)
	}
}
