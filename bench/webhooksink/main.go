// Command webhooksink is the webhook receiver of bench/webhook.sh: it
// listens on 127.0.0.1, answers every POST with 204 No Content after an
// optional delay, and counts the requests and the distinct webhook-id
// values it was sent.
//
//	go run ./bench/webhooksink -addr-file /tmp/sink.addr -delay 1s
//
// It writes the "127.0.0.1:port" it listens on to -addr-file once
// serving, and the counts to -count-file every second and when it stops
// (SIGINT or SIGTERM): "requests N ids M".
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "`address` to listen on; must be on loopback")
	addrFile := flag.String("addr-file", "", "write the listening address to this `file` once serving")
	countFile := flag.String("count-file", "", "write the counts to this `file` every second and at the end")
	delay := flag.Duration("delay", 0, "wait this long before answering each POST (a slow receiver)")
	flag.Parse()
	if !strings.HasPrefix(*addr, "127.") {
		fmt.Fprintf(os.Stderr, "webhooksink: -addr %s is not on loopback\n", *addr)
		os.Exit(2)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "webhooksink: %v\n", err)
		os.Exit(1)
	}

	var mu sync.Mutex
	requests := 0
	ids := map[string]struct{}{}
	counts := func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("requests %d ids %d\n", requests, len(ids))
	}
	save := func() {
		if *countFile != "" {
			os.WriteFile(*countFile+".tmp", []byte(counts()), 0o644)
			os.Rename(*countFile+".tmp", *countFile)
		}
	}

	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if *delay > 0 {
				select {
				case <-time.After(*delay):
				case <-r.Context().Done():
					return
				}
			}
			mu.Lock()
			requests++
			ids[r.Header.Get("webhook-id")] = struct{}{}
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}),
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(l.Addr().String()), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "webhooksink: %v\n", err)
			os.Exit(1)
		}
	}
	go srv.Serve(l)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			save()
		case <-stop:
			srv.Close()
			save()
			fmt.Print(counts())
			return
		}
	}
}
