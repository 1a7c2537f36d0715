#include "core/wire/types.h"

#include <strings.h>
#include <array>

namespace geodns::dns {
namespace {

struct TypeName {
  std::uint16_t type;
  const char* name;
};

// The IANA registry's mnemonics; the unit test checks it against every name ldns knows.
constexpr std::array kTypes{
    TypeName{1, "A"},          TypeName{2, "NS"},        TypeName{3, "MD"},
    TypeName{4, "MF"},         TypeName{5, "CNAME"},     TypeName{6, "SOA"},
    TypeName{7, "MB"},         TypeName{8, "MG"},        TypeName{9, "MR"},
    TypeName{10, "NULL"},      TypeName{11, "WKS"},      TypeName{12, "PTR"},
    TypeName{13, "HINFO"},     TypeName{14, "MINFO"},    TypeName{15, "MX"},
    TypeName{16, "TXT"},       TypeName{17, "RP"},       TypeName{18, "AFSDB"},
    TypeName{19, "X25"},       TypeName{20, "ISDN"},     TypeName{21, "RT"},
    TypeName{22, "NSAP"},      TypeName{23, "NSAP-PTR"}, TypeName{24, "SIG"},
    TypeName{25, "KEY"},       TypeName{26, "PX"},       TypeName{27, "GPOS"},
    TypeName{28, "AAAA"},      TypeName{29, "LOC"},      TypeName{30, "NXT"},
    TypeName{31, "EID"},       TypeName{32, "NIMLOC"},   TypeName{33, "SRV"},
    TypeName{34, "ATMA"},      TypeName{35, "NAPTR"},    TypeName{36, "KX"},
    TypeName{37, "CERT"},      TypeName{38, "A6"},       TypeName{39, "DNAME"},
    TypeName{40, "SINK"},      TypeName{41, "OPT"},      TypeName{42, "APL"},
    TypeName{43, "DS"},        TypeName{44, "SSHFP"},    TypeName{45, "IPSECKEY"},
    TypeName{46, "RRSIG"},     TypeName{47, "NSEC"},     TypeName{48, "DNSKEY"},
    TypeName{49, "DHCID"},     TypeName{50, "NSEC3"},    TypeName{51, "NSEC3PARAM"},
    TypeName{52, "TLSA"},      TypeName{53, "SMIMEA"},   TypeName{55, "HIP"},
    TypeName{56, "NINFO"},     TypeName{57, "RKEY"},     TypeName{58, "TALINK"},
    TypeName{59, "CDS"},       TypeName{60, "CDNSKEY"},  TypeName{61, "OPENPGPKEY"},
    TypeName{62, "CSYNC"},     TypeName{63, "ZONEMD"},   TypeName{64, "SVCB"},
    TypeName{65, "HTTPS"},     TypeName{99, "SPF"},      TypeName{100, "UINFO"},
    TypeName{101, "UID"},      TypeName{102, "GID"},     TypeName{103, "UNSPEC"},
    TypeName{104, "NID"},      TypeName{105, "L32"},     TypeName{106, "L64"},
    TypeName{107, "LP"},       TypeName{108, "EUI48"},   TypeName{109, "EUI64"},
    TypeName{128, "NXNAME"},   TypeName{249, "TKEY"},    TypeName{250, "TSIG"},
    TypeName{251, "IXFR"},     TypeName{252, "AXFR"},    TypeName{253, "MAILB"},
    TypeName{254, "MAILA"},    TypeName{255, "ANY"},     TypeName{256, "URI"},
    TypeName{257, "CAA"},      TypeName{258, "AVC"},     TypeName{259, "DOA"},
    TypeName{260, "AMTRELAY"}, TypeName{32768, "TA"},    TypeName{32769, "DLV"},
};

}  // namespace

std::string typeToText(std::uint16_t type) {
  for (const auto& t : kTypes)
    if (t.type == type) return t.name;
  return "TYPE" + std::to_string(type);
}

std::uint16_t typeFromText(std::string_view text) {
  // RFC 3597 "TYPEnnn": only 1..65535 in plain digits is a type.
  if (text.size() > 4 && strncasecmp(text.data(), "TYPE", 4) == 0) {
    unsigned long v = 0;
    for (std::size_t i = 4; i < text.size(); ++i) {
      if (text[i] < '0' || text[i] > '9' || i > 8) return 0;
      v = v * 10 + static_cast<unsigned long>(text[i] - '0');
    }
    return v >= 1 && v <= 65535 ? static_cast<std::uint16_t>(v) : 0;
  }
  for (const auto& t : kTypes) {
    std::string_view n(t.name);
    if (n.size() == text.size() && strncasecmp(n.data(), text.data(), n.size()) == 0) return t.type;
  }
  return 0;
}

}  // namespace geodns::dns
