// Command api is the Go service of orch's example monorepo: a small in-memory key-value
// store over HTTP, standard library only.
//
//	GET    /healthz       200 "ok" while the process serves
//	GET    /v1/kv/        the stored keys, a sorted JSON array
//	GET    /v1/kv/{key}   the value, or 404
//	PUT    /v1/kv/{key}   store the request body (at most 1 MiB): 201 new, 204 replaced
//	DELETE /v1/kv/{key}   204, or 404
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
)

func main() {
	addr := flag.String("addr", ":8080", "address to listen on")
	healthcheck := flag.Bool("healthcheck", false,
		"GET /healthz on -addr, exit 0 if it answers 200 (the image is FROM scratch: no curl)")
	flag.Parse()

	if *healthcheck {
		if err := probe(*addr); err != nil {
			fmt.Fprintln(os.Stderr, "unhealthy:", err)
			os.Exit(1)
		}
		return
	}

	srv := &http.Server{
		Addr:              *addr,
		Handler:           newServer(NewStore()),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
	}

	// PID 1 in a container: `docker stop` sends SIGTERM, then SIGKILL 10 s later.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Printf("shutdown: %v", err)
		}
	}()

	log.Printf("api listening on %s", *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-drained
	log.Print("api stopped")
}

// probe answers nil when GET /healthz on addr (":8080" means this host) returns 200.
func probe(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /healthz: %s", resp.Status)
	}
	return nil
}
