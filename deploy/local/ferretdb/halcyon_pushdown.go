// Halcyon local-dev patch, copied into FerretDB v1.24.x's internal/backends/sqlite by
// deploy/local/servers.sh before `go build`; Query and Explain in collection.go call it.
//
// Stock FerretDB 1.x with the SQLite backend pushes a filter down to SQL only when it is
// exactly {_id: <string|ObjectID>}. Every other query, including the {_id, tenant_id}
// lookups every Halcyon repository makes, reads the WHOLE collection and decodes each
// document in Go before filtering: a find by appointment in a 22,000-document
// slot_claims collection took 3.5 s, and the platform slowed as its data grew.
//
// This pushes equality on top-level fields down as a WHERE clause that is a SUPERSET of
// the matching documents (FerretDB's handler filters every returned document again, so
// extra rows are harmless; missing rows would be wrong):
//
//   - {_id: v} / {_id: {$eq: v}} / {_id: {$in: [...]}}, with or without other fields:
//     _id can never be an array, so only the _id condition is pushed down, spelled so
//     that SQLite uses the unique _id index.
//   - {field: v} and friends: in MongoDB an equality also matches an array containing v,
//     so the condition is (field = v OR field is an array). Both terms are on the same
//     expression as FerretDB's index on that field (`_ferretdb_sjson->"field"`), so
//     SQLite can answer both from the index; without an index it still filters in C
//     instead of decoding every document in Go.
//
// Only plain string values made of characters that JSON never escapes are pushed down,
// so the JSON text compared here is byte-for-byte what FerretDB stored. Anything else
// (numbers, dates, dotted paths, operators other than $eq/$in) is left to the handler.
//
// HALCYON_FERRETDB_PUSHDOWN=stock (read at start-up) turns this off, so the benchmark
// can measure stock behaviour and this side by side from one binary.

package sqlite

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

var (
	halcyonPushdownOff = os.Getenv("HALCYON_FERRETDB_PUSHDOWN") == "stock"
	halcyonPlainKey    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	halcyonPlainValue  = regexp.MustCompile(`^[A-Za-z0-9 _\-.:|@+/]*$`)
)

// halcyonMaxIn bounds an $in pushed down (SQLite's default limit is 32766 variables).
const halcyonMaxIn = 1000

// halcyonEqualValues returns the stored JSON texts a filter value can equal, or false.
func halcyonEqualValues(v any) ([]any, bool) {
	switch v := v.(type) {
	case string:
		if !halcyonPlainValue.MatchString(v) {
			return nil, false
		}
		return []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}, true

	case *types.Document:
		if v.Len() != 1 {
			return nil, false
		}
		op := v.Keys()[0]
		operand := must.NotFail(v.Get(op))

		switch op {
		case "$eq":
			if _, isDoc := operand.(*types.Document); isDoc {
				return nil, false
			}
			return halcyonEqualValues(operand)

		case "$in":
			arr, ok := operand.(*types.Array)
			if !ok || arr.Len() == 0 || arr.Len() > halcyonMaxIn {
				return nil, false
			}
			out := make([]any, 0, arr.Len())
			for i := 0; i < arr.Len(); i++ {
				s, ok := must.NotFail(arr.Get(i)).(string)
				if !ok || !halcyonPlainValue.MatchString(s) {
					return nil, false
				}
				out = append(out, string(must.NotFail(sjson.MarshalSingleValue(s))))
			}
			return out, true
		}
	}

	return nil, false
}

// halcyonMaxFields bounds the fields combined below (the clause has 2^n terms).
const halcyonMaxFields = 3

// halcyonWhereClause returns " WHERE ..." and its arguments, or "" when nothing can be
// pushed down.
//
// With an _id equality only that is pushed down: the unique index finds the one row.
// Otherwise each field's condition is (field IN values OR field is an array), and the
// conjunction is expanded into a disjunction of plain conjunctions, e.g. for two fields
//
//	(a IN .. AND b IN ..) OR (a IN .. AND b is array) OR (a is array AND b IN ..) OR ...
//
// because SQLite can answer each such term from a compound index on (a, b), while an OR
// nested inside an AND lets it use only the first column.
func halcyonWhereClause(filter *types.Document) (string, []any) {
	if halcyonPushdownOff || filter == nil || filter.Len() == 0 {
		return "", nil
	}

	type fieldValues struct {
		field  string
		values []any
	}

	var fields []fieldValues

	for _, key := range filter.Keys() {
		if !halcyonPlainKey.MatchString(key) {
			continue
		}

		values, ok := halcyonEqualValues(must.NotFail(filter.Get(key)))
		if !ok {
			continue
		}

		if key == "_id" {
			// Spelled like the unique _id index (`->"_id"`), not metadata.IDColumn
			// (`->'$._id'`): SQLite matches index expressions as written, so the stock
			// {_id} pushdown scans the table.
			marks := strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", ")
			return fmt.Sprintf(" WHERE %s->%q IN (%s)", metadata.DefaultColumn, key, marks), values
		}

		if len(fields) < halcyonMaxFields {
			// The same expression FerretDB's createIndexes uses, so its index applies.
			fields = append(fields, fieldValues{fmt.Sprintf("%s->%q", metadata.DefaultColumn, key), values})
		}
	}

	if len(fields) == 0 {
		return "", nil
	}

	var terms []string
	var args []any

	for combination := 0; combination < 1<<len(fields); combination++ {
		var conjunction []string

		for i, f := range fields {
			if combination&(1<<i) == 0 {
				marks := strings.TrimSuffix(strings.Repeat("?, ", len(f.values)), ", ")
				conjunction = append(conjunction, fmt.Sprintf("%s IN (%s)", f.field, marks))
				args = append(args, f.values...)
			} else {
				// An array's JSON text starts with "[" and sorts before "\": any array.
				conjunction = append(conjunction, fmt.Sprintf(`%s >= '[' AND %s < '\'`, f.field, f.field))
			}
		}

		terms = append(terms, "("+strings.Join(conjunction, " AND ")+")")
	}

	return " WHERE " + strings.Join(terms, " OR "), args
}
