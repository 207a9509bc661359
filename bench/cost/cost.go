// Package cost prices an export and a batch run at AWS's list prices:
// Step Functions state transitions, Lambda requests and GB-seconds at the
// template's memory sizes, S3 and DynamoDB requests, EventBridge events,
// CloudWatch Logs ingestion and X-Ray traces.
//
// What is counted comes from three places, none of them typed in by hand:
// the states an execution passes through, from walking the ASL files
// (bench/polling's walk: a state added to statemachine/*.asl.json is
// priced); the functions' durations, log output and S3 requests, measured
// by running the real bootstraps on the local stack (MeasureExports); and
// each function's MemorySize, read from template.yaml. Free tiers are
// ignored: the figures are what the workload adds to a bill.
package cost

import (
	"fmt"
	"math"
	"time"
)

// Prices are AWS list prices in one region, as read on a date.
type Prices struct {
	Region string
	// Read is when the prices were read (Sources).
	Read string
	// Transition: Standard workflows, per state transition.
	Transition float64
	// LambdaGBSecond: arm64 duration, first tier; LambdaRequest per request.
	LambdaGBSecond, LambdaRequest float64
	// S3Tier1: S3 Standard PUT, COPY, POST, LIST; S3Tier2: GET, SELECT and
	// every other request (DELETE is free). Per request.
	S3Tier1, S3Tier2 float64
	// DynamoWRU, DynamoRRU: on-demand write and read request units.
	DynamoWRU, DynamoRRU float64
	// Event: an EventBridge custom event (per 64 KB chunk of its entry).
	Event float64
	// LogsGB: CloudWatch Logs ingestion per GB (Standard class; the first
	// tier of Lambda's tiered log pricing).
	LogsGB float64
	// Trace: X-Ray, per trace recorded.
	Trace float64
}

// Source names where a price was read.
type Source struct{ What, URL, Says string }

// USEast1 are the list prices of US East (N. Virginia), read on 2026-12-01
// from stored copies of the pricing pages below (Sources).
var USEast1 = Prices{
	Region:         "us-east-1",
	Read:           "2026-12-01",
	Transition:     0.025 / 1000,
	LambdaGBSecond: 0.0000133334,
	LambdaRequest:  0.20 / 1e6,
	S3Tier1:        0.005 / 1000,
	S3Tier2:        0.0004 / 1000,
	DynamoWRU:      0.625 / 1e6,
	DynamoRRU:      0.125 / 1e6,
	Event:          1.00 / 1e6,
	LogsGB:         0.50,
	Trace:          5.00 / 1e6,
}

// Sources of USEast1.
var Sources = []Source{
	{"Step Functions", "https://aws.amazon.com/step-functions/pricing/", "Standard workflows $0.025 per 1,000 state transitions (US East (N. Virginia)); each retry is charged as an additional state transition"},
	{"Step Functions, Distributed Map", "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html", "one state transition for each child workflow execution a Distributed Map state starts (the children's own states are billed as usual)"},
	{"Lambda", "https://aws.amazon.com/lambda/pricing/", "Arm: $0.0000133334 per GB-second for the first 7.5 billion GB-seconds a month; $0.20 per 1M requests; duration rounded up to 1 ms"},
	{"S3", "https://aws.amazon.com/s3/pricing/", "S3 Standard: PUT, COPY, POST, LIST $0.005 per 1,000 requests; GET, SELECT and all other requests $0.0004 per 1,000; DELETE and CANCEL free"},
	{"DynamoDB", "https://aws.amazon.com/dynamodb/pricing/on-demand/", "on-demand: $0.625 per million write request units (1 KB each), $0.125 per million read request units (4 KB each)"},
	{"EventBridge", "https://aws.amazon.com/eventbridge/pricing/", "custom events $1.00 per million, each 64 KB chunk of a payload one event; AWS service events (Step Functions status changes) free"},
	{"CloudWatch Logs", "https://aws.amazon.com/cloudwatch/pricing/", "Standard log ingestion $0.50 per GB (Lambda logs: the first tier of their tiered price)"},
	{"X-Ray", "https://aws.amazon.com/xray/pricing/", "$5.00 per million traces recorded (after 100,000 free a month)"},
}

// Invocation is a Lambda function's share of a unit of work.
type Invocation struct {
	// Function is its folder under functions/.
	Function string
	MemoryMB int
	// Count is the invocations (fractional for a share of a run).
	Count float64
	// Duration is each invocation's billed duration before rounding.
	Duration time.Duration
}

// GBSeconds is what the invocations bill: memory in GB (MB/1024) times
// the duration rounded up to the millisecond, per invocation.
func (i Invocation) GBSeconds() float64 {
	ms := math.Ceil(float64(i.Duration) / float64(time.Millisecond))
	return i.Count * float64(i.MemoryMB) / 1024 * ms / 1000
}

// Usage is what a unit of work (an export, a run) uses.
type Usage struct {
	Transitions float64
	Lambda      []Invocation
	// S3 requests by price tier.
	S3Tier1, S3Tier2 float64
	// DynamoDB request units.
	WRU, RRU float64
	// Events are EventBridge custom events (64 KB chunks).
	Events float64
	// LogBytes are bytes ingested into CloudWatch Logs.
	LogBytes float64
	Traces   float64
}

// Plus adds v to u.
func (u Usage) Plus(v Usage) Usage {
	u.Transitions += v.Transitions
	u.Lambda = append(append([]Invocation(nil), u.Lambda...), v.Lambda...)
	u.S3Tier1 += v.S3Tier1
	u.S3Tier2 += v.S3Tier2
	u.WRU += v.WRU
	u.RRU += v.RRU
	u.Events += v.Events
	u.LogBytes += v.LogBytes
	u.Traces += v.Traces
	return u
}

// Times is n units of u.
func (u Usage) Times(n float64) Usage {
	out := Usage{Transitions: u.Transitions * n, S3Tier1: u.S3Tier1 * n, S3Tier2: u.S3Tier2 * n,
		WRU: u.WRU * n, RRU: u.RRU * n, Events: u.Events * n, LogBytes: u.LogBytes * n, Traces: u.Traces * n}
	for _, inv := range u.Lambda {
		inv.Count *= n
		out.Lambda = append(out.Lambda, inv)
	}
	return out
}

// Invocations is the Lambda requests of u.
func (u Usage) Invocations() float64 {
	n := 0.0
	for _, i := range u.Lambda {
		n += i.Count
	}
	return n
}

// GBSeconds is the Lambda compute of u.
func (u Usage) GBSeconds() float64 {
	s := 0.0
	for _, i := range u.Lambda {
		s += i.GBSeconds()
	}
	return s
}

// Bill is a usage priced, a line per service, in dollars.
type Bill struct {
	StepFunctions, LambdaCompute, LambdaRequests, S3, DynamoDB, EventBridge, Logs, XRay float64
}

// Total is the sum of the lines.
func (b Bill) Total() float64 {
	return b.StepFunctions + b.LambdaCompute + b.LambdaRequests + b.S3 + b.DynamoDB + b.EventBridge + b.Logs + b.XRay
}

// Lambda is compute and requests together.
func (b Bill) Lambda() float64 { return b.LambdaCompute + b.LambdaRequests }

// Lines are the bill's lines in a fixed order, for tables.
func (b Bill) Lines() []struct {
	Name string
	USD  float64
} {
	return []struct {
		Name string
		USD  float64
	}{
		{"Step Functions", b.StepFunctions}, {"Lambda GB-s", b.LambdaCompute}, {"Lambda requests", b.LambdaRequests},
		{"S3", b.S3}, {"DynamoDB", b.DynamoDB}, {"EventBridge", b.EventBridge}, {"CloudWatch Logs", b.Logs}, {"X-Ray", b.XRay},
	}
}

// Price bills a usage.
func Price(u Usage, p Prices) (Bill, error) {
	for _, inv := range u.Lambda {
		if inv.MemoryMB < 128 || inv.Count < 0 || inv.Duration < 0 {
			return Bill{}, fmt.Errorf("cost: invocation %+v: memory, count or duration out of range", inv)
		}
	}
	return Bill{
		StepFunctions:  u.Transitions * p.Transition,
		LambdaCompute:  u.GBSeconds() * p.LambdaGBSecond,
		LambdaRequests: u.Invocations() * p.LambdaRequest,
		S3:             u.S3Tier1*p.S3Tier1 + u.S3Tier2*p.S3Tier2,
		DynamoDB:       u.WRU*p.DynamoWRU + u.RRU*p.DynamoRRU,
		EventBridge:    u.Events * p.Event,
		Logs:           u.LogBytes / (1 << 30) * p.LogsGB,
		XRay:           u.Traces * p.Trace,
	}, nil
}
