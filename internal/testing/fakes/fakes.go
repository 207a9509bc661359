// Package fakes holds the fakes several packages' tests share: structs of
// function fields, so each test says exactly what the dependency does.
package fakes

import (
	"context"
	"reflect"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
)

// AvePoint is the AvePoint client's three calls. Calls counts them.
type AvePoint struct {
	Start  func(avepoint.ExportRequest) (string, error)
	Status func(string) (avepoint.JobStatus, error)
	File   func(string) (*avepoint.Report, error)
	Calls  int
}

// StartExport calls Start.
func (f *AvePoint) StartExport(_ context.Context, r avepoint.ExportRequest) (string, error) {
	f.Calls++
	return f.Start(r)
}

// JobStatus calls Status.
func (f *AvePoint) JobStatus(_ context.Context, id string) (avepoint.JobStatus, error) {
	f.Calls++
	return f.Status(id)
}

// ExportFile calls File.
func (f *AvePoint) ExportFile(_ context.Context, id string) (*avepoint.Report, error) {
	f.Calls++
	return f.File(id)
}

// ErrorName is what Step Functions sees of a handler's error: the type
// name of the error failure.ForLambda picks.
func ErrorName(err error) string {
	t := reflect.TypeOf(failure.ForLambda(err))
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}
