/* The stevedore command: dispatches to its subcommands. */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "controller.h"
#include "daemon.h"
#include "jsonstream.h"
#include "simulate.h"

static void usage(FILE *f) {
  fprintf(f,
          "Usage: stevedore COMMAND [options]\n"
          "\n"
          "Commands:\n"
          "  recommend   plan nodes for the pending pods of a cluster snapshot (dry run)\n"
          "  report      cost allocation by namespace, label, controller or node; right-sizing\n"
          "  simulate    run the autoscaler on a simulated cluster and cloud, hours in seconds\n"
          "  controller  run the autoscaler against a cluster (in it, or beside it with a kubeconfig)\n"
          "  prices      a catalogue's prices, and with --live the cloud's own (docs/prices-live.md)\n"
          "  version     print the version (also -V, --version)\n"
          "  help        this help (also -h, --help)\n"
          "\n"
          "Run `stevedore COMMAND --help` for a command's options.\n");
}

/*
 * Process-wide set-up, once, before anything else runs and before any
 * thread could start: cJSON's allocation hooks, and libcurl's global state
 * for the commands that use it (recommend and report, with --kubeconfig;
 * report with --prometheus). Neither may be
 * set from a library function or from a thread.
 */
int main(int argc, char **argv) {
  int rc;
  stv_json_init();
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "recommend") == 0 || strcmp(argv[1], "report") == 0) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      fprintf(stderr,
              "stevedore %s: libcurl cannot initialise (out of memory or a broken TLS library?)\n", argv[1]);
      return 1;
    }
    /* --kubeconfig (both) and --prometheus (report) talk HTTP. */
    if (strcmp(argv[1], "recommend") == 0)
      rc = stv_cmd_recommend(argc - 1, argv + 1);
    else
      rc = stv_cmd_report(argc - 1, argv + 1);
    curl_global_cleanup();
    return rc;
  }
  if (strcmp(argv[1], "simulate") == 0) return stv_cmd_simulate(argc - 1, argv + 1);
  if (strcmp(argv[1], "prices") == 0) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      fprintf(stderr, "stevedore prices: libcurl cannot initialise (out of memory or a broken TLS library?)\n");
      return 1;
    }
    rc = stv_cmd_prices(argc - 1, argv + 1);
    curl_global_cleanup();
    return rc;
  }
  if (strcmp(argv[1], "controller") == 0) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      fprintf(stderr, "stevedore controller: libcurl cannot initialise (out of memory or a broken TLS library?)\n");
      return 1;
    }
    rc = stv_cmd_controller(argc - 1, argv + 1);
    curl_global_cleanup();
    return rc;
  }
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
