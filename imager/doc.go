// Package imager will own snapshot imaging: reading an Amazon EBS snapshot
// through the EBS direct APIs (aws-sdk-go-v2) into a sparse raw image with
// per-block SHA-256 checks, whole-image hashes and an acquisition record.
//
// Not built yet: no issue has asked for it. The store already reserves the
// history bucket for acquisition records; see db/doc.go.
package imager
