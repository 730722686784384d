/*
 * The worker-thread solve runner: a batch's solve runs on libuv's thread
 * pool (uv_queue_work), and its plan is applied in the after-work
 * callback, on the loop thread, so that watches, timers and cloud calls go
 * on while the optimizer works. The job is the only thing the two threads
 * share, and libuv orders the work callback before the after-work one.
 */
#include <uv.h>

#include "loop.h"

struct uv_job {
  uv_work_t req;
  struct stv_solve_job *job;
};

static void work_cb(uv_work_t *req) {
  struct uv_job *u = req->data;
  stv_solve_job_run(u->job);
  /* GLPK's environment is per thread; the pool's threads outlive the solve. */
  stv_packer_thread_done();
}

static void after_cb(uv_work_t *req, int status) {
  struct uv_job *u = req->data;
  struct stv_solve_job *job = u->job;
  job->impl = NULL;
  stv_free(u);
  if (status == UV_ECANCELED) {
    job->rc = STV_ETIMEDOUT;
    stv_err_set(&job->err, STV_ETIMEDOUT, "the solve was cancelled before it started");
  }
  job->done(job);
}

static int uv_submit(struct stv_solve_runner *r, struct stv_solve_job *job) {
  struct uv_job *u = stv_malloc(sizeof(*u));
  int rc;
  if (u == NULL) return STV_ENOMEM;
  u->job = job;
  u->req.data = u;
  job->impl = u;
  rc = uv_queue_work(r->impl, &u->req, work_cb, after_cb);
  if (rc != 0) {
    job->impl = NULL;
    stv_free(u);
    return rc;
  }
  return 0;
}

static const struct stv_solve_runner_ops uv_ops = {
    .submit = uv_submit,
};

void stv_solve_runner_uv_init(struct stv_solve_runner *r, struct uv_loop_s *loop) {
  r->ops = &uv_ops;
  r->impl = loop;
}
