package netwatch

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Sink takes the encoded records of one sweep.
type Sink interface {
	// WriteRecords writes each record as one unit (a line, a datagram).
	WriteRecords(recs [][]byte) error
	Close() error
}

// Output is a sink with the format its records are written in.
type Output struct {
	Format Format
	Sink   Sink
	// Name says where it goes (for logs): a path or a socket.
	Name string
}

// ParseOutputSpec reads FORMAT:PATH (e.g. kyn:/var/log/matchmeta/netwatch.log).
func ParseOutputSpec(spec string) (Format, string, error) {
	f, path, ok := strings.Cut(spec, ":")
	if !ok || path == "" {
		return "", "", fmt.Errorf("netwatch: output %q: want FORMAT:PATH, FORMAT one of kyn, json, cef, rfc5424", spec)
	}
	format, err := ParseFormat(f)
	if err != nil {
		return "", "", err
	}
	return format, path, nil
}

// FileSink appends records, one per line, to a file that is only ever
// appended to; Reopen (on SIGHUP, after logrotate moved it) opens the path
// again.
type FileSink struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenFileSink opens (creating, mode 0640) path for appending.
func OpenFileSink(path string) (*FileSink, error) {
	s := &FileSink{path: path}
	if err := s.Reopen(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reopen opens the path again and closes the old file.
func (s *FileSink) Reopen() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("netwatch: output: %w", err)
	}
	s.mu.Lock()
	old := s.f
	s.f = f
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// WriteRecords appends all records in one write, so a reader never sees
// half a sweep's line.
func (s *FileSink) WriteRecords(recs [][]byte) error {
	var n int
	for _, r := range recs {
		n += len(r) + 1
	}
	buf := make([]byte, 0, n)
	for _, r := range recs {
		buf = append(append(buf, r...), '\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return fmt.Errorf("netwatch: output %s: closed", s.path)
	}
	if _, err := s.f.Write(buf); err != nil {
		return fmt.Errorf("netwatch: output: %w", err)
	}
	return nil
}

// Close closes the file.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// SyslogSink sends each record as one datagram to a unix datagram socket
// (/dev/log), reconnecting once when the syslog daemon restarted. A
// syslog daemon that stops reading fills the socket queue; a write then
// gives up after Timeout rather than stall the sweeps.
type SyslogSink struct {
	// Timeout bounds the sends of one sweep (default 2 s).
	Timeout time.Duration

	path string
	mu   sync.Mutex
	conn *net.UnixConn
}

// DialSyslog connects to the unix datagram socket at path.
func DialSyslog(path string) (*SyslogSink, error) {
	s := &SyslogSink{path: path}
	if err := s.dial(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *SyslogSink) dial() error {
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: s.path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("netwatch: syslog %s: %w", s.path, err)
	}
	if s.conn != nil {
		s.conn.Close()
	}
	s.conn = c
	return nil
}

// WriteRecords sends one datagram per record.
func (s *SyslogSink) WriteRecords(recs [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for i, r := range recs {
		if s.conn == nil {
			return fmt.Errorf("netwatch: syslog %s: closed", s.path)
		}
		s.conn.SetWriteDeadline(deadline)
		if _, err := s.conn.Write(r); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("netwatch: syslog %s: not reading, %d of %d records dropped: %w", s.path, len(recs)-i, len(recs), err)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOTCONN) {
				return fmt.Errorf("netwatch: syslog: %w", err)
			}
			if err := s.dial(); err != nil {
				return err
			}
			s.conn.SetWriteDeadline(deadline)
			if _, err := s.conn.Write(r); err != nil {
				return fmt.Errorf("netwatch: syslog: %w", err)
			}
		}
	}
	return nil
}

// Close closes the socket.
func (s *SyslogSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// OpenOutputs opens the daemon's outputs: each FORMAT:PATH spec as a file
// sink, and the syslog socket when one is named. On an error the ones
// already open are closed.
func OpenOutputs(specs []string, syslog string) ([]Output, error) {
	var outs []Output
	fail := func(err error) ([]Output, error) {
		for _, out := range outs {
			out.Sink.Close()
		}
		return nil, err
	}
	for _, spec := range specs {
		f, path, err := ParseOutputSpec(spec)
		if err != nil {
			return fail(err)
		}
		s, err := OpenFileSink(path)
		if err != nil {
			return fail(err)
		}
		outs = append(outs, Output{Format: f, Sink: s, Name: path})
	}
	if syslog != "" {
		s, err := DialSyslog(syslog)
		if err != nil {
			return fail(err)
		}
		outs = append(outs, Output{Format: FormatRFC5424, Sink: s, Name: syslog})
	}
	return outs, nil
}
