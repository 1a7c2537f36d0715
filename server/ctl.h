#pragma once
// `geodnsd ctl` / `geodnsctl`: the admin API from the command line.
namespace geodns::server {

extern const char* const kCtlUsage;
// argv[0] is "ctl" (or the geodnsctl program name). Exit status: 0 on
// success, 1 when the server refused (the error is printed), 2 on bad usage,
// 3 when the server could not be reached.
int runCtl(int argc, char** argv);

}  // namespace geodns::server
