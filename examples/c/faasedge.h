/*
 * faasedge.h: the FaaS@Edge host capabilities for C actions (clang
 * --target=wasm32-wasi with wasi-libc). The executor package's
 * documentation is the ABI's reference: each call returns the length of
 * its result, which the host holds until faasedge_result takes it, or a
 * negated error code, with the error's text held the same way.
 */
#ifndef FAASEDGE_H
#define FAASEDGE_H

#include <stdint.h>
#include <stdlib.h>

#define FAASEDGE_IMPORT(name) __attribute__((import_module("faasedge"), import_name(name)))

FAASEDGE_IMPORT("result") uint32_t faasedge_result(void *buf, uint32_t cap);
FAASEDGE_IMPORT("http_request") int64_t faasedge_http_request(const void *req, uint32_t len);

/* The error codes. */
enum {
	FAASEDGE_NOT_ALLOWED = 1, /* host not in faasedge-allowed-hosts */
	FAASEDGE_DNS = 2,         /* the host name did not resolve */
	FAASEDGE_TIMEOUT = 3,     /* the activation's HTTP time budget ran out */
	FAASEDGE_TOO_LARGE = 4,   /* over the activation's HTTP byte budget */
	FAASEDGE_BAD_REQUEST = 5, /* malformed request */
	FAASEDGE_UNAVAILABLE = 6, /* the connection failed */
	FAASEDGE_NOT_FOUND = 7,   /* no such key */
};

/* Error texts are at most this long. */
#define FAASEDGE_ERROR_MAX 1024

/*
 * faasedge_take takes the result of a call that returned n: on success
 * (n >= 0) a malloc'd buffer of n bytes (plus a NUL) in *out; on failure
 * the error code, with its text in err (NUL-terminated).
 */
static inline int faasedge_take(int64_t n, char **out, uint32_t *out_len, char err[FAASEDGE_ERROR_MAX + 1]) {
	if (n < 0) {
		uint32_t m = faasedge_result(err, FAASEDGE_ERROR_MAX);
		err[m] = 0;
		return (int)-n;
	}
	*out = malloc((size_t)n + 1);
	if (*out == NULL) {
		abort();
	}
	*out_len = faasedge_result(*out, (uint32_t)n);
	(*out)[*out_len] = 0;
	return 0;
}

/*
 * faasedge_http sends req, an HTTP/1.1 request with an absolute URL
 * ("GET http://host/path HTTP/1.1\r\nHost: host\r\n\r\n"), and returns 0
 * with the HTTP/1.1 response (with a Content-Length) in *resp, or an
 * error code with its text in err.
 */
static inline int faasedge_http(const char *req, uint32_t len, char **resp, uint32_t *resp_len, char err[FAASEDGE_ERROR_MAX + 1]) {
	return faasedge_take(faasedge_http_request(req, len), resp, resp_len, err);
}

#endif
