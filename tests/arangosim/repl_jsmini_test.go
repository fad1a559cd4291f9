package arangosim

// A tiny interpreter for the arangosh subset the recorded fixtures' scripts
// use (var/let/const, string/number/object/array literals, +, member access,
// calls, try/catch, db/users/analyzers/replication helpers). It re-creates a
// fixture's preconditions against a simulated cluster over HTTP and builds
// the fixture's requests from the script itself, so ids, replKeys and revisions
// are the replay's own. Anything it does not understand evaluates to
// undefined and is counted, never guessed.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

type jsTok struct {
	kind byte // 's' string, 'n' number, 'i' identifier, 'p' punctuation, 0 end
	text string
	num  float64
}

func jsLex(src string) ([]jsTok, error) {
	var out []jsTok
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				return nil, errors.New("unterminated comment")
			}
			i += j + 4
		case c == '"' || c == '\'' || c == '`':
			var b strings.Builder
			j := i + 1
			for ; j < len(src) && src[j] != c; j++ {
				if src[j] == '\\' && j+1 < len(src) {
					j++
					switch src[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'u':
						if j+4 < len(src) {
							if v, err := strconv.ParseUint(src[j+1:j+5], 16, 32); err == nil {
								b.WriteRune(rune(v))
								j += 4
								continue
							}
						}
						b.WriteByte('u')
					default:
						b.WriteByte(src[j])
					}
					continue
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, errors.New("unterminated string")
			}
			out = append(out, jsTok{kind: 's', text: b.String()})
			i = j + 1
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' || src[j] == 'e' || src[j] == 'E') {
				j++
			}
			v, err := strconv.ParseFloat(src[i:j], 64)
			if err != nil {
				return nil, err
			}
			out = append(out, jsTok{kind: 'n', text: src[i:j], num: v})
			i = j
		case c == '_' || c == '$' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(src) && (src[j] == '_' || src[j] == '$' || unicode.IsLetter(rune(src[j])) || unicode.IsDigit(rune(src[j]))) {
				j++
			}
			out = append(out, jsTok{kind: 'i', text: src[i:j]})
			i = j
		default:
			for _, op := range []string{"===", "!==", "==", "!=", "&&", "||", "++", "--", "+=", "=>", "<=", ">="} {
				if strings.HasPrefix(src[i:], op) {
					out = append(out, jsTok{kind: 'p', text: op})
					i += len(op)
					goto next
				}
			}
			out = append(out, jsTok{kind: 'p', text: string(c)})
			i++
		next:
		}
	}
	return append(out, jsTok{}), nil
}

// jsUndefined is the value of anything the interpreter does not model.
type jsUndefined struct{}

// jsFunc is a callable value: a host method bound to its receiver.
type jsFunc func(args []any) any

// jsHost is an object with host methods and properties.
type jsHost interface {
	get(name string) any
}

type jsInterp struct {
	toks    []jsTok
	pos     int
	vars    map[string]any
	globals func(name string) (any, bool)
	unknown int
}

func (in *jsInterp) peek() jsTok { return in.toks[in.pos] }
func (in *jsInterp) next() jsTok {
	t := in.toks[in.pos]
	if t.kind != 0 {
		in.pos++
	}
	return t
}
func (in *jsInterp) is(text string) bool {
	t := in.peek()
	return (t.kind == 'p' || t.kind == 'i') && t.text == text
}
func (in *jsInterp) accept(text string) bool {
	if in.is(text) {
		in.pos++
		return true
	}
	return false
}
func (in *jsInterp) expect(text string) error {
	if !in.accept(text) {
		return fmt.Errorf("expected %q at token %d (%q)", text, in.pos, in.peek().text)
	}
	return nil
}

// run executes statements until the end.
func (in *jsInterp) run() error {
	for in.peek().kind != 0 {
		if err := in.statement(true); err != nil {
			return err
		}
	}
	return nil
}

// skipBlock skips a balanced { ... } block.
func (in *jsInterp) skipBlock() error {
	if err := in.expect("{"); err != nil {
		return err
	}
	depth := 1
	for depth > 0 {
		t := in.next()
		switch {
		case t.kind == 0:
			return errors.New("unbalanced block")
		case t.kind == 'p' && t.text == "{":
			depth++
		case t.kind == 'p' && t.text == "}":
			depth--
		}
	}
	return nil
}

func (in *jsInterp) block(exec bool) error {
	if !exec {
		return in.skipBlock()
	}
	if err := in.expect("{"); err != nil {
		return err
	}
	for !in.is("}") {
		if in.peek().kind == 0 {
			return errors.New("unterminated block")
		}
		if err := in.statement(true); err != nil {
			return err
		}
	}
	in.pos++
	return nil
}

func (in *jsInterp) statement(exec bool) error {
	switch {
	case in.accept(";"):
		return nil
	case in.is("{"):
		return in.block(exec)
	case in.accept("try"):
		if err := in.block(exec); err != nil {
			return err
		}
		if in.accept("catch") {
			if in.accept("(") {
				for !in.accept(")") {
					if in.next().kind == 0 {
						return errors.New("unterminated catch clause")
					}
				}
			}
			if err := in.block(false); err != nil {
				return err
			}
		}
		if in.accept("finally") {
			return in.block(exec)
		}
		return nil
	case in.is("for") || in.is("while") || in.is("if") || in.is("function"):
		// Control flow is not modelled: skip the header and the body.
		in.unknown++
		in.next()
		if in.peek().kind == 'i' {
			in.next()
		}
		depth := 0
		for {
			t := in.next()
			if t.kind == 0 {
				return nil
			}
			if t.text == "(" {
				depth++
			}
			if t.text == ")" {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		if in.is("{") {
			if err := in.skipBlock(); err != nil {
				return err
			}
		} else {
			in.skipToStatementEnd()
		}
		for in.accept("else") {
			if in.accept("if") {
				in.skipParens()
			}
			if in.is("{") {
				_ = in.skipBlock()
			} else {
				in.skipToStatementEnd()
			}
		}
		return nil
	case in.is("var") || in.is("let") || in.is("const"):
		in.next()
		for {
			name := in.next()
			if name.kind != 'i' {
				return fmt.Errorf("bad declaration at %q", name.text)
			}
			var v any = jsUndefined{}
			if in.accept("=") {
				x, err := in.expr()
				if err != nil {
					return err
				}
				v = x
			}
			in.vars[name.text] = v
			if !in.accept(",") {
				break
			}
		}
		in.accept(";")
		return nil
	}
	if _, err := in.expr(); err != nil {
		return err
	}
	in.accept(";")
	return nil
}

func (in *jsInterp) skipParens() {
	depth := 0
	for {
		t := in.next()
		if t.kind == 0 {
			return
		}
		if t.text == "(" {
			depth++
		}
		if t.text == ")" {
			depth--
			if depth <= 0 {
				return
			}
		}
	}
}

func (in *jsInterp) skipToStatementEnd() {
	for t := in.peek(); t.kind != 0 && (t.kind != 'p' || t.text != ";"); t = in.peek() {
		in.next()
	}
	in.accept(";")
}

// expr parses an assignment or a sum.
func (in *jsInterp) expr() (any, error) {
	start := in.pos
	v, err := in.sum()
	if err != nil {
		return nil, err
	}
	if in.accept("=") || in.accept("+=") {
		// Assignment to a simple name is modelled; anything else is evaluated and dropped.
		rhs, err := in.expr()
		if err != nil {
			return nil, err
		}
		if in.toks[start].kind == 'i' && in.pos > start && in.toks[start+1].text == "=" {
			in.vars[in.toks[start].text] = rhs
		}
		return rhs, nil
	}
	for in.is("===") || in.is("!==") || in.is("==") || in.is("!=") || in.is("&&") || in.is("||") || in.is("<") || in.is(">") {
		in.next()
		if _, err := in.sum(); err != nil {
			return nil, err
		}
		v = jsUndefined{}
	}
	if in.accept("?") {
		a, err := in.expr()
		if err != nil {
			return nil, err
		}
		if err := in.expect(":"); err != nil {
			return nil, err
		}
		if _, err := in.expr(); err != nil {
			return nil, err
		}
		v = a
	}
	return v, nil
}

func (in *jsInterp) sum() (any, error) {
	v, err := in.unary()
	if err != nil {
		return nil, err
	}
	for in.is("+") || in.is("-") || in.is("*") || in.is("/") {
		op := in.next().text
		w, err := in.unary()
		if err != nil {
			return nil, err
		}
		v = jsArith(op, v, w)
	}
	return v, nil
}

func jsArith(op string, a, b any) any {
	if op == "+" {
		_, as := a.(string)
		_, bs := b.(string)
		if as || bs {
			return jsString(a) + jsString(b)
		}
	}
	x, ok1 := a.(float64)
	y, ok2 := b.(float64)
	if !ok1 || !ok2 {
		return jsUndefined{}
	}
	switch op {
	case "+":
		return x + y
	case "-":
		return x - y
	case "*":
		return x * y
	}
	return x / y
}

// jsString converts a value like JavaScript's String().
func jsString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	case jsUndefined:
		return "undefined"
	}
	return fmt.Sprint(v)
}

func (in *jsInterp) unary() (any, error) {
	if in.accept("-") {
		v, err := in.unary()
		if f, ok := v.(float64); ok {
			return -f, err
		}
		return jsUndefined{}, err
	}
	if in.accept("!") {
		_, err := in.unary()
		return jsUndefined{}, err
	}
	if in.accept("new") {
		return in.postfix()
	}
	if in.accept("typeof") {
		_, err := in.unary()
		return jsUndefined{}, err
	}
	return in.postfix()
}

func (in *jsInterp) postfix() (any, error) {
	v, err := in.primary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case in.accept("."):
			name := in.next()
			if name.kind != 'i' {
				return nil, fmt.Errorf("bad member name %q", name.text)
			}
			v = in.member(v, name.text)
		case in.accept("["):
			k, err := in.expr()
			if err != nil {
				return nil, err
			}
			if err := in.expect("]"); err != nil {
				return nil, err
			}
			v = in.member(v, jsString(k))
		case in.accept("("):
			var args []any
			for !in.accept(")") {
				a, err := in.expr()
				if err != nil {
					return nil, err
				}
				args = append(args, a)
				if !in.accept(",") {
					if err := in.expect(")"); err != nil {
						return nil, err
					}
					break
				}
			}
			if f, ok := v.(jsFunc); ok {
				v = f(args)
			} else {
				in.unknown++
				v = jsUndefined{}
			}
		case in.is("++") || in.is("--"):
			in.next()
		default:
			return v, nil
		}
	}
}

func (in *jsInterp) member(v any, name string) any {
	switch x := v.(type) {
	case map[string]any:
		if m, ok := x[name]; ok {
			return m
		}
	case []any:
		if i, err := strconv.Atoi(name); err == nil && i >= 0 && i < len(x) {
			return x[i]
		}
		if name == "length" {
			return float64(len(x))
		}
	case string:
		if name == "length" {
			return float64(len(x))
		}
	case jsHost:
		return x.get(name)
	}
	in.unknown++
	return jsUndefined{}
}

func (in *jsInterp) primary() (any, error) {
	t := in.next()
	switch t.kind {
	case 's':
		return t.text, nil
	case 'n':
		return t.num, nil
	case 'i':
		switch t.text {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		case "undefined":
			return jsUndefined{}, nil
		case "function":
			in.skipParens()
			return jsFunc(func([]any) any { return jsUndefined{} }), in.skipBlock()
		}
		if v, ok := in.vars[t.text]; ok {
			return v, nil
		}
		if v, ok := in.globals(t.text); ok {
			return v, nil
		}
		in.unknown++
		return jsUndefined{}, nil
	case 'p':
		switch t.text {
		case "(":
			v, err := in.expr()
			if err != nil {
				return nil, err
			}
			if in.accept("=>") { // arrow function: skip
				if in.is("{") {
					return jsUndefined{}, in.skipBlock()
				}
				_, err := in.expr()
				return jsUndefined{}, err
			}
			return v, in.expect(")")
		case "[":
			arr := []any{}
			for !in.accept("]") {
				v, err := in.expr()
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
				if !in.accept(",") {
					if err := in.expect("]"); err != nil {
						return nil, err
					}
					break
				}
			}
			return arr, nil
		case "{":
			m := map[string]any{}
			for !in.accept("}") {
				k := in.next()
				if k.kind != 'i' && k.kind != 's' && k.kind != 'n' {
					return nil, fmt.Errorf("bad object key %q", k.text)
				}
				if err := in.expect(":"); err != nil {
					return nil, err
				}
				v, err := in.expr()
				if err != nil {
					return nil, err
				}
				m[k.text] = v
				if !in.accept(",") {
					if err := in.expect("}"); err != nil {
						return nil, err
					}
					break
				}
			}
			return m, nil
		}
	}
	return nil, fmt.Errorf("unexpected token %q", t.text)
}

// FuzzJSMini checks that the script interpreter terminates without panicking
// on any input (it reads the fixtures' scripts, which are data).
func FuzzJSMini(f *testing.F) {
	f.Add(`var cn = "products"; db._drop(cn); var x = { a: [1, 'b', {c: null}] }; try { f(x.a[2].c + "s"); } catch (e) {}`)
	f.Add(`for (i = 0; i < 3; i++) { x = i; } if (a) b(); else { c(); } function g() { return 1; }`)
	f.Add("var s = `t\\u0041`; /* c */ // d\n var t = -s.length * 2;")
	f.Fuzz(func(t *testing.T, src string) {
		toks, err := jsLex(src)
		if err != nil {
			return
		}
		calls := 0
		in := &jsInterp{toks: toks, vars: map[string]any{}, globals: func(name string) (any, bool) {
			if name == "f" {
				return jsFunc(func([]any) any { calls++; return map[string]any{"k": "v"} }), true
			}
			return nil, false
		}}
		_ = in.run()
	})
}
