#pragma once
// `geodnsd ctl` / `geodnsctl`: the admin API from the command line.
#include <string>

namespace geodns::server {

extern const char* const kCtlUsage;
// argv[0] is "ctl" (or the geodnsctl program name). Exit status: 0 on
// success, 1 when the server refused (the error is printed), 2 on bad usage,
// 3 when the server could not be reached.
int runCtl(int argc, char** argv);

// Where a server's admin API listens, and the token file to present, read
// from its config's "admin" section only: the rest of the file is the
// server's to judge, so that `geodnsctl reload` can report the errors of a
// config that is broken elsewhere (even one whose JSON breaks after the
// admin section). The token file is resolved against the config's directory,
// as the server does. False, with `err`, when there is no usable section.
struct CtlTarget {
  std::string listen;
  std::string tokenFile;
};
bool ctlTargetFromConfig(const std::string& text, const std::string& path, CtlTarget& out,
                         std::string* err);

}  // namespace geodns::server
