#pragma once
// TSIG records (RFC 8945): reading the one a message carries and writing the
// one a response carries. The codec only; which keys exist and the MAC check
// belong to the caller (geodnsd has no keys yet, so every key is unknown and
// answered with BADKEY). No allocation: the parsed record points into the
// message it was read from.
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/name.h"
#include "core/wire.h"

namespace geodns::tsig {

// A TSIG RR as sent (RFC 8945 section 4.2).
struct Record {
  name::NameBuf key;             // owner name: the key name, case as sent
  name::NameBuf algorithm;       // lowercase
  std::uint64_t timeSigned = 0;  // seconds since 1970, 48 bits on the wire
  std::uint16_t fudge = 0;       // seconds
  std::span<const std::uint8_t> mac;
  std::uint16_t originalId = 0;
  std::uint16_t error = 0;
  std::span<const std::uint8_t> other;
};

// Reads the TSIG RR that starts at r.pos() (its owner name) and advances r
// past it. False, with r failed, when the RR is not a TSIG RR or its RDATA is
// malformed: fields running past RDLENGTH, or bytes left over after them.
// Names may be compressed against earlier parts of r's buffer. The class is
// not checked (RFC 8945 says ANY; Knot does not check it either).
bool read(Reader& r, Record& out) noexcept;

// Bytes an unsigned TSIG RR answering `req` takes (see writeUnsigned).
std::size_t unsignedSize(const Record& req) noexcept;

// Writes the unsigned TSIG RR of an error response to `req` (RFC 8945 5.3.2):
// the key name, algorithm, time signed and fudge copied from the request, MAC
// size 0, the request's original ID, `error` (a dns::TsigError), no other
// data; class ANY, TTL 0, names uncompressed. `timeSigned` is the time to
// report (the request's for BADKEY/BADSIG; the server's for BADTIME). False
// (nothing usable written) when it does not fit.
bool writeUnsigned(Writer& w, const Record& req, std::uint16_t error,
                   std::uint64_t timeSigned) noexcept;

}  // namespace geodns::tsig
