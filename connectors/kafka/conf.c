/* Kafka connectors' shared configuration: `properties:` for librdkafka, secrets, logging. */
#include "connectors/kafka/conf.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "core/log.h"

enum { PROP_MAX = 256, VALUE_MAX = 64 * 1024 };

bool sl_kafka_secret_key(const char *key)
{
	static const char *const words[] = {"password", "secret", "sasl.oauthbearer.config",
					    "ssl.key.pem", "ssl_key", "ssl.keystore", "token",
					    NULL};
	for (const char *const *w = words; *w; w++)
		if (strstr(key, *w))
			return true;
	return false;
}

/*
 * Values of secrets handed to librdkafka, so that its log lines can be
 * scrubbed of them whatever it decides to print. Registered once per value,
 * never freed before exit (a handful of short strings).
 */
static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[64];
static uint32_t n_secrets;

static void secret_remember(const char *v)
{
	if (!v[0])
		return;
	pthread_mutex_lock(&secrets_lock);
	bool known = false;
	for (uint32_t i = 0; i < n_secrets && !known; i++)
		known = strcmp(secrets[i], v) == 0;
	if (!known && n_secrets < sizeof(secrets) / sizeof(secrets[0])) {
		char *c = strdup(v);
		if (c)
			secrets[n_secrets++] = c;
	}
	pthread_mutex_unlock(&secrets_lock);
}

/* Replaces every registered secret in s (NUL-terminated, capacity cap). */
static void secret_scrub(char *s, size_t cap)
{
	pthread_mutex_lock(&secrets_lock);
	for (uint32_t i = 0; i < n_secrets; i++) {
		size_t sl = strlen(secrets[i]);
		char *p;
		while ((p = strstr(s, secrets[i])) != NULL) {
			static const char mask[] = "***";
			size_t tail = strlen(p + sl) + 1;
			if ((size_t)(p - s) + 3 + tail > cap)
				break;
			memmove(p + 3, p + sl, tail);
			memcpy(p, mask, 3);
		}
	}
	pthread_mutex_unlock(&secrets_lock);
}

static char *read_value_file(const char *path, char *err, size_t cap)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, cap, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(VALUE_MAX + 1);
	size_t n = buf ? fread(buf, 1, VALUE_MAX + 1, f) : 0;
	bool bad = ferror(f);
	fclose(f);
	if (!buf || bad || n > VALUE_MAX) {
		snprintf(err, cap, "%s: %s", path,
			 !buf ? "out of memory" : bad ? "read error" : "larger than 64 KiB");
		if (buf)
			explicit_bzero(buf, n < VALUE_MAX + 1 ? n : VALUE_MAX + 1);
		free(buf);
		return NULL;
	}
	if (n && buf[n - 1] == '\n')
		n--;
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return buf;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* The value of one property node: a scalar, {env: NAME} or {file: PATH}. */
static int prop_value(struct sl_cfg_node *v, const char *who, const char *key, char **out,
		      struct sl_diag *d)
{
	*out = NULL;
	if (v->type == SL_CFG_SCALAR) {
		*out = strndup(v->str, v->len);
		return *out ? 0 : -ENOMEM;
	}
	if (v->type != SL_CFG_MAP || v->n != 1 || v->vals[0]->type != SL_CFG_SCALAR)
		return sl_diag_error(d, v->pos,
				     "%s: property '%s' must be a string, {env: NAME} or {file: PATH}",
				     who, key);
	const char *kind = v->keys[0]->str;
	const char *arg = v->vals[0]->str;
	v->keys[0]->used = v->vals[0]->used = true;
	if (strcmp(kind, "env") == 0) {
		const char *e = getenv(arg);
		if (!e)
			return sl_diag_error(d, v->vals[0]->pos,
					     "%s: property '%s': environment variable %s is not set",
					     who, key, arg);
		*out = strdup(e);
		return *out ? 0 : -ENOMEM;
	}
	if (strcmp(kind, "file") == 0) {
		char err[512];
		*out = read_value_file(arg, err, sizeof(err));
		if (!*out)
			return sl_diag_error(d, v->vals[0]->pos, "%s: property '%s': %s", who, key,
					     err);
		return 0;
	}
	return sl_diag_error(d, v->keys[0]->pos,
			     "%s: property '%s': unknown value source '%s' (expected env or file)",
			     who, key, kind);
}

/* librdkafka's message for a rejected setting may quote the value: keep it
 * out for secrets. */
static void conf_error(char *err, size_t cap, const char *key, bool secret, const char *msg)
{
	if (secret)
		snprintf(err, cap, "invalid value for '%s' (not shown: secret)", key);
	else
		snprintf(err, cap, "%s", msg);
}

int sl_kafka_props_read(struct sl_cfg_doc *doc, struct sl_cfg_node *props, const char *who,
			struct sl_kafka_props *out, struct sl_diag *d)
{
	(void)doc;
	*out = (struct sl_kafka_props){0};
	if (!props || props->type == SL_CFG_NULL)
		return 0;
	if (props->type != SL_CFG_MAP)
		return sl_diag_error(d, props->pos,
				     "%s: properties must be a map of librdkafka settings", who);
	if (props->n > PROP_MAX)
		return sl_diag_error(d, props->pos, "%s: more than %d properties", who, PROP_MAX);
	out->v = calloc(props->n ? props->n : 1, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	rd_kafka_conf_t *probe = rd_kafka_conf_new();
	int rc = 0;
	for (uint32_t i = 0; i < props->n; i++) {
		struct sl_cfg_node *k = props->keys[i];
		struct sl_cfg_node *v = props->vals[i];
		k->used = v->used = true;
		if (strcmp(k->str, "bootstrap.servers") == 0 || strcmp(k->str, "metadata.broker.list") == 0) {
			rc = sl_diag_error(d, k->pos, "%s: set the brokers with `brokers:`, not %s",
					   who, k->str);
			continue;
		}
		char *val;
		int e = prop_value(v, who, k->str, &val, d);
		if (e) {
			rc = e;
			continue;
		}
		struct sl_kafka_prop *p = &out->v[out->n++];
		p->key = k->str;
		p->val = val;
		p->pos = k->pos;
		p->secret = sl_kafka_secret_key(k->str) || v->type == SL_CFG_MAP;
		char msg[512];
		if (rd_kafka_conf_set(probe, p->key, p->val, msg, sizeof(msg)) != RD_KAFKA_CONF_OK) {
			char shown[600];
			conf_error(shown, sizeof(shown), p->key, p->secret, msg);
			rc = sl_diag_error(d, k->pos, "%s: property '%s': %s", who, p->key, shown);
		}
	}
	rd_kafka_conf_destroy(probe);
	if (rc)
		sl_kafka_props_free(out);
	return rc;
}

void sl_kafka_props_free(struct sl_kafka_props *p)
{
	for (uint32_t i = 0; i < p->n; i++)
		wipe_free(p->v[i].val);
	free(p->v);
	*p = (struct sl_kafka_props){0};
}

const char *sl_kafka_props_get(const struct sl_kafka_props *p, const char *key)
{
	for (uint32_t i = p->n; i-- > 0;)
		if (strcmp(p->v[i].key, key) == 0)
			return p->v[i].val;
	return NULL;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	enum sl_log_level l = level <= LOG_ERR       ? SL_LOG_ERROR
			      : level <= LOG_WARNING ? SL_LOG_WARN
			      : level <= LOG_INFO    ? SL_LOG_INFO
						     : SL_LOG_DEBUG;
	if (!sl_log_enabled(l))
		return;
	char line[1024];
	snprintf(line, sizeof(line), "%s", buf);
	secret_scrub(line, sizeof(line));
	sl_log(l, -1, rd_kafka_name(rk), "librdkafka %s: %s", fac, line);
}

static int conf_pairs(rd_kafka_conf_t *c, const char *const *kv, char *err, size_t cap)
{
	for (; kv && kv[0]; kv += 2) {
		char msg[512];
		if (rd_kafka_conf_set(c, kv[0], kv[1], msg, sizeof(msg)) != RD_KAFKA_CONF_OK) {
			conf_error(err, cap, kv[0], sl_kafka_secret_key(kv[0]), msg);
			return -EINVAL;
		}
	}
	return 0;
}

rd_kafka_conf_t *sl_kafka_conf(const char *brokers, const struct sl_kafka_props *p,
			       const char *const *first, const char *const *last, const char *node,
			       char *err, size_t cap)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char msg[512];
	char client_id[128];
	snprintf(client_id, sizeof(client_id), "sluice-%s", node ? node : "kafka");
	rd_kafka_conf_set_log_cb(c, log_cb);
	if (rd_kafka_conf_set(c, "client.id", client_id, msg, sizeof(msg)) != RD_KAFKA_CONF_OK ||
	    (brokers && rd_kafka_conf_set(c, "bootstrap.servers", brokers, msg, sizeof(msg)) !=
				RD_KAFKA_CONF_OK)) {
		snprintf(err, cap, "%s", msg);
		goto fail;
	}
	if (conf_pairs(c, first, err, cap))
		goto fail;
	for (uint32_t i = 0; p && i < p->n; i++) {
		if (p->v[i].secret)
			secret_remember(p->v[i].val);
		if (rd_kafka_conf_set(c, p->v[i].key, p->v[i].val, msg, sizeof(msg)) !=
		    RD_KAFKA_CONF_OK) {
			conf_error(err, cap, p->v[i].key, p->v[i].secret, msg);
			goto fail;
		}
	}
	if (conf_pairs(c, last, err, cap))
		goto fail;
	return c;
fail:
	rd_kafka_conf_destroy(c);
	return NULL;
}
