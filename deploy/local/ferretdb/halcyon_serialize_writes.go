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
// This file serializes write commands per database (one mutex per "$db"). Every
// Halcyon service has its own database, which the SQLite backend keeps in its own
// file, so services write in parallel while writes within one database (where the
// races above happen) are serialized. Reads are not blocked; each write command's
// backend update is one SQLite transaction, so readers see the old or the new state.
//
// HALCYON_FERRETDB_WRITE_LOCK=global (read at start-up) restores the first version of
// this patch, one lock for all databases; the benchmark starts such a server to
// measure what the per-database lock gained (bench/write_lock.py).

package handler

import (
	"context"
	"os"
	"sync"

	"github.com/FerretDB/wire"

	"github.com/FerretDB/FerretDB/internal/bson"
)

// halcyonWriteLocks maps a database name to its *sync.Mutex.
var halcyonWriteLocks sync.Map

// halcyonGlobalWriteLock is true when every database shares one write lock.
var halcyonGlobalWriteLock = os.Getenv("HALCYON_FERRETDB_WRITE_LOCK") == "global"

// halcyonLockFor returns the write lock of the command's database ("$db").
func halcyonLockFor(msg *wire.OpMsg) *sync.Mutex {
	name := ""
	if halcyonGlobalWriteLock {
		mu, _ := halcyonWriteLocks.LoadOrStore(name, &sync.Mutex{})
		return mu.(*sync.Mutex)
	}
	if doc, err := bson.ToDocument(msg.RawSection0()); err == nil {
		if v, err := doc.Get("$db"); err == nil {
			if s, ok := v.(string); ok {
				name = s
			}
		}
	}
	mu, _ := halcyonWriteLocks.LoadOrStore(name, &sync.Mutex{})
	return mu.(*sync.Mutex)
}

// halcyonSerializeWrites wraps the write command handlers with their database's lock.
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
