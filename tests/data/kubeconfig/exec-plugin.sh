#!/bin/sh
# An exec credential plugin for tests/test_kubeconfig.c, answering as
# client.authentication.k8s.io plugins do (aws eks get-token,
# gke-gcloud-auth-plugin). Arguments: the apiVersion to answer with, then
# a word that goes into the token. The test steers it with environment
# variables: STV_PLUGIN_COUNT (a file that gets a line per run),
# STV_PLUGIN_MODE (token, numbered: "tok-run-N" on the Nth run, cert,
# fail, badjson, wrongversion) and
# STV_PLUGIN_EXPIRY (expirationTimestamp, RFC 3339), STV_PLUGIN_SLEEP. FOO comes from the
# kubeconfig's exec.env.
[ -n "$STV_PLUGIN_COUNT" ] && echo run >> "$STV_PLUGIN_COUNT"
[ -n "$STV_PLUGIN_SLEEP" ] && sleep "$STV_PLUGIN_SLEEP" # a slow plugin (seconds)
case "$KUBERNETES_EXEC_INFO" in
  *'"interactive":false'*) ;;
  *) echo "exec-plugin.sh: KUBERNETES_EXEC_INFO lacks spec.interactive: $KUBERNETES_EXEC_INFO" >&2; exit 3 ;;
esac
expiry=${STV_PLUGIN_EXPIRY:-2099-01-01T00:00:00Z}
case "${STV_PLUGIN_MODE:-token}" in
  numbered) printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"tok-run-%s"}}\n' "$1" "$(wc -l < "$STV_PLUGIN_COUNT" | tr -d ' ')" ;;
  fail) echo "exec-plugin.sh: no credentials for profile test" >&2; exit 255 ;;
  badjson) echo "this is not JSON" ; exit 0 ;;
  wrongversion) printf '{"apiVersion":"client.authentication.k8s.io/v1alpha1","kind":"ExecCredential","status":{"token":"t"}}\n' ;;
  cert) printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"clientCertificateData":"CERT-PEM","clientKeyData":"KEY-PEM","expirationTimestamp":"%s"}}\n' "$1" "$expiry" ;;
  *) printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"tok-%s-%s","expirationTimestamp":"%s"}}\n' "$1" "$FOO" "$2" "$expiry" ;;
esac
