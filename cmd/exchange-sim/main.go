// Command exchange-sim runs the Exchange simulator: an EWS endpoint at
// /EWS/Exchange.asmx, an OAuth2 client-credentials token endpoint at
// /oauth2/token, and a JSON admin API under /admin/, for tests and the demo.
//
// Usage:
//
//	exchange-sim [flags]
//
// Flags:
//
//	-listen addr          address to listen on, loopback only (default 127.0.0.1:8081)
//	-seed file            JSON seed file: mailboxes with events, accounts, apps (see exchangesim.Seed)
//	-demo                 load the built-in demo seed (two rooms, account svc-respa /
//	                      demo-password, app respa-operator / demo-secret) when no -seed is given
//	-strict               validate every request against the EWS schema with xmllint and
//	                      answer violations with ErrorSchemaValidation
//	-schema path          soap-envelope.xsd for -strict (default ../shared/ews-schema/soap-envelope.xsd)
//	-latency duration     latency added to every EWS request (e.g. 200ms)
//	-stream-unit duration length of one GetStreamingEvents ConnectionTimeout unit (default 1m)
//	-keepalive duration   interval of keep-alive envelopes on idle streams (default 30s)
//	-max-subscriptions n  subscriptions per mailbox before ErrorExceededSubscriptionCount (default 20)
//	-admin-token token    require "Authorization: Bearer <token>" on /admin/ (default: open);
//	                      also read from EXCHANGE_SIM_ADMIN_TOKEN
//	-v                    log one line per EWS request (never credentials)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/respa-exchange/respa-exchange-operator/internal/exchangesim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "exchange-sim:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on (loopback only)")
	seedFile := flag.String("seed", "", "JSON seed file")
	demo := flag.Bool("demo", false, "load the built-in demo seed when no -seed is given")
	strict := flag.Bool("strict", false, "validate requests against the EWS schema")
	schema := flag.String("schema", "../shared/ews-schema/soap-envelope.xsd", "soap-envelope.xsd for -strict")
	latency := flag.Duration("latency", 0, "latency added to every EWS request")
	unit := flag.Duration("stream-unit", time.Minute, "length of one ConnectionTimeout unit")
	keepAlive := flag.Duration("keepalive", 30*time.Second, "keep-alive interval on idle streams")
	maxSubs := flag.Int("max-subscriptions", 20, "subscriptions per mailbox")
	adminToken := flag.String("admin-token", os.Getenv("EXCHANGE_SIM_ADMIN_TOKEN"), "bearer token required on /admin/")
	verbose := flag.Bool("v", false, "log every EWS request")
	flag.Parse()

	opts := exchangesim.Options{Strict: *strict, SchemaPath: *schema, Latency: *latency, StreamTimeoutUnit: *unit,
		KeepAliveInterval: *keepAlive, MaxSubscriptionsPerMailbox: *maxSubs, AdminToken: *adminToken}
	if *verbose {
		opts.Logf = log.Printf
	}
	if *strict {
		if _, err := os.Stat(*schema); err != nil {
			return fmt.Errorf("strict mode needs the schema: %w", err)
		}
	}
	sim := exchangesim.New(opts)
	switch {
	case *seedFile != "":
		raw, err := os.ReadFile(*seedFile)
		if err != nil {
			return fmt.Errorf("read seed: %w", err)
		}
		var seed exchangesim.Seed
		if err := json.Unmarshal(raw, &seed); err != nil {
			return fmt.Errorf("parse seed %s: %w", *seedFile, err)
		}
		if err := sim.ApplySeed(seed); err != nil {
			return fmt.Errorf("apply seed %s: %w", *seedFile, err)
		}
	case *demo:
		if err := sim.ApplySeed(exchangesim.DemoSeed(time.Now())); err != nil {
			return fmt.Errorf("apply demo seed: %w", err)
		}
	}
	url, err := sim.Start(*listen)
	if err != nil {
		return err
	}
	log.Printf("exchange-sim: EWS at %s/EWS/Exchange.asmx, tokens at %s/oauth2/token, admin at %s/admin/", url, url, url)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	return sim.Close()
}
