package client

import "time"

// serverHealth is what the client knows of one server's responsiveness.
type serverHealth struct {
	// ewma is the latency EWMA in microseconds over successful calls (alpha ewmaAlpha).
	ewma    float64
	samples int
	// lastFailure is when a call to the server last failed with a connection error.
	lastFailure time.Time
}

// ewmaAlpha weighs the newest latency; 0.3 forgets a slow spell within about ten calls.
const ewmaAlpha = 0.3

// observe records a successful call's latency and clears the failure mark.
func (c *Client) observe(addr string, d time.Duration) {
	us := float64(d.Microseconds())
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.health[addr]
	if h == nil {
		h = &serverHealth{}
		c.health[addr] = h
	}
	if h.samples == 0 {
		h.ewma = us
	} else {
		h.ewma = ewmaAlpha*us + (1-ewmaAlpha)*h.ewma
	}
	h.samples++
	h.lastFailure = time.Time{}
}

// failed marks a server whose call failed with a connection error.
func (c *Client) failed(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.health[addr]
	if h == nil {
		h = &serverHealth{}
		c.health[addr] = h
	}
	h.lastFailure = c.cfg.clock()
}

// recentlyFailedLocked: the server failed within the cooldown. Caller holds c.mu.
func (c *Client) recentlyFailedLocked(addr string) bool {
	h := c.health[addr]
	return h != nil && c.failedWithin(h, c.cfg.clock())
}

// failedWithin: h's server failed within the cooldown before now. Caller holds c.mu.
func (c *Client) failedWithin(h *serverHealth, now time.Time) bool {
	return !h.lastFailure.IsZero() && now.Sub(h.lastFailure) < c.cfg.failureCooldown
}
