package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/netwatch"
)

// The daemon side of 'matchmeta netwatch' on the admin socket: each route
// calls the one service operation (web/service/netwatch.go) the local path
// calls too.

func (a *adminServer) netwatchRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/netwatch/scan", a.guard(a.netwatchScan))
	mux.HandleFunc("GET /v1/netwatch/devices", a.guard(a.netwatchDevices))
	mux.HandleFunc("GET /v1/netwatch/events", a.guard(a.netwatchEvents))
	mux.HandleFunc("POST /v1/netwatch/allow", a.guard(a.netwatchAllow))
}

func (a *adminServer) netwatchScan(w http.ResponseWriter, r *http.Request) {
	var req netwatch.ScanRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		adminError(w, http.StatusBadRequest, fmt.Errorf("netwatch scan: %w", err))
		return
	}
	a.wg.Add(1)
	defer a.wg.Done()
	rep, err := a.svc.NetwatchScan(r.Context(), req, nil)
	if err != nil {
		adminError(w, statusOf(err), err)
		return
	}
	adminJSON(w, http.StatusOK, rep)
}

func (a *adminServer) netwatchDevices(w http.ResponseWriter, r *http.Request) {
	devs, err := a.svc.NetwatchDevices(r.Context())
	if err != nil {
		adminError(w, statusOf(err), err)
		return
	}
	adminJSON(w, http.StatusOK, devs)
}

func (a *adminServer) netwatchEvents(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit <= 0 {
		limit = 50
	}
	evs, err := a.svc.NetwatchEvents(r.Context(), after, limit)
	if err != nil {
		adminError(w, statusOf(err), err)
		return
	}
	adminJSON(w, http.StatusOK, evs)
}

func (a *adminServer) netwatchAllow(w http.ResponseWriter, r *http.Request) {
	var req allowReq
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		adminError(w, http.StatusBadRequest, fmt.Errorf("netwatch allow: %w", err))
		return
	}
	mac, err := db.ParseMAC(req.MAC)
	if err != nil {
		adminError(w, http.StatusBadRequest, err)
		return
	}
	mk, err := a.svc.NetwatchAllow(r.Context(), mac, req.Label)
	if err != nil {
		adminError(w, statusOf(err), err)
		return
	}
	adminJSON(w, http.StatusOK, mk)
}

// newNetwatch builds the daemon's watcher when an interface is configured
// (nil, nil when none is: netwatch stays off). The caller starts it.
func newNetwatch(o *netwatchOpts, st *db.Store, log *slog.Logger) (*netwatch.Watcher, error) {
	if o.iface == "" {
		return nil, nil
	}
	cfg, err := o.config(st, log.With("component", "netwatch"))
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	w, err := netwatch.New(cfg)
	if err != nil {
		for _, out := range cfg.Outputs {
			out.Sink.Close()
		}
		return nil, fmt.Errorf("serve: %w", err)
	}
	return w, nil
}
