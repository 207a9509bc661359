// Package coldstart measures the functions' cold starts under the Lambda
// RIE, against a hello-world aws-lambda-go bootstrap in the same run, and
// checks that no function opens a connection while it initialises.
//
// What a sample measures: from just before aws-lambda-rie is launched with
// the bootstrap to the end of the first invocation's response. That covers
// the RIE's own start (the same for every binary), the bootstrap's process
// start and Go runtime init, main() (config, logger, AWS config, clients)
// and the handler. The RIE starts the runtime on the first invoke, as
// Lambda does, so "init" and "first invoke" are both inside the figure.
package coldstart
