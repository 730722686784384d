/* The stevedore command: dispatches to its subcommands. */
#include <stdio.h>
#include <string.h>

#include "controller.h"
#include "jsonstream.h"

static void usage(FILE *f) {
  fprintf(f,
          "Usage: stevedore COMMAND [options]\n"
          "\n"
          "Commands:\n"
          "  recommend   plan nodes for the pending pods of a cluster snapshot (dry run)\n"
          "  report      cost allocation by namespace, label, controller or node; right-sizing\n"
          "  version     print the version (also -V, --version)\n"
          "  help        this help (also -h, --help)\n"
          "\n"
          "Run `stevedore COMMAND --help` for a command's options.\n");
}

int main(int argc, char **argv) {
  stv_json_init();
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "recommend") == 0) return stv_cmd_recommend(argc - 1, argv + 1);
  if (strcmp(argv[1], "report") == 0) return stv_cmd_report(argc - 1, argv + 1);
  if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
    printf("stevedore %s\n", STV_VERSION);
    return 0;
  }
  if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "stevedore: unknown command \"%s\" (see stevedore help)\n", argv[1]);
  return 2;
}
