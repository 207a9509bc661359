package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/insights-export/insights-export/internal/testing/templatecheck"
)

// storeFunction is the template's resource the child stands for.
const storeFunction = "StoreReportFunction"

// loadDeployed sets deployedMemLimit from template.yaml at the module root
// (found from the working directory up), so that the child runs with
// what is deployed, whatever the template says today.
func loadDeployed() error {
	path, err := templatePath()
	if err != nil {
		return err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	limit, err := memLimitOf(src, storeFunction)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	deployedMemLimit = limit
	return nil
}

// memLimitOf is a function's GOMEMLIMIT in a template ("" when unset).
func memLimitOf(src []byte, function string) (string, error) {
	t, err := templatecheck.Parse(src)
	if err != nil {
		return "", err
	}
	r, ok := t.Resources[function]
	if !ok {
		return "", fmt.Errorf("no resource %s", function)
	}
	env, _ := r.Properties["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	v, ok := vars["GOMEMLIMIT"]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s's GOMEMLIMIT is not a plain string (%v)", function, v)
	}
	return s, nil
}

func templatePath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "template.yaml"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("template.yaml: no go.mod above the working directory")
		}
		dir = parent
	}
}
