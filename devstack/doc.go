// Package devstack is the local-stack harness: it runs the project's real
// Amazon States Language file under the npm interpreter
// aws-local-stepfunctions (see interpreter/run.mjs) with every Task state
// forwarded to a real Go bootstrap binary running under the AWS Lambda
// Runtime Interface Emulator (aws-lambda-rie).
//
// No Docker engine runs on the project's machines, so sam local and Step
// Functions Local are unavailable; this harness is the closest local
// equivalent that still executes the deployed artefacts (the ASL text and
// the bootstrap built with the deployment flags).
//
// Tools are installed by devstack/install-tools.sh; this package only
// locates them and fails with a message naming that script when they are
// missing.
package devstack
