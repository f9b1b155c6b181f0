// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor // import "github.com/otelcaracal/otelcaracal/collector/caracalprocessor"

import (
	"strings"
	"sync"
	"sync/atomic"
)

// keyInfo is what the processor knows about an attribute key: whether it
// names a credential, and which caracal.* field it is.
type keyInfo uint8

const (
	// keyCredential is set when the key names a credential.
	keyCredential keyInfo = 1 << iota
	// keyCaracal is set when the key starts with "caracal.".
	keyCaracal
)

// maxCachedKeys bounds the key cache. Attribute keys repeat from span to
// span, so a few hundred usually cover a deployment; past the bound, keys
// are classified on every use.
const maxCachedKeys = 4096

// keyCache classifies attribute keys once. Readers load an immutable
// snapshot without locking; keys a batch meets for the first time are
// added at the end of the batch by building a new snapshot.
type keyCache struct {
	keys  *keyMatcher
	snap  atomic.Pointer[keySnapshot]
	mu    sync.Mutex // serializes writers
	limit int
}

// keySnapshot is the cache at one time: a map of every key, and in front
// of it a small direct-mapped table that answers most lookups without
// hashing the whole key.
type keySnapshot struct {
	m     map[string]keyInfo
	table [tableSize]keyEntry
}

const tableSize = 1024

type keyEntry struct {
	key  string
	info keyInfo
	set  bool
}

// slot returns the table index of k, from its length and three of its
// bytes. k is not empty.
func slot(k string) int {
	h := uint(len(k))*131 + uint(k[len(k)-1])*7 + uint(k[len(k)/2])
	return int(h % tableSize)
}

func newKeyCache(keys *keyMatcher) *keyCache {
	c := &keyCache{keys: keys, limit: maxCachedKeys}
	c.snap.Store(&keySnapshot{m: map[string]keyInfo{}})
	return c
}

// classify returns the keyInfo of k.
func (c *keyCache) classify(k string) keyInfo {
	var info keyInfo
	if c.keys.match(k) {
		info |= keyCredential
	}
	if strings.HasPrefix(k, keyPrefix) {
		info |= keyCaracal
	}
	return info
}

// load returns the cache as it is now, for one batch.
func (c *keyCache) load() *keySnapshot { return c.snap.Load() }

// lookup returns the keyInfo of k, from the snapshot s, from fresh (keys
// new in this batch) or computed and then remembered in fresh while there
// is room.
func (c *keyCache) lookup(s *keySnapshot, k string, fresh map[string]keyInfo) keyInfo {
	if k == "" {
		return c.classify(k)
	}
	if e := &s.table[slot(k)]; e.set && e.key == k {
		return e.info
	}
	if info, ok := s.m[k]; ok {
		return info
	}
	if info, ok := fresh[k]; ok {
		return info
	}
	info := c.classify(k)
	if len(fresh) < c.limit {
		fresh[strings.Clone(k)] = info
	}
	return info
}

// merge adds the keys of fresh to the cache, within its bound.
func (c *keyCache) merge(fresh map[string]keyInfo) {
	if len(fresh) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.snap.Load()
	if len(old.m) >= c.limit {
		return
	}
	s := &keySnapshot{m: make(map[string]keyInfo, min(len(old.m)+len(fresh), c.limit))}
	for k, v := range old.m {
		s.m[k] = v
	}
	for k, v := range fresh {
		if len(s.m) >= c.limit {
			break
		}
		s.m[k] = v
	}
	for k, v := range s.m {
		if e := &s.table[slot(k)]; !e.set {
			*e = keyEntry{key: k, info: v, set: true}
		}
	}
	c.snap.Store(s)
}
