// NTS configuration: `nts` / `nts-port` on a source, the [nts]
// section with its connection limit and timeout, chrony.conf's nts,
// ntsserverkey, ntsservercert, ntsport, ntsdumpdir, ntstrustedcerts and
// maxntsconnections, and the --print-config round trip.
#include <catch2/catch.hpp>

#include <string>

#include "lib/config.hpp"
#include "lib/config/config_loader.hpp"
#include "lib/config/config_summary.hpp"
#include "tests/unit/config_test_support.hpp"

using namespace gnomon;

namespace {

LoadResult toml(const std::string& text) { return load_config_text(text, "t.toml", ConfigFormat::Toml); }
LoadResult chrony(const std::string& text) { return load_config_text(text, "t.conf", ConfigFormat::Chrony); }

}  // namespace

TEST_CASE("TOML: an NTS source and an [nts] server with limits") {
  const LoadResult r = toml(R"(
[[source]]
address = "time.example.org"
nts = true
nts-port = 14460

[nts]
listen = ["127.0.0.1:4461"]
certificate = "/c.pem"
key = "/k.pem"
keydir = "/var/lib/x"
trusted-certs = "/ca.pem"
max-connections = 7
timeout = 0.5
)");
  INFO(test::all_messages(r));
  REQUIRE(r.ok());
  const Config& c = *r.config;
  REQUIRE(c.sources.size() == 1);
  CHECK(c.sources[0].nts);
  CHECK(c.sources[0].nts_port == 14460);
  CHECK(c.nts.enabled);
  CHECK(c.nts.listen.size() == 1);
  CHECK(c.nts.listen[0].port == 4461);
  CHECK(c.nts.certificate == "/c.pem");
  CHECK(c.nts.key == "/k.pem");
  CHECK(c.nts.keydir == "/var/lib/x");
  CHECK(c.nts.trusted_certs == "/ca.pem");
  CHECK(c.nts.max_connections == 7);
  CHECK(c.nts.timeout_s == Approx(0.5));

  // --print-config reads back to the same configuration.
  const LoadResult back = toml(format_as_toml(c));
  INFO(format_as_toml(c));
  REQUIRE(back.ok());
  CHECK(back.config->nts == c.nts);
  CHECK(back.config->sources[0].nts == c.sources[0].nts);
  CHECK(back.config->sources[0].nts_port == c.sources[0].nts_port);
}

TEST_CASE("TOML: defaults and bad NTS values") {
  const LoadResult r = toml("[nts]\n");
  REQUIRE(r.ok());
  CHECK(r.config->nts.max_connections == 100);
  CHECK(r.config->nts.timeout_s == Approx(2.0));
  CHECK(r.config->nts.listen == default_nts_listen());
  for (const std::string bad : {"[nts]\nmax-connections = 0\n", "[nts]\ntimeout = 0\n", "[nts]\ntimeout = -1\n",
                                "[nts]\nport = 4460\n", "[[source]]\naddress = \"a\"\nnts-port = 70000\n",
                                "[[source]]\naddress = \"a\"\nnts = 1\n"}) {
    INFO(bad);
    CHECK_FALSE(toml(bad).ok());
  }
}

TEST_CASE("chrony.conf: NTS client and server directives") {
  const LoadResult r = chrony(R"(server 127.0.0.1 port 11123 nts ntsport 14460 iburst
ntsserverkey /k.pem
ntsservercert /c.pem
ntsport 14461
ntsdumpdir /var/lib/chrony
ntstrustedcerts /ca.pem
maxntsconnections 12
bindaddress 127.0.0.1
)");
  INFO(test::all_messages(r));
  REQUIRE(r.ok());
  const Config& c = *r.config;
  REQUIRE(c.sources.size() == 1);
  CHECK(c.sources[0].nts);
  CHECK(c.sources[0].nts_port == 14460);
  CHECK(c.sources[0].port == 11123);
  CHECK(c.nts.enabled);
  CHECK(c.nts.key == "/k.pem");
  CHECK(c.nts.certificate == "/c.pem");
  CHECK(c.nts.keydir == "/var/lib/chrony");
  CHECK(c.nts.trusted_certs == "/ca.pem");
  CHECK(c.nts.max_connections == 12);
  REQUIRE_FALSE(c.nts.listen.empty());
  CHECK(c.nts.listen[0].port == 14461);
  CHECK(c.nts.listen[0].ip.to_string() == "127.0.0.1");
  // No warning that maxntsconnections is unsupported.
  CHECK(test::all_messages(r).find("maxntsconnections") == std::string::npos);
}

TEST_CASE("chrony.conf: an NTS server needs both key and certificate; bad counts are errors") {
  const LoadResult half = chrony("ntsserverkey /k.pem\n");
  REQUIRE(half.ok());
  CHECK_FALSE(half.config->nts.enabled);
  CHECK_FALSE(chrony("maxntsconnections 0\n").ok());
  CHECK_FALSE(chrony("maxntsconnections\n").ok());
}
