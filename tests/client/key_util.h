// Generates throwaway private keys for tests (RSA 2048 for RS384, P-384 for ES384) as PEM.
#pragma once

#include <string>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fhir/client/jwt.h"

namespace fhir::client::testing {

inline std::string GeneratePrivateKeyPem(JwsAlg alg) {
  EVP_PKEY* pkey = alg == JwsAlg::kRS384 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                                         : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  return pem;
}

}  // namespace fhir::client::testing
