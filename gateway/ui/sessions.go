package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// secretLen is the length of login codes and session IDs, in random
// bytes: 256 bits, never guessed.
const secretLen = 32

// Bounds of what the sessions keep: a flood of `distgate ui` or of logins
// drops the oldest instead of growing.
const (
	maxCodes    = 16
	maxSessions = 64
)

// secret is a login code or a session ID as the server keeps it: its
// hash, so that a memory dump of the table does not hold usable values,
// compared in constant time.
type secret [sha256.Size]byte

func hashOf(s string) secret { return sha256.Sum256([]byte(s)) }

// newSecret returns a random value, base64url without padding.
func newSecret() string {
	b := make([]byte, secretLen)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// entry is a code or a session, and when it ends. A session has a key
// too: the page's half of it.
type entry struct {
	hash    secret
	key     secret
	expires time.Time
}

// sessions keeps the one-time login codes `distgate ui` asks for and the
// sessions they open. A code is single-use and short-lived; a session
// lasts its TTL from login. Both are compared in constant time over the
// whole (small) table, so that timing says nothing of which one matched.
type sessions struct {
	codeTTL, sessionTTL time.Duration

	mu       sync.Mutex // guards the following
	codes    []entry
	sessions []entry
}

// newCode returns a new one-time code and when it expires.
func (s *sessions) newCode(now time.Time) (string, time.Time) {
	code := newSecret()
	e := entry{hash: hashOf(code), expires: now.Add(s.codeTTL)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes = append(prune(s.codes, now), e)
	if len(s.codes) > maxCodes {
		s.codes = s.codes[len(s.codes)-maxCodes:]
	}
	return code, e.expires
}

// redeem spends a code: it returns a new session ID (the cookie's), its
// key (the page's) and its end when the code is valid, and forgets the
// code either way it was found.
func (s *sessions) redeem(code string, now time.Time) (id, key string, expires time.Time, ok bool) {
	h := hashOf(code)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes = prune(s.codes, now)
	i := find(s.codes, h)
	if i < 0 {
		return "", "", time.Time{}, false
	}
	s.codes = append(s.codes[:i], s.codes[i+1:]...)
	id, key = newSecret(), newSecret()
	e := entry{hash: hashOf(id), key: hashOf(key), expires: now.Add(s.sessionTTL)}
	s.sessions = append(prune(s.sessions, now), e)
	if len(s.sessions) > maxSessions {
		s.sessions = s.sessions[len(s.sessions)-maxSessions:]
	}
	return id, key, e.expires, true
}

// valid reports whether id is a live session and, when withKey, whether
// key is its key.
func (s *sessions) valid(id string, withKey bool, key string, now time.Time) bool {
	if id == "" || (withKey && key == "") {
		return false
	}
	h, k := hashOf(id), hashOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions = prune(s.sessions, now)
	i := find(s.sessions, h)
	if i < 0 {
		return false
	}
	return !withKey || subtle.ConstantTimeCompare(s.sessions[i].key[:], k[:]) == 1
}

// find returns the index of h in es, or -1, comparing every entry in
// constant time.
func find(es []entry, h secret) int {
	found := -1
	for i := range es {
		if subtle.ConstantTimeCompare(es[i].hash[:], h[:]) == 1 {
			found = i
		}
	}
	return found
}

// prune drops the entries that expired at now.
func prune(es []entry, now time.Time) []entry {
	out := es[:0]
	for _, e := range es {
		if now.Before(e.expires) {
			out = append(out, e)
		}
	}
	return out
}
