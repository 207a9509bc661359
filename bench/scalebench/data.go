package scalebench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"time"

	"github.com/insights-export/insights-export/internal/batch"
	"github.com/insights-export/insights-export/internal/request"
)

// The run the benchmark measures, at any number of users: an incremental
// daily run (the heavy case: PrepareBatch reads every user's mark,
// WriteManifest advances the mark of every user whose report was stored)
// over a usersFrom CSV of an Entra ID-like export, in the report bucket.
const (
	listKey = "lists/users.csv"
	prefix  = "reports"
	state   = "state"
	filesOf = 10_000 // children per Map result file
)

// Of every 20 users: one has no mark yet (its first run: the lookback),
// one is up to date, the rest are a day behind. Of the exported ones, one
// in 50 fails and one in 1,000 is a child that did not succeed (timed out).
func userKind(i int) string {
	switch i % 20 {
	case 0:
		return "new"
	case 1:
		return "current"
	}
	return "behind"
}

func userName(i int) string { return fmt.Sprintf("user%06d@contoso.com", i) }

// seed writes the list and the marks of n users into bucket.
func seed(s *S3, bucket string, n int, at time.Time) error {
	if err := s.CreateBucket(bucket); err != nil {
		return err
	}
	var list bytes.Buffer
	list.WriteString("\ufeffid,displayName,userPrincipalName,department,accountEnabled\r\n")
	today := at.UTC().Truncate(24 * time.Hour)
	marks := &batch.Watermarks{Prefix: state}
	for i := range n {
		email := userName(i)
		fmt.Fprintf(&list, "%08x-0000-4000-8000-%012x,User %d,%s,Dept %d,TRUE\r\n", i, i, i, email, i%37)
		var finish time.Time
		switch userKind(i) {
		case "new":
			continue
		case "current":
			finish = today
		default:
			finish = today.Add(-24 * time.Hour)
		}
		q := request.Query{Email: email, StartTime: request.FormatTime(finish.Add(-24 * time.Hour)), FinishTime: request.FormatTime(finish)}
		m := batch.Mark{Email: email, FinishTime: q.FinishTime, ReportKey: request.ObjectKey(prefix, q), JobID: fmt.Sprintf("%08x-1111-4000-8000-000000000000", i),
			Execution: "arn:aws:states:us-east-1:123456789012:execution:insights-export-BatchExport:nightly-" + today.Format("20060102"), UpdatedAt: today.Format(time.RFC3339)}
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return err
		}
		if err := s.Put(bucket, marks.Key(email, nil), b); err != nil {
			return err
		}
	}
	return s.Put(bucket, listKey, list.Bytes())
}

// input is the execution input of the measured run.
func input(at time.Time) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"usersFrom": listKey, "window": map[string]any{
		"period": "day", "timeZone": "UTC", "incremental": true, "lookbackPeriods": 3, "at": at.UTC().Format(time.RFC3339)}})
	return b
}

// mapEntry is what the item processor returns for a user (UserSucceeded,
// UserFailed in statemachine/batch.asl.json).
type mapEntry struct {
	Email        string                `json:"email"`
	Status       string                `json:"status"`
	ExecutionArn string                `json:"executionArn,omitempty"`
	StartDate    int64                 `json:"startDate,omitempty"`
	StopDate     int64                 `json:"stopDate,omitempty"`
	Report       *request.ExportOutput `json:"report,omitempty"`
	FinishTime   string                `json:"finishTime,omitempty"`
	Error        string                `json:"error,omitempty"`
	Cause        string                `json:"cause,omitempty"`
}

// child is one entry of a Map result file (Transformation NONE).
type child struct {
	ExecutionArn    string `json:"ExecutionArn"`
	Input           string `json:"Input"`
	InputDetails    any    `json:"InputDetails"`
	Name            string `json:"Name"`
	Output          string `json:"Output,omitempty"`
	OutputDetails   any    `json:"OutputDetails,omitempty"`
	StartDate       string `json:"StartDate"`
	StateMachineArn string `json:"StateMachineArn"`
	Status          string `json:"Status"`
	StopDate        string `json:"StopDate"`
	Error           string `json:"Error,omitempty"`
	Cause           string `json:"Cause,omitempty"`
}

// mapResults writes what a Distributed Map with ResultWriter leaves for
// the work list items: result files of filesOf children and the Map Run's
// manifest; it returns the Map's result (WriteManifest's input "map") and
// the counts the manifest must have.
func mapResults(s *S3, bucket string, prep batch.Prepared, items []request.Item, upToDate int) (json.RawMessage, request.Counts, error) {
	run := "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	base := path.Join(prep.ResultsPrefix, run)
	mapRun := "arn:aws:states:us-east-1:123456789012:mapRun:insights-export-BatchExport/ExportUsers:" + run
	started := time.Date(2026, 11, 25, 0, 15, 0, 0, time.UTC)
	counts := request.Counts{Users: len(items) + upToDate, UpToDate: upToDate}
	files := map[string][]map[string]any{"SUCCEEDED": {}, "FAILED": {}, "PENDING": {}}
	var batches = map[string][]child{}
	flush := func(status string) error {
		if len(batches[status]) == 0 {
			return nil
		}
		key := fmt.Sprintf("%s/%s_%d.json", base, status, len(files[status]))
		b, err := json.Marshal(batches[status])
		if err != nil {
			return err
		}
		if err := s.Put(bucket, key, b); err != nil {
			return err
		}
		files[status] = append(files[status], map[string]any{"Key": key, "Size": len(b)})
		batches[status] = nil
		return nil
	}
	for i, it := range items {
		in, _ := json.Marshal(it)
		name := fmt.Sprintf("%08x-2222-4000-8000-000000000000", i)
		arn := "arn:aws:states:us-east-1:123456789012:execution:insights-export-BatchExport/ExportUsers:" + name
		c := child{ExecutionArn: arn, Input: string(in), InputDetails: map[string]bool{"Included": true}, Name: name,
			StartDate: started.Format("2006-01-02T15:04:05.000Z"), StopDate: started.Add(7 * time.Minute).Format("2006-01-02T15:04:05.000Z"),
			StateMachineArn: "arn:aws:states:us-east-1:123456789012:stateMachine:insights-export-BatchExport/ExportUsers", Status: "SUCCEEDED"}
		exportArn := "arn:aws:states:us-east-1:123456789012:execution:insights-export-Export:" + name
		var e mapEntry
		switch {
		case i%1000 == 999:
			c.Status, c.Error, c.Cause = "FAILED", "States.Timeout", "the child execution timed out"
			counts.Failed++
		case i%50 == 49:
			cause, _ := json.Marshal(map[string]any{"ExecutionArn": exportArn, "Status": "FAILED", "Error": "JobFailedError",
				"Cause":     `{"errorType":"JobFailedError","errorMessage":"avepoint job 4711 failed (status 3): mailbox unavailable"}`,
				"StartDate": started.UnixMilli(), "StopDate": started.Add(3 * time.Minute).UnixMilli()})
			e = mapEntry{Email: it.Email, Status: "failed", FinishTime: it.FinishTime, Error: "States.TaskFailed", Cause: string(cause)}
			counts.Failed++
		default:
			q := request.Query{Email: it.Email, StartTime: it.StartTime, FinishTime: it.FinishTime, EventTypes: it.EventTypes}
			key := request.ObjectKey(prefix, q)
			e = mapEntry{Email: it.Email, Status: "succeeded", ExecutionArn: exportArn, StartDate: started.UnixMilli(), StopDate: started.Add(6 * time.Minute).UnixMilli(),
				Report: &request.ExportOutput{Bucket: bucket, Key: key, JobID: fmt.Sprintf("%08x-3333-4000-8000-000000000000", i), Bytes: 16759, Email: it.Email,
					SHA256: "fa78b2c1d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f", StartTime: it.StartTime, FinishTime: it.FinishTime,
					ContentType: "application/zip", VersionID: "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", StoredAt: started.Add(6 * time.Minute).Format(time.RFC3339),
					Dataset: &request.Dataset{Bucket: bucket, Prefix: "dataset/activities", Rows: 120,
						Objects: []string{"dataset/activities/dt=" + it.StartTime[:10] + "/report=" + name + ".parquet"}}}}
			counts.Succeeded++
		}
		if c.Status == "SUCCEEDED" {
			out, _ := json.Marshal(e)
			c.Output, c.OutputDetails = string(out), map[string]bool{"Included": true}
		}
		batches[c.Status] = append(batches[c.Status], c)
		if len(batches[c.Status]) == filesOf {
			if err := flush(c.Status); err != nil {
				return nil, counts, err
			}
		}
	}
	for _, st := range []string{"SUCCEEDED", "FAILED"} {
		if err := flush(st); err != nil {
			return nil, counts, err
		}
	}
	man, _ := json.Marshal(map[string]any{"DestinationBucket": bucket, "MapRunArn": mapRun, "ResultFiles": files})
	if err := s.Put(bucket, base+"/manifest.json", man); err != nil {
		return nil, counts, err
	}
	out, _ := json.Marshal(map[string]any{"MapRunArn": mapRun, "ResultWriterDetails": map[string]string{"Bucket": bucket, "Key": base + "/manifest.json"}})
	return out, counts, nil
}
