package devstack

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/testing/templatecheck"
)

// TemplateTimeouts reads each function's Timeout from template.yaml
// (the Globals default where a function sets none), by folder under
// functions/ (logical id StartExportFunction → startexport), so the local stack's functions are killed when deployed ones
// would be.
func TemplateTimeouts(root string) (map[string]time.Duration, error) {
	src, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	tpl, err := templatecheck.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("devstack: template.yaml: %w", err)
	}
	global := 3 * time.Second // SAM's default
	if fn, ok := tpl.Globals["Function"].(map[string]any); ok {
		if v, ok := fn["Timeout"].(string); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("devstack: Globals Timeout %q: %w", v, err)
			}
			global = time.Duration(n) * time.Second
		}
	}
	out := map[string]time.Duration{}
	for name, r := range tpl.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		// The Makefile's build-<LogicalId> targets build functions/<dir>
		// for <Dir>Function.
		dir := strings.ToLower(strings.TrimSuffix(name, "Function"))
		d := global
		if v, ok := r.Properties["Timeout"].(string); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("devstack: %s Timeout %q: %w", name, v, err)
			}
			d = time.Duration(n) * time.Second
		}
		out[dir] = d
	}
	return out, nil
}
