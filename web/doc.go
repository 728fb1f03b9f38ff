// Package web owns matchmeta's HTTP side, built on labstack/echo/v4 over
// the service layer (web/service): the server-rendered lookup page, the
// JSON API, the plain-text endpoints of the original MatchMeta.Info, the
// CIRCL hashlookup-compatible endpoints and /metrics. The work itself
// (lookups, the bulk stream, jobs) is the service's; web decodes requests,
// calls it, and maps its typed errors (db.ErrorKind) to statuses in one
// place (errors.go).
//
// Server has an explicit lifecycle: New(Config) builds it, Start binds and
// serves in the background, Shutdown drains it. Every handler error is an
// *Error (status + message for the user, wrapped detail for the log) and
// Server.handleError is the one place that maps errors to responses:
// {"error": "..."} under /api, {"message": ..., "error": ...} on the
// hashlookup routes, "error: ..." on the plain-text routes, and an HTML
// page elsewhere. User input never yields a 500.
//
// Routes
//
//	GET  /                         page: search box, verdict (?q=VALUE[&type=KIND])
//	GET  /bulk, POST /bulk         page: bulk box -> table or CSV (format=csv)
//	GET  /status                   page: sets, database size, uptime, imports
//	GET  /netwatch                 page: devices (?order=asc|desc by last seen), events
//	GET  /sha256/{h} /sha1/{h} /md5/{h} /filename/{name} /path?path=P
//	                               text/plain "OK" or "NA" (no newline)
//	GET  /api/v1/{sha256|sha1|md5}/{h}, /api/v1/filename/{name}, /api/v1/path?path=P
//	                               JSON db.Answer
//	POST /api/v1/lookup            bulk; see bulk.go (JSON, NDJSON streaming, text)
//	GET  /api/v1/sets, /api/v1/info, /api/v1/history
//	GET  /api/v1/jobs, /api/v1/jobs/{id}   running and recent jobs with their progress
//	POST /api/v1/jobs/{id}/cancel  always needs a key
//	GET  /api/v1/netwatch/devices, /api/v1/netwatch/events?limit=N&after=SEQ
//	                               the inventory netwatch records (netwatch.go)
//	GET  /api/v1/profiles, PUT /api/v1/profiles (a key)
//
// The admin socket (admin.go, admin_api.go) serves the same route table;
// there the socket's file permissions are the authority (no key needed to
// change data) and these routes exist only there:
//
//	GET  /api/v1/ping              which daemon, which database file
//	GET  /api/v1/keys, POST /api/v1/keys {"name"}, DELETE /api/v1/keys/{name}
//	GET  /api/v1/backup            a consistent copy of the database
//	POST /api/v1/compact           compact in place while serving
//	POST /api/v1/import/check      [FileProbe] -> [bool]: may the daemon read it in place?
//	POST /api/v1/import            multipart job + files; NDJSON progress, then result
//	DELETE /api/v1/sets/{name}     always needs a key
//	GET  /healthz, /metrics        health (never needs a key), Prometheus text
//	GET  /lookup/{md5|sha1|sha256}/{h}, POST /bulk/{md5|sha1|sha256}, GET /info,
//	     /parents/{sha1}/{count}/{cursor}, /children/..., /stats/top, /session/...
//	                               CIRCL hashlookup compatible (JSON everywhere)
//
// Every GET route answers HEAD too (routes.go getHead).
//
// API keys: lookups are open unless Config.RequireKey (or SetRequireKey at
// run time); endpoints that change data always need a key. A key travels in
// the x-api-key header, as "Authorization: Bearer KEY", or as the password
// of HTTP basic auth (what a browser sends without JavaScript). A missing
// key is 401, an unknown or revoked one 403.
//
// Page element ids (stable; the browser test relies on them):
//
//	#q             search input (name q)          #type       type select (auto, sha256, ...)
//	#search        search form (GET /)            #search-submit  its button
//	#verdict       the big verdict; data-verdict="OK|NA", data-class="known|known-bad|notable|"
//	               and CSS classes verdict-ok/verdict-na/verdict-error + class-KIND
//	#query         the normalized query value     #matches    table of matching sets
//	#records       NSRL records table             #path       path answer section
//	#normalized    normalized path forms          #profiles   profiles line
//	#lookalikes    look-alike warning block        #json-link  link to the JSON answer
//	#error         error box (role=alert)         #empty      "no sets yet" notice
//	#bulk-form     bulk form (POST /bulk)         #bulk       its textarea (name values)
//	#bulk-file     file input (name file)         #bulk-type  type select
//	#bulk-submit   HTML answer button             #bulk-csv   CSV download button
//	#bulk-summary  OK/NA counts                   #bulk-results  answers table (one row per line, in order)
//	#status        status section                 #sets       sets table
//	#db-size       database size                  #uptime     start time and uptime
//	#jobs          running imports                #history    recent imports
//	#netwatch      network section                #devices    devices table; rows data-mac, classes
//	               nw-new / nw-unauthorized / nw-gone
//	#sort-last-seen  header link flipping ?order  #events     recent events (rows data-kind)
//	#nav-search, #nav-bulk, #nav-status, #nav-netwatch  navigation links
//
// The page has no JavaScript and loads nothing from elsewhere; the
// Content-Security-Policy header forbids both.
//
// API.md beside this file has curl and Python examples for users.
// Benchmarks: go test ./web -run XXX -bench 'BulkNDJSON|HandlerGET' and
// go test ./web/service -run XXX -bench 'BulkParts|BulkSorted'
// (MATCHMETA_BENCH_KEYS=10000000 for the 10 M set).
//
// Client (client.go) is the workstation side of POST /api/v1/lookup that
// `matchmeta lookup --server` uses: bounded keep-alive concurrency,
// batches, retries, answers in input order. The load benchmark against the
// issue's speed targets (64 connections, wrk, bulk on 10 M keys) is
// go test ./web -run '^$' -bench Load -benchtime 1x (loadbench_test.go).
package web
