package controller

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/faasedge/faasedge/whisk"
)

// arguments is Context.toActionArgument: the __ow_ metadata, then the
// query, then the body (last wins), refusing a request that sets a
// reserved or final parameter (unless the action takes raw HTTP).
func (wr *webRequest) arguments(owner whisk.Identity, a *resolvedAction) (map[string]json.RawMessage, bool) {
	q := wr.q
	body, ok := readRaw(q, owner.Limits.AllowedMaxPayloadSize())
	if !ok {
		return nil, false
	}
	raw := a.Annotations.Truthy("raw-http", false)
	bodyValue, bodyFields := webBody(q.r.Header.Get("Content-Type"), body, raw)
	query := q.r.URL.Query()
	if !raw {
		forbidden := map[string]bool{}
		for _, k := range webReserved {
			forbidden[k] = true
		}
		if a.Annotations.Truthy("final", false) {
			for _, p := range a.params {
				forbidden[p.Key] = true
			}
		}
		for k := range query {
			if forbidden[k] {
				q.fail(http.StatusBadRequest, msgParametersNotAllowed)
				return nil, false
			}
		}
		for k := range bodyFields {
			if forbidden[k] {
				q.fail(http.StatusBadRequest, msgParametersNotAllowed)
				return nil, false
			}
		}
	}
	args := map[string]json.RawMessage{}
	set := func(k string, v any) { args[k], _ = json.Marshal(v) }
	set("__ow_method", strings.ToLower(q.r.Method))
	headers := map[string]string{}
	for k, v := range q.r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	set("__ow_headers", headers)
	set("__ow_path", wr.path)
	if wr.user != nil {
		set("__ow_user", wr.user.Namespace.Name)
	}
	if raw {
		set("__ow_query", q.r.URL.RawQuery)
		if bodyValue == nil {
			bodyValue = json.RawMessage(`""`)
		}
		args["__ow_body"] = bodyValue
		return args, true
	}
	for k, v := range query {
		set(k, v[0])
	}
	maps.Copy(args, bodyFields)
	if bodyFields == nil && bodyValue != nil {
		args["__ow_body"] = bodyValue
	}
	return args, true
}

// readRaw reads a body of any media type up to max bytes (413 beyond).
func readRaw(q *request, max int64) ([]byte, bool) {
	b, err := io.ReadAll(io.LimitReader(q.r.Body, max+1))
	switch {
	case err != nil:
		q.fail(http.StatusBadRequest, "Failed extracting request body.")
		return nil, false
	case int64(len(b)) > max:
		q.fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request larger than allowed: %d > %d bytes.", len(b), max))
		return nil, false
	}
	return b, true
}

// webBody reads a request body as extractEntityAndProcessRequest does:
// a JSON object or form merges its fields (not for raw HTTP); anything
// else is one value, base64 for binary media (and for JSON, as stock still
// does), text otherwise.
func webBody(ctype string, body []byte, raw bool) (json.RawMessage, map[string]json.RawMessage) {
	if len(body) == 0 {
		return nil, nil
	}
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil || ctype == "" {
		mt = "application/octet-stream"
	}
	if !raw && isJSONMedia(mt) {
		var fields map[string]json.RawMessage
		if json.Unmarshal(body, &fields) == nil {
			return nil, fields
		}
		if json.Valid(body) {
			return json.RawMessage(body), nil
		}
	}
	if !raw && mt == "application/x-www-form-urlencoded" {
		if v, err := url.ParseQuery(string(body)); err == nil {
			fields := map[string]json.RawMessage{}
			for k := range v {
				fields[k], _ = json.Marshal(v.Get(k))
			}
			return nil, fields
		}
	}
	var v []byte
	if isBinaryMedia(mt) || mt == "application/json" {
		v, _ = json.Marshal(base64.StdEncoding.EncodeToString(body))
	} else {
		v, _ = json.Marshal(string(body))
	}
	return v, nil
}

func isJSONMedia(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

// isBinaryMedia follows pekko-http's registry: text, JSON, XML, JavaScript
// and forms are text; the rest of application, and image (but SVG), audio
// and video are binary.
func isBinaryMedia(mt string) bool {
	switch {
	case strings.HasPrefix(mt, "text/"), isJSONMedia(mt), mt == "image/svg+xml",
		strings.HasSuffix(mt, "+xml"), mt == "application/xml", mt == "application/javascript",
		mt == "application/x-www-form-urlencoded":
		return false
	}
	return true
}

// respond is completeRequest: a successful result, or an application
// error's error field, answered through the extension's transcoder.
func (wr *webRequest) respond(act *whisk.Activation) {
	q := wr.q
	var result any
	switch act.Response.StatusCode {
	case whisk.StatusSuccess:
		if json.Unmarshal(act.Response.Result, &result) != nil {
			result = map[string]any{}
		}
	case whisk.StatusApplicationError:
		var fields map[string]any
		_ = json.Unmarshal(act.Response.Result, &fields)
		v, ok := fields["error"]
		if !ok {
			q.fail(http.StatusNotFound, msgPropertyNotFound)
			return
		}
		result = v
	default:
		q.fail(http.StatusBadRequest, msgErrorProcessing)
		return
	}
	switch wr.ext {
	case ".json":
		switch result.(type) {
		case map[string]any, []any:
			q.json(http.StatusOK, result)
		default:
			q.fail(http.StatusBadRequest, "Response is not valid 'application/json'.")
		}
	case ".html":
		wr.textField(result, "html", "text/html; charset=UTF-8")
	case ".svg":
		wr.textField(result, "svg", "image/svg+xml")
	case ".text":
		wr.text(result)
	default:
		wr.http(result)
	}
}

// textField is resultAsHtml and resultAsSvg: body or the named field, a
// string.
func (wr *webRequest) textField(result any, field, ctype string) {
	v := result
	if m, ok := result.(map[string]any); ok {
		if v, ok = m["body"]; !ok {
			v = m[field]
		}
	}
	s, ok := v.(string)
	if !ok {
		mt, _, _ := strings.Cut(ctype, ";")
		wr.q.fail(http.StatusBadRequest, fmt.Sprintf("Response is not valid '%s'.", mt))
		return
	}
	wr.q.w.Header().Set("Content-Type", ctype)
	_, _ = io.WriteString(wr.q.w, s)
}

// text is resultAsText.
func (wr *webRequest) text(result any) {
	v, ok := result, true
	if m, isObj := result.(map[string]any); isObj {
		if v, ok = m["body"]; !ok {
			v, ok = m["text"]
		}
	}
	if !ok {
		wr.q.fail(http.StatusNotFound, msgPropertyNotFound)
		return
	}
	var out string
	switch v := v.(type) {
	case string:
		out = v
	case map[string]any, []any:
		b, _ := json.MarshalIndent(v, "", "  ")
		out = string(b)
	default:
		b, _ := json.Marshal(v)
		out = string(b)
	}
	wr.q.w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	_, _ = io.WriteString(wr.q.w, out)
}

// http is resultAsHttp: statusCode, headers and body of the result.
func (wr *webRequest) http(result any) {
	q := wr.q
	invalid := func() { q.fail(http.StatusBadRequest, "Response is not valid 'message/http'.") }
	m, ok := result.(map[string]any)
	if !ok {
		invalid()
		return
	}
	headers := http.Header{}
	if hs, present := m["headers"]; present {
		obj, ok := hs.(map[string]any)
		if !ok || !headersFromJSON(headers, obj) {
			invalid()
			return
		}
	}
	code := 0
	if sc, present := m["statusCode"]; present {
		var err error
		if code, err = statusCode(sc); err != nil {
			invalid()
			return
		}
	}
	ctype := headers.Get("Content-Type")
	headers.Del("Content-Type")
	body, hasBody := m["body"]
	var entity []byte
	switch b := body.(type) {
	case string:
		if b == "" {
			hasBody = false
			break
		}
		if ctype == "" {
			ctype = "text/html; charset=UTF-8"
		}
		mt, _, err := mime.ParseMediaType(ctype)
		if err != nil {
			q.fail(http.StatusBadRequest, "Response did not specify a known content-type.")
			return
		}
		entity = []byte(b)
		if isBinaryMedia(mt) || (isJSONMedia(mt) && whisk.LooksBase64(b)) {
			if entity, err = base64.StdEncoding.DecodeString(b); err != nil {
				q.fail(http.StatusBadRequest, msgHTTPContentTypeError)
				return
			}
		}
	case nil:
		hasBody = false
	default:
		if ctype == "" {
			ctype = "application/json"
		}
		if mt, _, err := mime.ParseMediaType(ctype); err != nil || !isJSONMedia(mt) {
			q.fail(http.StatusBadRequest, msgHTTPContentTypeError)
			return
		}
		entity, _ = json.Marshal(b)
	}
	for k, vs := range headers {
		q.w.Header()[k] = vs
	}
	if !hasBody {
		q.w.WriteHeader(cmp.Or(code, http.StatusNoContent))
		return
	}
	q.w.Header().Set("Content-Type", ctype)
	q.w.WriteHeader(cmp.Or(code, http.StatusOK))
	_, _ = q.w.Write(entity)
}

// headersFromJSON is headersFromJson: strings, booleans, numbers and
// arrays of them.
func headersFromJSON(h http.Header, obj map[string]any) bool {
	var add func(k string, v any) bool
	add = func(k string, v any) bool {
		switch v := v.(type) {
		case string:
			h.Add(k, v)
		case bool:
			h.Add(k, strconv.FormatBool(v))
		case float64:
			h.Add(k, strconv.FormatFloat(v, 'f', -1, 64))
		case []any:
			for _, x := range v {
				if !add(k, x) {
					return false
				}
			}
		default:
			return false
		}
		return true
	}
	for k, v := range obj {
		if !add(k, v) {
			return false
		}
	}
	return true
}

// statusCode reads statusCode as a whole number or a numeric string.
func statusCode(v any) (int, error) {
	switch v := v.(type) {
	case float64:
		if v != float64(int(v)) || v < 100 || v > 999 {
			return 0, errors.New("illegal status code")
		}
		return int(v), nil
	case string:
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 999 {
			return 0, errors.New("illegal status code")
		}
		return n, nil
	}
	return 0, errors.New("illegal status code")
}
