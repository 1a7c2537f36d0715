#pragma once
// DNS protocol constants (RFC 1035, 6891, 3597 and friends).
#include <cstdint>
#include <iterator>

namespace geodns::dns {

inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::size_t kMaxNameWire = 255;  // RFC 1035 2.3.4
inline constexpr std::size_t kMaxLabel = 63;
inline constexpr std::size_t kMaxMessage = 65535;
inline constexpr std::uint16_t kMinUdpPayload = 512;

enum class Type : std::uint16_t {
  A = 1,
  NS = 2,
  MD = 3,
  MF = 4,
  CNAME = 5,
  SOA = 6,
  MB = 7,
  MG = 8,
  MR = 9,
  NUL = 10,
  WKS = 11,
  PTR = 12,
  HINFO = 13,
  MINFO = 14,
  MX = 15,
  TXT = 16,
  RP = 17,
  AFSDB = 18,
  RT = 21,
  SIG = 24,
  KEY = 25,
  PX = 26,
  AAAA = 28,
  SRV = 33,
  NAPTR = 35,
  KX = 36,
  DNAME = 39,
  OPT = 41,
  DS = 43,
  RRSIG = 46,
  NSEC = 47,
  DNSKEY = 48,
  NSEC3 = 50,
  NSEC3PARAM = 51,
  CDS = 59,
  CDNSKEY = 60,
  TKEY = 249,
  TSIG = 250,
  IXFR = 251,
  AXFR = 252,
  MAILB = 253,
  MAILA = 254,
  ANY = 255,
};

inline constexpr std::uint16_t kClassIN = 1;
inline constexpr std::uint16_t kClassCH = 3;
inline constexpr std::uint16_t kClassANY = 255;

enum class Rcode : std::uint16_t {
  NoError = 0,
  FormErr = 1,
  ServFail = 2,
  NXDomain = 3,
  NotImp = 4,
  Refused = 5,
  NotAuth = 9,   // RFC 2136 "not authoritative"; RFC 8945 "not authorized" (TSIG)
  BadVers = 16,  // extended: needs OPT, upper 8 bits in the OPT TTL
};

// The TSIG RR's ERROR field (RFC 8945 section 3, RFC 2845 onwards); 16 is
// BADSIG here, BADVERS in an OPT.
enum class TsigError : std::uint16_t {
  NoError = 0,
  BadSig = 16,
  BadKey = 17,
  BadTime = 18,
  BadMode = 19,
  BadName = 20,
  BadAlg = 21,
  BadTrunc = 22,
};

// Mnemonic of an rcode (RFC 1035, 2136, 6891), or nullptr for one without.
inline const char* rcodeName(std::uint16_t r) noexcept {
  constexpr const char* kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                    "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                    "NXRRSET", "NOTAUTH", "NOTZONE"};
  if (r < std::size(kNames)) return kNames[r];
  return r == 16 ? "BADVERS" : nullptr;
}

// The sections of a message after the question (RFC 1035 4.1), in order.
enum class Section : std::uint8_t { Answer = 0, Authority = 1, Additional = 2 };

enum class Opcode : std::uint8_t { Query = 0, IQuery = 1, Status = 2, Notify = 4, Update = 5 };

// Header flag bits in the 16-bit flags word.
inline constexpr std::uint16_t kFlagQR = 0x8000;
inline constexpr std::uint16_t kFlagAA = 0x0400;
inline constexpr std::uint16_t kFlagTC = 0x0200;
inline constexpr std::uint16_t kFlagRD = 0x0100;
inline constexpr std::uint16_t kFlagRA = 0x0080;
inline constexpr std::uint16_t kFlagAD = 0x0020;
inline constexpr std::uint16_t kFlagCD = 0x0010;
inline constexpr std::uint16_t kOpcodeMask = 0x7800;
inline constexpr std::uint16_t kRcodeMask = 0x000F;  // the low 4 rcode bits; the rest go in the OPT
inline constexpr std::uint32_t kEdnsDO = 0x8000;     // in the low 16 bits of the OPT TTL

constexpr std::uint16_t toU16(Type t) noexcept {
  return static_cast<std::uint16_t>(t);
}
constexpr std::uint16_t toU16(Rcode r) noexcept {
  return static_cast<std::uint16_t>(r);
}

// Types whose RDATA holds domain names that may be compressed (RFC 3597 section 4).
constexpr bool rdataNamesCompressible(std::uint16_t t) noexcept {
  switch (static_cast<Type>(t)) {
    case Type::NS:
    case Type::MD:
    case Type::MF:
    case Type::CNAME:
    case Type::SOA:
    case Type::MB:
    case Type::MG:
    case Type::MR:
    case Type::PTR:
    case Type::MINFO:
    case Type::MX:
      return true;
    default:
      return false;
  }
}

}  // namespace geodns::dns
