package target

import "sync"

// revCache remembers the last known _rev per record key.
type revCache struct {
	mu sync.Mutex
	m  map[string]string
}

func newRevCache() *revCache { return &revCache{m: make(map[string]string)} }

func (c *revCache) get(k string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *revCache) set(k, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = v
}

func (c *revCache) del(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}
