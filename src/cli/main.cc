// The visrec command line: the command table (commands.cc) run by the shared driver (command.h),
// which maps exceptions to the documented exit codes.
#include "command.h"

int main(int argc, char** argv) {
  return visrec::cli::RunCommandLine("visrec: visual product recommendation, batch pipeline. See README.md.",
                                     visrec::cli::VisrecCommands(), argc, argv);
}
