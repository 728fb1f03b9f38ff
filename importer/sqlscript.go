package importer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// sqlStmt is one statement of an SQL script, as the sqlite3 shell would
// hand it to SQLite: from its first token to its terminating ';'
// (included; absent for a last statement the script does not end), with
// any comments inside it. Comments and blanks between statements are not
// part of any.
type sqlStmt struct {
	Text string
	Line int    // line of its first token (1-based)
	Word string // its first keyword, upper case ("INSERT", "BEGIN", ...); "" when it starts otherwise
}

// sqlSplitter cuts a script into statements without understanding them:
// it only knows where SQLite's tokens can hide a ';' (single-quoted
// strings, a doubled quote escaping one, "identifiers", `identifiers`, [identifiers],
// -- and /* */ comments) and that a CREATE TRIGGER's body holds ';'s up
// to its END. SQLite itself parses each statement; that is the point of
// running NIST's script rather than reading it.
type sqlSplitter struct {
	r    *bufio.Reader
	line int
	buf  bytes.Buffer
	// errLine is where the token an errSQLScript names began.
	errLine int
}

func newSQLSplitter(r io.Reader) *sqlSplitter {
	s := &sqlSplitter{r: bufio.NewReaderSize(r, 1<<16), line: 1}
	// A UTF-8 byte order mark (Windows editors write one) is no token:
	// the sqlite3 shell skips it too.
	if b, err := s.r.Peek(3); err == nil && string(b) == "\uFEFF" {
		s.r.Discard(3)
	}
	return s
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// errSQLScript marks a script that cannot be cut into statements.
var errSQLScript = errors.New("bad sql script")

// Next returns the next statement, or io.EOF after the last.
func (s *sqlSplitter) Next() (sqlStmt, error) {
	s.buf.Reset()
	var (
		st      sqlStmt
		words   []string // the first three words, upper case
		word    []byte   // the word being read
		last    string   // the last token, when a word (upper case)
		started bool
	)
	endWord := func() {
		if len(word) == 0 {
			return
		}
		w := string(bytes.ToUpper(word))
		if len(words) < 3 {
			words = append(words, w)
		}
		last = w
		word = word[:0]
	}
	other := func() { // a token that is no word
		endWord()
		if len(words) < 3 {
			words = append(words, "")
		}
		last = ""
	}
	isTrigger := func() bool {
		i := 1
		if len(words) > 2 && (words[1] == "TEMP" || words[1] == "TEMPORARY") {
			i = 2
		}
		return len(words) > i && words[0] == "CREATE" && words[i] == "TRIGGER"
	}
	finish := func() sqlStmt {
		endWord()
		st.Text = s.buf.String()
		if len(words) > 0 {
			st.Word = words[0]
		}
		return st
	}
	for {
		c, err := s.r.ReadByte()
		if err == io.EOF {
			if started {
				return finish(), nil
			}
			return sqlStmt{}, io.EOF
		}
		if err != nil {
			return sqlStmt{}, err
		}
		switch {
		case c == '\n':
			endWord()
			s.line++
			if started {
				s.buf.WriteByte(c)
			}
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			endWord()
			if started {
				s.buf.WriteByte(c)
			}
			continue
		case c == '-' || c == '/':
			next, err := s.r.Peek(1)
			if err == nil && ((c == '-' && next[0] == '-') || (c == '/' && next[0] == '*')) {
				endWord()
				if err := s.comment(c, started); err != nil {
					return sqlStmt{}, err
				}
				continue
			}
		}
		if !started {
			started, st.Line = true, s.line
		}
		s.buf.WriteByte(c)
		switch {
		case isWordByte(c):
			word = append(word, c)
		case c == ';':
			endWord()
			if isTrigger() && last != "END" {
				last = "" // a ';' of the trigger's body
				continue
			}
			return finish(), nil
		case c == '\'' || c == '"' || c == '`' || c == '[':
			other()
			if err := s.quoted(c); err != nil {
				return sqlStmt{}, err
			}
		default:
			other()
		}
	}
}

// comment skips (or, inside a statement, keeps) a -- or /* comment whose
// first byte c was read. An unterminated /* comment ends at the end of
// the script, as in SQLite.
func (s *sqlSplitter) comment(c byte, keep bool) error {
	b, _ := s.r.ReadByte() // the second '-' or '*'
	if keep {
		s.buf.WriteByte(c)
		s.buf.WriteByte(b)
	}
	prev := byte(0)
	for {
		x, err := s.r.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if x == '\n' {
			s.line++
		}
		if keep {
			s.buf.WriteByte(x)
		}
		if c == '-' && x == '\n' {
			return nil
		}
		if c == '/' && prev == '*' && x == '/' {
			return nil
		}
		prev = x
	}
}

// quoted copies a string or quoted identifier whose opening quote q was
// read; a doubled closing quote is an escape (not for [...]).
func (s *sqlSplitter) quoted(q byte) error {
	start := s.line
	end := q
	if q == '[' {
		end = ']'
	}
	for {
		x, err := s.r.ReadByte()
		if err == io.EOF {
			s.errLine = start
			return fmt.Errorf("%w: %c... never closed", errSQLScript, q)
		}
		if err != nil {
			return err
		}
		if x == '\n' {
			s.line++
		}
		s.buf.WriteByte(x)
		if x != end {
			continue
		}
		if q == '[' {
			return nil
		}
		next, err := s.r.Peek(1)
		if err != nil || next[0] != end {
			return nil
		}
		s.r.ReadByte()
		s.buf.WriteByte(end)
	}
}

// scriptTx follows the transactions a script opens and closes itself, as
// SQLite does when the sqlite3 shell runs it: BEGIN, or a SAVEPOINT
// outside any transaction, opens one; COMMIT or END, or the RELEASE of
// that first savepoint, closes it. The shell rolls back a transaction
// still open when its input ends, so that such a script (a truncated
// download, often) changes nothing there.
type scriptTx struct {
	open   sqlStmt  // the statement that opened the transaction; Line 0 when none is open
	points []string // the savepoints since a SAVEPOINT opened it, oldest first (upper case)
}

// step takes the script's next statement.
func (x *scriptTx) step(st sqlStmt) {
	w := strings.Fields(strings.ToUpper(strings.TrimSuffix(strings.TrimSpace(st.Text), ";")))
	// name is the savepoint named after the words that may precede it.
	name := func(skip ...string) string {
		for len(w) > 1 && slices.Contains(skip, w[1]) {
			w = w[1:]
		}
		if len(w) < 2 {
			return ""
		}
		return strings.Trim(w[1], "\"`[]'")
	}
	switch st.Word {
	case "BEGIN":
		if x.open.Line == 0 {
			x.open = st
		}
	case "COMMIT", "END":
		x.open, x.points = sqlStmt{}, nil
	case "SAVEPOINT":
		if x.open.Line == 0 {
			x.open, x.points = st, []string{name()}
		} else if len(x.points) > 0 {
			x.points = append(x.points, name())
		}
	case "RELEASE", "ROLLBACK": // ROLLBACK TO keeps its savepoint, RELEASE ends it
		keep, n := 0, ""
		if st.Word == "ROLLBACK" {
			keep, n = 1, name("TRANSACTION", "TO", "SAVEPOINT")
		} else {
			n = name("SAVEPOINT")
		}
		for i := len(x.points) - 1; i >= 0; i-- {
			if x.points[i] == n {
				x.points = x.points[:i+keep]
				break
			}
		}
		if x.open.Line != 0 && len(x.points) == 0 && x.open.Word == "SAVEPOINT" {
			x.open = sqlStmt{}
		}
	}
}
