package devstack

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	types3 "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/slots"
	"github.com/insights-export/insights-export/internal/testing/avesim"
	"github.com/insights-export/insights-export/internal/testing/moto"
)

// BackingOptions configure StartBacking. Exactly one of Simulator and Real
// is set.
type BackingOptions struct {
	Simulator *avesim.Options
	Real      *RealTenant
	// Certificate, with the simulator, stores certificate credentials in
	// the secret instead of the client secret (see StackOptions).
	Certificate string
	Bucket      string // default DefaultBucket
	Prefix      string // default DefaultPrefix
	SecretID    string // default DefaultSecretID
	SlotsTable  string // default DefaultSlotsTable
	// ObjectLock, when set, creates the bucket with S3 Object Lock and
	// this default retention, as template.yaml's ReportBucket is with
	// ObjectLockEnabled=true and an ObjectLockMode (versioning comes with
	// the lock). Unset, the bucket is a plain one, as before.
	ObjectLock *ObjectLock
}

// ObjectLock is a bucket's default retention: every new object version
// is locked in Mode for Days.
type ObjectLock struct {
	Mode types3.ObjectLockRetentionMode // GOVERNANCE or COMPLIANCE
	Days int32
}

// Backing is everything the functions call but themselves: AvePoint
// (simulated or real), moto_server with the report bucket and the
// credentials secret, and the function environment pointing at them. The
// local stack, the cold-start benchmark and the tests share it, so each
// sees the functions configured exactly as make run configures them.
type Backing struct {
	Sim      *avesim.Running // nil against a real tenant
	Moto     *moto.Server
	S3       *s3.Client
	DynamoDB *dynamodb.Client
	Bucket   string
	Prefix   string
	// SlotsTable is the job slot ledger's table (template.yaml's
	// JobSlotsTable) with the ledger item in it, as a deployment has it
	// after its first export (which creates the item: see
	// slots.Ledger.Create; TestEndedExecutionsGiveTheirSlotBack starts
	// one without it).
	SlotsTable string
	// WaitersQueueURL is the job slot waiters' FIFO queue on moto
	// (template.yaml's JobSlotWaitersQueue).
	WaitersQueueURL string
	// Env is the functions' environment (what template.yaml sets, pointed
	// at the emulators).
	Env map[string]string
}

// WaitersQueue is the name of the job slot waiters' queue on moto.
const WaitersQueue = "insights-export-job-slot-waiters.fifo"

// StartBacking starts the simulator (or takes the real tenant) and
// moto_server, and creates the bucket and the secret. On error whatever it
// started is stopped.
func StartBacking(ctx context.Context, opts BackingOptions) (b *Backing, err error) {
	if (opts.Simulator == nil) == (opts.Real == nil) {
		return nil, fmt.Errorf("devstack: set exactly one of Simulator and Real")
	}
	b = &Backing{Bucket: orDefault(opts.Bucket, DefaultBucket), Prefix: orDefault(opts.Prefix, DefaultPrefix), SlotsTable: orDefault(opts.SlotsTable, DefaultSlotsTable)}
	defer func() {
		if err != nil {
			b.Close()
			b = nil
		}
	}()
	creds, apiURL, tokenURL, region := avepoint.Credentials{}, "", "", ""
	if opts.Simulator != nil {
		if b.Sim, err = avesim.Start(context.WithoutCancel(ctx), *opts.Simulator); err != nil {
			return b, err
		}
		apiURL, tokenURL = b.Sim.URL, b.Sim.TokenURL
		creds = avepoint.Credentials{ClientID: opts.Simulator.ClientID, ClientSecret: opts.Simulator.ClientSecret}
		if opts.Certificate != "" {
			creds = avepoint.Credentials{ClientID: opts.Simulator.ClientID, Certificate: opts.Certificate}
		}
	} else {
		creds, apiURL, tokenURL, region = opts.Real.Credentials, opts.Real.APIURL, opts.Real.TokenURL, opts.Real.Region
	}

	if b.Moto, err = moto.StartContext(ctx); err != nil {
		return b, err
	}
	awsCfg := b.Moto.Config()
	b.S3 = s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	create := &s3.CreateBucketInput{Bucket: aws.String(b.Bucket)}
	if opts.ObjectLock != nil {
		create.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err = b.S3.CreateBucket(ctx, create); err != nil {
		return b, fmt.Errorf("devstack: create bucket: %w", err)
	}
	if l := opts.ObjectLock; l != nil {
		if _, err = b.S3.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{
			Bucket: aws.String(b.Bucket),
			ObjectLockConfiguration: &types3.ObjectLockConfiguration{
				ObjectLockEnabled: types3.ObjectLockEnabledEnabled,
				Rule:              &types3.ObjectLockRule{DefaultRetention: &types3.DefaultRetention{Mode: l.Mode, Days: aws.Int32(l.Days)}},
			},
		}); err != nil {
			return b, fmt.Errorf("devstack: bucket default retention: %w", err)
		}
	}
	b.DynamoDB = dynamodb.NewFromConfig(awsCfg)
	if _, err = b.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(b.SlotsTable),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(slots.KeyAttribute), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(slots.KeyAttribute), KeyType: types.KeyTypeHash}},
	}); err != nil {
		return b, fmt.Errorf("devstack: create job slot table: %w", err)
	}
	if err = (&slots.Ledger{DB: b.DynamoDB, Table: b.SlotsTable}).Create(ctx); err != nil {
		return b, fmt.Errorf("devstack: create job slot ledger: %w", err)
	}
	// As template.yaml's JobSlotWaitersQueue: FIFO, deduplication by id.
	var q struct{ QueueUrl string }
	if err = awsJSON(ctx, b.Moto.URL, "sqs", "AmazonSQS.CreateQueue", "1.0", map[string]any{"QueueName": WaitersQueue,
		"Attributes": map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "false", "VisibilityTimeout": "30", "MessageRetentionPeriod": "3600"}}, &q); err != nil {
		return b, fmt.Errorf("devstack: create job slot waiters' queue: %w", err)
	}
	b.WaitersQueueURL = q.QueueUrl
	secretID := orDefault(opts.SecretID, DefaultSecretID)
	secret, _ := json.Marshal(creds)
	if _, err = secretsmanager.NewFromConfig(awsCfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(secretID), SecretString: aws.String(string(secret)),
	}); err != nil {
		return b, fmt.Errorf("devstack: create secret: %w", err)
	}
	b.Env = map[string]string{
		"AVEPOINT_SECRET_ID":         secretID,
		"AVEPOINT_REGION":            region,
		"AVEPOINT_API_URL":           apiURL,
		"AVEPOINT_TOKEN_URL":         tokenURL,
		"REPORT_BUCKET":              b.Bucket,
		"REPORT_PREFIX":              b.Prefix,
		"JOB_SLOTS_TABLE":            b.SlotsTable,
		"JOB_SLOT_WAITERS_QUEUE_URL": b.WaitersQueueURL,
		"AWS_ENDPOINT_URL":           b.Moto.URL,
		"AWS_REGION":                 awsRegion,
		"AWS_ACCESS_KEY_ID":          "test",
		"AWS_SECRET_ACCESS_KEY":      "test",
		"AWS_SESSION_TOKEN":          "test-session",
		"AWS_EC2_METADATA_DISABLED":  "true",
		"S3_FORCE_PATH_STYLE":        "true",
	}
	return b, nil
}

// Close stops the simulator and moto_server.
func (b *Backing) Close() {
	if b.Moto != nil {
		_ = b.Moto.Close()
	}
	if b.Sim != nil {
		b.Sim.Close()
	}
}
