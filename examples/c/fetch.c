/*
 * fetch is a C action (command ABI) that fetches the URL given in its
 * parameters, {"url": "http://..."}, through the host's outbound HTTP and
 * answers {"status": 200, "body": "..."}; a refused host, a timeout or an
 * oversized response answers {"error": "code N: ..."}. The action needs
 * the annotation faasedge-allowed-hosts naming the URL's host.
 *
 *   clang --target=wasm32-wasi -O2 -o fetch.wasm fetch.c
 *   wsk action create fetch fetch.wasm --kind wasm:wasip1 \
 *     -a faasedge-allowed-hosts '["example.com"]'
 */
#include <stdio.h>
#include <string.h>

#include "faasedge.h"

/* json_string prints s as a JSON string. */
static void json_string(const char *s, size_t n) {
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			printf("\\%c", c);
		} else if (c < 0x20) {
			printf("\\u%04x", c);
		} else {
			putchar(c);
		}
	}
	putchar('"');
}

/* param returns the string value of "key" in the one-line JSON object in,
 * without unescaping (URLs need none), or NULL. */
static char *param(char *in, const char *key) {
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\"", key);
	char *p = strstr(in, pat);
	if (p == NULL || (p = strchr(p + strlen(pat), '"')) == NULL) {
		return NULL;
	}
	char *end = strchr(++p, '"');
	if (end == NULL) {
		return NULL;
	}
	*end = 0;
	return p;
}

int main(void) {
	static char in[64 * 1024];
	if (fgets(in, sizeof in, stdin) == NULL) {
		in[0] = 0;
	}
	char *url = param(in, "url");
	if (url == NULL) {
		printf("{\"error\":\"parameter url is required\"}\n");
		return 0;
	}
	/* The Host header: the URL's authority. */
	const char *host = strstr(url, "://");
	host = host ? host + 3 : url;
	size_t host_len = strcspn(host, "/?#");
	char req[8192];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: faasedge-c-example\r\n\r\n", url, (int)host_len, host);
	if (n < 0 || (size_t)n >= sizeof req) {
		printf("{\"error\":\"url too long\"}\n");
		return 0;
	}
	fprintf(stderr, "fetching %s\n", url);
	char *resp, err[FAASEDGE_ERROR_MAX + 1];
	uint32_t len;
	int code = faasedge_http(req, (uint32_t)n, &resp, &len, err);
	if (code != 0) {
		char msg[FAASEDGE_ERROR_MAX + 32];
		snprintf(msg, sizeof msg, "code %d: %s", code, err);
		printf("{\"error\":");
		json_string(msg, strlen(msg));
		printf("}\n");
		return 0;
	}
	int status = 0;
	sscanf(resp, "HTTP/1.1 %d", &status);
	char *body = strstr(resp, "\r\n\r\n");
	body = body ? body + 4 : resp + len;
	printf("{\"status\":%d,\"body\":", status);
	json_string(body, (size_t)(resp + len - body));
	printf("}\n");
	free(resp);
	return 0;
}
