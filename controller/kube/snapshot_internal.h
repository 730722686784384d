/*
 * snapshot_internal.h: what the files of the object reader share (not part
 * of the public API, which is snapshot.h).
 *
 * The reader is split by responsibility:
 *   snapshot.c       the reader's state and error messages, the kinds table
 *                    and dispatch, the entry points, statistics and notes
 *   read_fields.c    labels, selectors, node selector terms, enumerations
 *                    shared by several kinds
 *   read_resources.c quantities, resource lists, a pod's effective requests
 *   read_pod.c       pods: scheduling constraints, owner, host ports,
 *                    scheduling fields
 *   read_node.c      nodes: taints, conditions, capacity
 *   read_policy.c    PodDisruptionBudgets and Namespaces
 *   read_storage.c   claims, volumes, storage classes, CSINodes, and the
 *                    volumes each pod uses
 *   volumes.c        stv_snapshot_resolve_volumes: claims to constraints
 *   dedupe.c         the same object read twice
 *
 * Small accessors that every reader calls for each field are static inline
 * here; the rest are stv__ functions with one definition each.
 */
#ifndef STV_SNAPSHOT_INTERNAL_H
#define STV_SNAPSHOT_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "snapshot.h"

/* ---------------------------------------------------------------------- */
/* The reader's state and error messages (snapshot.c)                     */

/* One segment of a JSON path: ".key", or "[idx]" when key is NULL. */
struct jpath {
  const struct jpath *up;
  const char *key;
  long idx;
};

/* The longest key of an object in the seen map; longer names the API refuses. */
#define SEEN_KEY_MAX 600

/* What is being read, for error messages. */
struct rd {
  struct stv_snapshot *s;
  struct stv_arena *tmp; /* per-item scratch */
  struct stv_snapshot_read_stats *stats;
  struct stv_err *err;
  const char *kind; /* the item's, NULL until known */
  const char *ns;   /* NULL for cluster-scoped kinds */
  const char *name;
  const char *path;     /* the file being read, NULL for single items */
  long index;           /* the item's index in it */
  long replace;         /* index of the earlier version this item replaces, or -1 */
  struct stv_seen seen; /* this item's version (rv, uid borrowed from the item until kept) */
  /* The item's key in s->seen ("<letter> <ns>/<name>", nkey 0: not tracked) and its entry, if any. */
  char key[SEEN_KEY_MAX];
  size_t nkey;
  struct stv_strmap_ent *seen_ent;
};

/* The top-level paths every kind starts from. */
extern const struct jpath P_METADATA, P_SPEC, P_STATUS, P_LABELS;

/*
 * Sets r->err to code and "<Kind> <ns>/<name>: <path>: <message>", leaving
 * out the parts not known; returns code. The stream reader puts
 * "<file>: items[<i>] " in front.
 */
int stv__fail(struct rd *r, int code, const struct jpath *p, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline int stv__oom(struct rd *r) {
  return stv__fail(r, STV_ENOMEM, NULL, "out of memory");
}

/* A value quoted for a message: escaped, and cut after QUOTE_MAX bytes. */
#define QUOTE_MAX 64
struct qbuf {
  char b[4 * QUOTE_MAX + 8];
};

/* s (borrowed) quoted into q; returns q->b. */
const char *stv__quote(const char *s, struct qbuf *q);

/* Fails with the error code rc of a stv_snapshot_* call: STV_ENOMEM as out of memory. */
static inline int stv__fail_rc(struct rd *r, int rc) {
  return rc == STV_ENOMEM ? stv__oom(r) : stv__fail(r, rc, NULL, "%s", stv_strerror(rc));
}

/* ---------------------------------------------------------------------- */
/* Memory                                                                 */

/* str interned in the snapshot's pool; NULL when out of memory. */
static inline const char *stv__intern(struct rd *r, const char *str) {
  return stv_strpool_get(&r->s->pool, str);
}

/* Scratch array of n > 0 elements, zeroed; NULL when out of memory. */
static inline void *stv__scratch(struct rd *r, size_t n, size_t elem) {
  if (n == 0) n = 1;
  if (n > SIZE_MAX / elem) return NULL;
  return stv_arena_alloc(r->tmp, n * elem);
}

/* ---------------------------------------------------------------------- */
/* Typed access to JSON members; JSON null counts as absent               */

enum jtype { JT_OBJECT, JT_ARRAY, JT_STRING, JT_BOOL, JT_NUMBER };

/* c's JSON type (cJSON_Object, cJSON_String, ...); 0 for NULL. */
static inline int stv__jtype(const cJSON *c) {
  return c != NULL ? c->type & 0xff : 0;
}

static inline int stv__jtype_is(const cJSON *c, enum jtype t) {
  switch (t) {
  case JT_OBJECT:
    return stv__jtype(c) == cJSON_Object;
  case JT_ARRAY:
    return stv__jtype(c) == cJSON_Array;
  case JT_STRING:
    return stv__jtype(c) == cJSON_String && c->valuestring != NULL;
  case JT_BOOL:
    return stv__jtype(c) == cJSON_True || stv__jtype(c) == cJSON_False;
  case JT_NUMBER:
    return stv__jtype(c) == cJSON_Number;
  }
  return 0;
}

/*
 * obj.key (the first member of that name, as cJSON_GetObjectItemCaseSensitive
 * finds it), or NULL when obj is NULL, has no such member or it is JSON
 * null. Comparing the first byte before the whole name spares most calls
 * of strcmp: this runs a few dozen times for every object read.
 */
static inline const cJSON *stv__member(const cJSON *obj, const char *key) {
  const cJSON *c;
  if (obj == NULL) return NULL;
  for (c = obj->child; c != NULL; c = c->next)
    if (c->string != NULL && c->string[0] == key[0] && strcmp(c->string, key) == 0) break;
  return c != NULL && stv__jtype(c) != cJSON_NULL ? c : NULL;
}

/* Fails for obj.key (at up) not being of type t. */
int stv__fail_type(struct rd *r, const struct jpath *up, const char *key, enum jtype t);

/* Sets *out to obj.key when present; fails when it has another type. */
static inline int stv__get(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up,
                           enum jtype t, const cJSON **out) {
  const cJSON *c = stv__member(obj, key);
  *out = NULL;
  if (c == NULL) return 0;
  if (!stv__jtype_is(c, t)) return stv__fail_type(r, up, key, t);
  *out = c;
  return 0;
}

/* An optional string member; *out is NULL when absent. */
static inline int stv__get_str(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up,
                               const char **out) {
  const cJSON *c;
  int rc = stv__get(r, obj, key, up, JT_STRING, &c);
  *out = c != NULL ? c->valuestring : NULL;
  return rc;
}

/* A required, non-empty string member. */
int stv__need_str(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up, const char **out);

static inline int stv__get_bool(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up,
                                int *out) {
  const cJSON *c;
  int rc = stv__get(r, obj, key, up, JT_BOOL, &c);
  *out = c != NULL && cJSON_IsTrue(c);
  return rc;
}

/* An optional 32-bit integer member; *present says whether it was there. */
int stv__get_int32(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up, int *present,
                   int32_t *out);

/* Checks that every element of the array a (may be NULL) is a string. */
int stv__check_strings(struct rd *r, const cJSON *a, const struct jpath *p);

static inline uint32_t stv__array_len(const cJSON *a) {
  return a != NULL ? (uint32_t)cJSON_GetArraySize(a) : 0;
}

/* Reads one element e (an object, at path p) of an array into slot, with ctx (borrowed). */
typedef int stv__elem_fn(struct rd *r, const cJSON *e, const struct jpath *p, const void *ctx, void *slot);

/*
 * Reads the array arr (at p; may be NULL) of objects with one, element i
 * into slot i of a scratch array of elements of size elem (zeroed); *n
 * counts them. Returns the array, NULL when arr is absent or empty, and
 * sets *rc to 0 or to the first error (an element that is not an object
 * is STV_EPARSE).
 */
void *stv__read_list(struct rd *r, const cJSON *arr, const struct jpath *p, size_t elem, stv__elem_fn *one,
                     const void *ctx, uint32_t *n, int *rc);

/* ---------------------------------------------------------------------- */
/* Labels, selectors, enumerations (read_fields.c)                        */

/* Orders labels by key. */
int stv__label_cmp(const void *a, const void *b);

/* Reads a map of strings (obj may be NULL) as a sorted label set. */
int stv__read_string_map(struct rd *r, const cJSON *obj, const struct jpath *p, struct stv_labels *out);

/* A one-value requirement "key In (value)" or "key NotIn (value)". */
int stv__one_value_req(struct rd *r, const char *key, enum stv_op op, const char *value,
                       struct stv_requirement *out);

/* Turns a sorted map into "key In (value)" requirements; reserves extra. */
int stv__map_to_reqs(struct rd *r, const struct stv_labels *m, uint32_t extra, struct stv_selector *out);

/* Parses a whole decimal int64, as strconv.ParseInt(s, 10, 64) does. */
int stv__is_int64(const char *s);

/*
 * Reads a metav1.LabelSelector object: matchLabels (as In requirements in
 * key order) then matchExpressions, with room for extra more requirements.
 */
int stv__read_label_selector(struct rd *r, const cJSON *obj, const struct jpath *p, uint32_t extra,
                             struct stv_selector *out);

/* What a list of nodeSelectorTerms is read for. */
enum terms_use {
  TERMS_POD,       /* a pod's required node affinity: every term */
  TERMS_DAEMONSET, /* a DaemonSet pod's: matchFields (the per-node pin) dropped */
  TERMS_VOLUME     /* a PersistentVolume's: a term with matchFields matches no node */
};

/*
 * Reads nodeSelectorTerms (terms, at path pt; NULL when absent) into out:
 * the OR of terms, each matchExpressions AND matchFields.
 */
int stv__read_selector_terms(struct rd *r, const cJSON *terms, const struct jpath *pt, enum terms_use use,
                             struct stv_node_affinity *out);

/* Reads a string member that must be one of two words; *out is its index. */
int stv__read_choice(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up, const char *a,
                     const char *b, int dflt, int *out);

/* An effect name; empty is allowed (all effects) only when all is set. */
int stv__parse_effect(struct rd *r, const char *v, const struct jpath *p, int all, enum stv_effect *out);

/* ---------------------------------------------------------------------- */
/* Resources (read_resources.c)                                           */

/* A resource vector and which of its dimensions were named. */
struct resv {
  int64_t v[STV_MAX_RES];
  uint32_t has;
};

/*
 * Reads a ResourceList (obj may be NULL) into out, one dimension per name:
 * cpu in millicores and the rest in whole units, rounded up, or every
 * resource in thousandths when all_milli is set. Names present in skip
 * (when not NULL) are checked but left out. A zero amount of a name not
 * yet known adds no dimension: it changes nothing.
 */
int stv__read_reslist(struct rd *r, const cJSON *obj, const struct jpath *p, const cJSON *skip, int all_milli,
                      struct resv *out);

/* A pod's effective requests (see read_resources.c) into req. */
int stv__pod_requests(struct rd *r, const cJSON *spec, const struct jpath *ps, int64_t req[STV_MAX_RES]);

/* ---------------------------------------------------------------------- */
/* Storage records (read_storage.c, resolved by volumes.c)                */

/*
 * Claims, volumes, storage classes and CSINodes may come in any order and
 * in several files, so they are kept as read (in the snapshot's arena, in
 * lists) and turned into constraints on pod classes by
 * stv_snapshot_resolve_volumes once everything is read.
 */

/* A zone or region label of a volume: key In values ("a__b" is a set). */
struct vol_zone {
  const char *key;
  uint32_t n;
  const char **values;
};

struct vol_pv {
  struct vol_pv *next;
  const char *name, *cls;       /* cls "" when none */
  const char *driver;           /* CSI driver (in-tree sources migrated), or NULL */
  struct stv_node_affinity aff; /* spec.nodeAffinity.required; n == 0: none */
  uint32_t nzones;
  struct vol_zone *zones;
  const char *claim_ns, *claim_name; /* spec.claimRef, NULL when none */
  int available;                     /* status.phase Available */
  int nowhere;                       /* every term of its node affinity has matchFields: no node matches */
};

struct vol_pvc {
  struct vol_pvc *next;
  const char *ns, *name;
  const char *volume; /* spec.volumeName, NULL when unbound */
  const char *cls;    /* storage class, NULL when not set ("" = none) */
  int deleting;       /* metadata.deletionTimestamp set */
};

struct vol_class {
  struct vol_class *next;
  const char *name, *provisioner, *created;
  int wffc;                      /* volumeBindingMode WaitForFirstConsumer */
  int is_default;                /* storageclass.kubernetes.io/is-default-class: "true" */
  struct stv_node_affinity topo; /* allowedTopologies; n == 0: anywhere */
};

struct vol_csinode {
  struct vol_csinode *next;
  const char *node;
  uint32_t n;
  const char **driver;
  int64_t *count; /* allocatable.count, -1 when not reported */
  uint32_t nkeys;
  const char **keys; /* the drivers' topologyKeys */
};

/* One volume of a pod that the storage rules look at. */
struct vol_ref {
  long index;          /* in spec.volumes */
  const char *claim;   /* claim name; NULL for an inline volume */
  int ephemeral;       /* generic ephemeral volume: claim <pod>-<volume> */
  const char *eph_cls; /* its template's storageClassName, NULL when not set */
  const char *driver;  /* inline CSI or in-tree volume: its (CSI) driver */
  const char *handle;  /* ... and the volume's identity */
};

struct vol_pod {
  struct vol_pod *next;
  const char *where; /* "<file>: items[<i>] " for messages, or "" */
  uint32_t pod;      /* index into s->pods */
  uint32_t n;
  struct vol_ref *refs;
};

struct stv_snapshot_volumes {
  struct vol_pv *pvs;
  struct vol_pvc *pvcs;
  struct vol_class *classes;
  struct vol_csinode *csinodes;
  struct vol_pod *pods;
  size_t npvs, npvcs, nclasses, ncsinodes, npods;
  int resolved;
};

/*
 * The CSI driver that serves an in-tree plugin since CSI migration (GA for
 * these), as kube-scheduler counts them: "kubernetes.io/aws-ebs" is
 * ebs.csi.aws.com. Other names are returned unchanged.
 */
const char *stv__migrated_driver(const char *name);

/*
 * Records the volumes of pod pod_index (its spec.volumes, vols, checked to
 * be objects already) that the storage rules look at: claims, generic
 * ephemeral volumes, and inline volumes of attachable drivers.
 */
int stv__record_pod_volumes(struct rd *r, const cJSON *vols, uint32_t pod_index);

/* ---------------------------------------------------------------------- */
/* The readers of each kind: item and its metadata (borrowed) into r->s   */

int stv__read_pod(struct rd *r, const cJSON *item, const cJSON *meta);
int stv__read_node(struct rd *r, const cJSON *item, const cJSON *meta);
int stv__read_pdb(struct rd *r, const cJSON *item);
int stv__read_namespace(struct rd *r, const cJSON *meta);
int stv__read_pvc(struct rd *r, const cJSON *item, const cJSON *meta);
int stv__read_pv(struct rd *r, const cJSON *item, const cJSON *meta);
int stv__read_storage_class(struct rd *r, const cJSON *item, const cJSON *meta);
int stv__read_csinode(struct rd *r, const cJSON *item);

/* ---------------------------------------------------------------------- */
/* The same object twice (dedupe.c)                                       */

/* Number of objects of the kind with this letter: the index a new one gets. */
size_t stv__kind_count(const struct stv_snapshot *s, char letter);

/*
 * Looks item up among the objects read before. Identical: *skip. A
 * different version: the newer is kept, and r->replace says which earlier
 * object a newer one replaces.
 */
int stv__seen_check(struct rd *r, const cJSON *item, const cJSON *meta, char letter, int *skip);

/* Records the item just read (when it was kept) as seen; before is stv__kind_count before it. */
int stv__seen_commit(struct rd *r, char letter, size_t before);

/* Drops the storage record of kind letter called ns/name that the item just read replaces. */
void stv__unlink_replaced_storage(struct stv_snapshot *s, char letter, const char *ns, const char *name);

#endif
