// Package config is what every function reads once per container, before
// its first invocation: the environment (Env), the AWS SDK configuration
// (AWSConfig), the logger and the cold-start exit.
//
// It imports no product package but the error vocabulary, so every
// function can use it without linking another's code. Each function's own
// settings are declared where they are used (export, batch, api) and read
// through Env, which names the variable at fault.
package config
