package devstack

import (
	"net/http"
	"sync"
)

// Pool serves one function's invocations from several emulator instances,
// as Lambda gives concurrent invocations instances of their own. One RIE
// handles one invocation at a time; a function whose invocations overlap
// in a deployment (the check step, which waits between its reads while
// every export holding a job slot does the same) would otherwise queue
// them behind each other, and an export would notice its job only when
// the others' checks had ended.
//
// An invocation goes to the first free instance in order, so that while
// invocations do not overlap they all reach the first one (tests that
// kill a runtime mid-call pick it).
type Pool struct {
	fns  []*Function
	mu   sync.Mutex
	busy []bool
	free *sync.Cond
}

// NewPool serves invocations from fns (at least one).
func NewPool(fns []*Function) *Pool {
	p := &Pool{fns: fns, busy: make([]bool, len(fns))}
	p.free = sync.NewCond(&p.mu)
	return p
}

// ServeHTTP forwards the invocation to the first free instance, waiting
// for one if all are busy.
func (p *Pool) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := p.acquire()
	defer p.release(k)
	p.fns[k].ServeHTTP(w, r)
}

func (p *Pool) acquire() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for k, b := range p.busy {
			if !b {
				p.busy[k] = true
				return k
			}
		}
		p.free.Wait()
	}
}

func (p *Pool) release(k int) {
	p.mu.Lock()
	p.busy[k] = false
	p.mu.Unlock()
	p.free.Signal()
}
