// Command releasejobslot is the target of the EventBridge rule on the
// export state machine's executions that end stopped, timed out or
// failed: it gives back the AvePoint job slot such an execution held, and
// wakes the oldest export waiting for one (internal/slots/wake).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/slots"
	"github.com/insights-export/insights-export/internal/slots/wake"
)

func main() {
	h, err := slots.LoadReleaser(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	w, err := wake.LoadWaker(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	h.Wake = func(ctx context.Context, releasedBy string) (string, error) {
		out, err := w.Wake(ctx, wake.Input{ReleasedBy: releasedBy})
		return out.Woken, err
	}
	lambda.Start(failure.Handler(h.Handle))
}
