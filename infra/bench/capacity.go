package main

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// capacity counts the DynamoDB request units each observed call is billed on demand, from the
// calls themselves (the emulator's ConsumedCapacity is a constant per operation, whatever the
// item). DynamoDB's rules as documented:
//
//   - a read request unit reads an item of up to 4 KB strongly consistent, or two eventually
//     consistent (0.5 each); a Query adds up the items it reads before rounding up;
//   - a write request unit writes up to 1 KB; a write is billed on the larger of the item
//     before and after it;
//   - a transaction costs two units of either kind per item (prepare and commit); a
//     ConditionCheck item is counted as a transactional write (2 per KB): an assumption;
//   - a write to an item that is in a global secondary index also writes the index: one more
//     write unit per KB, not doubled inside a transaction (an assumption as well).
//
// Updates and deletes do not carry the item: its size is the last one seen for that key (a
// read's answer, a put), else the key and the values the update sets. Items here are well
// under 1 KB, so these estimates hardly ever change a rounded-up unit.
type capacity struct {
	tables map[string]tableSchema

	mu    sync.Mutex
	items map[string]itemInfo // by table and key: last size and attribute names seen
}

// tableSchema is what the counting needs of a table (from DescribeTable).
type tableSchema struct {
	Key  []string   // partition (and sort) key attribute names
	GSIs [][]string // each global secondary index's key attribute names
}

type itemInfo struct {
	size  int
	attrs map[string]bool
}

func newCapacity(tables map[string]tableSchema) *capacity {
	return &capacity{tables: tables, items: map[string]itemInfo{}}
}

type item = map[string]json.RawMessage

// The parts of DynamoDB requests and answers the count reads.
type ddbRequest struct {
	TableName                 string
	Key                       item
	Item                      item
	ConsistentRead            bool
	ProjectionExpression      string
	UpdateExpression          string
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues item
	RequestItems              map[string]json.RawMessage
	TransactItems             []map[string]ddbRequest
}

type ddbAnswer struct {
	Item         item
	Items        []item
	Attributes   item
	Count        int
	ScannedCount int
	Responses    json.RawMessage // BatchGetItem: table → items; TransactGetItems: [{Item}]
}

// count returns the read and write request units of one call.
func (c *capacity) count(op string, reqBody, respBody []byte) (rru, wru float64) {
	var req ddbRequest
	if json.Unmarshal(reqBody, &req) != nil {
		return 0, 0
	}
	var resp ddbAnswer
	_ = json.Unmarshal(respBody, &resp) // an error answer has none of these fields
	c.mu.Lock()
	defer c.mu.Unlock()
	switch op {
	case "GetItem":
		return c.read(req.TableName, req.Key, resp.Item, req.ProjectionExpression == "", req.ConsistentRead), 0
	case "Query", "Scan":
		total := 0
		for _, it := range resp.Items {
			total += itemSize(it)
			if req.ProjectionExpression == "" {
				c.remember(req.TableName, c.keyOf(req.TableName, it), it)
			}
		}
		if resp.Count > 0 && resp.ScannedCount > resp.Count { // a filter dropped items it read
			total = total * resp.ScannedCount / resp.Count
		}
		return readUnits(total, req.ConsistentRead), 0
	case "BatchGetItem":
		var answers map[string][]item
		_ = json.Unmarshal(resp.Responses, &answers)
		for table, its := range answers {
			var in struct{ ConsistentRead bool }
			_ = json.Unmarshal(req.RequestItems[table], &in)
			for _, it := range its {
				rru += c.read(table, c.keyOf(table, it), it, true, in.ConsistentRead)
			}
		}
		return rru, 0
	case "TransactGetItems":
		var answers []struct{ Item item }
		_ = json.Unmarshal(resp.Responses, &answers)
		for i, ti := range req.TransactItems {
			var got item
			if i < len(answers) {
				got = answers[i].Item
			}
			g := ti["Get"]
			rru += 2 * c.read(g.TableName, g.Key, got, g.ProjectionExpression == "", true)
		}
		return rru, 0
	case "PutItem", "UpdateItem", "DeleteItem":
		table, index := c.write(op, req, resp.Attributes)
		return 0, table + index
	case "BatchWriteItem":
		for table, raw := range req.RequestItems {
			var writes []struct {
				PutRequest    *struct{ Item item }
				DeleteRequest *struct{ Key item }
			}
			_ = json.Unmarshal(raw, &writes)
			for _, w := range writes {
				var t, i float64
				switch {
				case w.PutRequest != nil:
					t, i = c.write("PutItem", ddbRequest{TableName: table, Item: w.PutRequest.Item}, nil)
				case w.DeleteRequest != nil:
					t, i = c.write("DeleteItem", ddbRequest{TableName: table, Key: w.DeleteRequest.Key}, nil)
				}
				wru += t + i
			}
		}
		return 0, wru
	case "TransactWriteItems":
		for _, ti := range req.TransactItems {
			for kind, r := range ti {
				var t, i float64
				switch kind {
				case "Put":
					t, i = c.write("PutItem", r, nil)
				case "Update":
					t, i = c.write("UpdateItem", r, nil)
				case "Delete":
					t, i = c.write("DeleteItem", r, nil)
				case "ConditionCheck":
					t = writeUnits(c.known(r.TableName, r.Key).size)
				}
				wru += 2*t + i
			}
		}
		return 0, wru
	}
	return 0, 0
}

// read is the units of reading one item (got: the answer's item, nil when there is none).
func (c *capacity) read(table string, key, got item, full, consistent bool) float64 {
	size := itemSize(got)
	if k := c.known(table, key); k.size > size { // a projection returns less than it reads
		size = k.size
	}
	if got != nil && full {
		c.remember(table, key, got)
	}
	return readUnits(size, consistent)
}

// write is the table's and the indexes' write units of one put, update or delete (attrs: the
// item an update or delete returned, if it asked for it).
func (c *capacity) write(op string, r ddbRequest, attrs item) (table, index float64) {
	key := r.Key
	if op == "PutItem" {
		key = c.keyOf(r.TableName, r.Item)
	}
	before := c.known(r.TableName, key)
	after := itemInfo{attrs: map[string]bool{}}
	switch op {
	case "PutItem":
		after = info(r.Item)
	case "UpdateItem":
		after.size = itemSize(key)
		for k := range key {
			after.attrs[k] = true
		}
		for name := range before.attrs {
			after.attrs[name] = true
		}
		for _, name := range updatedNames(r) {
			after.attrs[name] = true
			after.size += len(name)
		}
		for _, v := range r.ExpressionAttributeValues {
			after.size += valueSize(v)
		}
		if attrs != nil {
			after.size = max(after.size, itemSize(attrs))
		}
		after.size = max(after.size, before.size)
	case "DeleteItem":
		after = itemInfo{}
	}
	size := max(before.size, after.size, itemSize(key))
	table = writeUnits(size)
	for _, gsi := range c.tables[r.TableName].GSIs {
		if hasAll(before.attrs, gsi) || hasAll(after.attrs, gsi) {
			index += writeUnits(size)
		}
	}
	if op == "DeleteItem" {
		delete(c.items, itemKey(r.TableName, key))
	} else {
		c.items[itemKey(r.TableName, key)] = after
	}
	return table, index
}

var exprName = regexp.MustCompile(`#?[A-Za-z_][A-Za-z0-9_]*`)

// updatedNames are the attribute names an update expression mentions (placeholders resolved).
func updatedNames(r ddbRequest) []string {
	var out []string
	for _, w := range exprName.FindAllString(r.UpdateExpression, -1) {
		switch strings.ToUpper(w) {
		case "SET", "REMOVE", "ADD", "DELETE", "IF_NOT_EXISTS", "LIST_APPEND":
			continue
		}
		if n, ok := r.ExpressionAttributeNames[w]; ok {
			w = n
		}
		if !strings.HasPrefix(w, "#") {
			out = append(out, w)
		}
	}
	return out
}

func hasAll(attrs map[string]bool, names []string) bool {
	if len(names) == 0 {
		return false
	}
	for _, n := range names {
		if !attrs[n] {
			return false
		}
	}
	return true
}

func (c *capacity) known(table string, key item) itemInfo {
	return c.items[itemKey(table, key)]
}

func (c *capacity) remember(table string, key, it item) {
	if key != nil {
		c.items[itemKey(table, key)] = info(it)
	}
}

// keyOf picks the table's key attributes out of an item (nil when the table is unknown).
func (c *capacity) keyOf(table string, it item) item {
	s, ok := c.tables[table]
	if !ok {
		return nil
	}
	key := item{}
	for _, k := range s.Key {
		if v, ok := it[k]; ok {
			key[k] = v
		}
	}
	return key
}

// itemKey identifies an item by table and key (the SDK encodes values the same way each time).
func itemKey(table string, key item) string {
	names := make([]string, 0, len(key))
	for k := range key {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(table)
	for _, k := range names {
		b.WriteString("\x00" + k + "=" + string(key[k]))
	}
	return b.String()
}

func info(it item) itemInfo {
	in := itemInfo{size: itemSize(it), attrs: make(map[string]bool, len(it))}
	for k := range it {
		in.attrs[k] = true
	}
	return in
}

func readUnits(size int, consistent bool) float64 {
	u := math.Max(1, math.Ceil(float64(size)/4096))
	if !consistent {
		u /= 2
	}
	return u
}

func writeUnits(size int) float64 { return math.Max(1, math.Ceil(float64(size)/1024)) }

// itemSize is an item's size as DynamoDB bills it: each attribute's name plus its value.
func itemSize(it item) int {
	n := 0
	for name, v := range it {
		n += len(name) + valueSize(v)
	}
	return n
}

// valueSize is the size of one attribute value in DynamoDB's JSON (e.g. {"S":"…"}): strings
// and binaries by their bytes, numbers about one byte per two significant digits plus one,
// booleans and nulls one byte, lists and maps three bytes plus one per element and the
// elements (and, for maps, their names).
func valueSize(raw json.RawMessage) int {
	var v map[string]json.RawMessage
	if json.Unmarshal(raw, &v) != nil {
		return 0
	}
	n := 0
	for typ, x := range v {
		switch typ {
		case "S":
			var s string
			_ = json.Unmarshal(x, &s)
			n += len(s)
		case "N":
			var s string
			_ = json.Unmarshal(x, &s)
			n += numberSize(s)
		case "B":
			var s string
			_ = json.Unmarshal(x, &s)
			n += binarySize(s)
		case "BOOL", "NULL":
			n++
		case "SS", "NS", "BS":
			var ss []string
			_ = json.Unmarshal(x, &ss)
			for _, s := range ss {
				switch typ {
				case "SS":
					n += len(s)
				case "NS":
					n += numberSize(s)
				default:
					n += binarySize(s)
				}
			}
		case "L":
			var l []json.RawMessage
			_ = json.Unmarshal(x, &l)
			n += 3
			for _, e := range l {
				n += 1 + valueSize(e)
			}
		case "M":
			var m map[string]json.RawMessage
			_ = json.Unmarshal(x, &m)
			n += 3
			for k, e := range m {
				n += 1 + len(k) + valueSize(e)
			}
		}
	}
	return n
}

func numberSize(s string) int {
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	digits := strings.Trim(strings.Replace(s, ".", "", 1), "0")
	return (len(digits)+1)/2 + 1
}

func binarySize(s string) int {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return len(s) * 3 / 4
	}
	return len(b)
}
