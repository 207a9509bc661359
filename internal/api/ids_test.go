package api

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The patterns validID and validKey replaced (they were compiled at every
// cold start): the loops must accept exactly what they accepted.
var (
	idSpec  = regexp.MustCompile(`^[ub]-[0-9a-f]{32}$`)
	keySpec = regexp.MustCompile(`^[\x21-\x7e]+$`)
)

func TestValidIDAndKeyMatchTheirPatterns(t *testing.T) {
	hex := strings.Repeat("0123456789abcdef", 2)
	cases := []string{
		"", "u", "u-", "u-" + hex, "b-" + hex, "x-" + hex, "u_" + hex, "u-" + hex + "0", "u-" + hex[:31],
		"u-" + strings.ToUpper(hex), "u-" + hex[:31] + "g", "u-" + hex + "\n", "\nu-" + hex, "b-" + hex[:31] + "é",
		"key", "a b", "a\tb", "~!", "\x7f", "é", "\xff", "k\n", strings.Repeat("k", 300), "Idempotency-Key-1",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := "ub-0123456789abcdefABCDEF \t\n\x7f~!\xffé"
	for range 5000 {
		n := rng.IntN(40)
		var b strings.Builder
		if rng.IntN(2) == 0 {
			b.WriteString([]string{"u-", "b-"}[rng.IntN(2)])
		}
		for range n {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	for i := range 200 {
		cases = append(cases, "u-"+hex[:i%32]+hex[i%32:])
	}
	for _, c := range cases {
		if got, want := validID(c), idSpec.MatchString(c); got != want {
			t.Errorf("validID(%q) = %v, the pattern says %v", c, got, want)
		}
		if got, want := validKey(c), keySpec.MatchString(c); got != want {
			t.Errorf("validKey(%q) = %v, the pattern says %v", c, got, want)
		}
	}
}
