// OpenSSL on demand: the OpenSSL functions gnomon calls, defined here as
// forwarders to libssl/libcrypto loaded with dlopen() the first time any of
// them runs. A daemon without keys or NTS never maps OpenSSL (about 1.7 MB of
// resident memory); one with them loads the same shared libraries the system
// keeps patched. The prototypes are those of the OpenSSL headers included
// below, so the compiler checks every one.
//
// Nothing else may link libssl or libcrypto directly: gnomon::crypto and the
// daemon get OpenSSL's headers only and this library for the symbols.
#include "lib/openssl/on_demand.hpp"

#include <dlfcn.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/params.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace gnomon::openssl {
namespace {

#define GNOMON_STR2(x) #x
#define GNOMON_STR(x) GNOMON_STR2(x)
// libssl's soname for the headers we compiled against; it loads libcrypto.
constexpr const char* kLibSsl = "libssl.so." GNOMON_STR(OPENSSL_SHLIB_VERSION);

struct Loaded {
  void* handle = nullptr;
  std::string error;
};

const Loaded& loaded() {
  static const Loaded l = [] {
    Loaded r;
    r.handle = ::dlopen(kLibSsl, RTLD_NOW | RTLD_LOCAL);
    if (r.handle == nullptr) {
      const char* e = ::dlerror();
      r.error = e != nullptr ? e : "dlopen failed";
    }
    return r;
  }();
  return l;
}

// The address of an OpenSSL function. A system without libssl cannot get
// here unless load() was skipped: the daemon calls load() at start whenever
// its configuration needs OpenSSL, and exits with its error.
void* symbol(const char* name) {
  const Loaded& l = loaded();
  void* p = l.handle != nullptr ? ::dlsym(l.handle, name) : nullptr;
  if (p == nullptr) {
    std::fprintf(stderr, "gnomon: OpenSSL function %s unavailable (%s)\n", name,
                 l.handle == nullptr ? l.error.c_str() : "not in libssl/libcrypto");
    std::abort();
  }
  return p;
}

}  // namespace

bool load(std::string& error) {
  const Loaded& l = loaded();
  if (l.handle == nullptr) error = std::string("cannot load ") + kLibSsl + ": " + l.error;
  return l.handle != nullptr;
}

}  // namespace gnomon::openssl

// Each forwarder resolves its target once (thread-safe static init).
#define GNOMON_FORWARD(ret, name, params, args)                                              \
  extern "C" ret name params {                                                               \
    static const auto fn = reinterpret_cast<decltype(&name)>(gnomon::openssl::symbol(#name)); \
    return fn args;                                                                          \
  }

GNOMON_FORWARD(long, BIO_ctrl, (BIO *bp, int cmd, long larg, void *parg), (bp, cmd, larg, parg))
GNOMON_FORWARD(size_t, BIO_ctrl_pending, (BIO *b), (b))
GNOMON_FORWARD(int, BIO_free, (BIO *a), (a))
GNOMON_FORWARD(int, BIO_new_bio_pair, (BIO **bio1, size_t writebuf1, BIO **bio2, size_t writebuf2), (bio1, writebuf1, bio2, writebuf2))
GNOMON_FORWARD(int, BIO_read, (BIO *b, void *data, int dlen), (b, data, dlen))
GNOMON_FORWARD(int, BIO_write, (BIO *b, const void *data, int dlen), (b, data, dlen))
GNOMON_FORWARD(int, CRYPTO_memcmp, (const void *in_a, const void *in_b, size_t len), (in_a, in_b, len))
GNOMON_FORWARD(void, ERR_clear_error, (void), ())
GNOMON_FORWARD(unsigned long, ERR_get_error, (void), ())
GNOMON_FORWARD(const char *, ERR_reason_error_string, (unsigned long e), (e))
GNOMON_FORWARD(void, EVP_CIPHER_CTX_free, (EVP_CIPHER_CTX *c), (c))
GNOMON_FORWARD(const EVP_CIPHER *, EVP_CIPHER_CTX_get0_cipher, (const EVP_CIPHER_CTX *ctx), (ctx))
GNOMON_FORWARD(EVP_CIPHER_CTX *, EVP_CIPHER_CTX_new, (void), ())
GNOMON_FORWARD(EVP_CIPHER *, EVP_CIPHER_fetch, (OSSL_LIB_CTX *ctx, const char *algorithm, const char *properties), (ctx, algorithm, properties))
GNOMON_FORWARD(void, EVP_CIPHER_free, (EVP_CIPHER *cipher), (cipher))
GNOMON_FORWARD(int, EVP_Digest, (const void *data, size_t count, unsigned char *md, unsigned int *size, const EVP_MD *type, ENGINE *impl), (data, count, md, size, type, impl))
GNOMON_FORWARD(int, EVP_DigestFinal_ex, (EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s), (ctx, md, s))
GNOMON_FORWARD(int, EVP_DigestInit_ex, (EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl), (ctx, type, impl))
GNOMON_FORWARD(int, EVP_DigestUpdate, (EVP_MD_CTX *ctx, const void *d, size_t cnt), (ctx, d, cnt))
GNOMON_FORWARD(int, EVP_EncryptInit_ex2, (EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, const unsigned char *key, const unsigned char *iv, const OSSL_PARAM params[]), (ctx, cipher, key, iv, params))
GNOMON_FORWARD(int, EVP_EncryptUpdate, (EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl, const unsigned char *in, int inl), (ctx, out, outl, in, inl))
GNOMON_FORWARD(void, EVP_MAC_CTX_free, (EVP_MAC_CTX *ctx), (ctx))
GNOMON_FORWARD(EVP_MAC_CTX *, EVP_MAC_CTX_new, (EVP_MAC *mac), (mac))
GNOMON_FORWARD(EVP_MAC *, EVP_MAC_fetch, (OSSL_LIB_CTX *libctx, const char *algorithm, const char *properties), (libctx, algorithm, properties))
GNOMON_FORWARD(int, EVP_MAC_final, (EVP_MAC_CTX *ctx, unsigned char *out, size_t *outl, size_t outsize), (ctx, out, outl, outsize))
GNOMON_FORWARD(void, EVP_MAC_free, (EVP_MAC *mac), (mac))
GNOMON_FORWARD(int, EVP_MAC_init, (EVP_MAC_CTX *ctx, const unsigned char *key, size_t keylen, const OSSL_PARAM params[]), (ctx, key, keylen, params))
GNOMON_FORWARD(int, EVP_MAC_update, (EVP_MAC_CTX *ctx, const unsigned char *data, size_t datalen), (ctx, data, datalen))
GNOMON_FORWARD(void, EVP_MD_CTX_free, (EVP_MD_CTX *ctx), (ctx))
GNOMON_FORWARD(EVP_MD_CTX *, EVP_MD_CTX_new, (void), ())
GNOMON_FORWARD(EVP_MD *, EVP_MD_fetch, (OSSL_LIB_CTX *ctx, const char *algorithm, const char *properties), (ctx, algorithm, properties))
GNOMON_FORWARD(void, EVP_MD_free, (EVP_MD *md), (md))
GNOMON_FORWARD(const EVP_MD *, EVP_md5, (void), ())
GNOMON_FORWARD(OSSL_PARAM, OSSL_PARAM_construct_end, (void), ())
GNOMON_FORWARD(OSSL_PARAM, OSSL_PARAM_construct_utf8_string, (const char *key, char *buf, size_t bsize), (key, buf, bsize))
GNOMON_FORWARD(int, SSL_CTX_check_private_key, (const SSL_CTX *ctx), (ctx))
GNOMON_FORWARD(long, SSL_CTX_ctrl, (SSL_CTX *ctx, int cmd, long larg, void *parg), (ctx, cmd, larg, parg))
GNOMON_FORWARD(void, SSL_CTX_free, (SSL_CTX * a0), (a0))
GNOMON_FORWARD(void *, SSL_CTX_get_default_passwd_cb_userdata, (SSL_CTX *ctx), (ctx))
GNOMON_FORWARD(void *, SSL_CTX_get_ex_data, (const SSL_CTX *ssl, int idx), (ssl, idx))
GNOMON_FORWARD(int, SSL_CTX_load_verify_locations, (SSL_CTX *ctx, const char *CAfile, const char *CApath), (ctx, CAfile, CApath))
GNOMON_FORWARD(SSL_CTX *, SSL_CTX_new, (const SSL_METHOD *meth), (meth))
GNOMON_FORWARD(void, SSL_CTX_set_alpn_select_cb, (SSL_CTX *ctx, SSL_CTX_alpn_select_cb_func cb, void *arg), (ctx, cb, arg))
GNOMON_FORWARD(void, SSL_CTX_set_default_passwd_cb_userdata, (SSL_CTX *ctx, void *u), (ctx, u))
GNOMON_FORWARD(int, SSL_CTX_set_default_verify_paths, (SSL_CTX *ctx), (ctx))
GNOMON_FORWARD(int, SSL_CTX_set_ex_data, (SSL_CTX *ssl, int idx, void *data), (ssl, idx, data))
GNOMON_FORWARD(int, SSL_CTX_set_num_tickets, (SSL_CTX *ctx, size_t num_tickets), (ctx, num_tickets))
GNOMON_FORWARD(uint64_t, SSL_CTX_set_options, (SSL_CTX *ctx, uint64_t op), (ctx, op))
GNOMON_FORWARD(int, SSL_CTX_use_PrivateKey_file, (SSL_CTX *ctx, const char *file, int type), (ctx, file, type))
GNOMON_FORWARD(int, SSL_CTX_use_certificate_chain_file, (SSL_CTX *ctx, const char *file), (ctx, file))
GNOMON_FORWARD(int, SSL_accept, (SSL *ssl), (ssl))
GNOMON_FORWARD(int, SSL_connect, (SSL *ssl), (ssl))
GNOMON_FORWARD(long, SSL_ctrl, (SSL *ssl, int cmd, long larg, void *parg), (ssl, cmd, larg, parg))
GNOMON_FORWARD(int, SSL_export_keying_material, (SSL *s, unsigned char *out, size_t olen, const char *label, size_t llen, const unsigned char *context, size_t contextlen, int use_context), (s, out, olen, label, llen, context, contextlen, use_context))
GNOMON_FORWARD(void, SSL_free, (SSL *ssl), (ssl))
GNOMON_FORWARD(void, SSL_get0_alpn_selected, (const SSL *ssl, const unsigned char **data, unsigned int *len), (ssl, data, len))
GNOMON_FORWARD(X509_VERIFY_PARAM *, SSL_get0_param, (SSL *ssl), (ssl))
GNOMON_FORWARD(int, SSL_get_error, (const SSL *s, int ret_code), (s, ret_code))
GNOMON_FORWARD(void *, SSL_get_ex_data, (const SSL *ssl, int idx), (ssl, idx))
GNOMON_FORWARD(int, SSL_get_shutdown, (const SSL *ssl), (ssl))
GNOMON_FORWARD(SSL_verify_cb, SSL_get_verify_callback, (const SSL *s), (s))
GNOMON_FORWARD(long, SSL_get_verify_result, (const SSL *ssl), (ssl))
GNOMON_FORWARD(SSL *, SSL_new, (SSL_CTX *ctx), (ctx))
GNOMON_FORWARD(int, SSL_read, (SSL *ssl, void *buf, int num), (ssl, buf, num))
GNOMON_FORWARD(int, SSL_select_next_proto, (unsigned char **out, unsigned char *outlen, const unsigned char *in, unsigned int inlen, const unsigned char *client, unsigned int client_len), (out, outlen, in, inlen, client, client_len))
GNOMON_FORWARD(int, SSL_set_alpn_protos, (SSL *ssl, const unsigned char *protos, unsigned int protos_len), (ssl, protos, protos_len))
GNOMON_FORWARD(void, SSL_set_bio, (SSL *s, BIO *rbio, BIO *wbio), (s, rbio, wbio))
GNOMON_FORWARD(int, SSL_set_ex_data, (SSL *ssl, int idx, void *data), (ssl, idx, data))
GNOMON_FORWARD(uint64_t, SSL_set_options, (SSL *s, uint64_t op), (s, op))
GNOMON_FORWARD(void, SSL_set_verify, (SSL *s, int mode, SSL_verify_cb callback), (s, mode, callback))
GNOMON_FORWARD(int, SSL_shutdown, (SSL *s), (s))
GNOMON_FORWARD(int, SSL_write, (SSL *ssl, const void *buf, int num), (ssl, buf, num))
GNOMON_FORWARD(const SSL_METHOD *, TLS_client_method, (void), ())
GNOMON_FORWARD(const SSL_METHOD *, TLS_method, (void), ())
GNOMON_FORWARD(const SSL_METHOD *, TLS_server_method, (void), ())
GNOMON_FORWARD(int, X509_VERIFY_PARAM_set1_host, (X509_VERIFY_PARAM *param, const char *name, size_t namelen), (param, name, namelen))
GNOMON_FORWARD(int, X509_VERIFY_PARAM_set1_ip_asc, (X509_VERIFY_PARAM *param, const char *ipasc), (param, ipasc))
GNOMON_FORWARD(void, X509_VERIFY_PARAM_set_hostflags, (X509_VERIFY_PARAM *param, unsigned int flags), (param, flags))
GNOMON_FORWARD(const char *, X509_verify_cert_error_string, (long n), (n))
