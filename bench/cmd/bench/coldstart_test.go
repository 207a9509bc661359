package main

import (
	"slices"
	"testing"

	"github.com/insights-export/insights-export/bench/coldstart"
)

// TestColdKinds: each round launches hello helloWeight times, every
// function's refused input, the success requests that exist, and the
// baseline targets' refused inputs, each under its own sample key.
func TestColdKinds(t *testing.T) {
	targets := []coldstart.Target{
		{Name: "hello", Success: "hi"},
		{Name: "startexport", Success: "ok", Refused: "bad"},
		{Name: "api", Refused: "bad"},
	}
	base := []coldstart.Target{{Name: "startexport@abc", Refused: "bad"}}
	var keys []string
	for _, k := range coldKinds(targets, base, 3) {
		keys = append(keys, k.key())
	}
	want := []string{"hello", "hello", "hello", "startexport", "startexport/refused", "api/refused", "startexport@abc/refused"}
	if !slices.Equal(keys, want) {
		t.Fatalf("kinds %v, want %v", keys, want)
	}
}
