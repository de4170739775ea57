package gateway

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/distgate/distgate/gateway/directory"
	"github.com/distgate/distgate/wasm"
)

// policySync keeps the uploaded policies of every gateway of a site the
// same: what the admin API changes here is published in the site
// directory (publish), and what the directory says is applied here
// (reconcile), whenever its watch sees a change. A policy's state names a
// module by hash and a configuration: a gateway activates the kept version
// that has both, or installs the module from the directory. Applying a
// state this gateway published changes nothing, so there is no echo.
type policySync struct {
	eng      *wasm.Engine
	policies *policyRouter
	log      *slog.Logger
	dir      *directory.Directory
	signal   chan struct{}
	wg       sync.WaitGroup
}

func newPolicySync(eng *wasm.Engine, p *policyRouter, log *slog.Logger) *policySync {
	return &policySync{eng: eng, policies: p, log: log, signal: make(chan struct{}, 1)}
}

// kick asks for a reconciliation (directory.Config.OnPolicies).
func (s *policySync) kick() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// start reconciles on every kick until ctx ends; wait waits for it.
func (s *policySync) start(ctx context.Context, dir *directory.Directory) {
	s.dir = dir
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.signal:
				s.reconcile(ctx)
			}
		}
	}()
}

func (s *policySync) wait() { s.wg.Wait() }

// reconcile applies every shared policy's state to the engine.
func (s *policySync) reconcile(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, policySyncTimeout)
	defer cancel()
	for _, ps := range s.dir.Policies() {
		if err := s.apply(ctx, ps); err != nil {
			s.log.Error("shared policy not applied: this gateway keeps its own", "policy", ps.Name, "sha256", ps.SHA256, "err", err)
		}
	}
	s.policies.refresh()
}

func (s *policySync) apply(ctx context.Context, ps directory.PolicyState) error {
	info, err := s.eng.Policy(ps.Name)
	have := err == nil
	if ps.Removed {
		if have {
			s.log.Info("shared policy removed", "policy", ps.Name, "by", ps.By)
			if err := s.eng.Remove(ps.Name); err != nil && !errors.Is(err, wasm.ErrNoPolicy) {
				return err
			}
		}
		return nil
	}
	if have && info.Active.SHA256 == ps.SHA256 && bytes.Equal(info.Active.Config, ps.Config) {
		return nil
	}
	if have {
		for _, v := range info.Versions {
			if v.SHA256 == ps.SHA256 && bytes.Equal(v.Config, ps.Config) {
				_, err := s.eng.Activate(ctx, ps.Name, v.Seq)
				if err == nil {
					s.log.Info("shared policy activated", "policy", ps.Name, "version", v.Seq, "sha256", ps.SHA256, "by", ps.By)
				}
				return err
			}
		}
	}
	module, err := s.dir.Module(ctx, ps)
	if err != nil {
		return err
	}
	v, err := s.eng.Install(ctx, ps.Name, module, ps.Config)
	if err == nil {
		s.log.Info("shared policy installed", "policy", ps.Name, "version", v.Seq, "sha256", ps.SHA256, "by", ps.By)
	}
	return err
}

// publish shares the active version of a policy, or its removal, with the
// site.
func (s *policySync) publish(ctx context.Context, name string) error {
	info, err := s.eng.Policy(name)
	if errors.Is(err, wasm.ErrNoPolicy) {
		return s.dir.RemovePolicy(ctx, name)
	}
	if err != nil {
		return err
	}
	module, err := s.eng.Module(name, info.Active.Seq)
	if err != nil {
		return err
	}
	return s.dir.PutPolicy(ctx, name, module, info.Active.Config)
}
