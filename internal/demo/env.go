// Package demo brings up the whole product on one machine: a real kube-apiserver and etcd
// (envtest, binaries built by hack/build-tools.sh), the CRDs, the Exchange and Respa
// simulators seeded with a few rooms and bookings, the ExchangeMailbox and ExchangeResources
// that point at them, and the manager. `make demo` runs it through cmd/demo, and the end-to-end
// test runs the same code, so the demo cannot rot.
package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/respa-exchange/respa-exchange-operator/config"
	"github.com/respa-exchange/respa-exchange-operator/controllers"
	"github.com/respa-exchange/respa-exchange-operator/internal/exchangesim"
	"github.com/respa-exchange/respa-exchange-operator/internal/manager"
	"github.com/respa-exchange/respa-exchange-operator/internal/notify"
	"github.com/respa-exchange/respa-exchange-operator/internal/respasim"
)

// Options configure an environment.
type Options struct {
	// Assets is the folder with kube-apiserver, etcd and kubectl (bin/k8s).
	Assets string
	// Workdir receives the kubeconfig and the state file the demo's other commands read.
	Workdir string
	// ExchangeAddr and RespaAddr are the simulators' listen addresses (loopback); empty
	// means a free port.
	ExchangeAddr, RespaAddr string
	// MetricsAddr serves the manager's metrics; empty or "0" turns them off.
	MetricsAddr string
	// ResyncInterval of the demo's ExchangeResources; default 30s.
	ResyncInterval time.Duration
	// Syncer replaces the manager's sync engine (tests only).
	Syncer controllers.Syncer
	// Notify tunes the manager's notifications (Respa poll, Exchange polling fallback,
	// debounce); DisableNotifications turns them off.
	Notify               notify.Options
	DisableNotifications bool
	Logger               logr.Logger
}

// Env is a running environment.
type Env struct {
	Config     *rest.Config
	Client     client.Client
	Kubeconfig string
	Namespace  string

	Exchange    *exchangesim.Server
	ExchangeURL string // the simulator's base URL; EWS is at ExchangeURL + "/EWS/Exchange.asmx"
	Respa       *respasim.Server
	RespaURL    string // the simulator's base URL; the API root is RespaURL + "/v1/"

	kube      *envtest.Environment
	respaHTTP *http.Server
	cancel    context.CancelFunc
	done      chan error
	opts      Options
}

// Start brings everything up and seeds the scenario. Stop undoes it, also after an error.
func Start(ctx context.Context, opts Options) (env *Env, err error) {
	if opts.ResyncInterval == 0 {
		opts.ResyncInterval = 30 * time.Second
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	env = &Env{Namespace: "demo", opts: opts}
	defer func() {
		if err != nil {
			env.Stop()
			env = nil
		}
	}()
	if err := os.MkdirAll(opts.Workdir, 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(opts.Assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no kube-apiserver in %s: run `make tools` first", opts.Assets)
	}

	crds, err := config.CustomResourceDefinitions()
	if err != nil {
		return nil, err
	}
	env.kube = &envtest.Environment{CRDs: crds, BinaryAssetsDirectory: opts.Assets}
	if env.Config, err = env.kube.Start(); err != nil {
		return nil, fmt.Errorf("start kube-apiserver and etcd: %w", err)
	}
	user, err := env.kube.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("add kubeconfig user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	env.Kubeconfig = filepath.Join(opts.Workdir, "kubeconfig")
	if err := os.WriteFile(env.Kubeconfig, kc, 0o600); err != nil {
		return nil, err
	}
	if env.Client, err = client.New(env.Config, client.Options{Scheme: manager.Scheme}); err != nil {
		return nil, err
	}

	if err := env.startSimulators(); err != nil {
		return nil, err
	}
	if err := env.seed(ctx); err != nil {
		return nil, fmt.Errorf("seed the scenario: %w", err)
	}
	if err := env.writeState(); err != nil {
		return nil, err
	}

	if err := env.StartManager(); err != nil {
		return nil, err
	}
	return env, nil
}

func (e *Env) startSimulators() error {
	e.Exchange = exchangesim.New(exchangesim.Options{})
	addr := e.opts.ExchangeAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	base, err := e.Exchange.Start(addr)
	if err != nil {
		return fmt.Errorf("start the Exchange simulator: %w", err)
	}
	e.ExchangeURL = strings.TrimSuffix(base, "/")

	e.Respa = respasim.New(respasim.Options{})
	addr = e.opts.RespaAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("respa simulator address %q: only loopback addresses", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("start the Respa simulator: %w", err)
	}
	e.respaHTTP = &http.Server{Handler: e.Respa, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.respaHTTP.Serve(ln) }()
	e.RespaURL = "http://" + ln.Addr().String()
	return nil
}

// StartManager starts a manager against the environment's API server and simulators. Start
// calls it; a test calls it again after StopManager to play a restarted operator that finds
// whatever state the stopped one left behind.
func (e *Env) StartManager() error {
	if e.cancel != nil {
		return errors.New("start manager: one is already running")
	}
	metrics := e.opts.MetricsAddr
	if metrics == "" {
		metrics = "0"
	}
	mctx, cancel := context.WithCancel(context.Background())
	mgr, err := manager.New(mctx, e.Config, manager.Options{
		MetricsAddr: metrics,
		ProbeAddr:   "0",
		Concurrency: 4,
		Syncer:      e.opts.Syncer,
		Logger:      e.opts.Logger,
		// A process that restarts its manager registers the same controllers twice.
		SkipControllerNameValidation: true,
		Notify:                       e.opts.Notify,
		DisableNotifications:         e.opts.DisableNotifications,
	})
	if err != nil {
		cancel()
		return err
	}
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- mgr.Start(mctx) }()
	// Return once the manager serves (metrics listen, caches synced, controllers started), so
	// that callers can scrape or watch it right away.
	select {
	case <-mgr.Elected():
		return nil
	case err := <-e.done:
		e.done <- err
		e.cancel = nil
		cancel()
		return fmt.Errorf("start manager: %w", err)
	case <-time.After(60 * time.Second):
		_ = e.StopManager()
		return errors.New("start manager: not running after 60s")
	}
}

// StopManager stops the manager as a crash would reach it: passes in flight lose their
// context mid-write. It waits until the manager has returned, at most 15 s.
func (e *Env) StopManager() error {
	if e.cancel == nil {
		return nil
	}
	e.cancel()
	e.cancel = nil
	select {
	case <-e.done:
		return nil
	case <-time.After(15 * time.Second):
		return errors.New("stop manager: still running after 15s")
	}
}

// Stop stops the manager, the simulators and the API server.
func (e *Env) Stop() {
	_ = e.StopManager()
	if e.respaHTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = e.respaHTTP.Shutdown(ctx)
		cancel()
	}
	if e.Respa != nil {
		e.Respa.Close()
	}
	if e.Exchange != nil {
		e.Exchange.Close()
	}
	if e.kube != nil {
		_ = e.kube.Stop()
	}
}

// Err returns the manager's error if it stopped on its own.
func (e *Env) Err() error {
	select {
	case err := <-e.done:
		if err == nil {
			err = errors.New("manager stopped")
		}
		e.done <- err
		return err
	default:
		return nil
	}
}
