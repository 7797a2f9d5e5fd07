// The public halves of the fuzz targets' JWT test keys (RS384 kid "rsa-1", ES384 kid "ec-1")
// as a JWKS, for fuzz_cds_request and fuzz_http_request. The private halves are not kept (see
// make_seeds.py); the committed token seeds were signed with them.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "plugin/service/jwt_verifier.h"

namespace sdoh::fuzz {

constexpr char kRsaPublicPem[] = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtkJr05Ef8n6DrdhlrFvT
DlRKzYFVwohooEKV35wt1aQvwgcSeitB49OGJJ53wHYiAI5SGBRQerfU+yq1ekA+
UFxnBvA1V12afwv8whGsVaoUJ+UYr9FOL8NgZfqx9ExyMdQ+bJXCnOPwe5g63GUg
BM/GXrc9jb82uf2zCA4nhtDaOyaXWbHhSGbBwaBrnv2csR6F643TvnCKmzBR2ZWh
LZdvuevnWA6hFqiWKwzBBWfsjU96Oa3futsG1EZGPtDvJTr2QItXTWbEwNOTu9wa
02MZPkDH8ufglumIGDanylVMG/OCQytxtSA4tnqsxFmNT1RhoT15Kk+gI9Z65+dN
FwIDAQAB
-----END PUBLIC KEY-----
)";

constexpr char kEcPublicPem[] = R"(-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE7FPWMhs83Zpd7jS5Jze6KDhaY0kfWAuP
DlnOt6IKFpjeuxlFdBLIr/YAyU7UDF14nkpzlU9BFhieaBO9QHgxvQmq/ZzL0sAS
2xVzDXcApgNHqBBxk+cgjaQagjhu8KnY
-----END PUBLIC KEY-----
)";

inline const std::string& Jwks() {
  static const std::string* jwks = [] {
    auto rsa = sdoh::service::PublicJwkFromPem(kRsaPublicPem, "rsa-1", "RS384");
    auto ec = sdoh::service::PublicJwkFromPem(kEcPublicPem, "ec-1", "ES384");
    if (!rsa.ok() || !ec.ok()) {
      std::fprintf(stderr, "fuzz: bad test key\n");
      std::abort();
    }
    return new std::string("{\"keys\":[" + *rsa + "," + *ec + "]}");
  }();
  return *jwks;
}

}  // namespace sdoh::fuzz
