/*
 * Kubernetes objects to the compact snapshot model.
 *
 * Each item is read field by field into scratch structures allocated from
 * a per-item arena (reset after the item); the stv_snapshot_add_* and
 * stv_snapshot_intern_class functions copy what they keep, and every string
 * is interned in the snapshot's pool. Errors carry the item and the JSON
 * path of the field, built only when an error is reported from a chain of
 * path segments on the stack.
 *
 * This file owns the reader's state and its error messages, the table of
 * the kinds read and the dispatch to each kind's reader (read_*.c), the
 * entry points of snapshot.h, the read statistics and the notes on what
 * was read. snapshot_internal.h lists the other files.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonstream.h"
#include "kubeinput.h"
#include "snapshot_internal.h"

/* ---------------------------------------------------------------------- */
/* JSON paths and error messages                                          */

const struct jpath P_METADATA = {NULL, "metadata", 0};
const struct jpath P_SPEC = {NULL, "spec", 0};
const struct jpath P_STATUS = {NULL, "status", 0};
const struct jpath P_LABELS = {&P_METADATA, "labels", 0};

static void appendv(char *buf, size_t size, size_t *n, const char *fmt, va_list ap) {
  int k;
  if (*n + 1 >= size) return;
  k = vsnprintf(buf + *n, size - *n, fmt, ap);
  if (k < 0) return;
  *n += (size_t)k;
  if (*n >= size) *n = size - 1;
}

static void appendf(char *buf, size_t size, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void appendf(char *buf, size_t size, size_t *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  appendv(buf, size, n, fmt, ap);
  va_end(ap);
}

static void path_put(const struct jpath *p, char *buf, size_t size, size_t *n) {
  if (p == NULL) return;
  path_put(p->up, buf, size, n);
  if (p->key != NULL)
    appendf(buf, size, n, "%s%s", p->up != NULL ? "." : "", p->key);
  else
    appendf(buf, size, n, "[%ld]", p->idx);
}

/* See snapshot_internal.h. */
int stv__fail(struct rd *r, int code, const struct jpath *p, const char *fmt, ...) {
  char msg[STV_ERR_MSG_MAX];
  size_t n = 0;
  va_list ap;
  msg[0] = '\0';
  if (r->kind != NULL) {
    appendf(msg, sizeof(msg), &n, "%s", r->kind);
    if (r->name != NULL)
      appendf(msg, sizeof(msg), &n, " %s%s%s", r->ns != NULL ? r->ns : "", r->ns != NULL ? "/" : "",
              r->name);
  }
  if (n > 0) appendf(msg, sizeof(msg), &n, ": ");
  if (p != NULL) {
    path_put(p, msg, sizeof(msg), &n);
    appendf(msg, sizeof(msg), &n, ": ");
  }
  va_start(ap, fmt);
  appendv(msg, sizeof(msg), &n, fmt, ap);
  va_end(ap);
  stv_err_set(r->err, code, "%s", msg);
  return code;
}

const char *stv__quote(const char *s, struct qbuf *q) {
  size_t n = 0, i;
  q->b[0] = '\0';
  for (i = 0; s[i] != '\0'; i++) {
    unsigned char c = (unsigned char)s[i];
    if (i == QUOTE_MAX) {
      appendf(q->b, sizeof(q->b), &n, "...");
      break;
    }
    if (c == '"' || c == '\\')
      appendf(q->b, sizeof(q->b), &n, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      appendf(q->b, sizeof(q->b), &n, "\\x%02x", c);
    else
      appendf(q->b, sizeof(q->b), &n, "%c", c);
  }
  return q->b;
}

static void count_skipped(struct stv_snapshot_read_stats *st, const char *kind) {
  size_t i;
  st->skipped++;
  for (i = 0; i < st->nkinds; i++)
    if (strncmp(st->kinds[i], kind, sizeof(st->kinds[i]) - 1) == 0) return;
  if (st->nkinds == STV_SNAPSHOT_STATS_KINDS) {
    st->more_kinds = 1;
    return;
  }
  snprintf(st->kinds[st->nkinds], sizeof(st->kinds[0]), "%s", kind);
  st->nkinds++;
}

/* The letter that keys the objects of a kind Stevedore reads, or 0 for a kind it skips. */
static char kind_letter(const char *kind) {
  static const struct {
    const char *kind;
    char letter;
  } kinds[] = {{"Pod", 'P'},
               {"Node", 'N'},
               {"PodDisruptionBudget", 'B'},
               {"Namespace", 'S'},
               {"PersistentVolumeClaim", 'C'},
               {"PersistentVolume", 'V'},
               {"StorageClass", 'K'},
               {"CSINode", 'I'}};
  size_t i;
  for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
    if (strcmp(kind, kinds[i].kind) == 0) return kinds[i].letter;
  return 0;
}

/* Reads one object of the kind letter stands for. */
static int read_kind(struct rd *r, char letter, const cJSON *item, const cJSON *meta) {
  switch (letter) {
  case 'P':
    return stv__read_pod(r, item, meta);
  case 'N':
    return stv__read_node(r, item, meta);
  case 'B':
    return stv__read_pdb(r, item);
  case 'S':
    return stv__read_namespace(r, meta);
  case 'C':
    return stv__read_pvc(r, item, meta);
  case 'V':
    return stv__read_pv(r, item, meta);
  case 'K':
    return stv__read_storage_class(r, item, meta);
  default:
    return stv__read_csinode(r, item);
  }
}

static int read_item(struct rd *r, const cJSON *item) {
  static const struct jpath p_kind = {NULL, "kind", 0};
  static const struct jpath p_name = {&P_METADATA, "name", 0};
  const cJSON *meta;
  const char *kind, *name, *ns;
  int rc, namespaced;
  char letter;

  r->kind = r->ns = r->name = NULL;
  if (r->stats != NULL) r->stats->items++;
  if (!cJSON_IsObject(item)) return stv__fail(r, STV_EPARSE, NULL, "not an object");
  if ((rc = stv__get_str(r, item, "kind", NULL, &kind)) != 0) return rc;
  if (kind == NULL || *kind == '\0') return stv__fail(r, STV_EPARSE, &p_kind, "missing");
  r->kind = kind;
  if ((rc = stv__get(r, item, "metadata", NULL, JT_OBJECT, &meta)) != 0) return rc;
  if ((rc = stv__get_str(r, meta, "name", &P_METADATA, &name)) != 0) return rc;
  if (name == NULL || *name == '\0') return stv__fail(r, STV_EPARSE, &p_name, "missing");
  if ((rc = stv__get_str(r, meta, "namespace", &P_METADATA, &ns)) != 0) return rc;
  namespaced = strcmp(kind, "Pod") == 0 || strcmp(kind, "PodDisruptionBudget") == 0;
  namespaced |= strcmp(kind, "PersistentVolumeClaim") == 0;
  if (namespaced && (ns == NULL || *ns == '\0')) ns = "default";
  if (ns != NULL && *ns == '\0') ns = NULL;
  if (strcmp(kind, "Node") == 0 || strcmp(kind, "Namespace") == 0) ns = NULL;
  if (strcmp(kind, "PersistentVolume") == 0 || strcmp(kind, "StorageClass") == 0 ||
      strcmp(kind, "CSINode") == 0)
    ns = NULL;
  r->ns = ns;
  r->name = name;
  r->replace = -1;
  if (r->stats != NULL) r->stats->replaced_pod = r->stats->replaced_node = -1;

  if ((letter = kind_letter(kind)) != 0) {
    /* An object read twice counts once: skipped when identical, else the newer version kept. */
    size_t before = stv__kind_count(r->s, letter);
    int skip;
    if ((rc = stv__seen_check(r, item, meta, letter, &skip)) != 0 || skip) return rc;
    if ((rc = read_kind(r, letter, item, meta)) != 0) return rc;
    /* Pods and nodes replace their earlier version in place; storage records are unlinked. */
    if (r->replace >= 0 && strchr("CVKI", letter) != NULL)
      stv__unlink_replaced_storage(r->s, letter, ns != NULL ? ns : "", name);
    return stv__seen_commit(r, letter, before);
  }
  if (r->stats != NULL) count_skipped(r->stats, kind);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Entry points                                                           */

/* Starts a reader of objects into s with the scratch arena tmp (initialised here). */
static void rd_init(struct rd *r, struct stv_snapshot *s, struct stv_arena *tmp,
                    struct stv_snapshot_read_stats *stats, struct stv_err *err) {
  stv_arena_init(tmp);
  memset(r, 0, sizeof(*r));
  r->s = s;
  r->tmp = tmp;
  r->stats = stats;
  r->err = err;
}

/* Reads the item at index (borrowed) with the reader ctx, then frees its scratch memory. */
static int on_item(void *ctx, long index, const cJSON *item, struct stv_err *err) {
  struct rd *r = ctx;
  int rc;
  r->index = index;
  r->err = err;
  rc = read_item(r, item);
  stv_arena_reset(r->tmp);
  return rc;
}

int stv_snapshot_add_item_stats(struct stv_snapshot *s, const cJSON *item,
                                struct stv_snapshot_read_stats *stats, struct stv_err *err) {
  struct stv_arena tmp;
  struct rd r;
  rd_init(&r, s, &tmp, stats, err);
  return on_item(&r, 0, item, err);
}

int stv_snapshot_add_item(struct stv_snapshot *s, const cJSON *item, struct stv_err *err) {
  return stv_snapshot_add_item_stats(s, item, NULL, err);
}

int stv_snapshot_read_file_stats(struct stv_snapshot *s, const char *path,
                                 struct stv_snapshot_read_stats *stats, struct stv_err *err) {
  struct stv_arena tmp;
  struct rd r;
  int rc;
  rd_init(&r, s, &tmp, stats, err);
  r.path = path;
  rc = stv_kube_read(path, on_item, &r, stats, err);
  stv_arena_reset(&tmp);
  return rc;
}

int stv_snapshot_read_file(struct stv_snapshot *s, const char *path, struct stv_err *err) {
  return stv_snapshot_read_file_stats(s, path, NULL, err);
}

char *stv_snapshot_read_stats_format(const struct stv_snapshot_read_stats *st, char *buf,
                                     size_t size) {
  size_t n = 0;
  if (size == 0) return buf;
  buf[0] = '\0';
  if (st->skipped > 0) {
    size_t i;
    appendf(buf, size, &n, "skipped %zu item%s of kind%s ", st->skipped,
            st->skipped == 1 ? "" : "s", st->nkinds + (size_t)st->more_kinds > 1 ? "s" : "");
    for (i = 0; i < st->nkinds; i++)
      appendf(buf, size, &n, "%s%s", i > 0 ? ", " : "", st->kinds[i]);
    if (st->more_kinds) appendf(buf, size, &n, ", ...");
  }
  if (st->finished_pods > 0)
    appendf(buf, size, &n, "%s%zu finished pod%s (Succeeded or Failed)", n > 0 ? "; " : "skipped ",
            st->finished_pods, st->finished_pods == 1 ? "" : "s");
  if (st->condition_nodes > 0) {
    size_t i, shown = sizeof(st->condition_examples) / sizeof(st->condition_examples[0]);
    if (shown > st->condition_nodes) shown = st->condition_nodes;
    appendf(buf, size, &n, "%s%zu node%s tainted by %s conditions (", n > 0 ? "; " : "", st->condition_nodes,
            st->condition_nodes == 1 ? "" : "s", st->condition_nodes == 1 ? "its" : "their");
    for (i = 0; i < shown; i++) appendf(buf, size, &n, "%s%s", i > 0 ? ", " : "", st->condition_examples[i]);
    appendf(buf, size, &n, "%s) take%s only pods that tolerate those taints",
            st->condition_nodes > shown ? ", ..." : "", st->condition_nodes == 1 ? "s" : "");
  }
  if (st->dup_identical > 0)
    appendf(buf, size, &n, "%s%zu identical duplicate%s (read once)", n > 0 ? "; " : "skipped ",
            st->dup_identical, st->dup_identical == 1 ? "" : "s");
  if (st->ignored_files > 0) {
    size_t i;
    appendf(buf, size, &n, "%s%zu file%s of the cluster-info dump (", n > 0 ? "; " : "skipped ",
            st->ignored_files, st->ignored_files == 1 ? "" : "s");
    for (i = 0; i < st->nignored_names; i++)
      appendf(buf, size, &n, "%s%s", i > 0 ? ", " : "", st->ignored_names[i]);
    appendf(buf, size, &n, "%s)", st->more_ignored_names ? ", ..." : "");
  }
  if (st->log_blocks > 0)
    appendf(buf, size, &n, "%s%zu container log block%s of the cluster-info dump", n > 0 ? "; " : "skipped ",
            st->log_blocks, st->log_blocks == 1 ? "" : "s");
  return buf;
}

/* ---------------------------------------------------------------------- */
/* Notes on what was read                                                 */

/* How many objects a note names before "...". */
#define NOTE_NAMES 3

int stv_snapshot_notes(const struct stv_snapshot *s, const struct stv_snapshot_read_stats *st, int for_report,
                       stv_snapshot_note_fn note, void *ctx) {
  char msg[1024];
  size_t n = 0, i, k = 0, pending = 0;
  int rc;

  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    if (p->flags & STV_POD_NODE_MISSING) {
      if (k < NOTE_NAMES)
        appendf(msg, sizeof(msg), &n, "%s%s/%s on %s", k > 0 ? ", " : "", p->ns, p->name, p->node_name);
      k++;
    } else if (p->node < 0 && p->phase != STV_PHASE_SUCCEEDED && p->phase != STV_PHASE_FAILED &&
               !(p->flags & STV_POD_HEADROOM)) {
      pending++;
    }
  }
  if (k > 0) {
    char head[1280];
    snprintf(head, sizeof(head),
             "%zu pod%s bound to %s missing from the snapshot (%s%s): nodes and pods are not listed at the "
             "same instant; %s",
             k, k == 1 ? " is" : "s are", k == 1 ? "a node" : "nodes", msg, k > NOTE_NAMES ? ", ..." : "",
             for_report ? "their requests are not attributed to any priced node"
                        : "left out of the plan (neither pending nor on a known node)");
    if ((rc = note(ctx, head)) != 0) return rc;
  }
  if (s->nnodes == 0 && pending > 0 && !for_report) {
    if ((rc =
             note(ctx, "the snapshot has no nodes: existing capacity was not given, so the plan may buy more "
                       "than needed (give the nodes too: kubectl get nodes,pods -A -o json)")) != 0)
      return rc;
  }
  if (st == NULL) return 0;
  if (st->nodes_no_capacity > 0) {
    n = 0;
    msg[0] = '\0';
    for (i = 0;
         i < st->nodes_no_capacity && i < sizeof(st->no_capacity_names) / sizeof(st->no_capacity_names[0]);
         i++)
      appendf(msg, sizeof(msg), &n, "%s%s", i > 0 ? ", " : "", st->no_capacity_names[i]);
    {
      char head[1280];
      snprintf(head, sizeof(head),
               "%zu node%s without status.allocatable or status.capacity (%s%s) read as full: no pod fits "
               "there, as kube-scheduler sees zero allocatable",
               st->nodes_no_capacity, st->nodes_no_capacity == 1 ? "" : "s", msg,
               st->nodes_no_capacity > i ? ", ..." : "");
      if ((rc = note(ctx, head)) != 0) return rc;
    }
  }
  if (st->dup_replaced > 0) {
    char head[1280];
    n = 0;
    msg[0] = '\0';
    for (i = 0; i < st->dup_replaced && i < sizeof(st->dup_examples) / sizeof(st->dup_examples[0]); i++)
      appendf(msg, sizeof(msg), &n, "%s%s", i > 0 ? "; " : "", st->dup_examples[i]);
    snprintf(head, sizeof(head),
             "%zu object%s read twice in different versions, the newer resourceVersion kept: %s%s",
             st->dup_replaced, st->dup_replaced == 1 ? "" : "s", msg, st->dup_replaced > i ? "; ..." : "");
    if ((rc = note(ctx, head)) != 0) return rc;
  }
  return 0;
}
