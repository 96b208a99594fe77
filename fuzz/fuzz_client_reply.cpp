// The client side of the NTP port (lib/source.hpp): a Source with a
// symmetric key (or none) gets arbitrary bytes as the reply to its request.
// Extension fields, MACs and NTS fields are walked and checked here too
// (lib/ntp_auth.hpp, lib/symmetric_key.hpp). A reply that fails test 5
// must leave the source's state untouched.
#include "fuzz/fuzz_support.hpp"
#include "lib/ntp_auth.hpp"
#include "lib/source.hpp"

using namespace gnomon;
using namespace gnomon::fuzz;

namespace {

class FixedRng final : public RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = static_cast<std::uint8_t>(state_ = state_ * 6364136223846793005ull + 1) ;
  }

 private:
  std::uint64_t state_ = 1;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  const std::uint8_t sel = in.u8();
  const std::uint8_t patch = in.u8();
  const std::span<const std::uint8_t> reply_in = in.rest();

  const SocketAddress server = *SocketAddress::parse("192.0.2.1:123", 123);
  SourceOptions o;
  const std::uint32_t key_id = sel % 8;  // 0 and 7: no key / unknown key
  if (key_id != 0) o.key = key_id;
  Source src(server, o);
  if (key_id != 0) src.set_authenticator(std::make_shared<SymmetricClientAuth>(fuzz_keys(), key_id));
  TimePoint now{1'710'504'000LL * kNsPerS};
  src.start(now);
  now = *src.next_timer();
  FixedRng rng;
  const TimerAction a = src.handle_timer(now, rng);

  // Optionally make the reply answer our request (origin = our transmit).
  std::vector<std::uint8_t> reply(reply_in.begin(), reply_in.end());
  if (a.request && (patch & 1) && reply.size() >= kNtpHeaderLen) {
    for (std::size_t i = 0; i < 8; ++i) reply[24 + i] = a.request->bytes[40 + i];
  }
  if ((patch & 2) && a.request && reply.size() >= kNtpHeaderLen && o.key) {
    // Re-sign whatever MAC slot is there with the right key.
    ParsedPacket p;
    if (parse_packet(reply, p) == ParseError::None && p.has_mac && !p.mac_digest.empty()) {
      (void)fuzz_keys()->sign(*o.key, reply, mac_offset(p), p.header.version);
    }
  }

  ParsedPacket p;
  if (parse_packet(reply, p) == ParseError::None) {
    (void)carries_auth(p);
    (void)carries_nts(p);
    for (const ExtensionField& ef : p.extension_fields()) {
      GNOMON_FUZZ_CHECK(ef.body.data() + ef.body.size() <= reply.data() + reply.size());
    }
    (void)check_request_mac(p, reply, fuzz_keys().get());
  }

  const auto reach = src.reach();
  const int samples = src.stats().samples();
  ReplyContext ctx;
  ctx.tx_time = now;
  ctx.rx_time = now + Duration::from_seconds(0.001 + (patch >> 2) * 0.01);
  ctx.from = server;
  const ReplyResult r = src.handle_reply(reply, ctx);
  if (!r.tests.test5() && r.disposition != ReplyDisposition::Ignored) {
    GNOMON_FUZZ_CHECK(r.disposition == ReplyDisposition::Invalid);
    GNOMON_FUZZ_CHECK(src.reach() == reach && src.stats().samples() == samples);
    GNOMON_FUZZ_CHECK(!r.sample.has_value());
  }
  // A second delivery of the same bytes is never accepted.
  const ReplyResult again = src.handle_reply(reply, ctx);
  GNOMON_FUZZ_CHECK(again.disposition != ReplyDisposition::Accepted);
  return 0;
}
