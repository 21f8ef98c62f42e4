// Command envoy-api checks Envoy config documents against Envoy's own API at the pinned version
// (go-control-plane's generated Go types and protoc-gen-validate rules for Envoy 1.40), so a
// config Envoy would refuse at load time fails in tests instead of in a pod.
//
// Usage: envoy-api [-bootstrap FILE]... [-eds FILE]...    ("-" reads stdin)
//
// Every problem is printed as one JSON line {"file", "path", "message"} on stdout; the exit status
// is 0 when there is none, 1 when there is any, 2 for a usage error or an unreadable file.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	// The extensions the rendered bootstrap names in typed_config. Importing a package registers its
	// types; an Any of a type that is not registered here is reported, never skipped.
	_ "github.com/cncf/xds/go/xds/type/matcher/v3"                                                         // IPMatcher
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"                     // Router (stats listener)
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3" // HttpConnectionManager (stats listener)
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"                   // UdpProxyConfig, Route
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/common_inputs/network/v3"          // SourceIPInput
)

type problem struct {
	File    string `json:"file"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

type checker struct {
	file     string
	problems []problem
}

func (c *checker) report(path, message string) {
	c.problems = append(c.problems, problem{File: c.file, Path: path, Message: message})
}

// checkDocument reads doc as the proto3 JSON form of msg, as Envoy reads a bootstrap or a
// path_config_source file: an unknown field, a wrong type or an unresolvable Any is an error.
func (c *checker) checkDocument(doc []byte, msg proto.Message) bool {
	// Zero options: DiscardUnknown is false and Any types resolve through the global registry.
	if err := (protojson.UnmarshalOptions{}).Unmarshal(doc, msg); err != nil {
		path, message := locate(doc, err)
		c.report(path, message)
		return false
	}
	c.walk(msg.ProtoReflect(), "")
	return true
}

// walk validates m and every message under it, including the contents of each Any: the
// generated ValidateAll stops at an Any, whose payload it sees only as bytes.
func (c *checker) walk(m protoreflect.Message, path string) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil { // protojson has resolved every Any already; this only guards against a bad payload
			c.report(path, fmt.Sprintf("cannot unpack %s: %v", a.GetTypeUrl(), err))
			return
		}
		m = inner.ProtoReflect()
	}
	c.validate(m, path)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fieldPath := join(path, string(fd.Name()))
		// Envoy accepts deprecated fields with a warning until they are removed; the project must not
		// depend on them, so they are problems here.
		if fd.Options().(*descriptorpb.FieldOptions).GetDeprecated() {
			c.report(fieldPath, "field is deprecated")
		}
		switch {
		case fd.IsList():
			for i, list := 0, v.List(); i < list.Len(); i++ {
				c.value(fd, list.Get(i), fmt.Sprintf("%s[%d]", fieldPath, i))
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, item protoreflect.Value) bool {
				c.value(fd.MapValue(), item, fmt.Sprintf("%s[%s]", fieldPath, strconv.Quote(k.String())))
				return true
			})
		default:
			c.value(fd, v, fieldPath)
		}
		return true
	})
}

func (c *checker) value(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		c.walk(v.Message(), path)
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil && ev.Options().(*descriptorpb.EnumValueOptions).GetDeprecated() {
			c.report(path, fmt.Sprintf("enum value %s is deprecated", ev.Name()))
		}
	}
}

// embedded is the reason PGV gives a parent for a failing child message. walk visits that child
// itself and reports its own errors with their path, so the parent's summary is dropped.
const embedded = "embedded message failed validation"

// validate reports the PGV rules of m's own fields (set or not, as PGV checks unset fields too).
func (c *checker) validate(m protoreflect.Message, path string) {
	v, ok := m.Interface().(interface{ ValidateAll() error })
	if !ok {
		return // google.protobuf types carry no rules
	}
	for _, err := range flatten(v.ValidateAll()) {
		fieldErr, ok := err.(interface {
			Field() string
			Reason() string
			Cause() error
		})
		if !ok { // every PGV error has these methods; report anything else whole rather than lose it
			c.report(path, err.Error())
			continue
		}
		if fieldErr.Reason() == embedded {
			continue
		}
		message := fieldErr.Reason()
		if cause := fieldErr.Cause(); cause != nil {
			message += ": " + cause.Error()
		}
		c.report(join(path, protoFieldPath(m.Descriptor(), fieldErr.Field())), message)
	}
}

// flatten expands PGV's MultiErrors (ValidateAll returns one per message) into single errors.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	multi, ok := err.(interface{ AllErrors() []error })
	if !ok {
		return []error{err}
	}
	var all []error
	for _, e := range multi.AllErrors() {
		all = append(all, flatten(e)...)
	}
	return all
}

// protoFieldPath turns PGV's Go field name ("HashPolicies[0]", "RouteSpecifier") into the proto
// name the config uses ("hash_policies[0]", "route_specifier").
func protoFieldPath(md protoreflect.MessageDescriptor, goField string) string {
	name, index, _ := strings.Cut(goField, "[")
	if index != "" {
		index = "[" + index
	}
	squash := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	for i := 0; i < md.Fields().Len(); i++ {
		if fd := md.Fields().Get(i); squash(string(fd.Name())) == squash(name) {
			return string(fd.Name()) + index
		}
	}
	for i := 0; i < md.Oneofs().Len(); i++ {
		if od := md.Oneofs().Get(i); squash(string(od.Name())) == squash(name) {
			return string(od.Name()) + index
		}
	}
	return goField
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// protojson stops at the first error and names its position as "(line L:C)", with C counted in
// runes. The prefix "proto: " randomly uses non-breaking spaces, to discourage string matching.
var positionRe = regexp.MustCompile(`^proto:[\s\x{a0}]*(?:syntax error )?\(line (\d+):(\d+)\):[\s\x{a0}]*(.*)$`)

// locate turns a protojson error into the JSON path of the token it points at, and its message.
func locate(doc []byte, err error) (string, string) {
	text := strings.ReplaceAll(err.Error(), "\u00a0", " ")
	match := positionRe.FindStringSubmatch(text)
	if match == nil { // e.g. "unexpected EOF": no position, the document as a whole
		return "", strings.TrimPrefix(text, "proto: ")
	}
	line, _ := strconv.Atoi(match[1])
	column, _ := strconv.Atoi(match[2])
	message := match[3]
	if strings.HasPrefix(message, "unable to resolve") {
		message += " (not a type of Envoy's API, or an extension that tools/envoy-api/main.go does not import)"
	}
	return pathAt(doc, offsetOf(doc, line, column)), message
}

func offsetOf(doc []byte, line, column int) int {
	offset := 0
	for ; line > 1; line-- {
		next := bytes.IndexByte(doc[offset:], '\n')
		if next < 0 {
			return len(doc)
		}
		offset += next + 1
	}
	for ; column > 1 && offset < len(doc); column-- {
		_, size := utf8.DecodeRune(doc[offset:])
		offset += size
	}
	return offset
}

// pathAt is the JSON path ("a.b[0].c") of the last token that starts at or before offset.
func pathAt(doc []byte, offset int) string {
	type frame struct {
		array   bool
		index   int    // array: the current item
		key     string // object: the current key
		wantKey bool   // object: the next string is a key
	}
	var stack []*frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			switch {
			case f.array:
				fmt.Fprintf(&b, "[%d]", f.index)
			case b.Len() > 0:
				b.WriteString("." + f.key)
			default:
				b.WriteString(f.key)
			}
		}
		return b.String()
	}
	// A complete value moves its container on to the next key or item.
	next := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].wantKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	found := ""
	for {
		// Token() swallows the ',' and ':' before a token; skip them to find where it starts.
		before := int(dec.InputOffset())
		tok, err := dec.Token()
		if err != nil || before+len(doc[before:])-len(bytes.TrimLeft(doc[before:], " \t\r\n,:")) > offset {
			return found
		}
		top := len(stack) - 1
		switch tok {
		case json.Delim('{'), json.Delim('['):
			found = path()
			stack = append(stack, &frame{array: tok == json.Delim('['), wantKey: tok == json.Delim('{')})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:top]
			found = path()
			next()
		default:
			if key, ok := tok.(string); ok && top >= 0 && stack[top].wantKey {
				stack[top].key, stack[top].wantKey = key, false
				found = path()
				continue
			}
			found = path()
			next()
		}
	}
}

func main() {
	type input struct{ kind, file string }
	var inputs []input
	add := func(kind string) func(string) error {
		return func(file string) error { inputs = append(inputs, input{kind, file}); return nil }
	}
	flag.Func("bootstrap", "JSON `file` of an envoy.config.bootstrap.v3.Bootstrap (repeatable; - for stdin)", add("bootstrap"))
	flag.Func("eds", "JSON `file` of an EDS DiscoveryResponse of ClusterLoadAssignments, as path_config_source reads it (repeatable; - for stdin)", add("eds"))
	flag.Parse()
	if flag.NArg() > 0 || len(inputs) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	failed := false
	for _, in := range inputs {
		doc, err := read(in.file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "envoy-api: %v\n", err)
			os.Exit(2)
		}
		c := &checker{file: in.file}
		switch in.kind {
		case "bootstrap":
			c.checkDocument(doc, &bootstrapv3.Bootstrap{})
		case "eds":
			c.checkEds(doc)
		}
		for _, p := range c.problems {
			_ = out.Encode(p)
		}
		failed = failed || len(c.problems) > 0
	}
	if failed {
		os.Exit(1)
	}
}

var claType = "type.googleapis.com/" + string((&endpointv3.ClusterLoadAssignment{}).ProtoReflect().Descriptor().FullName())

// checkEds checks a DiscoveryResponse of an EDS file: Envoy's file subscription for an EDS
// cluster takes only ClusterLoadAssignments from it.
func (c *checker) checkEds(doc []byte) {
	response := &discoveryv3.DiscoveryResponse{}
	if !c.checkDocument(doc, response) {
		return
	}
	if url := response.GetTypeUrl(); url != "" && url != claType {
		c.report("type_url", fmt.Sprintf("is %s, want %s", url, claType))
	}
	for i, resource := range response.GetResources() {
		if resource.GetTypeUrl() != claType {
			c.report(fmt.Sprintf("resources[%d]", i), fmt.Sprintf("is a %s, want %s", resource.GetTypeUrl(), claType))
		}
	}
}

func read(file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(file)
}
