package web

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
)

// The netwatch views: the inventory and events the netwatch engine
// records, read through the service (web/service/netwatch.go).

// apiNetwatchDevices: GET /api/v1/netwatch/devices, most recently seen first.
func (s *Server) apiNetwatchDevices(c echo.Context) error {
	devs, err := s.svc.NetwatchDevices(c.Request().Context())
	if err != nil {
		return internal("reading the device inventory", err)
	}
	return c.JSON(http.StatusOK, devs)
}

// apiNetwatchEvents: GET /api/v1/netwatch/events?limit=N&after=SEQ.
func (s *Server) apiNetwatchEvents(c echo.Context) error {
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	var after uint64
	if v := c.QueryParam("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return badRequest("after must be an event sequence number, got %q", v)
		}
	}
	evs, err := s.svc.NetwatchEvents(c.Request().Context(), after, limit)
	if err != nil {
		return internal("reading the netwatch events", err)
	}
	return c.JSON(http.StatusOK, evs)
}

type netwatchView struct {
	Devices []db.InventoryDevice
	Events  []db.InventoryEvent // newest first
	// Order is the devices' order by last seen: "desc" (newest first,
	// the default) or "asc"; Flip is the other one, for the header link.
	Order, Flip string
	New, Unauth int
}

// pageNetwatch: GET /netwatch, the devices (sortable by last seen, new and
// unauthorized ones highlighted) and the recent events. Sorting is a link,
// so it works without JavaScript.
func (s *Server) pageNetwatch(c echo.Context) error {
	v := &netwatchView{Order: "desc", Flip: "asc"}
	switch c.QueryParam("order") {
	case "", "desc":
	case "asc":
		v.Order, v.Flip = "asc", "desc"
	default:
		return badRequest("order must be asc or desc, got %q", c.QueryParam("order"))
	}
	devs, err := s.svc.NetwatchDevices(c.Request().Context())
	if err != nil {
		return internal("reading the device inventory", err)
	}
	if v.Order == "asc" {
		sort.SliceStable(devs, func(i, j int) bool { return devs[i].LastSeen.Before(devs[j].LastSeen) })
	}
	for _, d := range devs {
		if d.New {
			v.New++
		}
		if d.Unauthorized {
			v.Unauth++
		}
	}
	v.Devices = devs
	evs, err := s.svc.NetwatchEvents(c.Request().Context(), 0, 50)
	if err != nil {
		return internal("reading the netwatch events", err)
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	v.Events = evs
	return s.renderPage(c, http.StatusOK, pageData{Title: "Network", Nav: "netwatch", Netwatch: v})
}

// apiNetwatchScan is POST /api/v1/netwatch/scan on the admin socket: one
// sweep as a job (a netwatch.ScanRequest), its progress streamed, the
// report as the result.
func (s *Server) apiNetwatchScan(c echo.Context) error {
	return jsonJob(s, c, s.svc.NetwatchScan)
}

// AllowRequest is the body of POST /api/v1/netwatch/allow.
type AllowRequest struct {
	MAC   string `json:"mac"`
	Label string `json:"label,omitempty"`
}

// apiNetwatchAllow is POST /api/v1/netwatch/allow: a device on the
// allowlist (a change: a key on TCP).
func (s *Server) apiNetwatchAllow(c echo.Context) error {
	var req AllowRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	mac, err := db.ParseMAC(req.MAC)
	if err != nil {
		return err
	}
	mk, err := s.svc.NetwatchAllow(c.Request().Context(), mac, req.Label)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, mk)
}
