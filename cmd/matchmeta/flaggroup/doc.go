// Package flaggroup holds the flag groups several matchmeta commands
// share: each registers its flags on a command's own pflag.FlagSet and
// yields the fields of the service request they fill (the set a command
// makes, a password, the AWS settings, bundle trust, a netwatch sweep).
// Environment defaults reach them as values or getters from package main,
// which names every MATCHMETA_* variable it reads.
package flaggroup
