// Command respa-sim runs the Respa simulator (internal/respasim) as a
// standalone server for the demo and for manual testing.
//
// Flags:
//
//	-listen addr        address to listen on (default 127.0.0.1:8082); only
//	                    loopback addresses are accepted
//	-seed n             seed for generated sample data (default 1)
//	-latency d          delay added to every API request, e.g. 50ms (default 0)
//	-units n            sample units to create (default 2)
//	-resources n        sample resources (rooms) to create (default 4)
//	-reservations n     sample reservations per resource (default 3)
//	-omit-timestamps    leave created_at/modified_at out of reservations, as real Respa does
//
// Tokens come from the environment so they stay out of process listings:
// RESPA_SIM_STAFF_TOKEN (default "staff-token") authenticates the staff
// user "operator" as "Authorization: Token <key>" and as "Bearer <key>";
// RESPA_SIM_USER_TOKEN (default "user-token") a plain user "citizen".
// The admin interface is served under /admin/ (see package respasim).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/respa-exchange/respa-exchange-operator/internal/respasim"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8082", "address to listen on (loopback only)")
	seed := flag.Uint64("seed", 1, "seed for generated sample data")
	latency := flag.Duration("latency", 0, "delay added to every API request")
	units := flag.Int("units", 2, "sample units")
	resources := flag.Int("resources", 4, "sample resources")
	perResource := flag.Int("reservations", 3, "sample reservations per resource")
	omit := flag.Bool("omit-timestamps", false, "leave created_at/modified_at out of reservations")
	flag.Parse()

	if err := requireLoopback(*listen); err != nil {
		return err
	}
	sim := respasim.New(respasim.Options{Latency: *latency, OmitTimestamps: *omit})
	defer sim.Close()
	ids, err := sim.Seed(respasim.SeedOptions{Units: *units, Resources: *resources, ReservationsPerResource: *perResource, Seed: *seed})
	if err != nil {
		return fmt.Errorf("seed sample data: %w", err)
	}
	sim.AddUser(respasim.User{Username: "operator", Staff: true, DisplayName: "Respa-Exchange operator", Email: "operator@example.invalid"})
	sim.AddUser(respasim.User{Username: "citizen", DisplayName: "Citizen", Email: "citizen@example.invalid"})
	staffKey := envOr("RESPA_SIM_STAFF_TOKEN", "staff-token")
	userKey := envOr("RESPA_SIM_USER_TOKEN", "user-token")
	for _, t := range []respasim.Token{
		{Kind: "Token", Key: staffKey, Username: "operator"},
		{Kind: "Bearer", Key: staffKey, Username: "operator"},
		{Kind: "Token", Key: userKey, Username: "citizen"},
		{Kind: "Bearer", Key: userKey, Username: "citizen"},
	} {
		if err := sim.AddToken(t); err != nil {
			return fmt.Errorf("add token: %w", err)
		}
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("respa-sim: API at http://%s/v1/, admin at http://%s/admin/, resources %v", ln.Addr(), ln.Addr(), ids)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	sim.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// requireLoopback refuses to listen anywhere but this machine: the
// simulator has demo tokens and no TLS.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("listen address %q: only loopback addresses are allowed", addr)
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
