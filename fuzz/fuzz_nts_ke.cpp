// NTS-KE records (lib/nts_ke_records.hpp), both directions: the first byte
// says whether the rest is what a server receives (a client's request) or
// what a client receives (a server's response). Framing, splitting and
// evaluation must stay inside the input, and the server's answer to any
// request must itself be a well-formed message.
#include "fuzz/fuzz_support.hpp"
#include "lib/nts_ke_records.hpp"

using namespace gnomon;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool as_server = (data[0] & 1) != 0;
  const std::span<const std::uint8_t> stream(data + 1, size - 1);

  const KeFrame frame = frame_ke_message(stream);
  GNOMON_FUZZ_CHECK(frame.length <= stream.size());
  // Framing whatever arrived so far must agree with framing all of it.
  if (frame.status == KeFrameStatus::Complete) {
    GNOMON_FUZZ_CHECK(frame.length > 0);
    const KeFrame prefix = frame_ke_message(stream.first(frame.length));
    GNOMON_FUZZ_CHECK(prefix.status == KeFrameStatus::Complete && prefix.length == frame.length);
  }
  const std::span<const std::uint8_t> message =
      frame.status == KeFrameStatus::Complete ? stream.first(frame.length) : stream;

  std::vector<KeRecord> records;
  if (split_ke_records(message, records)) {
    GNOMON_FUZZ_CHECK(!records.empty());
    for (const KeRecord& r : records) {
      GNOMON_FUZZ_CHECK(r.body.empty() ||
                        (r.body.data() >= message.data() && r.body.data() + r.body.size() <= message.data() + message.size()));
    }
  }

  if (as_server) {
    const KeRequestDecision d = evaluate_ke_request(message);
    KeResponseParams params;
    params.ntp_server = "127.0.0.1";
    params.ntp_port = 10123;
    if (d.grants_keys()) params.cookies.assign(8, std::vector<std::uint8_t>(100, 0xC0));
    const std::vector<std::uint8_t> reply = build_ke_response(d, params);
    const KeFrame rf = frame_ke_message(reply);
    GNOMON_FUZZ_CHECK(rf.status == KeFrameStatus::Complete && rf.length == reply.size());
    std::vector<KeRecord> reply_records;
    GNOMON_FUZZ_CHECK(split_ke_records(reply, reply_records));
    if (d.error) (void)to_string(*d.error);
  } else {
    const KeResponseResult r = evaluate_ke_response(message);
    if (r.response) {
      GNOMON_FUZZ_CHECK(r.response->cookies.size() <= 8);
      for (const auto& c : r.response->cookies) GNOMON_FUZZ_CHECK(c.size() <= kMaxNtsCookieLen);
      if (r.response->ntp_server) GNOMON_FUZZ_CHECK(r.response->ntp_server->size() <= kMaxNtsServerNameLen);
    }
  }
  return 0;
}
