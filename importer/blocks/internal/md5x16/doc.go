// Package md5x16 hashes 16 equal-length messages at once with AVX-512:
// one MD5 per 32-bit lane of the ZMM registers. Block hashing (every
// 512-byte block of an image or a corpus is its own MD5) is many short
// independent messages, the case where one core can run 16 MD5 chains
// side by side instead of one; crypto/md5 hashes one message at a time.
// Without AVX-512 (or with the purego tag) Sum16 falls back to crypto/md5.
package md5x16
