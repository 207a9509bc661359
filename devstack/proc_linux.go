package devstack

import (
	"os"
	"strconv"
	"strings"
)

// sessionMembers lists the pids whose session id is sid, from /proc. The
// RIE runs in a session of its own and starts its runtime in a separate
// process group, so the session is the one handle that covers both.
func sessionMembers(sid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the parenthesised command (which may contain
		// spaces): state ppid pgrp session ...
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 4 {
			continue
		}
		if got, err := strconv.Atoi(f[3]); err == nil && got == sid {
			pids = append(pids, pid)
		}
	}
	return pids
}
