/*
 * The JWT bearer grant's assertion (RFC 7523, as Google's token endpoint
 * takes it for a service-account key): a header and claims in base64url
 * JSON, signed RS256 (RSASSA-PKCS1-v1_5 with SHA-256) by OpenSSL's EVP
 * interface with the key file's private key. No cryptography here beyond
 * calling OpenSSL; base64 is OpenSSL's too (EVP_EncodeBlock), turned into
 * the URL-safe alphabet without padding.
 */
#include <cJSON.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <string.h>

#include "gcp_internal.h"

/* Appends base64url(data[0..n)) to b. */
static int b64url(struct stv_buf *b, const unsigned char *data, size_t n) {
  size_t cap = 4 * ((n + 2) / 3) + 1, i, len;
  unsigned char *tmp;
  int out;
  if (n > (size_t)INT32_MAX / 2) return STV_ELIMIT;
  if ((tmp = stv_malloc(cap)) == NULL) return STV_ENOMEM;
  out = EVP_EncodeBlock(tmp, data, (int)n);
  len = out > 0 ? (size_t)out : 0;
  while (len > 0 && tmp[len - 1] == '=') len--;
  for (i = 0; i < len; i++) {
    if (tmp[i] == '+')
      tmp[i] = '-';
    else if (tmp[i] == '/')
      tmp[i] = '_';
  }
  stv_buf_append(b, (const char *)tmp, len);
  stv_free(tmp);
  return b->err;
}

static int b64url_json(struct stv_buf *b, cJSON *o) {
  char *s = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
  int rc;
  if (s == NULL) return STV_ENOMEM;
  rc = b64url(b, (const unsigned char *)s, strlen(s));
  cJSON_free(s);
  return rc;
}

/* OpenSSL's first queued error, for a message (never the key itself). */
static const char *ssl_reason(char *buf, size_t size) {
  unsigned long e = ERR_get_error();
  if (e == 0) return "no detail from OpenSSL";
  ERR_error_string_n(e, buf, size);
  ERR_clear_error();
  return buf;
}

/* Signs b's text so far with the PEM private key; appends "." and the signature. */
static int sign(struct stv_buf *b, const char *pem, struct stv_err *err) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *pkey = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
  EVP_MD_CTX *md = NULL;
  unsigned char *sig = NULL;
  size_t siglen = 0;
  char why[200];
  int rc = 0;
  if (pkey == NULL) {
    rc = stv_err_set(err, STV_EINVAL, "key file.private_key: not a PEM private key (%s)",
                     ssl_reason(why, sizeof(why)));
    goto done;
  }
  if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
    rc = stv_err_set(err, STV_EINVAL, "key file.private_key: not an RSA key (RS256 needs one)");
    goto done;
  }
  if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
      EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)b->data, b->len) != 1 ||
      (sig = stv_malloc(siglen)) == NULL ||
      EVP_DigestSign(md, sig, &siglen, (const unsigned char *)b->data, b->len) != 1) {
    rc = stv_err_set(err, sig == NULL && md != NULL && siglen > 0 ? STV_ENOMEM : STV_EIO,
                     "signing the token request with the key file's private key failed (%s)",
                     ssl_reason(why, sizeof(why)));
    goto done;
  }
  stv_buf_append(b, ".", 1);
  if ((rc = b64url(b, sig, siglen)) != 0) rc = stv_err_set(err, rc, "out of memory");
done:
  stv_free(sig);
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pkey);
  BIO_free(bio);
  return rc;
}

int stv__gcp_jwt(const struct stv__gcp_key *key, const char *scope, const char *aud, int64_t now, char **out,
                 struct stv_err *err) {
  cJSON *hdr = cJSON_CreateObject(), *claims = cJSON_CreateObject();
  struct stv_buf b;
  int rc = STV_ENOMEM;
  *out = NULL;
  stv_buf_init(&b);
  b.max = 64 * 1024;
  if (hdr == NULL || claims == NULL || cJSON_AddStringToObject(hdr, "alg", "RS256") == NULL ||
      cJSON_AddStringToObject(hdr, "typ", "JWT") == NULL ||
      (key->private_key_id != NULL && cJSON_AddStringToObject(hdr, "kid", key->private_key_id) == NULL) ||
      cJSON_AddStringToObject(claims, "iss", key->client_email) == NULL ||
      cJSON_AddStringToObject(claims, "scope", scope) == NULL ||
      cJSON_AddStringToObject(claims, "aud", aud) == NULL ||
      cJSON_AddNumberToObject(claims, "iat", (double)now) == NULL ||
      cJSON_AddNumberToObject(claims, "exp", (double)(now + 3600)) == NULL)
    goto fail;
  if (b64url_json(&b, hdr) != 0 || stv_buf_append(&b, ".", 1) != 0 || b64url_json(&b, claims) != 0) goto fail;
  if ((rc = sign(&b, key->private_key, err)) != 0) goto done;
  *out = b.data; /* the buffer's text, NUL-terminated */
  b.data = NULL;
  goto done;
fail:
  rc = stv_err_set(err, b.err ? b.err : STV_ENOMEM, "out of memory making the token request");
done:
  stv_buf_close(&b);
  cJSON_Delete(hdr);
  cJSON_Delete(claims);
  return rc;
}
