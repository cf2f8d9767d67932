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
// This file serializes all write commands within the (single) FerretDB process
// with one mutex. Reads are not blocked; each write command's backend update is
// already one SQLite transaction, so readers see either the old or the new state.
// SQLite allows a single writer at a time anyway, so the cost is negligible.

package handler

import (
	"context"
	"sync"

	"github.com/FerretDB/wire"
)

// halcyonWriteMu serializes write commands.
var halcyonWriteMu sync.Mutex

// halcyonSerializeWrites wraps the write command handlers with halcyonWriteMu.
// It must be called after initCommands.
func (h *Handler) halcyonSerializeWrites() {
	for _, name := range []string{"insert", "update", "delete", "findAndModify", "findandmodify"} {
		cmd := h.commands[name]
		if cmd == nil {
			continue
		}

		inner := cmd.Handler
		cmd.Handler = func(ctx context.Context, msg *wire.OpMsg) (*wire.OpMsg, error) {
			halcyonWriteMu.Lock()
			defer halcyonWriteMu.Unlock()

			return inner(ctx, msg)
		}
	}
}
