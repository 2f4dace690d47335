/* The low-level SHA-256 functions skip OpenSSL 3's provider machinery, which costs
 * megabytes of start-up memory for a single digest; they still use the SHA-NI code. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
/* Ed25519 signing and verification through the EVP interface, and the CSPRNG for keys. */
#include <openssl/evp.h>
#include <openssl/rand.h>
