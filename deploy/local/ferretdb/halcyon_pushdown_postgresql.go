// Halcyon local-dev patch, copied into FerretDB v1.24.x's internal/backends/postgresql
// by deploy/local/servers.sh before `go build`; Query and Explain in collection.go call
// halcyonPrepareWhereClause where they called prepareWhereClause.
//
// Stock FerretDB 1.x on PostgreSQL pushes an equality down as `_jsonb->$1 @> $2`: the
// field name is a bind parameter, so the expression never matches an index FerretDB
// created (`((_jsonb->'field'))`), and PostgreSQL scans the whole table. A get by
// {_id, tenant_id} took 12.5 ms on 20,000 documents instead of well under one.
//
// This writes the same filters on the index expressions themselves, as a WHERE clause
// that is a SUPERSET of the matching documents (FerretDB's handler filters every
// returned document again, so extra rows are harmless; a missing row would be wrong):
//
//   - {_id: v} / {_id: {$eq: v}} / {_id: {$in: [...]}}, with or without other fields:
//     _id can never be an array, so only `_jsonb->'_id' IN (...)` is pushed down, which
//     the unique _id index answers.
//   - {field: v} and friends: in MongoDB an equality also matches an array containing v,
//     so the condition is (field = v OR field is an array). Both terms are on
//     `_jsonb->'field'`, the expression of FerretDB's index on that field: jsonb sorts
//     every non-empty array between `true` and `{}`, so "is an array" is a range of the
//     same btree index.
//
// Only strings and ObjectIDs (which FerretDB stores as JSON strings) are pushed down;
// jsonb compares them by value, so no escaping subtleties arise. Anything else (numbers,
// dates, dotted paths, operators other than $eq/$in) falls back to the stock clause.
//
// HALCYON_FERRETDB_PUSHDOWN=stock (read at start-up) turns this off, so the benchmark
// can measure stock behaviour and this side by side from one binary.

package postgresql

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/postgresql/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

var (
	halcyonPushdownOff = os.Getenv("HALCYON_FERRETDB_PUSHDOWN") == "stock"
	halcyonPlainKey    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// halcyonMaxIn bounds an $in pushed down (one bind parameter per value).
const halcyonMaxIn = 1000

// halcyonMaxFields bounds the fields combined below (the clause has 2^n terms).
const halcyonMaxFields = 3

// halcyonJSON returns the jsonb text of a string or ObjectID value, or false.
func halcyonJSON(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		if strings.ContainsRune(v, 0) { // jsonb cannot hold NUL; leave it to the handler
			return "", false
		}
		return string(must.NotFail(sjson.MarshalSingleValue(v))), true
	case types.ObjectID:
		return string(must.NotFail(sjson.MarshalSingleValue(v))), true
	}

	return "", false
}

// halcyonEqualValues returns the jsonb texts a filter value can equal, or false.
func halcyonEqualValues(v any) ([]any, bool) {
	if s, ok := halcyonJSON(v); ok {
		return []any{s}, true
	}

	doc, ok := v.(*types.Document)
	if !ok || doc.Len() != 1 {
		return nil, false
	}

	op := doc.Keys()[0]
	operand := must.NotFail(doc.Get(op))

	switch op {
	case "$eq":
		if s, ok := halcyonJSON(operand); ok {
			return []any{s}, true
		}
	case "$in":
		arr, ok := operand.(*types.Array)
		if !ok || arr.Len() == 0 || arr.Len() > halcyonMaxIn {
			return nil, false
		}
		out := make([]any, 0, arr.Len())
		for i := 0; i < arr.Len(); i++ {
			s, ok := halcyonJSON(must.NotFail(arr.Get(i)))
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}

	return nil, false
}

// halcyonIn returns "expr IN ($n::jsonb, ...)" with its placeholders taken from p.
func halcyonIn(p *metadata.Placeholder, expr string, n int) string {
	marks := make([]string, n)
	for i := range marks {
		marks[i] = p.Next() + "::jsonb"
	}
	return fmt.Sprintf("%s IN (%s)", expr, strings.Join(marks, ", "))
}

// halcyonPrepareWhereClause returns " WHERE ..." and its arguments: the clause above
// when the filter has pushable equalities, else stock prepareWhereClause's.
//
// Without _id, each field's condition is (field IN values OR field is an array), and
// the conjunction is expanded into a disjunction of plain conjunctions, e.g.
//
//	(a IN .. AND b IN ..) OR (a IN .. AND b is array) OR (a is array AND b IN ..) OR ...
//
// so each term is an index condition on a compound index over (a, b).
func halcyonPrepareWhereClause(p *metadata.Placeholder, filter *types.Document) (string, []any, error) {
	if halcyonPushdownOff || filter == nil || filter.Len() == 0 {
		return prepareWhereClause(p, filter)
	}

	type fieldValues struct {
		expr   string
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

		// The expression FerretDB's indexes use (registry.go: `((_jsonb->'field'))`);
		// the key is a plain identifier, so quoting it needs no escaping.
		expr := fmt.Sprintf("%s->'%s'", metadata.DefaultColumn, key)

		if key == "_id" {
			return " WHERE " + halcyonIn(p, expr, len(values)), values, nil
		}

		if len(fields) < halcyonMaxFields {
			fields = append(fields, fieldValues{expr, values})
		}
	}

	if len(fields) == 0 {
		return prepareWhereClause(p, filter)
	}

	var terms []string
	var args []any

	for combination := 0; combination < 1<<len(fields); combination++ {
		var conjunction []string

		for i, f := range fields {
			if combination&(1<<i) == 0 {
				conjunction = append(conjunction, halcyonIn(p, f.expr, len(f.values)))
				args = append(args, f.values...)
			} else {
				// jsonb orders Object > Array > Boolean > Number > String > Null (the empty
				// array sorts below null, and it contains nothing): any array that can hold v.
				conjunction = append(conjunction, fmt.Sprintf(`%s > 'true'::jsonb AND %s < '{}'::jsonb`, f.expr, f.expr))
			}
		}

		terms = append(terms, "("+strings.Join(conjunction, " AND ")+")")
	}

	return " WHERE " + strings.Join(terms, " OR "), args, nil
}
