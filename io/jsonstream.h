/*
 * jsonstream: reads a Kubernetes List document (what `kubectl get
 * nodes,pods -A -o json` prints) one item at a time, so that memory is
 * bounded by the largest item rather than by the document, which may be
 * a gigabyte:
 *
 *   {"apiVersion":"v1","items":[{...},{...},...],"kind":"List",...}
 *
 * A byte scanner follows the top-level object; each element of its
 * "items" array is cut out and parsed with cJSON on its own, and the
 * other members are checked and skipped. A document without an "items"
 * member is a single object and is delivered whole.
 *
 * Error messages name the input and, where there is one, the item:
 *   snap.json: items[12]: malformed JSON at line 40, column 7: expected ',' or
 * '}' Lines and columns count from 1 over the whole input; columns count bytes.
 * Codes: STV_EPARSE for malformed or unexpected input, STV_ELIMIT for an item
 * (or single object) larger than STV_JSON_ITEM_MAX, STV_ENOMEM when an
 * allocation fails, -errno for system errors.
 */
#ifndef STV_JSONSTREAM_H
#define STV_JSONSTREAM_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"

/* Largest item, or single-object document, the reader accepts: 64 MiB. */
#define STV_JSON_ITEM_MAX ((size_t)64 << 20)

/* Nesting the reader accepts inside an item, as cJSON does. */
#define STV_JSON_DEPTH_MAX 1000

/*
 * Makes cJSON allocate through stv_malloc/stv_free, so that allocation
 * failures can be injected in tests and are reported as STV_ENOMEM. The
 * hooks are process-global and apply to every cJSON user in the process
 * (cJSON then grows print buffers by malloc and copy instead of realloc).
 * Idempotent; the stream functions call it themselves, but main should
 * call it once before starting threads.
 */
void stv_json_init(void);

/*
 * Called once per item, in document order. item is owned by the reader
 * and freed after the callback returns; nothing of it may be kept.
 * index is the position in "items", or -1 for a document that is a
 * single object (no top-level "items" array). Return 0 to go on, or a
 * negative STV_ code (with err filled) to stop; the reader returns that
 * code (a positive return stops with STV_EINVAL). err is never NULL. The
 * reader prefixes the callback's message with "<name>: items[<index>] "
 * (or "<name>: " for index -1), so the callback starts its message with
 * the object: "Pod team-a/web-5: spec.containers[0]...".
 */
typedef int (*stv_json_item_cb)(void *ctx, long index, const cJSON *item,
                                struct stv_err *err);

/*
 * Reads path ("-" = standard input, named "<stdin>" in messages) in
 * chunks and calls cb for each item of its "items" array, or once with
 * index -1 when the document has no "items" member. path, ctx and err
 * are borrowed; err may be NULL. cb may be NULL: the document is then
 * only checked.
 *
 * Accepted: one JSON object, optionally after a UTF-8 byte order mark,
 * with whitespace anywhere, followed by nothing but whitespace. Errors
 * (err->msg, after "<name>: "):
 *   "cannot open: <strerror>", "read error: <strerror>"         -errno
 *   "is a directory"                                            -EISDIR
 *   "empty file" (no bytes, or only whitespace)                 STV_EPARSE
 *   "top level is not a JSON object"                            STV_EPARSE
 *   "\"items\" is not an array"                                 STV_EPARSE
 *   "duplicate \"items\" at line L, column C"                   STV_EPARSE
 *   "items[3]: not a JSON object"                               STV_EPARSE
 *   "items[12]: malformed JSON at line L, column C: why"        STV_EPARSE
 *   "malformed JSON at line L, column C: why" (outside items)   STV_EPARSE
 *   "truncated after items[41]", "truncated before items[0]",
 *   "truncated at line L, column C"                             STV_EPARSE
 *   "trailing garbage after the document at line L, column C"
 *                                                               STV_EPARSE
 *   "items[9]: item larger than 64 MiB"                         STV_ELIMIT
 *   "single object larger than 64 MiB" (no "items" seen)        STV_ELIMIT
 *   "member \"metadata\" larger than 64 MiB"                    STV_ELIMIT
 *   "items[3]: out of memory"                                   STV_ENOMEM
 * Items are checked by cJSON, which also accepts a few non-standard forms
 * (raw control characters in strings, leading zeros); the other members
 * of the top-level object are checked strictly (RFC 8259).
 *
 * Items are delivered as they are read, so cb may have been called for
 * earlier items when an error is returned (a syntax error further on,
 * trailing garbage). A single object is delivered only once the whole
 * input has been checked. Returns 0 when the whole document was read.
 */
int stv_json_stream_file(const char *path, stv_json_item_cb cb, void *ctx,
                         struct stv_err *err);

/*
 * Same over the memory buffer buf[0..len) (borrowed, need not be
 * NUL-terminated; may be NULL when len is 0), for tests and embedded
 * data. name (borrowed) stands for the path in messages.
 */
int stv_json_stream_buffer(const char *name, const char *buf, size_t len,
                           stv_json_item_cb cb, void *ctx, struct stv_err *err);

/*
 * Same over prefix[0..prefix_len) (borrowed: bytes already read from fd,
 * e.g. to tell JSON from YAML) followed by the rest of the open file
 * descriptor fd (borrowed, not closed). name (borrowed) stands for the path
 * in messages.
 */
int stv_json_stream_fd(const char *name, int fd, const char *prefix, size_t prefix_len,
                       stv_json_item_cb cb, void *ctx, struct stv_err *err);

/*
 * As stv_json_stream_fd, over a stream of several JSON documents one after
 * the other, as `kubectl cluster-info dump` prints them to standard output
 * (a NodeList, then per namespace its lists), with container log blocks
 * between them ("==== START logs for container C of pod NS/P ====" up to
 * its "==== END logs ..." line), which are skipped and counted in
 * *log_blocks (borrowed, not NULL). Each document is a list or a single
 * object; messages name documents after the first "<name> document <n>".
 * Anything else after a document is trailing garbage, as before.
 */
int stv_json_stream_fd_multi(const char *name, int fd, const char *prefix, size_t prefix_len,
                             size_t *log_blocks, stv_json_item_cb cb, void *ctx, struct stv_err *err);

/*
 * Gives item (borrowed, changed in place) the kind of its list when it has
 * none: the items of a typed list ("PodList", "NodeList", ...: what the API
 * server returns, `kubectl get --raw /api/v1/pods`) carry no kind of their
 * own; the item kind is the list's without "List". Does nothing for a plain
 * "List" (kubectl's, whose items carry their kinds), for a NULL list_kind or
 * when the item has a kind. The stream reader calls it for each item of a
 * list whose top-level "kind" comes before "items", as the API server writes
 * it. Returns 0 or STV_ENOMEM.
 */
int stv_json_fill_item_kind(cJSON *item, const char *list_kind);

/*
 * Test hook: sets the size of each read (process-global, not
 * thread-safe); 0 restores the default of 1 MiB, and sizes above
 * STV_JSON_ITEM_MAX count as that. Tests use small sizes to put chunk
 * boundaries everywhere.
 */
void stv_json_stream_set_chunk(size_t size);

/*
 * Push mode: the caller hands over bytes as they arrive (an HTTP body in
 * the chunks libcurl delivers, a watch stream), split anywhere, and the
 * same scanner as above runs over them, keeping only the bytes of the
 * current item or member. Beyond the pull mode it can find the items
 * one level deeper, take items of any JSON type, show each item's bytes
 * before they are parsed, and hand over the other members parsed.
 */

/*
 * Called with the other members of the top-level object, and of the
 * object on the path to the items ("data" in "data.result"), in document
 * order, each parsed on its own: name is the member's path ("status",
 * "data.resultType"; a name longer than 63 bytes is cut), value is owned
 * by the reader and freed when the callback returns. Return 0 to go on,
 * or a negative STV_ code with err filled, which the reader returns as
 * it is (a positive return stops with STV_EINVAL).
 */
typedef int (*stv_json_member_cb)(void *ctx, const char *name, const cJSON *value,
                                  struct stv_err *err);

/*
 * Sees item number index as the bytes text[0..len) (an item cut out of
 * the input, its syntax not yet checked) before it is parsed: return 1
 * when it took the item (it is then not parsed), 0 to have it parsed and
 * handed to the item callback, or a negative STV_ code with err filled,
 * which the reader returns as it is.
 */
typedef int (*stv_json_raw_cb)(void *ctx, long index, const char *text, size_t len,
                               struct stv_err *err);

struct stv_json_push_opts {
  const char *name;  /* stands for the input in messages (copied, cut at 255 bytes) */
  const char *items; /* where the items are: NULL or "items", "data", "data.result"
                        (one or two member names); messages name items by it:
                        "data.result[3]: ..." */
  int any_items;     /* items may be strings, numbers, literals or arrays */
  stv_json_item_cb item;     /* as in the pull mode; may be NULL */
  stv_json_raw_cb raw;       /* may be NULL */
  stv_json_member_cb member; /* may be NULL */
  void *ctx;
};

struct stv_json_push;

/*
 * A reader for one document. o and the strings in it are read during the
 * call only. With a member callback, a document without the items is no
 * single object: its members are all handed to the member callback, and
 * a member on the items path of another type than expected (an object on
 * the way, an array at the end) is handed over like any other. Returns 0,
 * STV_EINVAL for a bad path or STV_ENOMEM.
 */
int stv_json_push_new(struct stv_json_push **out, const struct stv_json_push_opts *o,
                      struct stv_err *err);

/*
 * Scans buf[0..len) (borrowed; need not be NUL-terminated), calling the
 * callbacks for the items and members that end in it. Errors are those of
 * stv_json_stream_buffer; after an error every call returns it again.
 */
int stv_json_push_feed(struct stv_json_push *p, const void *buf, size_t len, struct stv_err *err);

/*
 * The input has ended: checks that the document is complete (a single
 * object is delivered now). Returns 0 when the whole document was read.
 */
int stv_json_push_finish(struct stv_json_push *p, struct stv_err *err);

void stv_json_push_free(struct stv_json_push *p);

/* 1 when the items array has begun (an empty one too), else 0. */
int stv_json_push_seen_items(const struct stv_json_push *p);


/*
 * Sequence mode: a stream of JSON values one after the other, pushed as the
 * bytes arrive, as a Kubernetes watch sends its events (one object a line,
 * {"type":"ADDED","object":{...}}), split anywhere across the pieces or
 * several in one. Each value is handed to the callback, parsed, as soon as
 * its last byte is in; only the bytes of the current value are kept, so
 * memory is bounded by the largest value (and the limit below), whatever
 * the length of the stream. Values may be separated by whitespace or by
 * nothing ({}{}); a number or literal ends at the first byte that cannot
 * continue it, or at the end of the input. A byte order mark is not
 * skipped (an API server never sends one).
 *
 * Messages name the stream, the value by its number in the stream (from
 * 1) and positions as line and column of the whole stream (from 1, columns
 * in bytes), e.g.:
 *   watch /api/v1/pods: event 12: malformed JSON at line 12, column 88: expected ',' or '}'
 *   watch /api/v1/pods: event 3 (begun at line 3, column 1) is larger than the limit of
 *     16777216 bytes (16.0 MiB)                                          STV_ELIMIT
 *   watch /api/v1/pods: event 4 (begun at line 4, column 1) is not a JSON object
 *   watch /api/v1/pods: truncated inside event 5 (begun at line 5, column 1)  (finish)
 *   watch /api/v1/pods: event 6: <the callback's message>
 * After an error no later value is delivered and every call returns the
 * same error.
 */

/*
 * Largest value the sequence mode accepts unless told otherwise: 16 MiB.
 * The API server takes request bodies of at most 3 MiB (MaxRequestBodyBytes,
 * twice etcd's 1.5 MiB object limit), so a watch event, one object in an
 * envelope, is far below it.
 */
#define STV_JSON_VALUE_MAX ((size_t)16 << 20)

/*
 * Called once per value, in stream order; n is its number in the stream,
 * from 1. value is owned by the reader and freed when the callback returns,
 * and cJSON allocates from the reader's arena meanwhile: nothing cJSON
 * allocates during the call may outlive it. Return 0 to go on, or a
 * negative STV_ code with err filled (a positive return stops with
 * STV_EINVAL); the reader returns it with "<name>: <what> <n>: " before
 * the message.
 */
typedef int (*stv_json_value_cb)(void *ctx, uint64_t n, const cJSON *value, struct stv_err *err);

struct stv_json_seq_opts {
  const char *name;        /* the stream in messages (copied, cut at 255 bytes); NULL: "<stream>" */
  const char *what;        /* a value in messages (copied, cut at 31 bytes); NULL: "value" */
  size_t max_value;        /* largest value in bytes; 0: STV_JSON_VALUE_MAX */
  int any_values;          /* values may be arrays, strings, numbers, literals; else objects only */
  stv_json_value_cb value; /* may be NULL: the stream is then only checked */
  void *ctx;
};

struct stv_json_seq;

/* A reader for one stream; o and its strings are read during the call only. Returns 0 or STV_ENOMEM. */
int stv_json_seq_new(struct stv_json_seq **out, const struct stv_json_seq_opts *o, struct stv_err *err);

/*
 * Scans buf[0..len) (borrowed; need not be NUL-terminated), calling the
 * callback for each value that ends in it. Returns 0 or the first error
 * (STV_EPARSE, STV_ELIMIT, STV_ENOMEM, or the callback's code); err may be
 * NULL.
 */
int stv_json_seq_feed(struct stv_json_seq *s, const void *buf, size_t len, struct stv_err *err);

/*
 * The input has ended: a number or literal still open is delivered; a value
 * begun and not ended is STV_EPARSE "truncated inside ...". An empty stream
 * is fine. Returns 0 or the error.
 */
int stv_json_seq_finish(struct stv_json_seq *s, struct stv_err *err);

/* Values handed to the callback so far. */
uint64_t stv_json_seq_count(const struct stv_json_seq *s);

/* 1 while a value has begun and not ended, else 0. */
int stv_json_seq_inside(const struct stv_json_seq *s);

/* Frees s (may be NULL); not from inside its own callback. */
void stv_json_seq_free(struct stv_json_seq *s);

#endif
