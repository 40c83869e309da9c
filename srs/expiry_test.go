package srs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// midnight returns the start of the UTC day n days after 1970-01-01.
func midnight(n int) time.Time { return time.Unix(int64(n)*86400, 0).UTC() }

// An SRS0 address made on day D is good through day D+21 (DefaultMaxAge)
// and one day ahead (another host's clock), and expired outside, whatever
// the time of day it was made or checked; the 1024-day wrap of the
// timestamp changes nothing.
func TestExpiry(t *testing.T) {
	last := time.Second - time.Nanosecond // the last instant of a second
	for _, d := range []int{dayNumber(testNow), 20479 /* stamp "77" */, 20480 /* stamp "AA" */, 20490, 20470} {
		for _, made := range []time.Duration{0, 12 * time.Hour, 24*time.Hour - last} {
			now := midnight(d).Add(made)
			r := newRewriter(&now)
			addr, err := r.Forward("alice@example.com")
			if err != nil {
				t.Fatal(err)
			}
			for _, tt := range []struct {
				at   time.Time
				want error
			}{
				{midnight(d), nil},
				{midnight(d + 21).Add(24*time.Hour - last), nil},
				{midnight(d + 22), ErrExpired},
				{midnight(d + 500), ErrExpired},
				{midnight(d + 1023), nil}, // 1023 days later reads as a day ahead
				{midnight(d - 1), nil},
				{midnight(d - 1).Add(-last), ErrExpired},
				{midnight(d - 30), ErrExpired},
				{midnight(d + 1024), nil}, // the wrap: an address of 1024 days ago looks new
			} {
				now = tt.at
				got, err := r.Reverse(addr)
				if !errors.Is(err, tt.want) || (err == nil) != (got == "alice@example.com") {
					t.Errorf("%s made %s, Reverse at %s = %q, %v; want %v", addr, midnight(d).Add(made), tt.at, got, err, tt.want)
				}
			}
		}
	}
}

// The error says how old, or how far ahead, the address is.
func TestExpiryMessage(t *testing.T) {
	now := midnight(20513)
	r := newRewriter(&now)
	addr, _ := r.Forward("alice@example.com")
	for _, tt := range []struct {
		days int
		want string
	}{{22, "made 22 days ago, more than 21"}, {-2, "dated 2 days ahead"}} {
		now = midnight(20513 + tt.days)
		if _, err := r.Reverse(addr); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), addr) {
			t.Errorf("%d days: %v; want it to say %q and name the address", tt.days, err, tt.want)
		}
	}
}

// MaxAge is rounded up to whole days: an address made at t is accepted
// at least until t+MaxAge, at any time of day, and refused a day after
// the rounded age. Negative means no age limit.
func TestMaxAge(t *testing.T) {
	for _, tt := range []struct {
		maxAge time.Duration
		days   int // the last day after the day made that is accepted; -1 for all
	}{
		{time.Nanosecond, 1},
		{time.Hour, 1},
		{24 * time.Hour, 1},
		{36 * time.Hour, 2},
		{7 * 24 * time.Hour, 7},
		{0, 21},
		{21*24*time.Hour + time.Second, 22},
		{-1, -1},
	} {
		t.Run(fmt.Sprint(tt.maxAge), func(t *testing.T) {
			for _, made := range []time.Duration{0, 6 * time.Hour, 24*time.Hour - time.Nanosecond} {
				made := midnight(20513).Add(made)
				now := made
				r := newRewriter(&now)
				r.MaxAge = tt.maxAge
				addr, _ := r.Forward("alice@example.com")
				maxAge := tt.maxAge
				if maxAge == 0 {
					maxAge = DefaultMaxAge
				}
				if maxAge > 0 {
					now = made.Add(maxAge)
					if _, err := r.Reverse(addr); err != nil {
						t.Errorf("made %s, refused at made+MaxAge %s: %v", made, now, err)
					}
				}
				for n := 0; n <= 1023; n++ {
					now = midnight(20513 + n).Add(12 * time.Hour)
					_, err := r.Reverse(addr)
					if ok := tt.days < 0 || n <= tt.days || n == 1023; ok != (err == nil) {
						t.Fatalf("made %s, Reverse %d days later: %v; want accepted %v", made, n, err, ok)
					}
				}
			}
		})
	}
}

// SRS1 addresses carry no timestamp: the first forwarder's SRS0 inside
// is checked by the first forwarder.
func TestSRS1DoesNotExpire(t *testing.T) {
	now := testNow
	r := newRewriter(&now)
	addr, _ := r.Forward("SRS0=HHHH=TT=orig.example=carol@fwd1.example")
	for _, d := range []int{0, 22, 500, 1000} {
		now = testNow.AddDate(0, 0, d)
		if got, err := r.Reverse(addr); err != nil || got != "SRS0=HHHH=TT=orig.example=carol@fwd1.example" {
			t.Errorf("%d days later: Reverse(%q) = %q, %v", d, addr, got, err)
		}
	}
}
