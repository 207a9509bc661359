// Command storereport is the Lambda function behind the StoreReport state:
// it streams the finished job's report into S3.
package main

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/app"
	"github.com/insights-export/insights-export/internal/export"
	"github.com/insights-export/insights-export/internal/storage"
)

func main() {
	a, err := app.Load(context.Background(), os.Getenv)
	if err == nil {
		err = a.Config.RequireBucket()
	}
	if err != nil {
		app.Exit(err)
	}
	store, err := storage.New(storage.NewS3Client(a.AWS, a.Config.ForcePathStyle), storage.Config{Bucket: a.Config.Bucket, KMSKeyID: a.Config.KMSKeyID})
	if err != nil {
		app.Exit(err)
	}
	h := &export.Storer{API: a.AvePoint, Store: store, Prefix: a.Config.Prefix, Log: a.Log, Now: time.Now}
	lambda.Start(h.Handle)
}
