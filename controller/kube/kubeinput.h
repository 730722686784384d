/*
 * kubeinput: every shape in which Kubernetes objects reach Stevedore, turned
 * into one item callback (the stream reader's, jsonstream.h):
 *
 *   - JSON: a List (`kubectl get ... -o json`), a typed list whose items
 *     carry no kind (`kubectl get --raw /api/v1/pods`, client libraries), or
 *     a single object; read item by item by the stream reader;
 *   - YAML (`kubectl get ... -o yaml`), also a stream of documents separated
 *     by "---", each a list or a single object; read with libyaml, one
 *     document at a time turned into a cJSON tree;
 *   - several JSON documents one after the other, with container log blocks
 *     between them (`kubectl cluster-info dump` to standard output), read by
 *     stv_json_stream_fd_multi;
 *   - a directory written by `kubectl cluster-info dump --output-directory`:
 *     DIR/nodes.json and DIR/<namespace>/pods.json (and
 *     poddisruptionbudgets.json where present); its other files (services,
 *     events, deployments, pod logs, ...) are left out and counted.
 *
 * JSON or YAML is told by the extension (.json; .yaml, .yml) and otherwise
 * by the content: a document whose first byte (after a byte order mark and
 * whitespace) is '{' is JSON, anything else YAML. "-" is standard input,
 * told by content.
 *
 * YAML scalars are typed as sigs.k8s.io/yaml (go-yaml v2) types them before
 * they become JSON: quoted, literal and folded scalars are strings; plain
 * ones are null (~, null, empty), booleans (true/false, yes/no, on/off, y/n
 * in their three spellings), integers (decimal, 0x, 0o, 0b, leading-zero
 * octal, '_' separators), floats, or else strings. Error messages name the
 * file, the 1-based line and column of the field at fault (or of its item)
 * and the item: "pods.yaml:40:14: items[3] Pod team/web: spec...".
 */
#ifndef STV_KUBEINPUT_H
#define STV_KUBEINPUT_H

#include "jsonstream.h"
#include "snapshot.h"

/* Largest YAML document read (it is held whole): 256 MiB of text. */
#define STV_YAML_DOC_MAX ((size_t)256 << 20)

/* Most values (mappings, sequences, scalars, aliases expanded) in one YAML document. */
#define STV_YAML_NODES_MAX ((size_t)16 << 20)

/* Most values that aliases may add to one document (kubectl writes none). */
#define STV_YAML_ALIAS_MAX ((size_t)1 << 20)

/*
 * Reads path (a file, a cluster-info dump directory, or "-") and calls cb
 * for each item as the stream reader does (index -1 for a single object;
 * items of a typed list get the list's kind). path, ctx and stats are
 * borrowed; stats (may be NULL) counts the dump files left out; err may be
 * NULL. Returns 0, the callback's code, STV_EPARSE / STV_ELIMIT /
 * STV_ENOMEM with the file, line and column in err, or -errno.
 */
int stv_kube_read(const char *path, stv_json_item_cb cb, void *ctx, struct stv_snapshot_read_stats *stats,
                  struct stv_err *err);

#endif
