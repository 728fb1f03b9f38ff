// Package pipe is the ordered worker pipeline of the bulk lookups: one
// producer cuts the input into batches, a few workers answer them, and the
// caller's goroutine takes them back in input order. The service's stream
// lookup (batches looked up in the store) and web.Client (batches sent to
// a remote appliance) both run on it.
package pipe
