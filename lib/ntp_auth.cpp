// Classification of authenticated requests: see ntp_auth.hpp.
#include "lib/ntp_auth.hpp"

namespace gnomon {

bool carries_nts(const ParsedPacket& p) {
  for (const ExtensionField& ef : p.extension_fields()) {
    if (ef.type == kEfNtsUniqueIdentifier || ef.type == kEfNtsCookie ||
        ef.type == kEfNtsCookiePlaceholder || ef.type == kEfNtsAuthenticator) {
      return true;
    }
  }
  return false;
}

bool carries_auth(const ParsedPacket& p) { return p.has_mac || carries_nts(p); }

}  // namespace gnomon
