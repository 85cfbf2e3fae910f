package config

import "strings"

// Problem is one thing wrong with a configuration, at a key path such as
// "realms[0].roles[1].permissions[0].match".
type Problem struct {
	Key     string
	Message string
}

func (p Problem) String() string {
	if p.Key == "" {
		return p.Message
	}
	return p.Key + ": " + p.Message
}

// Error lists every problem found in one configuration file.
type Error struct {
	File     string
	Problems []Problem
}

// Error returns one line per problem, each starting with the file name.
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.File)
		b.WriteString(": ")
		b.WriteString(p.String())
	}
	return b.String()
}
