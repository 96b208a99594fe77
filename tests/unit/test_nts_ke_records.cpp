// lib/nts_ke_records.hpp: NTS-KE framing, the client's request and the
// server's evaluation of it, the server's response and the client's
// evaluation of it, and hostile records in both directions.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "lib/nts_aead.hpp"
#include "lib/nts_ke_records.hpp"

using namespace gnomon;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes record(bool critical, std::uint16_t type, const Bytes& body) {
  const std::uint16_t head = static_cast<std::uint16_t>(type | (critical ? 0x8000 : 0));
  Bytes b{static_cast<std::uint8_t>(head >> 8), static_cast<std::uint8_t>(head),
          static_cast<std::uint8_t>(body.size() >> 8), static_cast<std::uint8_t>(body.size())};
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

Bytes u16(std::uint16_t v) { return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)}; }

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

const Bytes kEnd = record(true, 0, {});

Bytes good_response(int cookies = 8) {
  Bytes m = cat({record(true, 1, u16(0)), record(true, 4, u16(15))});
  for (int i = 0; i < cookies; ++i) m = cat({m, record(false, 5, Bytes(100, static_cast<std::uint8_t>(i)))});
  return cat({m, kEnd});
}

}  // namespace

TEST_CASE("the exporter context names the protocol, the AEAD and the direction") {
  CHECK(nts_exporter_context(15, false) == std::array<std::uint8_t, 5>{0, 0, 0, 15, 0});
  CHECK(nts_exporter_context(15, true) == std::array<std::uint8_t, 5>{0, 0, 0, 15, 1});
}

TEST_CASE("the client's request offers NTPv4 and AES-SIV-CMAC-256, all critical") {
  const Bytes req = build_ke_request();
  const Bytes expected = cat({record(true, 1, u16(0)), record(true, 4, u16(15)), kEnd});
  CHECK(req == expected);
  const KeFrame f = frame_ke_message(req);
  CHECK(f.status == KeFrameStatus::Complete);
  CHECK(f.length == req.size());
  const KeRequestDecision d = evaluate_ke_request(req);
  CHECK_FALSE(d.error);
  CHECK(d.grants_keys());
}

TEST_CASE("framing waits for End of Message, byte by byte") {
  const Bytes req = build_ke_request();
  for (std::size_t n = 0; n < req.size(); ++n) {
    INFO("prefix " << n);
    CHECK(frame_ke_message(std::span<const std::uint8_t>(req.data(), n)).status == KeFrameStatus::NeedMore);
  }
  // Bytes after the message are not part of it.
  Bytes more = cat({req, Bytes{1, 2, 3}});
  const KeFrame f = frame_ke_message(more);
  CHECK(f.status == KeFrameStatus::Complete);
  CHECK(f.length == req.size());
}

TEST_CASE("framing rejects messages that never end or end badly") {
  // A record claiming a body past the 16 KiB limit.
  Bytes big = {0x00, 0x05, 0xFF, 0xFF};
  CHECK(frame_ke_message(big).status == KeFrameStatus::TooLong);
  // Many small records with no end.
  Bytes endless;
  while (endless.size() <= kMaxKeMessageLen) endless = cat({endless, record(false, 5, Bytes(60, 1))});
  CHECK(frame_ke_message(endless).status == KeFrameStatus::TooLong);
  // End of Message with a body, or without the critical bit.
  CHECK(frame_ke_message(record(true, 0, {1, 2})).status == KeFrameStatus::Malformed);
  CHECK(frame_ke_message(record(false, 0, {})).status == KeFrameStatus::Malformed);
}

TEST_CASE("the server grants keys only for exactly one NTPv4 offer with AES-SIV") {
  SECTION("other protocols next to NTPv4 and other AEADs are fine") {
    Bytes protocols = cat({u16(0x8001), u16(0)});
    Bytes aeads = cat({u16(30), u16(15), u16(17)});
    auto d = evaluate_ke_request(cat({record(true, 1, protocols), record(false, 4, aeads), kEnd}));
    CHECK(d.grants_keys());
  }
  SECTION("no NTPv4: empty next protocol, no error") {
    auto d = evaluate_ke_request(cat({record(true, 1, u16(0x8001)), kEnd}));
    CHECK_FALSE(d.error);
    CHECK_FALSE(d.ntpv4);
    const Bytes resp = build_ke_response(d, {});
    CHECK(resp == cat({record(true, 1, {}), kEnd}));
  }
  SECTION("no supported AEAD: empty AEAD record, no cookies") {
    auto d = evaluate_ke_request(cat({record(true, 1, u16(0)), record(true, 4, u16(17)), kEnd}));
    CHECK_FALSE(d.error);
    CHECK(d.ntpv4);
    CHECK_FALSE(d.aead_ok);
    KeResponseParams p;
    p.cookies.push_back(Bytes(100, 1));
    const Bytes resp = build_ke_response(d, p);
    CHECK(resp == cat({record(true, 1, u16(0)), record(true, 4, {}), kEnd}));
  }
  SECTION("bad requests get Error 1") {
    const std::vector<Bytes> bad = {
        cat({record(false, 1, u16(0)), record(true, 4, u16(15)), kEnd}),  // next protocol not critical
        cat({record(true, 1, {}), record(true, 4, u16(15)), kEnd}),       // empty next protocol
        cat({record(true, 1, {0}), record(true, 4, u16(15)), kEnd}),      // odd length
        cat({record(true, 1, u16(0)), record(true, 1, u16(0)), record(true, 4, u16(15)), kEnd}),  // two
        cat({record(true, 1, u16(0)), kEnd}),                              // no AEAD
        cat({record(true, 4, u16(15)), kEnd}),                             // no next protocol
        cat({record(true, 1, u16(0)), record(true, 4, u16(15)), record(true, 4, u16(15)), kEnd}),
        cat({record(true, 1, u16(0)), record(true, 4, u16(15)), record(true, 2, u16(1)), kEnd}),  // error
        cat({record(true, 1, u16(0)), record(true, 4, u16(15)), record(true, 3, u16(1)), kEnd}),  // warning
        cat({record(true, 1, u16(0)), record(true, 4, u16(15)), record(false, 5, Bytes(8)), kEnd}),  // cookie
        cat({record(true, 1, u16(0)), record(true, 4, u16(15))}),          // no end
        cat({record(true, 1, u16(0)), kEnd, record(true, 4, u16(15))}),    // after the end
    };
    for (std::size_t i = 0; i < bad.size(); ++i) {
      INFO("case " << i);
      auto d = evaluate_ke_request(bad[i]);
      REQUIRE(d.error);
      CHECK(*d.error == KeError::BadRequest);
      CHECK(build_ke_response(d, {}) == cat({record(true, 2, u16(1)), kEnd}));
    }
  }
  SECTION("an unknown critical record gets Error 0; an unknown plain one is ignored") {
    auto d = evaluate_ke_request(
        cat({record(true, 1, u16(0)), record(true, 4, u16(15)), record(true, 0x1234, {1, 2}), kEnd}));
    REQUIRE(d.error);
    CHECK(*d.error == KeError::UnrecognizedCritical);
    d = evaluate_ke_request(
        cat({record(true, 1, u16(0)), record(true, 4, u16(15)), record(false, 0x1234, {1, 2}), kEnd}));
    CHECK(d.grants_keys());
  }
}

TEST_CASE("the server's response round-trips through the client's evaluation") {
  KeRequestDecision d;
  d.ntpv4 = true;
  d.aead_ok = true;
  KeResponseParams p;
  p.ntp_port = 11123;
  p.ntp_server = "ntp.example.org";
  for (int i = 0; i < 8; ++i) p.cookies.push_back(Bytes(100, static_cast<std::uint8_t>(i)));
  const Bytes resp = build_ke_response(d, p);
  CHECK(frame_ke_message(resp).status == KeFrameStatus::Complete);
  const KeResponseResult r = evaluate_ke_response(resp);
  REQUIRE(r.response);
  CHECK(r.error.empty());
  CHECK(r.response->cookies == p.cookies);
  CHECK(r.response->ntp_port == std::optional<std::uint16_t>(11123));
  CHECK(r.response->ntp_server == std::optional<std::string>("ntp.example.org"));
}

TEST_CASE("a plain response: no negotiation records, so the defaults apply") {
  const KeResponseResult r = evaluate_ke_response(good_response(3));
  REQUIRE(r.response);
  CHECK(r.response->cookies.size() == 3);
  CHECK_FALSE(r.response->ntp_port);
  CHECK_FALSE(r.response->ntp_server);
}

TEST_CASE("the client keeps at most 8 cookies and skips cookies of a bad length") {
  Bytes m = cat({record(true, 1, u16(0)), record(true, 4, u16(15)), record(false, 5, Bytes(6, 1)),
                 record(false, 5, {}), record(false, 5, Bytes(300, 1))});
  for (int i = 0; i < 10; ++i) m = cat({m, record(false, 5, Bytes(100, static_cast<std::uint8_t>(i)))});
  const KeResponseResult r = evaluate_ke_response(cat({m, kEnd}));
  REQUIRE(r.response);
  CHECK(r.response->cookies.size() == 8);
  CHECK(r.response->cookies.front() == Bytes(100, 0));
}

TEST_CASE("the client rejects responses that grant nothing or say no") {
  const std::vector<std::pair<Bytes, std::string>> bad = {
      {cat({record(true, 2, u16(1)), kEnd}), "error 1"},
      {cat({record(true, 1, u16(0)), record(true, 4, u16(15)), record(true, 3, u16(7)),
            record(false, 5, Bytes(100)), kEnd}), "warning"},
      {cat({record(true, 1, {}), kEnd}), "NTPv4"},
      {cat({record(true, 1, u16(1)), record(true, 4, u16(15)), record(false, 5, Bytes(100)), kEnd}), "NTPv4"},
      {cat({record(false, 1, u16(0)), record(true, 4, u16(15)), record(false, 5, Bytes(100)), kEnd}), "NTPv4"},
      {cat({record(true, 1, u16(0)), record(true, 4, {}), kEnd}), "AEAD"},
      {cat({record(true, 1, u16(0)), record(true, 4, u16(17)), record(false, 5, Bytes(100)), kEnd}), "AEAD"},
      {cat({record(true, 1, u16(0)), record(false, 5, Bytes(100)), kEnd}), "AEAD"},
      {cat({record(true, 1, u16(0)), record(true, 4, u16(15)), kEnd}), "cookies"},
      {cat({record(true, 1, u16(0)), record(true, 4, u16(15)), record(false, 5, Bytes(100)),
            record(true, 0x4321, {}), kEnd}), "critical"},
      {cat({record(true, 1, u16(0)), record(true, 4, u16(15)), record(false, 5, Bytes(100)),
            record(true, 7, {1}), kEnd}), "port"},
      {cat({record(true, 1, u16(0)), record(true, 4, u16(15)), record(false, 5, Bytes(100)),
            record(true, 6, {'a', ' ', 'b'}), kEnd}), "server"},
      {cat({record(true, 1, u16(0)), record(true, 4, u16(15)), record(false, 5, Bytes(100)),
            record(true, 6, {}), kEnd}), "server"},
      {cat({record(true, 1, u16(0)), record(true, 4, u16(15)), record(false, 5, Bytes(100))}), "malformed"},
  };
  for (const auto& [msg, why] : bad) {
    INFO(why);
    const KeResponseResult r = evaluate_ke_response(msg);
    CHECK_FALSE(r.response);
    CHECK_THAT(r.error, Catch::Contains(why));
  }
  // An unknown non-critical record is ignored.
  const Bytes ok = cat({record(true, 1, u16(0)), record(true, 4, u16(15)), record(false, 0x4321, {9}),
                        record(false, 5, Bytes(100)), kEnd});
  CHECK(evaluate_ke_response(ok).response);
}

TEST_CASE("random and mutated messages never crash either side") {
  std::mt19937 rng(8915);
  const Bytes seeds[] = {build_ke_request(), good_response()};
  std::vector<KeRecord> records;
  for (int i = 0; i < 20000; ++i) {
    Bytes m = seeds[static_cast<std::size_t>(i) % 2];
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 4) {
        case 0: if (!m.empty()) m[rng() % m.size()] = static_cast<std::uint8_t>(rng()); break;
        case 1: if (!m.empty()) m.resize(rng() % m.size()); break;
        case 2: m.insert(m.begin() + static_cast<std::ptrdiff_t>(rng() % (m.size() + 1)),
                         static_cast<std::uint8_t>(rng())); break;
        default: m.push_back(static_cast<std::uint8_t>(rng())); break;
      }
    }
    const KeFrame f = frame_ke_message(m);
    if (f.status == KeFrameStatus::Complete) {
      REQUIRE(f.length <= m.size());
      const auto msg = std::span<const std::uint8_t>(m.data(), f.length);
      (void)split_ke_records(msg, records);
      (void)evaluate_ke_request(msg);
      (void)evaluate_ke_response(msg);
    }
    (void)evaluate_ke_request(m);
    (void)evaluate_ke_response(m);
  }
  SUCCEED();
}
