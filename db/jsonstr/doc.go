// Package jsonstr quotes strings for the hand-written JSON encoders: the
// bulk lookup's answers, the service's NDJSON stream and the block
// scanner's hashdb lines write JSON by appending bytes because reflection
// costs more than the work. Each of those formats copies one JSON writer
// byte for byte (encoding/json, rapidjson), and the writers differ only in
// which escapes they choose, so one loop serves them all and a Quoting
// names the choices.
//
// It sits under db so that the store, the engines and the service can all
// import it without importing each other.
package jsonstr
