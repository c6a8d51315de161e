package ring

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// MaxRunLogsMB caps the log limit of a remote run: whatever the action
// allows, an edge node keeps at most this much of its logs (OpenWhisk's
// default maximum), so that a reply fits one MaxRunMessage frame beside a
// result of up to the payload limit.
const MaxRunLogsMB = whisk.DefaultLogsMB

// MaxRunPayload caps a remote run's result size (Invocation.MaxPayload),
// which bounds what the edge node holds of the result: four times
// OpenWhisk's default payload limit. A result that still does not fit the
// frame once encoded becomes the stock truncated-response error
// (encodeRunReply).
const MaxRunPayload = 4 * whisk.PayloadMax

// runPayload is the result size limit of a run: the caller's, 0 meaning
// whisk.PayloadMax, at most MaxRunPayload.
func runPayload(max int64) int64 {
	if max <= 0 {
		return whisk.PayloadMax
	}
	return min(max, MaxRunPayload)
}

// runLimits are the limits a run executes under on a lease of leaseMB: a
// zero timeout is the default one; memory 0 is the memory an action
// declares when it declares none (256 MB), never more than the lease; logs
// at most MaxRunLogsMB; concurrency at least 1.
func runLimits(req whisk.Limits, leaseMB int) whisk.Limits {
	l := req
	if l.Timeout <= 0 {
		l.Timeout = whisk.DefaultTimeoutMs
	}
	if l.Memory <= 0 {
		l.Memory = min(whisk.DefaultMemoryMB, int64(leaseMB))
	}
	l.Logs = min(max(l.Logs, 0), MaxRunLogsMB)
	l.Concurrency = max(l.Concurrency, 1)
	return l
}

// runShareKB is what one run takes of its lease, in KB: its memory, shared
// among the runs one instance of the action serves at once (an action of
// 128 MB and concurrency 4 takes 32 MB a run), as OpenWhisk shares one
// container's memory among its concurrent activations.
func runShareKB(l whisk.Limits) int64 {
	return l.Memory << 10 / int64(l.Concurrency)
}

// encodeRunReply encodes a run's result in at most room bytes. Logs that
// do not fit are cut as the stock collector cuts them: the lines that fit
// are kept, then the truncation notice. A result that does not fit even
// without logs (an executor that ignored the payload limit) becomes the
// stock truncated-response error.
func encodeRunReply(res activation.Result, room int) ([]byte, error) {
	lines := res.Logs
	res.Logs = nil
	base, err := marshalRun(res)
	if err != nil {
		return nil, err
	}
	if len(base) > room/2 {
		n := len(res.Response.Result)
		res.Response = whisk.ErrorResponse(whisk.StatusDeveloperError, whisk.MsgTruncatedResponse(int64(n), int64(room/2), ""))
		if base, err = marshalRun(res); err != nil {
			return nil, err
		}
	}
	// Measure line by line rather than encode everything first: logs that
	// grow sixfold in JSON would take a buffer of several frames.
	logRoom := room - len(base) - len(`,"logs":[]`)
	notice := whisk.FormatNoticeLine(time.Now(), whisk.MsgLogsTruncated(int64(logRoom)))
	used, kept := jsonLen(notice), 0
	for _, l := range lines {
		n := jsonLen(l) + 1 // and a comma
		if used+n > logRoom {
			break
		}
		used += n
		kept++
	}
	res.Logs = lines
	if kept < len(lines) {
		res.Logs = append(lines[:kept:kept], notice)
	}
	return marshalRun(res)
}

func marshalRun(res activation.Result) ([]byte, error) {
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("ring: encode run reply: %w", err)
	}
	return b, nil
}

// jsonLen is the length of s as a JSON string.
func jsonLen(s string) int {
	b, _ := json.Marshal(s)
	return len(b)
}
