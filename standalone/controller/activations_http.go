package controller

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

var activationIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (c *Controller) activationHTTP(q *request) {
	if q.r.Method != http.MethodGet {
		q.methodNotAllowed("GET")
		return
	}
	aid := q.r.PathValue("aid")
	if len(aid) != 32 {
		q.fail(http.StatusBadRequest, fmt.Sprintf("Activation id length is %d but must be 32.", len(aid)))
		return
	}
	if !activationIDRE.MatchString(aid) {
		q.fail(http.StatusBadRequest, msgActivationIDBad)
		return
	}
	d, err := c.activations.get(q.r.Context(), q.ns, aid)
	if err != nil {
		q.failErr(c, err)
		return
	}
	switch q.r.PathValue("part") {
	case "":
		q.json(http.StatusOK, toExtended(d.Activation))
	case "result":
		q.json(http.StatusOK, extend(d.Response))
	case "logs":
		logs := d.Logs
		if logs == nil {
			logs = []string{}
		}
		q.json(http.StatusOK, map[string][]string{"logs": logs})
	default:
		q.fail(http.StatusNotFound, msgRouteNotFound)
	}
}

func (c *Controller) listActivationsHTTP(q *request) {
	if q.r.Method != http.MethodGet {
		q.methodNotAllowed("GET")
		return
	}
	skip, limit, count, ok := listParams(q, "activations")
	if !ok {
		return
	}
	v := q.r.URL.Query()
	docs := v.Get("docs") == "true"
	if count && docs {
		q.fail(http.StatusBadRequest, "The parameter 'docs' is not permitted with 'count'.")
		return
	}
	f := activationFilter{name: strings.Trim(v.Get("name"), "/")}
	for key, dst := range map[string]*int64{"since": &f.since, "upto": &f.upto} {
		if s := v.Get(key); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				q.fail(http.StatusBadRequest, "Parameter is not a valid value for epoch seconds: "+s)
				return
			}
			*dst = n
		}
	}
	all, err := c.activations.list(q.r.Context(), q.ns, f)
	if err != nil {
		q.failErr(c, err)
		return
	}
	if count {
		q.json(http.StatusOK, map[string]int{"activations": len(page(all, skip, 0))})
		return
	}
	sel := page(all, skip, limit)
	if docs {
		out := make([]extendedActivation, len(sel))
		for i, d := range sel {
			out[i] = toExtended(d.Activation)
		}
		q.json(http.StatusOK, out)
		return
	}
	out := make([]activationSummary, len(sel))
	for i, d := range sel {
		out[i] = summarize(d.Activation)
	}
	q.json(http.StatusOK, out)
}
