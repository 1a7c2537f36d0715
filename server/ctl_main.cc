// geodnsctl: the admin API from the command line (server/ctl.h). Its own
// program, linked without the server (server/CMakeLists.txt).
#include "server/ctl.h"

int main(int argc, char** argv) {
  return geodns::server::runCtl(argc, argv);
}
