// Halcyon local-dev patch, copied into FerretDB v1.24.x's internal/handler by
// deploy/local/servers.sh before `go build` (HALCYON_FERRETDB_SERIALIZE_WRITES=1,
// the default).
//
// Stock FerretDB 1.x implements update/findAndModify/delete as
// "query matching documents, apply the update in Go, write the documents back"
// without holding a lock or transaction across the read and the write. Concurrent
// writers therefore race: $inc loses increments, a conditional update such as
// {_id: x, qty: {$gte: 1}} -> {$inc: {qty: -1}} can succeed more times than the
// stock allows, and findAndModify can hand the same document to several callers.
// MongoDB guarantees single-document atomicity, so the Halcyon services rely on it.
//
// This file serializes write commands per collection (one mutex per "$db" and
// collection, the value of the command's first key): the races above are between
// writes to the same document, hence the same collection, so writers of different
// collections run in parallel. Reads are not blocked; each write command's backend
// update is one transaction, so readers see the old or the new state.
//
// HALCYON_FERRETDB_WRITE_LOCK (read at start-up) picks the scope:
//   - "collection" (the default);
//   - "database": one lock per database. servers.sh picks it for SQLite, which keeps a
//     database in one file that takes one writer at a time anyway (two collections'
//     writers would only meet again in SQLite's busy handler);
//   - "global": one lock for all databases, the first version of this patch; the
//     benchmark starts such a server to measure what the narrower locks gained.

package handler

import (
	"context"
	"os"
	"sync"

	"github.com/FerretDB/wire"

	"github.com/FerretDB/FerretDB/internal/bson"
)

// halcyonWriteLocks maps a lock's scope ("", a database, or database NUL collection)
// to its *sync.Mutex.
var halcyonWriteLocks sync.Map

// halcyonWriteLockScope is "collection", "database" or "global".
var halcyonWriteLockScope = os.Getenv("HALCYON_FERRETDB_WRITE_LOCK")

// halcyonLockFor returns the write lock of the command's collection (or database).
func halcyonLockFor(msg *wire.OpMsg) *sync.Mutex {
	name := ""
	if halcyonWriteLockScope != "global" {
		if doc, err := bson.ToDocument(msg.RawSection0()); err == nil {
			if v, err := doc.Get("$db"); err == nil {
				if s, ok := v.(string); ok {
					name = s
				}
			}
			if halcyonWriteLockScope != "database" && doc.Len() > 0 {
				// {update: "claims", ...}: the command's first key names its collection
				if s, ok := doc.Values()[0].(string); ok {
					name += "\x00" + s
				}
			}
		}
	}
	mu, _ := halcyonWriteLocks.LoadOrStore(name, &sync.Mutex{})
	return mu.(*sync.Mutex)
}

// halcyonSerializeWrites wraps the write command handlers with their collection's lock.
// It must be called after initCommands.
func (h *Handler) halcyonSerializeWrites() {
	for _, name := range []string{"insert", "update", "delete", "findAndModify", "findandmodify"} {
		cmd := h.commands[name]
		if cmd == nil {
			continue
		}

		inner := cmd.Handler
		cmd.Handler = func(ctx context.Context, msg *wire.OpMsg) (*wire.OpMsg, error) {
			mu := halcyonLockFor(msg)
			mu.Lock()
			defer mu.Unlock()

			return inner(ctx, msg)
		}
	}
}
