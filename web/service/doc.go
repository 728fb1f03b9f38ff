// Package service declares every operation of the matchmeta daemon once
// and owns the work behind them.
//
// The operations are the Service interface, split by area (Lookups, Sets,
// Imports, Keys, Backups, Profiles, Jobs, Status, Blocks, Netwatch, Images,
// Bundles), each area in its own file. Two implementations
// follow them: Local, over an open db.Store and the engines (importer, and
// the others as they land), which owns the jobs; and web/remote, a client
// of a running daemon (admin unix socket or TCP). A CLI command gets one or
// the other and never branches on which; the web transport serves Local.
//
// Long work runs as a job of the Runner (jobs.go): submitted with a kind,
// a title and the sets it writes, it gets a *progress.Tracker that the
// engine updates with cheap atomic adds, can be cancelled, and ends with a
// result or an error. Runner.List returns structured views (id, kind,
// state, progress.Event, result, error): the status page, GET
// /api/v1/jobs and the CLI render those; nothing parses log text. Run
// submits a job and waits for it, handing a Watch the job's events a few
// times a second; cancelling the caller's context cancels the job.
//
// Errors are typed at the bottom (db.Error, db.ErrorKind): an operation
// returns db.Errorf(db.ErrorInvalid, "...") or wraps a store sentinel
// (db.ErrNotFound, ...), and the transports map the kind to a status in one
// place (web/errors.go). db.Message(err) is the user's message; never cut
// prefixes off err.Error().
//
// The bulk lookup (stream.go) is one implementation for the API, the admin
// socket, the page and `matchmeta lookup --file`: lines in (NDJSON or plain
// text, or one JSON document), NDJSON answers out in input order, looked up
// in batches of BatchSize, one read transaction each, by a few workers.
//
// # Adding an operation
//
// Follow these steps in order; each names the file to touch. The import
// of path listings (ImportPaths) is the worked example of every step.
//
// Step 1. Interface. Add the method to your area's interface, in
// web/service/<area>.go (a new area: declare `type Blocks interface
// {...}` there and add Blocks to Service in service.go). ctx first;
// requests and results are plain JSON-able structs owned by the engine
// (importer.PathsRequest, *importer.Result); long work takes a
// `watch Watch` argument.
//
// Step 2. Local implementation. Write `func (l *Local) Method(...)` in
// web/service/local_<area>.go. It calls the engine with l.st and
// l.log; it holds no state of its own beyond what Local has (add a
// field to Config for any setting or test hook; no package globals).
// Errors from the engine pass through as they are (typed); wrap
// others with fmt.Errorf("service: ...: %w", err).
//
// Step 3. Job and progress. Long work runs through Run, never in the caller's
// goroutine:
//
//	spec := JobSpec{Kind: "block-ingest", Title: "ingest " + req.Image, Sets: []string{req.Set}}
//	return Run(ctx, l.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (*blocks.Result, error) {
//		return blocks.Ingest(ctx, l.st, req, blocks.Options{Tracker: tr, Logger: l.log})
//	})
//
// The engine reports only through tr: tr.Begin(phase, item, unit,
// total, bytesTotal) at each phase, tr.Add/AddBytes on the hot path,
// tr.Warn for problems that do not stop it; it stops when ctx ends and
// publishes nothing then. The job then shows on the status page and in
// GET /api/v1/jobs with its counts, and a CLI renders the same events.
//
// Step 4. Route. Add one line for the operation to the route table,
// Server.table in web/routes.go, and its handler in web/api_<area>.go.
// The table is served on TCP and on the admin unix socket (web/admin.go)
// with different authority, the line's auth: public (anyone), open
// (lookups: a key only with --require-key), admin (changes: an API key on
// TCP, the socket's file permissions on the socket), local (the socket
// only: anything that reads the caller's files or hands out secrets). The
// handler decodes the request, calls s.svc.Method and answers c.JSON; a
// job's handler wraps the call in s.jobStream(c, func(watch) (any, error)
// {...}), which streams NDJSON {"progress": Event} lines, then
// {"result": ...} or {"error", "kind"} (web/admin_api.go, apiImport); a
// job whose request is the body's JSON is just jsonJob(s, c,
// s.svc.Method) (apiBundleSync).
// Errors are returned, not written: the one error handler maps their kinds
// to statuses and writes {"error", "kind"}.
//
// Step 5. Remote client. Add the same method to *remote.Client in
// web/remote/<area>.go: c.call(ctx, method, path, in, &out) for a JSON
// answer; for a job, res, err := c.request(ctx, "POST", path, body,
// ctype) then c.job(ctx, res, watch, &out), which hands the progress to
// watch and returns the typed error. A request that reads the caller's
// files sends those the daemon cannot read in place (remote/import.go:
// service.ProbeFile, POST /api/v1/import/check, multipart upload).
//
// Step 6. CLI command. In cmd/matchmeta/<area>.go: one pflag.FlagSet,
// parse and check the flags (usage errors via usagef), build the request,
// get the service once with svc, release, err := m.service(ctx, *dbPath,
// svcOptions{readOnly: ...}) (the daemon's remote client when one serves
// the database, else Local over the file), defer release(), and call the
// method; for a job pass the Watch of p := render.NewProgress(m.Stderr,
// render.ProgressOptions{}) (see runImportJob in import.go). No branch on
// local or remote.
//
// Step 7. Tests: the engine in its package; the operation end to end through
// the daemon in cmd/matchmeta (real store in t.TempDir(), server on
// :0), which covers the route and the remote client; document the
// command and any new route in README.md and web/API.md.
package service
