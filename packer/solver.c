/*
 * GLPK under the packer's contract: per thread, silent, and never fatal.
 *
 * GLPK keeps its state (terminal switch, hooks, memory accounting, every
 * problem object) in an environment that Debian's libglpk (5.0, built with
 * thread-local storage) keeps per thread. An internal error in GLPK (a bad
 * argument, an inconsistency) ends in glp_error, which prints a message and
 * calls abort() unless the error hook jumps away first. stv__glpk_run
 * installs a hook that jumps back to it, takes the message through the
 * terminal hook instead of printing it, frees the thread's environment (the
 * GLPK manual: after such an error the environment is unusable) and returns
 * STV_ESOLVER. All of this is per thread: no process-wide state.
 */
#include <glpk.h>
#include <setjmp.h>
#include <string.h>

#include "pack_internal.h"

struct guard {
  jmp_buf jump;
  char msg[STV_ERR_MSG_MAX / 2]; /* GLPK's last terminal output */
  size_t len;
};

/* Keeps what GLPK would have printed, the tail of it; prints nothing. */
static int on_term(void *info, const char *s) {
  struct guard *g = info;
  size_t n = strlen(s), room = sizeof(g->msg) - 1;
  if (n >= room) {
    s += n - room;
    n = room;
  }
  if (g->len + n > room) {
    size_t drop = g->len + n - room;
    memmove(g->msg, g->msg + drop, g->len - drop);
    g->len -= drop;
  }
  memcpy(g->msg + g->len, s, n);
  g->len += n;
  g->msg[g->len] = '\0';
  return 1; /* handled: GLPK writes nothing */
}

/* Called by glp_error instead of abort(): back to stv__glpk_run. */
static void on_error(void *info) {
  struct guard *g = info;
  longjmp(g->jump, 1);
}

int stv__glpk_run(int (*fn)(void *arg), void *arg, struct stv_err *err) {
  struct guard g;
  int term, rc;
  g.len = 0;
  g.msg[0] = '\0';
  if (setjmp(g.jump) != 0) {
    size_t n = g.len;
    /* One line for the operator: GLPK's message without its line breaks. */
    while (n > 0 && (g.msg[n - 1] == '\n' || g.msg[n - 1] == ' ')) g.msg[--n] = '\0';
    for (n = 0; g.msg[n] != '\0'; n++)
      if (g.msg[n] == '\n') g.msg[n] = ' ';
    glp_free_env();
    return stv_err_set(err, STV_ESOLVER, "GLPK failed: %s", g.msg[0] ? g.msg : "no message");
  }
  glp_error_hook(on_error, &g);
  glp_term_hook(on_term, &g);
  term = glp_term_out(GLP_OFF);
  rc = fn(arg);
  glp_term_out(term);
  glp_term_hook(NULL, NULL);
  glp_error_hook(NULL, NULL);
  return rc;
}

void stv_packer_thread_done(void) {
  glp_free_env();
}
