package db

import "errors"

// answerPath fills a full-path answer (placeholder until path sets land).
func (r *Reader) answerPath(q Query, a *Answer) error {
	return errors.New("full-path lookups arrive with path sets")
}
